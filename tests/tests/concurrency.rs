//! Many calls at once from many tasks on a multi-threaded runtime, and calls racing closes and
//! suspensions: every call settles once, with its own answer.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{open, open_at, received, within};
use futures_util::future::join_all;
use qix::Error;
use qix_mock::{MockApp, MockConfig, MockEngine};
use serde_json::json;

const TASKS: usize = 8;
const PER_TASK: usize = 125;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_concurrent_calls_from_8_tasks_settle_with_their_own_results() {
    let mut app = MockApp::new("app.qvf");
    for n in 0..TASKS * PER_TASK {
        app = app.object(format!("o-{n}"), "kpi", json!({"n": n}));
    }
    let engine = MockEngine::start_with(MockConfig::new().app(app))
        .await
        .unwrap();
    let (session, global, connection) = open(&engine).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();

    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let doc = doc.clone();
            let global = global.clone();
            tokio::spawn(async move {
                let calls = (task * PER_TASK..(task + 1) * PER_TASK).map(|n| {
                    let doc = doc.clone();
                    let global = global.clone();
                    async move {
                        let id = format!("o-{n}");
                        let object = doc.call_object("GetObject", json!([id])).await.unwrap();
                        assert_eq!(object.id(), id);
                        let props = object.call("GetProperties", json!([])).await.unwrap();
                        assert_eq!(props["qProp"]["n"], n, "answer of another request");
                        assert_eq!(props["qProp"]["qInfo"]["qId"], id);
                        if n % 10 == 0 {
                            let version = global.call("EngineVersion", json!([])).await.unwrap();
                            assert_eq!(version["qVersion"]["qComponentVersion"], "12.2528.0");
                        }
                        object.handle()
                    }
                });
                join_all(calls).await
            })
        })
        .collect();
    let mut handles = HashSet::new();
    for task in tasks {
        for handle in within(task).await.unwrap() {
            assert!(handles.insert(handle), "two objects share handle {handle}");
        }
    }
    assert_eq!(handles.len(), TASKS * PER_TASK);

    let requests = connection.requests();
    let expected = 1 + 2 * TASKS * PER_TASK + TASKS * PER_TASK / 10;
    assert_eq!(requests.len(), expected);
    let ids: HashSet<u64> = requests.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        (1..=expected as u64).collect::<HashSet<u64>>(),
        "ids unique, none skipped"
    );
    within(session.close()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_racing_a_server_close_all_settle_with_not_connected() {
    let engine = MockEngine::start().await.unwrap();
    let (_session, global, connection) = open(&engine).await;
    connection.hold_responses();
    let in_flight: Vec<_> = (0..200)
        .map(|_| {
            let global = global.clone();
            tokio::spawn(async move { global.call("EngineVersion", json!([])).await })
        })
        .collect();
    received(&connection, "EngineVersion", 200).await;
    // More calls race the close itself: each is either written and failed, or refused.
    let racing: Vec<_> = (0..200)
        .map(|_| {
            let global = global.clone();
            tokio::spawn(async move { global.call("EngineVersion", json!([])).await })
        })
        .collect();
    connection.close(4029, "x").await;
    for call in in_flight.into_iter().chain(racing) {
        match within(call).await.unwrap() {
            Err(error @ Error::NotConnected { .. }) => assert_eq!(error.code(), Some(-1)),
            other => panic!("expected Not connected, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_racing_suspend_and_resume_each_settle_once_with_an_answer_or_a_session_error() {
    let config =
        MockConfig::new().app(MockApp::new("app.qvf").object("o-1", "kpi", json!({"n": 1})));
    let engine = MockEngine::start_with(config).await.unwrap();
    let (session, global, _connection) = open_at(&engine, "/app/app.qvf/ttl/30", |b| b).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let object = within(doc.call_object("GetObject", json!(["o-1"])))
        .await
        .unwrap();

    let callers: Vec<_> = (0..TASKS)
        .map(|_| {
            let object = object.clone();
            tokio::spawn(async move {
                let mut answered = 0;
                for _ in 0..100 {
                    match object.call("GetProperties", json!([])).await {
                        Ok(props) => {
                            assert_eq!(props["qProp"]["n"], 1);
                            answered += 1;
                        }
                        Err(error) => assert!(
                            matches!(error.code(), Some(-1 | -11)),
                            "unexpected failure: {error:?}"
                        ),
                    }
                    tokio::task::yield_now().await;
                }
                answered
            })
        })
        .collect();
    for _ in 0..3 {
        within(session.suspend()).await.unwrap();
        within(session.resume(true)).await.unwrap();
    }
    for caller in callers {
        within(caller).await.unwrap();
    }
    // Whatever happened in between, the session ends up working.
    let props = within(object.call("GetProperties", json!([])))
        .await
        .unwrap();
    assert_eq!(props["qProp"]["n"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn qix_mock_wait_for_requests_sees_a_request_recorded_while_it_checks_the_log() {
    // Regression: the wait once marked the log's progress seen after reading the log, so a
    // request recorded in between was never waited for.
    let engine = MockEngine::start().await.unwrap();
    let (_session, global, connection) = open(&engine).await;
    // A long log makes each check slow, which widens the window the race needs.
    let backlog = 3000;
    join_all((0..backlog).map(|_| global.call("EngineVersion", json!([])))).await;
    for count in backlog + 1..=backlog + 500 {
        let global = global.clone();
        tokio::spawn(async move { global.call("EngineVersion", json!([])).await });
        let wait = connection.wait_for_requests("EngineVersion", count);
        // Only bounds the hang; the verdict is what the log holds.
        if tokio::time::timeout(Duration::from_secs(2), wait)
            .await
            .is_err()
        {
            let logged = connection.requests().len();
            panic!(
                "wait_for_requests(EngineVersion, {count}) never returned; the log holds {logged}"
            );
        }
    }
}
