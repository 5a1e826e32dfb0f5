use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{json_kind, shorten_name};
use crate::members::{for_each_member, Seen};
use crate::{DecodeError, Handle, ParamsError, RequestId};

/// The members a request always writes itself; extra protocol members may not use these names.
pub const RESERVED_MEMBERS: [&str; 6] = ["jsonrpc", "id", "handle", "method", "params", "delta"];

/// Request parameters: a JSON array (by position) or object (by name), as the caller gave them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Params(Value);

impl Params {
    /// Checks that `value` is an array or an object.
    pub fn new(value: Value) -> Result<Self, ParamsError> {
        match value {
            Value::Array(_) | Value::Object(_) => Ok(Self(value)),
            other => Err(ParamsError(json_kind(&other))),
        }
    }

    /// No parameters: `[]`.
    pub fn empty() -> Self {
        Self(Value::Array(Vec::new()))
    }

    /// The parameters as JSON.
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// The parameters as JSON, by value.
    pub fn into_value(self) -> Value {
        self.0
    }
}

impl Default for Params {
    fn default() -> Self {
        Self::empty()
    }
}

impl TryFrom<Value> for Params {
    type Error = ParamsError;

    fn try_from(value: Value) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

/// A QIX request: `{"jsonrpc":"2.0","id":N,"handle":H,"method":M,"params":P}`, plus `delta` when
/// set and any extra protocol members.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The request id.
    pub id: RequestId,
    /// The handle of the object the method is called on (`-1` for Global).
    pub handle: Handle,
    /// The engine method, in the engine's PascalCase (`GetLayout`).
    pub method: String,
    /// The parameters.
    pub params: Params,
    /// The `delta` member; `None` leaves it off the wire.
    pub delta: Option<bool>,
    /// Extra protocol members written after the standard ones (e.g. `return_empty`). Names in
    /// [`RESERVED_MEMBERS`] are never written from here.
    pub extra: Map<String, Value>,
}

#[derive(Serialize)]
struct WireRequest<'a> {
    jsonrpc: &'static str,
    id: RequestId,
    handle: Handle,
    method: &'a str,
    params: &'a Params,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<bool>,
    #[serde(flatten)]
    extra: Extra<'a>,
}

/// The extra members with the reserved names filtered out, so a request never carries a key twice.
struct Extra<'a>(&'a Map<String, Value>);

impl Serialize for Extra<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.0 {
            if !RESERVED_MEMBERS.contains(&key.as_str()) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

impl Request {
    /// A request with no `delta` member and no extra members.
    pub fn new(id: RequestId, handle: Handle, method: impl Into<String>, params: Params) -> Self {
        Self {
            id,
            handle,
            method: method.into(),
            params,
            delta: None,
            extra: Map::new(),
        }
    }

    /// The request as one line of JSON text, members in the order
    /// `jsonrpc, id, handle, method, params, delta, extra...`.
    pub fn encode(&self) -> String {
        self.encode_with(&self.extra)
    }

    /// Like [`encode`](Self::encode), but with the extra members given here instead of
    /// `self.extra`: a session keeps one map of configured protocol members and hands it to every
    /// request without copying it.
    pub fn encode_with(&self, extra: &Map<String, Value>) -> String {
        let wire = WireRequest {
            jsonrpc: "2.0",
            id: self.id,
            handle: self.handle,
            method: &self.method,
            params: &self.params,
            delta: self.delta,
            extra: Extra(extra),
        };
        // Serializing plain data into a String cannot fail: every key is a string and every
        // value is already JSON.
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Reads a request, as an engine does. Used by the mock engine and by tools reading captures.
    ///
    /// `id`, `handle` and `method` are required; `params` may be absent (read as `[]`); `jsonrpc`,
    /// when present, must be `"2.0"`; every other member lands in [`extra`](Self::extra). No
    /// member may appear twice. `params` and extra members are parsed into [`Value`]s, so they
    /// nest at most 128 deep and hold no number beyond `f64`; serde_json's default float parser
    /// may read a long decimal one unit in the last place off.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        let mut seen = Seen::default();
        let mut id = None;
        let mut handle = None;
        let mut method = None;
        let mut params = None;
        let mut delta = None;
        let mut extra = Map::new();
        for_each_member(text, |name, raw| {
            match seen.known(&RESERVED_MEMBERS, name)? {
                Some("jsonrpc") => check_version(raw)?,
                Some("id") => id = Some(read::<RequestId>(raw, "id", "a non-negative integer")?),
                Some("handle") => handle = Some(read::<Handle>(raw, "handle", "a 32-bit integer")?),
                Some("method") => method = Some(read::<String>(raw, "method", "a string")?),
                Some("params") => {
                    let value = read::<Value>(raw, "params", PARAMS_SHAPE)?;
                    params = Some(Params::new(value).map_err(|_| DecodeError::BadMember {
                        member: "params",
                        expected: PARAMS_SHAPE,
                    })?);
                }
                Some("delta") => delta = Some(read::<bool>(raw, "delta", "a boolean")?),
                Some(_) | None => {
                    let value =
                        read::<Value>(raw, "extra member", "JSON within serde_json's limits")?;
                    if extra.insert(name.to_owned(), value).is_some() {
                        return Err(DecodeError::DuplicateMember(shorten_name(name)));
                    }
                }
            }
            Ok(())
        })?;
        Ok(Self {
            id: id.ok_or(DecodeError::MissingMember("id"))?,
            handle: handle.ok_or(DecodeError::MissingMember("handle"))?,
            method: method.ok_or(DecodeError::MissingMember("method"))?,
            params: params.unwrap_or_default(),
            delta,
            extra,
        })
    }
}

const PARAMS_SHAPE: &str = "an array or an object";

pub(crate) fn read<'a, T: Deserialize<'a>>(
    raw: &'a str,
    member: &'static str,
    expected: &'static str,
) -> Result<T, DecodeError> {
    serde_json::from_str(raw).map_err(|_| DecodeError::BadMember { member, expected })
}

pub(crate) fn check_version(raw: &str) -> Result<(), DecodeError> {
    if raw == r#""2.0""# {
        return Ok(());
    }
    // Owned, because `"2\u002e0"` is the same string and cannot be borrowed from the frame.
    match read::<String>(raw, "jsonrpc", "the string \"2.0\"").as_deref() {
        Ok("2.0") => Ok(()),
        _ => Err(DecodeError::BadMember {
            member: "jsonrpc",
            expected: "the string \"2.0\"",
        }),
    }
}
