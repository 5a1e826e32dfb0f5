//! One WebSocket connection as a [`Stream`] of [`Incoming`] and a [`Sink`] of [`Outgoing`]:
//! the adapter between tokio-tungstenite and the session's driver, which polls it directly.
//! No task, no channel: what the driver does not poll does not run, and nothing is copied
//! on the way (a text message's bytes are the ones tungstenite read).
//!
//! Pings are answered by tungstenite while the stream is polled. The close handshake is
//! carried out here; how long to wait for it is the session's decision (it drops the
//! connection when its close timer fires).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_util::{Sink, Stream};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::Io;
use crate::{check_close, CloseEvent, Incoming, Outgoing, TransportError};

pub(super) type Socket = WebSocketStream<Box<dyn Io>>;

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Frames go both ways.
    Open,
    /// Our close frame is buffered or sent; waiting for the peer's answer.
    CloseSent,
    /// `Closed` was yielded: polling on answers the peer's close and waits for TCP to end.
    Draining,
    /// Everything is over; the stream yields `None`.
    Done,
}

/// A WebSocket connection, polled by the session's driver.
pub(super) struct WebSocketConnection {
    socket: Socket,
    phase: Phase,
    /// An event to yield before reading again: the `Closed` that follows an error.
    queued: Option<Incoming>,
}

impl std::fmt::Debug for WebSocketConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketConnection")
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl WebSocketConnection {
    pub(super) fn new(socket: Socket) -> Self {
        Self {
            socket,
            phase: Phase::Open,
            queued: None,
        }
    }

    /// The connection fails here: report `error`, send a close frame with `code` unless one
    /// was sent already, then report `Closed` with that code.
    fn fail(&mut self, error: TransportError, code: u16, reason: &'static str) -> Incoming {
        if self.phase == Phase::Open {
            let frame = CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            };
            // Best effort: the frame goes out while the stream drains.
            let _ = Pin::new(&mut self.socket).start_send(Message::Close(Some(frame)));
        }
        self.phase = Phase::Draining;
        self.queued = Some(Incoming::Closed(CloseEvent::new(code, reason)));
        Incoming::Error(error)
    }

    fn ended(&mut self) -> Incoming {
        self.phase = Phase::Done;
        Incoming::Closed(CloseEvent::abnormal())
    }

    fn read_failed(&mut self, error: WsError) -> Incoming {
        tracing::debug!(%error, "WebSocket read failed");
        match error {
            WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => self.fail(
                TransportError::MessageTooLarge {
                    size,
                    limit: max_size,
                },
                CloseEvent::MESSAGE_TOO_BIG,
                "message too large",
            ),
            WsError::Utf8(_) => self.fail(
                TransportError::InvalidUtf8,
                CloseEvent::INVALID_PAYLOAD,
                "invalid UTF-8",
            ),
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)
            | WsError::ConnectionClosed
            | WsError::AlreadyClosed => self.ended(),
            WsError::Io(error) if is_disconnect(&error) => self.ended(),
            WsError::Io(error) => {
                self.phase = Phase::Done;
                self.queued = Some(Incoming::Closed(CloseEvent::abnormal()));
                Incoming::Error(TransportError::Io(error))
            }
            WsError::Protocol(error) => self.fail(
                TransportError::Protocol {
                    reason: error.to_string(),
                },
                CloseEvent::PROTOCOL_ERROR,
                "protocol error",
            ),
            other => {
                self.phase = Phase::Done;
                self.queued = Some(Incoming::Closed(CloseEvent::abnormal()));
                Incoming::Error(TransportError::Protocol {
                    reason: other.to_string(),
                })
            }
        }
    }
}

impl Stream for WebSocketConnection {
    type Item = Incoming;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Incoming>> {
        let this = &mut *self;
        loop {
            if let Some(queued) = this.queued.take() {
                return Poll::Ready(Some(queued));
            }
            match this.phase {
                Phase::Done => return Poll::Ready(None),
                Phase::Draining => {
                    // Reading answers the peer's close and waits for the end of TCP; unread
                    // bytes at close would make TCP send a reset that can destroy our close
                    // frame before the peer reads it.
                    match ready!(Pin::new(&mut this.socket).poll_next(cx)) {
                        Some(Ok(_)) => continue,
                        None | Some(Err(_)) => {
                            this.phase = Phase::Done;
                            return Poll::Ready(None);
                        }
                    }
                }
                Phase::Open | Phase::CloseSent => {}
            }
            let message = ready!(Pin::new(&mut this.socket).poll_next(cx));
            let incoming = match message {
                Some(Ok(Message::Text(text))) => Incoming::Text(Bytes::from(text)),
                Some(Ok(Message::Binary(data))) => {
                    Incoming::Error(TransportError::BinaryFrame { len: data.len() })
                }
                // tungstenite queued the pong already; the next read or flush sends it.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(frame))) => {
                    this.phase = Phase::Draining;
                    // tungstenite queued the answer to the peer's close: send it now, so the
                    // peer has it even if nobody polls this connection again.
                    let _ = Pin::new(&mut this.socket).poll_flush(cx);
                    Incoming::Closed(match frame {
                        Some(frame) => {
                            CloseEvent::new(u16::from(frame.code), frame.reason.as_str())
                        }
                        None => CloseEvent::new(CloseEvent::NO_STATUS, ""),
                    })
                }
                None => this.ended(),
                Some(Err(error)) => this.read_failed(error),
            };
            return Poll::Ready(Some(incoming));
        }
    }
}

impl Sink<Outgoing> for WebSocketConnection {
    type Error = TransportError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.phase != Phase::Open {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.socket)
            .poll_ready(cx)
            .map(|ready| ready.or_else(write_error))
    }

    fn start_send(mut self: Pin<&mut Self>, item: Outgoing) -> Result<(), Self::Error> {
        let message = match item {
            Outgoing::Text(text) => {
                if self.phase != Phase::Open {
                    return Err(TransportError::ConnectionClosed);
                }
                let text = Utf8Bytes::try_from(text).map_err(|_| TransportError::Protocol {
                    reason: "a text frame to send is not UTF-8".to_owned(),
                })?;
                Message::Text(text)
            }
            Outgoing::Close { code, reason } => {
                check_close(code, &reason)?;
                if self.phase != Phase::Open {
                    return Ok(()); // closing or closed already
                }
                self.phase = Phase::CloseSent;
                Message::Close(Some(CloseFrame {
                    code: CloseCode::from(code),
                    reason: reason.into(),
                }))
            }
        };
        Pin::new(&mut self.socket)
            .start_send(message)
            .or_else(write_error)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.phase == Phase::Done {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.socket)
            .poll_flush(cx)
            .map(|flushed| flushed.or_else(write_error))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.poll_flush(cx)
    }
}

/// A write that finds the connection closing is not an error: the stream reports how it
/// closed. Anything else is.
fn write_error(error: WsError) -> Result<(), TransportError> {
    match error {
        WsError::Protocol(ProtocolError::SendAfterClosing)
        | WsError::AlreadyClosed
        | WsError::ConnectionClosed => Ok(()),
        WsError::Io(error) if is_disconnect(&error) => Ok(()),
        WsError::Io(error) => Err(TransportError::Io(error)),
        other => Err(TransportError::Protocol {
            reason: other.to_string(),
        }),
    }
}

/// The peer went away without a close frame; nothing worth an `Incoming::Error`.
fn is_disconnect(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}
