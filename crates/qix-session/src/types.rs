//! Small value types shared by inputs, effects and the machine.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

/// A connection, as numbered by the machine. A fact about a connection that is no longer the
/// current one is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// The driver's token for whoever waits for a command's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Waiter(pub u64);

/// The stable identity of a remote object in the registry. Keys are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(pub u64);

/// How a WebSocket connection ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CloseEvent {
    /// The close code (1006 when the connection dropped without a close frame).
    pub code: u16,
    /// The close reason.
    pub reason: String,
}

impl CloseEvent {
    /// A close event with this code and reason.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for CloseEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "code {}", self.code)
        } else {
            write!(f, "code {}, reason {:?}", self.code, self.reason)
        }
    }
}

/// An error from outside the machine (the transport's), carried opaquely. One cause may fail
/// many calls, so it is shared; two causes are equal when they are the same error value.
#[derive(Clone)]
pub struct Cause(Arc<dyn StdError + Send + Sync + 'static>);

impl Cause {
    /// Wraps an error.
    pub fn new(error: impl StdError + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }

    /// Wraps an already shared error.
    pub fn from_arc(error: Arc<dyn StdError + Send + Sync + 'static>) -> Self {
        Self(error)
    }

    /// The error.
    pub fn get(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }

    /// The shared error.
    pub fn as_arc(&self) -> &Arc<dyn StdError + Send + Sync + 'static> {
        &self.0
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Cause {}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The lifecycle states of docs/behaviour.md, "Lifecycle".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Never opened.
    Idle,
    /// The first connection (or the one after a close) is being opened.
    Connecting,
    /// Connected; calls go out.
    Open,
    /// `suspend()` closed the socket; waiting for the close to complete.
    Suspending,
    /// No socket; objects kept; calls fail with `SessionSuspended`.
    Suspended,
    /// `resume()` is connecting, waiting for `OnConnected`, or restoring objects.
    Resuming,
    /// `close()` closed the socket; waiting for the close to complete.
    Closing,
    /// Closed; `open()` may open it again.
    Closed,
}

/// Why a call failed with `NotConnected` (-1): the enigma.js messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotConnectedReason {
    /// The call was made while the session had no socket: "Not connected".
    NotConnected,
    /// The socket closed while the call was pending: "Socket closed".
    SocketClosed,
    /// The socket failed while the call was pending: "Socket error".
    SocketError,
}

impl NotConnectedReason {
    /// The enigma.js message.
    pub fn message(self) -> &'static str {
        match self {
            Self::NotConnected => "Not connected",
            Self::SocketClosed => "Socket closed",
            Self::SocketError => "Socket error",
        }
    }
}

/// Why a command failed. Plain data: one close fails many calls with equal values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// -1: no socket, or the socket closed or failed while the call was pending.
    #[error("{}{}", reason.message(), close.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    NotConnected {
        /// Which of the three situations.
        reason: NotConnectedReason,
        /// The close event, when there is one.
        close: Option<CloseEvent>,
    },
    /// -2: the engine answered an object request with `qHandle: null, qType: null`.
    #[error("Object not found")]
    ObjectNotFound,
    /// -11: the session is suspended (or suspending, or resuming).
    #[error("Session suspended")]
    SessionSuspended,
    /// -12: `resume(true)` found a fresh engine session.
    #[error("Not attached: the engine created a new session (SESSION_CREATED)")]
    SessionNotAttached,
    /// The engine answered with an error.
    #[error(transparent)]
    Engine(qix_rpc::EngineError),
    /// The connection could not be opened.
    #[error("could not connect: {0}")]
    ConnectFailed(Cause),
    /// `OnConnected` reported an error state (Q-RES-2).
    #[error("the engine refused the session: OnConnected qSessionState {state}")]
    SessionState {
        /// The `qSessionState` value.
        state: String,
    },
    /// The command is not allowed in the session's current state.
    #[error("cannot {operation} a session that is {state:?}")]
    InvalidState {
        /// What was attempted (`resume`, `suspend`, ...).
        operation: &'static str,
        /// The state it was attempted in.
        state: State,
    },
    /// The call targets an object that was closed.
    #[error("the object was closed")]
    ObjectClosed,
    /// The engine's answer does not have the shape the call needs (e.g. no `qReturn` object
    /// reference for a call that returns an object).
    #[error("unexpected response: {0}")]
    BadResponse(String),
}

/// Session settings that the machine's rules depend on.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Suspend instead of close when the connection closes unasked (Q-SUSP-3). Default
    /// `false`.
    pub suspend_on_close: bool,
    /// How long `resume` waits for `OnConnected` before assuming `SESSION_CREATED`
    /// (Q-RES-1). Default 5 s.
    pub on_connected_timeout: Duration,
    /// Extra members written on every request (e.g. `return_empty`). Default none.
    pub protocol: Map<String, Value>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            suspend_on_close: false,
            on_connected_timeout: Duration::from_secs(5),
            protocol: Map::new(),
        }
    }
}
