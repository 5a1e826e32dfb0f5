//! The events a session and its objects emit, and the topics to listen to them by.

use std::fmt;
use std::sync::Arc;

use qix_rpc::Bytes;

pub use qix_session::{CloseEvent, Initiator};

use crate::Error;

/// An event of a [`Session`](crate::Session), as delivered by
/// [`Session::subscribe`](crate::Session::subscribe) and [`Session::on`](crate::Session::on).
///
/// | topic | variant | when |
/// |---|---|---|
/// | `opened` | [`Opened`](Self::Opened) | `open()` connected (not on resume) |
/// | `closed` | [`Closed`](Self::Closed) | the session closed: by `close()`, or by a close it did not ask for without `suspend_on_close` |
/// | `notification:<Method>`, `notification:*` | [`Notification`](Self::Notification) | the engine or proxy pushed a notification (`OnConnected`, `OnSessionTimedOut`, ...) |
/// | `socket-error` | [`SocketError`](Self::SocketError) | the transport failed or sent a frame that is not a JSON-RPC object (not while suspended) |
/// | `suspended` | [`Suspended`](Self::Suspended) | `suspend()` completed (manual) or the socket closed with `suspend_on_close` (network) |
/// | `resumed` | [`Resumed`](Self::Resumed) | `resume()`, or an automatic resume, restored the session |
/// | `resuming` | [`Resuming`](Self::Resuming) | an automatic resume attempt is scheduled, with its delay |
/// | `resume-failed` | [`ResumeFailed`](Self::ResumeFailed) | the automatic resume gave up |
/// | `traffic:sent`, `traffic:received`, `traffic:*` | [`Traffic`](Self::Traffic) | a frame was written or read |
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The session opened.
    Opened,
    /// The session closed, with the close event.
    Closed(CloseEvent),
    /// A notification.
    Notification {
        /// The notification's method (empty when the frame had none).
        method: String,
        /// Its params.
        params: serde_json::Value,
    },
    /// A socket or protocol error; the session goes on unless a close follows.
    SocketError(Arc<Error>),
    /// The session was suspended.
    Suspended {
        /// Manual (`suspend()`) or network (an unasked close with `suspend_on_close`).
        initiator: Initiator,
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// The session was resumed.
    Resumed,
    /// An automatic resume attempt is scheduled (Q-AUTO-1,
    /// [`SessionBuilder::auto_resume`](crate::SessionBuilder::auto_resume)).
    Resuming {
        /// Which attempt, from 1.
        attempt: u32,
        /// How long until it starts.
        delay: std::time::Duration,
    },
    /// The automatic resume gave up; the session stays suspended (Q-AUTO-1).
    ResumeFailed {
        /// How many attempts were made.
        attempts: u32,
        /// Why the last one failed.
        error: Arc<Error>,
    },
    /// A frame went out or came in.
    Traffic(Traffic),
    /// This subscriber fell behind and missed `missed` events; the ones after it follow.
    Lagged {
        /// How many events were dropped for this subscriber.
        missed: u64,
    },
}

/// An event of an [`Object`](crate::Object): `changed`, `closed`, `traffic:*`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ObjectEvent {
    /// `changed`: the engine says the object changed (or a resume gave it a new handle).
    Changed,
    /// `closed`: the object is gone; no event follows.
    Closed,
    /// `traffic:sent`, `traffic:received`: a frame about this object.
    Traffic(Traffic),
    /// This subscriber fell behind and missed `missed` events.
    Lagged {
        /// How many events were dropped for this subscriber.
        missed: u64,
    },
}

impl SessionEvent {
    /// What the event holds on the heap, for the byte bound of the event queues: the frame
    /// of a traffic event, the method and params of a notification; the other events are
    /// small and bounded by the event count.
    pub(crate) fn heap_size(&self) -> usize {
        match self {
            Self::Traffic(traffic) => traffic.text.len(),
            Self::Notification { method, params } => method.len() + json_size(params),
            _ => 0,
        }
    }
}

impl ObjectEvent {
    /// As [`SessionEvent::heap_size`].
    pub(crate) fn heap_size(&self) -> usize {
        match self {
            Self::Traffic(traffic) => traffic.text.len(),
            _ => 0,
        }
    }
}

/// About what a JSON value holds on the heap: its strings and keys, and a word or so per
/// value. Close enough for a bound; walking it costs less than the parse that built it.
fn json_size(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    const NODE: usize = std::mem::size_of::<Value>();
    NODE + match value {
        Value::String(text) => text.len(),
        Value::Array(items) => items.iter().map(json_size).sum(),
        Value::Object(members) => members
            .iter()
            .map(|(key, value)| key.len() + json_size(value))
            .sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Written to the engine.
    Sent,
    /// Read from the engine.
    Received,
}

impl Direction {
    /// `"sent"` or `"received"`, as in the topic names.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Received => "received",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One JSON-RPC frame, exactly as it was on the wire. Cheap to clone: it shares the frame's
/// bytes with the session.
#[derive(Clone)]
pub struct Traffic {
    direction: Direction,
    text: Bytes,
}

impl Traffic {
    pub(crate) fn new(direction: Direction, text: Bytes) -> Self {
        Self { direction, text }
    }

    /// Sent or received.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The frame as it was written or read. (Checks the UTF-8 each time, in linear time:
    /// only frames that are UTF-8 become traffic.)
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.text).unwrap_or_default()
    }

    /// The frame's request id (`id`), when it has one: what `CancelRequest` takes to cancel a
    /// call (Q-REQ-1).
    pub fn request_id(&self) -> Option<u64> {
        // Reads the id alone; the rest of the frame is skipped, not built.
        #[derive(serde::Deserialize)]
        struct Id {
            id: Option<u64>,
        }
        serde_json::from_slice::<Id>(&self.text).ok()?.id
    }

    /// The frame parsed as JSON (the JSON-RPC request or response object).
    pub fn json(&self) -> serde_json::Value {
        // Traffic is only built from frames the codec produced or accepted, so this parses.
        serde_json::from_slice(&self.text).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Debug for Traffic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Traffic")
            .field("direction", &self.direction)
            .field("text", &self.text())
            .finish()
    }
}

/// Parses a session topic, rejecting the ones a session never emits.
pub(crate) fn session_topic(topic: &str) -> Result<qix_events::Topic, Error> {
    parse(
        topic,
        qix_session::is_session_topic(topic),
        &qix_session::SESSION_TOPICS,
    )
}

/// Parses an object topic, rejecting the ones an object never emits.
pub(crate) fn object_topic(topic: &str) -> Result<qix_events::Topic, Error> {
    parse(
        topic,
        qix_session::is_object_topic(topic),
        &qix_session::OBJECT_TOPICS,
    )
}

fn parse(
    topic: &str,
    known: bool,
    list: &'static [&'static str],
) -> Result<qix_events::Topic, Error> {
    let unknown = || Error::UnknownTopic {
        topic: topic.to_owned(),
        known: list,
    };
    if !known {
        return Err(unknown());
    }
    qix_events::Topic::parse(topic).map_err(|_| unknown())
}
