//! Requests and incoming frames over a real socket: ids, wire shape, engine errors, frames
//! that are not responses, and what a closing socket does to pending calls (Q-REQ-*).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{closed, id_of, next, notification, open, open_at, ready, received, traffic, within};
use futures_util::FutureExt;
use qix::qix_transport::TransportError;
use qix::{CloseEvent, Direction, Error, NotConnectedReason, ObjectEvent, SessionEvent};
use qix_mock::{EngineError, MockApp, MockConfig, MockEngine};
use serde_json::{json, Value};

fn sheet_app() -> MockConfig {
    MockConfig::new().app(
        MockApp::new("app.qvf")
            .object("sheet-1", "sheet", json!({"title": "Overview"}))
            .field("Country"),
    )
}

#[tokio::test]
async fn q_req_1_ids_start_at_1_and_only_grow_across_suspend_resume_and_reopen() {
    let engine = MockEngine::start_with(sheet_app()).await.unwrap();
    let (session, global, first) = open_at(&engine, "/app/app.qvf/ttl/30", |b| b).await;
    let mut sent = session.subscribe("traffic:sent").unwrap();
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let sheet = within(doc.call_object("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
    within(session.suspend()).await.unwrap();
    within(session.resume(true)).await.unwrap();
    let second = within(engine.next_connection()).await;
    within(sheet.call("GetLayout", json!([]))).await.unwrap();
    within(session.close()).await.unwrap();
    let global = within(session.open()).await.unwrap();
    let third = within(engine.next_connection()).await;
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();

    let on_wire: Vec<(u64, String)> = [&first, &second, &third]
        .iter()
        .flat_map(|connection| connection.requests())
        .map(|request| (request.id, request.method))
        .collect();
    let methods: Vec<&str> = on_wire.iter().map(|(_, method)| method.as_str()).collect();
    assert_eq!(
        methods,
        [
            "OpenDoc",
            "GetObject",
            "GetActiveDoc",
            "GetObject",
            "GetLayout",
            "EngineVersion"
        ]
    );
    let ids: Vec<u64> = on_wire.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (1..=6).collect::<Vec<u64>>());

    // The ids are observable in traffic, restore requests included.
    let traffic_ids: Vec<u64> = ready(&mut sent)
        .into_iter()
        .map(|e| id_of(&traffic(e).1))
        .collect();
    assert_eq!(traffic_ids, ids);
}

#[tokio::test]
async fn q_req_2_wire_request_has_the_json_rpc_members_and_params_as_given() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open_at(&engine, "/app/app.qvf", |builder| {
        builder.protocol_member("return_empty", json!(true))
    })
    .await;
    let mut sent = session.subscribe("traffic:sent").unwrap();

    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    let (direction, frame) = traffic(next(&mut sent).await);
    assert_eq!(direction, Direction::Sent);
    assert_eq!(
        frame,
        // Delta is on by default (Q-DELTA-1), Global's requests included.
        json!({"jsonrpc": "2.0", "id": 1, "handle": -1, "method": "EngineVersion", "params": [], "delta": true, "return_empty": true})
    );

    // Params by name stay an object; by position an array; nested values pass untouched.
    let by_name = json!({"qDocName": "app.qvf", "qNoData": false});
    let doc = within(global.call_object("OpenDoc", by_name.clone()))
        .await
        .unwrap();
    let props = json!({"qInfo": {"qId": "chart-1", "qType": "barchart"}, "nested": [1, 2.5, "x", null, {"a": []}]});
    let chart = within(doc.call_object("CreateObject", json!([props.clone()])))
        .await
        .unwrap();
    assert_eq!(chart.generic_type(), Some("barchart"));
    assert_eq!(chart.id(), "chart-1");

    let requests = connection.requests();
    assert_eq!(requests[1].method, "OpenDoc");
    assert_eq!(requests[1].handle, -1);
    assert_eq!(*requests[1].params.as_value(), by_name);
    assert_eq!(requests[2].handle, doc.handle());
    assert_eq!(*requests[2].params.as_value(), json!([props]));
    assert!(requests
        .iter()
        .all(|r| r.extra.get("return_empty") == Some(&json!(true))));
    // Q-DELTA-1: calls that return an object never ask for delta.
    let asked: Vec<(&str, Option<bool>)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.delta))
        .collect();
    assert_eq!(
        asked,
        [
            ("EngineVersion", Some(true)),
            ("OpenDoc", None),
            ("CreateObject", None)
        ]
    );

    let frames: Vec<Value> = ready(&mut sent).into_iter().map(|e| traffic(e).1).collect();
    assert_eq!(frames[0]["params"], by_name);
    assert_eq!(frames[1]["params"], json!([props]));

    // Params that are neither an array nor an object are refused before anything is written.
    let error = within(global.call("EngineVersion", json!("nope")))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidParams(_)), "{error:?}");
    assert_eq!(connection.requests().len(), 3);
}

#[tokio::test]
async fn q_req_3_calls_after_close_fail_not_connected_and_write_nothing() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open(&engine).await;
    within(session.close()).await.unwrap();
    let error = within(global.call("EngineVersion", json!([])))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(-1));
    assert!(error.to_string().starts_with("Not connected"), "{error}");
    assert!(connection.requests().is_empty());
    assert_eq!(engine.connection_count(), 1);
}

#[tokio::test]
async fn q_req_4_engine_error_keeps_code_parameter_and_message() {
    let engine = MockEngine::start_with(sheet_app()).await.unwrap();
    let (_session, global, _connection) = open(&engine).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let sheet = within(doc.call_object("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();

    let wanted = EngineError {
        code: 2,
        parameter: "sheet-1".to_owned(),
        message: "Object not found".to_owned(),
    };
    engine.fail_method("GetLayout", wanted.clone());
    let error = within(sheet.call("GetLayout", json!([])))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(2));
    match error {
        Error::Engine(engine_error) => assert_eq!(engine_error, wanted),
        other => panic!("expected an engine error, got {other:?}"),
    }
    engine.clear_method_failure("GetLayout");
    let layout = within(sheet.call("GetLayout", json!([]))).await.unwrap();
    assert_eq!(layout["qLayout"]["title"], "Overview");

    let unknown = within(global.call("NoSuchMethod", json!([])))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Some(-32601));
    assert!(
        matches!(&unknown, Error::Engine(e) if !e.message.is_empty()),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn q_req_4_null_qhandle_is_object_not_found_minus_2() {
    let engine = MockEngine::start_with(sheet_app()).await.unwrap();
    let (_session, global, _connection) = open(&engine).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let error = within(doc.call_object("GetObject", json!(["missing"])))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ObjectNotFound), "{error:?}");
    assert_eq!(error.code(), Some(-2));
    // A plain call returns the engine's quirky answer as it is.
    let raw = within(doc.call("GetObject", json!(["missing"])))
        .await
        .unwrap();
    assert_eq!(raw, json!({"qReturn": {"qHandle": null, "qType": null}}));
    let missing_field = within(doc.call_object("GetField", json!(["Nope"])))
        .await
        .unwrap_err();
    assert_eq!(missing_field.code(), Some(-2));
}

#[tokio::test]
async fn q_req_4_response_with_unknown_id_is_no_notification_but_its_changes_apply() {
    let engine = MockEngine::start_with(sheet_app()).await.unwrap();
    let (session, global, connection) = open(&engine).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let sheet = within(doc.call_object("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
    let mut changed = sheet.subscribe("changed").unwrap();
    let mut notifications = session.subscribe("notification:*").unwrap();
    let mut incoming = session.subscribe("traffic:received").unwrap();

    let stray = json!({"jsonrpc": "2.0", "id": 999, "result": {"qReturn": true}, "change": [sheet.handle()]});
    connection.send_text(stray.to_string()).await;
    assert!(matches!(next(&mut changed).await, ObjectEvent::Changed));
    assert_eq!(traffic(next(&mut incoming).await).1, stray);

    // The next notification is the marker: the stray response was not taken for one.
    connection.notify("Marker", json!({"n": 1})).await;
    let (method, params) = notification(next(&mut notifications).await);
    assert_eq!((method.as_str(), params), ("Marker", json!({"n": 1})));
    within(sheet.call("GetLayout", json!([]))).await.unwrap();
}

#[tokio::test]
async fn q_req_4_plain_message_close_array_closes_the_object() {
    let engine = MockEngine::start_with(sheet_app()).await.unwrap();
    let (_session, global, connection) = open(&engine).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let sheet = within(doc.call_object("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
    let mut doc_changed = doc.subscribe("changed").unwrap();
    let mut sheet_events = sheet.subscribe("closed").unwrap();

    connection
        .push_changes(vec![doc.handle()], vec![sheet.handle()])
        .await;
    assert!(matches!(next(&mut doc_changed).await, ObjectEvent::Changed));
    assert!(matches!(next(&mut sheet_events).await, ObjectEvent::Closed));
    assert!(sheet.is_closed());
    let error = within(sheet.call("GetLayout", json!([])))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ObjectClosed), "{error:?}");
    // The same object asked for again is a new Object.
    let again = within(doc.call_object("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
    assert_ne!(again, sheet);
    within(again.call("GetLayout", json!([]))).await.unwrap();
}

#[tokio::test]
async fn q_req_5_pending_calls_fail_socket_closed_with_the_server_close() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open(&engine).await;
    connection.hold_responses();
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let global = global.clone();
            tokio::spawn(async move { global.call("EngineVersion", json!([])).await })
        })
        .collect();
    received(&connection, "EngineVersion", 5).await;
    let mut session_closed = session.subscribe("closed").unwrap();
    connection.close(4029, "x").await;
    for call in calls {
        match within(call).await.unwrap() {
            Err(Error::NotConnected {
                reason: NotConnectedReason::SocketClosed,
                close: Some(close),
            }) => assert_eq!(close, CloseEvent::new(4029, "x")),
            other => panic!("expected Socket closed, got {other:?}"),
        }
    }
    assert_eq!(
        closed(next(&mut session_closed).await),
        CloseEvent::new(4029, "x")
    );
}

#[tokio::test]
async fn q_req_5_pending_calls_fail_when_the_tcp_connection_drops() {
    let engine = MockEngine::start().await.unwrap();
    let (_session, global, connection) = open(&engine).await;
    connection.hold_responses();
    let call = tokio::spawn({
        let global = global.clone();
        async move { global.call("EngineVersion", json!([])).await }
    });
    received(&connection, "EngineVersion", 1).await;
    connection.drop_tcp();
    match within(call).await.unwrap() {
        Err(Error::NotConnected {
            close: Some(close), ..
        }) => assert_eq!(close.code, 1006),
        other => panic!("expected Not connected with 1006, got {other:?}"),
    }
}

/// Holds one call pending, lets `hostile` send a bad frame, checks the `socket-error` with
/// `check`, then that the pending call and a new one both complete.
async fn bad_frame_is_reported_and_dropped(
    hostile: impl AsyncFnOnce(&qix_mock::MockConnection),
    check: impl FnOnce(&Error),
) {
    let engine = MockEngine::start().await.expect("start the mock engine");
    let (session, global, connection) = open(&engine).await;
    let mut errors = session.subscribe("socket-error").expect("known topic");
    let mut session_closed = session.subscribe("closed").expect("known topic");
    connection.hold_responses();
    let pending = tokio::spawn({
        let global = global.clone();
        async move { global.call("EngineVersion", json!([])).await }
    });
    received(&connection, "EngineVersion", 1).await;

    hostile(&connection).await;
    match next(&mut errors).await {
        SessionEvent::SocketError(error) => check(&error),
        other => panic!("expected socket-error, got {other:?}"),
    }
    connection.release_responses();
    let version = within(pending)
        .await
        .expect("task")
        .expect("the held call completes");
    assert_eq!(version["qVersion"]["qComponentVersion"], "12.2528.0");
    within(global.call("EngineVersion", json!([])))
        .await
        .expect("the step succeeds");
    assert!(ready(&mut session_closed).is_empty());
    assert!(connection.is_open());
}

#[tokio::test]
async fn q_req_6_text_that_is_not_json_emits_socket_error_and_the_session_goes_on() {
    bad_frame_is_reported_and_dropped(
        async |connection| connection.send_text("this is not JSON {").await,
        |error| assert!(matches!(error, Error::Protocol(_)), "{error:?}"),
    )
    .await;
}

#[tokio::test]
async fn q_req_6_json_that_is_not_an_object_emits_socket_error_and_the_session_goes_on() {
    bad_frame_is_reported_and_dropped(
        async |connection| {
            connection.send_text("[1, 2, 3]").await;
            connection.send_text("42").await;
        },
        |error| assert!(matches!(error, Error::Protocol(_)), "{error:?}"),
    )
    .await;
}

#[tokio::test]
async fn q_req_6_binary_frame_emits_socket_error_and_the_session_goes_on() {
    bad_frame_is_reported_and_dropped(
        async |connection| connection.send_binary(vec![0, 159, 146, 150]).await,
        |error| {
            assert!(
                matches!(
                    error.transport_error(),
                    Some(TransportError::BinaryFrame { .. })
                ),
                "{error:?}"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn q_req_6_message_over_the_size_limit_is_reported_and_never_wedges_the_session() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open_at(&engine, "/app/app.qvf", |builder| {
        builder.max_message_size(1024)
    })
    .await;
    let mut errors = session.subscribe("socket-error").unwrap();
    let mut session_closed = session.subscribe("closed").unwrap();
    connection.hold_responses();
    let pending = tokio::spawn({
        let global = global.clone();
        async move { global.call("EngineVersion", json!([])).await }
    });
    received(&connection, "EngineVersion", 1).await;

    connection
        .send_text(format!("\"{}\"", "x".repeat(4096)))
        .await;
    match next(&mut errors).await {
        SessionEvent::SocketError(error) => assert!(
            matches!(
                error.transport_error(),
                Some(TransportError::MessageTooLarge { .. })
            ),
            "{error:?}"
        ),
        other => panic!("expected socket-error, got {other:?}"),
    }
    // The WebSocket transport ends a connection that overran its limit (close 1009): the
    // session says so and fails the pending call instead of leaving it hanging.
    assert_eq!(closed(next(&mut session_closed).await).code, 1009);
    match within(pending).await.unwrap() {
        Err(Error::NotConnected {
            reason: NotConnectedReason::SocketError,
            close: Some(close),
        }) => assert_eq!(close.code, 1009),
        other => panic!("expected Socket error, got {other:?}"),
    }
    assert_eq!(
        within(connection.closed()).await.map(|(code, _)| code),
        Some(1009)
    );
}

#[tokio::test]
async fn q_req_7_a_panicking_listener_does_not_stop_responses_or_other_listeners() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, _connection) = open(&engine).await;
    let _boom = session
        .on("traffic:received", |_| {
            panic!("this listener panics on purpose")
        })
        .unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let (tell, mut told) = tokio::sync::mpsc::unbounded_channel();
    let _counter = session
        .on("traffic:received", {
            let seen = Arc::clone(&seen);
            move |_| {
                seen.fetch_add(1, Ordering::SeqCst);
                let _ = tell.send(());
            }
        })
        .unwrap();

    for _ in 0..20 {
        within(global.call("EngineVersion", json!([])))
            .await
            .unwrap();
    }
    for _ in 0..20 {
        within(told.recv()).await.unwrap();
    }
    assert_eq!(seen.load(Ordering::SeqCst), 20);
}

#[tokio::test]
async fn q_req_7_a_subscriber_that_never_reads_lags_without_blocking_calls() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, _connection) =
        open_at(&engine, "/app/app.qvf", |builder| builder.event_capacity(8)).await;
    let mut sent = session.subscribe("traffic:sent").unwrap();
    for _ in 0..100 {
        within(global.call("EngineVersion", json!([])))
            .await
            .unwrap();
    }
    let events = ready(&mut sent);
    assert_eq!(events.len(), 9, "{events:?}");
    assert!(
        matches!(events[0], SessionEvent::Lagged { missed: 92 }),
        "{:?}",
        events[0]
    );
    let ids: Vec<u64> = events
        .into_iter()
        .skip(1)
        .map(|e| id_of(&traffic(e).1))
        .collect();
    assert_eq!(ids, (93..=100).collect::<Vec<u64>>());
}

#[tokio::test]
async fn q_req_1_request_id_from_traffic_cancels_a_slow_call_while_others_complete() {
    let engine = MockEngine::start_with(sheet_app()).await.unwrap();
    let (session, global, connection) = open(&engine).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let sheet = within(doc.call_object("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
    let mut sent = session.subscribe("traffic:sent").unwrap();
    // Practically never answered unless cancelled.
    connection.delay_method("GetLayout", Duration::from_secs(3600));
    let slow = tokio::spawn({
        let sheet = sheet.clone();
        async move { sheet.call("GetLayout", json!([])).await }
    });
    let (_, frame) = traffic(next(&mut sent).await);
    assert_eq!(frame["method"], "GetLayout");

    // A later request is answered first: responses are matched by id, not by order.
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    let mut slow = slow;
    assert!(
        (&mut slow).now_or_never().is_none(),
        "GetLayout was answered early"
    );

    let cancelled = within(global.call("CancelRequest", json!({"qRequestId": id_of(&frame)})))
        .await
        .unwrap();
    assert_eq!(cancelled, json!({}));
    let error = within(slow).await.unwrap().unwrap_err();
    assert_eq!(error.code(), Some(qix_mock::codes::ABORTED), "{error:?}");
}

#[tokio::test]
async fn q_req_4_a_frame_with_a_method_but_no_params_is_no_notification() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open(&engine).await;
    let mut notifications = session.subscribe("notification:*").unwrap();
    let mut incoming = session.subscribe("traffic:received").unwrap();
    connection
        .send_text(r#"{"jsonrpc":"2.0","method":"NoParams"}"#)
        .await;
    connection.notify("Marker", json!([])).await;
    let (method, params) = notification(next(&mut notifications).await);
    assert_eq!((method.as_str(), params), ("Marker", json!([])));
    let frames: Vec<Value> = ready(&mut incoming)
        .into_iter()
        .map(|e| traffic(e).1)
        .collect();
    assert_eq!(frames[0]["method"], "NoParams", "it still shows in traffic");
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
}

#[tokio::test]
async fn q_req_4_the_same_engine_handle_gives_the_same_object() {
    let engine = MockEngine::start_with(sheet_app()).await.unwrap();
    let (_session, global, connection) = open(&engine).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let again = within(global.call_object("GetActiveDoc", json!([])))
        .await
        .unwrap();
    assert_eq!(doc, again);
    assert_eq!(doc.handle(), again.handle());
    assert_eq!(connection.handle_of("app.qvf"), Some(doc.handle()));
    assert_eq!(doc.object_type(), "Doc");
    assert_eq!(doc.id(), "app.qvf");
}

#[tokio::test]
async fn dropped_call_response_is_discarded_and_later_calls_get_their_own() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open(&engine).await;
    let mut incoming = session.subscribe("traffic:received").unwrap();
    connection.hold_responses();
    let dropped = tokio::spawn({
        let global = global.clone();
        async move { global.call("ProductVersion", json!([])).await }
    });
    received(&connection, "ProductVersion", 1).await;
    dropped.abort();
    assert!(within(dropped).await.unwrap_err().is_cancelled());
    connection.release_responses();
    // The stale answer arrives and is dropped; the next call is answered with its own result.
    let (_, stale) = traffic(next(&mut incoming).await);
    assert_eq!(stale["id"], 1);
    let version = within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    assert_eq!(version["qVersion"]["qComponentVersion"], "12.2528.0");
}

#[tokio::test]
async fn q_req_6_a_dropped_binary_frame_does_not_turn_a_later_clean_close_into_a_socket_error() {
    // The connection survived the binary frame, so a later clean close is "Socket closed".
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open(&engine).await;
    let mut errors = session.subscribe("socket-error").unwrap();
    connection.send_binary(vec![1]).await;
    next(&mut errors).await;
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();

    connection.hold_responses();
    let pending = tokio::spawn({
        let global = global.clone();
        async move { global.call("EngineVersion", json!([])).await }
    });
    received(&connection, "EngineVersion", 2).await;
    connection.close(1000, "").await;
    match within(pending).await.unwrap() {
        Err(Error::NotConnected {
            reason,
            close: Some(close),
        }) => {
            assert_eq!(close, CloseEvent::new(1000, ""));
            assert_eq!(reason, NotConnectedReason::SocketClosed);
        }
        other => panic!("expected Not connected, got {other:?}"),
    }
}
