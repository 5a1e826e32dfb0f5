//! Walking the top-level members of an object frame without keeping them.

use std::borrow::Cow;

use serde::de::{Deserializer as _, MapAccess, Visitor};
use serde::Deserialize;

use crate::error::raw_kind;
use crate::{DecodeError, RawValue};

/// The four whitespace characters JSON allows between tokens (RFC 8259, section 2).
const JSON_WHITESPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// Calls `on_member` with each top-level member of an object frame, in order, the value left as
/// raw JSON borrowed from `text`.
///
/// Members are handed over one at a time and not collected, so a frame of a million tiny unknown
/// members costs no memory beyond what `on_member` keeps. Nested values are skipped without
/// recursion (serde_json's raw-value path keeps one byte per open bracket on the heap), so deep
/// nesting never reaches the stack limit.
///
/// A frame that is not JSON is [`DecodeError::NotJson`] even when `on_member` already failed on
/// an earlier member; otherwise the first error `on_member` returned is the answer (later members
/// are still parsed, but not handed over).
pub(crate) fn for_each_member<'a>(
    text: &'a str,
    on_member: impl FnMut(&str, &'a RawValue) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let not_json = |e: serde_json::Error| DecodeError::NotJson(e.to_string());
    if !text.trim_start_matches(JSON_WHITESPACE).starts_with('{') {
        // Only to tell "not JSON" from "JSON but not an object".
        let top: &RawValue = serde_json::from_str(text).map_err(not_json)?;
        return Err(DecodeError::NotAnObject(raw_kind(top.get())));
    }
    let mut first_error = None;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer
        .deserialize_map(Members {
            on_member,
            first_error: &mut first_error,
        })
        .map_err(not_json)?;
    deserializer.end().map_err(not_json)?;
    first_error.map_or(Ok(()), Err)
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
        let bit = 1u32 << (index % 32);
        if self.0 & bit != 0 {
            return Err(DecodeError::DuplicateMember(name.to_owned()));
        }
        self.0 |= bit;
        Ok(Some(known[index]))
    }
}

struct Members<'e, F> {
    on_member: F,
    first_error: &'e mut Option<DecodeError>,
}

impl<'de, F> Visitor<'de> for Members<'_, F>
where
    F: FnMut(&str, &'de RawValue) -> Result<(), DecodeError>,
{
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(name)) = map.next_key()? {
            let value: &'de RawValue = map.next_value()?;
            if self.first_error.is_none() {
                if let Err(error) = (self.on_member)(&name, value) {
                    *self.first_error = Some(error);
                }
            }
        }
        Ok(())
    }
}

/// A member name, borrowed from the frame unless it holds escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                name: &'de str,
            ) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(name)))
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(name.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, name: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(name)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}
