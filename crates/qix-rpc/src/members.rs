//! Walking the top-level members of an object frame without keeping them.

use std::borrow::Cow;

use crate::error::raw_kind;
use crate::scan::{skip_whitespace, string_end, value_end, Syntax};
use crate::DecodeError;

/// Calls `on_member` with each top-level member of an object frame, in order, the value left as
/// the JSON text it spans in `text`.
///
/// Every value is checked against the JSON grammar ([`scan`](crate::scan)) but none is built:
/// members are handed over one at a time and not collected, so a frame of a million tiny
/// unknown members costs no memory beyond what `on_member` keeps, and nested values are walked
/// without recursion, so deep nesting never reaches the stack limit.
///
/// A frame that is not JSON is [`DecodeError::NotJson`] even when `on_member` already failed on
/// an earlier member; otherwise the first error `on_member` returned is the answer (later members
/// are still checked, but not handed over).
pub(crate) fn for_each_member<'a>(
    text: &'a str,
    mut on_member: impl FnMut(&str, &'a str) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let not_json = |syntax: Syntax| DecodeError::NotJson(syntax.to_string());
    let bytes = text.as_bytes();
    let mut at = skip_whitespace(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        // Only to tell "not JSON" from "JSON but not an object".
        let end = skip_whitespace(bytes, value_end(bytes, at).map_err(not_json)?);
        if end != bytes.len() {
            return Err(not_json(Syntax::trailing(end)));
        }
        return Err(DecodeError::NotAnObject(raw_kind(&text[at..])));
    }
    let mut first_error = None;
    at = skip_whitespace(bytes, at + 1);
    if bytes.get(at) == Some(&b'}') {
        at += 1;
    } else {
        loop {
            if bytes.get(at) != Some(&b'"') {
                return Err(not_json(Syntax::new(at, "a member name")));
            }
            let name_end = string_end(bytes, at).map_err(not_json)?;
            let name = member_name(slice(text, at, name_end)?)?;
            at = skip_whitespace(bytes, name_end);
            if bytes.get(at) != Some(&b':') {
                return Err(not_json(Syntax::new(at, "':'")));
            }
            at = skip_whitespace(bytes, at + 1);
            let value_start = at;
            at = value_end(bytes, at).map_err(not_json)?;
            if first_error.is_none() {
                if let Err(error) = on_member(&name, slice(text, value_start, at)?) {
                    first_error = Some(error);
                }
            }
            at = skip_whitespace(bytes, at);
            match bytes.get(at) {
                Some(b',') => at = skip_whitespace(bytes, at + 1),
                Some(b'}') => {
                    at += 1;
                    break;
                }
                _ => return Err(not_json(Syntax::new(at, "',' or '}'"))),
            }
        }
    }
    let end = skip_whitespace(bytes, at);
    if end != bytes.len() {
        return Err(not_json(Syntax::trailing(end)));
    }
    first_error.map_or(Ok(()), Err)
}

/// The JSON text of the member `name` of the object `text`, without building the object:
/// `Ok(None)` when it has no such member.
///
/// `text` is checked against the JSON grammar as [`decode`](crate::decode) checks a frame,
/// nested values included, without recursion.
///
/// # Errors
///
/// [`DecodeError::NotJson`] or [`DecodeError::NotAnObject`] for such a `text`, and
/// [`DecodeError::DuplicateMember`] when `name` appears twice: which copy counts would be a
/// guess.
///
/// ```
/// let result = r#"{"qReturn":{"qType":"Doc","qHandle":1},"qInfo":{}}"#;
/// let reference = qix_rpc::member(result, "qReturn")?.unwrap_or("null");
/// assert_eq!(qix_rpc::member(reference, "qHandle")?, Some("1"));
/// assert_eq!(qix_rpc::member(reference, "qGenericId")?, None);
/// # Ok::<(), qix_rpc::DecodeError>(())
/// ```
pub fn member<'a>(text: &'a str, name: &str) -> Result<Option<&'a str>, DecodeError> {
    let mut found = None;
    for_each_member(text, |member, value| {
        if member != name {
            return Ok(());
        }
        if found.replace(value).is_some() {
            return Err(DecodeError::DuplicateMember(name.to_owned()));
        }
        Ok(())
    })?;
    Ok(found)
}

/// `text[start..end]`; the scanner's offsets always fall on ASCII bytes, so this never fails,
/// but a slip would be an error, not a panic.
/// The text of a JSON string value (what [`member`] hands back for one), borrowed unless it
/// holds escapes: `None` when `raw` is not exactly one JSON string.
///
/// ```
/// assert_eq!(qix_rpc::string(r#""SESSION_CREATED""#).as_deref(), Some("SESSION_CREATED"));
/// assert_eq!(qix_rpc::string(r#""\u0041""#).as_deref(), Some("A"));
/// assert_eq!(qix_rpc::string("7"), None);
/// ```
pub fn string(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.starts_with('"') || string_end(raw.as_bytes(), 0).ok()? != raw.len() {
        return None;
    }
    member_name(raw).ok()
}

// Inlined: twice per member, and the checks fold into the caller's.
#[inline(always)]
fn slice(text: &str, start: usize, end: usize) -> Result<&str, DecodeError> {
    text.get(start..end)
        .ok_or_else(|| DecodeError::NotJson(Syntax::new(start, "a value").to_string()))
}

/// A member name from its quoted text: borrowed unless it holds escapes.
fn member_name(quoted: &str) -> Result<Cow<'_, str>, DecodeError> {
    let inner = quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or_default();
    // A byte loop: names are short, and `str::contains` costs more in setting up its search.
    if !inner.as_bytes().contains(&b'\\') {
        return Ok(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(quoted)
        .map(Cow::Owned)
        .map_err(|error| DecodeError::NotJson(error.to_string()))
}

/// Remembers which of the members a decoder reads it has met, so a repeat is an error: which copy
/// would count is a guess a peer could exploit. One bit per known member: no allocation.
#[derive(Debug, Default)]
pub(crate) struct Seen(u32);

impl Seen {
    /// `name` as one of `known` (at most 32) when it is, after checking it was not met before.
    pub(crate) fn known(
        &mut self,
        known: &[&'static str],
        name: &str,
    ) -> Result<Option<&'static str>, DecodeError> {
        let Some(index) = known.iter().position(|&known| known == name) else {
            return Ok(None);
        };
        self.first(index as u32, name)?;
        Ok(Some(known[index]))
    }

    /// Marks the known member number `index` (below 32) as met; an error if it was before.
    pub(crate) fn first(&mut self, index: u32, name: &str) -> Result<(), DecodeError> {
        let bit = 1u32 << (index % 32);
        if self.0 & bit != 0 {
            return Err(DecodeError::DuplicateMember(name.to_owned()));
        }
        self.0 |= bit;
        Ok(())
    }
}
