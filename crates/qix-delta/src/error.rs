//! What can go wrong: a result member that is not a patch list, a patch that is not a patch, a
//! patch that does not apply.

use std::fmt;

/// Which pointer of a patch an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum At {
    /// The `path` member.
    Path,
    /// The `from` member of `move` and `copy`.
    From,
}

/// Why one patch could not be read or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatchErrorKind {
    /// Not a patch operation: not an object, an unknown `op`, a missing or mistyped `op`,
    /// `path`, `from` or `value`, or a member given twice.
    #[error("not a patch: {reason}")]
    Malformed {
        /// What is wrong, in words.
        reason: String,
    },
    /// The pointer is not a JSON Pointer: it does not start with `/`, or a `~` is not followed
    /// by `0` or `1`.
    #[error("not a JSON pointer: {reason}")]
    InvalidPointer {
        /// What is wrong, in words.
        reason: &'static str,
    },
    /// A container on the way to the target does not exist or is neither an object nor an
    /// array (this includes `remove` of the whole value). The engine's PatchHasNoParent;
    /// enigma.js reports it as -4.
    #[error("no parent: a value on the way to the target is missing or not an object or array")]
    NoParent,
    /// The parent exists but has no member of that name (`remove`, `replace`, `test`, or the
    /// `from` of `move` and `copy`).
    #[error("no such member")]
    NotFound,
    /// An array index past the end (`-` never names an existing element).
    #[error("index {index} out of range for an array of {len}")]
    IndexOutOfRange {
        /// The index asked for (`usize::MAX` when it did not fit).
        index: usize,
        /// The length of the array.
        len: usize,
    },
    /// A token used on an array is not `-`, `0` or digits without a leading zero.
    #[error("`{token}` is not an array index")]
    InvalidIndex {
        /// The token as written.
        token: String,
    },
    /// A `move` whose `path` lies inside its `from`.
    #[error("cannot move a value into one of its own children")]
    MoveIntoChild,
    /// A `test` found a different value.
    #[error("test failed: the value differs")]
    TestFailed,
}

/// A patch that could not be read or applied, named by its place in the list, its `op` and its
/// pointers. When this is returned the value is exactly as it was before the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchError {
    /// The patch's index in its list, from 0.
    pub index: usize,
    /// The `op` as written (empty when it was missing).
    pub op: String,
    /// The `path` as written (empty when it was missing).
    pub path: String,
    /// The `from` of `move` and `copy`.
    pub from: Option<String>,
    /// Which pointer the error is about.
    pub at: At,
    /// What went wrong.
    pub kind: PatchErrorKind,
}

impl PatchError {
    /// True for [`PatchErrorKind::NoParent`], the engine's PatchHasNoParent (-4).
    pub fn is_no_parent(&self) -> bool {
        self.kind == PatchErrorKind::NoParent
    }
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "patch {} ({}", self.index, self.op)?;
        if let Some(from) = &self.from {
            write!(f, " from `{from}`")?;
        }
        write!(f, " `{}`)", self.path)?;
        if self.at == At::From {
            f.write_str(" at `from`")?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for PatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}

/// An error of the delta layer: what the session turns into a call's failure.
///
/// enigma.js codes: [`ExpectedArrayOfPatches`](Error::ExpectedArrayOfPatches) is -3; a
/// [`Patch`](Error::Patch) error is -4 (PatchHasNoParent) in enigma.js whatever its kind; the
/// kind tells the real cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A delta result, or one of its members, is not an array of patches (enigma.js -3).
    #[error("{}expected an array of patches, found {found}", member_prefix(.member))]
    ExpectedArrayOfPatches {
        /// The result member, when known.
        member: Option<String>,
        /// What was there instead: `object`, `string`, ...
        found: &'static str,
    },
    /// A patch could not be read or applied; the cache entry is as it was.
    #[error("{}{error}", member_prefix(.member))]
    Patch {
        /// The result member, when known.
        member: Option<String>,
        /// The failing patch.
        error: Box<PatchError>,
    },
    /// The text is not JSON at all.
    #[error("not JSON: {message}")]
    Json {
        /// serde_json's message.
        message: String,
    },
}

impl Error {
    /// The patch error inside, if this is one.
    pub fn patch_error(&self) -> Option<&PatchError> {
        match self {
            Error::Patch { error, .. } => Some(&**error),
            _ => None,
        }
    }

    /// True when a result or a member was not an array of patches (enigma.js -3).
    pub fn is_expected_array_of_patches(&self) -> bool {
        matches!(self, Error::ExpectedArrayOfPatches { .. })
    }

    /// True when a patch met a missing parent (the engine's PatchHasNoParent, -4).
    pub fn is_no_parent(&self) -> bool {
        self.patch_error().is_some_and(PatchError::is_no_parent)
    }

    pub(crate) fn in_member(self, name: &str) -> Self {
        match self {
            Error::ExpectedArrayOfPatches {
                member: None,
                found,
            } => Error::ExpectedArrayOfPatches {
                member: Some(name.to_owned()),
                found,
            },
            Error::Patch {
                member: None,
                error,
            } => Error::Patch {
                member: Some(name.to_owned()),
                error,
            },
            other => other,
        }
    }
}

impl From<PatchError> for Error {
    fn from(error: PatchError) -> Self {
        Error::Patch {
            member: None,
            error: Box::new(error),
        }
    }
}

fn member_prefix(member: &Option<String>) -> String {
    match member {
        Some(name) => format!("result member `{name}`: "),
        None => String::new(),
    }
}
