//! Q-SUSP-1..3 and Q-RES-1..2: suspending, and resuming onto an attached or a new engine session.

use super::*;

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
