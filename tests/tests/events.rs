//! The seed's events with their payloads, their order, and object-level events, observed over
//! a real socket (Q-EV-*).

mod common;

use common::{id_of, next, notification, open, open_at, ready, traffic, until_end, within};
use qix::{Direction, Error, ObjectEvent, Session, SessionEvent};
use qix_mock::{MockApp, MockConfig, MockEngine, OnConnected};
use serde_json::{json, Value};

fn sheet_app() -> MockConfig {
    MockConfig::new().app(
        MockApp::new("app.qvf")
            .object("sheet-1", "sheet", json!({"title": "Overview"}))
            .field("Country"),
    )
}

#[tokio::test]
async fn q_ev_1_notification_on_connected_carries_q_session_state() {
    let engine = MockEngine::start().await.unwrap();
    let session = Session::builder(engine.app_url("app.qvf")).build().unwrap();
    let mut named = session.subscribe("notification:OnConnected").unwrap();
    let mut all = session.subscribe("notification:*").unwrap();
    within(session.open()).await.unwrap();

    assert_eq!(
        notification(next(&mut named).await),
        (
            "OnConnected".to_owned(),
            json!({"qSessionState": "SESSION_CREATED"})
        )
    );
    assert_eq!(
        notification(next(&mut all).await),
        (
            "OnConnected".to_owned(),
            json!({"qSessionState": "SESSION_CREATED"})
        )
    );
}

#[tokio::test]
async fn q_ev_1_qps_push_on_session_timed_out_reaches_named_and_wildcard_subscribers() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open(&engine).await;
    let mut timed_out = session.subscribe("notification:OnSessionTimedOut").unwrap();
    let mut all = session.subscribe("notification:*").unwrap();
    let (tell, mut told) = tokio::sync::mpsc::unbounded_channel();
    let _listener = session
        .on("notification:OnSessionTimedOut", move |event| {
            let _ = tell.send(event.clone());
        })
        .unwrap();

    let auth = json!({"loginUri": "https://qps/login", "mustAuthenticate": false});
    connection
        .notify("OnAuthenticationInformation", auth.clone())
        .await;
    connection.notify("OnSessionTimedOut", json!({})).await;

    assert_eq!(
        notification(next(&mut timed_out).await),
        ("OnSessionTimedOut".to_owned(), json!({}))
    );
    assert_eq!(
        notification(within(told.recv()).await.unwrap()),
        ("OnSessionTimedOut".to_owned(), json!({}))
    );
    assert_eq!(
        notification(next(&mut all).await),
        ("OnAuthenticationInformation".to_owned(), auth)
    );
    assert_eq!(
        notification(next(&mut all).await),
        ("OnSessionTimedOut".to_owned(), json!({}))
    );
    assert!(ready(&mut timed_out).is_empty());
    // A notification settles no call and breaks nothing.
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
}

#[tokio::test]
async fn q_ev_1_traffic_topics_show_every_frame_in_order_as_on_the_wire() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open(&engine).await;
    let mut both = session.subscribe("traffic:*").unwrap();
    let mut both_again = session.subscribe("traffic:*").unwrap();
    let mut sent = session.subscribe("traffic:sent").unwrap();
    let mut received = session.subscribe("traffic:received").unwrap();

    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    // Odd spacing: traffic must carry the frame's text exactly as it came.
    let mut custom = session.subscribe("notification:Custom").unwrap();
    let pushed = r#"{"jsonrpc":"2.0",  "method":"Custom", "params":{"a": 1}}"#;
    connection.send_text(pushed).await;
    connection.notify("Custom", json!({"a": 2})).await;
    assert_eq!(notification(next(&mut custom).await).1, json!({"a": 1}));
    assert_eq!(notification(next(&mut custom).await).1, json!({"a": 2}));

    let events = ready(&mut both);
    let mut seen: Vec<(Direction, Option<u64>, Value)> = Vec::new();
    let mut texts = Vec::new();
    for event in events {
        if let SessionEvent::Traffic(frame) = &event {
            texts.push(frame.text().to_owned());
        }
        let (direction, frame) = traffic(event);
        seen.push((direction, frame["id"].as_u64(), frame["method"].clone()));
    }
    assert_eq!(
        seen,
        vec![
            (Direction::Sent, Some(1), json!("EngineVersion")),
            (Direction::Received, Some(1), Value::Null),
            (Direction::Sent, Some(2), json!("OpenDoc")),
            (Direction::Received, Some(2), Value::Null),
            (Direction::Received, None, json!("Custom")),
            (Direction::Received, None, json!("Custom")),
        ]
    );
    assert_eq!(texts[4], pushed);
    let requests = connection.requests();
    assert_eq!(
        serde_json::from_str::<Value>(&texts[2]).unwrap()["handle"],
        -1
    );
    assert_eq!(requests[1].method, "OpenDoc");
    assert_eq!(
        serde_json::from_str::<Value>(&texts[3]).unwrap()["result"]["qReturn"]["qHandle"],
        doc.handle()
    );

    // Every subscriber sees the same events in the same order; the one-way topics split them.
    let again: Vec<String> = ready(&mut both_again)
        .into_iter()
        .map(|e| traffic(e).1.to_string())
        .collect();
    let once: Vec<String> = texts
        .iter()
        .map(|t| serde_json::from_str::<Value>(t).unwrap().to_string())
        .collect();
    assert_eq!(again, once);
    let sent: Vec<Direction> = ready(&mut sent).into_iter().map(|e| traffic(e).0).collect();
    let received: Vec<Direction> = ready(&mut received)
        .into_iter()
        .map(|e| traffic(e).0)
        .collect();
    assert_eq!(sent, vec![Direction::Sent; 2]);
    assert_eq!(received, vec![Direction::Received; 4]);
}

#[tokio::test]
async fn q_ev_2_response_change_array_emits_traffic_and_changed_before_the_call_returns() {
    let engine = MockEngine::start_with(sheet_app()).await.unwrap();
    let (session, global, _connection) = open(&engine).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let sheet = within(doc.call_object("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
    let mut changed = sheet.subscribe("changed").unwrap();
    let mut received = session.subscribe("traffic:received").unwrap();
    let mut both = session.subscribe("traffic:*").unwrap();

    let props = json!({"qInfo": {"qId": "sheet-1", "qType": "sheet"}, "title": "Renamed"});
    let result = within(sheet.call("SetProperties", json!([props])))
        .await
        .unwrap();
    assert_eq!(result, json!({}));

    // Both were published before the caller's future completed.
    let changes = ready(&mut changed);
    assert!(
        matches!(changes.as_slice(), [ObjectEvent::Changed]),
        "{changes:?}"
    );
    let frames: Vec<Value> = ready(&mut received)
        .into_iter()
        .map(|e| traffic(e).1)
        .collect();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["change"], json!([sheet.handle()]));
    // And the request went out before its response came in.
    let order: Vec<Direction> = ready(&mut both).into_iter().map(|e| traffic(e).0).collect();
    assert_eq!(order, vec![Direction::Sent, Direction::Received]);

    let layout = within(sheet.call("GetLayout", json!([]))).await.unwrap();
    assert_eq!(layout["qLayout"]["title"], "Renamed");
    assert_eq!(
        engine.object_properties("app.qvf", "sheet-1").unwrap()["title"],
        "Renamed"
    );
}

#[tokio::test]
async fn q_ev_2_change_pushed_by_the_engine_reaches_the_object_of_another_socket() {
    let engine = MockEngine::start_with(sheet_app()).await.unwrap();
    let (_writer, writer_global, _first) = open(&engine).await;
    let (_reader, reader_global, second) = open(&engine).await;
    assert_eq!(second.session_state(), &qix_mock::SessionState::Attached);
    let writer_doc = within(writer_global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let reader_doc = within(reader_global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let writer_sheet = within(writer_doc.call_object("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
    let reader_sheet = within(reader_doc.call_object("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
    let mut reader_changed = reader_sheet.subscribe("changed").unwrap();

    let props = json!({"qInfo": {"qId": "sheet-1", "qType": "sheet"}, "title": "From elsewhere"});
    within(writer_sheet.call("SetProperties", json!([props])))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut reader_changed).await,
        ObjectEvent::Changed
    ));
    let layout = within(reader_sheet.call("GetLayout", json!([])))
        .await
        .unwrap();
    assert_eq!(layout["qLayout"]["title"], "From elsewhere");
}

#[tokio::test]
async fn q_ev_3_while_resuming_change_arrays_and_socket_errors_are_ignored_notifications_are_not() {
    let engine = MockEngine::start_with(sheet_app()).await.unwrap();
    let (session, global, _first) = open_at(&engine, "/app/app.qvf/ttl/30", |b| b).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let field = within(doc.call_object("GetField", json!(["Country"])))
        .await
        .unwrap();
    assert_eq!(field.object_type(), "Field");
    let mut field_changed = field.subscribe("changed").unwrap();
    let mut field_closed = field.subscribe("closed").unwrap();
    let mut errors = session.subscribe("socket-error").unwrap();
    let mut on_connected = session.subscribe("notification:OnConnected").unwrap();
    let mut suspended = session.subscribe("suspended").unwrap();
    let mut closed = session.subscribe("closed").unwrap();

    within(session.suspend()).await.unwrap();
    next(&mut suspended).await;
    engine.set_on_connected(OnConnected::Omit);
    let resume = tokio::spawn({
        let session = session.clone();
        async move { session.resume(true).await }
    });
    let second = within(engine.next_connection()).await;
    // The session is resuming: a change for the field's old handle, a bad frame and a binary
    // frame all arrive before OnConnected.
    second.push_changes(vec![field.handle()], vec![]).await;
    second.send_text("not JSON while resuming").await;
    second.send_binary(vec![1, 2, 3]).await;
    second
        .notify("OnConnected", json!({"qSessionState": "SESSION_ATTACHED"}))
        .await;
    within(resume).await.unwrap().unwrap();

    assert_eq!(
        notification(next(&mut on_connected).await).1,
        json!({"qSessionState": "SESSION_ATTACHED"})
    );
    // A Field cannot be restored: its only event is `closed`, no `changed` from the push.
    assert!(matches!(next(&mut field_closed).await, ObjectEvent::Closed));
    assert!(until_end(&mut field_changed).await.is_empty());
    // No socket-error was reported while resuming: the first one is for the frame sent now.
    second.send_text("not JSON once open").await;
    match next(&mut errors).await {
        SessionEvent::SocketError(error) => {
            assert!(matches!(*error, Error::Protocol(_)), "{error:?}")
        }
        other => panic!("expected socket-error, got {other:?}"),
    }
    // The old socket's close was not reported either.
    assert!(ready(&mut closed).is_empty());
    within(doc.call("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
}

#[tokio::test]
async fn q_ev_4_object_traffic_carries_only_that_objects_frames() {
    let engine = MockEngine::start_with(sheet_app()).await.unwrap();
    let (_session, global, _connection) = open(&engine).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let sheet = within(doc.call_object("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
    let mut sheet_traffic = sheet.subscribe("traffic:*").unwrap();
    let mut sheet_sent = sheet.subscribe("traffic:sent").unwrap();
    let mut sheet_received = sheet.subscribe("traffic:received").unwrap();
    let mut global_traffic = global.subscribe("traffic:*").unwrap();

    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    within(sheet.call("GetLayout", json!([]))).await.unwrap();
    within(doc.call("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();

    let frames: Vec<(Direction, Value)> = ready(&mut sheet_traffic)
        .into_iter()
        .map(|event| match event {
            ObjectEvent::Traffic(frame) => (frame.direction(), frame.json()),
            other => panic!("expected traffic, got {other:?}"),
        })
        .collect();
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(frames[0].0, Direction::Sent);
    assert_eq!(frames[0].1["method"], "GetLayout");
    assert_eq!(frames[0].1["handle"], sheet.handle());
    assert_eq!(frames[1].0, Direction::Received);
    assert_eq!(id_of(&frames[1].1), id_of(&frames[0].1));
    assert_eq!(ready(&mut sheet_sent).len(), 1);
    assert_eq!(ready(&mut sheet_received).len(), 1);
    let global_frames = ready(&mut global_traffic);
    assert_eq!(
        global_frames.len(),
        2,
        "Global sees its EngineVersion only: {global_frames:?}"
    );
}

#[tokio::test]
async fn unknown_topics_are_errors() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, _connection) = open(&engine).await;
    for topic in ["nope", "traffic:sideways", "notification:", "changed"] {
        let error = session.subscribe(topic).unwrap_err();
        assert!(
            matches!(error, Error::UnknownTopic { .. }),
            "{topic}: {error:?}"
        );
    }
    for topic in ["opened", "suspended", "traffic:up"] {
        let error = global.subscribe(topic).unwrap_err();
        assert!(
            matches!(error, Error::UnknownTopic { .. }),
            "{topic}: {error:?}"
        );
    }
}

/// Q-EV-6: a listener blocked on a barrier that is released only after a call's response has
/// arrived must not hold that response up, on a current-thread runtime as on a multi-thread
/// one (with listeners on the runtime's threads this deadlocks).
async fn a_blocked_listener_never_delays_a_response() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, _connection) = open(&engine).await;
    let gate = std::sync::Arc::new(std::sync::Barrier::new(2));
    let blocked = std::sync::Arc::clone(&gate);
    let first = std::sync::atomic::AtomicBool::new(true);
    let _guard = session
        .on("traffic:received", move |_| {
            if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                blocked.wait();
            }
        })
        .unwrap();
    let version = within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    assert!(version["qVersion"]["qComponentVersion"].is_string());
    // The response came while the listener was stuck on it; now let the listener go.
    gate.wait();
}

#[tokio::test(flavor = "current_thread")]
async fn q_ev_6_a_blocked_listener_never_delays_a_response_on_one_thread() {
    a_blocked_listener_never_delays_a_response().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q_ev_6_a_blocked_listener_never_delays_a_response_on_many_threads() {
    a_blocked_listener_never_delays_a_response().await;
}

#[tokio::test]
async fn q_ev_1_notification_params_too_deep_for_a_value_are_a_socket_error_not_null() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open(&engine).await;
    let mut all = session.subscribe("notification:*").unwrap();
    let mut errors = session.subscribe("socket-error").unwrap();

    // Valid JSON, 200 levels deep: more than a serde_json::Value holds.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    connection
        .send_text(format!(
            r#"{{"jsonrpc":"2.0","method":"OnDeep","params":{deep}}}"#
        ))
        .await;
    connection.notify("OnAfter", json!({"n": 1})).await;

    match next(&mut errors).await {
        SessionEvent::SocketError(error) => {
            assert!(matches!(*error, Error::Protocol(_)), "{error:?}");
            assert!(error.to_string().contains("params"), "{error}");
        }
        other => panic!("expected socket-error, got {other:?}"),
    }
    // The deep one never reached the notification subscribers, as null or otherwise; the
    // session goes on.
    assert_eq!(
        notification(next(&mut all).await),
        ("OnAfter".to_owned(), json!({"n": 1}))
    );
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
}

#[tokio::test]
async fn q_ev_7_a_traffic_subscriber_that_never_reads_holds_no_more_than_the_byte_bound() {
    const BOUND: usize = 1 << 20;
    let engine = MockEngine::start().await.unwrap();
    let (session, global, _connection) = open_at(&engine, "/app/app.qvf", |builder| {
        builder.event_bytes(BOUND)
    })
    .await;
    let mut stuck = session.subscribe("traffic:received").unwrap();
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let blob = "x".repeat(100_000);
    let object = within(doc.call_object(
        "CreateSessionObject",
        json!([{"qInfo": {"qType": "blob"}, "blob": blob}]),
    ))
    .await
    .unwrap();
    let mut object_stuck = object.subscribe("traffic:received").unwrap();
    // 60 answers of 100 kB each: about 6 MB, six times the bound.
    for _ in 0..60 {
        within(object.call("GetProperties", json!([])))
            .await
            .unwrap();
    }
    let held = ready(&mut stuck);
    assert!(
        matches!(held.first(), Some(SessionEvent::Lagged { missed }) if *missed > 0),
        "{:?}",
        held.first()
    );
    let bytes: usize = held
        .iter()
        .map(|event| match event {
            SessionEvent::Traffic(traffic) => traffic.text().len(),
            _ => 0,
        })
        .sum();
    assert!(
        bytes <= BOUND,
        "the session's subscriber held {bytes} bytes"
    );
    assert!(held.len() > 2, "the newest answers are still there");

    let held = ready(&mut object_stuck);
    assert!(matches!(held.first(), Some(ObjectEvent::Lagged { missed }) if *missed > 0));
    let bytes: usize = held
        .iter()
        .map(|event| match event {
            ObjectEvent::Traffic(traffic) => traffic.text().len(),
            _ => 0,
        })
        .sum();
    assert!(bytes <= BOUND, "the object's subscriber held {bytes} bytes");
}

#[tokio::test]
async fn q_ev_7_a_zero_byte_bound_is_refused() {
    let error = Session::builder("ws://127.0.0.1:1/app/x")
        .event_bytes(0)
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("event_bytes"), "{error}");
}
