//! The patch operation as it travels, and the readers of patch lists from text and from values.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{At, Error, PatchError, PatchErrorKind};

/// One JSON Patch operation (RFC 6902 section 4), as the engine sends it:
/// `{"op":"replace","path":"/qLayout/qInfo","value":{...}}`.
///
/// Deserializes from text, a [`RawValue`](serde_json::value::RawValue) or a [`Value`]; members
/// other than `op`, `path`, `from` and `value` are ignored (RFC 6902 section 4), a member given
/// twice is an error. To read a whole list with errors that name the failing patch, use
/// [`parse_patches`] or [`patches_from_value`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patch {
    /// Insert `value` at `path` (an object member is set, an array element inserted).
    Add {
        /// Where.
        path: String,
        /// What.
        value: Value,
    },
    /// Remove the value at `path`, which must exist.
    Remove {
        /// Where.
        path: String,
    },
    /// Replace the value at `path`, which must exist.
    Replace {
        /// Where.
        path: String,
        /// The new value.
        value: Value,
    },
    /// Remove the value at `from` and add it at `path`.
    Move {
        /// Where the value is now.
        from: String,
        /// Where it goes.
        path: String,
    },
    /// Add a copy of the value at `from` at `path`.
    Copy {
        /// Where the value is.
        from: String,
        /// Where the copy goes.
        path: String,
    },
    /// Check that the value at `path` equals `value` (numbers compare by value).
    Test {
        /// Where.
        path: String,
        /// The expected value.
        value: Value,
    },
}

/// The name of a patch operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `add`
    Add,
    /// `remove`
    Remove,
    /// `replace`
    Replace,
    /// `move`
    Move,
    /// `copy`
    Copy,
    /// `test`
    Test,
}

impl Op {
    /// The name as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Remove => "remove",
            Op::Replace => "replace",
            Op::Move => "move",
            Op::Copy => "copy",
            Op::Test => "test",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "add" => Op::Add,
            "remove" => Op::Remove,
            "replace" => Op::Replace,
            "move" => Op::Move,
            "copy" => Op::Copy,
            "test" => Op::Test,
            _ => return None,
        })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Patch {
    /// The operation.
    pub fn op(&self) -> Op {
        match self {
            Patch::Add { .. } => Op::Add,
            Patch::Remove { .. } => Op::Remove,
            Patch::Replace { .. } => Op::Replace,
            Patch::Move { .. } => Op::Move,
            Patch::Copy { .. } => Op::Copy,
            Patch::Test { .. } => Op::Test,
        }
    }

    /// The `path` member.
    pub fn path(&self) -> &str {
        match self {
            Patch::Add { path, .. }
            | Patch::Remove { path }
            | Patch::Replace { path, .. }
            | Patch::Move { path, .. }
            | Patch::Copy { path, .. }
            | Patch::Test { path, .. } => path,
        }
    }

    /// The `from` member of `move` and `copy`.
    pub fn from(&self) -> Option<&str> {
        match self {
            Patch::Move { from, .. } | Patch::Copy { from, .. } => Some(from),
            _ => None,
        }
    }

    /// The `value` member of `add`, `replace` and `test`.
    pub fn value(&self) -> Option<&Value> {
        match self {
            Patch::Add { value, .. } | Patch::Replace { value, .. } | Patch::Test { value, .. } => {
                Some(value)
            }
            _ => None,
        }
    }

    /// An error about this patch, at place `index` of its list.
    pub(crate) fn error(&self, index: usize, at: At, kind: PatchErrorKind) -> PatchError {
        PatchError {
            index,
            op: self.op().as_str().to_owned(),
            path: self.path().to_owned(),
            from: self.from().map(str::to_owned),
            at,
            kind,
        }
    }
}

/// The members of a patch object, read without judging them yet, so that an error can still
/// name the `op` and `path` it is about.
#[derive(Default)]
struct Members {
    op: Option<String>,
    path: Option<String>,
    from: Option<String>,
    value: Option<Value>,
}

impl Members {
    fn into_patch(self) -> Result<Patch, Box<PatchError>> {
        let malformed = |members: &Members, reason: String| {
            Box::new(PatchError {
                index: 0,
                op: members.op.clone().unwrap_or_default(),
                path: members.path.clone().unwrap_or_default(),
                from: members.from.clone(),
                at: At::Path,
                kind: PatchErrorKind::Malformed { reason },
            })
        };
        let Some(name) = self.op.as_deref() else {
            return Err(malformed(&self, "no `op`".to_owned()));
        };
        let Some(op) = Op::from_name(name) else {
            return Err(malformed(&self, format!("unknown op `{name}`")));
        };
        if self.path.is_none() {
            return Err(malformed(&self, format!("`{op}` without `path`")));
        }
        let needs_value = matches!(op, Op::Add | Op::Replace | Op::Test);
        let needs_from = matches!(op, Op::Move | Op::Copy);
        if needs_value && self.value.is_none() {
            return Err(malformed(&self, format!("`{op}` without `value`")));
        }
        if needs_from && self.from.is_none() {
            return Err(malformed(&self, format!("`{op}` without `from`")));
        }
        let (path, from, value) = (
            self.path.unwrap_or_default(),
            self.from.unwrap_or_default(),
            self.value.unwrap_or_default(),
        );
        Ok(match op {
            Op::Add => Patch::Add { path, value },
            Op::Remove => Patch::Remove { path },
            Op::Replace => Patch::Replace { path, value },
            Op::Move => Patch::Move { from, path },
            Op::Copy => Patch::Copy { from, path },
            Op::Test => Patch::Test { path, value },
        })
    }

    /// Takes the members out of a JSON object without rebuilding the `value`.
    fn from_map(mut map: Map<String, Value>) -> Result<Self, String> {
        let mut text = |name: &str| match map.remove(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(format!("`{name}` is {}, not a string", kind_of(&other))),
        };
        Ok(Members {
            op: text("op")?,
            path: text("path")?,
            from: text("from")?,
            value: map.remove("value"),
        })
    }
}

/// The names of the members a patch object may have; others are skipped unread.
enum Field {
    Op,
    Path,
    From,
    Value,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
                Ok(match name {
                    "op" => Field::Op,
                    "path" => Field::Path,
                    "from" => Field::From,
                    "value" => Field::Value,
                    _ => Field::Other,
                })
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a patch object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                fn once<T, E: de::Error>(
                    slot: &mut Option<T>,
                    value: T,
                    name: &str,
                ) -> Result<(), E> {
                    if slot.replace(value).is_some() {
                        return Err(E::custom(format_args!("`{name}` given twice")));
                    }
                    Ok(())
                }
                let mut members = Members::default();
                while let Some(field) = map.next_key::<Field>()? {
                    match field {
                        Field::Op => once(&mut members.op, map.next_value()?, "op")?,
                        Field::Path => once(&mut members.path, map.next_value()?, "path")?,
                        Field::From => once(&mut members.from, map.next_value()?, "from")?,
                        Field::Value => once(&mut members.value, map.next_value()?, "value")?,
                        Field::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(members)
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

impl<'de> Deserialize<'de> for Patch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Members::deserialize(deserializer)?
            .into_patch()
            .map_err(|error| de::Error::custom(error.kind))
    }
}

impl Serialize for Patch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(if self.value().is_some() { 3 } else { 2 }))?;
        map.serialize_entry("op", self.op().as_str())?;
        if let Some(from) = self.from() {
            map.serialize_entry("from", from)?;
        }
        map.serialize_entry("path", self.path())?;
        if let Some(value) = self.value() {
            map.serialize_entry("value", value)?;
        }
        map.end()
    }
}

/// Reads a patch list from JSON text (a result member as it came off the wire).
///
/// Anything but an array is [`Error::ExpectedArrayOfPatches`]; an element that is not a patch
/// is an [`Error::Patch`] of kind [`Malformed`](PatchErrorKind::Malformed) naming its index.
///
/// ```
/// let text = r#"[{"op":"replace","path":"/title","value":"Sales"}]"#;
/// let patches = qix_delta::parse_patches(text)?;
/// assert_eq!(patches[0].path(), "/title");
/// assert!(qix_delta::parse_patches(r#"{"qReturn":true}"#)
///     .is_err_and(|error| error.is_expected_array_of_patches()));
/// # Ok::<(), qix_delta::Error>(())
/// ```
pub fn parse_patches(json: &str) -> Result<Vec<Patch>, Error> {
    match json.trim_start().as_bytes().first() {
        Some(b'[') => {}
        Some(first) => {
            // Only a well-formed value gets the protocol error; bad text is bad text.
            serde_json::from_str::<IgnoredAny>(json).map_err(not_json)?;
            return Err(Error::ExpectedArrayOfPatches {
                member: None,
                found: kind_of_first_byte(*first),
            });
        }
        None => return Err(not_json(serde_json::from_str::<IgnoredAny>(json).err())),
    }
    let mut failed = None;
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let parsed = PatchSeq {
        failed: &mut failed,
    }
    .deserialize(&mut deserializer)
    .and_then(|patches| deserializer.end().map(|()| patches));
    match (parsed, failed) {
        (Ok(patches), _) => Ok(patches),
        (Err(_), Some(error)) => Err(Error::from(error)),
        (Err(error), None) => Err(not_json(error)),
    }
}

/// Reads a patch list from a parsed value, moving each patch's `value` out without copying it.
///
/// Errors as for [`parse_patches`].
pub fn patches_from_value(value: Value) -> Result<Vec<Patch>, Error> {
    let Value::Array(items) = value else {
        return Err(Error::ExpectedArrayOfPatches {
            member: None,
            found: kind_of(&value),
        });
    };
    let malformed = |index, reason| PatchError {
        index,
        op: String::new(),
        path: String::new(),
        from: None,
        at: At::Path,
        kind: PatchErrorKind::Malformed { reason },
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let Value::Object(map) = item else {
                let reason = format!("{}, not an object", kind_of(&item));
                return Err(malformed(index, reason).into());
            };
            let members = Members::from_map(map).map_err(|reason| malformed(index, reason))?;
            members.into_patch().map_err(|mut error| {
                error.index = index;
                Error::from(*error)
            })
        })
        .collect()
}

/// A patch list reader that remembers which element failed and why.
struct PatchSeq<'a> {
    failed: &'a mut Option<PatchError>,
}

impl<'de> DeserializeSeed<'de> for PatchSeq<'_> {
    type Value = Vec<Patch>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Patch>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PatchSeq<'_> {
    type Value = Vec<Patch>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of patches")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Patch>, A::Error> {
        // A hostile size hint must not reserve memory the text does not hold.
        let mut patches = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        let mut index = 0;
        loop {
            let members = match seq.next_element::<Members>() {
                Ok(Some(members)) => members,
                Ok(None) => return Ok(patches),
                Err(error) => {
                    *self.failed = Some(PatchError {
                        index,
                        op: String::new(),
                        path: String::new(),
                        from: None,
                        at: At::Path,
                        kind: PatchErrorKind::Malformed {
                            reason: error.to_string(),
                        },
                    });
                    return Err(error);
                }
            };
            match members.into_patch() {
                Ok(patch) => patches.push(patch),
                Err(mut error) => {
                    error.index = index;
                    let message = error.to_string();
                    *self.failed = Some(*error);
                    return Err(de::Error::custom(message));
                }
            }
            index += 1;
        }
    }
}

fn not_json(error: impl Into<Option<serde_json::Error>>) -> Error {
    Error::Json {
        message: error
            .into()
            .map_or_else(|| "empty text".to_owned(), |error| error.to_string()),
    }
}

pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn kind_of_first_byte(byte: u8) -> &'static str {
    match byte {
        b'{' => "an object",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "a number",
    }
}
