//! Random documents and random patches.
//!
//! - A patch list that turns `a` into `b` (made by a small diff written here) turns `a` into
//!   `b` when qix-delta applies it, through `apply` and through the cache.
//! - Random patches (mostly aimed at places that exist) and garbage lists never panic, and a
//!   list that fails leaves the value as it was.

use std::sync::Arc;

use proptest::prelude::*;
use qix_delta::{apply, DeltaCache, Patch};
use serde_json::{json, Map, Value};

/// Member names that exercise pointer escapes and the engine's `/` root reading.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("qText".to_owned()),
        Just("0".to_owned()),
        Just("a/b".to_owned()),
        Just("~".to_owned()),
        Just("~1".to_owned()),
        // Not empty: at the top, `/` would be the engine's whole value, not the member "".
        "[a-z~/]{1,3}",
    ]
}

fn document() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        // Quarters print and parse back exactly, whatever serde_json's float features.
        (-4000i32..4000).prop_map(|x| json!(f64::from(x) / 4.0)),
        "[a-z]{0,4}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A patch list turning `a` into `b`: members removed, added and diffed, arrays shortened from
/// the end, grown with `-` and diffed element by element; anything else replaced.
fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<Patch>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().filter(|key| !y.contains_key(*key)) {
                out.push(Patch::Remove {
                    path: format!("{path}/{}", escape(key)),
                });
            }
            for (key, new) in y {
                let at = format!("{path}/{}", escape(key));
                match x.get(key) {
                    Some(old) => diff(old, new, &at, out),
                    None => out.push(Patch::Add {
                        path: at,
                        value: new.clone(),
                    }),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for index in (y.len()..x.len()).rev() {
                out.push(Patch::Remove {
                    path: format!("{path}/{index}"),
                });
            }
            for (index, (old, new)) in x.iter().zip(y).enumerate() {
                diff(old, new, &format!("{path}/{index}"), out);
            }
            for new in y.iter().skip(x.len()) {
                out.push(Patch::Add {
                    path: format!("{path}/-"),
                    value: new.clone(),
                });
            }
        }
        _ if a == b => {}
        // At the root the path is "", which the engine also writes as "/".
        _ => out.push(Patch::Replace {
            path: if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            },
            value: b.clone(),
        }),
    }
}

/// A pointer from pieces that may or may not exist, be escaped well, or be pointers at all.
fn pointer() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        key().prop_map(|key| escape(&key)),
        Just("-".to_owned()),
        (0usize..8).prop_map(|index| index.to_string()),
        Just("01".to_owned()),
        Just("~2".to_owned()),
        Just("~".to_owned()),
        Just("99999999999999999999999".to_owned()),
    ];
    prop_oneof![
        4 => prop::collection::vec(token, 0..4).prop_map(|tokens| {
            tokens.iter().map(|token| format!("/{token}")).collect::<String>()
        }),
        1 => Just("/".to_owned()),
        1 => "[a-z/~]{0,4}",
    ]
}

/// Every pointer into `doc`, root included, as the engine writes them.
fn pointers_into(doc: &Value, at: String, out: &mut Vec<String>) {
    match doc {
        Value::Object(members) => {
            for (key, value) in members {
                pointers_into(value, format!("{at}/{}", escape(key)), out);
            }
        }
        Value::Array(items) => {
            for (index, value) in items.iter().enumerate() {
                pointers_into(value, format!("{at}/{index}"), out);
            }
            out.push(format!("{at}/-"));
        }
        _ => {}
    }
    out.push(at);
}

/// Well-formed patches whose pointers mostly lead somewhere in `doc` (or just past it), so
/// that lists often apply a few steps before one fails and must be rolled back.
fn patches_for(doc: &Value) -> impl Strategy<Value = Vec<Patch>> {
    let mut known = Vec::new();
    pointers_into(doc, String::new(), &mut known);
    let near = prop::sample::select(known);
    let pointer = prop_oneof![
        3 => near.clone(),
        1 => (near, key()).prop_map(|(at, key)| format!("{at}/{}", escape(&key))),
        1 => pointer(),
    ];
    let patch = (0..6u8, pointer.clone(), pointer, document()).prop_map(
        |(op, path, from, value)| match op {
            0 => Patch::Add { path, value },
            1 => Patch::Remove { path },
            2 => Patch::Replace { path, value },
            3 => Patch::Move { from, path },
            4 => Patch::Copy { from, path },
            _ => Patch::Test { path, value },
        },
    );
    prop::collection::vec(patch, 0..6)
}

/// Any JSON object in a patch list: well-formed operations, unknown ones, missing members.
fn garbage_patch() -> impl Strategy<Value = Value> {
    let op = prop_oneof![
        Just(json!("add")),
        Just(json!("remove")),
        Just(json!("replace")),
        Just(json!("move")),
        Just(json!("copy")),
        Just(json!("test")),
        Just(json!("frobnicate")),
        Just(json!(3)),
    ];
    (
        prop::option::weighted(0.9, op),
        prop::option::weighted(0.9, pointer().prop_map(Value::from)),
        prop::option::weighted(0.6, pointer().prop_map(Value::from)),
        prop::option::weighted(0.8, document()),
        prop::option::weighted(0.1, document()),
    )
        .prop_map(|(op, path, from, value, extra)| {
            let members = [
                ("op", op),
                ("path", path),
                ("from", from),
                ("value", value),
                ("x", extra),
            ];
            Value::Object(
                members
                    .into_iter()
                    .filter_map(|(name, member)| Some((name.to_owned(), member?)))
                    .collect(),
            )
        })
}

fn fail(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

proptest! {
    #[test]
    fn proptest_diff_applied_gives_the_target(a in document(), b in document()) {
        let mut list = Vec::new();
        diff(&a, &b, "", &mut list);
        let mut doc = a.clone();
        apply(&mut doc, list.clone()).map_err(fail)?;
        prop_assert_eq!(&doc, &b);

        // The same through the cache, from text, with an earlier answer still held.
        let mut cache = DeltaCache::new();
        let whole = vec![Patch::Add { path: "/".into(), value: a.clone() }];
        let first = cache.apply(7, "GetLayout", "qLayout", whole).map_err(fail)?;
        let text = serde_json::to_string(&list).map_err(fail)?;
        let second = cache
            .apply_json(7, "GetLayout", "qLayout", &text)
            .map_err(fail)?;
        prop_assert_eq!(&*second, &b);
        prop_assert_eq!(&*first, &a);
        let third = cache
            .apply_json(7, "GetLayout", "qLayout", "[]")
            .map_err(fail)?;
        prop_assert!(Arc::ptr_eq(&second, &third));
    }

    #[test]
    fn proptest_random_patches_never_panic_and_failure_changes_nothing(
        (doc, patches) in document().prop_flat_map(|doc| {
            let patches = patches_for(&doc);
            (Just(doc), patches)
        }),
    ) {
        let mut patched = doc.clone();
        if apply(&mut patched, patches.clone()).is_err() {
            prop_assert_eq!(&patched, &doc);
        }

        // Through the cache: once with the old value held (a copy is patched), once without
        // (patched in place with an undo log). Both must agree with `apply`.
        let start = || vec![Patch::Add { path: String::new(), value: doc.clone() }];
        let mut cache = DeltaCache::new();
        let held = cache.apply(1, "M", "k", start()).map_err(fail)?;
        let outcome = cache.apply(1, "M", "k", patches.clone());
        prop_assert_eq!(&*held, &doc);
        match &outcome {
            Ok(value) => prop_assert_eq!(&**value, &patched),
            Err(_) => prop_assert_eq!(cache.get(1, "M", "k"), Some(Arc::new(doc.clone()))),
        }
        drop((held, outcome));
        cache.clear();
        cache.apply(1, "M", "k", start()).map_err(fail)?;
        match cache.apply(1, "M", "k", patches) {
            Ok(value) => prop_assert_eq!(&*value, &patched),
            Err(_) => prop_assert_eq!(cache.get(1, "M", "k"), Some(Arc::new(doc.clone()))),
        }
    }

    #[test]
    fn proptest_garbage_lists_never_panic(
        doc in document(),
        list in prop::collection::vec(garbage_patch(), 0..6),
    ) {
        let list = Value::Array(list);
        let from_text = qix_delta::parse_patches(&list.to_string());
        let from_value = qix_delta::patches_from_value(list);
        // The two readers agree on what is a patch list and, when it fails, on which patch.
        match (&from_text, &from_value) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(a), Err(b)) => prop_assert_eq!(
                a.patch_error().map(|error| error.index),
                b.patch_error().map(|error| error.index)
            ),
            _ => prop_assert!(false, "readers disagree: {:?} vs {:?}", from_text, from_value),
        }
        if let Ok(patches) = from_value {
            let mut patched = doc.clone();
            if apply(&mut patched, patches).is_err() {
                prop_assert_eq!(&patched, &doc);
            }
        }
    }

    #[test]
    fn proptest_any_text_never_panics(text in "[\\[\\]{}\",:a-z0-9/~ ]{0,40}") {
        let mut cache = DeltaCache::new();
        let _ = qix_delta::parse_patches(&text);
        let _ = cache.apply_json(1, "M", "k", &text);
        let _ = cache.apply_result(1, "M", &text);
    }
}
