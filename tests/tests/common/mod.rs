//! Helpers shared by the integration tests: waiting on streams without hanging, opening a
//! session against the mock, and reading events apart.

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use futures_util::{FutureExt, Stream, StreamExt};
use qix::{Direction, Object, Session, SessionBuilder, SessionEvent};
use qix_mock::{MockConnection, MockEngine};
use serde_json::Value;

/// Only guards against hanging forever; no test asserts on how long anything took.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test instead of hanging.
pub(crate) async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(WAIT, future)
        .await
        .expect("timed out: the awaited event never came")
}

/// The next item of `stream`; fails if it ends or nothing comes.
pub(crate) async fn next<S: Stream + Unpin>(stream: &mut S) -> S::Item {
    within(stream.next()).await.expect("the stream ended")
}

/// Every item already queued on `stream`, without waiting.
pub(crate) fn ready<S: Stream + Unpin>(stream: &mut S) -> Vec<S::Item> {
    let mut items = Vec::new();
    while let Some(Some(item)) = stream.next().now_or_never() {
        items.push(item);
    }
    items
}

/// Every item until `stream` ends (it ends when its bus closes: the object closed or the
/// session's driver stopped).
pub(crate) async fn until_end<S: Stream + Unpin>(stream: &mut S) -> Vec<S::Item> {
    within(stream.collect::<Vec<_>>()).await
}

/// A session on `engine` at `path`, opened, with the mock's side of its socket. Returns once
/// the mock's `OnConnected` greeting has been received, so that what a test records afterwards
/// holds only the frames it causes.
pub(crate) async fn open_at(
    engine: &MockEngine,
    path: &str,
    configure: impl FnOnce(SessionBuilder) -> SessionBuilder,
) -> (Session, Object, MockConnection) {
    let session = configure(Session::builder(engine.url(path)))
        .build()
        .expect("build");
    let mut greeting = session
        .subscribe("notification:OnConnected")
        .expect("topic");
    let global = within(session.open()).await.expect("open");
    let connection = within(engine.next_connection()).await;
    next(&mut greeting).await;
    (session, global, connection)
}

/// A session on the default app path, opened.
pub(crate) async fn open(engine: &MockEngine) -> (Session, Object, MockConnection) {
    open_at(engine, "/app/app.qvf", |builder| builder).await
}

/// A traffic event as (direction, parsed frame); panics on any other event.
pub(crate) fn traffic(event: SessionEvent) -> (Direction, Value) {
    match event {
        SessionEvent::Traffic(traffic) => {
            let parsed: Value = serde_json::from_str(traffic.text()).expect("traffic is JSON");
            assert_eq!(parsed, traffic.json(), "text() and json() disagree");
            (traffic.direction(), parsed)
        }
        other => panic!("expected traffic, got {other:?}"),
    }
}

/// The `id` member of a frame as a number.
pub(crate) fn id_of(frame: &Value) -> u64 {
    frame["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no numeric id in {frame}"))
}

/// The notification's (method, params); panics on any other event.
pub(crate) fn notification(event: SessionEvent) -> (String, Value) {
    match event {
        SessionEvent::Notification { method, params } => (method, params),
        other => panic!("expected a notification, got {other:?}"),
    }
}

/// The close event of `closed`; panics on any other event.
pub(crate) fn closed(event: SessionEvent) -> qix::CloseEvent {
    match event {
        SessionEvent::Closed(close) => close,
        other => panic!("expected closed, got {other:?}"),
    }
}

/// Waits (bounded) until the mock has recorded `count` requests for `method` on `connection`.
pub(crate) async fn received(connection: &MockConnection, method: &str, count: usize) {
    let found = within(connection.wait_for_requests(method, count)).await;
    assert!(
        found.is_some(),
        "the socket ended before {count} {method} requests"
    );
}
