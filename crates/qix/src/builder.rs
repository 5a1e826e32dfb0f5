//! Configuring a session.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use qix_session::{AutoResume, Config, Liveness, Machine};
use qix_transport::Transport;
#[cfg(feature = "websocket")]
use qix_transport::{TlsRoots, WebSocketTransport, WebSocketTransportBuilder};
use tokio::sync::mpsc;

use crate::driver::{Driver, Inbox};
use crate::events::Limits;
use crate::intercept::{Pipeline, RequestInterceptor, ResponseInterceptor};
use crate::session::{Senders, StatusCell};
use crate::{Error, Session};

#[cfg(feature = "websocket")]
mod websocket;

/// How many calls (and, apart, lifecycle commands) may wait for the driver before callers wait
/// too.
const COMMANDS: usize = 1024;

/// Configures and builds a [`Session`]. Made by [`Session::builder`]; every setter documents its
/// default. [`build`](Self::build) checks the settings and connects nothing: the first
/// [`Session::open`] does (unlike jsonrpsee's builder, which connects in `build`).
///
/// ```
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), qix::Error> {
/// let session = qix::Session::builder("ws://127.0.0.1:9076/app/engineData")
///     .suspend_on_close(true)
///     .header("X-Qlik-User", "UserDirectory=internal;UserId=sa")
///     .on_connected_timeout(Duration::from_secs(5))
///     .build()?;
/// # drop(session);
/// # Ok(())
/// # }
/// ```
pub struct SessionBuilder {
    #[cfg(feature = "websocket")]
    websocket: WebSocketTransportBuilder,
    transport: Option<Arc<dyn Transport>>,
    /// The URL with its secrets hidden, for the session's tracing span.
    shown_url: String,
    config: Config,
    event_capacity: usize,
    event_bytes: usize,
    pipeline: Pipeline,
}

impl SessionBuilder {
    pub(crate) fn new(url: String) -> Self {
        let shown_url = qix_transport::redact_url(&url);
        #[cfg(not(feature = "websocket"))]
        let _ = url;
        Self {
            shown_url,
            #[cfg(feature = "websocket")]
            websocket: WebSocketTransport::builder(url),
            transport: None,
            config: Config::default(),
            event_capacity: qix_events::DEFAULT_CAPACITY,
            event_bytes: qix_events::DEFAULT_MAX_BYTES,
            pipeline: Pipeline::default(),
        }
    }

    /// Suspend instead of close when the socket closes without being asked to (a server close
    /// with any code, or a dropped connection): the session emits `suspended` (network) and
    /// keeps its objects for [`Session::resume`] (Q-SUSP-3). Default `false`: such a close
    /// emits `closed` (Q-CLOSE-2).
    pub fn suspend_on_close(mut self, enabled: bool) -> Self {
        self.config.suspend_on_close = enabled;
        self
    }

    /// How long [`Session::resume`] waits for the engine's `OnConnected` notification before
    /// taking the engine session as new (`SESSION_CREATED`). Default 5 s (Q-RES-1).
    pub fn on_connected_timeout(mut self, timeout: Duration) -> Self {
        self.config.on_connected_timeout = timeout;
        self
    }

    /// Adds a request header to the WebSocket handshake (`X-Qlik-User`, `Authorization`,
    /// `Cookie`, ...). Repeatable. Default none.
    #[cfg(feature = "websocket")]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.websocket = self.websocket.header(name, value);
        self
    }

    /// How long opening a WebSocket (TCP, TLS and handshake) may take. Default 10 s.
    #[cfg(feature = "websocket")]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.websocket = self.websocket.connect_timeout(timeout);
        self
    }

    /// The largest message accepted from the engine; a larger one is an error, never an
    /// allocation of that size. Default 64 MiB; [`build`](Self::build) refuses 0.
    #[cfg(feature = "websocket")]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.websocket = self.websocket.max_message_size(bytes);
        self
    }

    /// How much the WebSocket reads from the socket at a time, which is also what an idle
    /// session keeps for reading; a larger message grows the buffer while it is read.
    /// Default 4 KiB: QIX answers are mostly small. Raise it when large answers dominate.
    #[cfg(feature = "websocket")]
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.websocket = self.websocket.read_buffer_size(bytes);
        self
    }

    /// How long a call may wait for its answer before it fails with [`Error::Timeout`] and
    /// the engine is sent `CancelRequest` (Q-TIME-1). A handle can set its own with
    /// [`Object::with_timeout`](crate::Object::with_timeout). Default: none, since engine
    /// calls such as `DoReload` may run for hours; a dead connection is found by the
    /// [`liveness`](Self::liveness) check instead.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = Some(timeout);
        self
    }

    /// How long a whole resume (connect, `OnConnected`, restoring the objects) may take
    /// before it fails with [`Error::ResumeTimeout`] and the session stays suspended
    /// (Q-TIME-1). Default 30 s.
    pub fn resume_timeout(mut self, timeout: Duration) -> Self {
        self.config.resume_timeout = timeout;
        self
    }

    /// At most this many requests written and not yet answered; callers beyond it wait in
    /// order, they do not fail (Q-FLOW-1). Default 1024.
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.config.max_in_flight = requests;
        self
    }

    /// How a dead connection is found (Q-LIVE-1), or `None` to never probe. Default: when a
    /// call has waited 20 s with no frame received, the session sends `ProductVersion` (a
    /// JSON-RPC request: Qlik's proxy is reported not to relay WebSocket pings) and expects
    /// any frame within 10 s; else the connection counts as closed with 1006, and a
    /// `suspend_on_close` session becomes suspended (network). An idle session sends nothing
    /// unless [`Liveness::idle`](qix_session::Liveness) is set.
    pub fn liveness(mut self, liveness: Option<Liveness>) -> Self {
        self.config.liveness = liveness;
        self
    }

    /// Resume on its own after a network suspension (needs
    /// [`suspend_on_close`](Self::suspend_on_close)), with back-off (Q-AUTO-1). The close code
    /// decides: never after 1000, 4001 (idle), 4002 (licence), 4005, 4006 (authentication) or
    /// 42xx; at once after 4003, 4004, 4007; with back-off after the rest. Each attempt
    /// emits `resuming` {attempt, delay}; the end is `resumed` or `resume-failed`. Calls made
    /// meanwhile fail with [`Error::SessionSuspended`]; a manual `resume`, `suspend` or
    /// `close` takes over. Default: off.
    ///
    /// Calls pending when the connection dropped fail with [`Error::NotConnected`], unless
    /// [`AutoResume::replay_reads`] is set: then those whose method only reads (`Get*`,
    /// `Evaluate*`, versions, lists: [`qix_session::is_read_method`]) are sent again once the
    /// resume succeeded and settle with their result, and the others fail with
    /// [`Error::Interrupted`], since they may or may not have run (Q-RETRY-1).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), qix::Error> {
    /// let session = qix::Session::builder("ws://127.0.0.1:9076/app/engineData")
    ///     .suspend_on_close(true)
    ///     .auto_resume(qix::AutoResume::default()) // 1 s doubling to 30 s, jittered, 10 tries
    ///     .build()?;
    /// # drop(session);
    /// # Ok(())
    /// # }
    /// ```
    pub fn auto_resume(mut self, policy: AutoResume) -> Self {
        self.config.auto_resume = Some(policy);
        self
    }

    /// How long a close handshake may take (the engine's answer to a close, then the end of
    /// the connection) before the connection is dropped and the close counts as 1006
    /// (Q-CLOSE-4). Default 5 s; [`build`](Self::build) refuses zero.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.config.close_timeout = timeout;
        self
    }

    /// Trusts this CA certificate (PEM) for `wss://`, besides the default roots.
    #[cfg(feature = "websocket")]
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        self.websocket = self.websocket.add_root_certificate_pem(pem);
        self
    }

    /// Which root certificates `wss://` trusts. Default: see [`TlsRoots`].
    #[cfg(feature = "websocket")]
    pub fn tls_roots(mut self, roots: TlsRoots) -> Self {
        self.websocket = self.websocket.tls_roots(roots);
        self
    }

    /// Asks the engine for delta answers (Q-DELTA-1): JSON patches against its previous answer
    /// to the same method on the same object, which the session applies and hands out as full
    /// values. Default `true`, as enigma.js: a large layout that changed a little travels as a
    /// few patches, and an unchanged one as `[]` (see
    /// [`Object::call_shared`](crate::Object::call_shared)). `false` asks for full answers
    /// every time.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), qix::Error> {
    /// let session = qix::Session::builder("ws://127.0.0.1:9076/app/engineData")
    ///     .delta(false)
    ///     .build()?;
    /// # drop(session);
    /// # Ok(())
    /// # }
    /// ```
    pub fn delta(mut self, enabled: bool) -> Self {
        self.config.delta = enabled;
        self
    }

    /// Adds a member written on every request, such as `return_empty`. The JSON-RPC and QIX
    /// members (`jsonrpc`, `id`, `handle`, `method`, `params`, `delta`) cannot be set this way:
    /// [`build`](Self::build) rejects them.
    pub fn protocol_member(mut self, name: impl Into<String>, value: serde_json::Value) -> Self {
        self.config.protocol.insert(name.into(), value);
        self
    }

    /// Uses this transport instead of the WebSocket one: every open and resume calls its
    /// `connect`. The URL and the WebSocket settings (headers, credentials, timeouts, TLS) are
    /// then unused, and qix adds no connect timeout of its own: `open` and `resume` wait as
    /// long as the transport's `connect` does.
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// How many events a subscription or listener may fall behind before it is told it lagged
    /// (the oldest are dropped; [`SessionEvent::Lagged`](crate::SessionEvent::Lagged) says how
    /// many). Default 1024; [`build`](Self::build) refuses 0.
    pub fn event_capacity(mut self, events: usize) -> Self {
        self.event_capacity = events;
        self
    }

    /// How many bytes the events a subscription or listener has not taken yet may hold before
    /// it is told it lagged, as for [`event_capacity`](Self::event_capacity): a traffic event
    /// weighs its frame, a notification its params, the others next to nothing. So a
    /// `traffic:received` stream that is not read holds at most this much of the engine's
    /// answers (an answer larger than the bound on its own is still delivered, alone). The same
    /// bound applies to each object's subscribers. Default 16 MiB
    /// ([`qix_events::DEFAULT_MAX_BYTES`]); [`build`](Self::build) refuses 0.
    pub fn event_bytes(mut self, bytes: usize) -> Self {
        self.event_bytes = bytes;
        self
    }

    /// Adds a request interceptor: it sees, and may change or refuse, every call before it is
    /// written (Q-INT-1). Interceptors run in the order they were added, in the caller's
    /// task. See [`intercept`](crate::intercept). Default none.
    pub fn request_interceptor(mut self, interceptor: impl RequestInterceptor) -> Self {
        self.pipeline.push_request(Arc::new(interceptor));
        self
    }

    /// Adds a response interceptor: it sees, and may change, every outcome with its request,
    /// or ask for a retry (Q-INT-3); e.g. [`RetryAborted`](crate::intercept::RetryAborted).
    /// Interceptors run in the order they were added, in the caller's task. Default none.
    pub fn response_interceptor(mut self, interceptor: impl ResponseInterceptor) -> Self {
        self.pipeline.push_response(Arc::new(interceptor));
        self
    }

    /// Checks the settings and starts the session's driver task. Connects nothing.
    ///
    /// Fails with [`Error::Config`] for a bad URL, header or protocol member, and with
    /// [`Error::NoRuntime`] outside a tokio runtime.
    pub fn build(mut self) -> Result<Session, Error> {
        if self.event_capacity == 0 {
            return Err(Error::Config(
                "event_capacity must be at least 1".to_owned(),
            ));
        }
        if self.event_bytes == 0 {
            return Err(Error::Config(
                "event_bytes must be at least 1: no event could ever be queued".to_owned(),
            ));
        }
        let config = &self.config;
        let zero = |what: &str| {
            Err(Error::Config(format!(
                "{what} must be more than zero: nothing can be answered in no time"
            )))
        };
        if config.close_timeout.is_zero() {
            return zero("close_timeout");
        }
        if config.resume_timeout.is_zero() {
            return zero("resume_timeout");
        }
        if config.on_connected_timeout.is_zero() {
            return zero("on_connected_timeout");
        }
        if config.request_timeout.is_some_and(|t| t.is_zero()) {
            return zero("request_timeout");
        }
        if let Some(liveness) = config.liveness {
            if liveness.interval.is_zero() {
                return zero("liveness interval");
            }
            if liveness.timeout.is_zero() {
                return zero("liveness timeout");
            }
        }
        if config.max_in_flight == 0 {
            return Err(Error::Config(
                "max_in_flight must be at least 1: no call could ever be made".to_owned(),
            ));
        }
        if let Some(name) = self
            .config
            .protocol
            .keys()
            .find(|name| qix_rpc::RESERVED_MEMBERS.contains(&name.as_str()))
        {
            return Err(Error::Config(format!(
                "protocol member `{name}` is written by qix itself and cannot be set"
            )));
        }
        let transport: Arc<dyn Transport> = match self.transport {
            Some(transport) => transport,
            #[cfg(feature = "websocket")]
            None => Arc::new(
                self.websocket
                    .build()
                    .map_err(|error| Error::InvalidSetting(Arc::new(error)))?,
            ),
            #[cfg(not(feature = "websocket"))]
            None => {
                return Err(Error::Config(
                    "no transport: qix was built without its `websocket` feature, so give one \
                     with SessionBuilder::transport"
                        .to_owned(),
                ))
            }
        };
        if let Some(policy) = &self.config.auto_resume {
            if policy.max_attempts == 0 {
                return Err(Error::Config(
                    "auto_resume max_attempts must be at least 1".to_owned(),
                ));
            }
        }
        // Different sessions dropped together must not come back together.
        self.config.jitter_seed = random_seed();
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let (control, control_inbox) = mpsc::channel(COMMANDS);
        let (calls, calls_inbox) = mpsc::channel(COMMANDS);
        let (cancels, cancels_inbox) = mpsc::unbounded_channel();
        let state = StatusCell::new();
        let state_view = state.clone();
        let limits = Limits {
            events: self.event_capacity,
            bytes: self.event_bytes,
        };
        let bus = limits.session_bus();
        let inbox = Inbox {
            control: control_inbox,
            calls: calls_inbox,
            cancels: cancels_inbox,
            state,
        };
        let driver = Driver::new(
            Machine::new(self.config),
            transport,
            inbox,
            bus.clone(),
            limits,
        );
        // Everything the driver logs carries the session's URL (its secrets hidden).
        let span = tracing::info_span!("session", url = %self.shown_url);
        runtime.spawn(tracing::Instrument::instrument(driver, span));
        let senders = Senders {
            control,
            calls,
            cancels,
            waiters: Arc::new(AtomicU64::new(0)),
            pipeline: (!self.pipeline.is_empty()).then(|| Arc::new(self.pipeline)),
        };
        Ok(Session::new(senders, bus, state_view))
    }
}

impl fmt::Debug for SessionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("SessionBuilder");
        #[cfg(feature = "websocket")]
        debug.field("websocket", &self.websocket);
        debug
            .field("custom_transport", &self.transport)
            .field("config", &self.config)
            .field("event_capacity", &self.event_capacity)
            .field("event_bytes", &self.event_bytes)
            .field("interceptors", &self.pipeline)
            .finish()
    }
}

/// A seed for a back-off's jitter (the session's, `RetryAborted`'s): std's per-process random
/// hash keys mixed with a counter, so that no random-number crate is needed for it.
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    hasher.finish()
}
