//! Hostile and unlucky conditions around the driver: a peer that stops reading, close codes a
//! frame cannot carry, races between calls and a server close, a session dropped while it
//! connects, and one frame that both changes and closes an object.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::{next, open, ready, until_end, within};
use futures_util::future::join_all;
use futures_util::FutureExt;
use qix::qix_transport::memory::{self, MemoryTransport};
use qix::qix_transport::{
    CloseEvent, Connection, FrameSink, FrameSource, Incoming, Transport, TransportError,
};
use qix::{Error, NotConnectedReason, ObjectEvent, Session, SessionEvent, State};
use qix_mock::MockEngine;
use serde_json::json;
use tokio::sync::{oneshot, Notify};

/// A transport whose peer never reads: every `send` waits forever. A close frame still goes
/// out (it is recorded) and the peer answers it, as a WebSocket peer's stack does.
#[derive(Debug, Default, Clone)]
struct Stalled {
    sends: Arc<AtomicUsize>,
    closes: Arc<Mutex<Vec<(u16, String)>>>,
}

#[derive(Debug)]
struct StalledSink {
    peer: Stalled,
    answer: Option<oneshot::Sender<CloseEvent>>,
}

#[derive(Debug)]
struct StalledSource {
    answer: oneshot::Receiver<CloseEvent>,
    closed: Option<CloseEvent>,
}

#[async_trait]
impl Transport for Stalled {
    async fn connect(&self) -> Result<Connection, TransportError> {
        let (answer, answered) = oneshot::channel();
        let sink = StalledSink {
            peer: self.clone(),
            answer: Some(answer),
        };
        let source = StalledSource {
            answer: answered,
            closed: None,
        };
        Ok(Connection::new(sink, source))
    }
}

#[async_trait]
impl FrameSink for StalledSink {
    async fn send(&mut self, _text: String) -> Result<(), TransportError> {
        self.peer.sends.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }

    async fn close(&mut self, code: u16, reason: &str) -> Result<(), TransportError> {
        self.peer
            .closes
            .lock()
            .unwrap()
            .push((code, reason.to_owned()));
        if let Some(answer) = self.answer.take() {
            let _ = answer.send(CloseEvent::new(code, reason));
        }
        Ok(())
    }
}

#[async_trait]
impl FrameSource for StalledSource {
    async fn next(&mut self) -> Incoming {
        if let Some(closed) = &self.closed {
            return Incoming::Closed(closed.clone());
        }
        let closed = (&mut self.answer)
            .await
            .unwrap_or_else(|_| CloseEvent::abnormal());
        self.closed = Some(closed.clone());
        Incoming::Closed(closed)
    }
}

fn stalled_session(peer: &Stalled) -> Session {
    Session::builder("ws://unused.invalid/app/x")
        .transport(peer.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn close_goes_out_while_a_frame_waits_for_a_peer_that_stopped_reading() {
    let peer = Stalled::default();
    let session = stalled_session(&peer);
    let mut sent = session.subscribe("traffic:sent").unwrap();
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
    within(session.close_with(4100, "bye")).await.unwrap();
    assert_eq!(*peer.closes.lock().unwrap(), vec![(4100, "bye".to_owned())]);
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

#[tokio::test]
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
    let written = BOUND + ready(&mut sent).len();
    assert_eq!(written, BOUND, "frames taken beyond the bound");
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
    let (_sink, mut source) = within(acceptor.accept()).await.unwrap().into_parts();
    match within(source.next()).await {
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
