//! The server: listener, handshakes, and the [`MockEngine`] a test holds.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use qix_rpc::EngineError;
use serde_json::Value;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::sync::{watch, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::config::{MockApp, MockConfig, OnConnected, SessionState};
use crate::connection::{self, Command, ConnShared, EndGuard, MockConnection, Progress};
use crate::delta::Baselines;
use crate::state::EngineState;
use crate::url::{encode_component, parse_path, EnginePath};

/// A client that opens TCP but never finishes its upgrade request is dropped after this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`MockEngine::shutdown`] waits for clients to answer its close frames.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Locks a mutex; a panic elsewhere while it was held does not make the mock unusable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What tests change while the engine runs.
#[derive(Debug)]
pub(crate) struct Controls {
    pub(crate) on_connected: OnConnected,
    pub(crate) rejection: Option<u16>,
    pub(crate) delays: HashMap<String, Duration>,
    pub(crate) failures: HashMap<String, EngineError>,
    /// The header every upgrade request must carry, with exactly this value.
    pub(crate) required_header: Option<(String, String)>,
    /// How many of the next requests for a method are answered "Request aborted".
    pub(crate) aborts: HashMap<String, u32>,
}

/// The engine's state, shared by the listener, every connection task and the handles.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<EngineState>,
    pub(crate) controls: Mutex<Controls>,
    pub(crate) record: bool,
    ws_config: WebSocketConfig,
    handshakes: AtomicUsize,
    accepted: AtomicU64,
    queue: UnboundedSender<MockConnection>,
}

/// A mock QIX engine listening on a local port. Dropping it stops the server and drops every
/// socket at once (clients see 1006); [`shutdown`](Self::shutdown) closes them politely.
///
/// Start it inside a tokio runtime. See the crate docs for what the engine does and an
/// example.
#[derive(Debug)]
pub struct MockEngine {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
    stop: watch::Sender<bool>,
    connections: tokio::sync::Mutex<UnboundedReceiver<MockConnection>>,
}

impl MockEngine {
    /// Starts an engine with the default [`MockConfig`] on `127.0.0.1` and a free port.
    pub async fn start() -> std::io::Result<MockEngine> {
        Self::start_with(MockConfig::default()).await
    }

    /// Starts an engine with this configuration.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub async fn start_with(config: MockConfig) -> std::io::Result<MockEngine> {
        let listener = listen(config.bind)?;
        let addr = listener.local_addr()?;
        let (queue, connections) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(EngineState::new(&config)),
            controls: Mutex::new(Controls {
                on_connected: config.on_connected.clone(),
                rejection: None,
                delays: HashMap::new(),
                failures: HashMap::new(),
                required_header: config.required_header.clone(),
                aborts: HashMap::new(),
            }),
            record: config.record,
            ws_config: WebSocketConfig::default()
                .max_message_size(Some(config.max_message_size))
                .max_frame_size(Some(config.max_message_size)),
            handshakes: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            queue,
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), stopped));
        Ok(MockEngine {
            shared,
            addr,
            task: Some(task),
            stop,
            connections: tokio::sync::Mutex::new(connections),
        })
    }

    /// The address the engine listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://<addr>` followed by `path` as given, e.g. `url("/app/x/ttl/30")`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// `ws://<addr>/app/<app>`, the app id percent-encoded as enigma.js does.
    pub fn app_url(&self, app: &str) -> String {
        self.url(&format!("/app/{}", encode_component(app)))
    }

    /// Waits for the next accepted socket. Sockets come in the order their handshakes
    /// completed, each exactly once (rejected handshakes never appear). Never returns when the
    /// engine was configured with `record(false)`: wrap it in a timeout if the client may not
    /// connect.
    pub async fn next_connection(&self) -> MockConnection {
        let mut connections = self.connections.lock().await;
        match connections.recv().await {
            Some(connection) => connection,
            // The sender lives as long as the engine, so this does not happen; wait like an
            // engine nobody connects to.
            None => std::future::pending().await,
        }
    }

    /// The next accepted socket if one is waiting, without waiting.
    pub fn try_next_connection(&self) -> Option<MockConnection> {
        self.connections.try_lock().ok()?.try_recv().ok()
    }

    /// Changes the `OnConnected` mode for sockets whose handshake completes from now on.
    pub fn set_on_connected(&self, mode: OnConnected) {
        lock(&self.shared.controls).on_connected = mode;
    }

    /// `Some(status)`: answer every upgrade request from now on with this HTTP status (an
    /// invalid status becomes 500), e.g. 503 to test a refused connect. `None` accepts again.
    pub fn set_handshake_rejection(&self, status: Option<u16>) {
        lock(&self.shared.controls).rejection = status;
    }

    /// `Some((name, value))`: every upgrade request from now on must carry this header with
    /// exactly this value, else it is refused with 401 (as
    /// [`MockConfig::required_header`](crate::MockConfig::required_header)); `None` requires
    /// nothing. Changing the value mid-test is how a credential expires: sockets already open
    /// stay open, the next connect needs the new one.
    pub fn set_required_header(&self, header: Option<(&str, &str)>) {
        lock(&self.shared.controls).required_header =
            header.map(|(name, value)| (name.to_owned(), value.to_owned()));
    }

    /// Drops every engine session, as if each one's TTL had lapsed: the next socket gets
    /// `SESSION_CREATED` and a session with no doc open. Sockets that are still connected keep
    /// their (now unreachable) session until they end.
    pub fn forget_sessions(&self) {
        lock(&self.shared.state).forget_sessions();
    }

    /// The number of engine sessions alive: in use by a socket or waiting out their TTL.
    pub fn session_count(&self) -> usize {
        lock(&self.shared.state).session_count()
    }

    /// The number of WebSocket upgrade requests answered so far, rejected ones included.
    pub fn handshake_count(&self) -> usize {
        self.shared.handshakes.load(Ordering::SeqCst)
    }

    /// The number of sockets accepted so far (completed handshakes).
    pub fn connection_count(&self) -> usize {
        usize::try_from(self.shared.accepted.load(Ordering::SeqCst)).unwrap_or(usize::MAX)
    }

    /// Answers requests for `method` on every socket only after `by` (see
    /// [`MockConnection::delay_method`], which overrides this for one socket).
    /// `Duration::ZERO` removes the delay.
    pub fn delay_method(&self, method: &str, by: Duration) {
        let mut controls = lock(&self.shared.controls);
        if by.is_zero() {
            controls.delays.remove(method);
        } else {
            controls.delays.insert(method.to_owned(), by);
        }
    }

    /// Answers every request for `method`, on every socket, with this error instead of
    /// carrying it out, until [`clear_method_failure`](Self::clear_method_failure).
    pub fn fail_method(&self, method: &str, error: EngineError) {
        lock(&self.shared.controls)
            .failures
            .insert(method.to_owned(), error);
    }

    /// Answers the next `count` requests for `method`, on any socket, with the engine's
    /// error 15 `LOCERR_GENERIC_ABORTED` "Request aborted" (as the engine aborts a request a
    /// newer one made obsolete), without carrying them out; the requests after them are
    /// answered as usual. A new count replaces what is left of the old one; 0 stops aborting.
    pub fn abort_method(&self, method: &str, count: u32) {
        let mut controls = lock(&self.shared.controls);
        if count == 0 {
            controls.aborts.remove(method);
        } else {
            controls.aborts.insert(method.to_owned(), count);
        }
    }

    /// How many requests for `method` are still to be aborted (see
    /// [`abort_method`](Self::abort_method)).
    pub fn aborts_left(&self, method: &str) -> u32 {
        lock(&self.shared.controls)
            .aborts
            .get(method)
            .copied()
            .unwrap_or(0)
    }

    /// Stops failing `method`.
    pub fn clear_method_failure(&self, method: &str) {
        lock(&self.shared.controls).failures.remove(method);
    }

    /// Adds an app to engine-wide storage, replacing one with the same id (sessions that have
    /// the old one open see the new storage).
    pub fn insert_app(&self, app: MockApp) {
        lock(&self.shared.state).insert_app(app);
    }

    /// Removes an app and its persistent objects; `OpenDoc` of it then behaves as for an app
    /// never seeded. Returns whether it existed.
    pub fn remove_app(&self, id: &str) -> bool {
        lock(&self.shared.state).remove_app(id)
    }

    /// The current properties of a persistent object (seeded or created with `CreateObject`,
    /// `CreateDimension`, ...) of an app, `qInfo` included.
    pub fn object_properties(&self, app: &str, id: &str) -> Option<Value> {
        lock(&self.shared.state).app_object(app, id)
    }

    /// Stops accepting, sends every socket a close frame (1001, "engine shutting down"), waits
    /// up to 2 s for them to end, drops what is left and releases the port.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockEngine {
    fn drop(&mut self) {
        // Aborting the listener drops its JoinSet, which aborts every connection task.
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Connections the kernel completes and queues before the engine accepts them: as many as
/// Linux allows by default (`net.core.somaxconn`, 4096 since 5.4). A connect that finds the
/// queue full waits for a SYN retry, a second or more, which a load test of thousands of
/// simultaneous sessions would otherwise measure instead of the client.
const BACKLOG: u32 = 4096;

/// Binds like `TcpListener::bind`, with a deeper accept queue.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // What `TcpListener::bind` does on Unix: a restarted server may rebind its port at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut tasks = JoinSet::new();
    let mut deadline: Option<Instant> = None;
    loop {
        tokio::select! {
            accepted = listener.accept(), if deadline.is_none() => match accepted {
                Ok((stream, _peer)) => {
                    tasks.spawn(handshake_and_serve(Arc::clone(&shared), stream));
                }
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "qix-mock: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = stop.changed(), if deadline.is_none() => {
                for sender in lock(&shared.state).senders() {
                    let close = Command::Close(1001, "engine shutting down".to_owned(), None);
                    let _ = sender.send(close);
                }
                deadline = Some(Instant::now() + SHUTDOWN_GRACE);
            }
            () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => break,
        }
        if deadline.is_some() && tasks.is_empty() {
            break;
        }
    }
}

/// What a successful handshake captured.
struct Accepted {
    path: String,
    headers: Vec<(String, String)>,
    target: EnginePath,
}

async fn handshake_and_serve(shared: Arc<Shared>, stream: TcpStream) {
    // Small frames go out at once; the latency matters more than the packet count here.
    let _ = stream.set_nodelay(true);
    let mut accepted: Option<Accepted> = None;
    // The callback's signature is tungstenite's; the error response is built only on refusal.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        shared.handshakes.fetch_add(1, Ordering::SeqCst);
        match decide(&shared, request) {
            Ok(decided) => {
                accepted = Some(decided);
                Ok(response)
            }
            Err((status, body)) => Err(refusal(status, body)),
        }
    };
    let upgrade =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(shared.ws_config));
    let ws = match tokio::time::timeout(HANDSHAKE_TIMEOUT, upgrade).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(error)) => {
            tracing::debug!(%error, "qix-mock: handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!("qix-mock: handshake timed out");
            return;
        }
    };
    let Some(Accepted {
        path,
        headers,
        target,
    }) = accepted
    else {
        return;
    };

    let id = shared.accepted.fetch_add(1, Ordering::SeqCst) + 1;
    let (commands, receiver) = mpsc::unbounded_channel();
    let key = (target.app.clone(), target.identity.clone());
    let state = lock(&shared.state).attach(id, key, target.ttl, commands.clone());
    let mode = lock(&shared.controls).on_connected.clone();
    let greeting = greeting(mode, &state);
    let conn = Arc::new(ConnShared {
        id,
        path,
        headers,
        app: target.app,
        identity: target.identity,
        state,
        commands,
        held: AtomicBool::new(false),
        delays: Mutex::new(HashMap::new()),
        requests: Mutex::new(Vec::new()),
        progress: watch::Sender::new(Progress::default()),
        client_close: Mutex::new(None),
        kill: Notify::new(),
        engine: Arc::downgrade(&shared),
        baselines: Mutex::new(Baselines::default()),
    });
    let _guard = EndGuard {
        shared: Arc::clone(&shared),
        conn: Arc::clone(&conn),
    };
    if shared.record {
        let _ = shared.queue.send(MockConnection {
            inner: Arc::clone(&conn),
        });
    }
    connection::run(Arc::clone(&shared), conn, ws, receiver, greeting).await;
}

/// Accepts or refuses an upgrade request: the test's rejection first, then the URL (404), then
/// the required header (401).
/// A refusal is an HTTP status and a body.
fn decide(shared: &Shared, request: &Request) -> Result<Accepted, (u16, &'static str)> {
    let (rejection, required) = {
        let controls = lock(&shared.controls);
        (controls.rejection, controls.required_header.clone())
    };
    if let Some(status) = rejection {
        return Err((status, "handshake rejected by the test"));
    }
    let target = parse_path(request.uri().path()).ok_or((
        404,
        "no such engine endpoint: expected /app/<app>[/identity/<id>][/ttl/<seconds>]",
    ))?;
    if let Some((name, value)) = &required {
        let present = request
            .headers()
            .get_all(name.as_str())
            .iter()
            .any(|sent| sent.as_bytes() == value.as_bytes());
        if !present {
            return Err((401, "missing or wrong credentials"));
        }
    }
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let path = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |pq| pq.as_str().to_owned(),
    );
    Ok(Accepted {
        path,
        headers,
        target,
    })
}

fn refusal(status: u16, body: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(body.to_owned()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// The `OnConnected` frame for a new socket and when to send it.
fn greeting(mode: OnConnected, state: &SessionState) -> Option<(Instant, String)> {
    let (delay, state) = match mode {
        OnConnected::Send => (Duration::ZERO, state.clone()),
        OnConnected::Delay(delay) => (delay, state.clone()),
        OnConnected::Omit => return None,
        OnConnected::State(forced) => (Duration::ZERO, forced),
        OnConnected::DelayedState(delay, forced) => (delay, forced),
    };
    let frame = serde_json::json!({
        "jsonrpc": "2.0",
        "method": "OnConnected",
        "params": {"qSessionState": state.as_str()},
    });
    Some((connection::deadline_after(delay), frame.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel completes a connect once it is in the accept queue, so with nobody
    /// accepting, 1,000 connects can only all complete when the queue holds 1,000.
    #[tokio::test]
    async fn the_listener_queues_a_thousand_connects_before_any_accept() {
        let listener = listen(SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0))).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut connects = JoinSet::new();
        for _ in 0..1000 {
            connects.spawn(TcpStream::connect(addr));
        }
        let mut streams = Vec::new();
        let all = async {
            while let Some(connected) = connects.join_next().await {
                streams.push(connected.unwrap().unwrap());
            }
        };
        tokio::time::timeout(Duration::from_secs(20), all)
            .await
            .expect("connects beyond the accept queue wait for a SYN retry, forever here");
        assert_eq!(streams.len(), 1000);
        drop(listener);
    }
}
