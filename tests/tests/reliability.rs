//! Time and failure over real sockets: request timeouts (Q-TIME-1), cancellation of dropped
//! calls (Q-CANCEL-1), the bound on calls in flight (Q-FLOW-1) and the liveness check that
//! finds a frozen engine (Q-LIVE-1). Time is tokio's paused clock wherever it matters.

mod common;

use std::time::Duration;

use common::{next, open_at, received, within};
use qix::{Error, Initiator, NotConnectedReason, SessionEvent};
use qix_mock::MockEngine;
use serde_json::json;

#[tokio::test(start_paused = true)]
async fn q_time_1_a_call_with_no_answer_in_time_fails_with_timeout_and_is_cancelled() {
    let engine = MockEngine::start().await.unwrap();
    let (_session, global, connection) = open_at(&engine, "/app/app.qvf", |b| {
        b.request_timeout(Duration::from_secs(2))
    })
    .await;
    connection.hold_responses();
    let error = within(global.call("EngineVersion", json!([])))
        .await
        .unwrap_err();
    let Error::Timeout {
        method,
        request,
        elapsed,
    } = &error
    else {
        panic!("expected a timeout, got {error:?}")
    };
    assert_eq!(method, "EngineVersion");
    assert_eq!(*elapsed, Duration::from_secs(2));
    assert!(error.to_string().contains("EngineVersion"), "{error}");
    received(&connection, "CancelRequest", 1).await;
    let cancel = connection
        .requests()
        .into_iter()
        .find(|r| r.method == "CancelRequest")
        .unwrap();
    assert_eq!(
        (cancel.handle, cancel.params.as_value()),
        (-1, &json!([request]))
    );
}

#[tokio::test(start_paused = true)]
async fn q_time_1_a_handle_with_its_own_timeout_overrides_the_session() {
    let engine = MockEngine::start().await.unwrap();
    let (_session, global, connection) = open_at(&engine, "/app/app.qvf", |b| b).await;
    connection.hold_responses();
    let error = within(
        global
            .with_timeout(Duration::from_millis(1500))
            .call("EngineVersion", json!([])),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, Error::Timeout { elapsed, .. } if elapsed == Duration::from_millis(1500)),
        "{error:?}"
    );
}

#[tokio::test]
async fn q_cancel_1_a_thousand_dropped_calls_leave_nothing_pending_and_each_is_cancelled() {
    const CALLS: usize = 1_000;
    let engine = MockEngine::start().await.unwrap();
    // The bound on calls in flight equals the number dropped: if any stayed pending, the
    // call after them could never be taken.
    let (_session, global, connection) =
        open_at(&engine, "/app/app.qvf", |b| b.max_in_flight(CALLS)).await;
    connection.hold_responses();
    let calls: Vec<_> = (0..CALLS)
        .map(|_| {
            let global = global.clone();
            tokio::spawn(async move { global.call("EngineVersion", json!([])).await })
        })
        .collect();
    received(&connection, "EngineVersion", CALLS).await;
    for call in &calls {
        call.abort();
    }
    for call in calls {
        assert!(call.await.unwrap_err().is_cancelled());
    }
    received(&connection, "CancelRequest", CALLS).await;
    let requests = connection.requests();
    let sent: std::collections::HashSet<u64> = requests
        .iter()
        .filter(|r| r.method == "EngineVersion")
        .map(|r| r.id)
        .collect();
    let cancelled: std::collections::HashSet<u64> = requests
        .iter()
        .filter(|r| r.method == "CancelRequest")
        .map(|r| r.params.as_value()[0].as_u64().unwrap())
        .collect();
    assert_eq!(sent, cancelled, "each dropped call is cancelled, once");
    connection.release_responses();
    let version = within(global.call("ProductVersion", json!([])))
        .await
        .unwrap();
    assert!(version["qReturn"].is_string());
}

#[tokio::test(start_paused = true)]
async fn q_live_1_a_frozen_engine_becomes_a_network_suspension() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) =
        open_at(&engine, "/app/app.qvf/ttl/30", |b| b.suspend_on_close(true)).await;
    let mut suspended = session.subscribe("suspended").unwrap();
    // Frozen: the engine takes requests and answers none of them, the probe included.
    connection.hold_responses();
    let started = tokio::time::Instant::now();
    // Longer than `within`'s guard: the check takes 30 s of the paused clock.
    let error = tokio::time::timeout(
        Duration::from_secs(120),
        global.call("GetDocList", json!([])),
    )
    .await
    .expect("the liveness check never fired")
    .unwrap_err();
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
    // Probed after 20 s of silence, given up 10 s later: the defaults.
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    assert!(connection
        .requests()
        .iter()
        .any(|r| r.method == "ProductVersion" && r.handle == -1));
    match next(&mut suspended).await {
        SessionEvent::Suspended {
            initiator, code, ..
        } => assert_eq!((initiator, code), (Initiator::Network, 1006)),
        other => panic!("expected suspended, got {other:?}"),
    }
}

#[tokio::test]
async fn q_flow_1_callers_beyond_the_bound_wait_and_are_answered_in_turn() {
    let engine = MockEngine::start().await.unwrap();
    let (_session, global, connection) =
        open_at(&engine, "/app/app.qvf", |b| b.max_in_flight(4)).await;
    connection.hold_responses();
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let global = global.clone();
            tokio::spawn(async move { global.call("EngineVersion", json!([])).await })
        })
        .collect();
    received(&connection, "EngineVersion", 4).await;
    // The engine holds 4 requests; the 6 other callers wait, nothing more is written.
    tokio::task::yield_now().await;
    assert_eq!(
        connection
            .requests()
            .iter()
            .filter(|r| r.method == "EngineVersion")
            .count(),
        4
    );
    connection.release_responses();
    for call in calls {
        within(call).await.unwrap().unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn q_auto_1_a_network_drop_is_resumed_and_an_idle_close_is_not() {
    let engine = MockEngine::start().await.unwrap();
    let mut policy = qix::AutoResume::default();
    policy.backoff = qix::Backoff::Delays(vec![Duration::from_secs(1)]);
    let (session, global, connection) = open_at(&engine, "/app/app.qvf/ttl/30", |b| {
        b.suspend_on_close(true).auto_resume(policy)
    })
    .await;
    let mut events = session
        .subscribe_many(["suspended", "resuming", "resumed", "resume-failed"])
        .unwrap();
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    connection.drop_tcp();
    assert!(matches!(
        next(&mut events).await,
        SessionEvent::Suspended {
            initiator: Initiator::Network,
            code: 1006,
            ..
        }
    ));
    assert!(matches!(
        next(&mut events).await,
        SessionEvent::Resuming { attempt: 1, delay } if delay == Duration::from_secs(1)
    ));
    assert!(matches!(next(&mut events).await, SessionEvent::Resumed));
    // Re-attached: the same Doc works on its new handle.
    let second = within(engine.next_connection()).await;
    assert!(second.requests().iter().any(|r| r.method == "GetActiveDoc"));
    within(doc.call_object("CreateSessionObject", json!([{"qInfo": {"qType": "kpi"}}])))
        .await
        .unwrap();
    // An idle close is the engine's decision: nothing is resumed.
    second.close(4001, "idle").await;
    assert!(matches!(
        next(&mut events).await,
        SessionEvent::Suspended {
            initiator: Initiator::Network,
            code: 4001,
            ..
        }
    ));
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(
        common::ready(&mut events).is_empty(),
        "no attempt after 4001"
    );
    assert!(
        engine.try_next_connection().is_none(),
        "no connect after 4001"
    );
}
