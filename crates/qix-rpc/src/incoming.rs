use bytes::Bytes;
use serde::Serialize;

use crate::error::raw_kind;
use crate::members::{for_each_member, Seen};
use crate::request::{check_version, read};
use crate::{DecodeError, EngineError, Handle, RawValue, RequestId};

/// A frame from the engine, classified (see the crate docs, "Classification").
///
/// `P` is how raw JSON members (`result`, `params`) are held: copied out of the frame
/// (`Box<RawValue>`, from [`decode`]) or shared with it ([`RawJson`], from [`decode_shared`]).
#[derive(Debug, Clone)]
pub enum Incoming<P = Box<RawValue>> {
    /// A frame with an `id`: the answer to a request.
    Response(Response<P>),
    /// A frame without an `id` but with `params`: pushed by the engine or the proxy.
    Notification(Notification<P>),
    /// Anything else: a plain message whose `change`/`close` arrays still apply.
    Message(Changes),
}

/// The answer to one request.
#[derive(Debug, Clone)]
pub struct Response<P = Box<RawValue>> {
    /// The id of the request it answers.
    pub id: RequestId,
    /// The `result`, or the engine's `error`.
    pub body: ResponseBody<P>,
    /// `true` when the engine says the result holds JSON patches (the `delta` member).
    pub delta: bool,
    /// Handles the engine reports as changed or closed along with this response.
    pub changes: Changes,
}

/// What a response carries.
#[derive(Debug, Clone)]
pub enum ResponseBody<P = Box<RawValue>> {
    /// The `result` member, unparsed. A response with neither `result` nor `error` reads as a
    /// `null` result.
    Result(P),
    /// The `error` member.
    Error(EngineError),
}

impl<P: Json> PartialEq for Incoming<P> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Response(a), Self::Response(b)) => a == b,
            (Self::Notification(a), Self::Notification(b)) => a == b,
            (Self::Message(a), Self::Message(b)) => a == b,
            _ => false,
        }
    }
}

impl<P: Json> PartialEq for Response<P> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.body == other.body
            && self.delta == other.delta
            && self.changes == other.changes
    }
}

impl<P: Json> PartialEq for ResponseBody<P> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Result(a), Self::Result(b)) => a.get() == b.get(),
            (Self::Error(a), Self::Error(b)) => a == b,
            _ => false,
        }
    }
}

/// A notification such as `OnConnected` or the proxy's `OnSessionTimedOut`.
#[derive(Debug, Clone)]
pub struct Notification<P = Box<RawValue>> {
    /// The `method` member; enigma.js also delivers notifications without one.
    pub method: Option<String>,
    /// The `params` member, unparsed (never JSON `null`).
    pub params: P,
}

impl<P: Json> PartialEq for Notification<P> {
    fn eq(&self, other: &Self) -> bool {
        self.method == other.method && self.params.get() == other.params.get()
    }
}

/// The `change` and `close` arrays: handles whose object changed, and handles the engine closed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Handles of objects that changed.
    pub change: Vec<Handle>,
    /// Handles of objects the engine closed.
    pub close: Vec<Handle>,
}

impl Changes {
    /// True when both arrays are empty.
    pub fn is_empty(&self) -> bool {
        self.change.is_empty() && self.close.is_empty()
    }
}

/// Raw JSON text as a decoded frame holds it: `get` gives the text.
pub trait Json {
    /// The JSON text.
    fn get(&self) -> &str;
}

impl Json for Box<RawValue> {
    fn get(&self) -> &str {
        RawValue::get(self)
    }
}

impl Json for RawJson {
    fn get(&self) -> &str {
        RawJson::get(self)
    }
}

/// Decodes and classifies one text frame from the engine.
///
/// The frame is parsed once, member by member; the `result` and `params` members are copied out
/// as raw JSON and not parsed further. Every other member is checked: `id` must be a non-negative integer
/// (or `null`, read as absent), `change`/`close` arrays of 32-bit integers, `delta` a boolean,
/// `method` a string, `error` an object with an integer `code` and string `parameter` and
/// `message`, and `jsonrpc`, when present, `"2.0"`. `null` reads as absent for `id`, `method`,
/// `params`, `delta`, `error`, `change` and `close` (for `result` it is the result). None of
/// these may appear twice. Unknown members are skipped unread, repeats included, so a frame of
/// many small unknown members costs no memory.
pub fn decode(text: &str) -> Result<Incoming, DecodeError> {
    // The scanner checked `raw` is JSON: `from_string` only copies it.
    let owned = |raw: &str| RawValue::from_string(raw.to_owned()).unwrap_or_else(|_| null_raw());
    classify(text, owned, null_raw).map_err(|error| error.error)
}

/// Like [`decode`], for a frame held in shared bytes: `result` and `params` come back as
/// [`RawJson`] spans of the same bytes, so nothing of the payload is copied. The bytes must be
/// UTF-8 (else [`DecodeError::NotUtf8`]).
///
/// When the frame is malformed but its `id` was readable, the error says which id
/// ([`FrameError::id`]): the request it answers can then be settled with the error instead of
/// waiting for an answer that will never come.
pub fn decode_shared(frame: Bytes) -> Result<Incoming<RawJson>, FrameError> {
    let text = std::str::from_utf8(&frame).map_err(|_| FrameError {
        id: None,
        error: DecodeError::NotUtf8,
    })?;
    let span = |part: &str| {
        let start = part.as_ptr() as usize - text.as_ptr() as usize;
        RawJson(frame.slice(start..start + part.len()))
    };
    classify(text, span, || RawJson(Bytes::from_static(b"null")))
}

/// A decode error, with the `id` of the frame when it could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct FrameError {
    /// The frame's `id`, when it was readable: the request it answers failed with this error.
    pub id: Option<RequestId>,
    /// What is wrong with the frame.
    pub error: DecodeError,
}

/// Raw JSON text sharing the bytes of the frame it came from: cloning it, or keeping it, copies
/// nothing. Made by [`decode_shared`]; always valid JSON in UTF-8.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawJson(Bytes);

impl RawJson {
    /// The JSON text. Checks the UTF-8 again (safe code cannot skip it): linear in the
    /// length, much cheaper than parsing; [`as_bytes`](Self::as_bytes) does not.
    pub fn get(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("null")
    }

    /// The JSON text's bytes, for `serde_json::from_slice`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The shared bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// Checks that `text` is JSON and wraps it (copies nothing for `Bytes`).
    pub fn new(text: impl Into<Bytes>) -> Result<Self, DecodeError> {
        let bytes = text.into();
        let text = std::str::from_utf8(&bytes).map_err(|_| DecodeError::NotUtf8)?;
        serde_json::from_str::<&RawValue>(text)
            .map_err(|error| DecodeError::NotJson(error.to_string()))?;
        Ok(Self(bytes))
    }

    /// The JSON as a boxed [`RawValue`] (a copy).
    pub fn to_raw_value(&self) -> Box<RawValue> {
        RawValue::from_string(self.get().to_owned()).unwrap_or_else(|_| null_raw())
    }
}

impl std::fmt::Debug for RawJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RawJson").field(&self.get()).finish()
    }
}

impl std::fmt::Display for RawJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.get())
    }
}

/// The one decoder behind [`decode`] and [`decode_shared`]: `payload` keeps a raw member,
/// `null` makes the `null` result of a response that has neither `result` nor `error`.
fn classify<'a, P>(
    text: &'a str,
    payload: impl Fn(&'a str) -> P,
    null: impl Fn() -> P,
) -> Result<Incoming<P>, FrameError> {
    let mut seen = Seen::default();
    let mut id = None;
    let mut result = None;
    let mut error = None;
    let mut method = None;
    let mut params = None;
    let mut delta = false;
    let mut changes = Changes::default();
    for_each_member(text, |name, raw| {
        // Unknown members are skipped unread, repeats included: nothing depends on them.
        let Some(member) = Member::named(name) else {
            return Ok(());
        };
        seen.first(member as u32, name)?;
        match member {
            Member::Jsonrpc => check_version(raw)?,
            Member::Id => id = read_id(raw)?,
            Member::Result => result = Some(raw),
            Member::Error => error = read_error(raw)?,
            Member::Method => method = read::<Option<String>>(raw, "method", "a string")?,
            Member::Params => params = (raw != "null").then_some(raw),
            Member::Delta => delta = read_delta(raw)?,
            Member::Change => changes.change = read_handles(raw, "change")?,
            Member::Close => changes.close = read_handles(raw, "close")?,
        }
        Ok(())
    })
    .map_err(|error| FrameError { id, error })?;
    let incoming = match (id, result, error) {
        (Some(id), Some(_), Some(_)) => {
            return Err(FrameError {
                id: Some(id),
                error: DecodeError::ResultAndError,
            })
        }
        // Without an id nothing is answered, so `params` decides whatever else the frame holds;
        // with an id, `params` alone (no `result`, no `error`) is a pushed message, not an answer.
        (None, _, _) | (Some(_), None, None) if params.is_some() => {
            Incoming::Notification(Notification {
                method,
                params: params.map(&payload).unwrap_or_else(&null),
            })
        }
        (Some(id), Some(result), None) => Incoming::Response(Response {
            id,
            body: ResponseBody::Result(payload(result)),
            delta,
            changes,
        }),
        (Some(id), None, Some(error)) => Incoming::Response(Response {
            id,
            body: ResponseBody::Error(error),
            delta,
            changes,
        }),
        (Some(id), None, None) => Incoming::Response(Response {
            id,
            body: ResponseBody::Result(null()),
            delta,
            changes,
        }),
        (None, _, _) => Incoming::Message(changes),
    };
    Ok(incoming)
}

/// The members [`decode`] reads; the others are ignored.
#[derive(Debug, Clone, Copy)]
enum Member {
    Jsonrpc,
    Id,
    Result,
    Error,
    Method,
    Params,
    Delta,
    Change,
    Close,
}

impl Member {
    /// Matched once, by the compiler's string switch, rather than compared name by name.
    fn named(name: &str) -> Option<Self> {
        Some(match name {
            "jsonrpc" => Self::Jsonrpc,
            "id" => Self::Id,
            "result" => Self::Result,
            "error" => Self::Error,
            "method" => Self::Method,
            "params" => Self::Params,
            "delta" => Self::Delta,
            "change" => Self::Change,
            "close" => Self::Close,
            _ => return None,
        })
    }
}

/// `id`: plain digits, what every response carries, are read without a deserializer.
fn read_id(raw: &str) -> Result<Option<RequestId>, DecodeError> {
    // Nineteen digits always fit a u64 (no overflow below), and the scanner has checked the
    // number's grammar (no leading zero); `str::parse` would cost more than the whole check.
    if (1..=19).contains(&raw.len()) && raw.bytes().all(|byte| byte.is_ascii_digit()) {
        let id = raw
            .bytes()
            .fold(0u64, |id, digit| id * 10 + u64::from(digit - b'0'));
        return Ok(Some(id));
    }
    read::<Option<RequestId>>(raw, "id", "a non-negative integer or null")
}

fn read_delta(raw: &str) -> Result<bool, DecodeError> {
    match raw {
        "true" => Ok(true),
        "false" | "null" => Ok(false),
        _ => Err(DecodeError::BadMember {
            member: "delta",
            expected: "a boolean",
        }),
    }
}

const ERROR_SHAPE: &str = "an object {code: integer, parameter: string, message: string}";

fn read_error(raw: &str) -> Result<Option<EngineError>, DecodeError> {
    match raw_kind(raw) {
        "null" => Ok(None),
        // A derived struct also reads from an array (`[2, "p", "m"]`, even `[]`): not an error object.
        "an object" => read::<EngineError>(raw, "error", ERROR_SHAPE).map(Some),
        _ => Err(DecodeError::BadMember {
            member: "error",
            expected: ERROR_SHAPE,
        }),
    }
}

fn read_handles(raw: &str, member: &'static str) -> Result<Vec<Handle>, DecodeError> {
    Ok(
        read::<Option<Vec<Handle>>>(raw, member, "an array of 32-bit integers")?
            .unwrap_or_default(),
    )
}

fn null_raw() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).unwrap_or_else(|_| unreachable_null())
}

#[cold]
fn unreachable_null() -> Box<RawValue> {
    // `null` is valid JSON; this path exists only so decoding never panics.
    serde_json::value::to_raw_value(&()).unwrap_or_else(|_| Box::<RawValue>::default())
}

#[derive(Serialize)]
struct WireFrame<'a> {
    jsonrpc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<RequestId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a EngineError>,
    #[serde(skip_serializing_if = "is_false")]
    delta: bool,
    #[serde(skip_serializing_if = "<[Handle]>::is_empty")]
    change: &'a [Handle],
    #[serde(skip_serializing_if = "<[Handle]>::is_empty")]
    close: &'a [Handle],
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl WireFrame<'_> {
    fn to_text(&self) -> String {
        // Every member is already JSON or a plain number or string: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

const EMPTY: WireFrame<'static> = WireFrame {
    jsonrpc: "2.0",
    id: None,
    method: None,
    params: None,
    result: None,
    error: None,
    delta: false,
    change: &[],
    close: &[],
};

impl Response {
    /// A successful response with no `change`/`close` arrays.
    pub fn result(id: RequestId, result: Box<RawValue>) -> Self {
        Self {
            id,
            body: ResponseBody::Result(result),
            delta: false,
            changes: Changes::default(),
        }
    }

    /// An error response with no `change`/`close` arrays.
    pub fn error(id: RequestId, error: EngineError) -> Self {
        Self {
            id,
            body: ResponseBody::Error(error),
            delta: false,
            changes: Changes::default(),
        }
    }

    /// The response as one line of JSON text, as the engine writes it.
    pub fn encode(&self) -> String {
        let (result, error) = match &self.body {
            ResponseBody::Result(raw) => (Some(&**raw), None),
            ResponseBody::Error(error) => (None, Some(error)),
        };
        WireFrame {
            id: Some(self.id),
            result,
            error,
            delta: self.delta,
            change: &self.changes.change,
            close: &self.changes.close,
            ..EMPTY
        }
        .to_text()
    }
}

impl Notification {
    /// The notification as one line of JSON text (no `id`).
    pub fn encode(&self) -> String {
        WireFrame {
            method: self.method.as_deref(),
            params: Some(&self.params),
            ..EMPTY
        }
        .to_text()
    }
}

impl Changes {
    /// A plain message carrying only these arrays, as the engine pushes it.
    pub fn encode(&self) -> String {
        WireFrame {
            change: &self.change,
            close: &self.close,
            ..EMPTY
        }
        .to_text()
    }
}

impl Incoming {
    /// The frame as one line of JSON text; [`decode`] gives back an equal value.
    pub fn encode(&self) -> String {
        match self {
            Self::Response(response) => response.encode(),
            Self::Notification(notification) => notification.encode(),
            Self::Message(changes) => changes.encode(),
        }
    }
}
