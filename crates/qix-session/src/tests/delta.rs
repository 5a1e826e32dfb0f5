//! The delta rules of docs/behaviour.md (Q-DELTA-1, 2, 4), named `q_delta_<n>_<behaviour>`, with
//! the enigma.js behaviour each one follows or departs from.

use std::time::Duration;

use qix_rpc::{Changes, Incoming, Response};
use serde_json::json;

use super::harness::{raw, Harness};
use crate::{Call, Command, Config, Effect, Input, ObjectKey, Reply, State, Waiter};

fn config() -> Config {
    Config {
        liveness: None,
        resume_timeout: Duration::MAX,
        ..Config::default()
    }
}

/// Whether each request written since `mark` asked for delta, by method.
fn asked(h: &Harness, mark: usize) -> Vec<(String, bool)> {
    h.sent_since(mark)
        .into_iter()
        .map(|(_, request, _)| (request.method, request.delta == Some(true)))
        .collect()
}

fn raw_call(h: &mut Harness, object: ObjectKey, method: &str) -> Waiter {
    h.command(Command::Call(Call {
        object,
        call: crate::tests::encoded(method, &json!([])),
        returns_object: false,
        timeout: None,
        accepts_delta: false,
    }))
}

fn baseline_effects(h: &Harness, mark: usize) -> Vec<String> {
    h.log[mark..]
        .iter()
        .filter(|e| matches!(e, Effect::DropBaselines { .. } | Effect::ClearBaselines))
        .map(|e| format!("{e:?}"))
        .collect()
}

#[test]
fn q_delta_1_calls_ask_for_delta_except_the_kept_off_methods_objects_and_raw_calls() {
    // I3 / R5: enigma.js sends `delta: true` on every request once delta is on, Global's
    // (handle -1) included; we do too, but keep off GetProperties and GetFullPropertyTree
    // (as @qlik/api), calls whose answer is an object (the machine reads it) and raw calls.
    let mut h = Harness::new(config());
    let global = h.open();
    let (_, doc) = h.open_doc();
    let mark = h.mark();
    h.call(global.key, "EngineVersion", json!([]));
    h.call(doc.key, "GetLayout", json!([]));
    h.call(doc.key, "GetProperties", json!([]));
    h.call(doc.key, "GetFullPropertyTree", json!([]));
    h.call_object(doc.key, "GetObject", json!(["chart"]));
    raw_call(&mut h, doc.key, "GetLayout");
    h.drive();
    assert_eq!(
        asked(&h, mark),
        [
            ("EngineVersion", true),
            ("GetLayout", true),
            ("GetProperties", false),
            ("GetFullPropertyTree", false),
            ("GetObject", false),
            ("GetLayout", false),
        ]
        .map(|(m, d)| (m.to_owned(), d))
    );

    let mut off = Harness::new(Config {
        delta: false,
        ..config()
    });
    let (_, doc) = off.open_doc();
    let mark = off.mark();
    off.call(doc.key, "GetLayout", json!([]));
    assert_eq!(asked(&off, mark), [("GetLayout".to_owned(), false)]);
}

#[test]
fn q_delta_1_an_answer_marked_delta_settles_with_its_handle_and_method() {
    // I8: what counts is the response's `delta`, not the request's.
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let layout = h.call(doc.key, "GetLayout", json!([]));
    h.drive();
    let Reply::Delta {
        handle,
        method,
        result,
    } = h.reply(layout)
    else {
        panic!("expected a delta reply, got {:?}", h.reply(layout))
    };
    assert_eq!((*handle, &**method), (doc.handle, "GetLayout"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(result.get()).unwrap(),
        json!({"qLayout": [{"op": "add", "path": "/", "value": {"qInfo": {"qId": "x"}}}]})
    );

    // An answer without `delta` to a request that asked is a plain result...
    h.engine.auto_answer = false;
    let plain = h.call(doc.key, "GetLayout", json!([]));
    // ...and one with `delta` to a request that did not ask is still patches (I8).
    let unasked = h.call(doc.key, "GetProperties", json!([]));
    // A raw call is the engine's own text, whatever it says.
    let raw_text = raw_call(&mut h, doc.key, "GetLayout");
    let held = std::mem::take(&mut h.engine.held);
    let [(conn, first), (_, second), (_, third)] = &held[..] else {
        panic!("expected three requests")
    };
    h.frame(
        *conn,
        Incoming::Response(Response::result(first.id, raw(json!({"qLayout": {}})))),
    );
    for request in [second, third] {
        let mut response = Response::result(request.id, raw(json!({"qProp": []})));
        response.delta = true;
        h.frame(*conn, Incoming::Response(response));
    }
    assert!(matches!(h.reply(plain), Reply::Result(_)));
    assert!(
        matches!(h.reply(unasked), Reply::Delta { method, .. } if &**method == "GetProperties")
    );
    assert!(matches!(h.reply(raw_text), Reply::Result(r) if r.get() == r#"{"qProp":[]}"#));
}

#[test]
fn q_delta_2_a_handle_in_a_close_array_drops_its_baselines() {
    // I11: enigma.js deletes a handle's caches when it is in a `close` array.
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    h.engine.auto_answer = false;
    h.call(doc.key, "DestroyObject", json!(["chart"]));
    let (conn, request) = h.engine.held.remove(0);
    let mut response = Response::result(request.id, raw(json!({"qSuccess": true})));
    response.changes = Changes {
        change: vec![doc.handle],
        close: vec![chart.handle, 99],
    };
    let mark = h.mark();
    h.frame(conn, Incoming::Response(response));
    assert_eq!(
        baseline_effects(&h, mark),
        [
            format!(
                "{:?}",
                Effect::DropBaselines {
                    handle: chart.handle,
                    method: None
                }
            ),
            // Not a registered object, but the engine may have answered delta for it.
            format!(
                "{:?}",
                Effect::DropBaselines {
                    handle: 99,
                    method: None
                }
            ),
        ]
    );
}

#[test]
fn q_delta_2_every_new_connection_and_the_close_clear_all_baselines() {
    // I11: the session's `closed` deletes its cache. SR18 is a deviation: enigma.js keeps
    // the caches across suspend and resume, but the handles of the resumed session are new
    // and the engine starts its baselines again, so we clear them on every connection.
    let mut h = Harness::new(config());
    let mark = h.mark();
    let (_, doc) = h.open_doc();
    assert_eq!(baseline_effects(&h, mark), ["ClearBaselines"]);

    let mark = h.mark();
    h.suspend(4000, "");
    h.drive();
    assert_eq!(h.state(), State::Suspended);
    assert!(
        baseline_effects(&h, mark).is_empty(),
        "a suspend keeps them"
    );
    h.resume(false);
    h.drive();
    assert_eq!(h.state(), State::Open);
    assert_eq!(baseline_effects(&h, mark), ["ClearBaselines"]);
    let layout = h.call(doc.key, "GetLayout", json!([]));
    h.drive();
    assert!(
        matches!(h.reply(layout), Reply::Delta { handle, .. } if *handle == h.machine.object(doc.key).unwrap().handle)
    );

    let mark = h.mark();
    h.close(1000, "");
    h.drive();
    assert_eq!(h.state(), State::Closed);
    assert_eq!(baseline_effects(&h, mark), ["ClearBaselines"]);
}

#[test]
fn q_delta_4_a_pair_whose_patches_failed_is_asked_without_delta_until_its_handle_closes() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    h.feed(Input::DeltaFailed {
        handle: chart.handle,
        method: "GetLayout".to_owned(),
    });
    assert_eq!(
        format!("{:?}", h.log.last().unwrap()),
        format!(
            "{:?}",
            Effect::DropBaselines {
                handle: chart.handle,
                method: Some("GetLayout".into())
            }
        )
    );
    let mark = h.mark();
    h.call(chart.key, "GetLayout", json!([]));
    h.call(chart.key, "GetEffectiveProperties", json!([]));
    h.call(doc.key, "GetLayout", json!([]));
    h.drive();
    assert_eq!(
        asked(&h, mark),
        [
            ("GetLayout", false),
            ("GetEffectiveProperties", true),
            ("GetLayout", true),
        ]
        .map(|(m, d)| (m.to_owned(), d))
    );

    // The harness engine numbers handles upwards: the next two objects get these.
    let (closed, kept) = (chart.handle + 1, chart.handle + 2);
    for handle in [closed, kept] {
        h.feed(Input::DeltaFailed {
            handle,
            method: "GetLayout".to_owned(),
        });
    }
    // Only `closed` appears in a close array: its entry goes with its baselines.
    h.frame(
        h.last_conn(),
        Incoming::Message(Changes {
            change: vec![],
            close: vec![closed],
        }),
    );
    let first = h.get_object(doc.key, "GetObject", "first");
    let second = h.get_object(doc.key, "GetObject", "second");
    assert_eq!((first.handle, second.handle), (closed, kept));
    let mark = h.mark();
    h.call(first.key, "GetLayout", json!([]));
    h.call(second.key, "GetLayout", json!([]));
    assert_eq!(
        asked(&h, mark),
        [("GetLayout", true), ("GetLayout", false)].map(|(m, d)| (m.to_owned(), d))
    );

    // A new connection forgets them all: mark the handle the resumed Doc will get.
    let resumed = second.handle + 1;
    h.feed(Input::DeltaFailed {
        handle: resumed,
        method: "GetLayout".to_owned(),
    });
    h.suspend(4000, "");
    h.drive();
    h.resume(false);
    h.drive();
    assert_eq!(h.machine.object(doc.key).unwrap().handle, resumed);
    let mark = h.mark();
    h.call(doc.key, "GetLayout", json!([]));
    assert_eq!(asked(&h, mark), [("GetLayout".to_owned(), true)]);
}

#[test]
fn q_delta_2_the_late_delta_answer_of_a_dropped_or_timed_out_call_is_still_applied() {
    // The engine moved its baseline when it answered: the cache must follow, or the next
    // answer's patches would apply to the value before.
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.engine.auto_answer = false;
    let dropped = h.call(doc.key, "GetLayout", json!([]));
    let timed = h.command(Command::Call(Call {
        object: doc.key,
        call: crate::tests::encoded("GetLayout", &json!([])),
        returns_object: false,
        timeout: Some(Duration::from_secs(1)),
        accepts_delta: true,
    }));
    let errored = h.call(doc.key, "GetLayout", json!([]));
    h.feed(Input::Cancel { waiter: dropped });
    h.feed(Input::Cancel { waiter: errored });
    h.advance(Duration::from_secs(2));
    assert!(h.replied(timed), "timed out");
    let held: Vec<_> = std::mem::take(&mut h.engine.held)
        .into_iter()
        .filter(|(_, request)| request.method == "GetLayout")
        .collect();
    let [(conn, first), (_, second), (_, third)] = &held[..] else {
        panic!("expected three GetLayout requests, got {held:?}")
    };
    let mark = h.mark();
    for request in [first, second] {
        let mut response = Response::result(request.id, raw(json!({"qLayout": []})));
        response.delta = true;
        h.frame(*conn, Incoming::Response(response));
    }
    // An error (the engine aborted it) moves no baseline.
    h.frame(
        *conn,
        Incoming::Response(Response::error(
            third.id,
            super::harness::engine_error(15, "", "Request aborted"),
        )),
    );
    let applied: Vec<_> = h.log[mark..]
        .iter()
        .filter_map(|effect| match effect {
            Effect::ApplyDelta { handle, method, .. } => Some((*handle, method.to_string())),
            Effect::Reply { .. } => panic!("nobody waits: {effect:?}"),
            _ => None,
        })
        .collect();
    assert_eq!(
        applied,
        [
            (doc.handle, "GetLayout".to_owned()),
            (doc.handle, "GetLayout".to_owned())
        ]
    );
    // Each is applied once: a repeated answer is not ours any more.
    let mark = h.mark();
    let mut again = Response::result(first.id, raw(json!({"qLayout": []})));
    again.delta = true;
    h.frame(*conn, Incoming::Response(again));
    assert!(!h.log[mark..]
        .iter()
        .any(|effect| matches!(effect, Effect::ApplyDelta { .. })));
}

#[test]
fn q_delta_4_a_malformed_answer_to_a_delta_call_turns_delta_off_for_that_pair() {
    // The engine may have moved its baseline with the answer we could not read (Q-REQ-8).
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.engine.auto_answer = false;
    let waiter = h.call(doc.key, "GetLayout", json!([]));
    let (conn, request) = h.engine.held.remove(0);
    assert_eq!(request.delta, Some(true));
    let mark = h.mark();
    h.push_frame(
        conn,
        &format!(
            r#"{{"jsonrpc":"2.0","id":{},"delta":true,"result":{{}},"change":["a"]}}"#,
            request.id
        ),
    );
    h.settle();
    assert!(matches!(
        h.reply(waiter),
        Reply::Failed(crate::Failure::BadFrame(_))
    ));
    assert!(h.log[mark..].iter().any(|effect| matches!(
        effect,
        Effect::DropBaselines { handle, method: Some(method) }
            if *handle == doc.handle && &**method == "GetLayout"
    )));
    h.engine.auto_answer = true;
    let mark = h.mark();
    h.call(doc.key, "GetLayout", json!([]));
    assert_eq!(asked(&h, mark), [("GetLayout".to_owned(), false)]);
}
