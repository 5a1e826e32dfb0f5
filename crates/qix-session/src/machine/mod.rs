//! The session state machine: every rule of docs/behaviour.md decided in one place.

use std::collections::{HashSet, VecDeque};
use std::mem;
use std::time::{Duration, Instant};

use qix_rpc::{
    Changes, EncodedCall, FrameError, Handle, Incoming, Notification, RawJson, Response,
    ResponseBody, GLOBAL_HANDLE,
};
use serde_json::Value;

use crate::objects::{self, Objects, RestorePlan};
use crate::requests::{DeltaKey, Pending, Purpose, Requests, RestoreStep};
use crate::sockets::{SocketPhase, Sockets};
use crate::timer::{TimerId, Timers};
mod auto;
mod commands;
mod connection;
mod delta;
mod frames;
mod replay;
mod resume;
mod time;

use auto::{AutoState, AUTO};
#[cfg(test)]
pub(crate) use delta::NO_DELTA_METHODS;

use crate::{
    Call, Cause, CloseEvent, Command, Config, ConnId, Effect, EngineSession, Event, Failure,
    Initiator, Input, NotConnectedReason, ObjectInfo, ObjectKey, Reply, SocketProblem, State,
    Waiter,
};

/// The QIX session as a sans-IO state machine.
///
/// Methods come in three kinds, as in quinn-proto:
/// - facts go in with [`handle`](Self::handle) (user commands and transport facts) and
///   [`handle_timeout`](Self::handle_timeout);
/// - what to do next comes out of [`poll_effect`](Self::poll_effect), in order, and
///   [`poll_timeout`](Self::poll_timeout);
/// - [`state`](Self::state), [`object`](Self::object) and
///   [`pending_calls`](Self::pending_calls) only look.
///
/// After every `handle*` call, drain `poll_effect` until it returns `None`, then rearm the
/// timer from `poll_timeout`. Any input is accepted in any state: what a state has no use for
/// is answered with a [`Reply::Failed`] (commands) or ignored (facts about a connection that is
/// no longer the current one, and frames on a connection that has not reported
/// [`Input::Connected`]).
///
/// # Order of effects
///
/// - A response: [`Event::TrafficReceived`], then the `changed` and `closed` of its `change` and
///   `close` arrays (change first), then the reply to the call (Q-EV-2).
/// - A close the user asked for, or one nobody asked for: the objects' `closed`, the session's
///   `closed` (or `suspended` for a network suspension), then the replies: the pending calls
///   (oldest first), then the waiters of `close`.
/// - A suspend's close: the pending calls fail, `suspended`, then the suspend's waiters.
/// - A resume: lost objects' `closed`, restored objects' `changed`, `resumed`, then `Done`.
#[derive(Debug)]
pub struct Machine {
    config: Config,
    phase: Phase,
    /// The connection whose facts count. `None` when the session has no socket.
    link: Option<Link>,
    next_conn: u64,
    requests: Requests,
    objects: Objects,
    timers: Timers,
    effects: VecDeque<Effect>,
    /// The close event reported last, given to calls that find no socket (enigma.js R6).
    last_close: Option<CloseEvent>,
    /// The last `OpenDoc` written on this session, for the restore (Q-RES-3).
    last_open_doc: Option<EncodedCall>,
    /// Every connection the driver holds, current or not, until it is over (Q-CLOSE-4).
    sockets: Sockets,
    /// Every handle of the session is gone (Q-CLOSE-5).
    released: bool,
    /// The time of the input being handled.
    now: Option<Instant>,
    /// When the current connection last delivered a frame (Q-LIVE-1).
    last_frame: Option<Instant>,
    /// Since when the liveness check has waited for a frame.
    liveness_since: Option<Instant>,
    /// What the engine said of the engine session on the current or last connection
    /// (Q-OPEN-4).
    engine_session: EngineSession,
    /// A liveness probe is out and no frame has come since.
    probing: bool,
    /// How many liveness probes were sent, and how many got no frame in time (for logs).
    probes: ProbeCounts,
    /// An automatic resume in progress (Q-AUTO-1).
    auto: Option<AutoState>,
    /// The state of the back-off's jitter.
    jitter: u64,
    /// Read calls a network drop interrupted, waiting for the automatic resume to replay them
    /// (Q-RETRY-1).
    parked: Vec<(Waiter, Box<Call>)>,
    /// Pairs asked without delta after their patches failed (Q-DELTA-4).
    delta_off: delta::DeltaOff,
}

/// What the liveness check has done so far ([`Machine::probe_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeCounts {
    /// Probes sent.
    pub sent: u64,
    /// Probes that got no frame within the liveness timeout: each closed its connection as
    /// 1006.
    pub expired: u64,
}

/// The waiter of a close nobody waits for: the one a release starts. Never replied to.
const NOBODY: Waiter = Waiter(u64::MAX);

#[derive(Debug, Clone, Copy)]
struct Link {
    conn: ConnId,
    connected: bool,
    /// A socket error was the last thing reported on it: if it closes now, its pending calls
    /// fail with "Socket error". A frame read after the error shows the connection survived
    /// it (a binary frame is reported and dropped), so it clears the flag.
    errored: bool,
}

/// The state and what the state alone needs.
#[derive(Debug)]
enum Phase {
    Idle,
    Connecting {
        waiters: Vec<Waiter>,
        /// Idle or Closed: where a failed connect goes back to (Q-OPEN-2).
        before: State,
        /// The socket is open; the engine's `OnConnected` is awaited (Q-OPEN-4).
        greeting: bool,
    },
    Open,
    Suspending {
        close: CloseEvent,
        waiters: Vec<Waiter>,
        /// A `close` asked for while suspending, done once the suspend is over.
        then_close: Option<(CloseEvent, Vec<Waiter>)>,
    },
    Suspended,
    Resuming(Resume),
    Closing {
        close: CloseEvent,
        waiters: Vec<Waiter>,
        /// The socket being closed is a resume's: its handles belong to another engine
        /// session than the registry's, so its `change`/`close` arrays mean nothing here.
        after_resume: bool,
    },
    Closed,
}

#[derive(Debug)]
struct Resume {
    waiter: Waiter,
    only_if_attached: bool,
    step: ResumeStep,
}

#[derive(Debug)]
enum ResumeStep {
    Connecting,
    AwaitingOnConnected,
    Restoring(RestorePlan),
}

/// What `OnConnected` (or its absence) says about the engine session.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SessionState {
    Created,
    Attached,
    Refused(String),
}

impl Phase {
    fn state(&self) -> State {
        match self {
            Self::Idle => State::Idle,
            Self::Connecting { .. } => State::Connecting,
            Self::Open => State::Open,
            Self::Suspending { .. } => State::Suspending,
            Self::Suspended => State::Suspended,
            Self::Resuming(_) => State::Resuming,
            Self::Closing { .. } => State::Closing,
            Self::Closed => State::Closed,
        }
    }

    /// Where a connect that failed goes back to: `before` is Idle or Closed (Q-OPEN-2).
    fn before_connecting(before: State) -> Self {
        if before == State::Closed {
            Self::Closed
        } else {
            Self::Idle
        }
    }

    /// Q-EV-3: socket errors and `change`/`close` arrays are not reported in these states.
    fn is_suspended(&self) -> bool {
        matches!(
            self,
            Self::Suspending { .. }
                | Self::Suspended
                | Self::Resuming(_)
                | Self::Closing {
                    after_resume: true,
                    ..
                }
        )
    }
}

impl Machine {
    /// A machine for a session that has not been opened.
    pub fn new(config: Config) -> Self {
        let jitter = config.jitter_seed;
        Self {
            config,
            phase: Phase::Idle,
            link: None,
            next_conn: 1,
            requests: Requests::new(),
            objects: Objects::default(),
            timers: Timers::default(),
            effects: VecDeque::new(),
            last_close: None,
            last_open_doc: None,
            sockets: Sockets::default(),
            released: false,
            now: None,
            last_frame: None,
            liveness_since: None,
            engine_session: EngineSession::Unknown,
            probing: false,
            probes: ProbeCounts::default(),
            auto: None,
            jitter,
            parked: Vec::new(),
            delta_off: delta::DeltaOff::default(),
        }
    }

    /// Hands in a user command or a transport fact; `now` is the driver's current time.
    pub fn handle(&mut self, input: Input, now: Instant) {
        self.now = Some(now);
        match input {
            Input::Command { waiter, command } => self.command(waiter, command),
            Input::Connected { conn } => self.connected(conn),
            Input::ConnectFailed { conn, cause } => self.connect_failed(conn, cause),
            Input::Frame { conn, decoded } => self.frame(conn, decoded),
            Input::SocketError { conn, cause } => self.socket_error(conn, cause),
            Input::SocketClosed { conn, close } => self.socket_closed(conn, close),
            Input::SocketEnded { conn } => self.socket_ended(conn),
            Input::Cancel { waiter } => self.cancel(waiter),
            Input::Released => self.release(),
            Input::DeltaFailed { handle, method } => self.delta_failed(handle, method),
        }
    }

    /// Fires the timers whose deadline is not after `now`.
    /// Early or repeated calls are harmless no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        while let Some((id, pending)) = self.requests.take_expired(now) {
            self.request_expired(id, pending, now);
        }
        while let Some(timer) = self.timers.take_expired(now) {
            match timer {
                TimerId::OnConnected => match self.phase {
                    Phase::Resuming(Resume {
                        step: ResumeStep::AwaitingOnConnected,
                        ..
                    }) => {
                        // Q-RES-1: no OnConnected in time means a fresh engine session.
                        self.session_state(SessionState::Created);
                    }
                    // Q-OPEN-4: an open that heard nothing is open all the same, attachment
                    // unknown.
                    Phase::Connecting { greeting: true, .. } => self.finish_open(),
                    _ => {}
                },
                // Q-CLOSE-4: a close the peer does not answer in time, or a connection that
                // does not finish after its close.
                TimerId::Socket(conn) => self.drop_socket(conn),
                // Q-CLOSE-5: the grace after the last handle went is over.
                TimerId::Release => {
                    for conn in self.sockets.conns() {
                        self.drop_socket(conn);
                    }
                }
                TimerId::Liveness => self.liveness_due(now),
                TimerId::AutoResume => self.attempt_due(),
                TimerId::Probe => self.probe_expired(),
                TimerId::Resume => {
                    if let Phase::Resuming(_) = self.phase {
                        let Phase::Resuming(resume) =
                            mem::replace(&mut self.phase, Phase::Suspended)
                        else {
                            unreachable!("matched just above")
                        };
                        let bound = self.config.resume_timeout;
                        self.abandon_resume(resume, Failure::ResumeTimeout(bound));
                    }
                }
            }
        }
    }

    /// True once every handle is gone ([`Input::Released`]) and the machine has nothing left
    /// to do: the session is closed and every connection is over. The driver stops then.
    pub fn is_finished(&self) -> bool {
        self.is_quiet() && self.sockets.is_empty()
    }

    /// True once every handle is gone and the session is closed: no event can follow (no
    /// command can open it again), though connections may still be finishing. Event streams
    /// can end now.
    pub fn is_quiet(&self) -> bool {
        self.released && matches!(self.phase, Phase::Idle | Phase::Closed)
    }

    /// The next thing for the driver to do, in the order the machine decided it.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// The earliest deadline, if any (only the OnConnected wait of a resume today). Call
    /// [`handle_timeout`](Self::handle_timeout) once it has passed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.timers.next(), self.requests.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The lifecycle state.
    pub fn state(&self) -> State {
        self.phase.state()
    }

    /// Whether the engine session of the current (or last) connection was attached to or
    /// created, as its `OnConnected` said (Q-OPEN-4). Unknown before the first one, and when
    /// the engine said nothing during an open.
    pub fn engine_session(&self) -> EngineSession {
        self.engine_session
    }

    /// The registered object with this key (None once closed).
    pub fn object(&self, key: ObjectKey) -> Option<&ObjectInfo> {
        self.objects.get(key)
    }

    /// The request id the call of `waiter` was written with, while it waits for its answer
    /// (Q-REQ-1). Cheap right after the call was written (its id is the last one); a scan of
    /// the pending requests otherwise.
    pub fn request_id(&self, waiter: Waiter) -> Option<qix_rpc::RequestId> {
        self.requests.id_of(waiter)
    }

    /// How many liveness probes were sent so far, and how many of them got no frame within
    /// the liveness timeout (Q-LIVE-1): a driver compares them around `handle_timeout` to
    /// log what the check did.
    pub fn probe_counts(&self) -> ProbeCounts {
        self.probes
    }

    /// Requests written on the current connection and not answered yet: user calls and, during
    /// a resume, restore requests. Zero whenever the session has no socket.
    pub fn pending_calls(&self) -> usize {
        self.requests.len()
    }

    /// Calls a network drop interrupted that wait, unwritten, for the automatic resume to
    /// replay them (Q-RETRY-1).
    pub fn kept_calls(&self) -> usize {
        self.parked.len()
    }

    fn emit(&mut self, event: Event) {
        self.effects.push_back(Effect::Emit(event));
    }

    fn reply(&mut self, waiter: Waiter, reply: Reply) {
        match waiter {
            NOBODY => {}
            AUTO => self.attempt_settled(reply),
            _ => self.effects.push_back(Effect::Reply { waiter, reply }),
        }
    }

    fn arm(&mut self, timer: TimerId, after: std::time::Duration) {
        if let Some(now) = self.now {
            self.timers.set_after(timer, now, after);
        }
    }

    fn fail(&mut self, waiter: Waiter, failure: Failure) {
        self.reply(waiter, Reply::Failed(failure));
    }

    fn invalid(&mut self, waiter: Waiter, operation: &'static str) {
        let state = self.state();
        self.fail(waiter, Failure::InvalidState { operation, state });
    }

    fn current(&self, conn: ConnId) -> Option<Link> {
        self.link.filter(|link| link.conn == conn)
    }

    /// Asks the driver for a new connection and makes it the current one.
    fn connect(&mut self) {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.engine_session = EngineSession::Unknown;
        self.forget_liveness();
        self.link = Some(Link {
            conn,
            connected: false,
            errored: false,
        });
        self.sockets.add(conn);
        self.effects.push_back(Effect::Connect { conn });
    }

    /// Closes the current connection and stops listening to it. One still connecting is
    /// closed as soon as it connects (Q-CLOSE-4).
    fn abandon(&mut self, code: u16, reason: String) {
        if let Some(link) = self.link.take() {
            self.forget_liveness();
            self.close_conn(link.conn, CloseEvent { code, reason });
        }
    }

    /// Sends a close on `conn` and gives the peer the close timeout to answer; a connection
    /// still connecting gets its close when it connects.
    fn close_conn(&mut self, conn: ConnId, close: CloseEvent) {
        match self.sockets.phase(conn) {
            Some(SocketPhase::Connecting { .. }) => {
                self.sockets.set(
                    conn,
                    SocketPhase::Connecting {
                        then_close: Some(close),
                    },
                );
            }
            Some(SocketPhase::Open) => {
                self.sockets.set(conn, SocketPhase::Closing);
                self.arm(TimerId::Socket(conn), self.config.close_timeout);
                self.effects.push_back(Effect::CloseSocket {
                    conn,
                    code: close.code,
                    reason: close.reason,
                });
            }
            // Closing or closed already: one close frame is enough.
            Some(SocketPhase::Closing | SocketPhase::Finishing) | None => {}
        }
    }

    /// Q-CLOSE-4: the connection is dropped without waiting any longer; if it had not
    /// reported its close, it counts as closed with 1006.
    fn drop_socket(&mut self, conn: ConnId) {
        let Some(phase) = self.sockets.remove(conn) else {
            return;
        };
        self.timers.stop(TimerId::Socket(conn));
        self.effects.push_back(Effect::DropConnection { conn });
        match phase {
            SocketPhase::Connecting { .. } => self.connect_failed(conn, Cause::new(Dropped)),
            SocketPhase::Open | SocketPhase::Closing => {
                self.socket_closed(conn, CloseEvent::new(1006, ""));
            }
            SocketPhase::Finishing => {}
        }
    }

    /// Writes a request on the current connection, timed out after `timeout` (Q-TIME-1).
    /// False when there is no connected socket to write on.
    fn send(
        &mut self,
        handle: Handle,
        call: EncodedCall,
        object: Option<ObjectKey>,
        mut purpose: Purpose,
        timeout: Option<Duration>,
    ) -> bool {
        let (Some(link), Some(now)) = (self.link.filter(|link| link.connected), self.now) else {
            return false;
        };
        if self.sockets.phase(link.conn) != Some(SocketPhase::Open) {
            return false; // a close was sent on it: nothing may follow the close frame
        }
        let id = self.requests.allocate();
        if call.method() == "OpenDoc" {
            // Q-RES-3: a resume may have to open the same document again.
            self.last_open_doc = Some(call.clone());
        }
        let delta = match &mut purpose {
            Purpose::Call {
                delta: Some(key), ..
            } => {
                key.asked = self.asks_delta(key);
                key.asked
            }
            _ => false,
        };
        let text = call.into_request(id, handle, delta, &self.config.protocol);
        self.effects.push_back(Effect::Send {
            conn: link.conn,
            text,
            object,
        });
        let is_call = matches!(purpose, Purpose::Call { .. });
        self.requests.insert(
            id,
            Pending {
                object,
                purpose,
                sent: now,
                deadline: timeout.and_then(|timeout| now.checked_add(timeout)),
            },
        );
        if is_call {
            self.watch_liveness();
        }
        true
    }
}

/// A restore request. A plain method name and an array of strings always encode; `None`
/// would only make that step fail (the object is lost), never a panic.
fn restore_call(method: &str, params: &[Value]) -> Option<EncodedCall> {
    EncodedCall::new(method, &params).ok()
}

/// The error of a connect that the session gave up on (Q-CLOSE-5).
#[derive(Debug, thiserror::Error)]
#[error("the connection was dropped: every handle of the session is gone")]
struct Dropped;

/// Reads `OnConnected`'s `qSessionState`. A missing or non-string state counts as attached,
/// as in enigma.js (SR7): only an explicit SESSION_CREATED or an unknown state stops a resume.
fn read_session_state(params: &RawJson) -> SessionState {
    let Ok(Some(state)) = qix_rpc::member(params.get(), "qSessionState") else {
        return SessionState::Attached;
    };
    let Some(state) = qix_rpc::string(state) else {
        return SessionState::Attached;
    };
    match &*state {
        "SESSION_CREATED" => SessionState::Created,
        "SESSION_ATTACHED" => SessionState::Attached,
        _ => SessionState::Refused(state.into_owned()),
    }
}

#[cfg(test)]
mod session_state_tests {
    use super::{read_session_state, RawJson, SessionState};

    #[test]
    fn the_session_state_is_read_as_enigma_js_reads_it() {
        let cases = [
            (
                r#"{"qSessionState":"SESSION_CREATED"}"#,
                SessionState::Created,
            ),
            (
                r#"{"qSessionState":"SESSION_ATTACHED","other":[1]}"#,
                SessionState::Attached,
            ),
            (
                r#"{"qSessionState":"SESSION_\u0043REATED"}"#,
                SessionState::Created,
            ),
            (
                r#"{"qSessionState":"SESSION_ERROR_LICENSE_RENEW"}"#,
                SessionState::Refused("SESSION_ERROR_LICENSE_RENEW".to_owned()),
            ),
            // Missing, not a string, repeated, or params that are no object: attached.
            (r#"{}"#, SessionState::Attached),
            (r#"{"qSessionState":7}"#, SessionState::Attached),
            (r#"{"qSessionState":null}"#, SessionState::Attached),
            (
                r#"{"qSessionState":"SESSION_CREATED","qSessionState":"SESSION_CREATED"}"#,
                SessionState::Attached,
            ),
            (r#"["SESSION_CREATED"]"#, SessionState::Attached),
        ];
        for (params, want) in cases {
            let params = RawJson::new(params.to_owned()).unwrap();
            assert_eq!(read_session_state(&params), want, "{params}");
        }
    }
}
