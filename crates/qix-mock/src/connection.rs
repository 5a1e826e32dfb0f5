//! One accepted socket: the task that serves it and the [`MockConnection`] handle a test holds.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use qix_rpc::{
    Changes, DecodeError, EngineError, Handle, Request, RequestId, Response, GLOBAL_HANDLE,
};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::{oneshot, watch, Notify};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::config::SessionState;
use crate::delta::Baselines;
use crate::engine::{lock, Shared};
use crate::state::{engine_error, ConnId, Effects};

/// How long the engine waits for the client's answer to a close frame it sent before it drops
/// the TCP connection.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// What a test (or the engine) asks a connection's task to do.
#[derive(Debug)]
pub(crate) enum Command {
    /// Write this frame now (not subject to holds); acknowledge once written.
    Frame(Message, Option<oneshot::Sender<()>>),
    /// Start the close handshake with this code and reason.
    Close(u16, String, Option<oneshot::Sender<()>>),
    /// Responses were released: flush what is ready.
    Release,
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Progress {
    requests: usize,
    ended: bool,
}

/// The state a connection's task shares with its [`MockConnection`] handles.
#[derive(Debug)]
pub(crate) struct ConnShared {
    pub(crate) id: ConnId,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) app: String,
    pub(crate) identity: Option<String>,
    pub(crate) state: SessionState,
    pub(crate) commands: UnboundedSender<Command>,
    pub(crate) held: AtomicBool,
    pub(crate) delays: Mutex<HashMap<String, Duration>>,
    pub(crate) requests: Mutex<Vec<Request>>,
    pub(crate) progress: watch::Sender<Progress>,
    pub(crate) client_close: Mutex<Option<(u16, String)>>,
    pub(crate) kill: Notify,
    pub(crate) engine: Weak<Shared>,
    /// The previous answers of delta requests on this socket.
    pub(crate) baselines: Mutex<Baselines>,
}

/// One accepted socket, as a test sees it: what the client sent in its handshake and requests,
/// and the controls to act as the engine on this socket while the session runs.
///
/// Cheap to clone; every clone controls the same socket. Methods that write (`notify`,
/// `push_changes`, `send_text`, `send_binary`, `close`) return once the frame is written, and
/// do nothing when the socket has already ended.
///
/// ```
/// # async fn demo() -> std::io::Result<()> {
/// use std::time::Duration;
/// use qix_mock::MockEngine;
/// use serde_json::json;
///
/// let engine = MockEngine::start().await?;
/// // ... a client connects to engine.app_url("my.qvf") ...
/// let connection = engine.next_connection().await;
/// connection.hold_responses();
/// let open_doc = connection.wait_for_request("OpenDoc").await;
/// connection.notify("OnAuthenticationInformation", json!({"mustAuthenticate": false})).await;
/// connection.release_responses();
/// connection.close(4001, "idle").await;
/// # let _ = (open_doc, Duration::ZERO);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MockConnection {
    pub(crate) inner: Arc<ConnShared>,
}

impl fmt::Debug for MockConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockConnection")
            .field("id", &self.inner.id)
            .field("path", &self.inner.path)
            .field("session_state", &self.inner.state)
            .field("open", &self.is_open())
            .finish()
    }
}

impl MockConnection {
    /// The socket's number: 1 for the first accepted by this engine, then counting up.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The request target of the upgrade request as the client sent it: path and query string,
    /// e.g. `/app/my.qvf/ttl/30?reloadUri=x`.
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The upgrade request's headers in the order sent; names in lowercase, values decoded
    /// lossily as UTF-8.
    pub fn headers(&self) -> &[(String, String)] {
        &self.inner.headers
    }

    /// The first value of a header, the name compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner
            .headers
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The app id from the URL (`/app/<app>`), percent-decoded.
    pub fn app(&self) -> &str {
        &self.inner.app
    }

    /// The identity from the URL (`/identity/<id>`), percent-decoded, if any.
    pub fn identity(&self) -> Option<&str> {
        self.inner.identity.as_deref()
    }

    /// Whether the engine created a session for this socket or attached it to a live one
    /// ([`SessionState::Created`] or [`SessionState::Attached`]), whatever `OnConnected` mode
    /// was in force.
    pub fn session_state(&self) -> &SessionState {
        &self.inner.state
    }

    /// Pushes a notification: `{"jsonrpc":"2.0","method":<method>,"params":<params>}`, e.g.
    /// `OnAuthenticationInformation` or `OnSessionTimedOut`. Never held back.
    pub async fn notify(&self, method: &str, params: Value) {
        let frame = json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string();
        self.write(Message::Text(frame.into())).await;
    }

    /// Pushes a plain message carrying only `change` and `close` arrays (no `id`), as the
    /// engine does when something changes outside a request. Never held back.
    pub async fn push_changes(&self, change: Vec<Handle>, close: Vec<Handle>) {
        let frame = Changes { change, close }.encode();
        self.write(Message::Text(frame.into())).await;
    }

    /// How many delta baselines the engine keeps on this socket for `handle`: one per method
    /// and result member it answered a `"delta": true` request with, until the handle closes.
    pub fn delta_baselines(&self, handle: Handle) -> usize {
        lock(&self.inner.baselines).count(handle)
    }

    /// Sends any text frame, as given (for instance text that is not JSON).
    pub async fn send_text(&self, text: impl Into<String>) {
        self.write(Message::Text(text.into().into())).await;
    }

    /// Sends a binary frame (the engine never does; a client should reject it).
    pub async fn send_binary(&self, bytes: Vec<u8>) {
        self.write(Message::Binary(bytes.into())).await;
    }

    /// Starts the close handshake with exactly this code and reason (any code is sent as
    /// given, so a test can also send codes a client should refuse). Returns once the close
    /// frame is written; answers still pending are dropped, incoming requests are ignored, and
    /// the TCP connection is dropped if the client has not answered within 5 s. Use
    /// [`closed`](Self::closed) to wait for the end.
    pub async fn close(&self, code: u16, reason: &str) {
        let (ack, done) = oneshot::channel();
        if self
            .inner
            .commands
            .send(Command::Close(code, reason.to_owned(), Some(ack)))
            .is_ok()
        {
            let _ = done.await;
        }
    }

    /// Drops the TCP connection without a close frame: the client sees an abnormal closure
    /// (1006). Takes effect at once; [`closed`](Self::closed) then resolves with `None`.
    pub fn drop_tcp(&self) {
        self.inner.kill.notify_one();
    }

    /// From now on, answers to requests are withheld (requests are still carried out at once,
    /// in order). Notifications and pushed frames still go out. Call it before the client
    /// sends the requests to hold.
    pub fn hold_responses(&self) {
        self.inner.held.store(true, Ordering::SeqCst);
    }

    /// Sends every withheld answer, in the order the requests arrived, and stops holding.
    pub fn release_responses(&self) {
        self.inner.held.store(false, Ordering::SeqCst);
        let _ = self.inner.commands.send(Command::Release);
    }

    /// Answers requests for `method` that arrive from now on only after `by` (the request is
    /// carried out at once; its answer waits). Later answers to other requests are not held
    /// up, so this is how a test gets responses out of order. Overrides
    /// [`MockEngine::delay_method`](crate::MockEngine::delay_method) on this socket:
    /// `Duration::ZERO` answers at once here whatever the engine-wide delay.
    pub fn delay_method(&self, method: &str, by: Duration) {
        let mut delays = lock(&self.inner.delays);
        delays.insert(method.to_owned(), by);
    }

    /// Every request received on this socket so far, in order (empty when the engine was
    /// configured with `record(false)`). Frames that were not valid requests are not listed.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.inner.requests).clone()
    }

    /// Waits until a request for `method` has arrived on this socket and returns the first
    /// one (at once if it already has). `None` if the socket ended without one.
    pub async fn wait_for_request(&self, method: &str) -> Option<Request> {
        let mut found = self.wait_for_requests(method, 1).await?;
        found.truncate(1);
        found.pop()
    }

    /// Waits until at least `count` requests for `method` have arrived and returns them all,
    /// in order. `None` if the socket ended with fewer.
    pub async fn wait_for_requests(&self, method: &str, count: usize) -> Option<Vec<Request>> {
        let mut progress = self.inner.progress.subscribe();
        loop {
            // Mark the progress seen before reading the log: a request recorded after this
            // point wakes `changed()`, so none can slip between the read and the wait.
            let ended = progress.borrow_and_update().ended;
            let matching: Vec<Request> = lock(&self.inner.requests)
                .iter()
                .filter(|request| request.method == method)
                .cloned()
                .collect();
            if matching.len() >= count {
                return Some(matching);
            }
            if ended || progress.changed().await.is_err() {
                return None;
            }
        }
    }

    /// Waits until the socket has ended. Returns the client's close frame as (code, reason) if
    /// it sent one (1005 and `""` for a close frame without a status), `None` if the
    /// connection ended without one (dropped TCP, on either side).
    pub async fn closed(&self) -> Option<(u16, String)> {
        let mut progress = self.inner.progress.subscribe();
        loop {
            if progress.borrow_and_update().ended {
                break;
            }
            if progress.changed().await.is_err() {
                break;
            }
        }
        lock(&self.inner.client_close).clone()
    }

    /// Whether the socket is still being served.
    pub fn is_open(&self) -> bool {
        !self.inner.progress.borrow().ended
    }

    /// The handle this socket holds for an object (by `qId`), a field (by name) or the doc
    /// (by app id), if it was handed out on this socket and not closed. Handles are numbered
    /// per engine session and never reused: a socket that reattaches gets new handles.
    pub fn handle_of(&self, id: &str) -> Option<Handle> {
        let shared = self.inner.engine.upgrade()?;
        let state = lock(&shared.state);
        state.handle_of(self.inner.id, id)
    }

    async fn write(&self, message: Message) {
        let (ack, done) = oneshot::channel();
        if self
            .inner
            .commands
            .send(Command::Frame(message, Some(ack)))
            .is_ok()
        {
            let _ = done.await;
        }
    }
}

/// Runs when a connection's task ends in any way (returned, killed or aborted): unbinds the
/// socket from its engine session, then wakes whoever waits on [`MockConnection::closed`].
pub(crate) struct EndGuard {
    pub(crate) shared: Arc<Shared>,
    pub(crate) conn: Arc<ConnShared>,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        let expiry = lock(&self.shared.state).detach(self.conn.id);
        if let Some(expiry) = expiry {
            // Without a runtime (it is shutting down) the session simply stays until the
            // engine is dropped.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let engine = Arc::downgrade(&self.shared);
                runtime.spawn(async move {
                    tokio::time::sleep(expiry.after).await;
                    if let Some(shared) = engine.upgrade() {
                        lock(&shared.state).expire(expiry);
                    }
                });
            }
        }
        self.conn
            .progress
            .send_modify(|progress| progress.ended = true);
    }
}

/// Serves one socket until it ends or a test drops its TCP connection.
pub(crate) async fn run(
    shared: Arc<Shared>,
    conn: Arc<ConnShared>,
    ws: WebSocketStream<TcpStream>,
    commands: UnboundedReceiver<Command>,
    greeting: Option<(Instant, String)>,
) {
    tokio::select! {
        biased;
        () = conn.kill.notified() => {}
        () = serve(&shared, &conn, ws, commands, greeting) => {}
    }
}

async fn serve(
    shared: &Shared,
    conn: &ConnShared,
    mut ws: WebSocketStream<TcpStream>,
    mut commands: UnboundedReceiver<Command>,
    mut greeting: Option<(Instant, String)>,
) {
    let mut outbox = Outbox::default();
    // Set once either side sent a close frame: nothing more may be written.
    let mut closing = false;
    let mut close_deadline: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if close_deadline.is_some_and(|deadline| deadline <= now) {
            return;
        }
        if greeting.as_ref().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, text)) = greeting.take() {
                if !closing && ws.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
        }
        outbox.promote(now);
        if greeting.is_none() && !closing && !conn.held.load(Ordering::SeqCst) {
            for text in outbox.take_ready(&conn.baselines) {
                if ws.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
        }
        let wake = [
            greeting.as_ref().map(|(at, _)| *at),
            outbox.next_due(),
            close_deadline,
        ]
        .into_iter()
        .flatten()
        .min();
        tokio::select! {
            incoming = ws.next() => match incoming {
                None | Some(Err(_)) => return,
                Some(Ok(Message::Text(text))) => {
                    if !closing {
                        on_text(shared, conn, &mut outbox, text.as_str());
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    if !closing {
                        let frame = error_frame(&Value::Null, -32700, "binary frame", "JSON parse error");
                        outbox.push(None, frame, None);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let close = frame.map_or((1005, String::new()), |frame| {
                        (u16::from(frame.code), frame.reason.as_str().to_owned())
                    });
                    *lock(&conn.client_close) = Some(close);
                    closing = true;
                    outbox.clear();
                }
                Some(Ok(_)) => {}
            },
            command = commands.recv() => match command {
                None => return,
                Some(Command::Frame(message, ack)) => {
                    if !closing && ws.send(message).await.is_err() {
                        return;
                    }
                    if let Some(ack) = ack {
                        let _ = ack.send(());
                    }
                }
                Some(Command::Close(code, reason, ack)) => {
                    if !closing {
                        closing = true;
                        outbox.clear();
                        close_deadline = Some(Instant::now() + CLOSE_WAIT);
                        let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
                        if ws.close(Some(frame)).await.is_err() {
                            return;
                        }
                    }
                    if let Some(ack) = ack {
                        let _ = ack.send(());
                    }
                }
                Some(Command::Release) => {}
            },
            () = sleep_until(wake.unwrap_or(now)), if wake.is_some() => {}
        }
    }
}

/// Handles one text frame from the client: decode, log, carry out, queue the answer.
fn on_text(shared: &Shared, conn: &ConnShared, outbox: &mut Outbox, text: &str) {
    let request = match classify(text) {
        Classified::Request(request) => request,
        Classified::Reply(frame) => {
            outbox.push(None, frame, None);
            return;
        }
        Classified::Ignore => return,
    };
    if shared.record {
        lock(&conn.requests).push(request.clone());
    }
    conn.progress.send_modify(|progress| progress.requests += 1);

    let (delay, failure) = {
        let mut controls = lock(&shared.controls);
        let own = lock(&conn.delays).get(&request.method).copied();
        let delay = own.or_else(|| controls.delays.get(&request.method).copied());
        let failure = controls.failures.get(&request.method).cloned();
        (
            delay,
            failure.or_else(|| take_abort(&mut controls.aborts, &request.method)),
        )
    };
    let due = delay.filter(|delay| !delay.is_zero()).map(deadline_after);

    let mut effects = Effects::default();
    let result = if let Some(error) = failure {
        Err(error)
    } else if request.handle == GLOBAL_HANDLE
        && matches!(request.method.as_str(), "CancelRequest" | "AbortRequest")
    {
        match request_id_param(request.params.as_value()) {
            Some(target) => {
                outbox.abort(target);
                Ok(json!({}))
            }
            None => Err(engine_error(
                -32602,
                "qRequestId",
                "Invalid method parameter(s)",
            )),
        }
    } else if request.handle == GLOBAL_HANDLE && request.method == "AbortAll" {
        outbox.abort_all();
        Ok(json!({}))
    } else {
        lock(&shared.state).dispatch(conn.id, &request, &mut effects)
    };
    // The patches are made when the answer is written, in the order answers go out, as the
    // engine's baseline is the previous answer it sent (a delayed answer may go out later).
    let delta = (request.delta == Some(true)).then(|| (request.handle, request.method.clone()));
    outbox.push_answer(
        request.id,
        Answer {
            result,
            delta,
            effects,
        },
        due,
    );
}

/// One of the aborts [`MockEngine::abort_method`](crate::MockEngine::abort_method) asked for.
fn take_abort(aborts: &mut HashMap<String, u32>, method: &str) -> Option<EngineError> {
    let left = aborts.get_mut(method)?;
    *left = left.saturating_sub(1);
    if *left == 0 {
        aborts.remove(method);
    }
    Some(engine_error(crate::codes::ABORTED, "", "Request aborted"))
}

/// Now plus `delay`; a delay too long to represent means "practically never".
pub(crate) fn deadline_after(delay: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    let now = Instant::now();
    now.checked_add(delay.min(CENTURY)).unwrap_or(now)
}

fn request_id_param(params: &Value) -> Option<RequestId> {
    let value = match params {
        Value::Array(items) => items.first(),
        Value::Object(members) => members.get("qRequestId"),
        _ => None,
    };
    value.and_then(Value::as_u64)
}

/// The answer to a request, written out when it goes on the wire.
#[derive(Debug)]
struct Answer {
    result: Result<Value, EngineError>,
    /// The handle and method of a request that asked for delta.
    delta: Option<(Handle, String)>,
    effects: Effects,
}

fn response_text(id: RequestId, answer: Answer, baselines: &mut Baselines) -> String {
    let Answer {
        result,
        delta,
        effects,
    } = answer;
    baselines.drop_handles(&effects.close);
    let delta = delta.filter(|_| result.is_ok());
    let result = match (result, &delta) {
        (Ok(value), Some((handle, method))) => Ok(baselines.answer(*handle, method, value)),
        (other, _) => other,
    };
    let mut response = match result.map(|value| serde_json::value::to_raw_value(&value)) {
        Ok(Ok(raw)) => {
            let mut response = Response::result(id, raw);
            response.delta = delta.is_some();
            response
        }
        Ok(Err(_)) => Response::error(id, engine_error(-32603, "", "Internal JSON-RPC error")),
        Err(error) => Response::error(id, error),
    };
    response.changes = Changes {
        change: effects.change,
        close: effects.close,
    };
    response.encode()
}

enum Classified {
    Request(Request),
    /// Not a valid request: answer with this error frame.
    Reply(String),
    /// A JSON-RPC notification from the client (no `id`): no answer is due.
    Ignore,
}

fn classify(text: &str) -> Classified {
    let error = match Request::decode(text) {
        Ok(request) => return Classified::Request(request),
        Err(error) => error,
    };
    if let DecodeError::NotJson(_) = error {
        return Classified::Reply(error_frame(
            &Value::Null,
            -32700,
            &error.to_string(),
            "JSON parse error",
        ));
    }
    let id = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(members)) => match members.get("id") {
            None if members.contains_key("method") => return Classified::Ignore,
            Some(id @ (Value::Number(_) | Value::String(_))) => id.clone(),
            _ => Value::Null,
        },
        _ => Value::Null,
    };
    Classified::Reply(error_frame(
        &id,
        -32600,
        &error.to_string(),
        "Invalid JSON request",
    ))
}

fn error_frame(id: &Value, code: i32, parameter: &str, message: &str) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "parameter": parameter, "message": message},
    })
    .to_string()
}

/// Answers not yet written, keyed by arrival order.
#[derive(Debug, Default)]
struct Outbox {
    next: u64,
    entries: BTreeMap<u64, Entry>,
}

#[derive(Debug)]
struct Entry {
    request: Option<RequestId>,
    body: Body,
    /// `Some` while delayed.
    due: Option<Instant>,
}

#[derive(Debug)]
enum Body {
    Text(String),
    Answer(RequestId, Answer),
}

impl Outbox {
    fn push(&mut self, request: Option<RequestId>, text: String, due: Option<Instant>) {
        self.insert(request, Body::Text(text), due);
    }

    fn push_answer(&mut self, request: RequestId, answer: Answer, due: Option<Instant>) {
        self.insert(Some(request), Body::Answer(request, answer), due);
    }

    fn insert(&mut self, request: Option<RequestId>, body: Body, due: Option<Instant>) {
        self.entries.insert(self.next, Entry { request, body, due });
        self.next += 1;
    }

    fn promote(&mut self, now: Instant) {
        for entry in self.entries.values_mut() {
            if entry.due.is_some_and(|due| due <= now) {
                entry.due = None;
            }
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.entries.values().filter_map(|entry| entry.due).min()
    }

    /// The answers ready to go, in arrival order; delayed ones stay.
    fn take_ready(&mut self, baselines: &Mutex<Baselines>) -> Vec<String> {
        let ready: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, entry)| entry.due.is_none())
            .map(|(&seq, _)| seq)
            .collect();
        ready
            .into_iter()
            .filter_map(|seq| self.entries.remove(&seq))
            .map(|entry| match entry.body {
                Body::Answer(id, answer) => response_text(id, answer, &mut lock(baselines)),
                Body::Text(text) => text,
            })
            .collect()
    }

    /// The still-unsent answer to `request` becomes error 15 "Request aborted", ready at once.
    fn abort(&mut self, request: RequestId) {
        if let Some(entry) = self
            .entries
            .values_mut()
            .find(|entry| entry.request == Some(request))
        {
            entry.body = Body::Text(aborted(request));
            entry.due = None;
        }
    }

    fn abort_all(&mut self) {
        for entry in self.entries.values_mut() {
            if let Some(request) = entry.request {
                entry.body = Body::Text(aborted(request));
                entry.due = None;
            }
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
    }
}

fn aborted(request: RequestId) -> String {
    Response::error(request, engine_error(15, "", "Request aborted")).encode()
}
