//! What comes out of the machine: actions for the driver and events for the user.

use qix_rpc::{Handle, Notification, RawJson};

use crate::{Cause, CloseEvent, ConnId, Failure, ObjectKey, Waiter};

/// One thing for the driver to do, drained with [`Machine::poll_effect`](crate::Machine::poll_effect)
/// in the order the machine decided.
#[derive(Debug)]
pub enum Effect {
    /// Open a new connection with the configured transport, then hand in
    /// [`Input::Connected`](crate::Input::Connected) or
    /// [`Input::ConnectFailed`](crate::Input::ConnectFailed) for `conn`.
    Connect {
        /// The id the machine gave this connection.
        conn: ConnId,
    },
    /// Write this text frame on `conn`. Traffic listeners see it as `traffic:sent` (on the
    /// session and, when `object` is set, on that object) before it is written.
    Send {
        /// The connection.
        conn: ConnId,
        /// The encoded request.
        text: String,
        /// The object the request concerns.
        object: Option<ObjectKey>,
    },
    /// Send a close frame on `conn`, then keep reading it until it reports closed. The
    /// machine asks for this only for connected connections and times the answer itself.
    CloseSocket {
        /// The connection.
        conn: ConnId,
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// Drop `conn` at once (no close handshake; TCP ends), or stop connecting it. Nothing
    /// more is handed in for it.
    DropConnection {
        /// The connection.
        conn: ConnId,
    },
    /// The outcome of the command handed in with `waiter`. Exactly one per command.
    Reply {
        /// Whose command this answers.
        waiter: Waiter,
        /// The outcome.
        reply: Reply,
    },
    /// Forget the delta baselines of `handle`: all of them when the engine closed it
    /// (Q-DELTA-2), those of `method` when its patches could not be applied (Q-DELTA-4).
    DropBaselines {
        /// The handle.
        handle: Handle,
        /// Only this method's; `None` for all.
        method: Option<Box<str>>,
    },
    /// Apply the patches of a delta answer nobody waits for (its call was dropped or timed
    /// out), as for [`Reply::Delta`], so that the next answer applies to the right value
    /// (Q-DELTA-2). The values are not handed to anyone; a failure is handed in as
    /// [`Input::DeltaFailed`](crate::Input::DeltaFailed).
    ApplyDelta {
        /// The handle the call was sent to.
        handle: Handle,
        /// The method.
        method: Box<str>,
        /// The `result` member, unparsed.
        result: RawJson,
    },
    /// Forget every delta baseline: a new connection starts, or the session closed
    /// (Q-DELTA-2).
    ClearBaselines,
    /// Tell the user.
    Emit(Event),
}

/// The outcome of a command.
#[derive(Debug)]
pub enum Reply {
    /// `Open` succeeded: the Global object.
    Opened(ObjectInfo),
    /// A call succeeded: the `result` member, unparsed, sharing the frame's bytes.
    Result(RawJson),
    /// A call succeeded with a delta answer (Q-DELTA-1): each member of `result` is a list
    /// of patches against the previous answer to `method` on `handle`. The driver applies
    /// them in the order these replies come out (the order of the frames) and hands the
    /// caller the full values; when they do not apply, it fails the call and hands in
    /// [`Input::DeltaFailed`](crate::Input::DeltaFailed).
    Delta {
        /// The handle the call was sent to.
        handle: Handle,
        /// The method.
        method: Box<str>,
        /// The `result` member, unparsed.
        result: RawJson,
    },
    /// A call that returns an object succeeded: the object, registered, and the whole
    /// `result`, for the method's other out-parameters (`qInfo`, `qNewObject`,
    /// `qSessionAppId` ...).
    Object {
        /// The object `qReturn` names.
        info: ObjectInfo,
        /// The `result` member, unparsed.
        result: RawJson,
    },
    /// `Close`, `Suspend` or `Resume` completed.
    Done,
    /// The command failed.
    Failed(Failure),
}

/// A remote object as the machine registered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The stable key; it survives resume even when the handle changes.
    pub key: ObjectKey,
    /// The current handle.
    pub handle: Handle,
    /// The object's id (`qGenericId`; `Global` for Global).
    pub id: String,
    /// The engine type (`qType`: `Doc`, `GenericObject`, ...).
    pub object_type: String,
    /// The generic type (`qGenericType`, e.g. `barchart`), when the engine gave one.
    pub generic_type: Option<String>,
}

/// Who caused a suspension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// `suspend()` was called.
    Manual,
    /// The connection closed without being asked to, with `suspend_on_close` on.
    Network,
}

/// A problem reported as `socket-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketProblem {
    /// The transport reported an error.
    Transport(Cause),
    /// A text frame could not be decoded; it was dropped.
    Decode(qix_rpc::DecodeError),
}

/// Something the user is told about, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `opened`: the session opened (not on resume).
    Opened,
    /// `closed`: the session is closed, with the close event.
    Closed(CloseEvent),
    /// `notification:<method>` and `notification:*`.
    Notification(Notification<RawJson>),
    /// `socket-error`.
    SocketError(SocketProblem),
    /// `suspended`.
    Suspended {
        /// Who caused it.
        initiator: Initiator,
        /// The close code and reason.
        close: CloseEvent,
    },
    /// `resumed`.
    Resumed,
    /// `resuming`: an automatic resume attempt is scheduled (Q-AUTO-1).
    Resuming {
        /// Which attempt, from 1.
        attempt: u32,
        /// How long until it starts.
        delay: std::time::Duration,
    },
    /// `resume-failed`: the automatic resume gave up (Q-AUTO-1); the session stays suspended.
    ResumeFailed {
        /// How many attempts were made.
        attempts: u32,
        /// Why the last one failed.
        failure: crate::Failure,
    },
    /// `traffic:received` for the frame being handled by the current
    /// [`Input::Frame`](crate::Input::Frame), on the session and, when `object` is set, on that
    /// object. Emitted before any other effect of that frame.
    TrafficReceived {
        /// The object the frame concerns (the object of the request it answers).
        object: Option<ObjectKey>,
    },
    /// `changed` on an object.
    ObjectChanged(ObjectKey),
    /// `closed` on an object. It is unregistered and never gets another event.
    ObjectClosed(ObjectKey),
}

/// The topics a session's events are published on, as `subscribe` takes them. Each
/// [`Event`] names its own with [`Event::topic`]; sent traffic is `traffic:sent`.
pub const SESSION_TOPICS: [&str; 12] = [
    "opened",
    "closed",
    "notification:*",
    "notification:<Method>",
    "socket-error",
    "suspended",
    "resumed",
    "resuming",
    "resume-failed",
    "traffic:*",
    "traffic:sent",
    "traffic:received",
];

/// The topics an object's events are published on.
pub const OBJECT_TOPICS: [&str; 5] = [
    "changed",
    "closed",
    "traffic:*",
    "traffic:sent",
    "traffic:received",
];

impl Event {
    /// The topic the event is published on, as `(kind, name)`: `("notification",
    /// Some("OnConnected"))` is `notification:OnConnected`. [`Event::ObjectChanged`] and
    /// [`Event::ObjectClosed`] are object topics ([`OBJECT_TOPICS`]), the others session topics
    /// ([`SESSION_TOPICS`]); traffic goes to both.
    pub fn topic(&self) -> (&'static str, Option<&str>) {
        match self {
            Self::Opened => ("opened", None),
            Self::Closed(_) | Self::ObjectClosed(_) => ("closed", None),
            Self::Notification(notification) => (
                "notification",
                notification.method.as_deref().filter(|m| !m.is_empty()),
            ),
            Self::SocketError(_) => ("socket-error", None),
            Self::Suspended { .. } => ("suspended", None),
            Self::Resumed => ("resumed", None),
            Self::Resuming { .. } => ("resuming", None),
            Self::ResumeFailed { .. } => ("resume-failed", None),
            Self::TrafficReceived { .. } => ("traffic", Some("received")),
            Self::ObjectChanged(_) => ("changed", None),
        }
    }
}

/// Whether a session emits events on `topic` (`kind`, `kind:name` or `kind:*`).
pub fn is_session_topic(topic: &str) -> bool {
    match topic.split_once(':') {
        None => matches!(
            topic,
            "opened"
                | "closed"
                | "socket-error"
                | "suspended"
                | "resumed"
                | "resuming"
                | "resume-failed"
        ),
        Some(("notification", name)) => !name.is_empty(),
        Some(("traffic", name)) => matches!(name, "*" | "sent" | "received"),
        Some(_) => false,
    }
}

/// Whether an object emits events on `topic`.
pub fn is_object_topic(topic: &str) -> bool {
    OBJECT_TOPICS.contains(&topic)
}
