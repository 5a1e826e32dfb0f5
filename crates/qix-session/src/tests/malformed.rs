//! Q-REQ-8: a malformed answer whose id is readable settles the call it names.

use serde_json::json;

use super::harness::Harness;
use crate::{Config, Event, Failure, Reply, SocketProblem};

#[test]
fn q_req_8_a_malformed_answer_fails_its_call_and_is_reported() {
    for (frame, member) in [
        (
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":"x","parameter":"","message":""}}"#,
            "error",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"parameter":null,"message":""}}"#,
            "error",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"result":{},"change":["a"]}"#,
            "change",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"result":{},"delta":"yes"}"#,
            "delta",
        ),
    ] {
        let mut h = Harness::new(Config::default());
        let global = h.open();
        h.engine.auto_answer = false;
        let waiter = h.call(global.key, "EngineVersion", json!([]));
        let conn = h.last_conn();
        let mark = h.mark();
        h.push_frame(conn, frame);
        h.settle();
        let Reply::Failed(Failure::BadFrame(error)) = h.reply(waiter) else {
            panic!(
                "{frame}: expected a bad-frame failure, got {:?}",
                h.reply(waiter)
            )
        };
        assert!(error.to_string().contains(member), "{frame}: {error}");
        assert!(
            matches!(
                h.events_since(mark)[..],
                [Event::SocketError(SocketProblem::Decode(_))]
            ),
            "{frame}"
        );
        assert_eq!(h.machine.pending_calls(), 0);
    }
}

#[test]
fn q_req_8_an_id_given_twice_settles_the_first_one() {
    let mut h = Harness::new(Config::default());
    let global = h.open();
    h.engine.auto_answer = false;
    let waiter = h.call(global.key, "EngineVersion", json!([]));
    let conn = h.last_conn();
    h.push_frame(conn, r#"{"jsonrpc":"2.0","id":1,"id":1,"result":{}}"#);
    h.settle();
    assert!(matches!(
        h.reply(waiter),
        Reply::Failed(Failure::BadFrame(_))
    ));
}

#[test]
fn q_req_8_a_truncated_answer_with_a_readable_id_settles_its_call() {
    let mut h = Harness::new(Config::default());
    let global = h.open();
    h.engine.auto_answer = false;
    let waiter = h.call(global.key, "EngineVersion", json!([]));
    let conn = h.last_conn();
    h.push_frame(conn, r#"{"jsonrpc":"2.0","id":1,"result":{"qVersion""#);
    h.settle();
    assert!(matches!(
        h.reply(waiter),
        Reply::Failed(Failure::BadFrame(_))
    ));
}

#[test]
fn q_req_8_a_malformed_frame_naming_no_pending_call_settles_nothing() {
    let mut h = Harness::new(Config::default());
    let global = h.open();
    h.engine.auto_answer = false;
    let waiter = h.call(global.key, "EngineVersion", json!([]));
    let conn = h.last_conn();
    h.push_frame(conn, r#"{"jsonrpc":"2.0","id":77,"error":{"code":"x"}}"#);
    h.settle();
    assert!(!h.replied(waiter));
    assert_eq!(h.machine.pending_calls(), 1);
}
