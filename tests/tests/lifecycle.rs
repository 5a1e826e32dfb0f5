//! Opening and closing sessions against the mock engine over real sockets (Q-OPEN-*, Q-CLOSE-*).

mod common;

use common::{closed, next, open, open_at, ready, received, until_end, within};
use qix::qix_transport::TransportError;
use qix::{CloseEvent, Error, NotConnectedReason, ObjectEvent, Session, SessionEvent};
use qix_mock::{MockConfig, MockEngine};
use serde_json::json;

#[tokio::test]
async fn q_open_1_open_resolves_with_global_and_emits_opened_once() {
    let engine = MockEngine::start().await.unwrap();
    let session = Session::builder(engine.app_url("app.qvf")).build().unwrap();
    let mut opened = session.subscribe("opened").unwrap();

    let global = within(session.open()).await.unwrap();
    assert_eq!(global.handle(), -1);
    assert_eq!(global.id(), "Global");
    assert_eq!(global.object_type(), "Global");
    let again = within(session.open()).await.unwrap();
    assert_eq!(global, again, "a second open returns the same Global");
    let version = within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    assert_eq!(version["qVersion"]["qComponentVersion"], "12.2528.0");

    assert!(matches!(next(&mut opened).await, SessionEvent::Opened));
    assert_eq!(engine.connection_count(), 1);
    // The stream ends when the driver stops, so everything it ever carried can be counted.
    drop(session);
    let later = until_end(&mut opened).await;
    assert!(later.is_empty(), "opened emitted again: {later:?}");
    assert_eq!(engine.handshake_count(), 1);
}

#[tokio::test]
async fn q_open_1_concurrent_opens_share_one_socket() {
    let engine = MockEngine::start().await.unwrap();
    let session = Session::builder(engine.app_url("app.qvf")).build().unwrap();
    let mut opened = session.subscribe("opened").unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let session = session.clone();
            tokio::spawn(async move { session.open().await })
        })
        .collect();
    let mut globals = Vec::new();
    for task in tasks {
        globals.push(within(task).await.unwrap().unwrap());
    }
    assert!(globals.iter().all(|global| *global == globals[0]));
    assert_eq!(globals[0].handle(), -1);
    assert_eq!(engine.handshake_count(), 1);
    assert_eq!(engine.connection_count(), 1);
    within(engine.next_connection()).await;
    assert!(
        engine.try_next_connection().is_none(),
        "a second socket was opened"
    );
    drop(session);
    assert_eq!(
        until_end(&mut opened).await.len(),
        1,
        "opened is emitted once"
    );
}

#[tokio::test]
async fn q_open_2_connect_refused_fails_open_and_a_later_open_retries() {
    // A port nobody listens on (yet).
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let session = Session::builder(format!("ws://{addr}/app/app.qvf"))
        .build()
        .unwrap();
    let mut errors = session.subscribe("socket-error").unwrap();
    let mut opened = session.subscribe("opened").unwrap();

    let error = within(session.open()).await.unwrap_err();
    assert_eq!(error.code(), Some(-1));
    assert!(
        matches!(
            error.transport_error(),
            Some(TransportError::Connect { .. })
        ),
        "{error:?}"
    );
    assert!(error.http_status().is_none());
    assert!(ready(&mut opened).is_empty());
    assert!(
        ready(&mut errors).is_empty(),
        "a failed connect is not a socket-error"
    );

    // The failure is not cached: once an engine listens there, open connects.
    let engine = MockEngine::start_with(MockConfig::new().bind(addr))
        .await
        .unwrap();
    let global = within(session.open()).await.unwrap();
    assert_eq!(global.handle(), -1);
    assert!(matches!(next(&mut opened).await, SessionEvent::Opened));
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    assert_eq!(engine.connection_count(), 1);
    assert!(ready(&mut errors).is_empty());
}

#[tokio::test]
async fn q_open_2_handshake_rejected_401_reports_the_status_then_open_succeeds() {
    let engine = MockEngine::start().await.unwrap();
    engine.set_handshake_rejection(Some(401));
    let session = Session::builder(engine.app_url("app.qvf")).build().unwrap();
    let mut errors = session.subscribe("socket-error").unwrap();

    let error = within(session.open()).await.unwrap_err();
    assert_eq!(error.http_status(), Some(401), "{error:?}");
    assert!(
        error.to_string().contains("401"),
        "the message names the status: {error}"
    );
    assert_eq!(engine.handshake_count(), 1);
    assert_eq!(engine.connection_count(), 0);
    let retry = within(session.open()).await.unwrap_err();
    assert_eq!(
        retry.http_status(),
        Some(401),
        "open tried again: {retry:?}"
    );
    assert_eq!(engine.handshake_count(), 2, "the failure is not cached");

    engine.set_handshake_rejection(None);
    let global = within(session.open()).await.unwrap();
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    assert_eq!(engine.connection_count(), 1);
    assert!(ready(&mut errors).is_empty());
}

#[tokio::test]
async fn q_open_2_missing_required_header_is_401_and_builder_headers_are_sent() {
    let config =
        MockConfig::new().required_header("X-Qlik-User", "UserDirectory=internal;UserId=sa");
    let engine = MockEngine::start_with(config).await.unwrap();

    let anonymous = Session::builder(engine.app_url("app.qvf")).build().unwrap();
    let error = within(anonymous.open()).await.unwrap_err();
    assert_eq!(error.http_status(), Some(401));

    let (_session, global, connection) = open_at(&engine, "/app/app.qvf", |builder| {
        builder.header("X-Qlik-User", "UserDirectory=internal;UserId=sa")
    })
    .await;
    assert_eq!(
        connection.header("x-qlik-user"),
        Some("UserDirectory=internal;UserId=sa")
    );
    assert_eq!(connection.path(), "/app/app.qvf");
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
}

#[tokio::test]
async fn q_open_3_open_after_close_connects_afresh_and_ids_keep_counting() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, first) = open(&engine).await;
    let mut opened = session.subscribe("opened").unwrap();
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    within(global.call("ProductVersion", json!([])))
        .await
        .unwrap();
    within(session.close()).await.unwrap();
    assert_eq!(within(first.closed()).await, Some((1000, String::new())));

    let global = within(session.open()).await.unwrap();
    assert!(matches!(next(&mut opened).await, SessionEvent::Opened));
    let second = within(engine.next_connection()).await;
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();

    let ids = |connection: &qix_mock::MockConnection| -> Vec<u64> {
        connection
            .requests()
            .iter()
            .map(|request| request.id)
            .collect()
    };
    assert_eq!(ids(&first), vec![1, 2]);
    assert_eq!(ids(&second), vec![3, 4]);
    assert_eq!(engine.connection_count(), 2);
}

#[tokio::test]
async fn q_close_1_close_with_code_and_reason_fails_pending_and_closes_everything() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open(&engine).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let mut doc_events = doc.subscribe("closed").unwrap();
    let mut global_events = global.subscribe("closed").unwrap();
    let mut session_closed = session.subscribe("closed").unwrap();

    connection.hold_responses();
    let pending = tokio::spawn({
        let global = global.clone();
        async move { global.call("EngineVersion", json!([])).await }
    });
    received(&connection, "EngineVersion", 1).await;

    within(session.close_with(4100, "bye")).await.unwrap();
    assert_eq!(
        within(connection.closed()).await,
        Some((4100, "bye".to_owned()))
    );

    let error = within(pending).await.unwrap().unwrap_err();
    assert_eq!(error.code(), Some(-1));
    match &error {
        Error::NotConnected {
            reason: NotConnectedReason::SocketClosed,
            close: Some(close),
        } => assert_eq!(*close, CloseEvent::new(4100, "bye")),
        other => panic!("expected Socket closed, got {other:?}"),
    }
    assert!(error.to_string().contains("Socket closed"), "{error}");

    assert_eq!(
        closed(next(&mut session_closed).await),
        CloseEvent::new(4100, "bye")
    );
    assert!(matches!(next(&mut doc_events).await, ObjectEvent::Closed));
    assert!(matches!(
        next(&mut global_events).await,
        ObjectEvent::Closed
    ));
    assert!(doc.is_closed() && global.is_closed());

    let after = within(global.call("EngineVersion", json!([])))
        .await
        .unwrap_err();
    assert!(
        matches!(
            after,
            Error::NotConnected {
                reason: NotConnectedReason::NotConnected,
                ..
            }
        ),
        "{after:?}"
    );
    assert_eq!(after.code(), Some(-1));
}

#[tokio::test]
async fn q_close_1_close_defaults_to_1000_and_empty_reason() {
    let engine = MockEngine::start().await.unwrap();
    let (session, _global, connection) = open(&engine).await;
    let mut session_closed = session.subscribe("closed").unwrap();
    within(session.close()).await.unwrap();
    assert_eq!(
        within(connection.closed()).await,
        Some((1000, String::new()))
    );
    assert_eq!(
        closed(next(&mut session_closed).await),
        CloseEvent::new(1000, "")
    );
}

#[tokio::test]
async fn q_close_1_close_on_idle_or_closed_session_resolves_at_once_without_event() {
    let engine = MockEngine::start().await.unwrap();
    let idle = Session::builder(engine.app_url("app.qvf")).build().unwrap();
    let mut idle_closed = idle.subscribe("closed").unwrap();
    within(idle.close()).await.unwrap();
    within(idle.close_with(4100, "again")).await.unwrap();
    assert_eq!(
        engine.handshake_count(),
        0,
        "close on an idle session connects nothing"
    );
    drop(idle);
    assert!(until_end(&mut idle_closed).await.is_empty());

    let (session, _global, _connection) = open(&engine).await;
    let mut session_closed = session.subscribe("closed").unwrap();
    within(session.close()).await.unwrap();
    within(session.close()).await.unwrap();
    drop(session);
    let events = until_end(&mut session_closed).await;
    assert_eq!(events.len(), 1, "one closed for one close: {events:?}");
}

async fn server_close_emits_closed(code: u16, reason: &str) {
    let engine = MockEngine::start().await.expect("start the mock engine");
    let (session, global, connection) = open(&engine).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .expect("the step succeeds");
    let mut doc_events = doc.subscribe("closed").expect("known topic");
    let mut session_closed = session.subscribe("closed").expect("known topic");
    let mut suspended = session.subscribe("suspended").expect("known topic");

    connection.close(code, reason).await;
    assert_eq!(
        closed(next(&mut session_closed).await),
        CloseEvent::new(code, reason)
    );
    assert!(matches!(next(&mut doc_events).await, ObjectEvent::Closed));
    let error = within(global.call("EngineVersion", json!([])))
        .await
        .expect_err("the call should fail");
    match error {
        Error::NotConnected {
            reason: NotConnectedReason::NotConnected,
            close: Some(close),
        } => assert_eq!(close, CloseEvent::new(code, reason)),
        other => panic!("expected Not connected, got {other:?}"),
    }
    drop(session);
    assert!(
        until_end(&mut suspended).await.is_empty(),
        "without suspend_on_close: no suspended"
    );
}

#[tokio::test]
async fn q_close_2_server_close_1000_emits_closed() {
    server_close_emits_closed(1000, "done").await;
}

#[tokio::test]
async fn q_close_2_server_close_4000_emits_closed() {
    server_close_emits_closed(4000, "").await;
}

#[tokio::test]
async fn q_close_2_server_close_4029_emits_closed() {
    server_close_emits_closed(4029, "x").await;
}

#[tokio::test]
async fn q_close_2_dropped_tcp_emits_closed_1006() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open(&engine).await;
    let mut session_closed = session.subscribe("closed").unwrap();
    let mut global_events = global.subscribe("closed").unwrap();
    connection.drop_tcp();
    assert_eq!(closed(next(&mut session_closed).await).code, 1006);
    assert!(matches!(
        next(&mut global_events).await,
        ObjectEvent::Closed
    ));
    let error = within(global.call("EngineVersion", json!([])))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(-1));
}

#[tokio::test]
async fn q_close_3_close_on_suspended_session_closes_for_good() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open(&engine).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let mut doc_events = doc.subscribe("closed").unwrap();
    let mut session_closed = session.subscribe("closed").unwrap();

    within(session.suspend()).await.unwrap();
    within(connection.closed()).await;
    let suspended_call = within(global.call("EngineVersion", json!([])))
        .await
        .unwrap_err();
    assert_eq!(suspended_call.code(), Some(-11));

    within(session.close()).await.unwrap();
    assert_eq!(
        closed(next(&mut session_closed).await),
        CloseEvent::new(1000, "")
    );
    assert!(matches!(next(&mut doc_events).await, ObjectEvent::Closed));
    assert!(doc.is_closed());
    let error = within(global.call("EngineVersion", json!([])))
        .await
        .unwrap_err();
    assert_eq!(
        error.code(),
        Some(-1),
        "closed for good, not suspended: {error:?}"
    );
    let resume = within(session.resume(false)).await.unwrap_err();
    assert!(matches!(resume, Error::InvalidState { .. }), "{resume:?}");
    assert_eq!(
        engine.connection_count(),
        1,
        "closing a suspended session connects nothing"
    );
}

#[tokio::test]
async fn dropping_the_last_session_closes_the_socket_with_1000() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open(&engine).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();

    // A clone keeps the session alive.
    let clone = session.clone();
    drop(session);
    within(doc.call("CreateSessionObject", json!([{"qInfo": {"qType": "kpi"}}])))
        .await
        .unwrap();
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    assert!(connection.is_open());

    // Objects do not keep it alive.
    drop(clone);
    assert_eq!(
        within(connection.closed()).await,
        Some((1000, String::new()))
    );
    let error = within(global.call("EngineVersion", json!([])))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::SessionGone), "{error:?}");
}

/// A listener that accepts TCP and never answers the WebSocket upgrade.
async fn silent_listener() -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("the step succeeds");
    let addr = listener.local_addr().expect("bind a local port");
    (listener, addr)
}

#[tokio::test]
async fn q_open_2_handshake_that_never_completes_times_out() {
    let (listener, addr) = silent_listener().await;
    let session = Session::builder(format!("ws://{addr}/app/app.qvf"))
        .connect_timeout(std::time::Duration::from_millis(200))
        .build()
        .unwrap();
    let open = tokio::spawn({
        let session = session.clone();
        async move { session.open().await }
    });
    // Keep the accepted socket alive so that only the timeout can end the open.
    let (_socket, _) = within(listener.accept()).await.unwrap();
    let error = within(open).await.unwrap().unwrap_err();
    assert!(
        error
            .transport_error()
            .is_some_and(TransportError::is_timeout),
        "{error:?}"
    );
    assert_eq!(error.code(), Some(-1));
}

#[tokio::test]
async fn q_close_1_close_while_connecting_fails_the_open_and_resolves() {
    let (listener, addr) = silent_listener().await;
    let session = Session::builder(format!("ws://{addr}/app/app.qvf"))
        .build()
        .unwrap();
    let mut session_closed = session.subscribe("closed").unwrap();
    let open = tokio::spawn({
        let session = session.clone();
        async move { session.open().await }
    });
    let (_socket, _) = within(listener.accept()).await.unwrap();
    within(session.close()).await.unwrap();
    let error = within(open).await.unwrap().unwrap_err();
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
    drop(session);
    assert!(
        until_end(&mut session_closed).await.is_empty(),
        "a session that never opened reports no closed"
    );
}

#[tokio::test]
async fn q_close_1_close_with_during_a_resume_closes_the_resume_socket_with_that_code() {
    let engine = MockEngine::start().await.unwrap();
    let (session, _global, _first) = open_at(&engine, "/app/app.qvf/ttl/30", |b| b).await;
    let mut session_closed = session.subscribe("closed").unwrap();
    within(session.suspend()).await.unwrap();
    engine.set_on_connected(qix_mock::OnConnected::Omit);
    let resume = tokio::spawn({
        let session = session.clone();
        async move { session.resume(true).await }
    });
    let second = within(engine.next_connection()).await;

    within(session.close_with(4100, "bye")).await.unwrap();
    let error = within(resume).await.unwrap().unwrap_err();
    assert_eq!(error.code(), Some(-1), "{error:?}");
    assert_eq!(
        closed(next(&mut session_closed).await),
        CloseEvent::new(4100, "bye")
    );
    assert_eq!(
        within(second.closed()).await,
        Some((4100, "bye".to_owned()))
    );
}
