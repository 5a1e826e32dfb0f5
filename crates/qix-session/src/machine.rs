//! The session state machine: every rule of docs/behaviour.md decided in one place.

use std::collections::{HashSet, VecDeque};
use std::mem;
use std::time::Instant;

use qix_rpc::{
    Changes, DecodeError, Handle, Incoming, Notification, Params, RawValue, Request, Response,
    ResponseBody, GLOBAL_HANDLE,
};
use serde::Deserialize;
use serde_json::Value;

use crate::objects::{self, Objects, RestorePlan};
use crate::requests::{Pending, Purpose, Requests, RestoreStep};
use crate::timer::{TimerId, Timers};
use crate::{
    Call, Cause, CloseEvent, Command, Config, ConnId, Effect, Event, Failure, Initiator, Input,
    NotConnectedReason, ObjectInfo, ObjectKey, Reply, SocketProblem, State, Waiter,
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
    /// The params of the last `OpenDoc` written on this session, for the restore (Q-RES-3).
    last_open_doc: Option<Params>,
}

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
#[derive(Debug)]
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
        }
    }

    /// Hands in a user command or a transport fact; `now` is the driver's current time.
    pub fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::Command { waiter, command } => self.command(waiter, command),
            Input::Connected { conn } => self.connected(conn, now),
            Input::ConnectFailed { conn, cause } => self.connect_failed(conn, cause),
            Input::Frame { conn, decoded } => self.frame(conn, decoded),
            Input::SocketError { conn, cause } => self.socket_error(conn, cause),
            Input::SocketClosed { conn, close } => self.socket_closed(conn, close),
        }
    }

    /// Fires the timers whose deadline is not after `now`.
    /// Early or repeated calls are harmless no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.take_expired(now) {
            match timer {
                TimerId::OnConnected => {
                    if let Phase::Resuming(Resume {
                        step: ResumeStep::AwaitingOnConnected,
                        ..
                    }) = self.phase
                    {
                        // Q-RES-1: no OnConnected in time means a fresh engine session.
                        self.session_state(SessionState::Created);
                    }
                }
            }
        }
    }

    /// The next thing for the driver to do, in the order the machine decided it.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// The earliest deadline, if any (only the OnConnected wait of a resume today). Call
    /// [`handle_timeout`](Self::handle_timeout) once it has passed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The lifecycle state.
    pub fn state(&self) -> State {
        self.phase.state()
    }

    /// The registered object with this key (None once closed).
    pub fn object(&self, key: ObjectKey) -> Option<&ObjectInfo> {
        self.objects.get(key)
    }

    /// Requests written on the current connection and not answered yet: user calls and, during
    /// a resume, restore requests. Zero whenever the session has no socket.
    pub fn pending_calls(&self) -> usize {
        self.requests.len()
    }

    fn emit(&mut self, event: Event) {
        self.effects.push_back(Effect::Emit(event));
    }

    fn reply(&mut self, waiter: Waiter, reply: Reply) {
        self.effects.push_back(Effect::Reply { waiter, reply });
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
        self.link = Some(Link {
            conn,
            connected: false,
            errored: false,
        });
        self.effects.push_back(Effect::Connect { conn });
    }

    /// Closes the current connection and stops listening to it.
    fn abandon(&mut self, code: u16, reason: String) {
        if let Some(link) = self.link.take() {
            self.effects.push_back(Effect::CloseSocket {
                conn: link.conn,
                code,
                reason,
            });
        }
    }

    /// Writes a request on the current connection. Callers check that it is open.
    fn send(&mut self, handle: Handle, method: String, params: Params, pending: Pending) -> bool {
        let Some(link) = self.link.filter(|link| link.connected) else {
            return false;
        };
        let id = self.requests.allocate();
        let object = pending.object;
        let request = Request {
            id,
            handle,
            method,
            params,
            delta: None,
            extra: serde_json::Map::new(),
        };
        let text = request.encode_with(&self.config.protocol);
        self.effects.push_back(Effect::Send {
            conn: link.conn,
            text,
            object: Some(object),
        });
        self.requests.insert(id, pending);
        if request.method == "OpenDoc" {
            // Q-RES-3: a resume may have to open the same document again.
            self.last_open_doc = Some(request.params);
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
            method,
            params,
            returns_object,
        } = call;
        let Some(handle) = self.objects.get(object).map(|info| info.handle) else {
            return self.fail(waiter, Failure::ObjectClosed);
        };
        let pending = Pending {
            object,
            purpose: Purpose::Call {
                waiter,
                returns_object,
            },
        };
        if !self.send(handle, method, params, pending) {
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
                // The driver closes the socket as soon as it connects; the session never
                // opened, so there is no `closed` to tell.
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
            self.effects.push_back(Effect::CloseSocket {
                conn: link.conn,
                code: close.code,
                reason: close.reason.clone(),
            });
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
        for key in self.objects.clear() {
            self.emit(Event::ObjectClosed(key));
        }
    }

    /// Q-SUSP-1.
    fn suspend(&mut self, waiter: Waiter, close: CloseEvent) {
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
        if !matches!(self.phase, Phase::Suspended) {
            return self.invalid(waiter, "resume");
        }
        self.connect();
        self.phase = Phase::Resuming(Resume {
            waiter,
            only_if_attached,
            step: ResumeStep::Connecting,
        });
    }

    // ---- transport facts ---------------------------------------------------------------

    fn connected(&mut self, conn: ConnId, now: Instant) {
        let Some(link) = self
            .link
            .as_mut()
            .filter(|link| link.conn == conn && !link.connected)
        else {
            return;
        };
        link.connected = true;
        match &mut self.phase {
            Phase::Connecting { waiters, .. } => {
                let waiters = mem::take(waiters);
                self.phase = Phase::Open;
                let global = self.objects.register_global();
                self.emit(Event::Opened);
                for waiter in waiters {
                    self.reply(waiter, Reply::Opened(global.clone()));
                }
            }
            Phase::Resuming(resume) => {
                resume.step = ResumeStep::AwaitingOnConnected;
                // A timeout too large to add to `now` means no deadline: wait for OnConnected.
                if let Some(deadline) = now.checked_add(self.config.on_connected_timeout) {
                    self.timers.set(TimerId::OnConnected, deadline);
                }
            }
            _ => {}
        }
    }

    fn connect_failed(&mut self, conn: ConnId, cause: Cause) {
        if self.current(conn).is_none_or(|link| link.connected) {
            return;
        }
        self.link = None;
        match mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Connecting { waiters, before } => {
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

    fn socket_closed(&mut self, conn: ConnId, close: CloseEvent) {
        let Some(link) = self.current(conn) else {
            return;
        };
        self.link = None;
        let reason = if link.errored {
            NotConnectedReason::SocketError
        } else {
            NotConnectedReason::SocketClosed
        };
        match mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Connecting { waiters, before } => {
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
        let calls = self.requests.drain_calls();
        if self.config.suspend_on_close {
            self.phase = Phase::Suspended;
            self.emit(Event::Suspended {
                initiator: Initiator::Network,
                close: close.clone(),
            });
        } else {
            self.close_objects();
            self.emit(Event::Closed(close.clone()));
            self.phase = Phase::Closed;
        }
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

    fn frame(&mut self, conn: ConnId, decoded: Result<Incoming, DecodeError>) {
        let Some(link) = self
            .link
            .as_mut()
            .filter(|link| link.conn == conn && link.connected)
        else {
            return;
        };
        link.errored = false;
        match decoded {
            // Q-REQ-6: dropped, reported, nothing else touched.
            Err(error) => {
                if !self.phase.is_suspended() {
                    self.emit(Event::SocketError(SocketProblem::Decode(error)));
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
            if let Some(key) = self.objects.remove_by_handle(handle) {
                self.emit(Event::ObjectClosed(key));
            }
        }
    }

    /// Q-REQ-4.
    fn response(&mut self, response: Response) {
        let Response {
            id, body, changes, ..
        } = response;
        let Some(pending) = self.requests.take(id) else {
            // Not ours: a plain message, never a notification.
            self.emit(Event::TrafficReceived { object: None });
            return self.apply_changes(changes);
        };
        // A closed object gets no more events, not even traffic.
        let object = Some(pending.object).filter(|key| self.objects.contains(*key));
        self.emit(Event::TrafficReceived { object });
        self.apply_changes(changes);
        match pending.purpose {
            Purpose::Call {
                waiter,
                returns_object,
            } => self.settle(waiter, returns_object, body),
            Purpose::Restore(step) => self.restored(pending.object, step, body),
        }
    }

    fn settle(&mut self, waiter: Waiter, returns_object: bool, body: ResponseBody) {
        let reply = match body {
            ResponseBody::Error(error) => Reply::Failed(Failure::Engine(error)),
            ResponseBody::Result(raw) if !returns_object => Reply::Result(raw),
            // Registered after the change array was applied: no `changed` for its own
            // response (enigma.js C8).
            ResponseBody::Result(raw) => match objects::object_ref(&raw) {
                Ok(object) => Reply::Object(self.objects.register(object)),
                Err(failure) => Reply::Failed(failure),
            },
        };
        self.reply(waiter, reply);
    }

    fn notification(&mut self, notification: Notification) {
        self.emit(Event::TrafficReceived { object: None });
        let awaiting = matches!(
            self.phase,
            Phase::Resuming(Resume {
                step: ResumeStep::AwaitingOnConnected,
                ..
            })
        );
        let state = (awaiting && notification.method.as_deref() == Some("OnConnected"))
            .then(|| read_session_state(&notification.params));
        self.emit(Event::Notification(notification));
        if let Some(state) = state {
            self.timers.stop(TimerId::OnConnected);
            self.session_state(state);
        }
    }

    // ---- resume ------------------------------------------------------------------------

    /// Q-RES-2: what the engine said about the session decides the resume.
    fn session_state(&mut self, state: SessionState) {
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
            "GetActiveDoc",
            Params::empty(),
            doc,
            RestoreStep::ActiveDoc,
        );
    }

    fn send_restore(
        &mut self,
        handle: Handle,
        method: &str,
        params: Params,
        key: ObjectKey,
        step: RestoreStep,
    ) {
        let pending = Pending {
            object: key,
            purpose: Purpose::Restore(step),
        };
        // Restoring needs a connected link, so this always writes.
        self.send(handle, method.to_owned(), params, pending);
    }

    fn restored(&mut self, key: ObjectKey, step: RestoreStep, body: ResponseBody) {
        let handle = match &body {
            ResponseBody::Result(raw) => objects::restored_handle(raw),
            ResponseBody::Error(_) => None,
        };
        match (step, handle) {
            (RestoreStep::ActiveDoc, None) if matches!(body, ResponseBody::Error(_)) => {
                match self.last_open_doc.clone() {
                    Some(params) => self.send_restore(
                        GLOBAL_HANDLE,
                        "OpenDoc",
                        params,
                        key,
                        RestoreStep::OpenDoc,
                    ),
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
            let params =
                Params::new(Value::Array(vec![Value::String(object.id)])).unwrap_or_default();
            self.send_restore(
                handle,
                object.method,
                params,
                object.key,
                RestoreStep::Object,
            );
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
        let (closed, changed) = self.objects.finish_restore(plan);
        for key in closed {
            self.emit(Event::ObjectClosed(key));
        }
        for key in changed {
            self.emit(Event::ObjectChanged(key));
        }
        self.emit(Event::Resumed);
        self.reply(waiter, Reply::Done);
    }
}

#[derive(Deserialize)]
struct OnConnectedParams {
    #[serde(rename = "qSessionState")]
    q_session_state: Option<Value>,
}

/// Reads `OnConnected`'s `qSessionState`. A missing or non-string state counts as attached,
/// as in enigma.js (SR7): only an explicit SESSION_CREATED or an unknown state stops a resume.
fn read_session_state(params: &RawValue) -> SessionState {
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
