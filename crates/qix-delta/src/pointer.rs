//! JSON Pointers (RFC 6901) as patch paths, read the engine's way: `"/"` is the whole value.
//!
//! Nothing here allocates unless a token holds a `~` escape: a pointer is checked once, then
//! walked token by token straight from the patch's own string.

use std::borrow::Cow;

use serde_json::Value;

use crate::error::PatchErrorKind;

/// A checked patch path: either the whole value, or a parent pointer and a last token.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pointer<'a> {
    /// `""` or `"/"`.
    Root,
    /// `parent` is `""` (the root) or a pointer starting with `/`; `last` is still encoded.
    Child { parent: &'a str, last: &'a str },
}

impl<'a> Pointer<'a> {
    /// Checks `path`: empty or starting with `/`, and every `~` followed by `0` or `1`.
    pub(crate) fn parse(path: &'a str) -> Result<Self, PatchErrorKind> {
        if path.is_empty() || path == "/" {
            return Ok(Pointer::Root);
        }
        if !path.starts_with('/') {
            return Err(PatchErrorKind::InvalidPointer {
                reason: "does not start with `/`",
            });
        }
        let mut bytes = path.bytes();
        while let Some(byte) = bytes.next() {
            if byte == b'~' && !matches!(bytes.next(), Some(b'0' | b'1')) {
                return Err(PatchErrorKind::InvalidPointer {
                    reason: "`~` not followed by `0` or `1`",
                });
            }
        }
        // Cannot fail: the path starts with `/`.
        let split = path.rfind('/').unwrap_or(0);
        Ok(Pointer::Child {
            parent: &path[..split],
            last: &path[split + 1..],
        })
    }
}

/// True when the raw pointer `path` lies strictly inside the raw pointer `from`.
///
/// Each token has exactly one encoding, so comparing the raw strings on a `/` boundary is the
/// same as comparing decoded tokens.
pub(crate) fn is_proper_child(path: &str, from: &str) -> bool {
    let from = if from == "/" { "" } else { from };
    let path = if path == "/" { "" } else { path };
    path.len() > from.len() && path.starts_with(from) && path.as_bytes()[from.len()] == b'/'
}

/// Decodes one token: `~1` is `/`, then `~0` is `~` (in that order, as RFC 6901 says).
pub(crate) fn decode(token: &str) -> Cow<'_, str> {
    if token.contains('~') {
        Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(token)
    }
}

/// Reads an array index: `0`, or digits without a leading zero. `-` is handled by the callers
/// that accept it. A number too large for `usize` is an index past any end.
pub(crate) fn array_index(token: &str) -> Result<usize, PatchErrorKind> {
    let digits = token.bytes().all(|b| b.is_ascii_digit());
    if token.is_empty() || !digits || (token.len() > 1 && token.starts_with('0')) {
        return Err(PatchErrorKind::InvalidIndex {
            token: token.to_owned(),
        });
    }
    Ok(token.parse().unwrap_or(usize::MAX))
}

/// The parent tokens of a checked pointer: `""` has none.
fn tokens(parent: &str) -> impl Iterator<Item = &str> {
    parent.split('/').skip(1)
}

/// Follows `parent` down from `doc`. A step that does not exist, or that is not an object or an
/// array, means the patch has no parent.
pub(crate) fn walk_mut<'v>(
    doc: &'v mut Value,
    parent: &str,
) -> Result<&'v mut Value, PatchErrorKind> {
    let mut current = doc;
    for raw in tokens(parent) {
        current = match current {
            Value::Object(map) => map.get_mut(decode(raw).as_ref()),
            Value::Array(items) => items.get_mut(array_index(raw)?),
            _ => None,
        }
        .ok_or(PatchErrorKind::NoParent)?;
    }
    Ok(current)
}

/// [`walk_mut`] without the right to change anything.
pub(crate) fn walk<'v>(doc: &'v Value, parent: &str) -> Result<&'v Value, PatchErrorKind> {
    let mut current = doc;
    for raw in tokens(parent) {
        current = match current {
            Value::Object(map) => map.get(decode(raw).as_ref()),
            Value::Array(items) => items.get(array_index(raw)?),
            _ => None,
        }
        .ok_or(PatchErrorKind::NoParent)?;
    }
    Ok(current)
}

/// The value a checked pointer points at; it must exist.
pub(crate) fn get<'v>(doc: &'v Value, pointer: Pointer<'_>) -> Result<&'v Value, PatchErrorKind> {
    let (parent, last) = match pointer {
        Pointer::Root => return Ok(doc),
        Pointer::Child { parent, last } => (parent, last),
    };
    match walk(doc, parent)? {
        Value::Object(map) => map
            .get(decode(last).as_ref())
            .ok_or(PatchErrorKind::NotFound),
        Value::Array(items) => {
            let index = existing_index(last, items.len())?;
            Ok(&items[index])
        }
        _ => Err(PatchErrorKind::NoParent),
    }
}

/// An index that must name an element of an array of `len` elements (`-` never does).
pub(crate) fn existing_index(token: &str, len: usize) -> Result<usize, PatchErrorKind> {
    let index = if token == "-" {
        len
    } else {
        array_index(token)?
    };
    if index < len {
        Ok(index)
    } else {
        Err(PatchErrorKind::IndexOutOfRange { index, len })
    }
}

/// An index where an element may be inserted: `0..=len`, or `-` for `len`.
pub(crate) fn insert_index(token: &str, len: usize) -> Result<usize, PatchErrorKind> {
    let index = if token == "-" {
        len
    } else {
        array_index(token)?
    };
    if index <= len {
        Ok(index)
    } else {
        Err(PatchErrorKind::IndexOutOfRange { index, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_forms() {
        assert!(matches!(Pointer::parse(""), Ok(Pointer::Root)));
        assert!(matches!(Pointer::parse("/"), Ok(Pointer::Root)));
    }

    #[test]
    fn child_splits_at_last_slash() {
        let Ok(Pointer::Child { parent, last }) = Pointer::parse("/a/b~1c/d") else {
            panic!("a valid pointer");
        };
        assert_eq!((parent, last), ("/a/b~1c", "d"));
        let Ok(Pointer::Child { parent, last }) = Pointer::parse("//") else {
            panic!("a valid pointer");
        };
        assert_eq!((parent, last), ("/", ""));
    }

    #[test]
    fn bad_pointers() {
        for bad in ["a", "a/b", "/~", "/~2", "/a~", "/~~0"] {
            assert!(
                matches!(
                    Pointer::parse(bad),
                    Err(PatchErrorKind::InvalidPointer { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn decode_order() {
        assert_eq!(decode("~01"), "~1");
        assert_eq!(decode("~10"), "/0");
        assert_eq!(decode("a~0~1b"), "a~/b");
    }

    #[test]
    fn indices() {
        assert_eq!(array_index("0"), Ok(0));
        assert_eq!(array_index("17"), Ok(17));
        assert_eq!(array_index("99999999999999999999999"), Ok(usize::MAX));
        for bad in ["", "01", "-", "1a", "+1", " 1"] {
            assert!(array_index(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn proper_child() {
        assert!(is_proper_child("/a/b", "/a"));
        assert!(is_proper_child("/a", ""));
        assert!(is_proper_child("/a", "/"));
        assert!(!is_proper_child("/a", "/a"));
        assert!(!is_proper_child("/ab", "/a"));
        assert!(!is_proper_child("/", ""));
    }
}
