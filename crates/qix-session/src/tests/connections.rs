//! Rules about how long connections live: the close timeout (Q-CLOSE-4) and the release of
//! the last handle (Q-CLOSE-5). Time moves only when a test advances it.

use std::time::Duration;

use serde_json::json;

use super::harness::Harness;
use crate::{CloseEvent, Config, ConnId, Effect, Event, Input, Reply, State};

fn drops(h: &Harness) -> Vec<ConnId> {
    h.log
        .iter()
        .filter_map(|effect| match effect {
            Effect::DropConnection { conn } => Some(*conn),
            _ => None,
        })
        .collect()
}

const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

// ---- Q-CLOSE-4 ------------------------------------------------------------------------------

#[test]
fn q_close_4_a_close_the_peer_never_answers_is_dropped_after_the_close_timeout() {
    let mut h = Harness::new(Config::default());
    let global = h.open();
    h.engine.echo_close = false;
    let conn = h.last_conn();
    let closing = h.close(4100, "bye");
    assert_eq!(h.socket_closes(), vec![(conn, 4100, "bye".to_owned())]);
    h.advance(CLOSE_TIMEOUT - Duration::from_millis(1));
    assert!(drops(&h).is_empty(), "dropped before the close timeout");
    assert!(!h.replied(closing));
    let mark = h.mark();
    h.advance(Duration::from_millis(1));
    assert_eq!(drops(&h), vec![conn]);
    // The close asked for is what the session reports, once.
    assert_eq!(
        h.events_since(mark),
        vec![
            Event::ObjectClosed(global.key),
            Event::Closed(CloseEvent::new(4100, "bye"))
        ]
    );
    assert!(matches!(h.reply(closing), Reply::Done));
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.machine.poll_timeout(), None);
}

#[test]
fn q_close_4_a_suspend_the_peer_never_answers_still_suspends() {
    let mut h = Harness::new(Config::default());
    h.open();
    h.engine.echo_close = false;
    let suspending = h.suspend(4000, "");
    h.advance(CLOSE_TIMEOUT);
    assert!(matches!(h.reply(suspending), Reply::Done));
    assert_eq!(h.state(), State::Suspended);
    assert!(h.events().contains(&Event::Suspended {
        initiator: crate::Initiator::Manual,
        close: CloseEvent::new(4000, ""),
    }));
}

#[test]
fn q_close_4_a_connection_that_does_not_end_after_its_close_is_dropped() {
    let mut h = Harness::manual(Config::default());
    h.command(crate::Command::Open);
    let conn = h.last_conn();
    h.connected(conn);
    // The peer closes; its stream never ends (TCP stays up).
    h.feed(Input::SocketClosed {
        conn,
        close: CloseEvent::new(1000, ""),
    });
    assert!(h.machine.poll_timeout().is_some(), "the finishing is timed");
    let mark = h.mark();
    h.advance(CLOSE_TIMEOUT);
    assert_eq!(drops(&h), vec![conn]);
    assert!(
        h.events_since(mark).is_empty(),
        "the close was told already"
    );
    assert_eq!(h.machine.poll_timeout(), None);
}

#[test]
fn q_close_4_a_connection_whose_stream_ends_needs_no_timer() {
    let mut h = Harness::manual(Config::default());
    h.command(crate::Command::Open);
    let conn = h.last_conn();
    h.connected(conn);
    h.feed(Input::SocketClosed {
        conn,
        close: CloseEvent::new(1000, ""),
    });
    h.feed(Input::SocketEnded { conn });
    assert_eq!(h.machine.poll_timeout(), None);
    h.advance(Duration::from_secs(60));
    assert!(drops(&h).is_empty());
}

#[test]
fn q_close_4_a_stream_that_ends_without_a_close_is_a_close_with_1006() {
    let mut h = Harness::manual(Config::default());
    h.command(crate::Command::Open);
    let conn = h.last_conn();
    h.connected(conn);
    h.feed(Input::SocketEnded { conn });
    assert_eq!(h.state(), State::Closed);
    assert!(h
        .events()
        .contains(&Event::Closed(CloseEvent::new(1006, ""))));
}

#[test]
fn q_close_4_close_while_connecting_is_sent_once_connected_and_timed_from_then() {
    let mut h = Harness::manual(Config::default());
    h.command(crate::Command::Open);
    let conn = h.last_conn();
    h.close(4001, "late");
    assert!(h.socket_closes().is_empty());
    h.advance(Duration::from_secs(60));
    assert!(
        drops(&h).is_empty(),
        "a connect in progress is not timed here"
    );
    h.connected(conn);
    assert_eq!(h.socket_closes(), vec![(conn, 4001, "late".to_owned())]);
    h.advance(CLOSE_TIMEOUT);
    assert_eq!(drops(&h), vec![conn]);
    assert!(
        h.events().is_empty(),
        "a session that never opened tells nothing"
    );
}

#[test]
fn q_close_4_the_close_timeout_is_configurable() {
    let config = Config {
        close_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let mut h = Harness::new(config);
    h.open();
    h.engine.echo_close = false;
    let conn = h.last_conn();
    h.close(1000, "");
    h.advance(Duration::from_millis(300));
    assert_eq!(drops(&h), vec![conn]);
}

// ---- Q-CLOSE-5 ------------------------------------------------------------------------------

#[test]
fn q_close_5_release_closes_an_open_session_with_1000_and_finishes() {
    let mut h = Harness::new(Config::default());
    h.open();
    let conn = h.last_conn();
    assert!(!h.machine.is_finished());
    h.feed(Input::Released);
    assert_eq!(h.socket_closes(), vec![(conn, 1000, String::new())]);
    h.drive();
    assert_eq!(h.state(), State::Closed);
    assert!(h.machine.is_quiet());
    assert!(h.machine.is_finished());
    assert!(drops(&h).is_empty(), "a clean close needs no drop");
}

#[test]
fn q_close_5_release_of_a_session_never_opened_finishes_at_once() {
    let mut h = Harness::new(Config::default());
    h.feed(Input::Released);
    assert!(h.machine.is_finished());
    assert!(h.log.is_empty(), "nothing to do, nothing done");
}

#[test]
fn q_close_5_release_of_a_suspended_session_closes_it_for_good() {
    let mut h = Harness::new(Config::default());
    h.open();
    h.suspend(4000, "");
    h.drive();
    let mark = h.mark();
    h.feed(Input::Released);
    assert!(h
        .events_since(mark)
        .contains(&Event::Closed(CloseEvent::new(1000, ""))));
    assert!(h.machine.is_finished());
}

#[test]
fn q_close_5_what_is_still_open_after_the_grace_is_dropped() {
    let mut h = Harness::manual(Config::default());
    h.command(crate::Command::Open);
    let conn = h.last_conn();
    // The connect never completes; every handle goes.
    h.feed(Input::Released);
    assert!(h.machine.is_quiet(), "closed: streams may end");
    assert!(!h.machine.is_finished(), "a connect is still in progress");
    h.advance(Duration::from_secs(10) - Duration::from_millis(1));
    assert!(drops(&h).is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(drops(&h), vec![conn]);
    assert!(h.machine.is_finished());
}

#[test]
fn q_close_5_the_calls_of_a_released_session_are_still_settled() {
    let mut h = Harness::new(Config::default());
    let global = h.open();
    h.engine.auto_answer = false;
    let call = h.call(global.key, "EngineVersion", json!([]));
    h.feed(Input::Released);
    h.drive();
    assert!(matches!(h.reply(call), Reply::Failed(_)));
    assert!(h.machine.is_finished());
}
