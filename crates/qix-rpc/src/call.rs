//! A call encoded once, where it is made, and completed into a request when it is sent.

use std::ops::Range;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{Handle, ParamsError, RequestId, RESERVED_MEMBERS};

/// Room kept at the front of an encoded call for `{"jsonrpc":"2.0","id":N,"handle":H`, so that
/// completing it into a request moves bytes within one allocation instead of making another.
const PREFIX_ROOM: usize = 64;

/// The part of a request its caller knows: the method and the parameters, serialized once.
///
/// A session encodes a call in the caller's task (the params may be large and are the user's
/// data) and completes it with [`into_request`](Self::into_request) when it knows the request
/// id and the object's current handle: that adds a few dozen bytes in the same allocation.
///
/// ```
/// use qix_rpc::{EncodedCall, GLOBAL_HANDLE};
/// use serde_json::{json, Map};
///
/// let call = EncodedCall::new("OpenDoc", &json!(["my.qvf"]))?;
/// assert_eq!(call.method(), "OpenDoc");
/// assert_eq!(
///     call.into_request(7, GLOBAL_HANDLE, false, &Map::new()),
///     r#"{"jsonrpc":"2.0","id":7,"handle":-1,"method":"OpenDoc","params":["my.qvf"]}"#
/// );
/// # Ok::<(), qix_rpc::MethodError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedCall {
    /// `,"method":"M","params":P`, with spare capacity in front.
    text: String,
    /// Where the method name stands in `text`.
    method: Range<usize>,
}

/// Why a call could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MethodError {
    /// The method name is empty or holds a character JSON would have to escape; engine
    /// methods are plain names (`GetLayout`).
    #[error("invalid method name {0:?}: expected a plain name such as GetLayout")]
    InvalidMethod(String),
    /// The parameters are not a JSON array or object.
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// The parameters could not be serialized (serde's message).
    #[error("params could not be serialized: {0}")]
    Serialize(String),
}

impl EncodedCall {
    /// Encodes `method` with `params`, which must serialize to a JSON array (by position) or
    /// object (by name).
    pub fn new<P: Serialize + ?Sized>(method: &str, params: &P) -> Result<Self, MethodError> {
        let plain = |c: char| c != '"' && c != '\\' && !c.is_control();
        if method.is_empty() || !method.chars().all(plain) {
            return Err(MethodError::InvalidMethod(method.to_owned()));
        }
        let mut text = String::with_capacity(PREFIX_ROOM + 32 + method.len() + 64);
        text.push_str(",\"method\":\"");
        let start = text.len();
        text.push_str(method);
        let end = text.len();
        text.push_str("\",\"params\":");
        let params_start = text.len();
        let mut bytes = text.into_bytes();
        serde_json::to_writer(&mut bytes, params)
            .map_err(|error| MethodError::Serialize(error.to_string()))?;
        // serde_json writes UTF-8.
        let text =
            String::from_utf8(bytes).map_err(|_| MethodError::Serialize("not UTF-8".into()))?;
        match text.as_bytes().get(params_start) {
            Some(b'[' | b'{') => {}
            _ => {
                let kind = match text.as_bytes().get(params_start) {
                    Some(b'n') => "null",
                    Some(b't' | b'f') => "a boolean",
                    Some(b'"') => "a string",
                    _ => "a number",
                };
                return Err(MethodError::Params(ParamsError(kind)));
            }
        }
        Ok(Self {
            text,
            method: start..end,
        })
    }

    /// The method name.
    pub fn method(&self) -> &str {
        &self.text[self.method.clone()]
    }

    /// The parameters' JSON text.
    pub fn params(&self) -> &str {
        let params = self.method.end + "\",\"params\":".len();
        &self.text[params..]
    }

    /// The complete request, members in the order `jsonrpc, id, handle, method, params,
    /// delta, extra...` (as [`Request::encode_with`](crate::Request::encode_with) writes
    /// them). Extra members with a reserved name are left out.
    pub fn into_request(
        self,
        id: RequestId,
        handle: Handle,
        delta: bool,
        extra: &Map<String, Value>,
    ) -> String {
        // Written with itoa into a stack buffer, then moved in once: `write!` cost more than
        // the rest of the request, and one insert moves the params once however large they are.
        let mut id_digits = itoa::Buffer::new();
        let mut handle_digits = itoa::Buffer::new();
        let parts = [
            r#"{"jsonrpc":"2.0","id":"#,
            id_digits.format(id),
            r#","handle":"#,
            handle_digits.format(handle),
        ];
        let mut prefix = [0u8; PREFIX_ROOM];
        let mut len = 0;
        for part in parts {
            prefix[len..len + part.len()].copy_from_slice(part.as_bytes());
            len += part.len();
        }
        let mut text = self.text;
        // Every part is ASCII, so this never fails.
        text.insert_str(0, std::str::from_utf8(&prefix[..len]).unwrap_or_default());
        if delta {
            text.push_str(r#","delta":true"#);
        }
        for (key, value) in extra {
            if RESERVED_MEMBERS.contains(&key.as_str()) {
                continue;
            }
            text.push(',');
            // A string key and a JSON value serialize without fail.
            if let (Ok(key), Ok(value)) = (serde_json::to_string(key), serde_json::to_string(value))
            {
                text.push_str(&key);
                text.push(':');
                text.push_str(&value);
            }
        }
        text.push('}');
        text
    }
}
