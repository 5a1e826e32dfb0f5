//! What goes into the machine: user commands and transport facts.

use qix_rpc::{EncodedCall, FrameError, Incoming, RawJson};

use crate::{Cause, CloseEvent, ConnId, ObjectKey, Waiter};

/// One input for [`Machine::handle`](crate::Machine::handle).
#[derive(Debug)]
pub enum Input {
    /// The driver could not apply the patches of a delta answer to `method` on `handle`
    /// ([`Reply::Delta`](crate::Reply::Delta)): the machine has that pair's baselines dropped
    /// and asks that method on that handle without delta from now on (Q-DELTA-4).
    DeltaFailed {
        /// The handle the answer was for.
        handle: qix_rpc::Handle,
        /// The method.
        method: String,
    },
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
    /// A text frame arrived and was decoded by `qix_rpc::decode_shared` (or failed to
    /// decode).
    ///
    /// The driver keeps the frame's text: a
    /// [`Event::TrafficReceived`](crate::Event::TrafficReceived) emitted while handling this
    /// input refers to it.
    Frame {
        /// The connection it arrived on.
        conn: ConnId,
        /// The decoded frame.
        decoded: Result<Incoming<RawJson>, FrameError>,
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
    /// The driver keeps polling it until its stream ends ([`Input::SocketEnded`]) or the
    /// machine asks for it to be dropped.
    SocketClosed {
        /// The connection.
        conn: ConnId,
        /// How it ended.
        close: CloseEvent,
    },
    /// The connection's stream ended: nothing more will come from it, TCP included. One that
    /// ends without [`Input::SocketClosed`] counts as closed with 1006.
    SocketEnded {
        /// The connection.
        conn: ConnId,
    },
    /// The caller of a call is gone (its future was dropped): the call leaves the table and
    /// the engine is sent `CancelRequest` (Q-CANCEL-1). No reply follows. Unknown or settled
    /// waiters are ignored.
    Cancel {
        /// The call's waiter.
        waiter: Waiter,
    },
    /// Every handle of the session is gone: nobody can make a call or wait for an event
    /// any more. The session closes (1000) and the machine is finished once every
    /// connection is over, or after the release grace (Q-CLOSE-5).
    Released,
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
    /// The method and its parameters, encoded by the caller.
    pub call: EncodedCall,
    /// The result is an object reference (`result.qReturn {qHandle, qType, ...}`): register the
    /// object and reply [`Reply::Object`](crate::Reply::Object) instead of the raw result.
    pub returns_object: bool,
    /// How long this call may wait for its answer; `None` takes the session's
    /// [`request_timeout`](crate::Config::request_timeout) (Q-TIME-1).
    pub timeout: Option<std::time::Duration>,
    /// The caller takes a delta answer: the driver applies its patches and hands out full
    /// values (Q-DELTA-1). `false` for a caller that wants the engine's own text; the request
    /// then never asks for delta. Calls that return an object never ask either.
    pub accepts_delta: bool,
}
