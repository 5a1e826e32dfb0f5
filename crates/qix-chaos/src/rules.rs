//! What a scenario accepts: the errors each operation may end with, the order of lifecycle
//! events, and how long each operation may take.

use std::collections::HashSet;
use std::time::Duration;

use qix::{Error, NotConnectedReason, Object, SessionEvent};
use serde_json::Value;

/// An operation a scenario makes, for the allowed outcomes and the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Open,
    Suspend,
    Resume,
    Close,
    /// A call whose result is plain JSON.
    Call(&'static str),
    /// A call that returns an object.
    CallObject(&'static str),
}

impl Op {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::Close => "close",
            Self::Call(method) | Self::CallObject(method) => method,
        }
    }
}

/// Whether `error` is an acceptable end for `op`. `corrupt` says bytes may have been flipped
/// on the wire in this scenario, which lets an engine answer or a request say anything.
pub(crate) fn allowed(op: Op, error: &Error, corrupt: bool) -> bool {
    // Anything a flipped byte can make of a frame: an engine error for a mangled request, a
    // malformed or mismatched answer, a delta answer whose patches no longer read or apply.
    let garbled = corrupt
        && matches!(
            error,
            Error::Engine(_)
                | Error::BadFrame(_)
                | Error::BadResponse(_)
                | Error::ResultType(_)
                | Error::ExpectedArrayOfPatches(_)
                | Error::PatchHasNoParent(_)
                | Error::ObjectNotFound
                | Error::SessionState { .. }
        );
    if garbled {
        return true;
    }
    match op {
        Op::Open => matches!(
            error,
            Error::Transport(_)
                | Error::NotConnected {
                    reason: NotConnectedReason::SocketClosed,
                    ..
                }
                | Error::InvalidState {
                    operation: "open",
                    ..
                }
        ),
        Op::Suspend => matches!(
            error,
            Error::InvalidState {
                operation: "suspend",
                ..
            }
        ),
        Op::Resume => matches!(
            error,
            Error::InvalidState {
                operation: "resume",
                ..
            } | Error::SessionNotAttached
                | Error::Transport(_)
                | Error::ResumeTimeout(_)
                | Error::NotConnected { .. }
        ),
        Op::Close => false,
        Op::Call(_) | Op::CallObject(_) => {
            let not_found =
                matches!(op, Op::CallObject("GetObject")) && matches!(error, Error::ObjectNotFound);
            not_found
                || matches!(
                    error,
                    Error::Timeout { .. }
                        | Error::NotConnected { .. }
                        | Error::SessionSuspended
                        | Error::ObjectClosed
                )
        }
    }
}

/// Whether a successful plain result has the shape the mock gives `method`.
pub(crate) fn result_fits(method: &str, result: &Value) -> bool {
    match method {
        "EngineVersion" => result["qVersion"]["qComponentVersion"].is_string(),
        "ProductVersion" => result["qReturn"].is_string(),
        "GetLayout" => result["qLayout"].is_object(),
        "GetProperties" => result["qProp"].is_object(),
        "SetProperties" => result.is_object(),
        _ => true,
    }
}

/// Whether an object returned by `method` is of the type the mock gives it.
pub(crate) fn object_fits(method: &str, object: &Object) -> bool {
    match method {
        "OpenDoc" => object.object_type() == "Doc",
        "open" => object.object_type() == "Global" && object.handle() == -1,
        _ => object.object_type() == "GenericObject",
    }
}

/// How long each operation of a session may take at most, from its settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) call: Duration,
    pub(crate) open: Duration,
    pub(crate) suspend: Duration,
    pub(crate) resume: Duration,
    pub(crate) close: Duration,
    /// From the last handle dropped to the end of the session's event streams.
    pub(crate) release: Duration,
}

/// The settings the bounds follow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) request_timeout: Duration,
    pub(crate) liveness_interval: Duration,
    pub(crate) liveness_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) resume_timeout: Duration,
    /// How many calls may be in flight, and how many callers the session has at most.
    pub(crate) max_in_flight: usize,
    pub(crate) callers: usize,
    /// How long an open waits for `OnConnected` once connected (Q-OPEN-4).
    pub(crate) on_connected_timeout: Duration,
}

/// Slack on every bound: the few ticks between a deadline and the reply reaching its caller.
const SLACK: Duration = Duration::from_secs(1);

impl Bounds {
    pub(crate) fn new(timing: &Timing) -> Bounds {
        // A call waits for its own timeout; behind a full window it first waits for the calls
        // ahead of it, each bounded the same way, or for the liveness check to give up on the
        // connection.
        let turns = timing.callers.div_ceil(timing.max_in_flight.max(1)) as u32;
        let call = timing.request_timeout * (turns + 1)
            + timing.liveness_interval
            + timing.liveness_timeout
            + SLACK;
        Bounds {
            call,
            // Connected within its timeout, an open still waits for `OnConnected` (Q-OPEN-4).
            open: timing.connect_timeout + timing.on_connected_timeout + SLACK,
            suspend: timing.close_timeout + SLACK,
            // The resume's own bound; a close that takes over waits for the connect first.
            resume: timing.resume_timeout + SLACK,
            close: timing.connect_timeout + timing.close_timeout * 2 + SLACK,
            release: Duration::from_secs(10) + timing.close_timeout * 2 + SLACK,
        }
    }
}

/// Where a session is, as its lifecycle events tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    /// Never opened, or closed.
    Down,
    /// Opened or resumed.
    Up,
    Suspended,
}

/// Checks the order of one session's lifecycle events and notifications as they come.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    life: Life,
    auto_resume: bool,
    notes: HashSet<u64>,
}

impl Lifecycle {
    pub(crate) fn new(auto_resume: bool) -> Self {
        Self {
            life: Life::Down,
            auto_resume,
            notes: HashSet::new(),
        }
    }

    /// Takes the next event; an event the rules do not allow here is described.
    pub(crate) fn next(&mut self, event: &SessionEvent) -> Result<(), String> {
        use Life::{Down, Suspended, Up};
        let life = self.life;
        let next = match (event, life) {
            (SessionEvent::Opened, Down) => Up,
            (SessionEvent::Closed(_), Up | Suspended) => Down,
            (SessionEvent::Suspended { .. }, Up) => Suspended,
            (SessionEvent::Resumed, Suspended) => Up,
            (SessionEvent::Resuming { .. }, Suspended) if self.auto_resume => Suspended,
            (SessionEvent::ResumeFailed { .. }, Suspended) if self.auto_resume => Suspended,
            // Down too: an open waits for the engine's OnConnected (Q-OPEN-4), and what the
            // engine pushes before it arrives is told before `opened`.
            (SessionEvent::Notification { method, params }, Up | Suspended | Down) => {
                if method == "OnChaos" {
                    let n = params["n"].as_u64().unwrap_or(u64::MAX);
                    if !self.notes.insert(n) {
                        return Err(format!("notification OnChaos n={n} delivered twice"));
                    }
                }
                life
            }
            // Not lifecycle events: in the stream for the trace only.
            (SessionEvent::SocketError(_) | SessionEvent::Traffic(_), _) => life,
            (SessionEvent::Lagged { missed }, _) => {
                return Err(format!("the event stream lagged by {missed}"))
            }
            (other, _) => return Err(format!("{} while {life:?}", describe(other))),
        };
        self.life = next;
        Ok(())
    }
}

/// A short name for an event in the trace.
pub(crate) fn describe(event: &SessionEvent) -> String {
    match event {
        SessionEvent::Opened => "opened".to_owned(),
        SessionEvent::Closed(close) => format!("closed ({close})"),
        SessionEvent::Suspended {
            initiator, code, ..
        } => format!("suspended ({initiator:?}, {code})"),
        SessionEvent::Resumed => "resumed".to_owned(),
        SessionEvent::Resuming { attempt, delay } => format!("resuming ({attempt}, {delay:?})"),
        SessionEvent::ResumeFailed { attempts, error } => {
            format!("resume-failed ({attempts}: {error})")
        }
        SessionEvent::Notification { method, params } => format!("notification {method} {params}"),
        SessionEvent::Lagged { missed } => format!("lagged {missed}"),
        SessionEvent::SocketError(error) => format!("socket-error: {error}"),
        SessionEvent::Traffic(traffic) => format!("{} {}", traffic.direction(), traffic.text()),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_without_a_suspended_before_it_is_refused() {
        let mut life = Lifecycle::new(false);
        life.next(&SessionEvent::Opened).unwrap();
        assert!(life.next(&SessionEvent::Resumed).is_err());
    }

    #[test]
    fn after_closed_only_a_new_open_is_accepted() {
        let mut life = Lifecycle::new(true);
        life.next(&SessionEvent::Opened).unwrap();
        life.next(&SessionEvent::Closed(qix::CloseEvent::new(1000, "")))
            .unwrap();
        let note = SessionEvent::Notification {
            method: "OnChaos".to_owned(),
            params: serde_json::json!({"n": 1}),
        };
        assert!(Lifecycle {
            life: Life::Down,
            ..Lifecycle::new(true)
        }
        .next(&SessionEvent::Resumed)
        .is_err());
        life.next(&SessionEvent::Opened).unwrap();
        life.next(&note).unwrap();
        assert!(life.next(&note).is_err(), "the same notification twice");
    }

    #[test]
    fn resuming_is_refused_without_automatic_resume() {
        let mut life = Lifecycle::new(false);
        life.next(&SessionEvent::Opened).unwrap();
        life.next(&SessionEvent::Suspended {
            initiator: qix::Initiator::Network,
            code: 1006,
            reason: String::new(),
        })
        .unwrap();
        let resuming = SessionEvent::Resuming {
            attempt: 1,
            delay: Duration::ZERO,
        };
        assert!(life.next(&resuming).is_err());
    }

    #[test]
    fn only_a_close_may_fail_nothing_but_corruption_widens_calls() {
        let timeout = Error::Timeout {
            method: "GetLayout".to_owned(),
            request: 1,
            elapsed: Duration::from_secs(1),
        };
        assert!(allowed(Op::Call("GetLayout"), &timeout, false));
        assert!(!allowed(Op::Close, &timeout, false));
        assert!(!allowed(Op::Call("GetLayout"), &Error::SessionGone, true));
        let engine = Error::BadResponse("x".to_owned());
        assert!(!allowed(Op::Call("GetLayout"), &engine, false));
        assert!(allowed(Op::Call("GetLayout"), &engine, true));
    }
}
