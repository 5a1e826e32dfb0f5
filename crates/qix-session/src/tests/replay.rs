//! Q-RETRY-1: with an automatic resume and `replay_reads`, reads a network drop interrupted
//! are sent again after the resume; calls that may have changed engine state fail as
//! interrupted.

use std::time::Duration;

use serde_json::json;

use super::harness::Harness;
use crate::{
    AutoResume, Backoff, CloseEvent, Config, Failure, NotConnectedReason, ObjectInfo, Reply, State,
};

fn config(replay_reads: bool, max_attempts: u32) -> Config {
    let policy = AutoResume {
        backoff: Backoff::Delays(vec![Duration::from_secs(1)]),
        max_attempts,
        replay_reads,
        ..AutoResume::default()
    };
    // Plain answers: the replay is what is checked here (the proptest has both together).
    Config {
        suspend_on_close: true,
        liveness: None,
        auto_resume: Some(policy),
        delta: false,
        ..Config::default()
    }
}

/// An open session with a Doc and one generic object, whose engine re-attaches, holding
/// answers from now on.
fn session(config: Config) -> (Harness, ObjectInfo) {
    let mut h = Harness::new(config);
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    let (_, doc) = h.open_doc();
    let object = h.get_object(doc.key, "GetObject", "chart-1");
    h.engine.auto_answer = false;
    (h, object)
}

fn drop_network(h: &mut Harness) {
    let conn = h.last_conn();
    h.live.remove(&conn);
    h.engine.held.clear();
    h.socket_closed(conn, 1006, "");
}

#[test]
fn q_retry_1_a_read_is_replayed_on_the_new_handle_and_a_mutation_fails_as_interrupted() {
    let (mut h, object) = session(config(true, 3));
    let read = h.call(object.key, "GetLayout", json!([]));
    let write = h.call(object.key, "SetProperties", json!([{"title": "x"}]));
    h.drive();
    let old_request = h
        .sent()
        .into_iter()
        .rfind(|(_, request, _)| request.method == "GetLayout")
        .map(|(_, request, _)| request)
        .unwrap();
    drop_network(&mut h);

    assert!(
        matches!(h.reply(write), Reply::Failed(Failure::Interrupted { close }) if *close == CloseEvent::new(1006, "")),
        "{:?}",
        h.reply(write)
    );
    assert!(!h.replied(read), "the read waits for the resume");
    let mark = h.mark();
    h.engine.auto_answer = true;
    h.advance(Duration::from_secs(1));
    h.drive();
    assert_eq!(h.state(), State::Open);

    assert!(matches!(h.reply(read), Reply::Result(raw) if raw.get().contains("qLayout")));
    let replayed: Vec<_> = h
        .sent_since(mark)
        .into_iter()
        .filter(|(_, request, _)| request.method != "GetActiveDoc" && request.method != "GetObject")
        .map(|(_, request, _)| request)
        .collect();
    assert_eq!(replayed.len(), 1, "only the read goes again: {replayed:?}");
    let new_handle = h.machine.object(object.key).unwrap().handle;
    assert_ne!(
        new_handle, object.handle,
        "the resume gave the object a new handle"
    );
    assert_eq!(replayed[0].method, "GetLayout");
    assert_eq!(replayed[0].handle, new_handle);
    assert!(replayed[0].id > old_request.id, "a new id");
}

#[test]
fn q_retry_1_without_replay_every_interrupted_call_fails_with_not_connected() {
    let (mut h, object) = session(config(false, 3));
    let read = h.call(object.key, "GetLayout", json!([]));
    let write = h.call(object.key, "SetProperties", json!([{}]));
    h.drive();
    drop_network(&mut h);
    let expected = Failure::NotConnected {
        reason: NotConnectedReason::SocketClosed,
        close: Some(CloseEvent::new(1006, "")),
    };
    for waiter in [read, write] {
        assert!(matches!(h.reply(waiter), Reply::Failed(f) if *f == expected));
    }
}

#[test]
fn q_retry_1_kept_reads_fail_when_the_automatic_resume_gives_up_or_is_taken_over() {
    // Gives up: no connect succeeds.
    let (mut h, object) = session(config(true, 1));
    let read = h.call(object.key, "GetLayout", json!([]));
    h.drive();
    h.engine.auto_connect = false;
    drop_network(&mut h);
    assert!(!h.replied(read));
    h.advance(Duration::from_secs(1));
    let conn = h.last_conn();
    h.feed(crate::Input::ConnectFailed {
        conn,
        cause: super::harness::cause("refused"),
    });
    assert!(matches!(
        h.reply(read),
        Reply::Failed(Failure::NotConnected { .. })
    ));

    // Taken over: a manual suspend while the automatic resume waits.
    let (mut h, object) = session(config(true, 3));
    let read = h.call(object.key, "GetLayout", json!([]));
    h.drive();
    drop_network(&mut h);
    h.suspend(4000, "");
    assert!(matches!(
        h.reply(read),
        Reply::Failed(Failure::NotConnected { .. })
    ));
}

#[test]
fn q_retry_1_a_kept_read_whose_caller_left_is_not_replayed() {
    let (mut h, object) = session(config(true, 3));
    let read = h.call(object.key, "GetLayout", json!([]));
    h.drive();
    drop_network(&mut h);
    h.feed(crate::Input::Cancel { waiter: read });
    let mark = h.mark();
    h.engine.auto_answer = true;
    h.advance(Duration::from_secs(1));
    h.drive();
    assert_eq!(h.state(), State::Open);
    assert!(!h.replied(read));
    assert!(!h.methods_since(mark).iter().any(|m| m == "GetLayout"));
}

#[test]
fn q_retry_1_nothing_is_kept_after_a_close_code_that_is_never_resumed() {
    let (mut h, object) = session(config(true, 3));
    let read = h.call(object.key, "GetLayout", json!([]));
    h.drive();
    let conn = h.last_conn();
    h.live.remove(&conn);
    h.socket_closed(conn, 4001, "idle");
    assert!(matches!(
        h.reply(read),
        Reply::Failed(Failure::NotConnected { .. })
    ));
}
