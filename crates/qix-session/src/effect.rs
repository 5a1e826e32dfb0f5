//! What comes out of the machine: actions for the driver and events for the user.

use qix_rpc::{Handle, Notification, RawValue};

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
    /// Send a close frame on `conn`, then keep reading it until it reports closed. When `conn`
    /// is still connecting, close it as soon as it connects.
    CloseSocket {
        /// The connection.
        conn: ConnId,
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// The outcome of the command handed in with `waiter`. Exactly one per command.
    Reply {
        /// Whose command this answers.
        waiter: Waiter,
        /// The outcome.
        reply: Reply,
    },
    /// Tell the user.
    Emit(Event),
}

/// The outcome of a command.
#[derive(Debug)]
pub enum Reply {
    /// `Open` succeeded: the Global object.
    Opened(ObjectInfo),
    /// A call succeeded: the `result` member, unparsed.
    Result(Box<RawValue>),
    /// A call that returns an object succeeded: the object, registered.
    Object(ObjectInfo),
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
    Notification(Notification),
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
