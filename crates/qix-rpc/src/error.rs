use serde::{Deserialize, Serialize};

/// Why a frame could not be decoded. The message names the member and what was wrong with it;
/// the frame itself is not repeated (it may be large or hostile).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame's bytes are not UTF-8 ([`decode_shared`](crate::decode_shared) only: a
    /// `&str` is UTF-8 already).
    #[error("frame is not UTF-8 text")]
    NotUtf8,
    /// The text is not JSON. The message is serde_json's, with a line and column.
    #[error("frame is not valid JSON: {0}")]
    NotJson(String),
    /// The JSON is valid but not an object.
    #[error("frame is JSON but not an object (found {0})")]
    NotAnObject(&'static str),
    /// A member has the wrong type or an out-of-range value.
    #[error("member `{member}` is invalid: expected {expected}")]
    BadMember {
        /// The member's name.
        member: &'static str,
        /// What the member must be.
        expected: &'static str,
    },
    /// A required member is absent (requests only).
    #[error("member `{0}` is missing")]
    MissingMember(&'static str),
    /// A response carries both `result` and `error`.
    #[error("response has both `result` and `error`")]
    ResultAndError,
    /// A member appears more than once at the top level: which copy counts would be a guess.
    /// [`decode`](crate::decode) checks the members it reads and skips unknown ones, repeats
    /// included; [`Request::decode`](crate::Request::decode) checks every member. The name comes
    /// from the frame, so it is cut to at most 64 bytes (then marked with `…`).
    #[error("member `{0}` appears more than once")]
    DuplicateMember(String),
}

/// How much of a member name from a hostile frame an error message repeats, in bytes.
pub(crate) const MAX_NAME_IN_ERROR: usize = 64;

/// `name` cut to at most [`MAX_NAME_IN_ERROR`] bytes on a character boundary, marked with `…` when cut.
pub(crate) fn shorten_name(name: &str) -> String {
    if name.len() <= MAX_NAME_IN_ERROR {
        return name.to_owned();
    }
    let mut end = MAX_NAME_IN_ERROR;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &name[..end])
}

/// An error answered by the engine: the JSON-RPC `error` member with QIX's `parameter`.
///
/// Members the engine leaves out read as `0` and empty strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("engine error {code}: {message} ({parameter})")]
pub struct EngineError {
    /// The engine's error code (e.g. 2 "not found", 15 "request aborted", -32601 "method not found").
    #[serde(default)]
    pub code: i32,
    /// What the error concerns, e.g. the parameter or object id.
    #[serde(default)]
    pub parameter: String,
    /// The engine's message.
    #[serde(default)]
    pub message: String,
}

/// Request parameters that are neither an array nor an object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("params must be a JSON array or object, not {0}")]
pub struct ParamsError(pub(crate) &'static str);

pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Names the kind of a raw JSON text from its first byte, without parsing it.
pub(crate) fn raw_kind(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        Some(b'"') => "a string",
        Some(b'[') => "an array",
        Some(b'{') => "an object",
        _ => "a number",
    }
}
