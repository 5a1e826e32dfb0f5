//! What goes into the machine: user commands and transport facts.

use qix_rpc::{DecodeError, Incoming, Params};

use crate::{Cause, CloseEvent, ConnId, ObjectKey, Waiter};

/// One input for [`Machine::handle`](crate::Machine::handle).
#[derive(Debug)]
pub enum Input {
    /// A user command. Its outcome comes back as one [`Effect::Reply`](crate::Effect::Reply)
    /// with the same `waiter`.
    Command {
        /// The driver's token for whoever waits for the reply.
        waiter: Waiter,
        /// What the user asked for.
        command: Command,
    },
    /// The connection asked for by [`Effect::Connect`](crate::Effect::Connect) is open.
    /// The driver hands this in before any frame of that connection.
    Connected {
        /// The connection.
        conn: ConnId,
    },
    /// The connection asked for by [`Effect::Connect`](crate::Effect::Connect) could not be
    /// opened (refused, handshake rejected, TLS, timeout).
    ConnectFailed {
        /// The connection.
        conn: ConnId,
        /// Why, as the transport reported it.
        cause: Cause,
    },
    /// A text frame arrived and was decoded by `qix_rpc::decode` (or failed to decode).
    ///
    /// The driver keeps the frame's text: a
    /// [`Event::TrafficReceived`](crate::Event::TrafficReceived) emitted while handling this
    /// input refers to it.
    Frame {
        /// The connection it arrived on.
        conn: ConnId,
        /// The decoded frame.
        decoded: Result<Incoming, DecodeError>,
    },
    /// The transport reported a problem with one frame (binary frame, bad UTF-8, too large) or
    /// with the connection; the connection may still be usable. A close follows if it is not.
    SocketError {
        /// The connection.
        conn: ConnId,
        /// The transport's error.
        cause: Cause,
    },
    /// The connection is over: the peer's close code and reason, or 1006 when it dropped.
    SocketClosed {
        /// The connection.
        conn: ConnId,
        /// How it ended.
        close: CloseEvent,
    },
}

/// A user command.
#[derive(Debug)]
pub enum Command {
    /// Open the session (Q-OPEN-*). Replies [`Reply::Opened`](crate::Reply::Opened) with the
    /// Global object.
    Open,
    /// Call a method on a remote object (Q-REQ-*).
    Call(Call),
    /// Close the session with this code and reason (Q-CLOSE-*).
    Close {
        /// The WebSocket close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// Suspend the session with this code and reason (Q-SUSP-*).
    Suspend {
        /// The WebSocket close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// Resume a suspended session (Q-RES-*).
    Resume {
        /// Fail with `SessionNotAttached` instead of restoring on a fresh engine session.
        only_if_attached: bool,
    },
}

/// A method call on a remote object.
#[derive(Debug)]
pub struct Call {
    /// The object the method is called on; the machine sends to its current handle.
    pub object: ObjectKey,
    /// The engine method (`GetLayout`).
    pub method: String,
    /// The parameters.
    pub params: Params,
    /// The result is an object reference (`result.qReturn {qHandle, qType, ...}`): register the
    /// object and reply [`Reply::Object`](crate::Reply::Object) instead of the raw result.
    pub returns_object: bool,
}
