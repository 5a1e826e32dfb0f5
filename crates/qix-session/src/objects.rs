//! The object registry (key <-> handle) and the plan that restores it on resume (Q-RES-3).

use std::collections::{BTreeMap, HashMap, HashSet};

use qix_rpc::{Handle, GLOBAL_HANDLE};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{Failure, ObjectInfo, ObjectKey};

/// The registered objects. Every registered object has a distinct handle; a key leaves the
/// registry exactly once, when its object is closed, and is never handed out again.
#[derive(Debug, Default)]
pub(crate) struct Objects {
    /// Ordered by key, so "every object" walks in registration order.
    by_key: BTreeMap<ObjectKey, ObjectInfo>,
    by_handle: HashMap<Handle, ObjectKey>,
    next_key: u64,
}

impl Objects {
    pub(crate) fn get(&self, key: ObjectKey) -> Option<&ObjectInfo> {
        self.by_key.get(&key)
    }

    pub(crate) fn contains(&self, key: ObjectKey) -> bool {
        self.by_key.contains_key(&key)
    }

    pub(crate) fn key_of(&self, handle: Handle) -> Option<ObjectKey> {
        self.by_handle.get(&handle).copied()
    }

    fn fresh_key(&mut self) -> ObjectKey {
        let key = ObjectKey(self.next_key);
        self.next_key += 1;
        key
    }

    /// Registers a new Global object under a fresh key. The registry is empty when a session
    /// opens, so nothing holds handle -1 yet.
    pub(crate) fn register_global(&mut self) -> ObjectInfo {
        self.register(ObjectRef {
            handle: GLOBAL_HANDLE,
            id: "Global".to_owned(),
            object_type: "Global".to_owned(),
            generic_type: Some("Global".to_owned()),
        })
    }

    /// The Global object; registered again under a fresh key if the engine closed handle -1.
    pub(crate) fn global(&mut self) -> ObjectInfo {
        match self
            .key_of(GLOBAL_HANDLE)
            .and_then(|key| self.by_key.get(&key))
        {
            Some(info) => info.clone(),
            None => self.register_global(),
        }
    }

    /// Registers the object a response refers to. A handle that is already registered gives
    /// back that object, whatever the response says about it (enigma.js C4: one instance per
    /// handle).
    pub(crate) fn register(&mut self, object: ObjectRef) -> ObjectInfo {
        if let Some(info) = self
            .key_of(object.handle)
            .and_then(|key| self.by_key.get(&key))
        {
            return info.clone();
        }
        let key = self.fresh_key();
        let info = ObjectInfo {
            key,
            handle: object.handle,
            id: object.id,
            object_type: object.object_type,
            generic_type: object.generic_type,
        };
        self.by_handle.insert(info.handle, key);
        self.by_key.insert(key, info.clone());
        info
    }

    pub(crate) fn remove(&mut self, key: ObjectKey) -> Option<ObjectInfo> {
        let info = self.by_key.remove(&key)?;
        if self.by_handle.get(&info.handle) == Some(&key) {
            self.by_handle.remove(&info.handle);
        }
        Some(info)
    }

    pub(crate) fn remove_by_handle(&mut self, handle: Handle) -> Option<ObjectKey> {
        let key = self.by_handle.remove(&handle)?;
        self.by_key.remove(&key);
        Some(key)
    }

    /// Unregisters everything; the keys in registration order.
    pub(crate) fn clear(&mut self) -> Vec<ObjectKey> {
        self.by_handle.clear();
        let keys = self.by_key.keys().copied().collect();
        self.by_key.clear();
        keys
    }

    /// Decides, from the registry as it stands when a resume may restore, what to ask the engine
    /// for. The registry itself is not touched until [`Objects::finish_restore`].
    pub(crate) fn plan_restore(&self) -> RestorePlan {
        // Keys grow with registration, so the highest Doc key is the Doc registered last.
        let doc = self
            .by_key
            .values()
            .filter(|info| info.object_type == "Doc" && info.handle != GLOBAL_HANDLE)
            .map(|info| info.key)
            .max();
        let mut plan = RestorePlan {
            doc,
            others: Vec::new(),
            lost: Vec::new(),
            restored: Vec::new(),
            outstanding: 0,
        };
        for info in self.by_key.values() {
            if info.handle == GLOBAL_HANDLE || Some(info.key) == doc {
                continue;
            }
            match (doc, getter(&info.object_type)) {
                (Some(_), Some(method)) => plan.others.push(Restorable {
                    key: info.key,
                    method,
                    id: info.id.clone(),
                }),
                _ => plan.lost.push(info.key),
            }
        }
        plan
    }

    /// Applies a finished plan: lost objects leave the registry, restored ones take their new
    /// handles. Returns (closed, changed) in the order their events are due. A new handle that
    /// another object already took (a hostile or confused engine) loses the later object, so
    /// handles stay unique.
    pub(crate) fn finish_restore(&mut self, plan: RestorePlan) -> (Vec<ObjectKey>, Vec<ObjectKey>) {
        let RestorePlan {
            mut lost, restored, ..
        } = plan;
        let mut taken: HashSet<Handle> = HashSet::new();
        taken.insert(GLOBAL_HANDLE);
        let mut kept = Vec::with_capacity(restored.len());
        for (key, handle) in restored {
            if taken.insert(handle) {
                kept.push((key, handle));
            } else {
                lost.push(key);
            }
        }
        for key in &lost {
            self.remove(*key);
        }
        self.by_handle.retain(|handle, _| *handle == GLOBAL_HANDLE);
        let mut changed = Vec::with_capacity(kept.len());
        for (key, handle) in kept {
            if let Some(info) = self.by_key.get_mut(&key) {
                info.handle = handle;
                self.by_handle.insert(handle, key);
                changed.push(key);
            }
        }
        (lost, changed)
    }
}

/// The engine method that fetches an object of this type again on the new Doc (Q-RES-3), or
/// `None` when the type cannot be restored (`Field`, `Variable`, anything else).
fn getter(object_type: &str) -> Option<&'static str> {
    match object_type {
        "GenericObject" => Some("GetObject"),
        "GenericDimension" => Some("GetDimension"),
        "GenericMeasure" => Some("GetMeasure"),
        "GenericBookmark" => Some("GetBookmark"),
        "GenericVariable" => Some("GetVariableById"),
        _ => None,
    }
}

/// An object the plan asks the engine for on the new Doc handle.
#[derive(Debug)]
pub(crate) struct Restorable {
    pub(crate) key: ObjectKey,
    pub(crate) method: &'static str,
    pub(crate) id: String,
}

/// A resume's restore in progress.
#[derive(Debug)]
pub(crate) struct RestorePlan {
    /// The Doc to fetch first; `None` means every non-Global object is lost.
    pub(crate) doc: Option<ObjectKey>,
    /// Objects to fetch once the Doc is back.
    pub(crate) others: Vec<Restorable>,
    /// Objects that will be closed, in the order their `closed` is due.
    pub(crate) lost: Vec<ObjectKey>,
    /// Objects back with their new handles, Doc first, then in answer order.
    pub(crate) restored: Vec<(ObjectKey, Handle)>,
    /// `Get<Type>` requests not answered yet.
    pub(crate) outstanding: usize,
}

impl RestorePlan {
    /// The Doc did not come back: neither did anything that lives in it.
    pub(crate) fn lose_doc(&mut self) {
        self.lost.extend(self.doc.take());
        self.lost
            .extend(self.others.drain(..).map(|object| object.key));
    }
}

/// An object reference read from `result.qReturn`.
#[derive(Debug)]
pub(crate) struct ObjectRef {
    pub(crate) handle: Handle,
    pub(crate) id: String,
    pub(crate) object_type: String,
    pub(crate) generic_type: Option<String>,
}

#[derive(Deserialize)]
struct WithReturn {
    #[serde(rename = "qReturn")]
    q_return: Option<Map<String, Value>>,
}

/// `result.qReturn` as an object, or why not. Other members of the result are skipped without
/// being kept.
fn q_return(result: &str) -> Result<Map<String, Value>, String> {
    // A struct also deserializes from an array; only an object may carry `qReturn`.
    if !result.trim_start().starts_with('{') {
        return Err("the result is not an object, so it has no `qReturn`".to_owned());
    }
    match serde_json::from_str::<WithReturn>(result) {
        Ok(WithReturn {
            q_return: Some(map),
        }) => Ok(map),
        Ok(WithReturn { q_return: None }) => {
            Err("the result has no `qReturn` object reference".to_owned())
        }
        Err(error) => Err(format!("`qReturn` is not an object reference: {error}")),
    }
}

fn as_handle(value: &Value) -> Option<Handle> {
    value.as_i64().and_then(|n| Handle::try_from(n).ok())
}

/// Reads the object reference of a call that returns an object (enigma.js: `qHandle` and
/// `qType` both `null` means the object does not exist).
pub(crate) fn object_ref(result: &str) -> Result<ObjectRef, Failure> {
    let mut map = q_return(result).map_err(Failure::BadResponse)?;
    let handle = map.get("qHandle");
    if matches!(handle, Some(Value::Null)) && matches!(map.get("qType"), Some(Value::Null)) {
        return Err(Failure::ObjectNotFound);
    }
    let handle = handle.and_then(as_handle).ok_or_else(|| {
        Failure::BadResponse("`qReturn.qHandle` is missing or not a 32-bit integer".to_owned())
    })?;
    let object_type = optional_string(&mut map, "qType")
        .ok()
        .flatten()
        .ok_or_else(|| {
            Failure::BadResponse("`qReturn.qType` is missing or not a string".to_owned())
        })?;
    Ok(ObjectRef {
        handle,
        id: optional_string(&mut map, "qGenericId")?.unwrap_or_default(),
        object_type,
        generic_type: optional_string(&mut map, "qGenericType")?,
    })
}

/// Takes a string member out of `qReturn`: absent or `null` is `None`, another type an error.
fn optional_string(map: &mut Map<String, Value>, name: &str) -> Result<Option<String>, Failure> {
    match map.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(Failure::BadResponse(format!(
            "`qReturn.{name}` is not a string"
        ))),
    }
}

/// The new handle a restore request got back: `result.qReturn.qHandle` when it is an integer.
/// Runs once per object on every resume, so it builds nothing: the members are found by the
/// codec's scanner and the number read from its text.
pub(crate) fn restored_handle(result: &str) -> Option<Handle> {
    let reference = qix_rpc::member(result, "qReturn").ok()??;
    // `parse` takes the JSON integers that fit (`-1`, `7`) and refuses `1.0`, `1e2`, `"1"`.
    qix_rpc::member(reference, "qHandle").ok()??.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::restored_handle;

    #[test]
    fn a_restored_handle_is_the_integer_q_handle_of_q_return_and_nothing_else() {
        let cases = [
            (
                r#"{"qReturn":{"qType":"Doc","qHandle":1,"qGenericId":"x"}}"#,
                Some(1),
            ),
            (
                r#" {"other":[1,{"qHandle":9}],"qReturn":{"qHandle":-1}}"#,
                Some(-1),
            ),
            (r#"{"qReturn":{"qHandle":1.5}}"#, None),
            (r#"{"qReturn":{"qHandle":"1"}}"#, None),
            (r#"{"qReturn":{"qHandle":4294967296}}"#, None),
            (r#"{"qReturn":{"qHandle":null,"qType":null}}"#, None),
            (r#"{"qReturn":null}"#, None),
            (r#"{"qReturn":7}"#, None),
            (r#"{"qHandle":1}"#, None),
            (r#"[{"qHandle":1}]"#, None),
            (r#"{"qReturn":{"qHandle":1}"#, None),
        ];
        for (result, want) in cases {
            assert_eq!(restored_handle(result), want, "{result}");
        }
    }
}
