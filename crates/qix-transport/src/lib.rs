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
//!  Transport::connect() ──> Connection { sink, source }      (once per open and per resume)
//!
//!  sink.send(text)            ──> one text frame to the peer
//!  sink.close(code, reason)   ──> a close frame; the source then reports the peer's answer
//!  source.next()              <── Text(one message)
//!                                 Error(a problem with one frame; the connection goes on)
//!                                 Closed(code, reason): final, repeated on every later call
//! ```
//!
//! The two halves are independent, so one task can wait on `source.next()` while another
//! sends. Everything else (pings and pongs, the close handshake, size limits, TLS) stays inside
//! the transport.
//!
//! - [`WebSocketTransport`]: `ws://` and `wss://` on tokio-tungstenite and rustls, with extra
//!   request headers, connect and close timeouts and a message size limit. Close codes come
//!   through exactly: the peer's code and reason, 1005 for a close frame without status, 1006
//!   when TCP ended without a close frame.
//! - [`memory`]: two connected in-process ends and a [`memory::MemoryTransport`] with an
//!   acceptor, for tests.
//!
//! # Writing a transport
//!
//! Implement [`FrameSink::send`], [`FrameSource::next`] and [`Transport::connect`]; `close`
//! has a default. This one loops every frame back to its sender:
//!
//! ```
//! use qix_transport::{
//!     async_trait, CloseEvent, Connection, FrameSink, FrameSource, Incoming, Transport,
//!     TransportError,
//! };
//! use tokio::sync::mpsc;
//!
//! #[derive(Debug)]
//! struct LoopbackSink(mpsc::Sender<String>);
//!
//! #[async_trait]
//! impl FrameSink for LoopbackSink {
//!     async fn send(&mut self, text: String) -> Result<(), TransportError> {
//!         self.0.send(text).await.map_err(|_| TransportError::ConnectionClosed)
//!     }
//! }
//!
//! #[derive(Debug)]
//! struct LoopbackSource(mpsc::Receiver<String>);
//!
//! #[async_trait]
//! impl FrameSource for LoopbackSource {
//!     async fn next(&mut self) -> Incoming {
//!         match self.0.recv().await {
//!             Some(text) => Incoming::Text(text),
//!             // The sink is gone: like a TCP connection that ended without a close frame.
//!             // `recv` keeps returning `None`, so `Closed` repeats as the trait requires.
//!             None => Incoming::Closed(CloseEvent::abnormal()),
//!         }
//!     }
//! }
//!
//! #[derive(Debug)]
//! struct Loopback;
//!
//! #[async_trait]
//! impl Transport for Loopback {
//!     async fn connect(&self) -> Result<Connection, TransportError> {
//!         let (tx, rx) = mpsc::channel(16);
//!         Ok(Connection::new(LoopbackSink(tx), LoopbackSource(rx)))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let Connection { mut sink, mut source, .. } = Loopback.connect().await.unwrap();
//! sink.send("hello".to_owned()).await.unwrap();
//! assert!(matches!(source.next().await, Incoming::Text(text) if text == "hello"));
//! drop(sink);
//! assert!(matches!(source.next().await, Incoming::Closed(event) if event.code == 1006));
//! # }
//! ```

// Nothing that came off the wire may be unwrapped; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod close;
mod error;
mod handshake;
pub mod memory;
#[cfg(feature = "websocket")]
mod websocket;

pub use async_trait::async_trait;
pub use close::{check_close, CloseEvent};
pub use error::TransportError;
pub use handshake::Handshake;
#[cfg(feature = "__rustls")]
pub use websocket::rustls;
#[cfg(feature = "websocket")]
pub use websocket::{TlsRoots, WebSocketTransport, WebSocketTransportBuilder};

use std::sync::Arc;

/// One event from a [`FrameSource`].
#[derive(Debug)]
pub enum Incoming {
    /// One complete text message.
    Text(String),
    /// A problem with one frame (a binary frame, for example). The frame is dropped and the
    /// connection is still usable; when it is not, [`Incoming::Closed`] follows.
    Error(TransportError),
    /// The connection is over: the peer's close code and reason, or 1006
    /// ([`CloseEvent::ABNORMAL`]) when it ended without a close frame. Final.
    Closed(CloseEvent),
}

/// Opens connections to one endpoint.
///
/// A session calls [`connect`](Transport::connect) on open and on every resume, so a
/// transport holds what it needs to dial again (URL, headers, TLS settings), not a connection.
#[async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug + 'static {
    /// Opens one new connection (called on session open and on every resume).
    async fn connect(&self) -> Result<Connection, TransportError>;
}

/// The two halves of one open connection.
///
/// Dropping both halves without [`FrameSink::close`] ends the connection abruptly (the peer
/// sees no close frame).
#[derive(Debug)]
pub struct Connection {
    /// Sends frames to the peer.
    pub sink: Box<dyn FrameSink>,
    /// Receives frames and the close event from the peer.
    pub source: Box<dyn FrameSource>,
    /// The server's answer to the opening handshake, when the transport has one.
    handshake: Option<Handshake>,
}

impl Connection {
    /// Boxes the two halves of a connection.
    pub fn new(sink: impl FrameSink, source: impl FrameSource) -> Self {
        Connection {
            sink: Box::new(sink),
            source: Box::new(source),
            handshake: None,
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

    /// The two halves, to move them to different tasks.
    pub fn into_parts(self) -> (Box<dyn FrameSink>, Box<dyn FrameSource>) {
        (self.sink, self.source)
    }
}

/// The sending half of a connection.
///
/// If a `send` or `close` future is dropped before it completes, the frame may or may not
/// have been sent.
#[async_trait]
pub trait FrameSink: Send + std::fmt::Debug + 'static {
    /// Sends one text frame. Waits while the transport's outgoing buffer is full.
    ///
    /// Fails with [`TransportError::ConnectionClosed`] once the connection is closed or
    /// closing.
    async fn send(&mut self, text: String) -> Result<(), TransportError>;

    /// Sends a close frame with this code and reason. Default: `Ok(())` (a minimal transport
    /// implements only `send`).
    ///
    /// The peer's answer is reported by the source as [`Incoming::Closed`]. Transports that
    /// implement it reject what may not be sent (see [`check_close`]) and return `Ok(())`
    /// when the connection is already closed.
    async fn close(&mut self, code: u16, reason: &str) -> Result<(), TransportError> {
        let _ = (code, reason);
        Ok(())
    }
}

/// The receiving half of a connection.
#[async_trait]
pub trait FrameSource: Send + std::fmt::Debug + 'static {
    /// Next event. After `Closed` was returned once, every later call returns `Closed` again
    /// (same event).
    ///
    /// Must be cancel safe: a driver waits on it inside `select!`, and dropping the future
    /// before it completes must lose no event.
    async fn next(&mut self) -> Incoming;
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

#[async_trait]
impl<S: FrameSink + ?Sized> FrameSink for Box<S> {
    async fn send(&mut self, text: String) -> Result<(), TransportError> {
        (**self).send(text).await
    }

    async fn close(&mut self, code: u16, reason: &str) -> Result<(), TransportError> {
        (**self).close(code, reason).await
    }
}

#[async_trait]
impl<S: FrameSource + ?Sized> FrameSource for Box<S> {
    async fn next(&mut self) -> Incoming {
        (**self).next().await
    }
}
