//! The task that owns a session: the state machine, the connections, the timer and the callers
//! waiting for replies. It executes the machine's effects and decides nothing itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use qix_events::Bus;
use qix_rpc::RawValue;
use qix_session::{
    Cause, CloseEvent, Command, ConnId, Effect, Event, Failure, Input, Machine, ObjectInfo,
    ObjectKey, Reply, SocketProblem, State, Waiter,
};
use qix_transport::{Connection, FrameSink, FrameSource, Incoming, Transport, TransportError};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::event::{Direction, ObjectEvent, SessionEvent, Traffic};
use crate::object::ObjectShared;
use crate::Error;

/// How long a session whose every handle was dropped may take to close its socket before the
/// driver gives up on the close handshake and stops.
const DROP_CLOSE_GRACE: Duration = Duration::from_secs(10);

/// A frame channel bound: a reader waits (and so stops reading the socket) when the driver is
/// this far behind, instead of buffering without limit.
const CONN_EVENTS: usize = 64;

/// Frames waiting to be written before the driver stops taking calls: callers then wait on the
/// bounded call channel, so a peer that reads slowly slows callers down instead of growing a
/// queue. Lifecycle commands (close, suspend, ...) are still taken.
const MAX_QUEUED_FRAMES: usize = 256;

/// A message from a `Session` or `Object` handle.
pub(crate) struct ToDriver {
    pub(crate) command: Command,
    pub(crate) reply: oneshot::Sender<DriverReply>,
}

/// What the driver receives from the handles, and where it shows the session's state.
pub(crate) struct Inbox {
    pub(crate) control: mpsc::Receiver<ToDriver>,
    pub(crate) calls: mpsc::Receiver<ToDriver>,
    pub(crate) state: watch::Sender<State>,
}

/// A reply as the handles see it: registered objects come with their shared state.
pub(crate) enum DriverReply {
    Opened(Arc<ObjectShared>),
    Result(Box<RawValue>),
    Object(Arc<ObjectShared>),
    Done,
    Failed(Failure),
}

/// What the per-connection tasks report.
enum ConnEvent {
    Connected(Connection),
    ConnectFailed(TransportError),
    Incoming(Incoming),
    WriteFailed(TransportError),
    /// The close frame could not be sent: the connection is torn down instead.
    CloseFailed(TransportError),
    /// The writer's queue fell below the limit; calls may be taken again.
    Drained,
}

/// The driver's side of one connection: its writer task's queues and the tasks to stop when the
/// connection is over or the driver ends.
struct Conn {
    texts: mpsc::UnboundedSender<String>,
    close: mpsc::UnboundedSender<(u16, String)>,
    queued: Arc<AtomicUsize>,
    tasks: [AbortHandle; 2],
}

impl Conn {
    fn send(&self, text: String) {
        self.queued.fetch_add(1, Ordering::AcqRel);
        // A writer that is gone belongs to a connection whose close is already on its way to
        // the machine, which fails the call then.
        let _ = self.texts.send(text);
    }

    fn close(&self, code: u16, reason: String) {
        let _ = self.close.send((code, reason));
    }

    fn backlogged(&self) -> bool {
        self.queued.load(Ordering::Acquire) >= MAX_QUEUED_FRAMES
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub(crate) struct Driver {
    machine: Machine,
    transport: Arc<dyn Transport>,
    /// Open, close, suspend, resume: always taken.
    control: mpsc::Receiver<ToDriver>,
    /// Calls: taken while the socket keeps up (see `MAX_QUEUED_FRAMES`).
    calls: mpsc::Receiver<ToDriver>,
    state: watch::Sender<State>,
    conn_tx: mpsc::Sender<(ConnId, ConnEvent)>,
    conn_rx: mpsc::Receiver<(ConnId, ConnEvent)>,
    conns: HashMap<ConnId, Conn>,
    connecting: HashMap<ConnId, AbortHandle>,
    close_on_connect: HashMap<ConnId, (u16, String)>,
    waiters: HashMap<Waiter, oneshot::Sender<DriverReply>>,
    next_waiter: u64,
    bus: Bus<SessionEvent>,
    objects: HashMap<ObjectKey, Arc<ObjectShared>>,
    object_capacity: usize,
    /// The text of the frame being handled, for `TrafficReceived`.
    frame: Option<String>,
}

impl Driver {
    pub(crate) fn new(
        machine: Machine,
        transport: Arc<dyn Transport>,
        handles: Inbox,
        bus: Bus<SessionEvent>,
        object_capacity: usize,
    ) -> Self {
        let (conn_tx, conn_rx) = mpsc::channel(CONN_EVENTS);
        Self {
            machine,
            transport,
            control: handles.control,
            calls: handles.calls,
            state: handles.state,
            conn_tx,
            conn_rx,
            conns: HashMap::new(),
            connecting: HashMap::new(),
            close_on_connect: HashMap::new(),
            waiters: HashMap::new(),
            next_waiter: 0,
            bus,
            objects: HashMap::new(),
            object_capacity,
            frame: None,
        }
    }

    pub(crate) async fn run(mut self) {
        let mut handles_dropped_at: Option<Instant> = None;
        loop {
            let deadline = self.machine.poll_timeout().map(Instant::from_std);
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let take_calls = handles_dropped_at.is_none() && !self.backlogged();
            tokio::select! {
                biased;
                event = self.conn_rx.recv() => {
                    // The driver holds a sender itself, so the channel never ends.
                    if let Some((conn, event)) = event {
                        self.on_conn_event(conn, event);
                    }
                }
                command = self.control.recv(), if handles_dropped_at.is_none() => match command {
                    Some(ToDriver { command, reply }) => self.command(command, reply),
                    None => {
                        // Every `Session` handle is gone: close cleanly, then stop.
                        handles_dropped_at = Some(Instant::now());
                        let (nobody, _) = oneshot::channel();
                        self.command(Command::Close { code: 1000, reason: String::new() }, nobody);
                    }
                },
                Some(ToDriver { command, reply }) = self.calls.recv(), if take_calls => {
                    self.command(command, reply);
                }
                () = sleep => {
                    self.machine.handle_timeout(now());
                    self.execute();
                }
                () = grace_over(handles_dropped_at) => break,
            }
            if handles_dropped_at.is_some()
                && matches!(self.machine.state(), State::Closed | State::Idle)
            {
                // Nothing more will be told: streams end now, while a socket still being
                // opened or closed gets its close frame below.
                self.close_buses();
                if self.conns.is_empty() && self.connecting.is_empty() {
                    break;
                }
            }
        }
        // Whatever is still open ends here: its tasks are aborted with it.
        for (_, connect) in self.connecting.drain() {
            connect.abort();
        }
        self.conns.clear();
        self.close_buses();
    }

    fn close_buses(&self) {
        self.bus.close();
        for object in self.objects.values() {
            object.bus.close();
        }
    }

    fn command(&mut self, command: Command, reply: oneshot::Sender<DriverReply>) {
        let waiter = self.waiter(reply);
        self.machine
            .handle(Input::Command { waiter, command }, now());
        self.execute();
    }

    fn backlogged(&self) -> bool {
        self.conns.values().any(Conn::backlogged)
    }

    fn waiter(&mut self, reply: oneshot::Sender<DriverReply>) -> Waiter {
        self.next_waiter += 1;
        let waiter = Waiter(self.next_waiter);
        self.waiters.insert(waiter, reply);
        waiter
    }

    fn on_conn_event(&mut self, conn: ConnId, event: ConnEvent) {
        let input = match event {
            ConnEvent::Connected(connection) => {
                self.connecting.remove(&conn);
                let (sink, source) = connection.into_parts();
                let reader = spawn_reader(conn, source, self.conn_tx.clone());
                let handle = spawn_writer(conn, sink, self.conn_tx.clone(), reader);
                if let Some((code, reason)) = self.close_on_connect.remove(&conn) {
                    handle.close(code, reason);
                }
                self.conns.insert(conn, handle);
                Input::Connected { conn }
            }
            ConnEvent::ConnectFailed(error) => {
                self.connecting.remove(&conn);
                self.close_on_connect.remove(&conn);
                Input::ConnectFailed {
                    conn,
                    cause: Cause::new(error),
                }
            }
            ConnEvent::Drained => return,
            ConnEvent::CloseFailed(error) => {
                // The connection cannot be closed politely: tear it down and report it closed,
                // as a transport reports a connection that dropped.
                self.conns.remove(&conn);
                self.machine.handle(
                    Input::SocketError {
                        conn,
                        cause: Cause::new(error),
                    },
                    now(),
                );
                self.execute();
                Input::SocketClosed {
                    conn,
                    close: CloseEvent::new(1006, ""),
                }
            }
            ConnEvent::Incoming(Incoming::Text(text)) => {
                let decoded = qix_rpc::decode(&text);
                self.frame = Some(text);
                self.machine.handle(Input::Frame { conn, decoded }, now());
                self.execute();
                self.frame = None;
                return;
            }
            ConnEvent::Incoming(Incoming::Error(error)) | ConnEvent::WriteFailed(error) => {
                Input::SocketError {
                    conn,
                    cause: Cause::new(error),
                }
            }
            ConnEvent::Incoming(Incoming::Closed(close)) => {
                self.conns.remove(&conn);
                Input::SocketClosed {
                    conn,
                    close: CloseEvent::new(close.code, close.reason),
                }
            }
        };
        self.machine.handle(input, now());
        self.execute();
    }

    /// Carries out every effect the machine has queued, in its order.
    fn execute(&mut self) {
        // The state first: a caller woken by a reply below sees the state that reply left.
        let state = self.machine.state();
        self.state
            .send_if_modified(|shown| std::mem::replace(shown, state) != state);
        while let Some(effect) = self.machine.poll_effect() {
            match effect {
                Effect::Connect { conn } => {
                    let transport = self.transport.clone();
                    let events = self.conn_tx.clone();
                    let task = tokio::spawn(async move {
                        let event = match transport.connect().await {
                            Ok(connection) => ConnEvent::Connected(connection),
                            Err(error) => ConnEvent::ConnectFailed(error),
                        };
                        let _ = events.send((conn, event)).await;
                    });
                    self.connecting.insert(conn, task.abort_handle());
                }
                Effect::Send { conn, text, object } => {
                    self.traffic(Direction::Sent, &text, object);
                    if let Some(handle) = self.conns.get(&conn) {
                        handle.send(text);
                    }
                }
                Effect::CloseSocket { conn, code, reason } => match self.conns.get(&conn) {
                    Some(handle) => handle.close(code, reason),
                    None => {
                        self.close_on_connect.insert(conn, (code, reason));
                    }
                },
                Effect::Reply { waiter, reply } => {
                    let reply = match reply {
                        Reply::Opened(info) => DriverReply::Opened(self.object_shared(info)),
                        Reply::Object(info) => DriverReply::Object(self.object_shared(info)),
                        Reply::Result(raw) => DriverReply::Result(raw),
                        Reply::Done => DriverReply::Done,
                        Reply::Failed(failure) => DriverReply::Failed(failure),
                    };
                    if let Some(sender) = self.waiters.remove(&waiter) {
                        // The caller may have dropped its future: nothing to tell then.
                        let _ = sender.send(reply);
                    }
                }
                Effect::Emit(event) => self.emit(event),
            }
        }
    }

    fn object_shared(&mut self, info: ObjectInfo) -> Arc<ObjectShared> {
        let capacity = self.object_capacity;
        self.objects
            .entry(info.key)
            .or_insert_with(|| Arc::new(ObjectShared::new(info, capacity)))
            .clone()
    }

    fn emit(&mut self, event: Event) {
        let bus = &self.bus;
        match event {
            Event::Opened => bus.publish_with("opened", None, || SessionEvent::Opened),
            Event::Closed(close) => bus.publish("closed", None, SessionEvent::Closed(close)),
            Event::Notification(notification) => {
                let method = notification.method.unwrap_or_default();
                let name = (!method.is_empty()).then_some(method.as_str());
                let params = &notification.params;
                bus.publish_with("notification", name, || SessionEvent::Notification {
                    method: method.clone(),
                    params: serde_json::from_str(params.get()).unwrap_or_default(),
                });
            }
            Event::SocketError(problem) => {
                let error = match problem {
                    SocketProblem::Transport(cause) => Error::from_cause(&cause),
                    SocketProblem::Decode(error) => Error::Protocol(error),
                };
                tracing::debug!(%error, "socket error");
                bus.publish(
                    "socket-error",
                    None,
                    SessionEvent::SocketError(Arc::new(error)),
                );
            }
            Event::Suspended { initiator, close } => bus.publish(
                "suspended",
                None,
                SessionEvent::Suspended {
                    initiator,
                    code: close.code,
                    reason: close.reason,
                },
            ),
            Event::Resumed => bus.publish("resumed", None, SessionEvent::Resumed),
            Event::TrafficReceived { object } => {
                if let Some(text) = &self.frame {
                    self.traffic(Direction::Received, text, object);
                }
            }
            Event::ObjectChanged(key) => {
                if let Some(shared) = self.objects.get(&key) {
                    // A frame that changes and closes the object leaves no handle to read: the
                    // `changed` still goes out, before the `closed`.
                    if let Some(info) = self.machine.object(key) {
                        shared.set_handle(info.handle);
                    }
                    shared.bus.publish("changed", None, ObjectEvent::Changed);
                }
            }
            Event::ObjectClosed(key) => {
                if let Some(shared) = self.objects.remove(&key) {
                    shared.mark_closed();
                    shared.bus.publish("closed", None, ObjectEvent::Closed);
                    shared.bus.close();
                }
            }
        }
    }

    /// Publishes a frame to the session's and the object's traffic listeners, copying its text
    /// only when someone listens (Q-EV-5).
    fn traffic(&self, direction: Direction, text: &str, object: Option<ObjectKey>) {
        let name = Some(direction.as_str());
        let object = object.and_then(|key| self.objects.get(&key));
        let session_listens = self.bus.is_listened("traffic", name);
        let object_listens = object.is_some_and(|o| o.bus.is_listened("traffic", name));
        if !session_listens && !object_listens {
            return;
        }
        let traffic = Traffic::new(direction, Arc::from(text));
        if let Some(object) = object.filter(|_| object_listens) {
            object
                .bus
                .publish("traffic", name, ObjectEvent::Traffic(traffic.clone()));
        }
        if session_listens {
            self.bus
                .publish("traffic", name, SessionEvent::Traffic(traffic));
        }
    }
}

/// The machine's clock: tokio's, so paused-time tests drive it.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

async fn grace_over(dropped_at: Option<Instant>) {
    match dropped_at {
        Some(at) => tokio::time::sleep_until(at + DROP_CLOSE_GRACE).await,
        None => std::future::pending().await,
    }
}

fn spawn_reader(
    conn: ConnId,
    mut source: Box<dyn FrameSource>,
    events: mpsc::Sender<(ConnId, ConnEvent)>,
) -> AbortHandle {
    tokio::spawn(async move {
        loop {
            let incoming = source.next().await;
            let last = matches!(incoming, Incoming::Closed(_));
            if events
                .send((conn, ConnEvent::Incoming(incoming)))
                .await
                .is_err()
                || last
            {
                break;
            }
        }
    })
    .abort_handle()
}

/// Writes a connection's frames in order. A close goes out at once, even while a frame waits
/// for a peer that stopped reading: that frame is given up, so the transport's close handshake
/// (and its timeout) can start.
fn spawn_writer(
    conn: ConnId,
    mut sink: Box<dyn FrameSink>,
    events: mpsc::Sender<(ConnId, ConnEvent)>,
    reader: AbortHandle,
) -> Conn {
    let (texts, mut text_rx) = mpsc::unbounded_channel::<String>();
    let (close, mut close_rx) = mpsc::unbounded_channel::<(u16, String)>();
    let queued = Arc::new(AtomicUsize::new(0));
    let counter = queued.clone();
    let writer = tokio::spawn(async move {
        let asked = loop {
            let text = tokio::select! {
                biased;
                asked = close_rx.recv() => break asked,
                text = text_rx.recv() => match text {
                    Some(text) => text,
                    None => break None,
                },
            };
            let sent = tokio::select! {
                biased;
                asked = close_rx.recv() => break asked,
                sent = sink.send(text) => sent,
            };
            if counter.fetch_sub(1, Ordering::AcqRel) == MAX_QUEUED_FRAMES {
                let _ = events.send((conn, ConnEvent::Drained)).await;
            }
            match sent {
                // The peer closed first; the reader reports how.
                Err(TransportError::ConnectionClosed) | Ok(()) => {}
                Err(error) => {
                    let _ = events.send((conn, ConnEvent::WriteFailed(error))).await;
                }
            }
        };
        if let Some((code, reason)) = asked {
            if let Err(error) = sink.close(code, &reason).await {
                let _ = events.send((conn, ConnEvent::CloseFailed(error))).await;
                return;
            }
        }
        // The sink lives until the connection is over: some transports end the connection
        // when both halves are gone.
        while text_rx.recv().await.is_some() {}
    });
    Conn {
        texts,
        close,
        queued,
        tasks: [writer.abort_handle(), reader],
    }
}
