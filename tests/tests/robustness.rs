//! Hostile and unlucky conditions around the driver: a peer that stops reading, close codes a
//! frame cannot carry, races between calls and a server close, a session dropped while it
//! connects, and one frame that both changes and closes an object.

mod common;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_trait::async_trait;
use common::{next, open, ready, until_end, within};
use futures_util::future::join_all;
use futures_util::{FutureExt, Sink, Stream};
use qix::qix_transport::memory::{self, MemoryTransport};
use qix::qix_transport::{CloseEvent, Connection, Incoming, Outgoing, Transport, TransportError};
use qix::{Error, NotConnectedReason, ObjectEvent, Session, SessionEvent, State};
use qix_mock::MockEngine;
use serde_json::json;
use tokio::sync::Notify;

/// A transport whose peer takes one frame and then never reads: the sink is never ready
/// again, so nothing more goes out, the close frame included, and the stream never ends.
#[derive(Debug, Default, Clone)]
struct Stalled {
    sends: Arc<AtomicUsize>,
    closes: Arc<Mutex<Vec<(u16, String)>>>,
}

#[derive(Debug)]
struct StalledFrames {
    peer: Stalled,
}

#[async_trait]
impl Transport for Stalled {
    async fn connect(&self) -> Result<Connection, TransportError> {
        Ok(Connection::new(StalledFrames { peer: self.clone() }))
    }
}

impl Sink<Outgoing> for StalledFrames {
    type Error = TransportError;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        if self.peer.sends.load(Ordering::SeqCst) == 0 {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending // and never woken: the peer is gone for good
        }
    }

    fn start_send(self: Pin<&mut Self>, item: Outgoing) -> Result<(), TransportError> {
        match item {
            Outgoing::Text(_) => self.peer.sends.fetch_add(1, Ordering::SeqCst),
            Outgoing::Close { code, reason } => {
                self.peer.closes.lock().unwrap().push((code, reason));
                0
            }
        };
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Pending
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Pending
    }
}

impl Stream for StalledFrames {
    type Item = Incoming;

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Incoming>> {
        Poll::Pending
    }
}

fn stalled_session(peer: &Stalled) -> Session {
    Session::builder("ws://unused.invalid/app/x")
        .transport(peer.clone())
        .build()
        .unwrap()
}

/// Q-CLOSE-4: the close cannot go out behind frames a peer never reads, so the close timeout
/// (on tokio's paused clock) drops the connection, and `close` still completes.
#[tokio::test(start_paused = true)]
async fn close_completes_after_the_close_timeout_while_frames_wait_for_a_peer_that_stopped_reading()
{
    let peer = Stalled::default();
    let session = stalled_session(&peer);
    let mut sent = session.subscribe("traffic:sent").unwrap();
    let mut closed = session.subscribe("closed").unwrap();
    let global = within(session.open()).await.unwrap();
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let global = global.clone();
            tokio::spawn(async move { global.call("EngineVersion", json!([])).await })
        })
        .collect();
    for _ in 0..5 {
        next(&mut sent).await;
    }
    let started = tokio::time::Instant::now();
    within(session.close_with(4100, "bye")).await.unwrap();
    assert_eq!(started.elapsed(), std::time::Duration::from_secs(5));
    assert!(peer.closes.lock().unwrap().is_empty(), "nothing went out");
    assert!(matches!(
        next(&mut closed).await,
        SessionEvent::Closed(close) if close == qix::CloseEvent::new(4100, "bye")
    ));
    for call in calls {
        let error = within(call).await.unwrap().unwrap_err();
        assert!(
            matches!(
                error,
                Error::NotConnected {
                    reason: NotConnectedReason::SocketClosed,
                    ..
                }
            ),
            "{error:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn calls_wait_for_room_instead_of_queueing_without_limit_when_the_peer_stops_reading() {
    // The crate docs ("Backpressure") promise at most 256 frames waiting to be written.
    const BOUND: usize = 256;
    let peer = Stalled::default();
    let session = stalled_session(&peer);
    let mut sent = session.subscribe("traffic:sent").unwrap();
    let global = within(session.open()).await.unwrap();
    let calls: Vec<_> = (0..4 * BOUND)
        .map(|_| {
            let global = global.clone();
            tokio::spawn(async move { global.call("EngineVersion", json!([])).await })
        })
        .collect();
    for _ in 0..BOUND {
        next(&mut sent).await;
    }
    // Lifecycle commands never wait behind calls.
    within(session.close()).await.unwrap();
    let results = within(join_all(calls)).await;
    assert!(results.iter().all(|result| matches!(result, Ok(Err(_)))));
    // The one frame the peer took, and at most BOUND waiting behind it (the close may come
    // before the last one is taken).
    let written = BOUND + ready(&mut sent).len();
    assert!(
        written <= BOUND + 1,
        "{written} frames taken, beyond the bound"
    );
    assert_eq!(peer.sends.load(Ordering::SeqCst), 1, "the peer never read");
}

#[tokio::test]
async fn close_and_suspend_with_what_a_close_frame_cannot_carry_fail_before_sending() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open(&engine).await;
    let long_reason = "x".repeat(124);
    for (code, reason) in [
        (1005, ""),
        (1006, ""),
        (999, ""),
        (5000, ""),
        (4000, &*long_reason),
    ] {
        let error = within(session.close_with(code, reason)).await.unwrap_err();
        assert!(matches!(error, Error::InvalidClose(_)), "{error:?}");
        let error = within(session.suspend_with(code, reason))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::InvalidClose(_)), "{error:?}");
    }
    assert_eq!(session.state(), State::Open);
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    assert!(connection.is_open());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_server_close_racing_calls_is_never_reported_as_a_socket_error() {
    let engine = MockEngine::start().await.unwrap();
    for _ in 0..20 {
        let (session, global, connection) = open(&engine).await;
        let mut errors = session.subscribe("socket-error").unwrap();
        let calls: Vec<_> = (0..300)
            .map(|_| {
                let global = global.clone();
                tokio::spawn(async move { global.call("EngineVersion", json!([])).await })
            })
            .collect();
        connection.close(1000, "").await;
        for call in within(join_all(calls)).await {
            if let Err(error) = call.unwrap() {
                assert!(
                    !matches!(
                        error,
                        Error::NotConnected {
                            reason: NotConnectedReason::SocketError,
                            ..
                        }
                    ),
                    "{error:?}"
                );
            }
        }
        drop((session, global));
        assert!(until_end(&mut errors).await.is_empty());
    }
}

/// Connects only when the test says so.
#[derive(Debug)]
struct Gated {
    inner: MemoryTransport,
    gate: Arc<Notify>,
}

#[async_trait]
impl Transport for Gated {
    async fn connect(&self) -> Result<Connection, TransportError> {
        self.gate.notified().await;
        self.inner.connect().await
    }
}

#[tokio::test]
async fn dropping_the_last_session_while_it_connects_closes_with_1000_once_connected() {
    let (inner, mut acceptor) = memory::transport();
    let gate = Arc::new(Notify::new());
    let session = Session::builder("ws://unused.invalid/app/x")
        .transport(Gated {
            inner,
            gate: gate.clone(),
        })
        .build()
        .unwrap();
    // The open is handed to the session (its first poll sends it), then everything is dropped.
    assert!(session.open().now_or_never().is_none());
    drop(session);
    gate.notify_one();
    let mut server = within(acceptor.accept()).await.unwrap();
    match within(server.next()).await {
        Incoming::Closed(close) => assert_eq!(close, CloseEvent::new(1000, "")),
        other => panic!("expected a close, got {other:?}"),
    }
}

#[tokio::test]
async fn one_frame_that_changes_and_closes_an_object_emits_changed_then_closed() {
    let engine = MockEngine::start().await.unwrap();
    let (_session, global, connection) = open(&engine).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let object =
        within(doc.call_object("CreateSessionObject", json!([{"qInfo": {"qType": "kpi"}}])))
            .await
            .unwrap();
    let mut events = object.subscribe("changed").unwrap();
    let mut closed = object.subscribe("closed").unwrap();
    connection
        .push_changes(vec![object.handle()], vec![object.handle()])
        .await;
    assert!(matches!(next(&mut events).await, ObjectEvent::Changed));
    assert!(matches!(next(&mut closed).await, ObjectEvent::Closed));
    assert!(object.is_closed());
}

#[tokio::test]
async fn state_follows_the_lifecycle() {
    let engine = MockEngine::start().await.unwrap();
    let session = Session::builder(engine.url("/app/app.qvf/ttl/30"))
        .build()
        .unwrap();
    let mut lifecycle = session
        .subscribe_many(["opened", "suspended", "resumed", "closed"])
        .unwrap();
    assert_eq!(session.state(), State::Idle);
    within(session.open()).await.unwrap();
    assert_eq!(session.state(), State::Open);
    within(session.suspend()).await.unwrap();
    assert_eq!(session.state(), State::Suspended);
    within(session.resume(true)).await.unwrap();
    assert_eq!(session.state(), State::Open);
    within(session.close()).await.unwrap();
    assert_eq!(session.state(), State::Closed);
    let seen: Vec<&str> = ready(&mut lifecycle)
        .iter()
        .map(|event| match event {
            SessionEvent::Opened => "opened",
            SessionEvent::Suspended { .. } => "suspended",
            SessionEvent::Resumed => "resumed",
            SessionEvent::Closed(_) => "closed",
            _ => "other",
        })
        .collect();
    assert_eq!(seen, ["opened", "suspended", "resumed", "closed"]);
}
