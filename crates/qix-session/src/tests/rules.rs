//! One or more tests per rule of docs/behaviour.md, named `q_<rule>_<behaviour>`.

use std::time::Duration;

use qix_rpc::{Changes, Incoming, Notification, Response, GLOBAL_HANDLE};
use serde_json::json;

use super::harness::{cause, engine_error, on_connected, raw, Harness};
use crate::{
    CloseEvent, Config, ConnId, Effect, Event, Failure, Initiator, Input, NotConnectedReason,
    ObjectKey, Reply, SocketProblem, State,
};

/// The rules of this file run without liveness probes and without a bound on the whole resume
/// (Q-LIVE-1 and Q-TIME-1 have their own tests, in `time.rs`): jumping the clock to the next
/// deadline would otherwise fire them between the steps these tests check.
/// The rules other than Q-DELTA-* are checked on plain answers; the delta rules have their
/// own tests (and the property test runs with the default, delta on).
fn config() -> Config {
    Config {
        liveness: None,
        resume_timeout: Duration::MAX,
        delta: false,
        ..Config::default()
    }
}

fn suspend_on_close() -> Config {
    Config {
        suspend_on_close: true,
        ..config()
    }
}

fn not_connected(reason: NotConnectedReason, close: Option<CloseEvent>) -> Failure {
    Failure::NotConnected { reason, close }
}

fn failed(reply: &Reply) -> &Failure {
    match reply {
        Reply::Failed(failure) => failure,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn is_done(reply: &Reply) -> bool {
    matches!(reply, Reply::Done)
}

/// The session's events but for the greeting's traffic and notification (Q-OPEN-4).
fn opened_events(h: &Harness) -> Vec<Event> {
    h.events()
        .into_iter()
        .filter(|e| !matches!(e, Event::TrafficReceived { .. } | Event::Notification(_)))
        .collect()
}

/// Index of the first effect in the log that matches.
fn position(h: &Harness, from: usize, matches: impl Fn(&Effect) -> bool) -> usize {
    h.log[from..]
        .iter()
        .position(matches)
        .map(|i| i + from)
        .expect("the effect is in the log")
}

// ---- Q-OPEN-1 -------------------------------------------------------------------------------

#[test]
fn q_open_1_first_open_connects_and_replies_global_once_connected() {
    let mut h = Harness::manual(config());
    let waiter = h.command(crate::Command::Open);
    assert_eq!(h.state(), State::Connecting);
    assert_eq!(h.connects().len(), 1);
    assert!(
        !h.replied(waiter),
        "open resolves only once the socket is open"
    );

    let conn = h.last_conn();
    h.connected(conn);
    assert_eq!(h.state(), State::Open);
    let Reply::Opened(global) = h.reply(waiter) else {
        panic!("open did not reply Opened")
    };
    assert_eq!(global.handle, GLOBAL_HANDLE);
    assert_eq!(global.id, "Global");
    assert_eq!(global.object_type, "Global");
    assert_eq!(global.generic_type.as_deref(), Some("Global"));
    assert_eq!(h.machine.object(global.key), Some(global));
    assert_eq!(opened_events(&h), vec![Event::Opened]);
}

#[test]
fn q_open_1_concurrent_opens_share_one_socket_and_one_opened() {
    let mut h = Harness::manual(config());
    let first = h.command(crate::Command::Open);
    let second = h.command(crate::Command::Open);
    assert_eq!(h.connects().len(), 1, "one socket for both");
    let conn = h.last_conn();
    h.connected(conn);
    let (Reply::Opened(a), Reply::Opened(b)) = (h.reply(first), h.reply(second)) else {
        panic!("both opens resolve with Global")
    };
    assert_eq!(a, b);
    assert_eq!(opened_events(&h), vec![Event::Opened]);
}

#[test]
fn q_open_1_open_while_open_replies_the_same_global_at_once() {
    let mut h = Harness::new(config());
    let global = h.open();
    let mark = h.mark();
    let again = h.command(crate::Command::Open);
    let Reply::Opened(same) = h.reply(again) else {
        panic!("open while open replies Global")
    };
    assert_eq!(same, &global);
    assert_eq!(h.connects().len(), 1);
    assert!(h.events_since(mark).is_empty(), "no second opened");
}

#[test]
fn q_open_1_open_while_suspended_or_closing_is_an_invalid_state() {
    let mut h = Harness::new(config());
    h.open();
    h.suspend(4000, "");
    let while_suspending = h.command(crate::Command::Open);
    h.drive();
    let while_suspended = h.command(crate::Command::Open);
    assert_eq!(
        failed(h.reply(while_suspending)),
        &Failure::InvalidState {
            operation: "open",
            state: State::Suspending
        }
    );
    assert_eq!(
        failed(h.reply(while_suspended)),
        &Failure::InvalidState {
            operation: "open",
            state: State::Suspended
        }
    );

    let mut h = Harness::manual(config());
    h.command(crate::Command::Open);
    let conn = h.last_conn();
    h.connected(conn);
    h.close(1000, "");
    let while_closing = h.command(crate::Command::Open);
    assert_eq!(
        failed(h.reply(while_closing)),
        &Failure::InvalidState {
            operation: "open",
            state: State::Closing
        }
    );
    assert_eq!(h.connects().len(), 1);
}

// ---- Q-OPEN-2 -------------------------------------------------------------------------------

#[test]
fn q_open_2_connect_failure_fails_every_open_waiter_without_socket_error() {
    let mut h = Harness::manual(config());
    let first = h.command(crate::Command::Open);
    let second = h.command(crate::Command::Open);
    let refused = cause("HTTP 403 Forbidden");
    h.feed(Input::ConnectFailed {
        conn: h.last_conn(),
        cause: refused.clone(),
    });
    assert_eq!(
        failed(h.reply(first)),
        &Failure::ConnectFailed(refused.clone())
    );
    assert_eq!(failed(h.reply(second)), &Failure::ConnectFailed(refused));
    assert!(h.events().is_empty(), "no socket-error, no event at all");
    assert_eq!(h.state(), State::Idle);
}

#[test]
fn q_open_2_failure_is_not_cached_and_the_next_open_connects_again() {
    let mut h = Harness::manual(config());
    h.command(crate::Command::Open);
    let failed_conn = h.last_conn();
    h.feed(Input::ConnectFailed {
        conn: failed_conn,
        cause: cause("refused"),
    });
    let retry = h.command(crate::Command::Open);
    assert_eq!(h.connects().len(), 2);
    assert_ne!(h.last_conn(), failed_conn);
    let conn = h.last_conn();
    h.connected(conn);
    assert!(matches!(h.reply(retry), Reply::Opened(_)));
}

#[test]
fn q_open_2_a_socket_that_closes_before_opening_fails_open() {
    let mut h = Harness::manual(config());
    let waiter = h.command(crate::Command::Open);
    h.socket_closed(h.last_conn(), 1006, "");
    assert_eq!(
        failed(h.reply(waiter)),
        &not_connected(
            NotConnectedReason::SocketClosed,
            Some(CloseEvent::new(1006, ""))
        )
    );
    assert_eq!(h.state(), State::Idle);
    assert!(h.events().is_empty());
}

#[test]
fn q_open_2_a_failed_reopen_goes_back_to_closed() {
    let mut h = Harness::new(config());
    h.open();
    h.close(1000, "");
    h.drive();
    h.engine.auto_connect = false;
    let waiter = h.command(crate::Command::Open);
    h.feed(Input::ConnectFailed {
        conn: h.last_conn(),
        cause: cause("refused"),
    });
    assert!(matches!(failed(h.reply(waiter)), Failure::ConnectFailed(_)));
    assert_eq!(h.state(), State::Closed);
}

// ---- Q-OPEN-3 -------------------------------------------------------------------------------

#[test]
fn q_open_3_open_after_close_reconnects_with_a_fresh_global_and_ids_keep_counting() {
    let mut h = Harness::new(config());
    let first_global = h.open();
    h.call(first_global.key, "EngineVersion", json!([]));
    h.drive();
    h.close(1000, "");
    h.drive();
    assert_eq!(h.state(), State::Closed);

    let second_global = h.open();
    assert_eq!(h.connects().len(), 2, "a fresh connection");
    assert_ne!(second_global.key, first_global.key, "keys are never reused");
    assert_eq!(h.machine.object(first_global.key), None);
    let opened = h.events().iter().filter(|e| **e == Event::Opened).count();
    assert_eq!(opened, 2, "opened is emitted again");

    h.call(second_global.key, "EngineVersion", json!([]));
    h.drive();
    let ids: Vec<u64> = h.sent().iter().map(|(_, request, _)| request.id).collect();
    assert_eq!(ids, vec![1, 2]);
}

// ---- Q-CLOSE-1 ------------------------------------------------------------------------------

#[test]
fn q_close_1_close_uses_the_exact_code_and_reason_and_settles_everything_in_order() {
    let mut h = Harness::new(config());
    let (global, doc) = h.open_doc();
    h.engine.auto_answer = false;
    h.engine.echo_close = false;
    let pending = h.call(doc.key, "GetLayout", json!([]));
    h.drive();

    let mark = h.mark();
    let closing = h.close(4100, "bye");
    let conn = h.last_conn();
    assert_eq!(h.socket_closes(), vec![(conn, 4100, "bye".to_owned())]);
    assert_eq!(h.state(), State::Closing);
    assert!(
        !h.replied(closing),
        "close resolves after the socket has closed"
    );
    assert!(!h.replied(pending));

    // The socket may report another code; the session reports the close it asked for.
    h.socket_closed(conn, 1005, "");
    let asked = CloseEvent::new(4100, "bye");
    assert_eq!(
        h.events_since(mark),
        vec![
            Event::ObjectClosed(global.key),
            Event::ObjectClosed(doc.key),
            Event::Closed(asked.clone()),
        ]
    );
    assert_eq!(
        failed(h.reply(pending)),
        &not_connected(NotConnectedReason::SocketClosed, Some(asked.clone()))
    );
    assert!(is_done(h.reply(closing)));
    let closed_at = position(&h, mark, |e| matches!(e, Effect::Emit(Event::Closed(_))));
    let pending_at = position(
        &h,
        mark,
        |e| matches!(e, Effect::Reply { waiter, .. } if *waiter == pending),
    );
    let done_at = position(
        &h,
        mark,
        |e| matches!(e, Effect::Reply { waiter, .. } if *waiter == closing),
    );
    assert!(closed_at < pending_at && pending_at < done_at);
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.machine.object(doc.key), None);
    assert_eq!(h.machine.pending_calls(), 0);
}

#[test]
fn q_close_1_close_on_an_idle_or_closed_session_resolves_at_once_without_event() {
    let mut h = Harness::new(config());
    let idle = h.close(1000, "");
    assert!(is_done(h.reply(idle)));
    assert!(h.log.iter().all(|e| matches!(e, Effect::Reply { .. })));

    h.open();
    h.close(1000, "");
    h.drive();
    let mark = h.mark();
    let again = h.close(4000, "again");
    assert!(is_done(h.reply(again)));
    assert!(h.events_since(mark).is_empty());
    assert!(h.socket_closes().len() == 1, "nothing more is closed");
}

#[test]
fn q_close_1_a_second_close_while_closing_resolves_with_the_first() {
    let mut h = Harness::new(config());
    h.open();
    h.engine.echo_close = false;
    let first = h.close(4100, "first");
    let second = h.close(4200, "second");
    assert_eq!(h.socket_closes().len(), 1);
    h.socket_closed(h.last_conn(), 4100, "first");
    assert!(is_done(h.reply(first)));
    assert!(is_done(h.reply(second)));
    let closed: Vec<Event> = h
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Closed(_)))
        .collect();
    assert_eq!(closed, vec![Event::Closed(CloseEvent::new(4100, "first"))]);
}

#[test]
fn q_close_1_close_while_connecting_fails_open_and_emits_no_closed() {
    let mut h = Harness::manual(config());
    let opening = h.command(crate::Command::Open);
    let conn = h.last_conn();
    let closing = h.close(1000, "");
    // Q-CLOSE-4: a connection still connecting is closed once it connects.
    assert!(h.socket_closes().is_empty());
    assert_eq!(
        failed(h.reply(opening)),
        &not_connected(
            NotConnectedReason::SocketClosed,
            Some(CloseEvent::new(1000, ""))
        )
    );
    assert!(is_done(h.reply(closing)));
    assert_eq!(h.state(), State::Closed);
    // It connects anyway and is closed with the close asked for: nothing else happens.
    h.connected(conn);
    assert_eq!(h.socket_closes(), vec![(conn, 1000, String::new())]);
    let mark = h.mark();
    h.socket_closed(conn, 1000, "");
    assert_eq!(h.mark(), mark);
    assert!(h.events().is_empty());
    assert!(h.machine.poll_timeout().is_none());
}

// ---- Q-CLOSE-2 ------------------------------------------------------------------------------

#[test]
fn q_close_2_an_unasked_close_with_any_code_closes_the_session() {
    for code in [1000, 4000, 1006, 4029] {
        let mut h = Harness::new(config());
        let (global, doc) = h.open_doc();
        h.engine.auto_answer = false;
        let pending = h.call(doc.key, "GetLayout", json!([]));
        let mark = h.mark();
        h.socket_closed(h.last_conn(), code, "server says bye");
        let close = CloseEvent::new(code, "server says bye");
        assert_eq!(
            h.events_since(mark),
            vec![
                Event::ObjectClosed(global.key),
                Event::ObjectClosed(doc.key),
                Event::Closed(close.clone()),
            ],
            "code {code}"
        );
        assert_eq!(
            failed(h.reply(pending)),
            &not_connected(NotConnectedReason::SocketClosed, Some(close.clone()))
        );
        assert_eq!(h.state(), State::Closed);
        let later = h.call(global.key, "EngineVersion", json!([]));
        assert_eq!(
            failed(h.reply(later)),
            &not_connected(NotConnectedReason::NotConnected, Some(close))
        );
    }
}

// ---- Q-CLOSE-3 ------------------------------------------------------------------------------

#[test]
fn q_close_3_close_on_a_suspended_session_closes_it_for_good() {
    let mut h = Harness::new(config());
    let (global, doc) = h.open_doc();
    h.suspend(4000, "");
    h.drive();
    assert_eq!(h.state(), State::Suspended);
    let closes_before = h.socket_closes().len();
    let mark = h.mark();
    let closing = h.close(1000, "done");
    assert_eq!(
        h.events_since(mark),
        vec![
            Event::ObjectClosed(global.key),
            Event::ObjectClosed(doc.key),
            Event::Closed(CloseEvent::new(1000, "done")),
        ]
    );
    assert!(is_done(h.reply(closing)));
    assert_eq!(
        h.socket_closes().len(),
        closes_before,
        "there is no socket to close"
    );
    assert_eq!(h.state(), State::Closed);
    let later = h.call(global.key, "EngineVersion", json!([]));
    assert!(matches!(
        failed(h.reply(later)),
        Failure::NotConnected {
            reason: NotConnectedReason::NotConnected,
            ..
        }
    ));
}

#[test]
fn q_close_3_close_while_suspending_lets_the_suspend_finish_first() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.engine.echo_close = false;
    let suspending = h.suspend(4000, "");
    let closing = h.close(4100, "bye");
    assert_eq!(
        h.socket_closes().len(),
        1,
        "only the suspend's close goes out"
    );
    let mark = h.mark();
    h.socket_closed(h.last_conn(), 4000, "");
    assert_eq!(
        h.events_since(mark),
        vec![
            Event::Suspended {
                initiator: Initiator::Manual,
                close: CloseEvent::new(4000, "")
            },
            Event::ObjectClosed(global.key),
            Event::Closed(CloseEvent::new(4100, "bye")),
        ]
    );
    let suspend_done = position(
        &h,
        mark,
        |e| matches!(e, Effect::Reply { waiter, .. } if *waiter == suspending),
    );
    let closed_at = position(&h, mark, |e| matches!(e, Effect::Emit(Event::Closed(_))));
    assert!(suspend_done < closed_at);
    assert!(is_done(h.reply(suspending)));
    assert!(is_done(h.reply(closing)));
    assert_eq!(h.state(), State::Closed);
}

#[test]
fn q_close_3_close_while_resuming_closes_the_new_socket_with_the_asked_code() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.suspend(4000, "");
    h.drive();
    h.engine.auto_connect = false;
    let resuming = h.resume(false);
    let resume_conn = h.last_conn();
    h.feed(Input::Connected { conn: resume_conn });
    let mark = h.mark();
    let closing = h.close(4100, "bye");
    assert_eq!(
        h.socket_closes().last(),
        Some(&(resume_conn, 4100, "bye".to_owned()))
    );
    assert_eq!(
        failed(h.reply(resuming)),
        &not_connected(
            NotConnectedReason::SocketClosed,
            Some(CloseEvent::new(4100, "bye"))
        )
    );
    // Q-CLOSE-1: `close` resolves after the socket has closed, not before.
    assert!(!h.replied(closing));
    assert_eq!(h.state(), State::Closing);
    h.socket_closed(resume_conn, 4100, "bye");
    assert_eq!(
        h.events_since(mark),
        vec![
            Event::ObjectClosed(global.key),
            Event::Closed(CloseEvent::new(4100, "bye"))
        ]
    );
    assert!(is_done(h.reply(closing)));
    assert_eq!(h.state(), State::Closed);
    assert!(h.machine.poll_timeout().is_none());
}

#[test]
fn q_close_3_close_while_a_resume_is_still_connecting_closes_once_the_connect_fails() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.suspend(4000, "");
    h.drive();
    h.engine.auto_connect = false;
    let resuming = h.resume(false);
    let resume_conn = h.last_conn();
    let mark = h.mark();
    let closing = h.close(4100, "bye");
    // Q-CLOSE-4: the resume's connection gets its close only if it ever connects.
    assert!(h
        .socket_closes()
        .iter()
        .all(|(conn, _, _)| *conn != resume_conn));
    assert!(matches!(
        failed(h.reply(resuming)),
        Failure::NotConnected { .. }
    ));
    assert!(!h.replied(closing));
    h.feed(Input::ConnectFailed {
        conn: resume_conn,
        cause: cause("refused"),
    });
    assert_eq!(
        h.events_since(mark),
        vec![
            Event::ObjectClosed(global.key),
            Event::Closed(CloseEvent::new(4100, "bye"))
        ]
    );
    assert!(is_done(h.reply(closing)));
    assert_eq!(h.state(), State::Closed);
}

// ---- Q-REQ-1 --------------------------------------------------------------------------------

#[test]
fn q_req_1_ids_start_at_1_and_grow_across_suspend_resume_restore_and_reopen() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.get_object(doc.key, "GetObject", "chart");
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.resume(false);
    h.drive();
    h.call(doc.key, "GetLayout", json!([]));
    h.drive();
    h.close(1000, "");
    h.drive();
    let global = h.open();
    h.call(global.key, "EngineVersion", json!([]));
    h.drive();

    let methods = h.methods_since(0);
    assert_eq!(
        methods,
        [
            "OpenDoc",
            "GetObject",
            "GetActiveDoc",
            "GetObject",
            "GetLayout",
            "EngineVersion"
        ]
    );
    let ids: Vec<u64> = h.sent().iter().map(|(_, request, _)| request.id).collect();
    assert_eq!(ids, (1..=6).collect::<Vec<u64>>());
}

// ---- Q-REQ-2 --------------------------------------------------------------------------------

#[test]
fn q_req_2_the_wire_request_has_the_qix_shape_and_the_configured_protocol_members() {
    let mut config = config();
    config
        .protocol
        .insert("return_empty".to_owned(), json!(true));
    let mut h = Harness::new(config);
    let (_, doc) = h.open_doc();
    let mark = h.mark();
    h.call(doc.key, "GetLayout", json!([]));
    h.call(doc.key, "GetObject", json!({"qId": "chart"}));
    let texts: Vec<(String, Option<ObjectKey>)> = h.log[mark..]
        .iter()
        .filter_map(|e| match e {
            Effect::Send { text, object, .. } => Some((text.clone(), *object)),
            _ => None,
        })
        .collect();
    assert_eq!(
        texts,
        vec![
            (
                format!(
                    r#"{{"jsonrpc":"2.0","id":2,"handle":{},"method":"GetLayout","params":[],"return_empty":true}}"#,
                    doc.handle
                ),
                Some(doc.key)
            ),
            (
                format!(
                    r#"{{"jsonrpc":"2.0","id":3,"handle":{},"method":"GetObject","params":{{"qId":"chart"}},"return_empty":true}}"#,
                    doc.handle
                ),
                Some(doc.key)
            ),
        ]
    );
}

// ---- Q-REQ-3 --------------------------------------------------------------------------------

#[test]
fn q_req_3_a_call_without_a_socket_fails_not_connected_and_writes_nothing() {
    let mut h = Harness::manual(config());
    let idle = h.call(ObjectKey(0), "EngineVersion", json!([]));
    assert_eq!(
        failed(h.reply(idle)),
        &not_connected(NotConnectedReason::NotConnected, None)
    );
    h.command(crate::Command::Open);
    let connecting = h.call(ObjectKey(0), "EngineVersion", json!([]));
    assert_eq!(
        failed(h.reply(connecting)),
        &not_connected(NotConnectedReason::NotConnected, None)
    );
    let conn = h.last_conn();
    h.connected(conn);
    h.close(4100, "bye");
    let closing = h.call(ObjectKey(0), "EngineVersion", json!([]));
    assert_eq!(
        failed(h.reply(closing)),
        &not_connected(NotConnectedReason::NotConnected, None)
    );
    h.socket_closed(h.last_conn(), 4100, "bye");
    let closed = h.call(ObjectKey(0), "EngineVersion", json!([]));
    assert_eq!(
        failed(h.reply(closed)),
        &not_connected(
            NotConnectedReason::NotConnected,
            Some(CloseEvent::new(4100, "bye"))
        )
    );
    assert!(h.sent().is_empty());
}

#[test]
fn q_req_3_a_call_while_suspending_suspended_or_resuming_fails_session_suspended() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.engine.echo_close = false;
    h.suspend(4000, "");
    let suspending = h.call(global.key, "EngineVersion", json!([]));
    h.socket_closed(h.last_conn(), 4000, "");
    let suspended = h.call(global.key, "EngineVersion", json!([]));
    h.engine.auto_connect = false;
    h.resume(false);
    let resuming = h.call(global.key, "EngineVersion", json!([]));
    for waiter in [suspending, suspended, resuming] {
        assert_eq!(failed(h.reply(waiter)), &Failure::SessionSuspended);
    }
    assert!(h.sent().is_empty(), "nothing written, no id used");
}

#[test]
fn q_req_3_a_call_on_a_closed_object_fails_object_closed() {
    let mut h = Harness::new(config());
    let (global, doc) = h.open_doc();
    h.frame(
        h.last_conn(),
        Incoming::Message(Changes {
            change: vec![],
            close: vec![doc.handle],
        }),
    );
    let waiter = h.call(doc.key, "GetLayout", json!([]));
    assert_eq!(failed(h.reply(waiter)), &Failure::ObjectClosed);
    let unknown = h.call(ObjectKey(999), "GetLayout", json!([]));
    assert_eq!(failed(h.reply(unknown)), &Failure::ObjectClosed);
    assert_eq!(h.sent().len(), 1, "only the OpenDoc was written");
    assert!(h.machine.object(global.key).is_some());
}

// ---- Q-REQ-4 --------------------------------------------------------------------------------

#[test]
fn q_req_4_a_response_settles_its_call_with_the_raw_result() {
    let mut h = Harness::new(config());
    let global = h.open();
    let waiter = h.call(global.key, "EngineVersion", json!([]));
    h.drive();
    let Reply::Result(result) = h.reply(waiter) else {
        panic!("expected a result")
    };
    assert_eq!(
        result.get(),
        r#"{"qVersion":{"qComponentVersion":"12.2.0"}}"#
    );
    assert_eq!(h.machine.pending_calls(), 0);
}

#[test]
fn q_req_4_the_result_payload_is_moved_to_the_reply_not_copied() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.engine.auto_answer = false;
    let waiter = h.call(global.key, "GetLayout", json!([]));
    let (conn, request) = h.engine.held.remove(0);
    let text = Response::result(request.id, raw(json!({"qLayout": {"title": "big"}}))).encode();
    let decoded = crate::tests::decode(&text);
    let Ok(Incoming::Response(response)) = &decoded else {
        panic!("a response")
    };
    let qix_rpc::ResponseBody::Result(payload) = &response.body else {
        panic!("a result")
    };
    let decoded_at = payload.get().as_ptr();
    h.feed(Input::Frame { conn, decoded });
    let Reply::Result(result) = h.reply(waiter) else {
        panic!("expected the result")
    };
    assert_eq!(
        result.get().as_ptr(),
        decoded_at,
        "the same allocation, moved"
    );
}

#[test]
fn q_req_4_an_error_response_fails_the_call_with_the_engine_error() {
    let mut h = Harness::new(config());
    let global = h.open();
    let waiter = h.call(global.key, "NoSuchMethod", json!([]));
    h.drive();
    assert_eq!(
        failed(h.reply(waiter)),
        &Failure::Engine(engine_error(-32601, "NoSuchMethod", "Method not found"))
    );
}

#[test]
fn q_req_4_an_object_response_registers_the_object() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    assert_eq!(doc.object_type, "Doc");
    assert_eq!(doc.id, "sales.qvf");
    assert_eq!(doc.generic_type, None);
    let chart = h.get_object(doc.key, "GetObject", "chart");
    assert_eq!(chart.object_type, "GenericObject");
    assert_eq!(chart.id, "chart");
    assert_eq!(chart.generic_type.as_deref(), Some("barchart"));
    assert_eq!(h.machine.object(chart.key), Some(&chart));
    assert_ne!(chart.key, doc.key);
}

#[test]
fn q_req_4_the_same_handle_gives_back_the_same_object() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.engine.auto_answer = false;
    let first = h.call_object(doc.key, "GetObject", json!(["a"]));
    let second = h.call_object(doc.key, "GetObject", json!(["a"]));
    let reference = json!({"qReturn": {"qType": "GenericObject", "qHandle": 7, "qGenericId": "a"}});
    h.answer_held(0, reference.clone());
    h.answer_held(0, reference);
    h.drive();
    assert_eq!(h.object_reply(first), h.object_reply(second));
}

#[test]
fn q_req_4_a_null_handle_and_type_is_object_not_found() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.engine.missing.insert("gone".to_owned());
    let waiter = h.call_object(doc.key, "GetObject", json!(["gone"]));
    h.drive();
    assert_eq!(failed(h.reply(waiter)), &Failure::ObjectNotFound);
}

#[test]
fn q_req_4_a_missing_or_ill_typed_object_reference_is_a_bad_response() {
    let results = [
        json!(null),
        json!([1, 2]),
        json!({}),
        json!({"qReturn": null}),
        json!({"qReturn": 5}),
        json!({"qReturn": {"qType": "GenericObject"}}),
        json!({"qReturn": {"qType": "GenericObject", "qHandle": "7"}}),
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 4294967296_u64}}),
        json!({"qReturn": {"qType": "GenericObject", "qHandle": null}}),
        json!({"qReturn": {"qType": 3, "qHandle": 7}}),
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 7, "qGenericId": 1}}),
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 7, "qGenericType": []}}),
    ];
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.engine.auto_answer = false;
    for result in results {
        let waiter = h.call_object(doc.key, "GetObject", json!(["x"]));
        h.answer_held(0, result.clone());
        h.drive();
        assert!(
            matches!(failed(h.reply(waiter)), Failure::BadResponse(_)),
            "{result}"
        );
    }
}

#[test]
fn q_req_4_a_response_to_an_unknown_id_is_a_plain_message_not_a_notification() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let mark = h.mark();
    let mut stray = Response::result(99, raw(json!({"x": 1})));
    stray.changes.change = vec![doc.handle];
    h.frame(h.last_conn(), Incoming::Response(stray));
    assert_eq!(
        h.events_since(mark),
        vec![
            Event::TrafficReceived { object: None },
            Event::ObjectChanged(doc.key)
        ]
    );
}

#[test]
fn q_req_4_notifications_and_plain_messages() {
    let mut h = Harness::new(config());
    let (global, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    let conn = h.last_conn();
    let mark = h.mark();
    let notification = Notification {
        method: Some("OnSessionTimedOut".to_owned()),
        params: raw(json!({})),
    };
    h.frame(conn, Incoming::Notification(notification.clone()));
    h.frame(
        conn,
        Incoming::Message(Changes {
            change: vec![GLOBAL_HANDLE, 42, chart.handle],
            close: vec![chart.handle, 43],
        }),
    );
    assert_eq!(
        h.events_since(mark),
        vec![
            Event::TrafficReceived { object: None },
            Event::Notification(crate::tests::shared(&notification)),
            Event::TrafficReceived { object: None },
            Event::ObjectChanged(global.key),
            Event::ObjectChanged(chart.key),
            Event::ObjectClosed(chart.key),
        ]
    );
    assert_eq!(h.machine.object(chart.key), None);
}

// ---- Q-REQ-5 --------------------------------------------------------------------------------

#[test]
fn q_req_5_pending_calls_fail_exactly_once_when_the_socket_closes() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.engine.auto_answer = false;
    let calls: Vec<_> = (0..3)
        .map(|_| h.call(global.key, "EngineVersion", json!([])))
        .collect();
    assert_eq!(h.machine.pending_calls(), 3);
    let conn = h.last_conn();
    h.socket_closed(conn, 1006, "");
    // Late frames on the dead socket change nothing.
    let (_, request) = h.engine.held[0].clone();
    let mark = h.mark();
    h.frame(
        conn,
        Incoming::Response(Response::result(request.id, raw(json!({})))),
    );
    h.socket_closed(conn, 1006, "");
    assert_eq!(h.mark(), mark);
    for waiter in calls {
        assert_eq!(
            failed(h.reply(waiter)),
            &not_connected(
                NotConnectedReason::SocketClosed,
                Some(CloseEvent::new(1006, ""))
            )
        );
    }
    assert_eq!(h.machine.pending_calls(), 0);
}

#[test]
fn q_req_5_after_a_socket_error_pending_calls_fail_with_socket_error() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.engine.auto_answer = false;
    let waiter = h.call(global.key, "EngineVersion", json!([]));
    let conn = h.last_conn();
    h.feed(Input::SocketError {
        conn,
        cause: cause("connection reset"),
    });
    assert!(!h.replied(waiter), "an error alone does not end the socket");
    h.socket_closed(conn, 1006, "");
    assert_eq!(
        failed(h.reply(waiter)),
        &not_connected(
            NotConnectedReason::SocketError,
            Some(CloseEvent::new(1006, ""))
        )
    );
}

#[test]
fn q_req_5_a_frame_read_after_a_socket_error_means_a_later_close_is_socket_closed() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.engine.auto_answer = false;
    let conn = h.last_conn();
    h.feed(Input::SocketError {
        conn,
        cause: cause("binary frame"),
    });
    // The connection survived the error: a frame arrives after it.
    h.feed(Input::Frame {
        conn,
        decoded: crate::tests::decode(r#"{"jsonrpc":"2.0","method":"OnPing","params":{}}"#),
    });
    let waiter = h.call(global.key, "EngineVersion", json!([]));
    h.socket_closed(conn, 1000, "");
    assert_eq!(
        failed(h.reply(waiter)),
        &not_connected(
            NotConnectedReason::SocketClosed,
            Some(CloseEvent::new(1000, ""))
        )
    );
}

// ---- Q-REQ-6 --------------------------------------------------------------------------------

#[test]
fn q_req_6_an_undecodable_frame_is_reported_dropped_and_the_session_goes_on() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.engine.auto_answer = false;
    let waiter = h.call(global.key, "EngineVersion", json!([]));
    let conn = h.last_conn();
    let mark = h.mark();
    for garbage in [
        "not json",
        "[1,2]",
        r#"{"id":"x"}"#,
        // Q-REQ-8 settles a pending call its malformed answer names; this one names none.
        r#"{"id":99,"result":1,"error":{}}"#,
    ] {
        h.push_frame(conn, garbage);
    }
    h.drive();
    let events = h.events_since(mark);
    assert_eq!(events.len(), 4);
    for event in events {
        let Event::SocketError(SocketProblem::Decode(_)) = event else {
            panic!("expected a decode socket-error, got {event:?}")
        };
    }
    assert!(!h.replied(waiter), "pending calls are untouched");
    assert_eq!(h.machine.pending_calls(), 1);
    h.answer_held(0, json!({"ok": true}));
    h.drive();
    assert!(matches!(h.reply(waiter), Reply::Result(_)));
}

// ---- Q-EV-1 ---------------------------------------------------------------------------------

#[test]
fn q_ev_1_events_carry_the_seed_payloads() {
    let mut h = Harness::new(config());
    let global = h.open();
    let conn = h.last_conn();
    let reset = cause("reset");
    h.feed(Input::SocketError {
        conn,
        cause: reset.clone(),
    });
    h.suspend(4001, "maintenance");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.resume(true);
    h.drive();
    h.close(4100, "bye");
    h.drive();
    assert_eq!(
        h.events(),
        vec![
            // Q-OPEN-4: the open waits for the greeting, then opens, then tells it.
            Event::TrafficReceived { object: None },
            Event::Opened,
            Event::Notification(crate::tests::shared(&on_connected("SESSION_CREATED"))),
            Event::SocketError(SocketProblem::Transport(reset)),
            Event::Suspended {
                initiator: Initiator::Manual,
                close: CloseEvent::new(4001, "maintenance")
            },
            Event::TrafficReceived { object: None },
            Event::Notification(crate::tests::shared(&on_connected("SESSION_ATTACHED"))),
            Event::Resumed,
            Event::ObjectClosed(global.key),
            Event::Closed(CloseEvent::new(4100, "bye")),
        ]
    );
}

// ---- Q-EV-2 ---------------------------------------------------------------------------------

#[test]
fn q_ev_2_traffic_then_changed_then_closed_then_the_reply() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    h.engine.auto_answer = false;
    let waiter = h.call(doc.key, "DestroyObject", json!(["chart"]));
    let (conn, request) = h.engine.held.remove(0);
    let mut response = Response::result(request.id, raw(json!({"qSuccess": true})));
    response.changes = Changes {
        change: vec![doc.handle, 77],
        close: vec![chart.handle],
    };
    let mark = h.mark();
    h.frame(conn, Incoming::Response(response));
    let kinds: Vec<String> = h.log[mark..]
        .iter()
        .map(|e| match e {
            Effect::Emit(event) => format!("{event:?}"),
            Effect::Reply { waiter: w, .. } if *w == waiter => "reply".to_owned(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            format!(
                "{:?}",
                Event::TrafficReceived {
                    object: Some(doc.key)
                }
            ),
            format!("{:?}", Event::ObjectChanged(doc.key)),
            // Q-DELTA-2: the closed handle's baselines go with it.
            format!(
                "{:?}",
                Effect::DropBaselines {
                    handle: chart.handle,
                    method: None
                }
            ),
            format!("{:?}", Event::ObjectClosed(chart.key)),
            "reply".to_owned(),
        ]
    );
}

#[test]
fn q_ev_2_an_object_from_a_response_gets_no_changed_for_that_response() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.engine.auto_answer = false;
    let waiter = h.call_object(doc.key, "CreateSessionObject", json!([{}]));
    let (conn, request) = h.engine.held.remove(0);
    let mut response = Response::result(
        request.id,
        raw(json!({"qReturn": {"qType": "GenericObject", "qHandle": 9, "qGenericId": "s1"}})),
    );
    response.changes.change = vec![9];
    let mark = h.mark();
    h.frame(conn, Incoming::Response(response));
    let object = h.object_reply(waiter);
    assert_eq!(object.handle, 9);
    assert_eq!(
        h.events_since(mark),
        vec![Event::TrafficReceived {
            object: Some(doc.key)
        }]
    );
}

#[test]
fn q_ev_2_a_request_is_written_before_its_response_is_handled() {
    let mut h = Harness::new(config());
    let global = h.open();
    let mark = h.mark();
    let waiter = h.call(global.key, "EngineVersion", json!([]));
    h.drive();
    let sent = position(&h, mark, |e| matches!(e, Effect::Send { .. }));
    let received = position(&h, mark, |e| {
        matches!(e, Effect::Emit(Event::TrafficReceived { .. }))
    });
    let replied = position(
        &h,
        mark,
        |e| matches!(e, Effect::Reply { waiter: w, .. } if *w == waiter),
    );
    assert!(sent < received && received < replied);
}

// ---- Q-EV-3 ---------------------------------------------------------------------------------

#[test]
fn q_ev_3_while_suspending_only_traffic_and_notifications_are_reported() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.engine.echo_close = false;
    h.suspend(4000, "");
    let conn = h.last_conn();
    let mark = h.mark();
    h.feed(Input::SocketError {
        conn,
        cause: cause("reset"),
    });
    h.push_frame(conn, "garbage");
    h.frame(
        conn,
        Incoming::Message(Changes {
            change: vec![doc.handle],
            close: vec![doc.handle],
        }),
    );
    let notification = Notification {
        method: Some("OnMaxParallelSessionsExceeded".to_owned()),
        params: raw(json!({})),
    };
    h.frame(conn, Incoming::Notification(notification.clone()));
    h.settle();
    assert_eq!(
        h.events_since(mark),
        vec![
            Event::TrafficReceived { object: None },
            Event::TrafficReceived { object: None },
            Event::Notification(crate::tests::shared(&notification)),
        ]
    );
    assert!(
        h.machine.object(doc.key).is_some(),
        "close arrays are ignored"
    );
    h.socket_closed(conn, 1006, "");
    assert!(
        !h.events().iter().any(|e| matches!(e, Event::Closed(_))),
        "the old socket's close is not reported as closed"
    );
}

#[test]
fn q_ev_3_while_resuming_on_connected_is_visible_but_changes_are_not() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.suspend(4000, "");
    h.drive();
    h.engine.auto_connect = false;
    h.resume(false);
    let conn = h.last_conn();
    h.connected(conn);
    let mark = h.mark();
    h.frame(
        conn,
        Incoming::Message(Changes {
            change: vec![doc.handle],
            close: vec![doc.handle],
        }),
    );
    h.feed(Input::SocketError {
        conn,
        cause: cause("reset"),
    });
    h.frame(
        conn,
        Incoming::Notification(on_connected("SESSION_ATTACHED")),
    );
    assert_eq!(
        h.events_since(mark),
        vec![
            Event::TrafficReceived { object: None },
            Event::TrafficReceived { object: None },
            Event::Notification(crate::tests::shared(&on_connected("SESSION_ATTACHED"))),
        ]
    );
}

// ---- Q-SUSP-1 -------------------------------------------------------------------------------

#[test]
fn q_susp_1_suspend_closes_with_its_code_and_emits_manual_suspended_after_the_close() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.engine.auto_answer = false;
    h.engine.echo_close = false;
    let pending = h.call(doc.key, "GetLayout", json!([]));
    let suspending = h.suspend(4001, "maintenance");
    let conn = h.last_conn();
    assert_eq!(
        h.state(),
        State::Suspending,
        "suspended before the close goes out"
    );
    assert_eq!(
        h.socket_closes(),
        vec![(conn, 4001, "maintenance".to_owned())]
    );
    assert!(!h.replied(suspending));

    let mark = h.mark();
    // iOS reports 1006 for a client close: still the suspend's close.
    h.socket_closed(conn, 1006, "");
    let asked = CloseEvent::new(4001, "maintenance");
    assert_eq!(
        failed(h.reply(pending)),
        &not_connected(NotConnectedReason::SocketClosed, Some(asked.clone()))
    );
    assert_eq!(
        h.events_since(mark),
        vec![Event::Suspended {
            initiator: Initiator::Manual,
            close: asked
        }]
    );
    let pending_at = position(
        &h,
        mark,
        |e| matches!(e, Effect::Reply { waiter, .. } if *waiter == pending),
    );
    let suspended_at = position(&h, mark, |e| {
        matches!(e, Effect::Emit(Event::Suspended { .. }))
    });
    let done_at = position(
        &h,
        mark,
        |e| matches!(e, Effect::Reply { waiter, .. } if *waiter == suspending),
    );
    assert!(pending_at < suspended_at && suspended_at < done_at);
    assert!(is_done(h.reply(suspending)));
    assert_eq!(h.state(), State::Suspended);
    assert_eq!(h.machine.object(doc.key), Some(&doc), "objects are kept");
}

#[test]
fn q_susp_1_a_response_arriving_while_suspending_settles_its_call() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.engine.auto_answer = false;
    h.engine.echo_close = false;
    let waiter = h.call(doc.key, "GetLayout", json!([]));
    h.suspend(4000, "");
    h.answer_held(0, json!({"qLayout": {}}));
    h.drive();
    assert!(matches!(h.reply(waiter), Reply::Result(_)));
}

#[test]
fn q_susp_1_suspend_outside_open_is_invalid_and_suspended_resolves_at_once() {
    let mut h = Harness::new(config());
    let idle = h.suspend(4000, "");
    assert_eq!(
        failed(h.reply(idle)),
        &Failure::InvalidState {
            operation: "suspend",
            state: State::Idle
        }
    );
    h.open();
    h.engine.echo_close = false;
    let first = h.suspend(4000, "");
    let second = h.suspend(4002, "ignored");
    assert_eq!(h.socket_closes().len(), 1);
    h.socket_closed(h.last_conn(), 4000, "");
    assert!(is_done(h.reply(first)));
    assert!(is_done(h.reply(second)));
    let mark = h.mark();
    let suspended = h.suspend(4000, "");
    assert!(is_done(h.reply(suspended)));
    assert!(h.events_since(mark).is_empty());
    h.engine.auto_connect = false;
    h.resume(false);
    let resuming = h.suspend(4000, "");
    assert_eq!(
        failed(h.reply(resuming)),
        &Failure::InvalidState {
            operation: "suspend",
            state: State::Resuming
        }
    );
}

// ---- Q-SUSP-2 -------------------------------------------------------------------------------

#[test]
fn q_susp_2_while_suspended_calls_fail_and_socket_facts_are_ignored() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.suspend(4000, "");
    h.drive();
    let old = h.last_conn();
    let mark = h.mark();
    let waiter = h.call(doc.key, "GetLayout", json!([]));
    h.feed(Input::SocketError {
        conn: old,
        cause: cause("late"),
    });
    h.socket_closed(old, 1006, "");
    assert_eq!(failed(h.reply(waiter)), &Failure::SessionSuspended);
    assert!(h.events_since(mark).is_empty());
    assert_eq!(h.state(), State::Suspended);
}

// ---- Q-SUSP-3 -------------------------------------------------------------------------------

#[test]
fn q_susp_3_an_unasked_close_suspends_with_the_network_initiator() {
    for code in [1000, 4000, 1006, 4029] {
        let mut h = Harness::new(suspend_on_close());
        let (_, doc) = h.open_doc();
        h.engine.auto_answer = false;
        let pending = h.call(doc.key, "GetLayout", json!([]));
        let mark = h.mark();
        h.socket_closed(h.last_conn(), code, "proxy");
        let close = CloseEvent::new(code, "proxy");
        assert_eq!(
            h.events_since(mark),
            vec![Event::Suspended {
                initiator: Initiator::Network,
                close: close.clone()
            }],
            "code {code}: no closed, no object events"
        );
        assert_eq!(
            failed(h.reply(pending)),
            &not_connected(NotConnectedReason::SocketClosed, Some(close))
        );
        assert_eq!(h.state(), State::Suspended);
        assert_eq!(h.machine.object(doc.key), Some(&doc));
    }
}

// ---- Q-RES-1 --------------------------------------------------------------------------------

#[test]
fn q_res_1_resume_reconnects_and_waits_for_on_connected() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.suspend(4000, "");
    h.drive();
    h.engine.auto_connect = false;
    let waiter = h.resume(false);
    assert_eq!(h.state(), State::Resuming);
    let conn = h.last_conn();
    assert_eq!(h.connects().len(), 2);
    assert_eq!(
        h.machine.poll_timeout(),
        None,
        "the wait starts once connected"
    );
    h.connected(conn);
    assert_eq!(
        h.machine.poll_timeout(),
        Some(h.now + Duration::from_secs(5))
    );
    let mark = h.mark();
    h.frame(
        conn,
        Incoming::Notification(on_connected("SESSION_ATTACHED")),
    );
    assert_eq!(h.machine.poll_timeout(), None);
    let sent = h.sent_since(mark);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, conn);
    assert_eq!(sent[0].1.method, "GetActiveDoc");
    assert_eq!(sent[0].2, Some(doc.key));
    assert!(!h.replied(waiter));
}

#[test]
fn q_res_1_no_on_connected_in_time_means_session_created() {
    let mut h = Harness::new(config());
    h.open();
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = None;
    let waiter = h.resume(true);
    h.step(); // Connected
    let deadline = h
        .machine
        .poll_timeout()
        .expect("the OnConnected wait is armed");
    h.advance(Duration::from_millis(4_999));
    h.machine.handle_timeout(h.now); // early and repeated: nothing
    assert!(!h.replied(waiter));
    assert_eq!(h.machine.poll_timeout(), Some(deadline));
    h.advance(Duration::from_millis(1));
    assert_eq!(failed(h.reply(waiter)), &Failure::SessionNotAttached);
    h.advance(Duration::from_secs(10));
    assert_eq!(h.replies(waiter).len(), 1);
}

#[test]
fn q_res_1_the_on_connected_timeout_is_configurable() {
    let config = Config {
        on_connected_timeout: Duration::from_millis(250),
        ..config()
    };
    let mut h = Harness::new(config);
    h.open();
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = None;
    h.resume(true);
    h.step();
    assert_eq!(
        h.machine.poll_timeout(),
        Some(h.now + Duration::from_millis(250))
    );
}

#[test]
fn q_res_1_resume_when_not_suspended_is_invalid_and_opens_nothing() {
    let mut h = Harness::new(config());
    let idle = h.resume(false);
    h.open();
    let open = h.resume(false);
    for (waiter, state) in [(idle, State::Idle), (open, State::Open)] {
        assert_eq!(
            failed(h.reply(waiter)),
            &Failure::InvalidState {
                operation: "resume",
                state
            }
        );
    }
    assert_eq!(h.connects().len(), 1);
}

// ---- Q-RES-2 --------------------------------------------------------------------------------

#[test]
fn q_res_2_only_if_attached_and_created_fails_and_stays_suspended() {
    let mut h = Harness::new(config());
    let (global, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    h.suspend(4000, "");
    h.drive();
    let keys = [global.key, doc.key, chart.key];
    let before = h.handles(&keys);
    let mark = h.mark();
    let waiter = h.resume(true);
    h.drive();
    let resume_conn = h.last_conn();
    assert_eq!(failed(h.reply(waiter)), &Failure::SessionNotAttached);
    assert!(h
        .socket_closes()
        .contains(&(resume_conn, 1000, String::new())));
    assert_eq!(h.state(), State::Suspended);
    assert_eq!(h.handles(&keys), before, "objects untouched");
    assert!(h.sent_since(mark).is_empty(), "nothing restored");
    assert!(!h.events_since(mark).iter().any(|e| matches!(
        e,
        Event::ObjectClosed(_) | Event::ObjectChanged(_) | Event::Resumed
    )));

    // resume may be called again.
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    let again = h.resume(true);
    h.drive();
    assert!(is_done(h.reply(again)));
    assert_eq!(h.state(), State::Open);
}

#[test]
fn q_res_2_a_connect_failure_fails_the_resume_and_stays_suspended() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.suspend(4000, "");
    h.drive();
    h.engine.auto_connect = false;
    let waiter = h.resume(false);
    let refused = cause("refused");
    let mark = h.mark();
    h.feed(Input::ConnectFailed {
        conn: h.last_conn(),
        cause: refused.clone(),
    });
    assert_eq!(failed(h.reply(waiter)), &Failure::ConnectFailed(refused));
    assert_eq!(h.state(), State::Suspended);
    assert!(h.events_since(mark).is_empty());
    assert_eq!(h.machine.object(doc.key), Some(&doc));
}

#[test]
fn q_res_2_an_error_session_state_fails_with_that_state() {
    for state in [
        "SESSION_ERROR_LICENSE_RENEW",
        "SESSION_ACCESS_DENIED",
        "SOMETHING_NEW",
    ] {
        let mut h = Harness::new(config());
        let (_, doc) = h.open_doc();
        h.suspend(4000, "");
        h.drive();
        h.engine.announce = Some(state.to_owned());
        let waiter = h.resume(false);
        h.drive();
        assert_eq!(
            failed(h.reply(waiter)),
            &Failure::SessionState {
                state: state.to_owned()
            }
        );
        assert_eq!(h.socket_closes().last().map(|c| c.1), Some(1000));
        assert_eq!(h.state(), State::Suspended);
        assert_eq!(h.machine.object(doc.key), Some(&doc));
    }
}

#[test]
fn q_res_2_a_missing_or_ill_typed_session_state_counts_as_attached() {
    for params in [json!({}), json!({"qSessionState": 3}), json!([1])] {
        let mut h = Harness::new(config());
        h.open();
        h.suspend(4000, "");
        h.drive();
        h.engine.auto_connect = false;
        let waiter = h.resume(true);
        let conn = h.last_conn();
        h.connected(conn);
        h.frame(
            conn,
            Incoming::Notification(Notification {
                method: Some("OnConnected".to_owned()),
                params: raw(params.clone()),
            }),
        );
        assert!(is_done(h.reply(waiter)), "{params}");
        assert_eq!(h.state(), State::Open);
    }
}

// ---- Q-RES-3 --------------------------------------------------------------------------------

#[test]
fn q_res_3_restore_fetches_the_doc_then_every_restorable_object_on_its_new_handle() {
    let mut h = Harness::new(config());
    let (global, doc) = h.open_doc();
    let mut objects = Vec::new();
    for (method, id) in [
        ("GetObject", "chart"),
        ("GetDimension", "dim"),
        ("GetMeasure", "measure"),
        ("GetBookmark", "bookmark"),
        ("GetVariableById", "variable"),
    ] {
        objects.push(h.get_object(doc.key, method, id));
    }
    let field = h.get_object(doc.key, "GetField", "Region");
    let variable = h.get_object(doc.key, "GetVariableByName", "vName");
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    let mark = h.mark();
    let waiter = h.resume(false);
    h.drive();
    assert!(is_done(h.reply(waiter)));

    let sent = h.sent_since(mark);
    assert_eq!(sent[0].1.method, "GetActiveDoc");
    assert_eq!(sent[0].1.handle, GLOBAL_HANDLE);
    assert_eq!(sent[0].1.params.as_value(), &json!([]));
    assert_eq!(sent[0].2, Some(doc.key));
    let new_doc = h.machine.object(doc.key).expect("the doc is back").clone();
    assert_ne!(new_doc.handle, doc.handle, "the engine gave a new handle");
    let expected: Vec<(String, serde_json::Value, Option<ObjectKey>)> = objects
        .iter()
        .zip([
            "GetObject",
            "GetDimension",
            "GetMeasure",
            "GetBookmark",
            "GetVariableById",
        ])
        .map(|(object, method)| (method.to_owned(), json!([object.id]), Some(object.key)))
        .collect();
    let restores: Vec<(String, serde_json::Value, Option<ObjectKey>)> = sent[1..]
        .iter()
        .map(|(_, request, object)| {
            assert_eq!(request.handle, new_doc.handle);
            (
                request.method.clone(),
                request.params.as_value().clone(),
                *object,
            )
        })
        .collect();
    assert_eq!(restores, expected);
    assert_eq!(
        h.machine.object(field.key),
        None,
        "Field cannot be restored"
    );
    assert_eq!(
        h.machine.object(variable.key),
        None,
        "Variable cannot be restored"
    );
    assert_eq!(
        h.machine.object(global.key).map(|g| g.handle),
        Some(GLOBAL_HANDLE)
    );
    for object in &objects {
        assert!(h.machine.object(object.key).is_some());
    }
}

#[test]
fn q_res_3_a_failed_get_active_doc_reopens_with_the_last_open_doc_params() {
    let mut h = Harness::new(config());
    let global = h.open();
    let first = h.call_object(global.key, "OpenDoc", json!(["first.qvf"]));
    h.drive();
    let doc = h.object_reply(first);
    let again = h.call_object(
        global.key,
        "OpenDoc",
        json!(["sales.qvf", "user", "", "", true]),
    );
    h.drive();
    let doc = match h.reply(again) {
        Reply::Object(second) => second.clone(),
        _ => doc,
    };
    let chart = h.get_object(doc.key, "GetObject", "chart");
    h.suspend(4000, "");
    h.drive();
    // A fresh engine session: no active doc.
    let mark = h.mark();
    let waiter = h.resume(false);
    h.drive();
    assert!(is_done(h.reply(waiter)));
    let sent = h.sent_since(mark);
    let methods: Vec<&str> = sent.iter().map(|(_, r, _)| r.method.as_str()).collect();
    assert_eq!(methods, ["GetActiveDoc", "OpenDoc", "GetObject"]);
    assert_eq!(sent[1].1.handle, GLOBAL_HANDLE);
    assert_eq!(
        sent[1].1.params.as_value(),
        &json!(["sales.qvf", "user", "", "", true])
    );
    assert_eq!(sent[1].2, Some(doc.key));
    assert!(h.machine.object(doc.key).is_some());
    assert!(h.machine.object(chart.key).is_some());
}

#[test]
fn q_res_3_when_the_doc_cannot_come_back_everything_but_global_is_lost() {
    let mut h = Harness::new(config());
    let global = h.open();
    // A doc that was never opened with OpenDoc: nothing to reopen it with.
    let created = h.call_object(global.key, "CreateSessionApp", json!([]));
    h.drive();
    let doc = h.object_reply(created);
    let chart = h.get_object(doc.key, "GetObject", "chart");
    h.suspend(4000, "");
    h.drive();
    let mark = h.mark();
    let waiter = h.resume(false);
    h.drive();
    assert!(is_done(h.reply(waiter)));
    assert_eq!(h.methods_since(mark), ["GetActiveDoc"]);
    assert_eq!(
        h.events_since(mark)
            .into_iter()
            .filter(|e| !matches!(e, Event::TrafficReceived { .. } | Event::Notification(_)))
            .collect::<Vec<_>>(),
        vec![
            Event::ObjectClosed(doc.key),
            Event::ObjectClosed(chart.key),
            Event::Resumed
        ]
    );
    assert!(h.machine.object(global.key).is_some());

    // The same when OpenDoc fails too.
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.suspend(4000, "");
    h.drive();
    h.engine.failing.insert("OpenDoc".to_owned());
    let mark = h.mark();
    let waiter = h.resume(false);
    h.drive();
    assert!(is_done(h.reply(waiter)));
    assert_eq!(h.methods_since(mark), ["GetActiveDoc", "OpenDoc"]);
    assert_eq!(h.machine.object(doc.key), None);
}

#[test]
fn q_res_3_an_object_error_or_null_handle_loses_that_object_only() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let kept = h.get_object(doc.key, "GetObject", "kept");
    let missing = h.get_object(doc.key, "GetObject", "missing");
    let failing = h.get_object(doc.key, "GetMeasure", "failing");
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.engine.missing.insert("missing".to_owned());
    h.engine.failing.insert("GetMeasure".to_owned());
    let mark = h.mark();
    let waiter = h.resume(false);
    h.drive();
    assert!(is_done(h.reply(waiter)));
    let events: Vec<Event> = h
        .events_since(mark)
        .into_iter()
        .filter(|e| !matches!(e, Event::TrafficReceived { .. } | Event::Notification(_)))
        .collect();
    assert_eq!(
        events,
        vec![
            Event::ObjectClosed(missing.key),
            Event::ObjectClosed(failing.key),
            Event::ObjectChanged(doc.key),
            Event::ObjectChanged(kept.key),
            Event::Resumed,
        ]
    );
}

#[test]
fn q_res_3_only_the_last_registered_doc_is_restored() {
    let mut h = Harness::new(config());
    let global = h.open();
    let first = h.call_object(global.key, "OpenDoc", json!(["a.qvf"]));
    h.drive();
    let first = h.object_reply(first);
    let second = h.call_object(global.key, "OpenDoc", json!(["b.qvf"]));
    h.drive();
    let second = h.object_reply(second);
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    let mark = h.mark();
    h.resume(false);
    h.drive();
    assert_eq!(h.machine.object(first.key), None);
    assert!(h.machine.object(second.key).is_some());
    let sent = h.sent_since(mark);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].2, Some(second.key));
}

#[test]
fn q_res_3_traffic_of_restore_responses_names_the_object_being_restored() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    let mark = h.mark();
    h.resume(false);
    h.drive();
    let traffic: Vec<Event> = h
        .events_since(mark)
        .into_iter()
        .filter(|e| matches!(e, Event::TrafficReceived { .. }))
        .collect();
    assert_eq!(
        traffic,
        vec![
            Event::TrafficReceived { object: None },
            Event::TrafficReceived {
                object: Some(doc.key)
            },
            Event::TrafficReceived {
                object: Some(chart.key)
            },
        ]
    );
}

// ---- Q-RES-4 --------------------------------------------------------------------------------

#[test]
fn q_res_4_success_closes_the_lost_changes_the_restored_then_resumed_then_done() {
    let mut h = Harness::new(config());
    let (global, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    let field = h.get_object(doc.key, "GetField", "Region");
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    let mark = h.mark();
    let waiter = h.resume(true);
    h.drive();
    let order: Vec<String> = h.log[mark..]
        .iter()
        .filter_map(|e| match e {
            Effect::Emit(Event::ObjectClosed(key)) => Some(format!("closed {}", key.0)),
            Effect::Emit(Event::ObjectChanged(key)) => Some(format!("changed {}", key.0)),
            Effect::Emit(Event::Resumed) => Some("resumed".to_owned()),
            Effect::Reply { waiter: w, reply } if *w == waiter && is_done(reply) => {
                Some("done".to_owned())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        order,
        vec![
            format!("closed {}", field.key.0),
            format!("changed {}", doc.key.0),
            format!("changed {}", chart.key.0),
            "resumed".to_owned(),
            "done".to_owned(),
        ]
    );
    assert_eq!(h.state(), State::Open);
    let doc_now = h.machine.object(doc.key).expect("same identity").clone();
    let chart_now = h.machine.object(chart.key).expect("same identity").clone();
    assert_ne!(doc_now.handle, doc.handle);
    assert_ne!(chart_now.handle, chart.handle);
    assert_eq!(h.machine.object(global.key), Some(&global));

    // The restored objects work on their new handles.
    let mark = h.mark();
    h.call(chart.key, "GetLayout", json!([]));
    let sent = h.sent_since(mark);
    assert_eq!(sent[0].1.handle, chart_now.handle);
}

#[test]
fn q_res_4_handles_change_only_at_the_end_of_the_restore() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.engine.auto_answer = false;
    h.resume(false);
    h.drive();
    let (conn, request) = h.engine.held.remove(0);
    let response = h.engine.answer(&request);
    h.frame(conn, Incoming::Response(response));
    assert_eq!(
        h.machine.object(doc.key).map(|d| d.handle),
        Some(doc.handle)
    );
    assert_eq!(
        h.machine.object(chart.key).map(|c| c.handle),
        Some(chart.handle)
    );
    assert_eq!(h.state(), State::Resuming);
    let (conn, request) = h.engine.held.remove(0);
    let response = h.engine.answer(&request);
    h.frame(conn, Incoming::Response(response));
    assert_eq!(h.state(), State::Open);
    assert_ne!(
        h.machine.object(doc.key).map(|d| d.handle),
        Some(doc.handle)
    );
}

#[test]
fn q_res_4_a_socket_dying_mid_resume_fails_the_resume_and_stays_suspended() {
    let mut h = Harness::new(config());
    let (global, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    let keys = [global.key, doc.key, chart.key];
    h.suspend(4000, "");
    h.drive();
    let before = h.handles(&keys);
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.engine.auto_answer = false;
    let waiter = h.resume(false);
    h.drive();
    // The doc comes back, the chart's restore is in flight when the socket dies.
    let (conn, request) = h.engine.held.remove(0);
    let response = h.engine.answer(&request);
    h.frame(conn, Incoming::Response(response));
    assert_eq!(h.machine.pending_calls(), 1);
    let (_, chart_request) = h.engine.held.remove(0);
    let mark = h.mark();
    h.socket_closed(conn, 1006, "");
    assert_eq!(
        failed(h.reply(waiter)),
        &not_connected(
            NotConnectedReason::SocketClosed,
            Some(CloseEvent::new(1006, ""))
        )
    );
    assert_eq!(h.state(), State::Suspended);
    assert_eq!(h.machine.pending_calls(), 0);
    assert_eq!(h.handles(&keys), before, "registry untouched");
    assert!(h.events_since(mark).is_empty());
    // The chart's answer arriving late changes nothing.
    let late = h.engine.answer(&chart_request);
    h.frame(conn, Incoming::Response(late));
    assert!(h.events_since(mark).is_empty());

    // A second resume restores everything.
    h.engine.auto_answer = true;
    let again = h.resume(false);
    h.drive();
    assert!(is_done(h.reply(again)));
    for key in keys {
        assert!(h.machine.object(key).is_some());
    }
}

#[test]
fn q_res_4_a_socket_error_mid_resume_fails_it_with_socket_error() {
    let mut h = Harness::new(config());
    h.open_doc();
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.engine.auto_answer = false;
    let waiter = h.resume(false);
    h.drive();
    let conn = h.last_conn();
    let mark = h.mark();
    h.feed(Input::SocketError {
        conn,
        cause: cause("reset"),
    });
    h.socket_closed(conn, 1006, "");
    assert_eq!(
        failed(h.reply(waiter)),
        &not_connected(
            NotConnectedReason::SocketError,
            Some(CloseEvent::new(1006, ""))
        )
    );
    assert!(
        h.events_since(mark).is_empty(),
        "no socket-error while resuming"
    );
    assert_eq!(h.state(), State::Suspended);
}

#[test]
fn q_res_4_a_network_suspension_resumes_like_a_manual_one() {
    let mut h = Harness::new(suspend_on_close());
    let (_, doc) = h.open_doc();
    h.socket_closed(h.last_conn(), 1006, "");
    assert_eq!(h.state(), State::Suspended);
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    let waiter = h.resume(true);
    h.drive();
    assert!(is_done(h.reply(waiter)));
    let layout = h.call(doc.key, "GetLayout", json!([]));
    h.drive();
    assert!(matches!(h.reply(layout), Reply::Result(_)));
}

// ---- robustness -----------------------------------------------------------------------------

#[test]
fn facts_about_other_connections_are_ignored() {
    let mut h = Harness::new(config());
    let global = h.open();
    let stranger = ConnId(9_999);
    let mark = h.mark();
    h.feed(Input::Connected { conn: stranger });
    h.feed(Input::ConnectFailed {
        conn: stranger,
        cause: cause("x"),
    });
    h.feed(Input::SocketError {
        conn: stranger,
        cause: cause("x"),
    });
    h.push_frame(stranger, "garbage");
    h.step();
    h.frame(
        stranger,
        Incoming::Notification(on_connected("SESSION_CREATED")),
    );
    h.socket_closed(stranger, 1006, "");
    assert_eq!(h.mark(), mark);
    assert_eq!(h.state(), State::Open);
    assert!(h.machine.object(global.key).is_some());
}

#[test]
fn the_engine_closing_global_does_not_break_open() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.frame(
        h.last_conn(),
        Incoming::Message(Changes {
            change: vec![],
            close: vec![GLOBAL_HANDLE],
        }),
    );
    assert_eq!(h.machine.object(global.key), None);
    let again = h.command(crate::Command::Open);
    let Reply::Opened(fresh) = h.reply(again) else {
        panic!("open replies Global")
    };
    assert_eq!(fresh.handle, GLOBAL_HANDLE);
    assert_ne!(fresh.key, global.key);
}

#[test]
fn restored_objects_that_get_the_same_handle_keep_handles_unique() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let a = h.get_object(doc.key, "GetObject", "a");
    let b = h.get_object(doc.key, "GetDimension", "b");
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.engine.auto_answer = false;
    h.resume(false);
    h.drive();
    h.answer_held(0, json!({"qReturn": {"qType": "Doc", "qHandle": 50}}));
    h.drive();
    h.answer_held(
        0,
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 60}}),
    );
    h.answer_held(
        0,
        json!({"qReturn": {"qType": "GenericDimension", "qHandle": 60}}),
    );
    h.drive();
    assert_eq!(h.state(), State::Open);
    assert_eq!(h.machine.object(a.key).map(|o| o.handle), Some(60));
    assert_eq!(h.machine.object(b.key), None, "the later one is lost");
}

// ---- Found in review ----------------------------------------------------------------------

#[test]
fn q_req_4_responses_out_of_order_settle_their_own_calls() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.engine.auto_answer = false;
    let first = h.call(global.key, "EngineVersion", json!([]));
    let second = h.call(global.key, "EngineVersion", json!([]));
    h.drive();
    let held = std::mem::take(&mut h.engine.held);
    let (conn, first_request) = held[0].clone();
    let second_request = held[1].1.clone();
    for (request, answer) in [(&second_request, "second"), (&first_request, "first")] {
        h.frame(
            conn,
            Incoming::Response(Response::result(request.id, raw(json!(answer)))),
        );
    }
    for (waiter, answer) in [(first, "\"first\""), (second, "\"second\"")] {
        match h.reply(waiter) {
            Reply::Result(raw) => assert_eq!(raw.get(), answer),
            other => panic!("expected a result, got {other:?}"),
        }
    }
}

#[test]
fn q_res_1_an_on_connected_timeout_too_large_for_the_clock_means_no_deadline() {
    let mut h = Harness::new(Config {
        on_connected_timeout: Duration::MAX,
        ..config()
    });
    h.open();
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = None;
    let waiter = h.resume(true);
    h.drive();
    assert_eq!(h.state(), State::Resuming);
    assert!(h.machine.poll_timeout().is_none());
    assert!(!h.replied(waiter));
}

#[test]
fn q_ev_2_a_handle_listed_many_times_in_one_frame_gives_one_event() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let conn = h.last_conn();
    let mark = h.mark();
    h.frame(
        conn,
        Incoming::Message(Changes {
            change: vec![doc.handle; 1000],
            close: vec![doc.handle; 1000],
        }),
    );
    let object_events: Vec<Event> = h
        .events_since(mark)
        .into_iter()
        .filter(|event| matches!(event, Event::ObjectChanged(_) | Event::ObjectClosed(_)))
        .collect();
    assert_eq!(
        object_events,
        vec![Event::ObjectChanged(doc.key), Event::ObjectClosed(doc.key)]
    );
}

#[test]
fn q_ev_3_change_arrays_on_the_socket_of_an_abandoned_resume_are_ignored() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.suspend(4000, "");
    h.drive();
    h.engine.auto_connect = false;
    h.resume(false);
    let conn = h.last_conn();
    h.connected(conn);
    h.close(1000, "");
    let mark = h.mark();
    // The handles of the resume's socket belong to another engine session.
    h.frame(
        conn,
        Incoming::Message(Changes {
            change: vec![doc.handle],
            close: vec![doc.handle],
        }),
    );
    assert!(!h
        .events_since(mark)
        .iter()
        .any(|event| matches!(event, Event::ObjectChanged(_) | Event::ObjectClosed(_))));
}

#[test]
fn q_res_3_a_doc_given_the_handle_of_global_is_lost_with_its_objects() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.engine.auto_answer = false;
    let waiter = h.resume(false);
    h.drive();
    let (conn, request) = h
        .engine
        .held
        .pop()
        .expect("GetActiveDoc waits for an answer");
    assert_eq!(request.method, "GetActiveDoc");
    let mark = h.mark();
    let answer = json!({"qReturn": {"qType": "Doc", "qHandle": -1}});
    h.frame(
        conn,
        Incoming::Response(Response::result(request.id, raw(answer))),
    );
    assert!(is_done(h.reply(waiter)));
    assert!(h.sent_since(mark).is_empty(), "nothing is asked of Global");
    let events = h.events_since(mark);
    assert!(events.contains(&Event::ObjectClosed(doc.key)));
    assert!(events.contains(&Event::ObjectClosed(chart.key)));
}
