//! One or more tests per rule of docs/behaviour.md, named `q_<rule>_<behaviour>`.

use std::time::Duration;

use qix_rpc::{Changes, Incoming, Notification, Response, GLOBAL_HANDLE};
use serde_json::json;

use super::harness::{cause, engine_error, on_connected, raw, Harness};
use crate::{
    CloseEvent, Config, ConnId, Effect, Event, Failure, Initiator, Input, NotConnectedReason,
    ObjectKey, Reply, SocketProblem, State,
};

/// The rule tests run without liveness probes and without a bound on the whole resume
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

mod events;
mod open_close;
mod requests;
mod restore;
mod robustness;
mod suspend;
