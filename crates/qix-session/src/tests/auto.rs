//! Q-AUTO-1: resuming on one's own after a network suspension.

use std::time::Duration;

use super::harness::Harness;
use crate::{AutoResume, Backoff, Config, Event, Failure, Initiator, Input, State};

fn config(delays: &[u64], max_attempts: u32) -> Config {
    let policy = AutoResume {
        backoff: Backoff::Delays(delays.iter().map(|s| Duration::from_secs(*s)).collect()),
        max_attempts,
        ..AutoResume::default()
    };
    Config {
        suspend_on_close: true,
        liveness: None,
        auto_resume: Some(policy),
        ..Config::default()
    }
}

/// An open session whose engine re-attaches on every connect.
fn attached(config: Config) -> Harness {
    let mut h = Harness::new(config);
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.open();
    h
}

fn drop_network(h: &mut Harness, code: u16) {
    let conn = h.last_conn();
    h.live.remove(&conn);
    h.socket_closed(conn, code, "");
}

fn resumings(events: &[Event]) -> Vec<(u32, Duration)> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Resuming { attempt, delay } => Some((*attempt, *delay)),
            _ => None,
        })
        .collect()
}

#[test]
fn q_auto_1_a_network_drop_resumes_after_the_first_delay() {
    let mut h = attached(config(&[2, 4], 5));
    let connects = h.connects().len();
    let mark = h.mark();
    drop_network(&mut h, 1006);
    assert_eq!(h.state(), State::Suspended);
    assert_eq!(
        resumings(&h.events_since(mark)),
        vec![(1, Duration::from_secs(2))]
    );
    h.advance(Duration::from_millis(1_999));
    assert_eq!(h.connects().len(), connects, "not before the delay");
    h.advance(Duration::from_millis(1));
    h.drive();
    assert_eq!(h.state(), State::Open);
    let events = h.events_since(mark);
    assert!(events.contains(&Event::Suspended {
        initiator: Initiator::Network,
        close: crate::CloseEvent::new(1006, ""),
    }));
    assert_eq!(events.last(), Some(&Event::Resumed));
}

#[test]
fn q_auto_1_never_after_a_close_that_refuses_the_session() {
    for code in [1000, 4001, 4002, 4005, 4006, 4200, 4299] {
        let mut h = attached(config(&[1], 5));
        let connects = h.connects().len();
        let mark = h.mark();
        drop_network(&mut h, code);
        h.advance(Duration::from_secs(60));
        assert!(resumings(&h.events_since(mark)).is_empty(), "{code}");
        assert_eq!(h.connects().len(), connects, "{code}");
        assert_eq!(h.state(), State::Suspended, "{code}");
    }
}

#[test]
fn q_auto_1_at_once_after_the_engine_or_app_went_away_with_back_off_otherwise() {
    for (code, delay) in [
        (4003, 0),
        (4004, 0),
        (4007, 0),
        (1001, 3),
        (1011, 3),
        (4205, 3),
    ] {
        let mut h = attached(config(&[3], 5));
        let mark = h.mark();
        drop_network(&mut h, code);
        assert_eq!(
            resumings(&h.events_since(mark)),
            vec![(1, Duration::from_secs(delay))],
            "{code}"
        );
    }
}

#[test]
fn q_auto_1_attempts_follow_the_schedule_then_resume_failed() {
    let mut h = attached(config(&[1, 2], 3));
    h.engine.auto_connect = false;
    let mark = h.mark();
    drop_network(&mut h, 1006);
    for _ in 0..3 {
        h.advance(Duration::from_secs(2));
        let conn = h.last_conn();
        h.feed(Input::ConnectFailed {
            conn,
            cause: super::harness::cause("refused"),
        });
    }
    let events = h.events_since(mark);
    assert_eq!(
        resumings(&events),
        vec![
            (1, Duration::from_secs(1)),
            (2, Duration::from_secs(2)),
            (3, Duration::from_secs(2))
        ]
    );
    assert!(matches!(
        events.last(),
        Some(Event::ResumeFailed {
            attempts: 3,
            failure: Failure::ConnectFailed(_)
        })
    ));
    let connects = h.connects().len();
    h.advance(Duration::from_secs(60));
    assert_eq!(
        h.connects().len(),
        connects,
        "no attempt after resume-failed"
    );
    assert_eq!(h.state(), State::Suspended);
}

#[test]
fn q_auto_1_a_close_while_waiting_stops_it() {
    let mut h = attached(config(&[5], 5));
    drop_network(&mut h, 1006);
    let connects = h.connects().len();
    h.close(1000, "");
    assert_eq!(h.state(), State::Closed);
    h.advance(Duration::from_secs(60));
    assert_eq!(
        h.connects().len(),
        connects,
        "nothing is resumed after close"
    );
}

#[test]
fn q_auto_1_a_manual_resume_takes_over_a_running_attempt() {
    let mut h = attached(config(&[1], 5));
    h.engine.auto_connect = false;
    drop_network(&mut h, 1006);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.state(), State::Resuming, "the attempt runs");
    let auto_conn = h.last_conn();
    let mark = h.mark();
    let manual = h.resume(true);
    let manual_conn = h.last_conn();
    assert_ne!(manual_conn, auto_conn, "the manual resume connects afresh");
    assert!(!h
        .events_since(mark)
        .iter()
        .any(|e| matches!(e, Event::ResumeFailed { .. })));
    h.feed(Input::Connected { conn: manual_conn });
    let greeting = super::harness::on_connected("SESSION_ATTACHED").encode();
    h.push_frame(manual_conn, &greeting);
    h.drive();
    assert!(matches!(h.reply(manual), crate::Reply::Done));
    assert_eq!(h.state(), State::Open);
}

#[test]
fn q_auto_1_a_manual_suspend_stops_it_and_stays_suspended() {
    let mut h = attached(config(&[1], 5));
    h.engine.auto_connect = false;
    drop_network(&mut h, 1006);
    h.advance(Duration::from_secs(1));
    let suspending = h.suspend(4000, "");
    assert!(matches!(h.reply(suspending), crate::Reply::Done));
    assert_eq!(h.state(), State::Suspended);
    let connects = h.connects().len();
    h.advance(Duration::from_secs(60));
    assert_eq!(h.connects().len(), connects);
}

#[test]
fn q_auto_1_restore_after_not_attached_when_asked() {
    let policy = AutoResume {
        backoff: Backoff::Delays(vec![Duration::from_secs(1)]),
        restore_if_not_attached: true,
        ..AutoResume::default()
    };
    let config = Config {
        suspend_on_close: true,
        liveness: None,
        auto_resume: Some(policy),
        ..Config::default()
    };
    let mut h = Harness::new(config);
    h.open();
    h.engine.announce = Some("SESSION_CREATED".to_owned());
    let mark = h.mark();
    drop_network(&mut h, 1006);
    h.drive();
    let events = h.events_since(mark);
    assert_eq!(
        resumings(&events),
        vec![(1, Duration::from_secs(1)), (2, Duration::ZERO)]
    );
    assert_eq!(events.last(), Some(&Event::Resumed));
    assert_eq!(h.state(), State::Open);
}

#[test]
fn q_auto_1_exponential_back_off_is_capped_and_jittered_within_half_to_all() {
    let policy = AutoResume {
        max_attempts: 8,
        ..AutoResume::default()
    };
    let config = Config {
        suspend_on_close: true,
        liveness: None,
        auto_resume: Some(policy),
        ..Config::default()
    };
    let mut h = Harness::new(config);
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.open();
    h.engine.auto_connect = false;
    let mark = h.mark();
    drop_network(&mut h, 1006);
    for _ in 0..7 {
        h.advance(Duration::from_secs(30));
        let conn = h.last_conn();
        h.feed(Input::ConnectFailed {
            conn,
            cause: super::harness::cause("refused"),
        });
    }
    for (attempt, delay) in resumings(&h.events_since(mark)) {
        let full = Duration::from_secs(1 << (attempt - 1).min(5)).min(Duration::from_secs(30));
        assert!(
            delay >= full / 2 && delay <= full,
            "attempt {attempt}: {delay:?}"
        );
    }
}
