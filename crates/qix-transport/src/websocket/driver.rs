//! One task per WebSocket connection: it owns the socket, so the close handshake runs and its
//! timeouts fire whether or not anyone is reading or sending.
//!
//! The sink and the source talk to the task over channels. The task reads a frame only when
//! the source's queue (64 events) has room, so a slow reader slows the peer down (TCP
//! backpressure) instead of growing a buffer; pings are answered as long as frames are read,
//! and commands from the sink are served meanwhile.

use std::future::{poll_fn, Future};
use std::io;
use std::task::ready;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::Io;
use crate::{
    async_trait, check_close, CloseEvent, Connection, FrameSink, FrameSource, Incoming,
    TransportError,
};

type Socket = WebSocketStream<Box<dyn Io>>;

/// Events buffered for the source before the task stops reading the socket.
const INCOMING_CAPACITY: usize = 64;

type Reply = oneshot::Sender<Result<(), TransportError>>;

enum Command {
    Text { text: String, reply: Reply },
    Close { frame: CloseFrame, reply: Reply },
}

/// Starts the connection's task and returns the halves that talk to it.
pub(super) fn start(socket: Socket, close_timeout: Duration) -> Connection {
    let (command_tx, command_rx) = mpsc::channel(1);
    let (incoming_tx, incoming_rx) = mpsc::channel(INCOMING_CAPACITY);
    let (writer, reader) = socket.split();
    let driver = Driver {
        writer,
        reader,
        commands: Some(command_rx),
        incoming: Some(incoming_tx),
        close_timeout,
        phase: Phase::Open,
        unsent: None,
        in_flight: None,
        queued: None,
        stall_deadline: None,
    };
    tokio::spawn(driver.run());
    Connection::new(
        WebSocketSink {
            commands: command_tx,
        },
        WebSocketSource {
            incoming: incoming_rx,
            closed: None,
        },
    )
}

#[derive(Debug)]
struct WebSocketSink {
    commands: mpsc::Sender<Command>,
}

#[async_trait]
impl FrameSink for WebSocketSink {
    async fn send(&mut self, text: String) -> Result<(), TransportError> {
        let (reply, done) = oneshot::channel();
        self.commands
            .send(Command::Text { text, reply })
            .await
            .map_err(|_| TransportError::ConnectionClosed)?;
        done.await.unwrap_or(Err(TransportError::ConnectionClosed))
    }

    async fn close(&mut self, code: u16, reason: &str) -> Result<(), TransportError> {
        check_close(code, reason)?;
        let (reply, done) = oneshot::channel();
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        if self
            .commands
            .send(Command::Close { frame, reply })
            .await
            .is_err()
        {
            return Ok(()); // the connection is over already
        }
        done.await.unwrap_or(Ok(()))
    }
}

#[derive(Debug)]
struct WebSocketSource {
    incoming: mpsc::Receiver<Incoming>,
    closed: Option<CloseEvent>,
}

#[async_trait]
impl FrameSource for WebSocketSource {
    async fn next(&mut self) -> Incoming {
        if let Some(event) = &self.closed {
            return Incoming::Closed(event.clone());
        }
        // The task always sends `Closed` last; `None` would mean it died (runtime shut down).
        let item = self
            .incoming
            .recv()
            .await
            .unwrap_or_else(|| Incoming::Closed(CloseEvent::abnormal()));
        if let Incoming::Closed(event) = &item {
            self.closed = Some(event.clone());
        }
        item
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Open,
    /// No more sending. `reported`: the source has its `Closed` already and the task only
    /// waits (until `deadline`) for the peer to end TCP. Otherwise it waits for the peer's
    /// close frame, and reports 1006 at `deadline`.
    Closing {
        deadline: Instant,
        reported: bool,
    },
}

/// How the task ended: what the source still has to hear, and the close frame to try
/// first when the task failed the connection itself.
struct Ending {
    report: Vec<Incoming>,
    close_frame: Option<CloseFrame>,
}

impl Ending {
    fn silent() -> Ending {
        Ending {
            report: Vec::new(),
            close_frame: None,
        }
    }

    fn closed(event: CloseEvent) -> Ending {
        Ending {
            report: vec![Incoming::Closed(event)],
            close_frame: None,
        }
    }

    /// The task fails the connection: report `error`, send a close frame with `code`
    /// (unless a close frame was sent already), report `Closed` with that code.
    fn fail(error: TransportError, code: u16, reason: &'static str, phase: Phase) -> Ending {
        Ending {
            report: vec![
                Incoming::Error(error),
                Incoming::Closed(CloseEvent::new(code, reason)),
            ],
            close_frame: matches!(phase, Phase::Open).then(|| CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            }),
        }
    }
}

struct Driver {
    writer: SplitSink<Socket, Message>,
    reader: SplitStream<Socket>,
    /// `None` once the sink is dropped.
    commands: Option<mpsc::Receiver<Command>>,
    /// `None` once the source is dropped.
    incoming: Option<mpsc::Sender<Incoming>>,
    close_timeout: Duration,
    phase: Phase,
    /// The frame being written, until tungstenite has taken it.
    unsent: Option<Message>,
    /// Whom to answer when the write completes, and whether it is a close frame.
    in_flight: Option<(Reply, bool)>,
    /// A command that came while a write was in flight (the sender gave up waiting for the
    /// previous one). Receiving it anyway lets the task notice a dropped sink at any time.
    queued: Option<Command>,
    /// Set when a close is queued behind a write that does not complete (the peer stopped
    /// reading): at this deadline the connection is dropped and reported as 1006, so a
    /// close never waits longer than the close timeout.
    stall_deadline: Option<Instant>,
}

impl Driver {
    async fn run(mut self) {
        let Ending {
            report,
            close_frame,
        } = self.drive().await;
        if let Some((reply, _)) = self.in_flight.take() {
            let _ = reply.send(Err(TransportError::ConnectionClosed));
        }
        match self.queued.take() {
            Some(Command::Text { reply, .. }) => {
                let _ = reply.send(Err(TransportError::ConnectionClosed));
            }
            Some(Command::Close { reply, .. }) => {
                let _ = reply.send(Ok(()));
            }
            None => {}
        }
        let Driver {
            mut writer,
            reader,
            commands,
            incoming,
            close_timeout,
            ..
        } = self;
        // Later sends fail at once.
        drop(commands);
        // The socket ends when this future completes (both halves dropped: TCP ends).
        let close_socket = async move {
            let Some(frame) = close_frame else {
                return;
            };
            let close = writer.send(Message::Close(Some(frame)));
            if !matches!(tokio::time::timeout(close_timeout, close).await, Ok(Ok(()))) {
                return;
            }
            // Unread bytes at close make TCP send a reset, which can destroy our close frame
            // before the peer reads it; so read and discard until the peer ends TCP.
            if let Ok(mut socket) = writer.reunite(reader) {
                let _ = tokio::time::timeout(close_timeout, discard(socket.get_mut())).await;
            }
        };
        let report = async move {
            if let Some(incoming) = incoming {
                for item in report {
                    if incoming.send(item).await.is_err() {
                        break;
                    }
                }
            }
        };
        tokio::join!(close_socket, report);
    }

    async fn drive(&mut self) -> Ending {
        loop {
            if self.commands.is_none() && self.incoming.is_none() {
                // Both halves dropped without a close: just end TCP.
                return Ending::silent();
            }
            let deadline = match self.phase {
                Phase::Open => self.stall_deadline,
                Phase::Closing { deadline, .. } => Some(deadline),
            };
            let reported = matches!(self.phase, Phase::Closing { reported: true, .. });
            let permit_needed = self.incoming.is_some() && !reported;
            tokio::select! {
                written = write(&mut self.writer, &mut self.unsent), if self.in_flight.is_some() => {
                    self.on_written(written);
                }
                command = recv(&mut self.commands), if self.commands.is_some() && self.queued.is_none() => {
                    self.on_command(command);
                }
                _ = source_gone(&self.incoming), if self.incoming.is_some() => {
                    self.incoming = None;
                }
                (permit, message) = read(&mut self.reader, &self.incoming, permit_needed) => {
                    if permit_needed && permit.is_none() {
                        self.incoming = None; // the source was dropped while we waited
                    }
                    if let Some(ending) = self.on_read(permit, message) {
                        return ending;
                    }
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    return if reported {
                        Ending::silent()
                    } else {
                        tracing::debug!(timeout = ?self.close_timeout, "no close answer in time; dropping the connection");
                        Ending::closed(CloseEvent::abnormal())
                    };
                }
            }
        }
    }

    fn on_command(&mut self, command: Option<Command>) {
        match command {
            None => self.commands = None,
            Some(command) if self.in_flight.is_some() => {
                if matches!(command, Command::Close { .. }) {
                    self.stall_deadline = Some(Instant::now() + self.close_timeout);
                }
                self.queued = Some(command);
            }
            Some(command) => self.start(command),
        }
    }

    fn start(&mut self, command: Command) {
        match command {
            Command::Text { text, reply } => {
                if matches!(self.phase, Phase::Open) {
                    self.unsent = Some(Message::text(text));
                    self.in_flight = Some((reply, false));
                } else {
                    let _ = reply.send(Err(TransportError::ConnectionClosed));
                }
            }
            Command::Close { frame, reply } => {
                if matches!(self.phase, Phase::Open) {
                    self.unsent = Some(Message::Close(Some(frame)));
                    self.in_flight = Some((reply, true));
                    // The close frame itself may be stuck behind a peer that stopped reading.
                    self.stall_deadline = Some(Instant::now() + self.close_timeout);
                } else {
                    let _ = reply.send(Ok(()));
                }
            }
        }
    }

    fn on_written(&mut self, written: Result<(), WsError>) {
        self.finish_write(written);
        self.stall_deadline = None;
        if let Some(command) = self.queued.take() {
            self.start(command);
        }
    }

    fn finish_write(&mut self, written: Result<(), WsError>) {
        self.unsent = None;
        let Some((reply, is_close)) = self.in_flight.take() else {
            return;
        };
        match written {
            Ok(()) => {
                if is_close && matches!(self.phase, Phase::Open) {
                    self.phase = Phase::Closing {
                        deadline: Instant::now() + self.close_timeout,
                        reported: false,
                    };
                }
                let _ = reply.send(Ok(()));
            }
            // The peer's close frame was read while this frame waited.
            Err(WsError::Protocol(ProtocolError::SendAfterClosing))
            | Err(WsError::AlreadyClosed)
            | Err(WsError::ConnectionClosed) => {
                let _ = reply.send(if is_close {
                    Ok(())
                } else {
                    Err(TransportError::ConnectionClosed)
                });
            }
            Err(error) => {
                let _ = reply.send(Err(match error {
                    WsError::Io(error) => TransportError::Io(error),
                    other => TransportError::Protocol {
                        reason: other.to_string(),
                    },
                }));
                // The socket is broken. The reader usually learns how (a close frame still
                // in the buffer, a reset) and reports it; the deadline covers when it cannot.
                if matches!(self.phase, Phase::Open) {
                    self.phase = Phase::Closing {
                        deadline: Instant::now() + self.close_timeout,
                        reported: false,
                    };
                }
            }
        }
    }

    /// Handles one read; `Some` ends the task.
    fn on_read(
        &mut self,
        permit: Option<mpsc::OwnedPermit<Incoming>>,
        message: Option<Result<Message, WsError>>,
    ) -> Option<Ending> {
        if let Phase::Closing { reported: true, .. } = self.phase {
            // Draining after the close handshake: wait for the end of TCP, drop the rest.
            return match message {
                Some(Ok(_)) => None,
                None | Some(Err(_)) => Some(Ending::silent()),
            };
        }
        let deliver = |item: Incoming| {
            if let Some(permit) = permit {
                permit.send(item);
            }
        };
        match message {
            Some(Ok(Message::Text(text))) => {
                deliver(Incoming::Text(text.as_str().to_owned()));
                None
            }
            Some(Ok(Message::Binary(data))) => {
                deliver(Incoming::Error(TransportError::BinaryFrame {
                    len: data.len(),
                }));
                None
            }
            // tungstenite queued the pong already; the next read flushes it.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => None,
            Some(Ok(Message::Close(frame))) => {
                let event = match frame {
                    Some(frame) => CloseEvent::new(u16::from(frame.code), frame.reason.as_str()),
                    None => CloseEvent::new(CloseEvent::NO_STATUS, ""),
                };
                deliver(Incoming::Closed(event));
                // tungstenite answers the close on the next read; then the peer ends TCP.
                let deadline = match self.phase {
                    Phase::Closing { deadline, .. } => deadline,
                    Phase::Open => Instant::now() + self.close_timeout,
                };
                self.phase = Phase::Closing {
                    deadline,
                    reported: true,
                };
                None
            }
            None => Some(Ending::closed(CloseEvent::abnormal())),
            Some(Err(error)) => Some(self.read_failed(error)),
        }
    }

    fn read_failed(&self, error: WsError) -> Ending {
        tracing::debug!(%error, "WebSocket read failed");
        match error {
            WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => Ending::fail(
                TransportError::MessageTooLarge {
                    size,
                    limit: max_size,
                },
                CloseEvent::MESSAGE_TOO_BIG,
                "message too large",
                self.phase,
            ),
            WsError::Utf8(_) => Ending::fail(
                TransportError::InvalidUtf8,
                CloseEvent::INVALID_PAYLOAD,
                "invalid UTF-8",
                self.phase,
            ),
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)
            | WsError::ConnectionClosed
            | WsError::AlreadyClosed => Ending::closed(CloseEvent::abnormal()),
            WsError::Io(error) if is_disconnect(&error) => Ending::closed(CloseEvent::abnormal()),
            WsError::Io(error) => Ending {
                report: vec![
                    Incoming::Error(TransportError::Io(error)),
                    Incoming::Closed(CloseEvent::abnormal()),
                ],
                close_frame: None,
            },
            WsError::Protocol(error) => Ending::fail(
                TransportError::Protocol {
                    reason: error.to_string(),
                },
                CloseEvent::PROTOCOL_ERROR,
                "protocol error",
                self.phase,
            ),
            other => Ending {
                report: vec![
                    Incoming::Error(TransportError::Protocol {
                        reason: other.to_string(),
                    }),
                    Incoming::Closed(CloseEvent::abnormal()),
                ],
                close_frame: None,
            },
        }
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

/// Reads and drops bytes until the end of the stream, in a fixed buffer.
async fn discard(stream: &mut Box<dyn Io>) {
    let mut buffer = [0u8; 8192];
    while let Ok(1..) = stream.read(&mut buffer).await {}
}

/// Writes and flushes `unsent`. Cancel safe: the frame leaves `unsent` only in the same
/// poll that hands it to tungstenite, so a cancelled write resumes where it stopped.
fn write<'a>(
    writer: &'a mut SplitSink<Socket, Message>,
    unsent: &'a mut Option<Message>,
) -> impl Future<Output = Result<(), WsError>> + 'a {
    poll_fn(move |cx| {
        if unsent.is_some() {
            ready!(writer.poll_ready_unpin(cx))?;
            if let Some(message) = unsent.take() {
                writer.start_send_unpin(message)?;
            }
        }
        writer.poll_flush_unpin(cx)
    })
}

async fn recv(commands: &mut Option<mpsc::Receiver<Command>>) -> Option<Command> {
    match commands {
        Some(commands) => commands.recv().await,
        None => std::future::pending().await,
    }
}

async fn source_gone(incoming: &Option<mpsc::Sender<Incoming>>) {
    match incoming {
        Some(incoming) => incoming.closed().await,
        None => std::future::pending().await,
    }
}

/// Reads the next message once the source has room for it (when `permit_needed`).
/// Cancel safe: the permit is only a reservation, and `next` keeps its state in the stream.
async fn read(
    reader: &mut SplitStream<Socket>,
    incoming: &Option<mpsc::Sender<Incoming>>,
    permit_needed: bool,
) -> (
    Option<mpsc::OwnedPermit<Incoming>>,
    Option<Result<Message, WsError>>,
) {
    let permit = match incoming {
        Some(incoming) if permit_needed => incoming.clone().reserve_owned().await.ok(),
        _ => None,
    };
    (permit, reader.next().await)
}
