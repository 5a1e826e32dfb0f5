//! Configuring a session.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use qix_events::Bus;
use qix_session::{Config, Machine, State};
use qix_transport::Transport;
#[cfg(feature = "websocket")]
use qix_transport::{TlsRoots, WebSocketTransport, WebSocketTransportBuilder};
use tokio::sync::{mpsc, watch};

use crate::driver::{Driver, Inbox};
use crate::session::Senders;
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
    config: Config,
    event_capacity: usize,
}

impl SessionBuilder {
    pub(crate) fn new(url: String) -> Self {
        #[cfg(not(feature = "websocket"))]
        let _ = url;
        Self {
            #[cfg(feature = "websocket")]
            websocket: WebSocketTransport::builder(url),
            transport: None,
            config: Config::default(),
            event_capacity: qix_events::DEFAULT_CAPACITY,
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
    /// allocation of that size. Default 64 MiB.
    #[cfg(feature = "websocket")]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.websocket = self.websocket.max_message_size(bytes);
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

    /// Adds a member written on every request, such as `return_empty`. The JSON-RPC and QIX
    /// members (`jsonrpc`, `id`, `handle`, `method`, `params`, `delta`) cannot be set this way:
    /// [`build`](Self::build) rejects them.
    pub fn protocol_member(mut self, name: impl Into<String>, value: serde_json::Value) -> Self {
        self.config.protocol.insert(name.into(), value);
        self
    }

    /// Uses this transport instead of the WebSocket one: every open and resume calls its
    /// `connect`. The URL and the WebSocket settings (headers, timeouts, TLS) are then unused,
    /// and qix adds no connect timeout of its own: `open` and `resume` wait as long as the
    /// transport's `connect` does.
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// How many events a subscription or listener may fall behind before it is told it lagged.
    /// Default 1024.
    pub fn event_capacity(mut self, events: usize) -> Self {
        self.event_capacity = events;
        self
    }

    /// Checks the settings and starts the session's driver task. Connects nothing.
    ///
    /// Fails with [`Error::Config`] for a bad URL, header or protocol member, and with
    /// [`Error::NoRuntime`] outside a tokio runtime.
    pub fn build(self) -> Result<Session, Error> {
        if self.event_capacity == 0 {
            return Err(Error::Config(
                "event_capacity must be at least 1".to_owned(),
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
                    .map_err(|error| Error::Config(error.to_string()))?,
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
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let (control, control_inbox) = mpsc::channel(COMMANDS);
        let (calls, calls_inbox) = mpsc::channel(COMMANDS);
        let (state, state_view) = watch::channel(State::Idle);
        let bus = Bus::with_capacity(self.event_capacity);
        let inbox = Inbox {
            control: control_inbox,
            calls: calls_inbox,
            state,
        };
        let driver = Driver::new(
            Machine::new(self.config),
            transport,
            inbox,
            bus.clone(),
            self.event_capacity,
        );
        runtime.spawn(driver.run());
        Ok(Session::new(Senders { control, calls }, bus, state_view))
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
            .finish()
    }
}
