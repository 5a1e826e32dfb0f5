//! In-process connections, for tests.
//!
//! [`pair`] gives two connected ends; [`transport`] gives a [`MemoryTransport`] whose every
//! `connect` hands the other end of a new pair to a [`MemoryAcceptor`], where a test plays the
//! server.
//!
//! The ends behave like a WebSocket, close handshake included:
//! - text sent on one end arrives on the other, in order;
//! - a close on one end makes the other's stream yield `Closed{code, reason}` (after the text
//!   sent before it), which answers with the same close, so the closer's stream then yields
//!   it too; both streams end after their `Closed`;
//! - dropping an end that has not closed ends the connection abruptly: the other end yields
//!   `Closed{1006, ""}` once it has read what was sent before;
//! - each direction buffers up to 1024 frames; `poll_ready` waits while the buffer is full;
//! - text sent to an end that was dropped is discarded.
//!
//! ```
//! use qix_transport::{memory, CloseEvent, Incoming};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (mut client, mut server) = memory::pair();
//! client.send_text("ping").await.unwrap();
//! assert!(matches!(server.next().await, Incoming::Text(text) if &text[..] == b"ping"));
//!
//! client.close(4000, "bye").await.unwrap();
//! let expected = CloseEvent::new(4000, "bye");
//! assert!(matches!(server.next().await, Incoming::Closed(event) if event == expected));
//! assert!(matches!(client.next().await, Incoming::Closed(event) if event == expected));
//! # }
//! ```

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::{Sink, Stream};
use tokio::sync::mpsc;

use crate::{
    async_trait, check_close, CloseEvent, Connection, Incoming, Outgoing, Transport, TransportError,
};

/// Frames buffered per direction before `poll_ready` waits.
const PIPE_CAPACITY: usize = 1024;

/// Connections waiting in a [`MemoryAcceptor`] before `connect` waits.
const BACKLOG: usize = 64;

/// Two connected ends: what one end sends, the other end receives.
pub fn pair() -> (Connection, Connection) {
    let a_to_b = Arc::new(Pipe::default());
    let b_to_a = Arc::new(Pipe::default());
    let a = MemoryEnd {
        out: a_to_b.clone(),
        inc: b_to_a.clone(),
        reported: false,
    };
    let b = MemoryEnd {
        out: b_to_a,
        inc: a_to_b,
        reported: false,
    };
    (Connection::new(a), Connection::new(b))
}

/// A [`MemoryTransport`] and the [`MemoryAcceptor`] that receives the server end of each of
/// its connections.
pub fn transport() -> (MemoryTransport, MemoryAcceptor) {
    let (tx, rx) = mpsc::channel(BACKLOG);
    let refusals = Arc::new(Mutex::new(VecDeque::new()));
    (
        MemoryTransport {
            accepted: tx,
            refusals: refusals.clone(),
        },
        MemoryAcceptor {
            incoming: rx,
            refusals,
        },
    )
}

/// A [`Transport`] whose every `connect` makes a new [`pair`] and hands the other end to
/// its [`MemoryAcceptor`].
///
/// `connect` fails with a refusal queued by [`MemoryAcceptor::refuse_next`], or with
/// [`TransportError::Connect`] (connection refused) once the acceptor is dropped. Clones
/// connect to the same acceptor.
#[derive(Debug, Clone)]
pub struct MemoryTransport {
    accepted: mpsc::Sender<Connection>,
    refusals: Arc<Mutex<VecDeque<TransportError>>>,
}

#[async_trait]
impl Transport for MemoryTransport {
    async fn connect(&self) -> Result<Connection, TransportError> {
        if let Some(error) = lock(&self.refusals).pop_front() {
            return Err(error);
        }
        let (client, server) = pair();
        self.accepted
            .send(server)
            .await
            .map_err(|_| TransportError::Connect {
                addr: "memory".to_owned(),
                source: std::io::ErrorKind::ConnectionRefused.into(),
            })?;
        Ok(client)
    }
}

/// The server side of a [`MemoryTransport`]: receives one [`Connection`] per `connect`.
#[derive(Debug)]
pub struct MemoryAcceptor {
    incoming: mpsc::Receiver<Connection>,
    refusals: Arc<Mutex<VecDeque<TransportError>>>,
}

impl MemoryAcceptor {
    /// The server end of the next connection; `None` once every [`MemoryTransport`] clone is
    /// dropped and no connection is waiting.
    pub async fn accept(&mut self) -> Option<Connection> {
        self.incoming.recv().await
    }

    /// Makes the next `connect` that has no refusal before it fail with `error`. Calls queue
    /// up: each refuses one connect, in order.
    pub fn refuse_next(&self, error: TransportError) {
        lock(&self.refusals).push_back(error);
    }
}

/// One direction of a pair.
#[derive(Debug, Default)]
struct Pipe {
    state: Mutex<PipeState>,
}

#[derive(Debug, Default)]
struct PipeState {
    queue: VecDeque<Bytes>,
    /// How the direction ended; the reader sees it once the queue is drained.
    end: Option<CloseEvent>,
    reader_gone: bool,
    /// The reader, waiting for a frame or the end.
    reader: Option<Waker>,
    /// The writer, waiting for room.
    writer: Option<Waker>,
}

impl Pipe {
    fn state(&self) -> MutexGuard<'_, PipeState> {
        lock(&self.state)
    }

    /// Sets the end unless there is one; `true` when this call set it.
    fn end_with(&self, event: CloseEvent) -> bool {
        let mut state = self.state();
        let set = state.end.is_none();
        if set {
            state.end = Some(event);
        }
        wake(state.reader.take());
        wake(state.writer.take());
        set
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// A poisoned lock only means another thread panicked while holding it; the queue inside
/// is still consistent because no operation on it can panic halfway.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One end of a [`pair`]: writes to `out`, reads from `inc`.
#[derive(Debug)]
struct MemoryEnd {
    out: Arc<Pipe>,
    inc: Arc<Pipe>,
    /// `Closed` was yielded: the stream has ended.
    reported: bool,
}

impl Sink<Outgoing> for MemoryEnd {
    type Error = TransportError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        let mut state = self.out.state();
        if state.end.is_some() || state.reader_gone || state.queue.len() < PIPE_CAPACITY {
            return Poll::Ready(Ok(()));
        }
        state.writer = Some(cx.waker().clone());
        Poll::Pending
    }

    fn start_send(self: Pin<&mut Self>, item: Outgoing) -> Result<(), TransportError> {
        match item {
            Outgoing::Text(text) => {
                let mut state = self.out.state();
                if state.end.is_some() {
                    return Err(TransportError::ConnectionClosed);
                }
                if !state.reader_gone {
                    state.queue.push_back(text);
                    wake(state.reader.take());
                }
                Ok(())
            }
            Outgoing::Close { code, reason } => {
                check_close(code, &reason)?;
                let event = CloseEvent::new(code, reason);
                if self.out.end_with(event.clone()) && self.out.state().reader_gone {
                    // Nobody will read the close to answer it: answer for the peer.
                    self.inc.end_with(event);
                }
                Ok(())
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }
}

impl Stream for MemoryEnd {
    type Item = Incoming;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Incoming>> {
        if self.reported {
            return Poll::Ready(None);
        }
        let mut state = self.inc.state();
        if let Some(text) = state.queue.pop_front() {
            wake(state.writer.take());
            return Poll::Ready(Some(Incoming::Text(text)));
        }
        if let Some(event) = state.end.clone() {
            drop(state);
            // Answer the close as a WebSocket peer does (no-op when this end closed first).
            self.out.end_with(event.clone());
            self.reported = true;
            return Poll::Ready(Some(Incoming::Closed(event)));
        }
        state.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for MemoryEnd {
    fn drop(&mut self) {
        let pending_close = {
            let mut state = self.inc.state();
            state.reader_gone = true;
            state.queue.clear();
            wake(state.writer.take());
            state.end.clone()
        };
        match pending_close {
            // The peer's close will never be read here: answer it now.
            Some(event) => {
                self.out.end_with(event);
            }
            // No close handshake was under way: the connection is dead both ways.
            None => {
                if self.out.end_with(CloseEvent::abnormal()) {
                    self.inc.end_with(CloseEvent::abnormal());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[tokio::test]
    async fn send_waits_when_the_pipe_is_full_and_resumes_after_a_read() {
        let (mut a, mut b) = pair();
        for i in 0..PIPE_CAPACITY {
            a.send_text(i.to_string()).await.unwrap();
        }
        {
            let mut blocked = Box::pin(a.send_text("last"));
            assert!(
                blocked.as_mut().now_or_never().is_none(),
                "send must wait while the pipe is full"
            );
        }
        assert!(matches!(b.next().await, Incoming::Text(text) if &text[..] == b"0"));
        a.send_text("last").await.unwrap();
    }
}
