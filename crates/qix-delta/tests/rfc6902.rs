//! The examples of RFC 6902 appendix A, all of them, through the text reader and `apply`.

use qix_delta::{apply, parse_patches, Error, PatchErrorKind};
use serde_json::{json, Value};

/// Applies the patch text to `doc`; on error, checks the document was left as it was.
fn run(doc: Value, patch: &str) -> Result<Value, Error> {
    let patches = parse_patches(patch)?;
    let mut patched = doc.clone();
    match apply(&mut patched, patches) {
        Ok(()) => Ok(patched),
        Err(error) => {
            assert_eq!(patched, doc, "a failed list leaves the document as it was");
            Err(error.into())
        }
    }
}

fn kind(result: Result<Value, Error>) -> PatchErrorKind {
    match result {
        Err(Error::Patch { error, .. }) => error.kind,
        other => panic!("expected a patch error, got {other:?}"),
    }
}

#[test]
fn a1_adding_an_object_member() {
    let doc = json!({"foo": "bar"});
    let patched = run(doc, r#"[{ "op": "add", "path": "/baz", "value": "qux" }]"#);
    assert_eq!(patched, Ok(json!({"baz": "qux", "foo": "bar"})));
}

#[test]
fn a2_adding_an_array_element() {
    let doc = json!({"foo": ["bar", "baz"]});
    let patched = run(
        doc,
        r#"[{ "op": "add", "path": "/foo/1", "value": "qux" }]"#,
    );
    assert_eq!(patched, Ok(json!({"foo": ["bar", "qux", "baz"]})));
}

#[test]
fn a3_removing_an_object_member() {
    let doc = json!({"baz": "qux", "foo": "bar"});
    let patched = run(doc, r#"[{ "op": "remove", "path": "/baz" }]"#);
    assert_eq!(patched, Ok(json!({"foo": "bar"})));
}

#[test]
fn a4_removing_an_array_element() {
    let doc = json!({"foo": ["bar", "qux", "baz"]});
    let patched = run(doc, r#"[{ "op": "remove", "path": "/foo/1" }]"#);
    assert_eq!(patched, Ok(json!({"foo": ["bar", "baz"]})));
}

#[test]
fn a5_replacing_a_value() {
    let doc = json!({"baz": "qux", "foo": "bar"});
    let patched = run(
        doc,
        r#"[{ "op": "replace", "path": "/baz", "value": "boo" }]"#,
    );
    assert_eq!(patched, Ok(json!({"baz": "boo", "foo": "bar"})));
}

#[test]
fn a6_moving_a_value() {
    let doc = json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}});
    let patched = run(
        doc,
        r#"[{ "op": "move", "from": "/foo/waldo", "path": "/qux/thud" }]"#,
    );
    assert_eq!(
        patched,
        Ok(json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}))
    );
}

#[test]
fn a7_moving_an_array_element() {
    let doc = json!({"foo": ["all", "grass", "cows", "eat"]});
    let patched = run(
        doc,
        r#"[{ "op": "move", "from": "/foo/1", "path": "/foo/3" }]"#,
    );
    assert_eq!(patched, Ok(json!({"foo": ["all", "cows", "eat", "grass"]})));
}

#[test]
fn a8_testing_a_value_success() {
    let doc = json!({"baz": "qux", "foo": ["a", 2, "c"]});
    let patched = run(
        doc.clone(),
        r#"[
            { "op": "test", "path": "/baz", "value": "qux" },
            { "op": "test", "path": "/foo/1", "value": 2 }
        ]"#,
    );
    assert_eq!(patched, Ok(doc));
}

#[test]
fn a9_testing_a_value_error() {
    let doc = json!({"baz": "qux"});
    let failed = run(doc, r#"[{ "op": "test", "path": "/baz", "value": "bar" }]"#);
    assert_eq!(kind(failed), PatchErrorKind::TestFailed);
}

#[test]
fn a10_adding_a_nested_member_object() {
    let doc = json!({"foo": "bar"});
    let patched = run(
        doc,
        r#"[{ "op": "add", "path": "/child", "value": { "grandchild": { } } }]"#,
    );
    assert_eq!(
        patched,
        Ok(json!({"foo": "bar", "child": {"grandchild": {}}}))
    );
}

#[test]
fn a11_ignoring_unrecognized_elements() {
    let doc = json!({"foo": "bar"});
    let patched = run(
        doc,
        r#"[{ "op": "add", "path": "/baz", "value": "qux", "xyz": 123 }]"#,
    );
    assert_eq!(patched, Ok(json!({"foo": "bar", "baz": "qux"})));
}

#[test]
fn a12_adding_to_a_nonexistent_target() {
    let doc = json!({"foo": "bar"});
    let failed = run(
        doc,
        r#"[{ "op": "add", "path": "/baz/bat", "value": "qux" }]"#,
    );
    assert_eq!(kind(failed), PatchErrorKind::NoParent);
}

#[test]
fn a13_invalid_json_patch_document() {
    let doc = json!({"foo": "bar"});
    let failed = run(
        doc,
        r#"[{ "op": "add", "path": "/baz", "value": "qux", "op": "remove" }]"#,
    );
    assert!(matches!(kind(failed), PatchErrorKind::Malformed { .. }));
}

#[test]
fn a14_escape_ordering() {
    let doc = json!({"/": 9, "~1": 10});
    let patched = run(
        doc.clone(),
        r#"[{"op": "test", "path": "/~01", "value": 10}]"#,
    );
    assert_eq!(patched, Ok(doc));
}

#[test]
fn a15_comparing_strings_and_numbers() {
    let doc = json!({"/": 9, "~1": 10});
    let failed = run(doc, r#"[{"op": "test", "path": "/~01", "value": "10"}]"#);
    assert_eq!(kind(failed), PatchErrorKind::TestFailed);
}

#[test]
fn a16_adding_an_array_value() {
    let doc = json!({"foo": ["bar"]});
    let patched = run(
        doc,
        r#"[{ "op": "add", "path": "/foo/-", "value": ["abc", "def"] }]"#,
    );
    assert_eq!(patched, Ok(json!({"foo": ["bar", ["abc", "def"]]})));
}

/// Section 4.6: numbers are equal when their values are, whatever the notation.
#[test]
fn test_compares_numbers_by_value() {
    let doc = json!({"n": 1, "list": [1.0, {"x": 2}]});
    let patched = run(
        doc.clone(),
        r#"[
            {"op": "test", "path": "/n", "value": 1.0},
            {"op": "test", "path": "/list", "value": [1, {"x": 2.0}]}
        ]"#,
    );
    assert_eq!(patched, Ok(doc));
}

/// Section 4.2 and 4.3: remove and replace need an existing target.
#[test]
fn remove_and_replace_need_a_target() {
    let doc = json!({"a": [1]});
    let missing = run(doc.clone(), r#"[{"op": "remove", "path": "/b"}]"#);
    assert_eq!(kind(missing), PatchErrorKind::NotFound);
    let past_end = run(
        doc.clone(),
        r#"[{"op": "replace", "path": "/a/1", "value": 0}]"#,
    );
    assert_eq!(
        kind(past_end),
        PatchErrorKind::IndexOutOfRange { index: 1, len: 1 }
    );
    let dash = run(doc, r#"[{"op": "remove", "path": "/a/-"}]"#);
    assert_eq!(
        kind(dash),
        PatchErrorKind::IndexOutOfRange { index: 1, len: 1 }
    );
}

/// Section 4.4: a location cannot be moved into one of its children.
#[test]
fn move_into_own_child_fails() {
    let doc = json!({"a": {"b": {}}});
    let failed = run(doc, r#"[{"op": "move", "from": "/a", "path": "/a/b/c"}]"#);
    assert_eq!(kind(failed), PatchErrorKind::MoveIntoChild);
}

/// Section 4.5: copy adds a copy of the value at `from`.
#[test]
fn copy_copies() {
    let doc = json!({"a": {"b": [1, 2]}});
    let patched = run(doc, r#"[{"op": "copy", "from": "/a/b", "path": "/c"}]"#);
    assert_eq!(patched, Ok(json!({"a": {"b": [1, 2]}, "c": [1, 2]})));
}

/// Section 4.1: an array index past the end, or not a number, cannot take an `add`.
#[test]
fn add_index_rules() {
    let doc = json!({"a": [1]});
    let past_end = run(
        doc.clone(),
        r#"[{"op": "add", "path": "/a/2", "value": 0}]"#,
    );
    assert_eq!(
        kind(past_end),
        PatchErrorKind::IndexOutOfRange { index: 2, len: 1 }
    );
    let leading_zero = run(
        doc.clone(),
        r#"[{"op": "add", "path": "/a/01", "value": 0}]"#,
    );
    assert_eq!(
        kind(leading_zero),
        PatchErrorKind::InvalidIndex {
            token: "01".to_owned()
        }
    );
    let appended = run(doc, r#"[{"op": "add", "path": "/a/1", "value": 0}]"#);
    assert_eq!(appended, Ok(json!({"a": [1, 0]})));
}
