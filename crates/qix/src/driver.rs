//! The one future that owns a session: the state machine, the connections, the timer and the
//! callers waiting for replies. It polls everything directly (no relay task, no channel
//! between it and a socket), feeds the machine, executes its effects, writes frames back to
//! back and flushes when nothing more is ready. It decides nothing: every rule is the
//! machine's.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use qix_delta::DeltaCache;
use qix_events::Bus;
use qix_rpc::{Bytes, RawJson};
use qix_session::{
    Cause, CloseEvent, Command, ConnId, Effect, Event, Failure, Input, Machine, ObjectKey, Reply,
    Waiter,
};
use qix_transport::{Connection, Frames, Incoming, Outgoing, Transport, TransportError};
use rustc_hash::FxHashMap;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Sleep};

use crate::event::Direction;
use crate::events::Emitter;
use crate::object::ObjectShared;
use crate::session::StatusCell;
use crate::shared::SharedResult;
use crate::traces::Traces;
use crate::wake::{Source, Wakeups};

/// Frames written and not yet taken by the socket before the driver stops taking calls:
/// callers then wait on the bounded call channel, so a peer that reads slowly slows callers
/// down instead of growing a queue. Lifecycle commands are still taken.
const MAX_QUEUED_FRAMES: usize = 256;

/// How many frames, or calls, one pass takes from one source before it serves the others:
/// a flood of frames never starves callers or lifecycle commands, nor the reverse.
const BATCH: usize = 64;

/// Passes over everything before the driver yields to the runtime, so that a session that is
/// always busy shares its thread.
const PASSES_BEFORE_YIELD: usize = 32;

/// A message from a `Session` or `Object` handle.
pub(crate) struct ToDriver {
    pub(crate) waiter: Waiter,
    pub(crate) command: Command,
    pub(crate) reply: oneshot::Sender<DriverReply>,
}

/// What the driver receives from the handles, and where it shows the session's state.
pub(crate) struct Inbox {
    pub(crate) control: mpsc::Receiver<Box<ToDriver>>,
    pub(crate) calls: mpsc::Receiver<ToDriver>,
    pub(crate) cancels: mpsc::UnboundedReceiver<Waiter>,
    pub(crate) state: StatusCell,
}

/// A reply as the handles see it: registered objects come with their shared state.
pub(crate) enum DriverReply {
    Opened(Arc<ObjectShared>),
    Result(RawJson),
    /// A delta answer, patched into full values (Q-DELTA-1).
    Shared(SharedResult),
    /// A delta answer whose patches did not apply (Q-DELTA-1).
    DeltaFailed(qix_delta::Error),
    /// The object, and the whole `result` for the method's other out-parameters.
    Object(Arc<ObjectShared>, RawJson),
    Done,
    Failed(Failure),
}

type ConnectFuture =
    Pin<Box<dyn Future<Output = Result<Connection, TransportError>> + Send + 'static>>;

/// One connection the driver polls, with the frames waiting for its sink.
struct Conn {
    id: ConnId,
    frames: Box<dyn Frames>,
    outbox: VecDeque<Outgoing>,
    /// Something was handed to the sink since the last flush.
    unflushed: bool,
    /// The sink failed: nothing more is written; the stream reports how it ends.
    broken: bool,
    /// The stream said `Pending` and the sockets have not woken the driver since: asking
    /// again would only cost a read attempt (and tungstenite zeroing its read buffer).
    read_idle: bool,
}

pub(crate) struct Driver {
    machine: Machine,
    transport: Arc<dyn Transport>,
    /// Open, close, suspend, resume: always taken.
    control: mpsc::Receiver<Box<ToDriver>>,
    /// Calls: taken while the socket keeps up (see `MAX_QUEUED_FRAMES`) and the machine
    /// accepts more in flight.
    calls: mpsc::Receiver<ToDriver>,
    /// Waiters of calls whose caller left.
    cancels: mpsc::UnboundedReceiver<Waiter>,
    /// Every handle is gone: the machine was told, nothing more comes from the handles.
    released: bool,
    state: StatusCell,
    conns: Vec<Conn>,
    connecting: Vec<(ConnId, ConnectFuture)>,
    waiters: FxHashMap<Waiter, oneshot::Sender<DriverReply>>,
    /// The traced calls and commands still waiting, by waiter.
    traces: Traces,
    emitter: Emitter,
    timer: Pin<Box<Sleep>>,
    /// The deadline `timer` is set to, when the machine has one.
    armed: Option<std::time::Instant>,
    /// The text of the frame being handled, for `TrafficReceived`.
    frame: Option<Bytes>,
    /// The time of this pass, read when the first input of the pass needs it: one clock read
    /// per pass at most, none for a pass that finds nothing to do.
    now: Option<std::time::Instant>,
    /// Which sources to poll (see [`Wakeups`]).
    wake: Wakeups,
    /// The baselines of delta answers (Q-DELTA-1). Patches are relative to the engine's
    /// previous answer, so they are applied here, in frame order, and nowhere else.
    delta: DeltaCache,
}

impl Driver {
    pub(crate) fn new(
        machine: Machine,
        transport: Arc<dyn Transport>,
        handles: Inbox,
        bus: Bus<crate::SessionEvent>,
        object_limits: crate::events::Limits,
    ) -> Self {
        Self {
            machine,
            transport,
            control: handles.control,
            calls: handles.calls,
            cancels: handles.cancels,
            released: false,
            state: handles.state,
            conns: Vec::new(),
            connecting: Vec::new(),
            waiters: FxHashMap::default(),
            traces: Traces::default(),
            emitter: Emitter::new(bus, object_limits),
            timer: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: None,
            frame: None,
            now: None,
            wake: Wakeups::new(),
            delta: DeltaCache::new(),
        }
    }

    /// The time of this pass.
    fn now(&mut self) -> std::time::Instant {
        *self.now.get_or_insert_with(clock)
    }

    fn handle(&mut self, input: Input) {
        let now = self.now();
        self.machine.handle(input, now);
        self.execute();
    }

    fn command(&mut self, message: ToDriver) {
        let ToDriver {
            waiter,
            command,
            reply,
        } = message;
        if reply.is_closed() && matches!(command, Command::Call(_)) {
            return; // the caller left before the call was taken: it is not made
        }
        self.waiters.insert(waiter, reply);
        // Both closures run only when a subscriber wants the span.
        let (machine, now) = (&self.machine, &mut self.now);
        let handle = |object| machine.object(object).map(|object| object.handle);
        self.traces
            .start(waiter, &command, handle, || *now.get_or_insert_with(clock));
        self.handle(Input::Command { waiter, command });
        // A call written is in the table now: its span gets the request id (Q-REQ-1).
        if !self.traces.is_empty() {
            let machine = &self.machine;
            self.traces.record_id(waiter, || machine.request_id(waiter));
        }
    }

    /// Lifecycle commands, all that are ready; the end of the channel is the release.
    fn poll_control(&mut self) -> bool {
        let mut progress = false;
        while !self.released && self.wake.is_due(Source::Control) {
            let mut cx = Context::from_waker(self.wake.waker(Source::Control));
            match self.control.poll_recv(&mut cx) {
                Poll::Ready(Some(message)) => self.command(*message),
                Poll::Ready(None) => {
                    self.released = true;
                    self.handle(Input::Released);
                }
                Poll::Pending => {
                    self.wake.pending(Source::Control);
                    break;
                }
            }
            progress = true;
        }
        progress
    }

    /// Callers that left: their calls are cancelled.
    fn poll_cancels(&mut self) -> bool {
        let mut progress = false;
        while self.wake.is_due(Source::Cancels) {
            let mut cx = Context::from_waker(self.wake.waker(Source::Cancels));
            match self.cancels.poll_recv(&mut cx) {
                Poll::Ready(Some(waiter)) => {
                    self.waiters.remove(&waiter);
                    if !self.traces.is_empty() {
                        let now = self.now();
                        self.traces.end(waiter, None, true, now);
                    }
                    self.handle(Input::Cancel { waiter });
                    progress = true;
                }
                // Every sender is gone: nothing more can come.
                Poll::Ready(None) => self.wake.pending(Source::Cancels),
                Poll::Pending => self.wake.pending(Source::Cancels),
            }
        }
        progress
    }

    /// Calls, a batch at most, while the current connection keeps up and the machine takes
    /// more in flight.
    fn poll_calls(&mut self) -> bool {
        let mut progress = false;
        for _ in 0..BATCH {
            if self.released
                || !self.wake.is_due(Source::Calls)
                || self.backlogged()
                || !self.machine.accepts_calls()
            {
                break;
            }
            let mut cx = Context::from_waker(self.wake.waker(Source::Calls));
            match self.calls.poll_recv(&mut cx) {
                Poll::Ready(Some(message)) => self.command(message),
                // The control channel ends at the same time and says so.
                Poll::Ready(None) => break,
                Poll::Pending => {
                    self.wake.pending(Source::Calls);
                    break;
                }
            }
            progress = true;
        }
        progress
    }

    fn backlogged(&self) -> bool {
        self.conns
            .iter()
            .any(|conn| conn.outbox.len() >= MAX_QUEUED_FRAMES)
    }

    fn poll_connects(&mut self) -> bool {
        if !self.wake.is_due(Source::Connects) {
            return false;
        }
        // Cleared before polling: a connect started meanwhile marks the source due again.
        self.wake.pending(Source::Connects);
        let mut progress = false;
        let mut index = 0;
        while index < self.connecting.len() {
            let (conn, future) = &mut self.connecting[index];
            let conn = *conn;
            let mut cx = Context::from_waker(self.wake.waker(Source::Connects));
            match future.as_mut().poll(&mut cx) {
                Poll::Pending => index += 1,
                Poll::Ready(result) => {
                    drop(self.connecting.swap_remove(index));
                    progress = true;
                    match result {
                        Ok(connection) => {
                            tracing::debug!(
                                conn = conn.0,
                                status = connection.handshake().map(|h| h.status()),
                                "connected"
                            );
                            // Kept before the machine hears of it: an `open` it completes
                            // finds the handshake there.
                            let handshake = connection.handshake().cloned();
                            self.state.update(|shown| shown.handshake = handshake);
                            self.conns.push(Conn {
                                id: conn,
                                frames: connection.into_frames(),
                                outbox: VecDeque::new(),
                                unflushed: false,
                                broken: false,
                                read_idle: false,
                            });
                            self.handle(Input::Connected { conn });
                        }
                        Err(error) => {
                            tracing::info!(conn = conn.0, %error, "connect failed");
                            self.handle(Input::ConnectFailed {
                                conn,
                                cause: Cause::new(error),
                            });
                        }
                    }
                }
            }
        }
        progress
    }

    /// Frames from every connection, a batch at most from each.
    fn poll_frames(&mut self) -> bool {
        let mut progress = false;
        let mut index = 0;
        while index < self.conns.len() {
            let conn = self.conns[index].id;
            let mut ended = false;
            for _ in 0..BATCH {
                let Some(entry) = self
                    .conns
                    .get_mut(index)
                    .filter(|c| c.id == conn && !c.read_idle)
                else {
                    break; // an effect dropped it, or it has nothing this wake-up
                };
                let mut cx = Context::from_waker(self.wake.waker(Source::Sockets));
                let incoming = match Pin::new(&mut *entry.frames).poll_next(&mut cx) {
                    Poll::Pending => {
                        entry.read_idle = true;
                        break;
                    }
                    Poll::Ready(incoming) => incoming,
                };
                progress = true;
                match incoming {
                    Some(Incoming::Text(text)) => self.frame(conn, text),
                    Some(Incoming::Error(error)) => self.handle(Input::SocketError {
                        conn,
                        cause: Cause::new(error),
                    }),
                    Some(Incoming::Closed(close)) => self.handle(Input::SocketClosed {
                        conn,
                        close: CloseEvent::new(close.code, close.reason),
                    }),
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            if ended {
                self.remove_conn(conn);
                self.handle(Input::SocketEnded { conn });
            }
            if self.conns.get(index).is_some_and(|c| c.id == conn) {
                index += 1;
            }
        }
        progress
    }

    fn frame(&mut self, conn: ConnId, text: Bytes) {
        let decoded = qix_rpc::decode_shared(text.clone());
        self.frame = Some(text);
        self.handle(Input::Frame { conn, decoded });
        self.frame = None;
    }

    /// Hands waiting frames to each sink, back to back, and flushes once nothing more waits.
    fn poll_writes(&mut self) -> bool {
        let mut progress = false;
        let mut failed = Vec::new();
        let mut cx = Context::from_waker(self.wake.waker(Source::Sockets));
        for conn in &mut self.conns {
            if conn.broken {
                conn.outbox.clear();
                continue;
            }
            let result = write(conn, &mut cx, &mut progress);
            if let Err(error) = result {
                conn.broken = true;
                conn.outbox.clear();
                failed.push((conn.id, error));
            }
        }
        for (conn, error) in failed {
            progress = true;
            self.handle(Input::SocketError {
                conn,
                cause: Cause::new(error),
            });
        }
        progress
    }

    /// Keeps the one sleep on the machine's earliest deadline; fires it when due.
    fn poll_timer(&mut self) -> bool {
        let deadline = self.machine.poll_timeout();
        if deadline != self.armed {
            self.armed = deadline;
            if let Some(deadline) = deadline {
                self.timer.as_mut().reset(Instant::from_std(deadline));
                self.wake.mark_due(Source::Timer);
            }
        }
        if self.armed.is_none() || !self.wake.is_due(Source::Timer) {
            return false;
        }
        let mut cx = Context::from_waker(self.wake.waker(Source::Timer));
        if self.timer.as_mut().poll(&mut cx).is_pending() {
            self.wake.pending(Source::Timer);
            return false;
        }
        // The sleep may have fired later than the pass began.
        self.now = None;
        let now = self.now();
        let probes = self.machine.probe_counts();
        self.machine.handle_timeout(now);
        let after = self.machine.probe_counts();
        if after.sent > probes.sent {
            tracing::debug!("liveness probe sent: a call waits and no frame came for the interval");
        }
        if after.expired > probes.expired {
            tracing::warn!("liveness probe unanswered: the connection is taken as closed (1006)");
        }
        self.execute();
        // Fired timers are disarmed; the next pass arms the next one.
        self.armed = None;
        true
    }

    fn remove_conn(&mut self, conn: ConnId) {
        self.conns.retain(|c| c.id != conn);
    }

    /// Applies a delta answer's patches (Q-DELTA-1). When they do not apply, the machine is
    /// told and decides what follows (Q-DELTA-4); its effects come next in `execute`'s loop.
    fn apply_delta(
        &mut self,
        handle: qix_rpc::Handle,
        method: Box<str>,
        result: &RawJson,
    ) -> Result<Vec<(String, Arc<serde_json::Value>)>, qix_delta::Error> {
        let now = self.now();
        self.delta
            .apply_result(handle, &method, result.get())
            .inspect_err(|_| {
                let method = method.into_string();
                self.machine
                    .handle(Input::DeltaFailed { handle, method }, now);
            })
    }

    /// Carries out every effect the machine has queued, in its order.
    fn execute(&mut self) {
        // The state first: a caller woken by a reply below sees the state that reply left.
        let (state, engine_session) = (self.machine.state(), self.machine.engine_session());
        self.state.update(|shown| {
            shown.state = state;
            shown.engine_session = engine_session;
        });
        while let Some(effect) = self.machine.poll_effect() {
            match effect {
                Effect::Connect { conn } => {
                    tracing::debug!(conn = conn.0, "connecting");
                    let transport = self.transport.clone();
                    self.connecting
                        .push((conn, Box::pin(async move { transport.connect().await })));
                    self.wake.mark_due(Source::Connects);
                }
                Effect::Send { conn, text, object } => {
                    let text = Bytes::from(text);
                    self.emitter
                        .traffic(Direction::Sent, &text, object.as_ref());
                    if let Some(conn) = self.conns.iter_mut().find(|c| c.id == conn) {
                        conn.outbox.push_back(Outgoing::Text(text));
                    }
                }
                Effect::CloseSocket { conn, code, reason } => {
                    if let Some(conn) = self.conns.iter_mut().find(|c| c.id == conn) {
                        // Frames not yet handed to the socket belong to calls the close fails
                        // anyway: the close goes out first instead of behind them.
                        conn.outbox.retain(|o| matches!(o, Outgoing::Close { .. }));
                        conn.outbox.push_back(Outgoing::Close { code, reason });
                    }
                }
                Effect::DropConnection { conn } => {
                    self.remove_conn(conn);
                    self.connecting.retain(|(id, _)| *id != conn);
                }
                Effect::Reply { waiter, reply } => {
                    if !self.traces.is_empty() {
                        let failure = match &reply {
                            Reply::Failed(failure) => Some(failure),
                            _ => None,
                        };
                        let now = self.now();
                        self.traces.end(waiter, failure, false, now);
                    }
                    let reply = match reply {
                        Reply::Opened(info) => DriverReply::Opened(self.emitter.object(info)),
                        Reply::Object { info, result } => {
                            DriverReply::Object(self.emitter.object(info), result)
                        }
                        Reply::Result(raw) => DriverReply::Result(raw),
                        Reply::Delta {
                            handle,
                            method,
                            result,
                        } => match self.apply_delta(handle, method, &result) {
                            Ok(members) => DriverReply::Shared(SharedResult::new(members)),
                            Err(error) => DriverReply::DeltaFailed(error),
                        },
                        Reply::Done => DriverReply::Done,
                        Reply::Failed(failure) => DriverReply::Failed(failure),
                    };
                    if let Some(sender) = self.waiters.remove(&waiter) {
                        // The caller may have dropped its future: nothing to tell then.
                        let _ = sender.send(reply);
                    }
                }
                Effect::DropBaselines { handle, method } => match method {
                    Some(method) => {
                        self.delta.remove_method(handle, &method);
                    }
                    None => {
                        self.delta.drop_handle(handle);
                    }
                },
                Effect::ApplyDelta {
                    handle,
                    method,
                    result,
                } => {
                    // Nobody waits for the values; a failure is still handed in.
                    let _ = self.apply_delta(handle, method, &result);
                }
                Effect::ClearBaselines => self.delta.clear(),
                Effect::Emit(Event::TrafficReceived { object }) => {
                    if let Some(text) = &self.frame {
                        self.emitter
                            .traffic(Direction::Received, text, object.as_ref());
                    }
                }
                Effect::Emit(event) => {
                    let handle = |key: ObjectKey| self.machine.object(key).map(|o| o.handle);
                    self.emitter.emit(event, handle);
                }
            }
        }
    }
}

/// Writes one connection's waiting frames: hands them to the sink while it is ready, then
/// flushes. Sets `progress` when something moved.
fn write(conn: &mut Conn, cx: &mut Context<'_>, progress: &mut bool) -> Result<(), TransportError> {
    while !conn.outbox.is_empty() {
        match Pin::new(&mut *conn.frames).poll_ready(cx) {
            Poll::Pending => break,
            Poll::Ready(ready) => ready?,
        }
        if let Some(item) = conn.outbox.pop_front() {
            Pin::new(&mut *conn.frames).start_send(item)?;
            conn.unflushed = true;
            *progress = true;
        }
    }
    if conn.unflushed {
        if let Poll::Ready(flushed) = Pin::new(&mut *conn.frames).poll_flush(cx) {
            conn.unflushed = false;
            *progress = true;
            flushed?;
        }
    }
    Ok(())
}

impl Future for Driver {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.wake.begin(cx.waker()) {
            for conn in &mut this.conns {
                conn.read_idle = false;
            }
        }
        for _ in 0..PASSES_BEFORE_YIELD {
            this.now = None;
            let mut progress = this.poll_control();
            progress |= this.poll_cancels();
            progress |= this.poll_connects();
            progress |= this.poll_frames();
            progress |= this.poll_calls();
            progress |= this.poll_writes();
            progress |= this.poll_timer();
            if this.machine.is_quiet() {
                // Nothing more will be told: streams end, while connections finish.
                this.emitter.close();
                if this.machine.is_finished() {
                    return Poll::Ready(());
                }
            }
            if !progress {
                return Poll::Pending;
            }
        }
        // Still busy: let the runtime run others, and come back at once.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Streams end when the driver does, however it ends (runtime shut down included).
        self.emitter.close();
    }
}

/// The machine's clock: tokio's, so paused-time tests drive it.
fn clock() -> std::time::Instant {
    Instant::now().into_std()
}
