//! The one error type of the facade: variants to match on, the enigma.js codes kept apart from
//! the engine's, the causes kept as `source()`, and one table of what a program can do about
//! each (`is_disconnect`, `is_retryable`).

mod engine_code;
#[cfg(test)]
mod walk;

pub use engine_code::EngineCode;

use std::sync::Arc;

use qix_session::{Failure, NotConnectedReason, State};

pub use qix_rpc::EngineError;
pub use qix_transport::TransportError;

use crate::CloseEvent;

/// Everything that can go wrong with a session, a call or a subscription.
///
/// - [`enigma_code`](Error::enigma_code): the enigma.js code of a session failure (-1, -2, -3,
///   -4, -11, -12), so code ported from JavaScript keeps its checks;
/// - [`engine_code`](Error::engine_code): the engine's code of an engine error, by name
///   ([`EngineCode`]); the two never mix (the engine has a -1 too);
/// - [`is_disconnect`](Error::is_disconnect) and [`is_retryable`](Error::is_retryable): what a
///   program can do about it, from one table;
/// - `source()`: the cause (a transport's error, its I/O error, serde's), kept whole.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// -1: the session has no socket ("Not connected"), or the socket closed ("Socket closed")
    /// or failed ("Socket error") while the call was pending.
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
    /// -3: a member of a delta answer's `result` is not an array of patches (Q-DELTA-1). Only
    /// this call fails; that method on that object is asked without delta from then on
    /// (Q-DELTA-4).
    #[error("Expected array of patches: {0}")]
    ExpectedArrayOfPatches(#[source] qix_delta::Error),
    /// -4: a patch of a delta answer could not be applied (enigma.js gives this code to every
    /// patch that fails; the [`qix_delta::PatchError`] inside says which patch and why). Only
    /// this call fails, as for -3.
    #[error("Patch has no parent: {0}")]
    PatchHasNoParent(#[source] qix_delta::Error),
    /// -11: the session is suspended (or suspending, or resuming).
    #[error("Session suspended")]
    SessionSuspended,
    /// -12: `resume(true)` found a new engine session (`SESSION_CREATED`).
    #[error("Not attached: the engine created a new session (SESSION_CREATED)")]
    SessionNotAttached,
    /// The engine answered with an error; [`code`](Error::code) is the engine's code.
    #[error(transparent)]
    Engine(EngineError),
    /// The connection could not be opened, or the transport failed. With the WebSocket
    /// transport the error is a [`TransportError`] ([`Error::transport_error`]); a handshake
    /// refused with an HTTP status keeps it ([`Error::http_status`]).
    #[error("transport: {0}")]
    Transport(#[source] Arc<dyn std::error::Error + Send + Sync + 'static>),
    /// A frame from the engine could not be decoded (reported as `socket-error`; the frame is
    /// dropped and the session goes on).
    #[error("bad frame from the engine: {0}")]
    Protocol(#[source] qix_rpc::DecodeError),
    /// `OnConnected` reported a state that is an error (`SESSION_ERROR_*`).
    #[error("the engine refused the session: OnConnected qSessionState {state}")]
    SessionState {
        /// The `qSessionState` value.
        state: String,
    },
    /// The call got no answer within its timeout (Q-TIME-1); the engine was sent
    /// `CancelRequest` for it.
    #[error("{method} (request {request}) got no answer within {elapsed:?}")]
    Timeout {
        /// The engine method called.
        method: String,
        /// The request id it was sent with.
        request: u64,
        /// How long it waited, from when it was written.
        elapsed: std::time::Duration,
    },
    /// A resume did not finish within its bound
    /// ([`resume_timeout`](crate::SessionBuilder::resume_timeout)); the session stays
    /// suspended.
    #[error("the resume did not finish within {0:?}")]
    ResumeTimeout(std::time::Duration),
    /// The operation is not allowed in the session's current state (e.g. `resume` on a session
    /// that is not suspended).
    #[error("cannot {operation} a session that is {state:?}")]
    InvalidState {
        /// What was attempted.
        operation: &'static str,
        /// The state it was attempted in.
        state: State,
    },
    /// The object was closed (by the engine, by `close`, or because a resume could not restore
    /// it); make a new one.
    #[error("the object was closed")]
    ObjectClosed,
    /// The engine's answer does not have the shape the call needs.
    #[error("unexpected response: {0}")]
    BadResponse(String),
    /// The call's parameters are neither a JSON array nor an object.
    #[error("invalid params: {0}")]
    InvalidParams(#[from] qix_rpc::ParamsError),
    /// The call could not be encoded: a method name that is not a plain name, or params that
    /// are not a JSON array or object.
    #[error("invalid call: {0}")]
    InvalidCall(#[source] qix_rpc::MethodError),
    /// The engine's answer to the call was malformed (Q-REQ-8); the session also reported it
    /// as `socket-error`.
    #[error("the engine's answer is malformed: {0}")]
    BadFrame(#[source] qix_rpc::DecodeError),
    /// The result could not be turned into the requested type.
    #[error("the result does not fit the requested type: {0}")]
    ResultType(#[source] Arc<serde_json::Error>),
    /// `subscribe` or `on` was given a topic that does not exist.
    #[error("unknown topic {topic:?}; known topics: {}", known.join(", "))]
    UnknownTopic {
        /// The topic given.
        topic: String,
        /// The topics that exist, for the message.
        known: &'static [&'static str],
    },
    /// A close code or reason that a WebSocket close frame cannot carry.
    #[error("invalid close: {0}")]
    InvalidClose(String),
    /// A builder setting is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A transport setting given to the builder is invalid (a URL, a header, a certificate, a
    /// proxy ...): the transport's error says which and why.
    #[error("invalid transport setting: {0}")]
    InvalidSetting(#[source] Arc<TransportError>),
    /// The session's driver task is gone (its runtime shut down, or every `Session` handle was
    /// dropped while an `Object` was still in use).
    #[error("the session is gone: its driver task has stopped")]
    SessionGone,
    /// No tokio runtime is running where the session was built.
    #[error("no tokio runtime: build sessions inside a tokio runtime")]
    NoRuntime,
    /// A listener could not be added (its thread could not be started).
    #[error("could not add the listener: {0}")]
    Listener(#[source] qix_events::ListenError),
    /// A request interceptor refused the call, with its reason; nothing was written (Q-INT-2).
    #[error("refused by an interceptor: {0}")]
    Refused(String),
    /// The connection dropped while the call was pending, and the call changes engine state,
    /// so it was not replayed after the automatic resume (Q-RETRY-1): **it may or may not have
    /// run**. Look at the engine's state before making it again. Calls that only read are
    /// replayed instead, when [`AutoResume::replay_reads`](crate::AutoResume) is on.
    #[error("{method} was interrupted by the connection's close ({close}): it may or may not have run on the engine")]
    Interrupted {
        /// The engine method called.
        method: String,
        /// How the connection ended.
        close: CloseEvent,
    },
}

/// What a program can do about an error.
#[derive(Debug, Clone, Copy)]
struct Class {
    disconnect: bool,
    retryable: bool,
}

impl From<qix_rpc::MethodError> for Error {
    fn from(error: qix_rpc::MethodError) -> Self {
        match error {
            qix_rpc::MethodError::Params(error) => Self::InvalidParams(error),
            other => Self::InvalidCall(other),
        }
    }
}

impl Error {
    /// The enigma.js code of a session failure: -1 `NOT_CONNECTED` (also for a transport that
    /// failed and a session whose driver is gone), -2 `OBJECT_NOT_FOUND`, -3
    /// `EXPECTED_ARRAY_OF_PATCHES`, -4 `PATCH_HAS_NO_PARENT`, -11
    /// `SESSION_SUSPENDED`, -12 `SESSION_NOT_ATTACHED`. `None` for engine errors (see
    /// [`engine_code`](Self::engine_code)) and for errors enigma.js never produced.
    pub fn enigma_code(&self) -> Option<i32> {
        use qix_session::codes;
        match self {
            Self::NotConnected { .. }
            | Self::Interrupted { .. }
            | Self::Transport(_)
            | Self::SessionGone => Some(codes::NOT_CONNECTED),
            Self::ObjectNotFound => Some(codes::OBJECT_NOT_FOUND),
            Self::ExpectedArrayOfPatches(_) => Some(codes::EXPECTED_ARRAY_OF_PATCHES),
            Self::PatchHasNoParent(_) => Some(codes::PATCH_HAS_NO_PARENT),
            Self::SessionSuspended => Some(codes::SESSION_SUSPENDED),
            Self::SessionNotAttached => Some(codes::SESSION_NOT_ATTACHED),
            _ => None,
        }
    }

    /// The engine's code of an engine error, by name (`LOCERR_*`); `None` for every other error.
    pub fn engine_code(&self) -> Option<EngineCode> {
        match self {
            Self::Engine(error) => Some(EngineCode::from(error.code)),
            _ => None,
        }
    }

    /// The code enigma.js would give: the [`enigma_code`](Self::enigma_code) of a session
    /// failure, else the engine's code of an engine error, else `None`. The two ranges overlap
    /// (-1 is also `LOCERR_GENERIC_UNKNOWN`): to act on a code, ask `enigma_code` or
    /// `engine_code`.
    pub fn code(&self) -> Option<i32> {
        self.enigma_code()
            .or_else(|| self.engine_code().map(i32::from))
    }

    /// True when the connection is gone or could not be made: the call or command did not
    /// reach the engine, or its answer could not come back. A reconnect (`open` again, or
    /// `resume`) is what helps.
    pub fn is_disconnect(&self) -> bool {
        self.class().disconnect
    }

    /// True when the same call may succeed if made again, as it is, later: the engine
    /// aborted it (`LOCERR_GENERIC_ABORTED`, 15), it timed out, or the connection dropped
    /// (1006, a refused or reset connection, a connect timeout, an HTTP 502/503/504, 429). Not
    /// for engine errors about the call itself, refused credentials or bad input. Note that a
    /// call that may have run (a timeout, a drop) should only be repeated when it only reads.
    pub fn is_retryable(&self) -> bool {
        self.class().retryable
    }

    /// The one table behind `is_disconnect` and `is_retryable`.
    fn class(&self) -> Class {
        let class = |disconnect, retryable| Class {
            disconnect,
            retryable,
        };
        match self {
            Self::NotConnected { close, .. } => {
                // A close the engine chose (an idle timeout, a licence) is no network failure.
                let dropped = close.as_ref().is_none_or(|close| {
                    matches!(close.code, 1001 | 1006 | 1011 | 1012 | 1013 | 4205)
                });
                class(true, dropped)
            }
            Self::Transport(cause) => {
                let transport = cause.downcast_ref::<TransportError>();
                let retryable = match transport {
                    Some(TransportError::HandshakeRejected { status, .. }) => {
                        matches!(status, 429 | 502 | 503 | 504)
                    }
                    Some(
                        TransportError::Connect { .. }
                        | TransportError::ConnectTimeout { .. }
                        | TransportError::Io(_),
                    ) => true,
                    _ => false,
                };
                class(true, retryable)
            }
            Self::SessionGone => class(true, false),
            // It may have run: repeating it could do it twice.
            Self::Interrupted { .. } => class(true, false),
            Self::Timeout { .. } | Self::ResumeTimeout(_) => class(false, true),
            Self::Engine(error) => class(
                false,
                matches!(
                    EngineCode::from(error.code),
                    EngineCode::GenericAborted | EngineCode::GenericConnectionLost
                ),
            ),
            _ => class(false, false),
        }
    }

    /// The HTTP status of a refused handshake (401, 403, 404, ...), when that is what failed.
    pub fn http_status(&self) -> Option<u16> {
        self.transport_error().and_then(TransportError::http_status)
    }

    /// The transport's error, when this is a failure of qix's own transports.
    pub fn transport_error(&self) -> Option<&TransportError> {
        match self {
            Self::Transport(error) => error.downcast_ref::<TransportError>(),
            _ => None,
        }
    }

    pub(crate) fn from_failure(failure: Failure) -> Self {
        match failure {
            Failure::NotConnected { reason, close } => Self::NotConnected { reason, close },
            Failure::ObjectNotFound => Self::ObjectNotFound,
            Failure::SessionSuspended => Self::SessionSuspended,
            Failure::SessionNotAttached => Self::SessionNotAttached,
            Failure::Engine(error) => Self::Engine(error),
            Failure::ConnectFailed(cause) => Self::from_cause(&cause),
            Failure::SessionState { state } => Self::SessionState { state },
            Failure::InvalidState { operation, state } => Self::InvalidState { operation, state },
            Failure::ObjectClosed => Self::ObjectClosed,
            Failure::BadResponse(what) => Self::BadResponse(what),
            Failure::BadFrame(error) => Self::BadFrame(error),
            Failure::Timeout { request, elapsed } => Self::Timeout {
                method: String::new(),
                request,
                elapsed,
            },
            Failure::ResumeTimeout(bound) => Self::ResumeTimeout(bound),
            Failure::Interrupted { close } => Self::Interrupted {
                method: String::new(),
                close,
            },
            // `Failure` is non-exhaustive; a variant added later still reaches the user whole.
            other => Self::BadResponse(other.to_string()),
        }
    }

    /// Names the method in a `Timeout` or `Interrupted` (the session knows only the request
    /// id).
    pub(crate) fn for_method(self, method: &str) -> Self {
        match self {
            Self::Interrupted { close, .. } => Self::Interrupted {
                method: method.to_owned(),
                close,
            },
            Self::Timeout {
                request, elapsed, ..
            } => Self::Timeout {
                method: method.to_owned(),
                request,
                elapsed,
            },
            other => other,
        }
    }

    /// A delta answer that could not be applied (Q-DELTA-1).
    pub(crate) fn from_delta(error: qix_delta::Error) -> Self {
        if error.is_expected_array_of_patches() {
            Self::ExpectedArrayOfPatches(error)
        } else if error.patch_error().is_some() {
            Self::PatchHasNoParent(error)
        } else {
            // The frame decoded, so its result is JSON: this is not expected to happen.
            Self::BadResponse(error.to_string())
        }
    }

    pub(crate) fn from_cause(cause: &qix_session::Cause) -> Self {
        Self::Transport(cause.as_arc().clone())
    }
}
