//! Safe retries over real sockets: the ready-made retry of aborted calls (Q-RETRY-2, enigma.js
//! I6 as its retry-aborted example uses it) on tokio's paused clock, and the replay of reads
//! after a network drop with automatic resume (Q-RETRY-1).

mod common;

use std::time::Duration;

use common::{next, open_at, received, within};
use qix::intercept::RetryAborted;
use qix::{AutoResume, Backoff, EngineCode, Error, SessionEvent};
use qix_mock::MockEngine;
use serde_json::json;

fn delays(seconds: &[u64]) -> Backoff {
    Backoff::Delays(seconds.iter().map(|s| Duration::from_secs(*s)).collect())
}

fn ids(connection: &qix_mock::MockConnection, method: &str) -> Vec<u64> {
    connection
        .requests()
        .iter()
        .filter(|r| r.method == method)
        .map(|r| r.id)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn q_retry_2_aborted_calls_are_retried_after_the_back_off_and_then_succeed() {
    let engine = MockEngine::start().await.unwrap();
    let (_session, global, connection) = open_at(&engine, "/app/app.qvf", |b| {
        b.response_interceptor(RetryAborted::new(3).backoff(delays(&[1, 2])))
    })
    .await;
    engine.abort_method("EngineVersion", 2);
    let started = tokio::time::Instant::now();
    let version = within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    assert!(version["qVersion"].is_object(), "{version}");
    // Two waits of the schedule, on the paused clock: 1 s, then 2 s.
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    let sent = ids(&connection, "EngineVersion");
    assert_eq!(sent.len(), 3, "the first try and two retries");
    assert!(sent.windows(2).all(|w| w[0] < w[1]), "new ids: {sent:?}");
    assert_eq!(engine.aborts_left("EngineVersion"), 0);
}

#[tokio::test(start_paused = true)]
async fn q_retry_2_gives_up_after_n_retries_with_the_engines_error() {
    let engine = MockEngine::start().await.unwrap();
    let (_session, global, connection) = open_at(&engine, "/app/app.qvf", |b| {
        b.response_interceptor(RetryAborted::new(2).backoff(delays(&[1])))
    })
    .await;
    engine.abort_method("GetDocList", 5);
    let error = within(global.call("GetDocList", json!([])))
        .await
        .unwrap_err();
    assert_eq!(
        error.engine_code(),
        Some(EngineCode::GenericAborted),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert_eq!(ids(&connection, "GetDocList").len(), 3);
    assert_eq!(engine.aborts_left("GetDocList"), 2);
}

#[tokio::test(start_paused = true)]
async fn q_retry_2_reads_only_leaves_aborted_mutations_to_the_caller() {
    let engine = MockEngine::start().await.unwrap();
    let (_session, global, connection) = open_at(&engine, "/app/app.qvf", |b| {
        b.response_interceptor(RetryAborted::new(3).backoff(delays(&[1])).reads_only(true))
    })
    .await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    engine.abort_method("CreateSessionObject", 1);
    let error =
        within(doc.call_object("CreateSessionObject", json!([{"qInfo": {"qType": "kpi"}}])))
            .await
            .unwrap_err();
    assert_eq!(error.engine_code(), Some(EngineCode::GenericAborted));
    assert_eq!(ids(&connection, "CreateSessionObject").len(), 1);
}

/// A session that resumes on its own after a drop, one second later, replaying reads.
fn replaying(builder: qix::SessionBuilder) -> qix::SessionBuilder {
    let mut policy = AutoResume::default();
    policy.backoff = delays(&[1]);
    policy.replay_reads = true;
    builder.suspend_on_close(true).auto_resume(policy)
}

#[tokio::test(start_paused = true)]
async fn q_retry_1_a_read_interrupted_by_a_drop_settles_with_its_result_after_the_resume() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open_at(&engine, "/app/app.qvf/ttl/30", replaying).await;
    let mut resumed = session.subscribe("resumed").unwrap();
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let chart = within(doc.call_object(
        "CreateSessionObject",
        json!([{"qInfo": {"qId": "chart-1", "qType": "barchart"}, "title": "Sales"}]),
    ))
    .await
    .unwrap();
    let old_handle = chart.handle();
    connection.hold_responses();
    let layout = tokio::spawn({
        let chart = chart.clone();
        async move { chart.call("GetLayout", json!([])).await }
    });
    received(&connection, "GetLayout", 1).await;
    connection.drop_tcp();

    let layout = within(layout).await.unwrap().unwrap();
    assert_eq!(layout["qLayout"]["title"], "Sales");
    assert!(matches!(next(&mut resumed).await, SessionEvent::Resumed));
    let second = within(engine.next_connection()).await;
    let replayed = second
        .requests()
        .into_iter()
        .find(|r| r.method == "GetLayout")
        .expect("replayed on the new socket");
    assert_eq!(
        replayed.handle,
        chart.handle(),
        "sent to the object's new handle"
    );
    assert_ne!(chart.handle(), old_handle);
}

#[tokio::test(start_paused = true)]
async fn q_retry_1_a_mutation_interrupted_by_a_drop_fails_as_may_or_may_not_have_run() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open_at(&engine, "/app/app.qvf/ttl/30", replaying).await;
    let mut resumed = session.subscribe("resumed").unwrap();
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let chart = within(doc.call_object(
        "CreateSessionObject",
        json!([{"qInfo": {"qId": "chart-1", "qType": "barchart"}}]),
    ))
    .await
    .unwrap();
    connection.hold_responses();
    let set = tokio::spawn({
        let chart = chart.clone();
        async move {
            chart
                .call(
                    "SetProperties",
                    json!([{"qInfo": {"qId": "chart-1", "qType": "barchart"}}]),
                )
                .await
        }
    });
    received(&connection, "SetProperties", 1).await;
    connection.drop_tcp();
    let error = within(set).await.unwrap().unwrap_err();
    match &error {
        Error::Interrupted { method, close } => {
            assert_eq!((method.as_str(), close.code), ("SetProperties", 1006));
        }
        other => panic!("expected Interrupted, got {other:?}"),
    }
    assert!(
        error.to_string().contains("may or may not have run"),
        "{error}"
    );
    assert!(!error.is_retryable());
    assert!(error.is_disconnect());
    assert_eq!(
        error.enigma_code(),
        Some(-1),
        "a socket that closed, to enigma.js code"
    );
    // The session itself comes back, and the mutation is never sent again.
    assert!(matches!(next(&mut resumed).await, SessionEvent::Resumed));
    let second = within(engine.next_connection()).await;
    within(chart.call("GetLayout", json!([]))).await.unwrap();
    assert!(!second
        .requests()
        .iter()
        .any(|r| r.method == "SetProperties"));
}
