//! Q-OPEN-1..3 and Q-CLOSE-1..3: opening, closing, and both racing each other.

use super::*;

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
