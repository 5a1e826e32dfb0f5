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

/// What the engine said of the engine session when a connection opened (Q-OPEN-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EngineSession {
    /// The socket joined an engine session that was still alive (`SESSION_ATTACHED`): its
    /// open doc and session objects are there.
    Attached,
    /// The engine made a new session (`SESSION_CREATED`): nothing of an earlier one is left.
    Created,
    /// Not known: no connection yet, or the engine sent no `OnConnected` in time.
    Unknown,
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
    /// The call got no answer within its timeout (Q-TIME-1); the engine was sent
    /// `CancelRequest` for it.
    #[error("no answer to request {request} within {elapsed:?}")]
    Timeout {
        /// The request id the call was sent with.
        request: qix_rpc::RequestId,
        /// How long the call waited, from when it was written.
        elapsed: Duration,
    },
    /// The connection dropped while a call that changes engine state was pending, with reads
    /// replayed on (Q-RETRY-1): it was not replayed, and may or may not have run.
    #[error("interrupted by the connection's close ({close}): the call may or may not have run")]
    Interrupted {
        /// How the connection ended.
        close: CloseEvent,
    },
    /// The resume did not finish within its bound (Q-TIME-1): the session stays suspended.
    #[error("the resume did not finish within {0:?}")]
    ResumeTimeout(Duration),
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
    /// The frame answering the call was malformed (Q-REQ-8): the call fails with what is
    /// wrong with it instead of waiting for an answer that will not come.
    #[error("the engine's answer is malformed: {0}")]
    BadFrame(qix_rpc::DecodeError),
    /// The engine's answer does not have the shape the call needs (e.g. no `qReturn` object
    /// reference for a call that returns an object).
    #[error("unexpected response: {0}")]
    BadResponse(String),
}

/// The enigma.js error codes of the failures that have one, defined here once.
pub mod codes {
    /// `NOT_CONNECTED`.
    pub const NOT_CONNECTED: i32 = -1;
    /// `OBJECT_NOT_FOUND`.
    pub const OBJECT_NOT_FOUND: i32 = -2;
    /// `EXPECTED_ARRAY_OF_PATCHES`.
    pub const EXPECTED_ARRAY_OF_PATCHES: i32 = -3;
    /// `PATCH_HAS_NO_PARENT`.
    pub const PATCH_HAS_NO_PARENT: i32 = -4;
    /// `SESSION_SUSPENDED`.
    pub const SESSION_SUSPENDED: i32 = -11;
    /// `SESSION_NOT_ATTACHED`.
    pub const SESSION_NOT_ATTACHED: i32 = -12;
}

impl Failure {
    /// The enigma.js code of this failure, when enigma.js has one: -1 for every
    /// `NotConnected` and a connect that failed, -2, -11, -12; the engine's own code for an
    /// engine error. `None` for failures enigma.js never produced.
    pub fn enigma_code(&self) -> Option<i32> {
        match self {
            Self::NotConnected { .. } | Self::ConnectFailed(_) | Self::Interrupted { .. } => {
                Some(codes::NOT_CONNECTED)
            }
            Self::ObjectNotFound => Some(codes::OBJECT_NOT_FOUND),
            Self::SessionSuspended => Some(codes::SESSION_SUSPENDED),
            Self::SessionNotAttached => Some(codes::SESSION_NOT_ATTACHED),
            _ => None,
        }
    }
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
    /// How long a close handshake may take (the peer's answer, then the end of the
    /// connection) before the connection is dropped (Q-CLOSE-4). Default 5 s.
    pub close_timeout: Duration,
    /// How long a session whose every handle is gone may take to close before whatever is
    /// still open is dropped (Q-CLOSE-5). Default 10 s.
    pub release_grace: Duration,
    /// How long a call may wait for its answer when it sets no timeout of its own
    /// (Q-TIME-1). Default `None`: engine calls such as a reload may run for hours.
    pub request_timeout: Option<Duration>,
    /// How long a whole resume (connect, `OnConnected`, restore) may take (Q-TIME-1).
    /// Default 30 s.
    pub resume_timeout: Duration,
    /// At most this many requests written and not answered; calls beyond it wait
    /// (Q-FLOW-1). Default 1024.
    pub max_in_flight: usize,
    /// How a dead connection is found (Q-LIVE-1). Default: see [`Liveness`].
    pub liveness: Option<Liveness>,
    /// Resume on its own after a network suspension (Q-AUTO-1). Default `None`: off.
    pub auto_resume: Option<AutoResume>,
    /// Seeds the jitter of the back-off; a driver sets a random one. Default 0x9e37_79b9.
    pub jitter_seed: u64,
    /// Ask the engine for delta answers (JSON patches against its previous answer) where
    /// the rules allow it (Q-DELTA-1). Default `true`, as enigma.js.
    pub delta: bool,
}

/// How a session resumes on its own after a network suspension (Q-AUTO-1). Whether it
/// tries depends on the close code: never after 1000, 4001 (idle), 4002 (licence), 4005
/// (session limit), 4006 (authentication) and the 42xx permission and not-found codes; at
/// once after 4003 (engine terminating), 4004 (app deleted) and 4007 (app mode changed); with
/// back-off after the rest (1001, 1006, 1011, 4205 too many requests, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AutoResume {
    /// The delays between attempts. Default: exponential from 1 s, capped at 30 s, jittered.
    pub backoff: Backoff,
    /// At most this many attempts. Default 10.
    pub max_attempts: u32,
    /// Resume with `only_if_attached` (re-attach to the same engine session). Default true.
    pub only_if_attached: bool,
    /// Replay the calls a network drop interrupted once the automatic resume succeeds, for
    /// methods that only read ([`is_read_method`](crate::is_read_method)); the others fail
    /// with [`Failure::Interrupted`]: they may or may not have run (Q-RETRY-1). Default
    /// false: every pending call fails with `NotConnected`, as in enigma.js.
    pub replay_reads: bool,
    /// When re-attaching fails because the engine session is gone, try once more with a
    /// full restore (reopen the doc, restore the objects). Default false.
    pub restore_if_not_attached: bool,
}

impl Default for AutoResume {
    fn default() -> Self {
        Self {
            backoff: Backoff::Exponential {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(30),
                jitter: true,
            },
            max_attempts: 10,
            only_if_attached: true,
            restore_if_not_attached: false,
            replay_reads: false,
        }
    }
}

/// The delays between automatic resume attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backoff {
    /// These delays, one per attempt; the last repeats.
    Delays(Vec<Duration>),
    /// `initial`, doubled per attempt, at most `max`; with `jitter`, each delay is drawn
    /// between half of it and all of it.
    Exponential {
        /// The first delay.
        initial: Duration,
        /// The longest delay.
        max: Duration,
        /// Draw each delay between half and all of it.
        jitter: bool,
    },
}

impl Backoff {
    /// The delay before attempt `attempt` (1-based). `random` is asked for a number only when
    /// the delay is jittered; any spread of values does (the automatic resume uses a seeded
    /// xorshift, so its tests replay).
    ///
    /// ```
    /// use std::time::Duration;
    /// use qix_session::Backoff;
    ///
    /// let backoff = Backoff::Exponential {
    ///     initial: Duration::from_millis(100),
    ///     max: Duration::from_secs(1),
    ///     jitter: false,
    /// };
    /// let delays: Vec<_> = (1..=5).map(|n| backoff.delay(n, || 0)).collect();
    /// assert_eq!(delays, [100, 200, 400, 800, 1000].map(Duration::from_millis));
    /// ```
    pub fn delay(&self, attempt: u32, random: impl FnOnce() -> u64) -> Duration {
        match self {
            Self::Delays(delays) => {
                let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
                delays
                    .get(index)
                    .or(delays.last())
                    .copied()
                    .unwrap_or_default()
            }
            Self::Exponential {
                initial,
                max,
                jitter,
            } => {
                let doubled = initial.saturating_mul(1u32 << attempt.saturating_sub(1).min(31));
                let base = doubled.min(*max);
                if *jitter {
                    // Between half and all of the delay, so clients dropped together do not
                    // come back together.
                    let fraction = (random() % 1_000) as u32;
                    base / 2 + (base / 2) * fraction / 1_000
                } else {
                    base
                }
            }
        }
    }
}

impl Backoff {
    /// One step of xorshift64*, the generator behind the jitter: the next state after `state`
    /// and the number it gives, to pass to [`delay`](Self::delay). Deterministic, so a
    /// seeded session replays its delays; one generator for every user of the back-off.
    ///
    /// ```
    /// use qix_session::Backoff;
    /// let (state, first) = Backoff::jitter_step(42);
    /// assert_eq!(Backoff::jitter_step(42), (state, first));
    /// assert_ne!(Backoff::jitter_step(state).1, first);
    /// ```
    pub fn jitter_step(state: u64) -> (u64, u64) {
        let mut x = state.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        (x, x.wrapping_mul(0x2545_f491_4f6c_dd1d))
    }
}

/// How a connection that stopped delivering frames is found (Q-LIVE-1): when a call has
/// waited `interval` with no frame received, the session sends a probe (`ProductVersion` on
/// Global, which Qlik's proxy relays as it relays any request, unlike WebSocket pings) and
/// expects any frame within `timeout`; none means the connection is dead, which is handled
/// as a network close (1006).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Liveness {
    /// How long a call may wait with no frame received before a probe. Default 20 s.
    pub interval: Duration,
    /// How long the probe may wait for any frame. Default 10 s.
    pub timeout: Duration,
    /// Probe also when nothing is pending, for sessions that only listen. Default `false`:
    /// an idle session sends nothing, so the engine's own idle timeout keeps working.
    pub idle: bool,
}

impl Default for Liveness {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(20),
            timeout: Duration::from_secs(10),
            idle: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            suspend_on_close: false,
            on_connected_timeout: Duration::from_secs(5),
            protocol: Map::new(),
            close_timeout: Duration::from_secs(5),
            release_grace: Duration::from_secs(10),
            request_timeout: None,
            resume_timeout: Duration::from_secs(30),
            max_in_flight: 1024,
            liveness: Some(Liveness::default()),
            auto_resume: None,
            jitter_seed: 0x9e37_79b9,
            delta: true,
        }
    }
}
