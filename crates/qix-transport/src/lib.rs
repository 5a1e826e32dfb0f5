//! The transport layer of qix: it moves text frames and close events between a QIX session and
//! the engine, and knows nothing of JSON-RPC. It ships a WebSocket transport (`ws://` and
//! `wss://` on rustls) and an in-memory one, and any other can be plugged in through the traits.
//!
//! Take this crate alone when you write your own transport or need a WebSocket that reports
//! close codes exactly.
//!
//! # The model
//!
//! ```text
//!  Transport::connect() ──> Connection { frames, handshake }   (once per open and per resume)
//!
//!  frames: Sink<Outgoing>
//!    Outgoing::Text(bytes)        ──> one text frame to the peer (buffered; poll_flush sends)
//!    Outgoing::Close{code,reason} ──> a close frame; the stream then reports the peer's answer
//!  frames: Stream<Item = Incoming>
//!    Incoming::Text(bytes)        <── one message
//!    Incoming::Error(e)           <── a problem with one frame; the connection goes on
//!    Incoming::Closed(event)      <── the connection is over (peer's code, or 1006)
//!    None                         <── everything is finished, TCP included
//! ```
//!
//! A connection is one object that is both a [`Sink`] and a [`Stream`], polled by one driver:
//! no task per connection, no channel between the socket and the session. Writes are
//! buffered and go out on `poll_flush`, so frames written back to back share a system call.
//! Everything else (pings and pongs, the close handshake, size limits, TLS) stays inside the
//! transport; the close-handshake *timeout* is the session's (it drops the connection).
//!
//! - [`WebSocketTransport`]: `ws://` and `wss://` on tokio-tungstenite and rustls, with extra
//!   request headers, a connect timeout, a message size limit and a read buffer sized for
//!   QIX. Close codes come through exactly: the peer's code and reason, 1005 for a close
//!   frame without status, 1006 when TCP ended without a close frame.
//! - [`memory`]: two connected in-process ends and a [`memory::MemoryTransport`] with an
//!   acceptor, for tests.
//!
//! # Writing a transport
//!
//! Anything that is a `Stream<Item = Incoming>` and a `Sink<Outgoing, Error = TransportError>`
//! is a connection ([`Frames`]); [`Transport::connect`] opens one. The futures crate's
//! adapters do most of the work. This one loops every frame back to its sender:
//!
//! ```
//! use futures_util::{SinkExt, StreamExt};
//! use qix_transport::{async_trait, Connection, Incoming, Outgoing, Transport, TransportError};
//!
//! #[derive(Debug)]
//! struct Loopback;
//!
//! #[async_trait]
//! impl Transport for Loopback {
//!     async fn connect(&self) -> Result<Connection, TransportError> {
//!         let (tx, rx) = futures_channel::mpsc::channel::<Outgoing>(16);
//!         // What is sent comes back; a close comes back as the peer's answer.
//!         let frames = rx
//!             .map(|outgoing| match outgoing {
//!                 Outgoing::Text(text) => Incoming::Text(text),
//!                 Outgoing::Close { code, reason } => {
//!                     Incoming::Closed(qix_transport::CloseEvent::new(code, reason))
//!                 }
//!             });
//!         let sink = tx.sink_map_err(|_| TransportError::ConnectionClosed);
//!         Ok(Connection::new(qix_transport::join(frames, sink)))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut connection = Loopback.connect().await.unwrap();
//! connection.send_text("hello").await.unwrap();
//! assert!(matches!(connection.next().await, Incoming::Text(text) if &text[..] == b"hello"));
//! # }
//! ```
//!
//! ([`join`] makes one connection of a stream and a sink; [`memory`] shows a complete
//! hand-written one.)

// Nothing that came off the wire may be unwrapped; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod close;
mod credentials;
mod error;
mod handshake;
mod join;
pub mod memory;
mod redact;
#[cfg(feature = "websocket")]
mod websocket;

pub use async_trait::async_trait;
pub use bytes::Bytes;
pub use close::{check_close, CloseEvent};
pub use credentials::{CredentialProvider, Credentials, ProviderError};
pub use error::TransportError;
pub use handshake::Handshake;
pub use join::{join, Joined};
pub use redact::redact_url;
#[cfg(feature = "__rustls")]
pub use websocket::rustls;
#[cfg(feature = "websocket")]
pub use websocket::{TlsRoots, WebSocketTransport, WebSocketTransportBuilder};

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::{Sink, Stream};

/// One event from a connection's [`Stream`].
#[derive(Debug)]
pub enum Incoming {
    /// One complete text message (UTF-8, as the peer sent it; the session checks it again).
    Text(Bytes),
    /// A problem with one frame (a binary frame, for example). The frame is dropped and the
    /// connection is still usable; when it is not, [`Incoming::Closed`] follows.
    Error(TransportError),
    /// The connection is over: the peer's close code and reason, or 1006
    /// ([`CloseEvent::ABNORMAL`]) when it ended without a close frame. The stream may still
    /// be polled to finish the close (answer the peer, wait for TCP to end); it then ends.
    Closed(CloseEvent),
}

/// One item for a connection's [`Sink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// One text frame (UTF-8).
    Text(Bytes),
    /// A close frame with this code and reason: the close handshake starts, later texts fail
    /// with [`TransportError::ConnectionClosed`], and the stream reports the peer's answer.
    /// Transports reject what may not be sent (see [`check_close`]).
    Close {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
}

/// What a connection is: a [`Stream`] of [`Incoming`] and a [`Sink`] of [`Outgoing`], polled
/// by one driver. Implemented for every type that is both.
///
/// The stream's contract: `Incoming::Closed` comes once, last of the events; polling on
/// after it finishes the close and then yields `None`. A stream that ends without `Closed`
/// is read as a close with 1006. The sink's: `poll_ready` waits while the transport's
/// outgoing buffer is full; `start_send` buffers; `poll_flush` writes what was buffered.
pub trait Frames:
    Stream<Item = Incoming> + Sink<Outgoing, Error = TransportError> + Send + Unpin + fmt::Debug
{
}

impl<T> Frames for T where
    T: Stream<Item = Incoming> + Sink<Outgoing, Error = TransportError> + Send + Unpin + fmt::Debug
{
}

/// Opens connections to one endpoint.
///
/// A session calls [`connect`](Transport::connect) on open and on every resume, so a
/// transport holds what it needs to dial again (URL, headers, TLS settings), not a connection.
#[async_trait]
pub trait Transport: Send + Sync + fmt::Debug + 'static {
    /// Opens one new connection (called on session open and on every resume).
    async fn connect(&self) -> Result<Connection, TransportError>;
}

/// One open connection: its frames, both ways, and what its handshake told.
///
/// Dropping it without a close ends the connection abruptly (the peer sees no close frame).
#[derive(Debug)]
pub struct Connection {
    /// The frames.
    pub frames: Box<dyn Frames>,
    /// The server's answer to the opening handshake, when the transport has one.
    handshake: Option<Handshake>,
    /// The close reported by [`next`](Self::next), repeated on later calls.
    closed: Option<CloseEvent>,
}

impl Connection {
    /// A connection over these frames, with no handshake details.
    pub fn new(frames: impl Frames + 'static) -> Self {
        Self {
            frames: Box::new(frames),
            handshake: None,
            closed: None,
        }
    }

    /// Attaches the server's answer to the opening handshake (a transport does this before
    /// handing the connection out).
    pub fn with_handshake(mut self, handshake: Handshake) -> Self {
        self.handshake = Some(handshake);
        self
    }

    /// The server's answer to the opening handshake (status and response headers, such as
    /// `Set-Cookie`), when the transport recorded one: the WebSocket transport always does.
    pub fn handshake(&self) -> Option<&Handshake> {
        self.handshake.as_ref()
    }

    /// Sends one text frame and flushes it: a convenience over the [`Sink`] for tests and
    /// simple programs (a driver buffers and flushes once for many frames instead).
    pub async fn send_text(&mut self, text: impl Into<Bytes>) -> Result<(), TransportError> {
        self.send(Outgoing::Text(text.into())).await
    }

    /// Sends a close frame and flushes it; the stream then reports the peer's answer.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), TransportError> {
        check_close(code, reason)?;
        self.send(Outgoing::Close {
            code,
            reason: reason.to_owned(),
        })
        .await
    }

    async fn send(&mut self, item: Outgoing) -> Result<(), TransportError> {
        let frames = &mut self.frames;
        poll_fn(|cx| Pin::new(&mut **frames).poll_ready(cx)).await?;
        Pin::new(&mut **frames).start_send(item)?;
        poll_fn(|cx| Pin::new(&mut **frames).poll_flush(cx)).await
    }

    /// The next event: a convenience for tests and simple programs. Once the connection is
    /// over, every later call returns the same `Closed` again (a stream that ended without
    /// one reads as 1006).
    pub async fn next(&mut self) -> Incoming {
        if let Some(close) = &self.closed {
            return Incoming::Closed(close.clone());
        }
        let frames = &mut self.frames;
        let incoming = poll_fn(|cx| Pin::new(&mut **frames).poll_next(cx))
            .await
            .unwrap_or_else(|| Incoming::Closed(CloseEvent::abnormal()));
        if let Incoming::Closed(close) = &incoming {
            self.closed = Some(close.clone());
        }
        incoming
    }

    /// Takes the frames apart from the rest, for a driver that polls them itself.
    pub fn into_frames(self) -> Box<dyn Frames> {
        self.frames
    }
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for Arc<T> {
    async fn connect(&self) -> Result<Connection, TransportError> {
        (**self).connect().await
    }
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for Box<T> {
    async fn connect(&self) -> Result<Connection, TransportError> {
        (**self).connect().await
    }
}
