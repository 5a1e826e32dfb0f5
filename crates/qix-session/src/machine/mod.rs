//! The session state machine: every rule of docs/behaviour.md decided in one place.

use std::collections::{HashSet, VecDeque};
use std::mem;
use std::time::{Duration, Instant};

use qix_rpc::{
    Changes, EncodedCall, FrameError, Handle, Incoming, Notification, RawJson, Response,
    ResponseBody, GLOBAL_HANDLE,
};
use serde::Deserialize;
use serde_json::Value;

use crate::objects::{self, Objects, RestorePlan};
use crate::requests::{DeltaKey, Pending, Purpose, Requests, RestoreStep};
use crate::sockets::{SocketPhase, Sockets};
use crate::timer::{TimerId, Timers};
mod auto;
mod delta;
mod replay;
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
#[derive(Debug, Clone)]
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
    /// (Q-REQ-1). A scan of the pending requests: for logs, not for every call.
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

    // ---- commands ----------------------------------------------------------------------

    fn command(&mut self, waiter: Waiter, command: Command) {
        match command {
            Command::Open => self.open(waiter),
            Command::Call(call) => self.call(waiter, call),
            Command::Close { code, reason } => self.close(waiter, CloseEvent { code, reason }),
            Command::Suspend { code, reason } => self.suspend(waiter, CloseEvent { code, reason }),
            Command::Resume { only_if_attached } => self.resume(waiter, only_if_attached),
        }
    }

    /// Q-OPEN-1, Q-OPEN-3.
    fn open(&mut self, waiter: Waiter) {
        match &mut self.phase {
            Phase::Idle | Phase::Closed => {
                let before = self.phase.state();
                self.connect();
                self.phase = Phase::Connecting {
                    waiters: vec![waiter],
                    before,
                    greeting: false,
                };
            }
            Phase::Connecting { waiters, .. } => waiters.push(waiter),
            Phase::Open => {
                let global = self.objects.global();
                self.reply(waiter, Reply::Opened(global));
            }
            _ => self.invalid(waiter, "open"),
        }
    }

    /// Q-REQ-1..3.
    fn call(&mut self, waiter: Waiter, call: Call) {
        match self.phase {
            Phase::Open => {}
            Phase::Suspending { .. } | Phase::Suspended | Phase::Resuming(_) => {
                return self.fail(waiter, Failure::SessionSuspended);
            }
            _ => return self.fail(waiter, self.not_connected()),
        }
        let Call {
            object,
            call,
            returns_object,
            timeout,
            accepts_delta,
        } = call;
        let Some(handle) = self.objects.get(object).map(|info| info.handle) else {
            return self.fail(waiter, Failure::ObjectClosed);
        };
        let replay = self.replayable(&call).then(|| {
            Box::new(Call {
                object,
                call: call.clone(),
                returns_object,
                timeout,
                accepts_delta,
            })
        });
        let purpose = Purpose::Call {
            waiter,
            returns_object,
            replay,
            delta: self.delta_key(handle, call.method(), accepts_delta, returns_object),
        };
        let timeout = timeout.or(self.config.request_timeout);
        if !self.send(handle, call, Some(object), purpose, timeout) {
            // Open always has a connected link; answer rather than lose the waiter if not.
            self.fail(waiter, self.not_connected());
        }
    }

    /// Q-REQ-3: a call with no socket, with the close event reported last (enigma.js R6).
    fn not_connected(&self) -> Failure {
        Failure::NotConnected {
            reason: NotConnectedReason::NotConnected,
            close: self.last_close.clone(),
        }
    }

    /// Q-CLOSE-1, Q-CLOSE-3.
    fn close(&mut self, waiter: Waiter, close: CloseEvent) {
        self.stop_auto(); // Q-AUTO-1: nothing is resumed after a close
        match mem::replace(&mut self.phase, Phase::Idle) {
            phase @ (Phase::Idle | Phase::Closed) => {
                self.phase = phase;
                self.reply(waiter, Reply::Done);
            }
            Phase::Open => {
                self.close_socket(&close);
                self.phase = Phase::Closing {
                    close,
                    waiters: vec![waiter],
                    after_resume: false,
                };
            }
            Phase::Closing {
                close,
                mut waiters,
                after_resume,
            } => {
                waiters.push(waiter);
                self.phase = Phase::Closing {
                    close,
                    waiters,
                    after_resume,
                };
            }
            Phase::Connecting { waiters, .. } => {
                // The socket is closed as soon as it connects; the session never opened, so
                // there is no `closed` to tell.
                self.timers.stop(TimerId::OnConnected);
                self.abandon(close.code, close.reason.clone());
                self.phase = Phase::Closed;
                self.fail_calls(waiters, NotConnectedReason::SocketClosed, &close);
                self.last_close = Some(close);
                self.reply(waiter, Reply::Done);
            }
            Phase::Suspended => {
                self.phase = Phase::Suspended;
                self.close_for_good(close, vec![waiter]);
            }
            Phase::Suspending {
                close: suspend,
                waiters,
                mut then_close,
            } => {
                match &mut then_close {
                    Some((_, close_waiters)) => close_waiters.push(waiter),
                    None => then_close = Some((close, vec![waiter])),
                }
                self.phase = Phase::Suspending {
                    close: suspend,
                    waiters,
                    then_close,
                };
            }
            Phase::Resuming(resume) => {
                // The resume fails; the session then closes for good, its new socket with the
                // code and reason asked for, and `close` resolves once that socket has closed.
                self.fail_resume(
                    resume,
                    Failure::NotConnected {
                        reason: NotConnectedReason::SocketClosed,
                        close: Some(close.clone()),
                    },
                );
                if self.link.is_some() {
                    self.close_socket(&close);
                    self.phase = Phase::Closing {
                        close,
                        waiters: vec![waiter],
                        after_resume: true,
                    };
                } else {
                    self.phase = Phase::Suspended;
                    self.close_for_good(close, vec![waiter]);
                }
            }
        }
    }

    fn close_socket(&mut self, close: &CloseEvent) {
        if let Some(link) = self.link {
            self.close_conn(link.conn, close.clone());
        }
    }

    /// Q-CLOSE-5: every handle is gone. The session closes with 1000 as if asked to, and
    /// whatever is still open after the grace period is dropped.
    fn release(&mut self) {
        if self.released {
            return;
        }
        self.released = true;
        self.close(
            NOBODY,
            CloseEvent {
                code: 1000,
                reason: String::new(),
            },
        );
        if !self.sockets.is_empty() {
            self.arm(TimerId::Release, self.config.release_grace);
        }
    }

    /// Q-CLOSE-3: a session without a socket closes at once.
    fn close_for_good(&mut self, close: CloseEvent, waiters: Vec<Waiter>) {
        self.close_objects();
        self.emit(Event::Closed(close.clone()));
        self.phase = Phase::Closed;
        self.last_close = Some(close);
        for waiter in waiters {
            self.reply(waiter, Reply::Done);
        }
    }

    fn close_objects(&mut self) {
        self.clear_baselines();
        for key in self.objects.clear() {
            self.emit(Event::ObjectClosed(key));
        }
    }

    /// Q-SUSP-1.
    fn suspend(&mut self, waiter: Waiter, close: CloseEvent) {
        self.stop_auto(); // Q-AUTO-1: a manual suspend takes over, and stays suspended
        match &mut self.phase {
            Phase::Open => {
                // Suspending before the close goes out, so its close is never taken for a
                // network failure (SR2).
                self.close_socket(&close);
                self.phase = Phase::Suspending {
                    close,
                    waiters: vec![waiter],
                    then_close: None,
                };
            }
            Phase::Suspending { waiters, .. } => waiters.push(waiter),
            Phase::Suspended => self.reply(waiter, Reply::Done),
            _ => self.invalid(waiter, "suspend"),
        }
    }

    /// Q-RES-1.
    fn resume(&mut self, waiter: Waiter, only_if_attached: bool) {
        if waiter != AUTO {
            self.stop_auto(); // Q-AUTO-1: a manual resume takes over
        }
        if !matches!(self.phase, Phase::Suspended) {
            return self.invalid(waiter, "resume");
        }
        self.connect();
        self.arm(TimerId::Resume, self.config.resume_timeout);
        self.phase = Phase::Resuming(Resume {
            waiter,
            only_if_attached,
            step: ResumeStep::Connecting,
        });
    }

    // ---- transport facts ---------------------------------------------------------------

    fn connected(&mut self, conn: ConnId) {
        match self.sockets.phase(conn) {
            Some(SocketPhase::Connecting { then_close }) => {
                self.sockets.set(conn, SocketPhase::Open);
                if let Some(close) = then_close {
                    // Abandoned while it connected: close it now (Q-CLOSE-4).
                    return self.close_conn(conn, close);
                }
            }
            _ => return,
        }
        let Some(link) = self
            .link
            .as_mut()
            .filter(|link| link.conn == conn && !link.connected)
        else {
            return;
        };
        link.connected = true;
        self.clear_baselines();
        self.watch_idle();
        match &mut self.phase {
            Phase::Connecting { greeting, .. } => {
                // Q-OPEN-4: the engine's OnConnected says whether the session is attached.
                *greeting = true;
                self.arm(TimerId::OnConnected, self.config.on_connected_timeout);
            }
            Phase::Resuming(resume) => {
                resume.step = ResumeStep::AwaitingOnConnected;
                // A timeout too large to add to `now` means no deadline: wait for OnConnected.
                self.arm(TimerId::OnConnected, self.config.on_connected_timeout);
            }
            _ => {}
        }
    }

    fn connect_failed(&mut self, conn: ConnId, cause: Cause) {
        if matches!(
            self.sockets.phase(conn),
            Some(SocketPhase::Connecting { .. })
        ) {
            self.sockets.remove(conn);
        }
        if self.current(conn).is_none_or(|link| link.connected) {
            return;
        }
        self.link = None;
        self.forget_liveness();
        match mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Connecting {
                waiters, before, ..
            } => {
                self.timers.stop(TimerId::OnConnected);
                // Q-OPEN-2: not cached, no socket-error; the next open tries again.
                self.phase = Phase::before_connecting(before);
                for waiter in waiters {
                    self.fail(waiter, Failure::ConnectFailed(cause.clone()));
                }
            }
            Phase::Resuming(resume) => {
                self.phase = Phase::Suspended;
                self.fail(resume.waiter, Failure::ConnectFailed(cause));
            }
            // A close during a resume whose socket never opened: nothing left to wait for.
            Phase::Closing { close, waiters, .. } => self.close_for_good(close, waiters),
            phase => self.phase = phase,
        }
    }

    fn socket_error(&mut self, conn: ConnId, cause: Cause) {
        let Some(link) = self.link.as_mut().filter(|link| link.conn == conn) else {
            return;
        };
        match self.phase {
            Phase::Open
            | Phase::Closing {
                after_resume: false,
                ..
            } => {
                link.errored = true;
                self.emit(Event::SocketError(SocketProblem::Transport(cause)));
            }
            // Not reported (Q-EV-3), but the resume fails with "Socket error" if it closes.
            Phase::Resuming(_) => link.errored = true,
            // A suspend closed the socket on purpose; a connect that fails says so itself.
            _ => {}
        }
    }

    /// The connection's stream ended: it is over for good. One that ended without
    /// reporting a close counts as closed with 1006.
    fn socket_ended(&mut self, conn: ConnId) {
        match self.sockets.remove(conn) {
            Some(SocketPhase::Open | SocketPhase::Closing) => {
                self.timers.stop(TimerId::Socket(conn));
                self.socket_closed(conn, CloseEvent::new(1006, ""));
            }
            Some(SocketPhase::Finishing) => self.timers.stop(TimerId::Socket(conn)),
            Some(phase @ SocketPhase::Connecting { .. }) => self.sockets.set(conn, phase),
            None => {}
        }
    }

    fn socket_closed(&mut self, conn: ConnId, close: CloseEvent) {
        if matches!(
            self.sockets.phase(conn),
            Some(SocketPhase::Open | SocketPhase::Closing)
        ) {
            // The driver polls it on until its stream ends, within the close timeout.
            self.sockets.set(conn, SocketPhase::Finishing);
            self.arm(TimerId::Socket(conn), self.config.close_timeout);
        }
        let Some(link) = self.current(conn) else {
            return;
        };
        self.link = None;
        self.forget_liveness();
        let reason = if link.errored {
            NotConnectedReason::SocketError
        } else {
            NotConnectedReason::SocketClosed
        };
        match mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Connecting {
                waiters, before, ..
            } => {
                self.timers.stop(TimerId::OnConnected);
                // Q-OPEN-2: open never hangs.
                self.phase = Phase::before_connecting(before);
                self.fail_calls(waiters, NotConnectedReason::SocketClosed, &close);
                self.last_close = Some(close);
            }
            Phase::Open => self.closed_unasked(reason, close),
            Phase::Closing {
                close: asked,
                waiters,
                ..
            } => {
                // Q-CLOSE-1: the session reports the close it asked for.
                let calls = self.requests.drain_calls();
                self.close_objects();
                self.emit(Event::Closed(asked.clone()));
                self.phase = Phase::Closed;
                self.fail_calls(calls, reason, &asked);
                self.last_close = Some(asked);
                for waiter in waiters {
                    self.reply(waiter, Reply::Done);
                }
            }
            Phase::Suspending {
                close: asked,
                waiters,
                then_close,
            } => {
                // Q-SUSP-1: whatever code the socket reports, this is the suspend's close.
                let calls = self.requests.drain_calls();
                self.fail_calls(calls, reason, &asked);
                self.phase = Phase::Suspended;
                self.last_close = Some(asked.clone());
                self.emit(Event::Suspended {
                    initiator: Initiator::Manual,
                    close: asked,
                });
                for waiter in waiters {
                    self.reply(waiter, Reply::Done);
                }
                if let Some((close, waiters)) = then_close {
                    self.close_for_good(close, waiters);
                }
            }
            Phase::Resuming(resume) => {
                // The resume fails; the registry is as it was when the session was suspended.
                self.phase = Phase::Suspended;
                self.fail_resume(
                    resume,
                    Failure::NotConnected {
                        reason,
                        close: Some(close),
                    },
                );
            }
            phase @ (Phase::Idle | Phase::Suspended | Phase::Closed) => self.phase = phase,
        }
    }

    /// Q-CLOSE-2, Q-SUSP-3: the socket of an open session closed without being asked to.
    fn closed_unasked(&mut self, reason: NotConnectedReason, close: CloseEvent) {
        if self.config.suspend_on_close {
            let calls = self.requests.drain_replayable();
            self.phase = Phase::Suspended;
            self.emit(Event::Suspended {
                initiator: Initiator::Network,
                close: close.clone(),
            });
            self.park_or_fail(calls, reason, &close);
            let code = close.code;
            self.last_close = Some(close);
            return self.auto_resume_after(code);
        }
        let calls = self.requests.drain_calls();
        self.close_objects();
        self.emit(Event::Closed(close.clone()));
        self.phase = Phase::Closed;
        self.fail_calls(calls, reason, &close);
        self.last_close = Some(close);
    }

    fn fail_calls(&mut self, calls: Vec<Waiter>, reason: NotConnectedReason, close: &CloseEvent) {
        for waiter in calls {
            self.fail(
                waiter,
                Failure::NotConnected {
                    reason,
                    close: Some(close.clone()),
                },
            );
        }
    }

    // ---- frames ------------------------------------------------------------------------

    fn frame(&mut self, conn: ConnId, decoded: Result<Incoming<RawJson>, FrameError>) {
        let Some(link) = self
            .link
            .as_mut()
            .filter(|link| link.conn == conn && link.connected)
        else {
            return;
        };
        link.errored = false;
        if let Some(now) = self.now {
            self.heard(now);
        }
        match decoded {
            // Q-REQ-6: dropped, reported, nothing else touched. Q-REQ-8: unless its id names
            // a pending request, which then fails with the frame's error.
            Err(FrameError { id, error }) => {
                let pending = id.and_then(|id| self.requests.take(id));
                if !self.phase.is_suspended() {
                    self.emit(Event::SocketError(SocketProblem::Decode(error.clone())));
                }
                if let Some(pending) = pending {
                    match pending.purpose {
                        Purpose::Call { waiter, delta, .. } => {
                            // Q-DELTA-4: an answer that may have moved the engine's baseline
                            // could not be read.
                            if let Some(key) = delta {
                                self.delta_failed(key.handle, key.method.into_string());
                            }
                            self.fail(waiter, Failure::BadFrame(error));
                            self.settled();
                        }
                        Purpose::Abandoned(key) => {
                            self.delta_failed(key.handle, key.method.into_string())
                        }
                        Purpose::Restore(step, key) => self.restored(key, step, None),
                        Purpose::Probe | Purpose::Cancel => {}
                    }
                }
            }
            Ok(Incoming::Response(response)) => self.response(response),
            Ok(Incoming::Notification(notification)) => self.notification(notification),
            Ok(Incoming::Message(changes)) => {
                self.emit(Event::TrafficReceived { object: None });
                self.apply_changes(changes);
            }
        }
    }

    /// Q-EV-2: change before close; ignored while suspended (Q-EV-3).
    ///
    /// A handle listed twice counts once, so one frame yields at most one event per registered
    /// object however long its arrays are.
    fn apply_changes(&mut self, changes: Changes) {
        if self.phase.is_suspended() {
            return;
        }
        let mut changed = HashSet::new();
        for handle in changes.change {
            if let Some(key) = self.objects.key_of(handle) {
                if changed.insert(key) {
                    self.emit(Event::ObjectChanged(key));
                }
            }
        }
        for handle in changes.close {
            self.drop_baselines(handle);
            if let Some(key) = self.objects.remove_by_handle(handle) {
                self.emit(Event::ObjectClosed(key));
            }
        }
    }

    /// Q-REQ-4.
    fn response(&mut self, response: Response<RawJson>) {
        let Response {
            id,
            body,
            changes,
            delta: response_delta,
            ..
        } = response;
        let Some(pending) = self.requests.take(id) else {
            // Not ours: a plain message, never a notification.
            self.emit(Event::TrafficReceived { object: None });
            return self.apply_changes(changes);
        };
        // A closed object gets no more events, not even traffic.
        let object = pending.object.filter(|key| self.objects.contains(*key));
        self.emit(Event::TrafficReceived { object });
        self.apply_changes(changes);
        match pending.purpose {
            Purpose::Call {
                waiter,
                returns_object,
                delta,
                ..
            } => {
                let delta = delta.filter(|_| response_delta);
                self.settle(waiter, returns_object, delta, body);
                self.settled();
            }
            Purpose::Restore(step, key) => {
                let result = match &body {
                    ResponseBody::Result(raw) => Some(raw.get()),
                    ResponseBody::Error(_) => None,
                };
                self.restored(key, step, result)
            }
            Purpose::Abandoned(key) => {
                let result = match body {
                    ResponseBody::Result(raw) => Some(raw),
                    ResponseBody::Error(_) => None,
                };
                self.abandoned_answer(key, response_delta, result)
            }
            // Answered: a probe by any frame already, a cancel needs nothing more.
            Purpose::Probe | Purpose::Cancel => {}
        }
    }

    fn settle(
        &mut self,
        waiter: Waiter,
        returns_object: bool,
        delta: Option<DeltaKey>,
        body: ResponseBody<RawJson>,
    ) {
        let reply = match (body, delta) {
            (ResponseBody::Error(error), _) => Reply::Failed(Failure::Engine(error)),
            // Q-DELTA-1: the answer says it holds patches (enigma.js I8 reads the response's
            // flag, not the request's). Never for a call that returns an object.
            (ResponseBody::Result(result), Some(DeltaKey { handle, method, .. })) => Reply::Delta {
                handle,
                method,
                result,
            },
            (ResponseBody::Result(raw), None) if !returns_object => Reply::Result(raw),
            // Registered after the change array was applied: no `changed` for its own
            // response (enigma.js C8).
            (ResponseBody::Result(raw), None) => match objects::object_ref(raw.get()) {
                Ok(object) => Reply::Object(self.objects.register(object)),
                Err(failure) => Reply::Failed(failure),
            },
        };
        self.reply(waiter, reply);
    }

    fn notification(&mut self, notification: Notification<RawJson>) {
        self.emit(Event::TrafficReceived { object: None });
        let awaiting = matches!(
            self.phase,
            Phase::Resuming(Resume {
                step: ResumeStep::AwaitingOnConnected,
                ..
            }) | Phase::Connecting { greeting: true, .. }
        );
        let state = (awaiting && notification.method.as_deref() == Some("OnConnected"))
            .then(|| read_session_state(&notification.params));
        let opening = matches!(self.phase, Phase::Connecting { .. });
        if let (Some(state), true) = (&state, opening) {
            // The session opens on it: `opened` comes before the notification, as the seed
            // has it.
            self.session_state(state.clone());
            return self.emit(Event::Notification(notification));
        }
        self.emit(Event::Notification(notification));
        if let Some(state) = state {
            self.timers.stop(TimerId::OnConnected);
            self.session_state(state);
        }
    }

    // ---- resume ------------------------------------------------------------------------

    /// Q-RES-2: what the engine said about the session decides the resume; Q-OPEN-4: it is
    /// what an open learns.
    fn session_state(&mut self, state: SessionState) {
        self.engine_session = match &state {
            SessionState::Created => EngineSession::Created,
            SessionState::Attached => EngineSession::Attached,
            SessionState::Refused(_) => EngineSession::Unknown,
        };
        if let Phase::Connecting { greeting: true, .. } = self.phase {
            return match state {
                SessionState::Refused(state) => self.refuse_open(Failure::SessionState { state }),
                _ => self.finish_open(),
            };
        }
        let Phase::Resuming(resume) = &mut self.phase else {
            return;
        };
        let failure = match state {
            SessionState::Created if resume.only_if_attached => Failure::SessionNotAttached,
            SessionState::Refused(state) => Failure::SessionState { state },
            SessionState::Created | SessionState::Attached => {
                let plan = self.objects.plan_restore();
                resume.step = ResumeStep::Restoring(plan);
                return self.restore_doc();
            }
        };
        let Phase::Resuming(resume) = mem::replace(&mut self.phase, Phase::Suspended) else {
            return;
        };
        self.abandon_resume(resume, failure);
    }

    /// Q-OPEN-1: the socket is open and the engine has said how it sees the session (or
    /// said nothing in time): the session is Open.
    fn finish_open(&mut self) {
        let Phase::Connecting { waiters, .. } = &mut self.phase else {
            return;
        };
        let waiters = mem::take(waiters);
        self.timers.stop(TimerId::OnConnected);
        self.phase = Phase::Open;
        let global = self.objects.register_global();
        self.emit(Event::Opened);
        for waiter in waiters {
            self.reply(waiter, Reply::Opened(global.clone()));
        }
    }

    /// Q-OPEN-4: the engine refused the session in its OnConnected: the open fails, the
    /// socket is closed.
    fn refuse_open(&mut self, failure: Failure) {
        let Phase::Connecting {
            waiters, before, ..
        } = mem::replace(&mut self.phase, Phase::Idle)
        else {
            return;
        };
        self.timers.stop(TimerId::OnConnected);
        self.abandon(1000, String::new());
        self.phase = Phase::before_connecting(before);
        for waiter in waiters {
            self.fail(waiter, failure.clone());
        }
    }

    /// The resume fails: its socket is closed, the session is Suspended as before it.
    fn abandon_resume(&mut self, resume: Resume, failure: Failure) {
        self.abandon(1000, String::new());
        self.phase = Phase::Suspended;
        self.fail_resume(resume, failure);
    }

    /// Ends a resume that failed: its restore requests and its OnConnected wait are dropped,
    /// its waiter answered. The caller decides the phase and the socket.
    fn fail_resume(&mut self, resume: Resume, failure: Failure) {
        self.forget_requests();
        self.timers.stop(TimerId::OnConnected);
        self.timers.stop(TimerId::Resume);
        self.fail(resume.waiter, failure);
    }

    /// Drops the restore requests of a failed resume. No call can be pending while resuming
    /// (calls fail with SessionSuspended), but a waiter is never dropped without an answer.
    fn forget_requests(&mut self) {
        let calls = self.requests.drain_calls();
        let close = self.last_close.clone();
        for waiter in calls {
            self.fail(
                waiter,
                Failure::NotConnected {
                    reason: NotConnectedReason::SocketClosed,
                    close: close.clone(),
                },
            );
        }
    }

    fn plan(&mut self) -> Option<&mut RestorePlan> {
        match &mut self.phase {
            Phase::Resuming(Resume {
                step: ResumeStep::Restoring(plan),
                ..
            }) => Some(plan),
            _ => None,
        }
    }

    fn restore_doc(&mut self) {
        let Some(doc) = self.plan().and_then(|plan| plan.doc) else {
            return self.finish_resume();
        };
        self.send_restore(
            GLOBAL_HANDLE,
            restore_call("GetActiveDoc", &[]),
            doc,
            RestoreStep::ActiveDoc,
        );
    }

    fn send_restore(
        &mut self,
        handle: Handle,
        call: Option<EncodedCall>,
        key: ObjectKey,
        step: RestoreStep,
    ) {
        let Some(call) = call else {
            return self.restored(key, step, None);
        };
        // Restoring needs a connected link, so this always writes; the resume has its own
        // bound (Q-TIME-1).
        let purpose = Purpose::Restore(step, key);
        self.send(handle, call, Some(key), purpose, None);
    }

    /// A restore step's answer: the result's text, or `None` for an error (or a malformed
    /// answer, Q-REQ-8).
    fn restored(&mut self, key: ObjectKey, step: RestoreStep, result: Option<&str>) {
        let handle = result.and_then(objects::restored_handle);
        match (step, handle) {
            (RestoreStep::ActiveDoc, None) if result.is_none() => {
                match self.last_open_doc.clone() {
                    Some(call) => {
                        self.send_restore(GLOBAL_HANDLE, Some(call), key, RestoreStep::OpenDoc)
                    }
                    None => self.lose_doc(),
                }
            }
            // A Doc on Global's handle is no Doc: its objects would be asked of Global.
            (RestoreStep::ActiveDoc | RestoreStep::OpenDoc, None | Some(GLOBAL_HANDLE)) => {
                self.lose_doc()
            }
            (RestoreStep::ActiveDoc | RestoreStep::OpenDoc, Some(handle)) => {
                self.restore_objects(key, handle)
            }
            (RestoreStep::Object, handle) => {
                let Some(plan) = self.plan() else { return };
                match handle {
                    Some(handle) => plan.restored.push((key, handle)),
                    // SR15: this object only.
                    None => plan.lost.push(key),
                }
                plan.outstanding = plan.outstanding.saturating_sub(1);
                if plan.outstanding == 0 {
                    self.finish_resume();
                }
            }
        }
    }

    fn lose_doc(&mut self) {
        if let Some(plan) = self.plan() {
            plan.lose_doc();
        }
        self.finish_resume();
    }

    fn restore_objects(&mut self, doc: ObjectKey, handle: Handle) {
        let Some(plan) = self.plan() else { return };
        plan.restored.push((doc, handle));
        let others = mem::take(&mut plan.others);
        plan.outstanding = others.len();
        if others.is_empty() {
            return self.finish_resume();
        }
        for object in others {
            let call = restore_call(object.method, &[Value::String(object.id)]);
            self.send_restore(handle, call, object.key, RestoreStep::Object);
        }
    }

    /// Q-RES-4.
    fn finish_resume(&mut self) {
        let Phase::Resuming(Resume {
            waiter,
            step: ResumeStep::Restoring(plan),
            ..
        }) = mem::replace(&mut self.phase, Phase::Open)
        else {
            return;
        };
        self.timers.stop(TimerId::Resume);
        let (closed, changed) = self.objects.finish_restore(plan);
        for key in closed {
            self.emit(Event::ObjectClosed(key));
        }
        for key in changed {
            self.emit(Event::ObjectChanged(key));
        }
        self.emit(Event::Resumed);
        self.reply(waiter, Reply::Done);
        self.replay_parked();
    }
}

#[derive(Deserialize)]
struct OnConnectedParams {
    #[serde(rename = "qSessionState")]
    q_session_state: Option<Value>,
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
    if !params.get().trim_start().starts_with('{') {
        return SessionState::Attached;
    }
    match serde_json::from_str::<OnConnectedParams>(params.get()) {
        Ok(OnConnectedParams {
            q_session_state: Some(Value::String(state)),
        }) => match state.as_str() {
            "SESSION_CREATED" => SessionState::Created,
            "SESSION_ATTACHED" => SessionState::Attached,
            _ => SessionState::Refused(state),
        },
        _ => SessionState::Attached,
    }
}
