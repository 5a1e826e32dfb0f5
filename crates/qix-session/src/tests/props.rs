//! The property test: random sequences of user commands, transport facts, engine frames and
//! clock jumps, with the invariants of docs/behaviour.md checked after every step.
//!
//! Cases: `PROPTEST_CASES` when set, else 2,000. Failures shrink to a short `Vec<Op>` and are
//! saved under the crate's `proptest-regressions/`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use proptest::prelude::*;
use qix_rpc::{Changes, Handle, Incoming, Notification, Request, RequestId, Response};
use serde_json::{json, Value};

use super::harness::{cause, engine_error, on_connected, raw, Harness};
use crate::{
    CloseEvent, Command, Config, ConnId, Effect, Event, Initiator, Input, ObjectKey, Reply, State,
    Waiter,
};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(2_000)
}

/// What the engine answers to a request it holds.
#[derive(Debug, Clone)]
enum Answer {
    /// What the model engine would say (right shape for the method).
    Model,
    /// A plain result.
    Plain,
    /// An engine error.
    Error,
    /// An object reference with this handle and type.
    Object {
        handle: Handle,
        object_type: &'static str,
    },
    /// `qHandle: null, qType: null`.
    NotFound,
    /// A result without `qReturn`, or with a null handle.
    Broken { null_handle: bool },
}

#[derive(Debug, Clone)]
enum Op {
    Open,
    /// `object` picks the object, see `Run::object`.
    Call {
        object: u8,
        method: &'static str,
        returns_object: bool,
        /// Q-TIME-1: the call's own timeout, in ms.
        timeout: Option<u16>,
    },
    /// Q-CANCEL-1: the caller of the pending call `pick` is gone.
    Cancel {
        pick: u8,
    },
    Close {
        code: u16,
    },
    Suspend {
        code: u16,
    },
    Resume {
        only_if_attached: bool,
    },
    /// `conn` counts back from the connection asked for last (0 = the latest).
    Connected {
        conn: u8,
    },
    ConnectFailed {
        conn: u8,
    },
    Respond {
        pick: u8,
        answer: Answer,
        changes: Changes,
    },
    RespondAll,
    StrayResponse {
        changes: Changes,
    },
    OnConnected {
        conn: u8,
        state: Option<&'static str>,
    },
    Notify {
        conn: u8,
    },
    Message {
        conn: u8,
        changes: Changes,
    },
    Garbage {
        conn: u8,
    },
    SocketError {
        conn: u8,
    },
    SocketClosed {
        conn: u8,
        code: u16,
    },
    Advance {
        ms: u16,
    },
    /// The connection's stream ended (after its close, or without one).
    Ended {
        conn: u8,
    },
    /// Every handle of the session was dropped; no command comes after it.
    Release,
    /// Shortcuts through the lifecycle, so that short sequences reach deep states: each is the
    /// same primitive ops in a row.
    OpenNow,
    CallNow {
        method: &'static str,
    },
    SuspendNow {
        code: u16,
    },
    ResumeNow {
        only_if_attached: bool,
        state: Option<&'static str>,
    },
    /// The network drops and the automatic attempt (Q-AUTO-1) connects, hears `OnConnected`
    /// and gets its restore answered: what replays kept reads (Q-RETRY-1).
    DropAndAutoResume {
        state: Option<&'static str>,
    },
}

fn code() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(1000u16),
        Just(4000),
        Just(1006),
        Just(4001),
        1000u16..5000
    ]
}

fn conn() -> impl Strategy<Value = u8> {
    prop_oneof![6 => Just(0u8), 1 => 1u8..4]
}

fn handles() -> impl Strategy<Value = Vec<Handle>> {
    prop::collection::vec(-1i32..8, 0..3)
}

fn changes() -> impl Strategy<Value = Changes> {
    prop_oneof![
        3 => Just(Changes::default()),
        1 => (handles(), handles()).prop_map(|(change, close)| Changes { change, close }),
    ]
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        8 => Just(Answer::Model),
        2 => Just(Answer::Plain),
        2 => Just(Answer::Error),
        2 => (-1i32..8, prop::sample::select(vec![
            "Doc", "GenericObject", "GenericDimension", "GenericVariable", "Field", "Variable",
        ]))
            .prop_map(|(handle, object_type)| Answer::Object { handle, object_type }),
        1 => Just(Answer::NotFound),
        1 => any::<bool>().prop_map(|null_handle| Answer::Broken { null_handle }),
    ]
}

fn session_state() -> impl Strategy<Value = Option<&'static str>> {
    prop::sample::select(vec![
        Some("SESSION_ATTACHED"),
        Some("SESSION_CREATED"),
        Some("SESSION_ERROR_LICENSE_RENEW"),
        None,
    ])
}

fn op() -> impl Strategy<Value = Op> {
    let method = prop::sample::select(vec![
        "OpenDoc",
        "GetObject",
        "GetDimension",
        "GetField",
        "GetLayout",
        "GetProperties",
        "EngineVersion",
    ]);
    let object = prop_oneof![8 => 0u8..2, 1 => 100u8..=255];
    prop_oneof![
        2 => Just(Op::Open),
        10 => (object, method, prop::bool::weighted(0.15), prop::option::weighted(0.2, 1u16..8_000))
            .prop_map(|(object, method, odd, timeout)| {
                // Mostly the right flag for the method; sometimes not, to get bad responses.
                let returns_object = method.starts_with("Get")
                    && !matches!(method, "GetLayout" | "GetProperties")
                    || method == "OpenDoc";
                Op::Call { object, method, returns_object: returns_object != odd, timeout }
            }),
        1 => any::<u8>().prop_map(|pick| Op::Cancel { pick }),
        1 => code().prop_map(|code| Op::Close { code }),
        2 => code().prop_map(|code| Op::Suspend { code }),
        1 => any::<bool>().prop_map(|only_if_attached| Op::Resume { only_if_attached }),
        3 => conn().prop_map(|conn| Op::Connected { conn }),
        1 => conn().prop_map(|conn| Op::ConnectFailed { conn }),
        8 => (any::<u8>(), answer(), changes())
            .prop_map(|(pick, answer, changes)| Op::Respond { pick, answer, changes }),
        4 => Just(Op::RespondAll),
        1 => changes().prop_map(|changes| Op::StrayResponse { changes }),
        2 => (conn(), session_state()).prop_map(|(conn, state)| Op::OnConnected { conn, state }),
        1 => conn().prop_map(|conn| Op::Notify { conn }),
        2 => (conn(), changes()).prop_map(|(conn, changes)| Op::Message { conn, changes }),
        1 => conn().prop_map(|conn| Op::Garbage { conn }),
        1 => conn().prop_map(|conn| Op::SocketError { conn }),
        2 => (conn(), code()).prop_map(|(conn, code)| Op::SocketClosed { conn, code }),
        2 => (0u16..7_000).prop_map(|ms| Op::Advance { ms }),
        1 => conn().prop_map(|conn| Op::Ended { conn }),
        1 => Just(Op::Release),
        4 => Just(Op::OpenNow),
        4 => prop::sample::select(vec!["OpenDoc", "GetObject", "GetMeasure", "GetField"])
            .prop_map(|method| Op::CallNow { method }),
        2 => code().prop_map(|code| Op::SuspendNow { code }),
        3 => (any::<bool>(), session_state())
            .prop_map(|(only_if_attached, state)| Op::ResumeNow { only_if_attached, state }),
        2 => session_state().prop_map(|state| Op::DropAndAutoResume { state }),
    ]
}

/// Often, a session opened with a Doc and a few objects, so that many sequences start with a
/// registry that a suspend and resume must deal with: the same primitive ops in a row.
fn setup() -> impl Strategy<Value = Vec<Op>> {
    let method = prop::sample::select(vec![
        "GetObject",
        "GetDimension",
        "GetMeasure",
        "GetVariableById",
        "GetField",
        "OpenDoc",
    ]);
    prop::option::weighted(0.7, prop::collection::vec(method, 0..5)).prop_map(|methods| {
        let Some(methods) = methods else {
            return Vec::new();
        };
        let mut ops = vec![Op::OpenNow, Op::CallNow { method: "OpenDoc" }];
        ops.extend(methods.into_iter().map(|method| Op::CallNow { method }));
        ops
    })
}

/// What the checker knows about one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Open,
    Call,
    Close,
    Suspend,
    Resume,
}

/// The model the invariants are checked against, fed with every input and every effect.
#[derive(Debug, Default)]
struct Checker {
    suspend_on_close: bool,
    commands: HashMap<Waiter, Kind>,
    replies: HashMap<Waiter, usize>,
    /// Request id -> the call it carries (restore requests carry none).
    calls: HashMap<RequestId, Waiter>,
    last_id: RequestId,
    asked: Vec<ConnId>,
    connected: HashSet<ConnId>,
    /// Closed or failed, as the transport reported.
    gone: HashSet<ConnId>,
    /// Closed by the machine (`CloseSocket`): no frame may be written on it any more.
    closing: HashSet<ConnId>,
    /// Over for good: dropped by the machine, or its stream ended.
    over: HashSet<ConnId>,
    /// Calls whose caller left (Q-CANCEL-1): they get no reply.
    cancelled: HashSet<Waiter>,
    /// Every handle is gone.
    released: bool,
    known: HashSet<ObjectKey>,
    closed: HashSet<ObjectKey>,
    /// The close of the suspend in progress.
    suspend_close: Option<CloseEvent>,
    resume: Option<Waiter>,
    /// Restore requests of the resume in progress, and which of them were answered.
    restores: HashSet<RequestId>,
    answered: HashSet<RequestId>,
    resumed: usize,
    resumes_done: usize,
    /// Resumes that no command asked for (Q-AUTO-1).
    auto_resumed: usize,
    /// An automatic attempt is scheduled and has not started (Q-AUTO-1).
    auto_waiting: bool,
    /// Requests the machine wrote again after a resume (Q-RETRY-1), and whether the input
    /// being checked has resumed the session.
    replays: HashSet<RequestId>,
    resumed_now: bool,
    /// The session replays reads (Q-RETRY-1).
    replay: bool,
    /// Connections whose baselines were cleared when they connected (Q-DELTA-2).
    cleared: HashSet<ConnId>,
    /// Requests written with `"delta": true` (Q-DELTA-1).
    delta_requests: HashSet<RequestId>,
}

impl Checker {
    fn issue(&mut self, waiter: Waiter, kind: Kind) {
        self.commands.insert(waiter, kind);
    }

    /// Checks one handled input: the state before, the input (described), the effects it
    /// produced, and the machine after.
    fn step(&mut self, h: &Harness, before: State, input: &Fed, from: usize) {
        let after = h.state();
        let effects = &h.log[from..];
        self.resumed_now = false;
        if matches!(before, State::Idle | State::Closed)
            && !matches!(input, Fed::Command(_, Kind::Open))
        {
            // (6) after closed, nothing but a new open does anything, but finishing off
            // connections that are still open.
            for effect in effects {
                assert!(
                    matches!(
                        effect,
                        Effect::Reply { .. }
                            | Effect::CloseSocket { .. }
                            | Effect::DropConnection { .. }
                    ),
                    "{before:?}: {input:?} produced {effect:?}"
                );
            }
        }
        for effect in effects {
            match effect {
                Effect::Connect { conn } => {
                    assert!(!self.asked.contains(conn), "connection ids are fresh");
                    self.asked.push(*conn);
                }
                Effect::Send { conn, text, object } => {
                    self.sent(h, before, input, *conn, text, *object)
                }
                Effect::CloseSocket { conn, .. } => {
                    assert!(self.asked.contains(conn));
                    assert!(
                        !self.gone.contains(conn),
                        "closing a connection that is gone"
                    );
                    self.closing.insert(*conn);
                }
                Effect::DropConnection { conn } => {
                    assert!(self.asked.contains(conn), "dropping an unknown {conn:?}");
                    assert!(!self.over.contains(conn), "dropping {conn:?} twice");
                    self.over.insert(*conn);
                    self.gone.insert(*conn);
                }
                Effect::Reply { waiter, reply } => self.reply(*waiter, reply, before, input),
                // Q-DELTA-2: only for a handle the engine listed as closed.
                Effect::DropBaselines { .. } => {
                    assert!(matches!(input, Fed::Response(_) | Fed::Other))
                }
                // Q-DELTA-2: the late delta answer of a call whose caller is gone (dropped,
                // or timed out and already answered) is still applied.
                Effect::ApplyDelta { .. } => {
                    let Fed::Response(id) = input else {
                        panic!("ApplyDelta for {input:?}")
                    };
                    assert!(
                        self.delta_requests.contains(id),
                        "request {id} asked no delta"
                    );
                    let waiter = self.calls[id];
                    assert!(
                        self.cancelled.contains(&waiter) || self.replies.contains_key(&waiter),
                        "ApplyDelta for {waiter:?}, which still waits"
                    );
                }
                // Q-DELTA-2: every new connection starts with no baseline.
                Effect::ClearBaselines => {
                    if let Fed::Connected(conn) = input {
                        self.cleared.insert(*conn);
                    }
                }
                Effect::Emit(event) => self.event(h, event, before, after, input, effects),
            }
        }
        match input {
            Fed::Command(waiter, Kind::Resume) if before == State::Suspended => {
                assert_eq!(after, State::Resuming);
                self.resume = Some(*waiter);
                self.restores.clear();
                self.auto_waiting = false;
            }
            // An automatic attempt started on the clock (Q-AUTO-1).
            Fed::Other if before == State::Suspended && after == State::Resuming => {
                self.resume = None;
                self.restores.clear();
                self.auto_waiting = false;
            }

            Fed::Suspend(close) if before == State::Open => {
                assert_eq!(
                    after,
                    State::Suspending,
                    "suspending before the close goes out"
                );
                self.suspend_close = Some(close.clone());
            }
            _ => {}
        }
        if matches!(
            input,
            Fed::Command(_, Kind::Resume | Kind::Close) | Fed::Suspend(_)
        ) {
            // A manual command takes over (Q-AUTO-1).
            self.auto_waiting = false;
        }
        // (1) no call is pending without a socket to answer it.
        if !matches!(after, State::Open | State::Closing | State::Suspending) {
            // Q-RETRY-1: but for the reads kept for the automatic resume to replay.
            let unsettled = self
                .calls
                .values()
                .filter(|w| !self.cancelled.contains(w))
                .filter(|w| self.replies.get(w) != Some(&1))
                .collect::<HashSet<_>>();
            assert_eq!(
                unsettled.len(),
                h.machine.kept_calls(),
                "{after:?}: calls {unsettled:?} unsettled"
            );
            if after != State::Resuming {
                assert_eq!(
                    h.machine.pending_calls(),
                    0,
                    "{after:?} with pending requests"
                );
            }
        }
        // (5) every object is registered or closed, never both; handles are unique.
        let mut handles = HashSet::new();
        for key in &self.known {
            let registered = h.machine.object(*key);
            assert_ne!(registered.is_some(), self.closed.contains(key), "{key:?}");
            if let Some(info) = registered {
                assert!(
                    handles.insert(info.handle),
                    "two objects with handle {}",
                    info.handle
                );
            }
        }
        // (7) a session at rest (Idle, Suspended, Closed) has no deadline, but for the
        // connections still finishing and the grace after a release.
        if h.machine.poll_timeout().is_some()
            && matches!(after, State::Idle | State::Suspended | State::Closed)
        {
            let finishing = self.asked.iter().any(|conn| {
                (self.closing.contains(conn) || self.gone.contains(conn))
                    && !self.over.contains(conn)
            });
            assert!(
                finishing || self.released || self.auto_waiting,
                "a deadline with nothing to wait for ({after:?})"
            );
        }
        // (8) finished only once released, closed, and with every connection over.
        if h.machine.is_finished() {
            assert!(self.released && matches!(after, State::Idle | State::Closed));
            for conn in &self.asked {
                assert!(
                    self.over.contains(conn)
                        || !self.connected.contains(conn) && self.gone.contains(conn),
                    "finished with {conn:?} still open"
                );
            }
        }
    }

    fn sent(
        &mut self,
        h: &Harness,
        before: State,
        input: &Fed,
        conn: ConnId,
        text: &str,
        object: Option<ObjectKey>,
    ) {
        let request = Request::decode(text).expect("valid request");
        // (3) ids strictly increase.
        assert!(
            request.id > self.last_id,
            "id {} after {}",
            request.id,
            self.last_id
        );
        self.last_id = request.id;
        // (2) only on a connection the machine believes open, never while suspended.
        assert!(
            matches!(before, State::Open | State::Resuming),
            "sent while {before:?}"
        );
        assert!(
            self.connected.contains(&conn),
            "sent on {conn:?} before it connected"
        );
        assert!(
            !self.gone.contains(&conn) && !self.closing.contains(&conn),
            "sent on closed {conn:?}"
        );
        if matches!(request.method.as_str(), "CancelRequest" | "ProductVersion") && object.is_none()
        {
            // Q-CANCEL-1, Q-LIVE-1: the session's own requests, about no object.
            assert_eq!(request.handle, -1);
            return;
        }
        let object = object.expect("every request names its object");
        assert!(
            h.machine.object(object).is_some(),
            "sent for a closed object"
        );
        if request.delta == Some(true) {
            // Q-DELTA-1: only user calls ask (made now, or kept reads replayed after the
            // resume, Q-RETRY-1), never for the methods kept off, and only on a connection that
            // started with no baseline (Q-DELTA-2).
            assert!(
                matches!(input, Fed::Command(_, Kind::Call)) || self.resumed_now,
                "{request:?}"
            );
            assert!(
                !crate::machine::NO_DELTA_METHODS.contains(&request.method.as_str()),
                "{} asked with delta",
                request.method
            );
            assert!(
                self.cleared.contains(&conn),
                "delta before the baselines were cleared"
            );
            self.delta_requests.insert(request.id);
        }
        match input {
            Fed::Command(waiter, Kind::Call) => {
                assert_eq!(before, State::Open);
                self.calls.insert(request.id, *waiter);
            }
            // Q-RETRY-1: a kept read, written again after `resumed`.
            _ if self.resumed_now => {
                assert!(self.replay, "a replay without replay_reads");
                assert!(
                    crate::is_read_method(&request.method),
                    "replayed {}",
                    request.method
                );
                self.replays.insert(request.id);
            }
            _ => {
                assert_eq!(
                    before,
                    State::Resuming,
                    "restore requests only while resuming"
                );
                self.restores.insert(request.id);
            }
        }
    }

    fn reply(&mut self, waiter: Waiter, reply: &Reply, before: State, input: &Fed) {
        assert!(
            self.commands.contains_key(&waiter),
            "reply to unknown {waiter:?}"
        );
        assert!(
            !self.cancelled.contains(&waiter),
            "a reply to the cancelled {waiter:?}"
        );
        let count = self.replies.entry(waiter).or_default();
        *count += 1;
        assert_eq!(*count, 1, "{waiter:?} settled twice: {reply:?}");
        match reply {
            Reply::Opened(info) | Reply::Object { info, .. } => {
                assert!(
                    !self.closed.contains(&info.key),
                    "a closed object came back"
                );
                self.known.insert(info.key);
            }
            Reply::Done if Some(waiter) == self.resume => {
                assert_eq!(before, State::Resuming);
                self.resumes_done += 1;
                self.resume = None;
            }
            Reply::Failed(_) if Some(waiter) == self.resume => self.resume = None,
            // Q-DELTA-1: the model engine marks an answer delta only when asked.
            Reply::Delta { .. } => {
                let Fed::Response(id) = input else {
                    panic!("a delta reply to {input:?}")
                };
                assert!(self.delta_requests.contains(id), "delta reply to {id}");
            }
            _ => {}
        }
        // A response settles the call it answers, and no other.
        if let (Fed::Response(id), Some(Kind::Call)) = (input, self.commands.get(&waiter)) {
            if self.replays.remove(id) {
                // The replay of a kept call: it answers one of the calls of the old socket.
                assert!(self.calls.values().any(|w| *w == waiter));
                return;
            }
            // Q-RETRY-1: a kept read whose object the resume did not restore is not replayed:
            // it fails with ObjectClosed in the input that ends the resume.
            if self.resumed_now
                && matches!(reply, Reply::Failed(crate::Failure::ObjectClosed))
                && self.calls.values().any(|w| *w == waiter)
            {
                return;
            }
            assert_eq!(
                self.calls.get(id),
                Some(&waiter),
                "the response to request {id} settled another call"
            );
        }
    }

    fn event(
        &mut self,
        h: &Harness,
        event: &Event,
        before: State,
        after: State,
        input: &Fed,
        effects: &[Effect],
    ) {
        match event {
            Event::Opened => {
                // Q-OPEN-4: once connected, on the engine's OnConnected or its timeout.
                assert_eq!((before, after), (State::Connecting, State::Open));
            }
            Event::Suspended {
                initiator: Initiator::Manual,
                close,
            } => {
                // (4) after the suspend's close, with the suspend's code and reason.
                // The close, or the close timeout dropping the connection (Q-CLOSE-4).
                let dropped = effects
                    .iter()
                    .any(|e| matches!(e, Effect::DropConnection { .. }));
                assert!(
                    matches!(input, Fed::Closed(..)) || dropped,
                    "manual suspended on {input:?}"
                );
                assert_eq!(before, State::Suspending);
                assert_eq!(Some(close), self.suspend_close.as_ref());
            }
            Event::Suspended {
                initiator: Initiator::Network,
                close,
            } => {
                let Fed::Closed(reported) = input else {
                    panic!("network suspended on {input:?}")
                };
                assert_eq!(before, State::Open);
                assert!(self.suspend_on_close);
                assert_eq!(close, reported);
                assert_eq!(after, State::Suspended);
            }
            Event::Resumed => {
                // (4) once per successful resume, after its restore.
                assert_eq!(before, State::Resuming);
                assert_eq!(after, State::Open);
                assert!(
                    self.restores.is_subset(&self.answered),
                    "resumed before the restore ended"
                );
                // Nothing pending but the reads replayed right after `resumed` (Q-RETRY-1).
                let at = effects
                    .iter()
                    .position(|e| matches!(e, Effect::Emit(Event::Resumed)))
                    .unwrap_or(0);
                let replayed = effects[at..]
                    .iter()
                    .filter(|e| matches!(e, Effect::Send { .. }))
                    .count();
                assert_eq!(h.machine.pending_calls(), replayed);
                self.resumed_now = true;
                match self.resume {
                    Some(waiter) => assert!(effects.iter().any(|e| matches!(
                        e,
                        Effect::Reply { waiter: w, reply: Reply::Done } if *w == waiter
                    ))),
                    // An automatic attempt: nobody to reply to.
                    None => self.auto_resumed += 1,
                }
                self.resumed += 1;
            }
            Event::ObjectClosed(key) => {
                assert!(self.known.contains(key), "closed an unknown {key:?}");
                assert!(self.closed.insert(*key), "{key:?} closed twice");
                assert!(h.machine.object(*key).is_none());
            }
            Event::ObjectChanged(key) | Event::TrafficReceived { object: Some(key) } => {
                assert!(self.known.contains(key), "event for an unknown {key:?}");
                assert!(
                    !self.closed.contains(key),
                    "event for closed {key:?}: {event:?}"
                );
            }
            Event::Closed(_) => assert_eq!(after, State::Closed),
            // Q-AUTO-1: attempts are scheduled and given up only while suspended.
            Event::Resuming { .. } | Event::ResumeFailed { .. } => {
                assert_eq!(after, State::Suspended, "{event:?}");
                self.auto_waiting = matches!(event, Event::Resuming { .. });
            }
            Event::TrafficReceived { object: None }
            | Event::Notification(_)
            | Event::SocketError(_) => {}
        }
    }
}

/// The input handed in, as the checker needs to know it.
#[derive(Debug)]
enum Fed {
    Command(Waiter, Kind),
    /// A frame that decodes as the response to this request id.
    Response(RequestId),
    Suspend(CloseEvent),
    Connected(ConnId),
    Closed(CloseEvent),
    Other,
}

struct Run {
    h: Harness,
    checker: Checker,
    next_waiter: u64,
}

impl Run {
    fn new(suspend_on_close: bool, auto_resume: bool, replay: bool) -> Self {
        let config = Config {
            suspend_on_close,
            // Q-AUTO-1 in half of the runs: attempts start on clock jumps, at random; Q-RETRY-1
            // in half of those.
            auto_resume: auto_resume.then(|| crate::AutoResume {
                max_attempts: 3,
                replay_reads: replay,
                ..crate::AutoResume::default()
            }),
            ..Config::default()
        };
        Self {
            h: Harness::manual(config),
            checker: Checker {
                suspend_on_close,
                replay: replay && auto_resume && suspend_on_close,
                ..Checker::default()
            },
            next_waiter: 1,
        }
    }

    fn feed(&mut self, input: Input, fed: Fed) {
        let before = self.h.state();
        let from = self.h.mark();
        match &input {
            Input::Connected { conn } if !self.checker.gone.contains(conn) => {
                self.checker.connected.insert(*conn);
            }
            Input::ConnectFailed { conn, .. } | Input::SocketClosed { conn, .. } => {
                self.checker.gone.insert(*conn);
            }
            Input::Frame {
                decoded: Ok(Incoming::Response(response)),
                ..
            } => {
                self.checker.answered.insert(response.id);
            }
            _ => {}
        }
        self.h.feed(input);
        self.checker.step(&self.h, before, &fed, from);
    }

    fn command(&mut self, command: Command, kind: Kind) {
        if self.checker.released {
            return; // nobody is left to command anything
        }
        let waiter = Waiter(self.next_waiter);
        self.next_waiter += 1;
        self.checker.issue(waiter, kind);
        let fed = match &command {
            Command::Suspend { code, reason } => {
                Fed::Suspend(CloseEvent::new(*code, reason.clone()))
            }
            _ => Fed::Command(waiter, kind),
        };
        self.feed(Input::Command { waiter, command }, fed);
    }

    fn conn(&self, back: u8) -> Option<ConnId> {
        let asked = &self.checker.asked;
        let back = usize::from(back);
        (back < asked.len()).then(|| asked[asked.len() - 1 - back])
    }

    fn frame(&mut self, conn: ConnId, text: &str) {
        let decoded = crate::tests::decode(text);
        let fed = match &decoded {
            Ok(qix_rpc::Incoming::Response(response)) => Fed::Response(response.id),
            _ => Fed::Other,
        };
        self.feed(Input::Frame { conn, decoded }, fed);
    }

    /// Below 100: counts back from the object registered last; from 100 up: any key ever
    /// handed out, closed ones included, or one never handed out.
    fn object(&self, pick: u8) -> ObjectKey {
        let mut known: Vec<ObjectKey> = self.checker.known.iter().copied().collect();
        known.sort_by(|a, b| b.cmp(a));
        let never = ObjectKey(10_000);
        if pick < 100 {
            let registered = known
                .iter()
                .filter(|key| self.h.machine.object(**key).is_some());
            registered.copied().nth(usize::from(pick)).unwrap_or(never)
        } else {
            known.push(never);
            known[usize::from(pick - 100) % known.len()]
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Open => self.command(Command::Open, Kind::Open),
            Op::Call {
                object,
                method,
                returns_object,
                timeout,
            } => {
                let object = self.object(object);
                let call = crate::Call {
                    object,
                    call: crate::tests::encoded(method, &json!([format!("{method}-id")])),
                    returns_object,
                    timeout: timeout.map(|ms| Duration::from_millis(u64::from(ms))),
                    accepts_delta: true,
                };
                self.command(Command::Call(call), Kind::Call);
            }
            Op::Close { code } => self.command(
                Command::Close {
                    code,
                    reason: "close".to_owned(),
                },
                Kind::Close,
            ),
            Op::Suspend { code } => self.command(
                Command::Suspend {
                    code,
                    reason: "suspend".to_owned(),
                },
                Kind::Suspend,
            ),
            Op::Resume { only_if_attached } => {
                self.command(Command::Resume { only_if_attached }, Kind::Resume)
            }
            // A transport reports one of Connected or ConnectFailed per connection, and
            // nothing after it reported the connection gone.
            Op::Connected { conn } => {
                if let Some(conn) = self.conn(conn).filter(|c| !self.checker.gone.contains(c)) {
                    self.feed(Input::Connected { conn }, Fed::Connected(conn));
                }
            }
            Op::ConnectFailed { conn } => {
                let fresh = |c: &ConnId| {
                    !self.checker.gone.contains(c) && !self.checker.connected.contains(c)
                };
                if let Some(conn) = self.conn(conn).filter(fresh) {
                    self.feed(
                        Input::ConnectFailed {
                            conn,
                            cause: cause("refused"),
                        },
                        Fed::Other,
                    );
                }
            }
            Op::Respond {
                pick,
                answer,
                changes,
            } => {
                let held = &mut self.h.engine.held;
                if held.is_empty() {
                    return;
                }
                let (conn, request) = held.remove(usize::from(pick) % held.len());
                let mut response = self.answer(&request, &answer);
                response.changes = changes;
                self.frame(conn, &response.encode());
            }
            Op::RespondAll => {
                for (conn, request) in std::mem::take(&mut self.h.engine.held) {
                    let response = self.answer(&request, &Answer::Model);
                    self.frame(conn, &response.encode());
                }
            }
            Op::StrayResponse { changes } => {
                if let Some(conn) = self.conn(0) {
                    let mut response =
                        Response::result(self.checker.last_id + 1_000, raw(json!({})));
                    response.changes = changes;
                    self.frame(conn, &response.encode());
                }
            }
            Op::OnConnected { conn, state } => {
                if let Some(conn) = self.conn(conn) {
                    let notification = match state {
                        Some(state) => on_connected(state),
                        None => Notification {
                            method: Some("OnConnected".to_owned()),
                            params: raw(json!({})),
                        },
                    };
                    self.frame(conn, &notification.encode());
                }
            }
            Op::Notify { conn } => {
                if let Some(conn) = self.conn(conn) {
                    let notification = Notification {
                        method: Some("OnSessionTimedOut".to_owned()),
                        params: raw(json!({})),
                    };
                    self.frame(conn, &notification.encode());
                }
            }
            Op::Message { conn, changes } => {
                if let Some(conn) = self.conn(conn) {
                    self.frame(conn, &changes.encode());
                }
            }
            Op::Garbage { conn } => {
                if let Some(conn) = self.conn(conn) {
                    self.frame(conn, "{\"id\":");
                }
            }
            Op::SocketError { conn } => {
                if let Some(conn) = self.conn(conn) {
                    self.feed(
                        Input::SocketError {
                            conn,
                            cause: cause("reset"),
                        },
                        Fed::Other,
                    );
                }
            }
            Op::SocketClosed { conn, code } => {
                if let Some(conn) = self.conn(conn) {
                    let close = CloseEvent::new(code, "peer");
                    self.feed(
                        Input::SocketClosed {
                            conn,
                            close: close.clone(),
                        },
                        Fed::Closed(close),
                    );
                }
            }
            Op::OpenNow => {
                self.apply(Op::Open);
                self.apply(Op::Connected { conn: 0 });
            }
            Op::CallNow { method } => {
                self.apply(Op::Call {
                    object: 0,
                    method,
                    returns_object: true,
                    timeout: None,
                });
                self.apply(Op::RespondAll);
            }
            Op::SuspendNow { code } => {
                self.apply(Op::Suspend { code });
                self.apply(Op::SocketClosed { conn: 0, code });
            }
            Op::ResumeNow {
                only_if_attached,
                state,
            } => {
                self.apply(Op::Resume { only_if_attached });
                self.apply(Op::Connected { conn: 0 });
                self.apply(Op::OnConnected { conn: 0, state });
            }
            Op::DropAndAutoResume { state } => {
                self.apply(Op::SocketClosed {
                    conn: 0,
                    code: 1006,
                });
                self.apply(Op::Advance { ms: 1_000 });
                self.apply(Op::Connected { conn: 0 });
                self.apply(Op::OnConnected { conn: 0, state });
                self.apply(Op::RespondAll);
                self.apply(Op::RespondAll);
            }
            Op::Ended { conn } => {
                if let Some(conn) = self.conn(conn) {
                    if self.checker.connected.contains(&conn) && !self.checker.over.contains(&conn)
                    {
                        // A stream that ends without a close reads as a close with 1006.
                        let fed = if self.checker.gone.contains(&conn) {
                            Fed::Other
                        } else {
                            Fed::Closed(CloseEvent::new(1006, ""))
                        };
                        self.checker.over.insert(conn);
                        self.checker.gone.insert(conn);
                        self.feed(Input::SocketEnded { conn }, fed);
                    }
                }
            }
            Op::Cancel { pick } => {
                let mut open: Vec<Waiter> = self
                    .checker
                    .calls
                    .values()
                    .filter(|waiter| {
                        !self.checker.replies.contains_key(waiter)
                            && !self.checker.cancelled.contains(waiter)
                    })
                    .copied()
                    .collect();
                open.sort();
                if !open.is_empty() {
                    let waiter = open[usize::from(pick) % open.len()];
                    self.checker.cancelled.insert(waiter);
                    self.feed(Input::Cancel { waiter }, Fed::Other);
                }
            }
            Op::Release => {
                if !self.checker.released {
                    self.checker.released = true;
                    self.feed(Input::Released, Fed::Other);
                }
            }
            Op::Advance { ms } => {
                let before = self.h.state();
                let from = self.h.mark();
                self.h.advance(Duration::from_millis(u64::from(ms)));
                self.checker.step(&self.h, before, &Fed::Other, from);
            }
        }
    }

    fn answer(&mut self, request: &Request, answer: &Answer) -> Response {
        let result = match answer {
            Answer::Model => return self.h.engine.answer(request),
            Answer::Plain => json!({"qInfo": {"qId": "x"}}),
            Answer::Error => return Response::error(request.id, engine_error(2, "x", "Not found")),
            Answer::Object {
                handle,
                object_type,
            } => {
                json!({"qReturn": {"qHandle": handle, "qType": object_type, "qGenericId": "obj"}})
            }
            Answer::NotFound => json!({"qReturn": {"qHandle": null, "qType": null}}),
            Answer::Broken { null_handle: true } => {
                json!({"qReturn": {"qHandle": null, "qType": "Doc"}})
            }
            Answer::Broken { null_handle: false } => Value::Null,
        };
        Response::result(request.id, raw(result))
    }

    /// Ends every connection and lets every timer fire: afterwards every command must have
    /// exactly one reply and nothing may be pending.
    fn wind_down(&mut self) {
        for _ in 0..4 {
            for conn in self.checker.asked.clone() {
                if self.checker.gone.contains(&conn) {
                    continue;
                }
                if self.checker.connected.contains(&conn) {
                    let close = CloseEvent::new(1006, "");
                    self.feed(
                        Input::SocketClosed {
                            conn,
                            close: close.clone(),
                        },
                        Fed::Closed(close),
                    );
                } else {
                    self.feed(
                        Input::ConnectFailed {
                            conn,
                            cause: cause("gone"),
                        },
                        Fed::Other,
                    );
                }
            }
            self.apply(Op::Advance { ms: 6_000 });
        }
        for (waiter, kind) in &self.checker.commands {
            let expected = if self.checker.cancelled.contains(waiter) {
                None // Q-CANCEL-1: nobody waits for it
            } else {
                Some(&1)
            };
            assert_eq!(
                self.checker.replies.get(waiter),
                expected,
                "{kind:?} {waiter:?} settled wrongly"
            );
        }
        assert_eq!(self.h.machine.pending_calls(), 0);
        assert_eq!(
            self.checker.resumed,
            self.checker.resumes_done + self.checker.auto_resumed,
            "one resumed per resume"
        );
        assert!(matches!(
            self.h.state(),
            State::Idle | State::Closed | State::Suspended
        ));
        // Q-CLOSE-5: once every handle is gone, the machine finishes within the grace.
        self.apply(Op::Release);
        self.apply(Op::Advance { ms: 11_000 });
        assert!(
            self.h.machine.is_finished(),
            "not finished after release: {:?}",
            self.h.state()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn proptest_random_sessions_keep_every_invariant(
        suspend_on_close in any::<bool>(),
        auto_resume in any::<bool>(),
        replay in any::<bool>(),
        setup in setup(),
        suspend in prop::option::of(code().prop_map(|code| Op::SuspendNow { code })),
        ops in prop::collection::vec(op(), 0..60),
    ) {
        let mut run = Run::new(suspend_on_close, auto_resume, replay);
        for op in setup.into_iter().chain(suspend).chain(ops) {
            run.apply(op);
        }
        run.wind_down();
    }
}
