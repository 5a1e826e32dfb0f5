//! In-process connections, for tests.
//!
//! [`pair`] gives two connected ends; [`transport`] gives a [`MemoryTransport`] whose every
//! `connect` hands the other end of a new pair to a [`MemoryAcceptor`], where a test plays the
//! server.
//!
//! The ends behave like a WebSocket, close handshake included:
//! - text sent on one end arrives on the other, in order;
//! - `close(code, reason)` on one end makes the other's source yield `Closed{code, reason}`
//!   (after the text sent before it), which answers with the same close, so the closer's
//!   source then yields it too;
//! - dropping a sink that has not closed ends the connection abruptly: both sources yield
//!   `Closed{1006, ""}` once they have read what was sent before;
//! - each direction buffers up to 1024 frames; `send` waits while the buffer is full;
//! - text sent to an end whose source was dropped is discarded.
//!
//! ```
//! use qix_transport::{memory, CloseEvent, Incoming};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (mut client, mut server) = memory::pair();
//! client.sink.send("ping".to_owned()).await.unwrap();
//! assert!(matches!(server.source.next().await, Incoming::Text(text) if text == "ping"));
//!
//! client.sink.close(4000, "bye").await.unwrap();
//! let expected = CloseEvent::new(4000, "bye");
//! assert!(matches!(server.source.next().await, Incoming::Closed(event) if event == expected));
//! assert!(matches!(client.source.next().await, Incoming::Closed(event) if event == expected));
//! # }
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, Notify};

use crate::{
    async_trait, check_close, CloseEvent, Connection, FrameSink, FrameSource, Incoming, Transport,
    TransportError,
};

/// Frames buffered per direction before `send` waits.
const PIPE_CAPACITY: usize = 1024;

/// Connections waiting in a [`MemoryAcceptor`] before `connect` waits.
const BACKLOG: usize = 64;

/// Two connected ends: what one end's sink sends, the other end's source receives.
pub fn pair() -> (Connection, Connection) {
    let a_to_b = Arc::new(Pipe::default());
    let b_to_a = Arc::new(Pipe::default());
    let a = Connection::new(
        MemorySink {
            out: a_to_b.clone(),
            inc: b_to_a.clone(),
        },
        MemorySource {
            inc: b_to_a.clone(),
            out: a_to_b.clone(),
            closed: None,
        },
    );
    let b = Connection::new(
        MemorySink {
            out: b_to_a.clone(),
            inc: a_to_b.clone(),
        },
        MemorySource {
            inc: a_to_b,
            out: b_to_a,
            closed: None,
        },
    );
    (a, b)
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
    /// Wakes the reader: a frame or the end arrived.
    readable: Notify,
    /// Wakes the writer: room in the queue, the end, or the reader left.
    writable: Notify,
}

#[derive(Debug, Default)]
struct PipeState {
    queue: VecDeque<String>,
    /// How the direction ended; the reader sees it once the queue is drained.
    end: Option<CloseEvent>,
    reader_gone: bool,
}

impl Pipe {
    fn state(&self) -> MutexGuard<'_, PipeState> {
        lock(&self.state)
    }

    /// Sets the end unless there is one; `true` when this call set it.
    fn end_with(&self, event: CloseEvent) -> bool {
        let set = {
            let mut state = self.state();
            if state.end.is_some() {
                false
            } else {
                state.end = Some(event);
                true
            }
        };
        self.readable.notify_one();
        self.writable.notify_one();
        set
    }
}

/// A poisoned lock only means another thread panicked while holding it; the queue inside
/// is still consistent because no operation on it can panic halfway.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug)]
struct MemorySink {
    out: Arc<Pipe>,
    inc: Arc<Pipe>,
}

#[async_trait]
impl FrameSink for MemorySink {
    async fn send(&mut self, text: String) -> Result<(), TransportError> {
        loop {
            let room = self.out.writable.notified();
            {
                let mut state = self.out.state();
                if state.end.is_some() {
                    return Err(TransportError::ConnectionClosed);
                }
                if state.reader_gone {
                    return Ok(());
                }
                if state.queue.len() < PIPE_CAPACITY {
                    state.queue.push_back(text);
                    drop(state);
                    self.out.readable.notify_one();
                    return Ok(());
                }
            }
            room.await;
        }
    }

    async fn close(&mut self, code: u16, reason: &str) -> Result<(), TransportError> {
        check_close(code, reason)?;
        let event = CloseEvent::new(code, reason);
        if self.out.end_with(event.clone()) && self.out.state().reader_gone {
            // Nobody will read the close to answer it: answer for the peer.
            self.inc.end_with(event);
        }
        Ok(())
    }
}

impl Drop for MemorySink {
    fn drop(&mut self) {
        if self.out.end_with(CloseEvent::abnormal()) {
            // No close handshake was under way: the connection is dead both ways.
            self.inc.end_with(CloseEvent::abnormal());
        }
    }
}

#[derive(Debug)]
struct MemorySource {
    inc: Arc<Pipe>,
    out: Arc<Pipe>,
    closed: Option<CloseEvent>,
}

#[async_trait]
impl FrameSource for MemorySource {
    async fn next(&mut self) -> Incoming {
        if let Some(event) = &self.closed {
            return Incoming::Closed(event.clone());
        }
        loop {
            let arrived = self.inc.readable.notified();
            {
                let mut state = self.inc.state();
                if let Some(text) = state.queue.pop_front() {
                    drop(state);
                    self.inc.writable.notify_one();
                    return Incoming::Text(text);
                }
                if let Some(event) = state.end.clone() {
                    drop(state);
                    // Answer the close as a WebSocket peer does (no-op when this end closed first).
                    self.out.end_with(event.clone());
                    self.closed = Some(event.clone());
                    return Incoming::Closed(event);
                }
            }
            arrived.await;
        }
    }
}

impl Drop for MemorySource {
    fn drop(&mut self) {
        let pending_close = {
            let mut state = self.inc.state();
            state.reader_gone = true;
            state.queue.clear();
            state.end.clone()
        };
        self.inc.writable.notify_one();
        if let Some(event) = pending_close {
            // The peer's close will never be read here: answer it now.
            self.out.end_with(event);
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
            a.sink.send(i.to_string()).await.unwrap();
        }
        let mut blocked = Box::pin(a.sink.send("last".to_owned()));
        assert!(
            blocked.as_mut().now_or_never().is_none(),
            "send must wait while the pipe is full"
        );
        assert!(matches!(b.source.next().await, Incoming::Text(text) if text == "0"));
        blocked.await.unwrap();
    }
}
