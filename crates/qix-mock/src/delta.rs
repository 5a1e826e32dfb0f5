//! Delta answers, as the engine gives them to a request with `"delta": true`: each member of
//! the result becomes a list of JSON patches against the previous answer this socket got for
//! the same handle, method and member. The first answer is the whole value at `/`, later ones
//! the differences (computed with the `json-patch` crate's diff), `[]` when nothing changed.
//! A handle's baselines go when the handle closes.

use std::collections::HashMap;

use qix_rpc::Handle;
use serde_json::{json, Map, Value};

/// The previous answer per (handle, method, member), for one socket.
#[derive(Debug, Default)]
pub(crate) struct Baselines {
    values: HashMap<(Handle, String, String), Value>,
}

impl Baselines {
    /// The delta form of `result`, the answer to `method` on `handle`; `result` becomes the
    /// new baseline. The engine's results are objects; anything else is sent as it is.
    pub(crate) fn answer(&mut self, handle: Handle, method: &str, result: Value) -> Value {
        let Value::Object(members) = result else {
            return result;
        };
        let mut patches = Map::with_capacity(members.len());
        for (member, value) in members {
            let key = (handle, method.to_owned(), member.clone());
            let list = match self.values.get(&key) {
                None => json!([{"op": "add", "path": "/", "value": value}]),
                Some(previous) => {
                    serde_json::to_value(json_patch::diff(previous, &value)).unwrap_or_default()
                }
            };
            self.values.insert(key, value);
            patches.insert(member, list);
        }
        Value::Object(patches)
    }

    /// The engine closed these handles on this socket.
    pub(crate) fn drop_handles(&mut self, closed: &[Handle]) {
        if !closed.is_empty() {
            self.values
                .retain(|(handle, _, _), _| !closed.contains(handle));
        }
    }

    /// How many baselines are kept for `handle`.
    pub(crate) fn count(&self, handle: Handle) -> usize {
        self.values.keys().filter(|(h, _, _)| *h == handle).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_answer_whole_then_differences_then_nothing() {
        let mut baselines = Baselines::default();
        let first = baselines.answer(1, "GetLayout", json!({"qLayout": {"a": 1, "b": [1, 2]}}));
        assert_eq!(
            first,
            json!({"qLayout": [{"op": "add", "path": "/", "value": {"a": 1, "b": [1, 2]}}]})
        );
        let second = baselines.answer(1, "GetLayout", json!({"qLayout": {"a": 2, "b": [1, 2]}}));
        assert_eq!(
            second,
            json!({"qLayout": [{"op": "replace", "path": "/a", "value": 2}]})
        );
        let third = baselines.answer(1, "GetLayout", json!({"qLayout": {"a": 2, "b": [1, 2]}}));
        assert_eq!(third, json!({"qLayout": []}));
        // Another handle, another method: baselines of their own.
        let other = baselines.answer(2, "GetLayout", json!({"qLayout": 5}));
        assert_eq!(
            other,
            json!({"qLayout": [{"op": "add", "path": "/", "value": 5}]})
        );
        assert_eq!((baselines.count(1), baselines.count(2)), (1, 1));
        baselines.drop_handles(&[1]);
        assert_eq!((baselines.count(1), baselines.count(2)), (0, 1));
        let again = baselines.answer(1, "GetLayout", json!({"qLayout": {"a": 2}}));
        assert_eq!(
            again,
            json!({"qLayout": [{"op": "add", "path": "/", "value": {"a": 2}}]})
        );
    }
}
