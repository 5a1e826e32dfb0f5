//! Interceptors over real sockets (Q-INT-1..Q-INT-5, enigma.js I1-I7): request interceptors
//! change or refuse what is written, response interceptors change outcomes or retry, in the
//! order given and in the caller's task.

mod common;

use std::sync::{Arc, Mutex};

use common::{open_at, received, within};
use qix::intercept::{request_fn, response_fn, Answer, Outcome, Request, Verdict};
use qix::{EngineCode, Error, NotConnectedReason};
use qix_mock::{EngineError, MockEngine};
use serde_json::{json, Value};

/// What interceptors saw, in order.
type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[tokio::test]
async fn q_int_1_a_request_interceptor_changes_the_method_and_params_the_engine_receives() {
    // I1, I2: the interceptor sees handle, method and params, and what it returns is sent.
    let engine = MockEngine::start().await.unwrap();
    let seen = log();
    let record = seen.clone();
    let (_session, global, connection) = open_at(&engine, "/app/app.qvf", move |b| {
        b.request_interceptor(request_fn(move |mut request: Request| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(format!(
                    "{} {} {}",
                    request.handle(),
                    request.method(),
                    request.params()
                ));
                if request.method() == "OpenDoc" {
                    *request.params_mut() = json!(["app.qvf"]); // an alias resolved
                }
                if request.method() == "EngineVersion" {
                    request.set_method("ProductVersion");
                }
                Ok(request)
            }
        }))
    })
    .await;
    let doc = within(global.call_object("OpenDoc", json!(["alias"])))
        .await
        .unwrap();
    assert_eq!(doc.id(), "app.qvf");
    let answer = within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    assert!(
        answer["qReturn"].is_string(),
        "ProductVersion answered: {answer}"
    );

    let requests = connection.requests();
    let open = requests.iter().find(|r| r.method == "OpenDoc").unwrap();
    assert_eq!(open.params.as_value(), &json!(["app.qvf"]));
    assert!(requests.iter().any(|r| r.method == "ProductVersion"));
    assert!(!requests.iter().any(|r| r.method == "EngineVersion"));
    assert_eq!(
        entries(&seen),
        ["-1 OpenDoc [\"alias\"]", "-1 EngineVersion []"]
    );
}

#[tokio::test]
async fn q_int_1_a_request_interceptor_can_send_a_call_to_another_object() {
    let engine = MockEngine::start().await.unwrap();
    let target: Arc<Mutex<Option<qix::Object>>> = Arc::default();
    let redirect = target.clone();
    let (_session, global, connection) = open_at(&engine, "/app/app.qvf", move |b| {
        b.request_interceptor(request_fn(move |mut request: Request| {
            let redirect = redirect.lock().unwrap().clone();
            async move {
                if let (Some(doc), "GetAppLayout") = (redirect, request.method()) {
                    request.set_object(doc);
                }
                Ok(request)
            }
        }))
    })
    .await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    *target.lock().unwrap() = Some(doc.clone());
    // Made on Global, sent to the Doc's handle.
    let layout = within(global.call("GetAppLayout", json!([])))
        .await
        .unwrap();
    assert_eq!(layout["qLayout"]["qTitle"], "app.qvf");
    let sent = connection
        .requests()
        .into_iter()
        .find(|r| r.method == "GetAppLayout")
        .unwrap();
    assert_eq!(sent.handle, doc.handle());
}

#[tokio::test]
async fn q_int_2_a_refused_request_fails_the_call_and_nothing_is_written() {
    // I1: a rejection skips the send and rejects the call.
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open_at(&engine, "/app/app.qvf", |b| {
        b.request_interceptor(request_fn(|request: Request| async move {
            if request.method() == "DoReload" {
                return Err(Error::Refused("reloads are not allowed here".into()));
            }
            Ok(request)
        }))
    })
    .await;
    let mut sent = session.subscribe("traffic:sent").unwrap();
    let error = within(global.call("DoReload", json!([])))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Refused(reason) if reason == "reloads are not allowed here"),
        "{error:?}"
    );
    // The next call is the first thing written.
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    let (_, frame) = common::traffic(common::next(&mut sent).await);
    assert_eq!(frame["method"], "EngineVersion");
    assert!(!connection.requests().iter().any(|r| r.method == "DoReload"));
}

#[tokio::test]
async fn q_int_3_interceptors_run_in_the_order_given_each_seeing_the_last_ones_result() {
    // I1, I4: request interceptors in order, each on what the previous returned; response
    // interceptors likewise.
    let engine = MockEngine::start().await.unwrap();
    let seen = log();
    let (a, b, c, d) = (seen.clone(), seen.clone(), seen.clone(), seen.clone());
    let (_session, global, _connection) = open_at(&engine, "/app/app.qvf", move |builder| {
        builder
            .request_interceptor(request_fn(move |mut request: Request| {
                a.lock()
                    .unwrap()
                    .push(format!("request 1 {}", request.params()));
                request.params_mut()["qId"] = json!("from-1");
                async move { Ok(request) }
            }))
            .request_interceptor(request_fn(move |request: Request| {
                b.lock()
                    .unwrap()
                    .push(format!("request 2 {}", request.params()));
                async move { Ok(request) }
            }))
            .response_interceptor(response_fn(move |_request, outcome: Outcome| {
                c.lock().unwrap().push("response 1".to_owned());
                async move {
                    let Ok(Answer::Value(mut value)) = outcome else {
                        return Verdict::Pass(outcome);
                    };
                    value["by"] = json!(["1"]);
                    Verdict::Pass(Ok(Answer::Value(value)))
                }
            }))
            .response_interceptor(response_fn(move |_request, outcome: Outcome| {
                let d = d.clone();
                async move {
                    let Ok(Answer::Value(mut value)) = outcome else {
                        return Verdict::Pass(outcome);
                    };
                    d.lock()
                        .unwrap()
                        .push(format!("response 2 {}", value["by"]));
                    value["by"].as_array_mut().unwrap().push(json!("2"));
                    Verdict::Pass(Ok(Answer::Value(value)))
                }
            }))
    })
    .await;
    let answer = within(global.call("EngineVersion", json!({})))
        .await
        .unwrap();
    assert_eq!(answer["by"], json!(["1", "2"]));
    assert!(answer["qVersion"].is_object());
    assert_eq!(
        entries(&seen),
        [
            "request 1 {}",
            "request 2 {\"qId\":\"from-1\"}",
            "response 1",
            "response 2 [\"1\"]"
        ]
    );
}

#[tokio::test]
async fn q_int_3_a_response_interceptor_turns_an_engine_error_into_a_value() {
    // I4, I7: the engine's error reaches the interceptor with its code, and a value it
    // returns is what the caller gets.
    let engine = MockEngine::start().await.unwrap();
    engine.fail_method(
        "GetDocList",
        EngineError {
            code: 5,
            parameter: String::new(),
            message: "Access denied".into(),
        },
    );
    let (_session, global, _connection) = open_at(&engine, "/app/app.qvf", |b| {
        b.response_interceptor(response_fn(|request: Arc<Request>, outcome| async move {
            match outcome {
                Err(error)
                    if request.method() == "GetDocList"
                        && error.engine_code() == Some(EngineCode::GenericAccessDenied) =>
                {
                    Verdict::Pass(Ok(Answer::Value(json!({"qDocList": []}))))
                }
                outcome => Verdict::Pass(outcome),
            }
        }))
    })
    .await;
    let list = within(global.call("GetDocList", json!([]))).await.unwrap();
    assert_eq!(list, json!({"qDocList": []}));
    // Typed calls read the value the interceptors settled on.
    #[derive(serde::Deserialize)]
    struct DocList {
        #[serde(rename = "qDocList")]
        docs: Vec<Value>,
    }
    let typed: DocList = within(global.call_with("GetDocList", &[(); 0]))
        .await
        .unwrap();
    assert!(typed.docs.is_empty());
    let raw = within(global.call_raw("GetDocList", json!([])))
        .await
        .unwrap();
    assert_eq!(raw.get(), r#"{"qDocList":[]}"#);
}

#[tokio::test]
async fn q_int_3_a_socket_that_closes_reaches_response_interceptors_too() {
    // I5: failures of the session, not only the engine's, go through the chain.
    let engine = MockEngine::start().await.unwrap();
    let seen = log();
    let record = seen.clone();
    let (_session, global, connection) = open_at(&engine, "/app/app.qvf", move |b| {
        b.response_interceptor(response_fn(move |_request, outcome: Outcome| {
            let record = record.clone();
            async move {
                if let Err(error) = &outcome {
                    record.lock().unwrap().push(error.to_string());
                }
                Verdict::Pass(outcome)
            }
        }))
    })
    .await;
    connection.hold_responses();
    let call = tokio::spawn(async move { global.call("EngineVersion", json!([])).await });
    received(&connection, "EngineVersion", 1).await;
    connection.drop_tcp();
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
    assert_eq!(entries(&seen), [error.to_string()]);
}

#[tokio::test]
async fn q_int_4_a_retry_is_written_with_a_new_id_through_the_whole_pipeline() {
    // I6: the request interceptors run again, a new id goes out, and the retried outcome
    // goes through the response chain from the top; interceptors after the one that asked
    // see only the final outcome (Deviation: enigma.js runs them once per attempt).
    let engine = MockEngine::start().await.unwrap();
    engine.fail_method(
        "GetDocList",
        EngineError {
            code: 15,
            parameter: String::new(),
            message: "Request aborted".into(),
        },
    );
    let seen = log();
    let (a, b, c) = (seen.clone(), seen.clone(), seen.clone());
    let shared = Arc::new(engine);
    let engine = shared.clone();
    let (_session, global, connection) = open_at(&shared, "/app/app.qvf", move |builder| {
        builder
            .request_interceptor(request_fn(move |request: Request| {
                a.lock()
                    .unwrap()
                    .push(format!("request attempt {}", request.attempt()));
                async move { Ok(request) }
            }))
            .response_interceptor(response_fn(move |request: Arc<Request>, outcome| {
                b.lock().unwrap().push(format!(
                    "retry? attempt {} ok {}",
                    request.attempt(),
                    outcome.is_ok()
                ));
                let engine = engine.clone();
                async move {
                    if outcome.is_err() && request.attempt() == 0 {
                        engine.clear_method_failure("GetDocList");
                        return Verdict::Retry;
                    }
                    Verdict::Pass(outcome)
                }
            }))
            .response_interceptor(response_fn(move |request: Arc<Request>, outcome| {
                c.lock().unwrap().push(format!(
                    "after attempt {} ok {}",
                    request.attempt(),
                    outcome.is_ok()
                ));
                async move { Verdict::Pass(outcome) }
            }))
    })
    .await;
    let list = within(global.call("GetDocList", json!([]))).await.unwrap();
    assert!(list["qDocList"].is_array());
    let ids: Vec<u64> = connection
        .requests()
        .iter()
        .filter(|r| r.method == "GetDocList")
        .map(|r| r.id)
        .collect();
    assert_eq!(ids.len(), 2, "sent twice");
    assert!(ids[1] > ids[0], "the retry has a new id: {ids:?}");
    assert_eq!(
        entries(&seen),
        [
            "request attempt 0",
            "retry? attempt 0 ok false",
            "request attempt 1",
            "retry? attempt 1 ok true",
            "after attempt 1 ok true",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q_int_5_interceptors_run_in_the_callers_task_not_on_the_driver() {
    let engine = MockEngine::start().await.unwrap();
    let tasks: Arc<Mutex<Vec<Option<tokio::task::Id>>>> = Arc::default();
    let (r, s) = (tasks.clone(), tasks.clone());
    let (_session, global, _connection) = open_at(&engine, "/app/app.qvf", move |b| {
        b.request_interceptor(request_fn(move |request: Request| {
            r.lock().unwrap().push(tokio::task::try_id());
            async move { Ok(request) }
        }))
        .response_interceptor(response_fn(move |_request, outcome| {
            s.lock().unwrap().push(tokio::task::try_id());
            async move { Verdict::Pass(outcome) }
        }))
    })
    .await;
    let caller = tokio::spawn(async move {
        global.call("EngineVersion", json!([])).await.unwrap();
        tokio::task::id()
    });
    let caller = within(caller).await.unwrap();
    assert_eq!(*tasks.lock().unwrap(), [Some(caller), Some(caller)]);
}
