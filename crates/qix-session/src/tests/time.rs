//! The rules on the clock for calls: request timeouts (Q-TIME-1), cancellation (Q-CANCEL-1),
//! the bound on calls in flight (Q-FLOW-1) and liveness probes (Q-LIVE-1).

use std::time::Duration;

use serde_json::json;

use super::harness::Harness;
use crate::{
    Call, CloseEvent, Command, Config, Effect, Event, Failure, Initiator, Input, Liveness, Reply,
    State,
};

fn quiet() -> Config {
    Config {
        liveness: None,
        delta: false,
        ..Config::default()
    }
}

fn timed_call(h: &mut Harness, object: crate::ObjectKey, timeout: Duration) -> crate::Waiter {
    h.command(Command::Call(Call {
        object,
        call: crate::tests::encoded("DoReload", &json!([])),
        returns_object: false,
        timeout: Some(timeout),
        accepts_delta: true,
    }))
}

fn drops(h: &Harness) -> usize {
    h.log
        .iter()
        .filter(|effect| matches!(effect, Effect::DropConnection { .. }))
        .count()
}

// ---- Q-TIME-1 -------------------------------------------------------------------------------

#[test]
fn q_time_1_a_call_past_its_own_timeout_fails_and_is_cancelled() {
    let mut h = Harness::new(quiet());
    let global = h.open();
    h.engine.auto_answer = false;
    let waiter = timed_call(&mut h, global.key, Duration::from_secs(3));
    let id = h.sent().last().expect("the call went out").1.id;
    h.advance(Duration::from_millis(2_999));
    assert!(!h.replied(waiter));
    let mark = h.mark();
    h.advance(Duration::from_millis(1));
    let Reply::Failed(failure) = h.reply(waiter) else {
        panic!("expected a failure")
    };
    assert_eq!(
        failure,
        &Failure::Timeout {
            request: id,
            elapsed: Duration::from_secs(3)
        }
    );
    let cancel = &h.sent_since(mark)[0].1;
    assert_eq!(
        (cancel.method.as_str(), cancel.handle),
        ("CancelRequest", -1)
    );
    assert_eq!(*cancel.params.as_value(), json!([id]));
    assert_eq!(h.machine.pending_calls(), 1, "only the CancelRequest waits");
}

#[test]
fn q_time_1_the_session_default_applies_when_a_call_has_none() {
    let mut h = Harness::new(Config {
        request_timeout: Some(Duration::from_secs(2)),
        ..quiet()
    });
    let global = h.open();
    h.engine.auto_answer = false;
    let waiter = h.call(global.key, "EngineVersion", json!([]));
    h.advance(Duration::from_secs(2));
    assert!(matches!(
        h.reply(waiter),
        Reply::Failed(Failure::Timeout { .. })
    ));
}

#[test]
fn q_time_1_a_late_answer_to_a_timed_out_call_is_dropped_quietly() {
    let mut h = Harness::new(quiet());
    let global = h.open();
    h.engine.auto_answer = false;
    let waiter = timed_call(&mut h, global.key, Duration::from_secs(1));
    h.advance(Duration::from_secs(1));
    let mark = h.mark();
    h.answer_held(0, json!({"late": true}));
    h.settle();
    assert_eq!(h.replies(waiter).len(), 1, "settled once, by the timeout");
    assert!(!h
        .events_since(mark)
        .iter()
        .any(|event| matches!(event, Event::SocketError(_))));
}

#[test]
fn q_time_1_an_answer_in_time_disarms_the_deadline() {
    let mut h = Harness::new(quiet());
    let global = h.open();
    h.engine.auto_answer = false;
    let waiter = timed_call(&mut h, global.key, Duration::from_secs(1));
    h.answer_held(0, json!({}));
    h.settle();
    assert!(matches!(h.reply(waiter), Reply::Result(_)));
    assert_eq!(h.machine.poll_timeout(), None);
}

#[test]
fn q_time_1_a_resume_that_does_not_finish_in_time_fails_and_stays_suspended() {
    let mut h = Harness::new(Config {
        resume_timeout: Duration::from_secs(8),
        on_connected_timeout: Duration::MAX,
        ..quiet()
    });
    h.open();
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = None; // no OnConnected: the resume would wait for ever
    let resuming = h.resume(false);
    h.settle();
    assert_eq!(h.state(), State::Resuming);
    h.advance(Duration::from_secs(8));
    assert!(matches!(
        h.reply(resuming),
        Reply::Failed(Failure::ResumeTimeout(bound)) if *bound == Duration::from_secs(8)
    ));
    assert_eq!(h.state(), State::Suspended);
}

// ---- Q-CANCEL-1 -----------------------------------------------------------------------------

#[test]
fn q_cancel_1_a_dropped_call_leaves_the_table_and_the_engine_is_told() {
    let mut h = Harness::new(quiet());
    let global = h.open();
    h.engine.auto_answer = false;
    let waiter = h.call(global.key, "DoReload", json!([]));
    let id = h.sent().last().expect("sent").1.id;
    let mark = h.mark();
    h.feed(Input::Cancel { waiter });
    assert!(!h.replied(waiter), "nobody waits for a reply");
    let cancel = &h.sent_since(mark)[0].1;
    assert_eq!(cancel.method, "CancelRequest");
    assert_eq!(*cancel.params.as_value(), json!([id]));
    // The late answer of the cancelled call, and the cancel's own answer: dropped quietly.
    let mark = h.mark();
    h.answer_held(0, json!({}));
    h.answer_held(0, json!({}));
    h.settle();
    assert!(!h.replied(waiter));
    assert!(h
        .events_since(mark)
        .iter()
        .all(|event| matches!(event, Event::TrafficReceived { object: None })));
    assert_eq!(h.machine.pending_calls(), 0);
}

#[test]
fn q_cancel_1_cancelling_an_unknown_or_settled_call_does_nothing() {
    let mut h = Harness::new(quiet());
    let global = h.open();
    let waiter = h.call(global.key, "EngineVersion", json!([]));
    h.drive();
    assert!(matches!(h.reply(waiter), Reply::Result(_)));
    let mark = h.mark();
    h.feed(Input::Cancel { waiter });
    h.feed(Input::Cancel {
        waiter: crate::Waiter(999),
    });
    assert_eq!(h.mark(), mark);
}

#[test]
fn q_cancel_1_nothing_is_sent_for_a_call_cancelled_without_a_socket() {
    let mut h = Harness::new(quiet());
    let global = h.open();
    h.engine.auto_answer = false;
    h.engine.echo_close = false;
    let waiter = h.call(global.key, "DoReload", json!([]));
    h.close(1000, "");
    let mark = h.mark();
    h.feed(Input::Cancel { waiter });
    assert!(
        h.sent_since(mark).is_empty(),
        "nothing follows a close frame"
    );
}

// ---- Q-FLOW-1 -------------------------------------------------------------------------------

#[test]
fn q_flow_1_calls_beyond_the_bound_are_not_accepted_until_one_is_answered() {
    let mut h = Harness::new(Config {
        max_in_flight: 3,
        ..quiet()
    });
    let global = h.open();
    h.engine.auto_answer = false;
    for _ in 0..3 {
        assert!(h.machine.accepts_calls());
        h.call(global.key, "EngineVersion", json!([]));
    }
    assert!(!h.machine.accepts_calls());
    h.answer_held(0, json!({}));
    h.settle();
    assert!(h.machine.accepts_calls());
}

// ---- Q-LIVE-1 -------------------------------------------------------------------------------

fn live(idle: bool) -> Config {
    let liveness = Liveness {
        interval: Duration::from_secs(20),
        timeout: Duration::from_secs(10),
        idle,
    };
    Config {
        liveness: Some(liveness),
        suspend_on_close: true,
        ..Config::default()
    }
}

fn probes(h: &Harness, from: usize) -> usize {
    h.sent_since(from)
        .iter()
        .filter(|(_, request, _)| request.method == "ProductVersion")
        .count()
}

#[test]
fn q_live_1_a_silent_connection_is_probed_then_suspended_as_a_network_close() {
    let mut h = Harness::new(live(false));
    let global = h.open();
    h.engine.auto_answer = false;
    let waiter = h.call(global.key, "DoReload", json!([]));
    let mark = h.mark();
    assert!(
        h.machine.request_id(waiter).is_some(),
        "the call's id is known"
    );
    h.advance(Duration::from_secs(19));
    assert_eq!(probes(&h, mark), 0);
    h.advance(Duration::from_secs(1));
    assert_eq!(probes(&h, mark), 1, "probed after the interval");
    assert_eq!(
        h.machine.probe_counts(),
        crate::ProbeCounts {
            sent: 1,
            expired: 0
        }
    );
    h.advance(Duration::from_secs(10));
    assert_eq!(drops(&h), 1, "no frame within the probe's timeout");
    assert_eq!(
        h.machine.probe_counts(),
        crate::ProbeCounts {
            sent: 1,
            expired: 1
        }
    );
    assert_eq!(h.state(), State::Suspended);
    assert!(h.events().contains(&Event::Suspended {
        initiator: Initiator::Network,
        close: CloseEvent::new(1006, ""),
    }));
    assert!(matches!(
        h.reply(waiter),
        Reply::Failed(Failure::NotConnected { .. })
    ));
}

#[test]
fn q_live_1_any_frame_answers_the_probe() {
    let mut h = Harness::new(live(false));
    let global = h.open();
    h.engine.auto_answer = false;
    h.call(global.key, "DoReload", json!([]));
    h.advance(Duration::from_secs(20));
    // The engine pushes something (not the probe's answer): alive.
    let conn = h.last_conn();
    h.push_frame(
        conn,
        r#"{"jsonrpc":"2.0","method":"OnProgress","params":{}}"#,
    );
    h.settle();
    h.advance(Duration::from_secs(10));
    assert_eq!(drops(&h), 0);
    assert_eq!(h.state(), State::Open);
    assert_eq!(h.machine.probe_counts().expired, 0, "answered, not expired");
}

#[test]
fn q_live_1_frames_that_keep_coming_mean_no_probe() {
    let mut h = Harness::new(live(false));
    let global = h.open();
    h.engine.auto_answer = false;
    h.call(global.key, "DoReload", json!([]));
    let mark = h.mark();
    let conn = h.last_conn();
    for _ in 0..10 {
        h.advance(Duration::from_secs(15));
        h.push_frame(
            conn,
            r#"{"jsonrpc":"2.0","method":"OnProgress","params":{}}"#,
        );
        h.settle();
    }
    assert_eq!(probes(&h, mark), 0);
}

#[test]
fn q_live_1_an_idle_session_sends_nothing_and_arms_nothing() {
    let mut h = Harness::new(live(false));
    h.open();
    let mark = h.mark();
    assert_eq!(h.machine.poll_timeout(), None);
    h.advance(Duration::from_secs(3600));
    assert!(h.sent_since(mark).is_empty());
}

#[test]
fn q_live_1_the_idle_probe_watches_a_session_that_only_listens() {
    // By hand: an engine that answers probes would keep `drive` going for ever.
    let mut h = Harness::manual(live(true));
    h.command(Command::Open);
    let conn = h.last_conn();
    h.connected(conn);
    let mark = h.mark();
    h.advance(Duration::from_secs(20));
    assert_eq!(probes(&h, mark), 1);
    h.advance(Duration::from_secs(10));
    assert_eq!(h.state(), State::Suspended);
}

#[test]
fn q_live_1_off_means_no_probe() {
    let mut h = Harness::new(quiet());
    let global = h.open();
    h.engine.auto_answer = false;
    h.call(global.key, "DoReload", json!([]));
    let mark = h.mark();
    h.advance(Duration::from_secs(3600));
    assert_eq!(probes(&h, mark), 0);
    assert_eq!(h.state(), State::Open);
}
