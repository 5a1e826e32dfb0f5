//! The engine's delta rules through the cache: the first answer, the root rule, the empty
//! list, the keys, the end of baselines, and the sharing of values handed out.

use std::sync::Arc;

use qix_delta::{At, DeltaCache, Error, PatchErrorKind};
use serde_json::json;

#[test]
fn q_delta_1_first_answer_is_the_whole_value_at_root() {
    let mut cache = DeltaCache::new();
    let result = r#"{"qReturn":[{"op":"add","path":"/","value":{"hello":"world!"}}]}"#;
    let values = cache.apply_result(1, "Foo", result).expect("applies");
    assert_eq!(values.len(), 1);
    assert_eq!(values[0].0, "qReturn");
    assert_eq!(*values[0].1, json!({"hello": "world!"}));
}

#[test]
fn q_delta_1_primitive_at_root_is_the_value_and_empty_list_keeps_it() {
    let mut cache = DeltaCache::new();
    let first = cache
        .apply_json(
            1,
            "Foo",
            "qReturn",
            r#"[{"op":"add","path":"/","value":false}]"#,
        )
        .expect("applies");
    assert_eq!(*first, json!(false));
    let second = cache
        .apply_json(1, "Foo", "qReturn", "[]")
        .expect("applies");
    assert_eq!(*second, json!(false));
    for (root, value) in [("/", json!("text")), ("", json!(3)), ("/", json!(null))] {
        let list = json!([{"op": "replace", "path": root, "value": value}]);
        let got = cache
            .apply_value(1, "Foo", "qReturn", list)
            .expect("applies");
        assert_eq!(*got, value);
    }
}

#[test]
fn q_delta_1_root_replaces_whatever_was_there() {
    let mut cache = DeltaCache::new();
    let list = json!([{"op": "add", "path": "/", "value": {"a": 1}}]);
    cache.apply_value(1, "M", "k", list).expect("applies");
    let list = json!([{"op": "add", "path": "/", "value": [1, 2]}]);
    let now = cache.apply_value(1, "M", "k", list).expect("applies");
    assert_eq!(*now, json!([1, 2]));
}

#[test]
fn q_delta_1_no_baseline_starts_from_an_array_or_an_object() {
    let mut cache = DeltaCache::new();
    let list = json!([{"op": "add", "path": "/-", "value": [1]}]);
    let array_start = cache.apply_value(1, "M", "a", list).expect("applies");
    assert_eq!(*array_start, json!([[1]]));
    let list = json!([{"op": "add", "path": "/x", "value": 1}]);
    let object_start = cache.apply_value(1, "M", "b", list).expect("applies");
    assert_eq!(*object_start, json!({"x": 1}));
    // A first patch without a value starts from an object too.
    let list = json!([{"op": "remove", "path": "/0"}]);
    let failed = cache
        .apply_value(1, "M", "c", list)
        .expect_err("nothing to remove");
    assert_eq!(
        failed.patch_error().map(|error| &error.kind),
        Some(&PatchErrorKind::NotFound)
    );
}

#[test]
fn q_delta_1_empty_list_without_baseline_stores_nothing() {
    let mut cache = DeltaCache::new();
    let value = cache.apply_json(1, "M", "k", "[]").expect("applies");
    assert_eq!(*value, json!({}));
    assert!(cache.is_empty());
    assert_eq!(cache.get(1, "M", "k"), None);
}

#[test]
fn q_delta_1_incremental_patches_on_a_cached_object() {
    let mut cache = DeltaCache::new();
    let first = json!([{"op": "add", "path": "/", "value": {"title": "a", "arr": [1]}}]);
    cache
        .apply_value(1, "GetLayout", "qLayout", first)
        .expect("applies");
    let next =
        r#"[{"op":"replace","path":"/title","value":"b"},{"op":"add","path":"/arr/-","value":2}]"#;
    let value = cache
        .apply_json(1, "GetLayout", "qLayout", next)
        .expect("applies");
    assert_eq!(*value, json!({"title": "b", "arr": [1, 2]}));
}

#[test]
fn q_delta_1_member_not_an_array_is_expected_array_of_patches() {
    let mut cache = DeltaCache::new();
    let failed = cache
        .apply_result(1, "Foo", r#"{"qReturn":{"foo":{}}}"#)
        .expect_err("not patches");
    assert_eq!(
        failed,
        Error::ExpectedArrayOfPatches {
            member: Some("qReturn".to_owned()),
            found: "an object",
        }
    );
    assert!(failed.is_expected_array_of_patches());
    for result in ["[]", " true", "null", r#""qLayout""#, "1"] {
        let failed = cache
            .apply_result(1, "Foo", result)
            .expect_err("not an object");
        assert!(failed.is_expected_array_of_patches(), "{result}: {failed}");
    }
    for junk in ["", "{", r#"{"a":[]} x"#, "[1,", "tru"] {
        let failed = cache.apply_result(1, "Foo", junk).expect_err("not JSON");
        assert!(matches!(failed, Error::Json { .. }), "{junk}: {failed}");
    }
    let failed = cache
        .apply_json(1, "Foo", "qReturn", r#""x""#)
        .expect_err("not patches");
    assert!(failed.is_expected_array_of_patches());
    let failed = cache
        .apply_value(1, "Foo", "qReturn", json!(7))
        .expect_err("not patches");
    assert!(failed.is_expected_array_of_patches());
    assert!(cache.is_empty());
}

#[test]
fn q_delta_1_missing_parent_is_no_parent() {
    let mut cache = DeltaCache::new();
    let first = json!([{"op": "add", "path": "/", "value": {"a": {}}}]);
    cache
        .apply_value(3, "GetLayout", "qLayout", first)
        .expect("applies");
    let failed = cache
        .apply_result(
            3,
            "GetLayout",
            r#"{"qLayout":[{"op":"add","path":"/a/b/c","value":1}]}"#,
        )
        .expect_err("no parent");
    assert!(failed.is_no_parent());
    let error = failed.patch_error().expect("a patch error");
    assert_eq!(
        (error.index, error.op.as_str(), error.path.as_str()),
        (0, "add", "/a/b/c")
    );
    assert_eq!(
        failed.to_string(),
        "result member `qLayout`: patch 0 (add `/a/b/c`): no parent: a value on the way to the \
         target is missing or not an object or array"
    );
}

#[test]
fn q_delta_1_one_failing_member_does_not_stop_the_others() {
    let mut cache = DeltaCache::new();
    let result =
        r#"{"a":[{"op":"add","path":"/","value":1}],"b":[{"op":"add","path":"/","value":{}}]}"#;
    cache.apply_result(1, "M", result).expect("applies");
    let result = r#"{"a":[{"op":"remove","path":"/x"}],"b":[{"op":"add","path":"/y","value":2}]}"#;
    let failed = cache.apply_result(1, "M", result).expect_err("a fails");
    assert_eq!(
        failed.patch_error().map(|error| (&error.kind, error.at)),
        Some((&PatchErrorKind::NoParent, At::Path))
    );
    assert_eq!(cache.get(1, "M", "a").as_deref(), Some(&json!(1)));
    assert_eq!(cache.get(1, "M", "b").as_deref(), Some(&json!({"y": 2})));
}

#[test]
fn q_delta_1_a_malformed_member_applies_nothing() {
    let mut cache = DeltaCache::new();
    let result = r#"{"a":[{"op":"add","path":"/","value":1}],"b":[{"op":"jump","path":"/"}]}"#;
    let failed = cache
        .apply_result(1, "M", result)
        .expect_err("b is no patch");
    let error = failed.patch_error().expect("a patch error");
    assert_eq!(
        (error.index, error.op.as_str(), error.path.as_str()),
        (0, "jump", "/")
    );
    assert!(matches!(error.kind, PatchErrorKind::Malformed { .. }));
    assert!(cache.is_empty());
}

#[test]
fn q_delta_2_close_drops_the_handles_baselines() {
    let mut cache = DeltaCache::new();
    let root = || json!([{"op": "add", "path": "/", "value": {"x": 1}}]);
    cache
        .apply_value(1, "GetLayout", "qLayout", root())
        .expect("applies");
    cache
        .apply_value(1, "GetProperties", "qProp", root())
        .expect("applies");
    cache
        .apply_value(2, "GetLayout", "qLayout", root())
        .expect("applies");
    assert_eq!(cache.len(), 3);
    assert_eq!(cache.drop_handle(1), 2);
    assert_eq!(cache.drop_handle(1), 0);
    assert_eq!(cache.get(1, "GetLayout", "qLayout"), None);
    assert!(cache.get(2, "GetLayout", "qLayout").is_some());
    // A new object on the old handle number starts from nothing.
    let fresh = cache
        .apply_value(
            1,
            "GetLayout",
            "qLayout",
            json!([{"op": "add", "path": "/y", "value": 2}]),
        )
        .expect("applies");
    assert_eq!(*fresh, json!({"y": 2}));
    cache.clear();
    assert!(cache.is_empty());
    assert_eq!(cache.len(), 0);
}

#[test]
fn q_delta_2_keys_are_handle_method_and_member() {
    let mut cache = DeltaCache::new();
    for (handle, method, member, n) in [
        (1, "A", "x", 1),
        (1, "A", "y", 2),
        (1, "B", "x", 3),
        (2, "A", "x", 4),
    ] {
        let list = json!([{"op": "add", "path": "/", "value": n}]);
        cache
            .apply_value(handle, method, member, list)
            .expect("applies");
    }
    assert_eq!(cache.get(1, "A", "x").as_deref(), Some(&json!(1)));
    assert_eq!(cache.get(1, "A", "y").as_deref(), Some(&json!(2)));
    assert_eq!(cache.get(1, "B", "x").as_deref(), Some(&json!(3)));
    assert_eq!(cache.get(2, "A", "x").as_deref(), Some(&json!(4)));
    assert!(cache.remove(1, "A", "y"));
    assert!(!cache.remove(1, "A", "y"));
    assert_eq!(cache.len(), 3);
}

#[test]
fn q_delta_3_unchanged_answer_is_the_same_arc() {
    let mut cache = DeltaCache::new();
    let first = cache
        .apply_value(
            1,
            "M",
            "k",
            json!([{"op": "add", "path": "/", "value": {"a": [1, 2]}}]),
        )
        .expect("applies");
    let again = cache.apply_json(1, "M", "k", "[]").expect("applies");
    assert!(Arc::ptr_eq(&first, &again));
    let result = cache.apply_result(1, "M", r#"{"k":[]}"#).expect("applies");
    assert!(Arc::ptr_eq(&first, &result[0].1));
}

#[test]
fn q_delta_3_a_value_handed_out_never_changes() {
    let mut cache = DeltaCache::new();
    let first = cache
        .apply_value(
            1,
            "M",
            "k",
            json!([{"op": "add", "path": "/", "value": {"a": [1, 2]}}]),
        )
        .expect("applies");
    let second = cache
        .apply_value(
            1,
            "M",
            "k",
            json!([{"op": "add", "path": "/a/-", "value": 3}]),
        )
        .expect("applies");
    assert_eq!(*first, json!({"a": [1, 2]}));
    assert_eq!(*second, json!({"a": [1, 2, 3]}));
    let third = cache
        .apply_value(1, "M", "k", json!([{"op": "remove", "path": "/a"}]))
        .expect("applies");
    assert_eq!(*first, json!({"a": [1, 2]}));
    assert_eq!(*second, json!({"a": [1, 2, 3]}));
    assert_eq!(*third, json!({}));
}

#[test]
fn q_delta_3_a_value_nobody_holds_is_patched_in_place() {
    let mut cache = DeltaCache::new();
    let first = cache
        .apply_value(
            1,
            "M",
            "k",
            json!([{"op": "add", "path": "/", "value": {"a": 1}}]),
        )
        .expect("applies");
    let address = Arc::as_ptr(&first) as usize;
    drop(first);
    let second = cache
        .apply_value(
            1,
            "M",
            "k",
            json!([{"op": "replace", "path": "/a", "value": 2}]),
        )
        .expect("applies");
    assert_eq!(Arc::as_ptr(&second) as usize, address, "no copy was made");
    assert_eq!(*second, json!({"a": 2}));
}

#[test]
fn q_delta_3_whole_value_replaced_while_the_old_one_is_held() {
    let mut cache = DeltaCache::new();
    let root = |value| json!([{"op": "add", "path": "/", "value": value}]);
    let first = cache
        .apply_value(1, "M", "k", root(json!({"a": 1})))
        .expect("applies");
    let mut list = root(json!({"b": [1]}));
    list.as_array_mut()
        .expect("a list")
        .push(json!({"op": "add", "path": "/b/-", "value": 2}));
    let second = cache.apply_value(1, "M", "k", list).expect("applies");
    assert_eq!(*second, json!({"b": [1, 2]}));
    assert_eq!(*first, json!({"a": 1}));
    // The same start, then a patch that fails: the entry keeps the second value.
    let mut list = root(json!({"c": 0}));
    list.as_array_mut()
        .expect("a list")
        .push(json!({"op": "remove", "path": "/b"}));
    assert!(cache.apply_value(1, "M", "k", list).is_err());
    assert_eq!(
        cache.get(1, "M", "k").as_deref(),
        Some(&json!({"b": [1, 2]}))
    );
    assert_eq!(*second, json!({"b": [1, 2]}));
}

#[test]
fn q_delta_3_failed_list_leaves_the_entry_as_it_was() {
    let mut cache = DeltaCache::new();
    let start = json!({"a": [1, 2], "b": {"c": true}});
    let first = cache
        .apply_value(
            1,
            "M",
            "k",
            json!([{"op": "add", "path": "/", "value": start.clone()}]),
        )
        .expect("applies");
    let bad = json!([
        {"op": "remove", "path": "/a/0"},
        {"op": "move", "from": "/b/c", "path": "/a/0"},
        {"op": "add", "path": "/nope/x", "value": 1}
    ]);
    // Held elsewhere (the copy is patched and dropped) and held by nobody (undo log).
    assert!(cache.apply_value(1, "M", "k", bad.clone()).is_err());
    assert_eq!(cache.get(1, "M", "k").as_deref(), Some(&start));
    drop(first);
    let failed = cache.apply_value(1, "M", "k", bad).expect_err("no parent");
    assert_eq!(failed.patch_error().map(|error| error.index), Some(2));
    assert_eq!(cache.get(1, "M", "k").as_deref(), Some(&start));
}

#[test]
fn q_delta_4_remove_method_drops_only_that_methods_baselines() {
    let mut cache = DeltaCache::new();
    let root = || json!([{"op": "add", "path": "/", "value": {"x": 1}}]);
    for (handle, method, member) in [
        (1, "GetLayout", "qLayout"),
        (1, "GetLayout", "qOther"),
        (1, "GetProperties", "qProp"),
        (2, "GetLayout", "qLayout"),
    ] {
        cache
            .apply_value(handle, method, member, root())
            .expect("applies");
    }
    assert_eq!(cache.remove_method(1, "GetLayout"), 2);
    assert_eq!(cache.remove_method(1, "GetLayout"), 0);
    assert_eq!(cache.remove_method(9, "GetLayout"), 0);
    assert!(cache.get(1, "GetProperties", "qProp").is_some());
    assert!(cache.get(2, "GetLayout", "qLayout").is_some());
    assert_eq!(cache.remove_method(1, "GetProperties"), 1);
    assert_eq!(cache.len(), 1);
}
