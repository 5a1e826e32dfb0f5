//! The delta cache: one baseline per (handle, method, result member), shared with callers as
//! `Arc<Value>`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::apply::{apply_with, Log};
use crate::error::Error;
use crate::patch::{kind_of_first_byte, parse_patches, patches_from_value, Patch};

/// The baselines of delta answers, keyed by (handle, method, result member).
///
/// Values are handed out as `Arc<Value>` and never change after that: an unchanged answer
/// (`[]`) hands out the same `Arc`; a patch changes the cached value in place only when nobody
/// else holds it, and otherwise patches a copy and keeps that (so the cost of a patch is the
/// patch, plus one copy of the value when the previous answer is still alive somewhere; a list
/// that starts by replacing the whole value copies nothing).
///
/// A failing patch list leaves the entry as it was. Drop a handle's entries when the engine
/// closes it ([`drop_handle`](DeltaCache::drop_handle)) and everything when the connection
/// changes ([`clear`](DeltaCache::clear)): baselines belong to one engine session.
#[derive(Default)]
pub struct DeltaCache {
    handles: HashMap<i32, Vec<Entry>>,
}

/// A handle holds a few entries (one per method and member it answered), so a linear scan
/// finds one without hashing, and a lookup builds no key.
struct Entry {
    method: Box<str>,
    member: Box<str>,
    value: Arc<Value>,
}

impl DeltaCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one member's patch list and returns the member's full value.
    ///
    /// The engine's rules: with no baseline yet, the value starts as `[]` when the first
    /// patch's `value` is an array and as `{}` otherwise; an empty list returns the baseline
    /// unchanged (or that fresh start, which is then not stored); an `add` or `replace` at `/`
    /// (or `""`) replaces the whole value, a primitive included. On error nothing changes.
    pub fn apply(
        &mut self,
        handle: i32,
        method: &str,
        member: &str,
        patches: Vec<Patch>,
    ) -> Result<Arc<Value>, Error> {
        if let Some(entry) = self.entry_mut(handle, method, member) {
            if patches.is_empty() {
                return Ok(Arc::clone(&entry.value));
            }
            match Arc::get_mut(&mut entry.value) {
                // Nobody else holds the value: patch it where it is, with an undo log.
                Some(value) => apply_with(value, patches, Log::Keep)?,
                // A caller holds it: patch a copy, so that what they hold stays as it was; a
                // list that starts by replacing the whole value needs no copy of the old one.
                None => {
                    let mut copy = if starts_with_whole_value(&patches) {
                        Value::Null
                    } else {
                        Value::clone(&entry.value)
                    };
                    apply_with(&mut copy, patches, Log::Skip)?;
                    entry.value = Arc::new(copy);
                }
            }
            return Ok(Arc::clone(&entry.value));
        }
        let mut value = match patches.first().and_then(Patch::value) {
            Some(Value::Array(_)) => Value::Array(Vec::new()),
            _ => Value::Object(Map::new()),
        };
        if patches.is_empty() {
            return Ok(Arc::new(value));
        }
        apply_with(&mut value, patches, Log::Skip)?;
        let value = Arc::new(value);
        self.handles.entry(handle).or_default().push(Entry {
            method: method.into(),
            member: member.into(),
            value: Arc::clone(&value),
        });
        Ok(value)
    }

    /// [`apply`](DeltaCache::apply) for a member given as JSON text, e.g. a
    /// [`RawValue`]'s `get()`. Not an array: [`Error::ExpectedArrayOfPatches`].
    pub fn apply_json(
        &mut self,
        handle: i32,
        method: &str,
        member: &str,
        patches: &str,
    ) -> Result<Arc<Value>, Error> {
        let patches = parse_patches(patches).map_err(|error| error.in_member(member))?;
        self.apply(handle, method, member, patches)
            .map_err(|error| error.in_member(member))
    }

    /// [`apply`](DeltaCache::apply) for a member given as a parsed value (moved, not copied).
    pub fn apply_value(
        &mut self,
        handle: i32,
        method: &str,
        member: &str,
        patches: Value,
    ) -> Result<Arc<Value>, Error> {
        let patches = patches_from_value(patches).map_err(|error| error.in_member(member))?;
        self.apply(handle, method, member, patches)
            .map_err(|error| error.in_member(member))
    }

    /// Applies a whole delta `result` (`{"qLayout":[...patches...]}`) of `method` on `handle`
    /// and returns each member's full value, in the order of the text.
    ///
    /// The result must be an object whose members are all arrays
    /// ([`Error::ExpectedArrayOfPatches`] otherwise, for the result itself too), and every
    /// patch must be well formed; both are checked before anything is applied. Then each member is applied on its own: a member
    /// whose patches fail keeps its old value, the other members are still applied (the engine
    /// has moved its baseline for each member it sent), and the first failure is returned.
    pub fn apply_result(
        &mut self,
        handle: i32,
        method: &str,
        result: &str,
    ) -> Result<Vec<(String, Arc<Value>)>, Error> {
        let members = read_members(result)?;
        let mut parsed = Vec::with_capacity(members.len());
        for (name, raw) in members {
            let patches = parse_patches(raw.get()).map_err(|error| error.in_member(&name))?;
            parsed.push((name, patches));
        }
        let mut values = Vec::with_capacity(parsed.len());
        let mut first_error = None;
        for (name, patches) in parsed {
            match self.apply(handle, method, &name, patches) {
                Ok(value) => values.push((name, value)),
                Err(error) => {
                    first_error.get_or_insert_with(|| error.in_member(&name));
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(values),
        }
    }

    /// The cached value of one member, if any.
    pub fn get(&self, handle: i32, method: &str, member: &str) -> Option<Arc<Value>> {
        self.handles
            .get(&handle)?
            .iter()
            .find(|entry| &*entry.method == method && &*entry.member == member)
            .map(|entry| Arc::clone(&entry.value))
    }

    /// Forgets one member's baseline; true if there was one.
    pub fn remove(&mut self, handle: i32, method: &str, member: &str) -> bool {
        let Some(entries) = self.handles.get_mut(&handle) else {
            return false;
        };
        let before = entries.len();
        entries.retain(|entry| !(&*entry.method == method && &*entry.member == member));
        let removed = entries.len() != before;
        if entries.is_empty() {
            self.handles.remove(&handle);
        }
        removed
    }

    /// Forgets every baseline of `method` on `handle` (its patches failed: the engine's
    /// baseline has moved on without ours); returns how many.
    pub fn remove_method(&mut self, handle: i32, method: &str) -> usize {
        let Some(entries) = self.handles.get_mut(&handle) else {
            return 0;
        };
        let before = entries.len();
        entries.retain(|entry| &*entry.method != method);
        let removed = before - entries.len();
        if entries.is_empty() {
            self.handles.remove(&handle);
        }
        removed
    }

    /// Forgets every baseline of `handle` (the handle was in a `close` array); returns how many.
    pub fn drop_handle(&mut self, handle: i32) -> usize {
        self.handles
            .remove(&handle)
            .map_or(0, |entries| entries.len())
    }

    /// Forgets everything (the session closed, or a new connection starts).
    pub fn clear(&mut self) {
        self.handles.clear();
    }

    /// The number of cached members over all handles.
    pub fn len(&self) -> usize {
        self.handles.values().map(Vec::len).sum()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    fn entry_mut(&mut self, handle: i32, method: &str, member: &str) -> Option<&mut Entry> {
        self.handles
            .get_mut(&handle)?
            .iter_mut()
            .find(|entry| &*entry.method == method && &*entry.member == member)
    }
}

/// Lists the keys, not the values: a cached layout can be megabytes.
impl fmt::Debug for DeltaCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (handle, entries) in &self.handles {
            for entry in entries {
                list.entry(&(handle, &entry.method, &entry.member));
            }
        }
        list.finish()
    }
}

/// True when the first patch puts a new whole value in place, so the old one is not read.
fn starts_with_whole_value(patches: &[Patch]) -> bool {
    matches!(
        patches.first(),
        Some(Patch::Add { path, .. } | Patch::Replace { path, .. }) if path.is_empty() || path == "/"
    )
}

/// The members of a result object, borrowed from the text, in order.
fn read_members(result: &str) -> Result<Vec<(String, &RawValue)>, Error> {
    struct MembersVisitor;
    impl<'de> Visitor<'de> for MembersVisitor {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a result object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut members = Vec::new();
            while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                members.push(member);
            }
            Ok(members)
        }
    }
    let not_json = |error: serde_json::Error| Error::Json {
        message: error.to_string(),
    };
    match result.trim_start().as_bytes().first() {
        Some(b'{') => {}
        first => {
            // Only a well-formed value gets the protocol error; bad text is bad text.
            serde_json::from_str::<IgnoredAny>(result).map_err(not_json)?;
            return Err(Error::ExpectedArrayOfPatches {
                member: None,
                found: kind_of_first_byte(first.copied().unwrap_or(b'n')),
            });
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(result);
    let members = deserializer
        .deserialize_map(MembersVisitor)
        .map_err(not_json)?;
    deserializer.end().map_err(not_json)?;
    Ok(members)
}
