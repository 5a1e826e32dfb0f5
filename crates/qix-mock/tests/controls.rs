//! The controls a test uses while a session runs.

mod common;

use std::time::Duration;

use common::{within, Client};
use futures_util::SinkExt;
use qix_mock::{codes, EngineError, MockConfig, MockEngine, OnConnected, SessionState};
use serde_json::json;
use tokio_tungstenite::tungstenite::{self, Message};

#[tokio::test]
async fn next_connection_returns_each_socket_once_in_order() {
    let engine = MockEngine::start().await.unwrap();
    let mut clients = Vec::new();
    for n in 1..=3 {
        let (client, _) = Client::open(&engine.url(&format!("/app/a/identity/{n}?x=y"))).await;
        clients.push(client);
    }
    for n in 1..=3u64 {
        let connection = within(engine.next_connection()).await;
        assert_eq!(connection.id(), n);
        assert_eq!(connection.path(), format!("/app/a/identity/{n}?x=y"));
        assert_eq!(connection.identity(), Some(n.to_string().as_str()));
    }
    assert!(engine.try_next_connection().is_none());
    assert_eq!(engine.connection_count(), 3);
    assert_eq!(engine.handshake_count(), 3);
}

#[tokio::test]
async fn connection_reports_app_headers_and_percent_decoded_names() {
    let engine = MockEngine::start().await.unwrap();
    let url = engine.app_url("my app/ü");
    assert!(url.ends_with("/app/my%20app%2F%C3%BC"), "{url}");
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    request.headers_mut().insert(
        "X-Qlik-User",
        "UserDirectory=internal;UserId=sa".parse().unwrap(),
    );
    let (_socket, _) = within(tokio_tungstenite::connect_async(request))
        .await
        .unwrap();
    let connection = within(engine.next_connection()).await;
    assert_eq!(connection.app(), "my app/ü");
    assert_eq!(
        connection.header("x-qlik-user"),
        Some("UserDirectory=internal;UserId=sa")
    );
    assert!(connection
        .headers()
        .iter()
        .any(|(name, _)| name == "sec-websocket-key"));
}

#[tokio::test]
async fn a_missing_or_wrong_required_header_is_refused_with_401() {
    let config = MockConfig::new().required_header("Authorization", "Bearer good");
    let engine = MockEngine::start_with(config).await.unwrap();
    let refused = within(tokio_tungstenite::connect_async(engine.app_url("a"))).await;
    assert!(
        matches!(refused, Err(tungstenite::Error::Http(ref r)) if r.status() == 401),
        "{refused:?}"
    );

    let mut wrong =
        tungstenite::client::IntoClientRequest::into_client_request(engine.app_url("a")).unwrap();
    wrong
        .headers_mut()
        .insert("authorization", "Bearer bad".parse().unwrap());
    let refused = within(tokio_tungstenite::connect_async(wrong)).await;
    assert!(
        matches!(refused, Err(tungstenite::Error::Http(ref r)) if r.status() == 401),
        "{refused:?}"
    );

    let mut right =
        tungstenite::client::IntoClientRequest::into_client_request(engine.app_url("a")).unwrap();
    right
        .headers_mut()
        .insert("authorization", "Bearer good".parse().unwrap());
    within(tokio_tungstenite::connect_async(right))
        .await
        .unwrap();
    assert_eq!(engine.handshake_count(), 3);
    assert_eq!(engine.connection_count(), 1);
}

#[tokio::test]
async fn the_required_header_can_be_changed_and_removed_while_the_engine_runs() {
    let engine = MockEngine::start().await.unwrap();
    let with = |value: &str| {
        let mut request =
            tungstenite::client::IntoClientRequest::into_client_request(engine.app_url("a"))
                .unwrap();
        request
            .headers_mut()
            .insert("authorization", value.parse().unwrap());
        request
    };
    engine.set_required_header(Some(("Authorization", "Bearer one")));
    let (open, _) = within(tokio_tungstenite::connect_async(with("Bearer one")))
        .await
        .unwrap();
    // The credential expires: the open socket stays, the old value no longer connects.
    engine.set_required_header(Some(("Authorization", "Bearer two")));
    let refused = within(tokio_tungstenite::connect_async(with("Bearer one"))).await;
    assert!(
        matches!(refused, Err(tungstenite::Error::Http(ref r)) if r.status() == 401),
        "{refused:?}"
    );
    within(tokio_tungstenite::connect_async(with("Bearer two")))
        .await
        .unwrap();
    engine.set_required_header(None);
    within(tokio_tungstenite::connect_async(engine.app_url("a")))
        .await
        .unwrap();
    assert_eq!(engine.connection_count(), 3);
    drop(open);
}

#[tokio::test]
async fn unknown_paths_are_refused_with_404_and_rejection_is_switchable() {
    let engine = MockEngine::start().await.unwrap();
    for path in ["/", "/app/", "/sense/app/x", "/app/x/ttl/soon"] {
        let refused = within(tokio_tungstenite::connect_async(engine.url(path))).await;
        assert!(
            matches!(refused, Err(tungstenite::Error::Http(ref r)) if r.status() == 404),
            "{path}: {refused:?}"
        );
    }
    engine.set_handshake_rejection(Some(503));
    let refused = within(tokio_tungstenite::connect_async(engine.app_url("a"))).await;
    assert!(
        matches!(refused, Err(tungstenite::Error::Http(ref r)) if r.status() == 503),
        "{refused:?}"
    );
    engine.set_handshake_rejection(None);
    Client::open(&engine.app_url("a")).await;
}

#[tokio::test]
async fn on_connected_can_be_omitted_replaced_or_delayed() {
    let engine = MockEngine::start_with(MockConfig::new().on_connected(OnConnected::Omit))
        .await
        .unwrap();
    let mut client = Client::connect(&engine.app_url("a")).await;
    let id = client.request(-1, "ProductVersion", json!([])).await;
    assert_eq!(
        client.recv().await["id"],
        id,
        "no OnConnected before the answer"
    );

    engine.set_on_connected(OnConnected::State(SessionState::ErrorLimitExceeded));
    let (_client, state) = Client::open(&engine.app_url("b")).await;
    assert_eq!(state, "SESSION_ERROR_LIMIT_EXCEEDED");

    // Delayed: a request sent before it is answered only after it.
    engine.set_on_connected(OnConnected::Delay(Duration::from_millis(200)));
    let mut client = Client::connect(&engine.app_url("c")).await;
    let id = client.request(-1, "ProductVersion", json!([])).await;
    assert_eq!(client.greeting().await, "SESSION_CREATED");
    assert_eq!(client.recv().await["id"], id);

    engine.set_on_connected(OnConnected::DelayedState(
        Duration::from_millis(10),
        SessionState::Other("WHATEVER".into()),
    ));
    let (_client, state) = Client::open(&engine.app_url("d")).await;
    assert_eq!(state, "WHATEVER");
}

#[tokio::test]
async fn hold_withholds_answers_until_release_then_sends_them_in_order() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let connection = within(engine.next_connection()).await;
    connection.hold_responses();
    let mut ids = Vec::new();
    for method in ["EngineVersion", "ProductVersion", "GetActiveDoc"] {
        ids.push(client.request(-1, method, json!([])).await);
    }
    within(connection.wait_for_requests("GetActiveDoc", 1))
        .await
        .unwrap();
    // The requests were carried out; had their answers not been held, they would precede this.
    connection.notify("Marker", json!({})).await;
    assert_eq!(client.recv().await["method"], "Marker");
    connection.release_responses();
    for id in ids {
        assert_eq!(client.recv().await["id"], id);
    }
}

#[tokio::test]
async fn cancel_request_aborts_a_held_request_with_error_15() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let connection = within(engine.next_connection()).await;
    connection.hold_responses();
    let held = client.request(-1, "EngineVersion", json!([])).await;
    let cancel = client.request(-1, "CancelRequest", json!([held])).await;
    within(connection.wait_for_request("CancelRequest"))
        .await
        .unwrap();
    connection.release_responses();
    let aborted = client.recv().await;
    assert_eq!(aborted["id"], held);
    assert_eq!(aborted["error"]["code"], codes::ABORTED);
    assert_eq!(aborted["error"]["message"], "Request aborted");
    let answer = client.recv().await;
    assert_eq!(
        (answer["id"].clone(), answer["result"].clone()),
        (json!(cancel), json!({}))
    );
}

#[tokio::test]
async fn a_delayed_answer_lets_later_ones_pass_and_can_be_cancelled() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let connection = within(engine.next_connection()).await;
    connection.delay_method("EngineVersion", Duration::from_secs(3600));
    let slow = client.request(-1, "EngineVersion", json!([])).await;
    let fast = client.request(-1, "ProductVersion", json!([])).await;
    assert_eq!(client.recv().await["id"], fast, "out of order");
    let cancel = client
        .request(-1, "CancelRequest", json!({"qRequestId": slow}))
        .await;
    let aborted = client.recv().await;
    assert_eq!(
        (aborted["id"].clone(), aborted["error"]["code"].clone()),
        (json!(slow), json!(15))
    );
    assert_eq!(client.recv().await["id"], cancel);

    // A short delay is answered by itself.
    connection.delay_method("EngineVersion", Duration::from_millis(20));
    client.result(-1, "EngineVersion", json!([])).await;
    // Cancelling something already answered just answers {}.
    assert_eq!(
        client.result(-1, "CancelRequest", json!([slow])).await,
        json!({})
    );
}

#[tokio::test]
async fn engine_level_delay_and_failure_apply_to_every_socket() {
    let engine = MockEngine::start().await.unwrap();
    engine.fail_method(
        "GetActiveDoc",
        EngineError {
            code: 5,
            parameter: "p".into(),
            message: "Access denied".into(),
        },
    );
    engine.delay_method("EngineVersion", Duration::from_secs(3600));
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let error = client.error(-1, "GetActiveDoc", json!([])).await;
    assert_eq!(
        error,
        json!({"code": 5, "parameter": "p", "message": "Access denied"})
    );
    let slow = client.request(-1, "EngineVersion", json!([])).await;
    let abort_all = client.request(-1, "AbortAll", json!([])).await;
    assert_eq!(client.recv().await["id"], slow);
    assert_eq!(client.recv().await["id"], abort_all);

    engine.clear_method_failure("GetActiveDoc");
    engine.delay_method("EngineVersion", Duration::ZERO);
    assert_eq!(
        client.error(-1, "GetActiveDoc", json!([])).await["code"],
        codes::NO_ACTIVE_DOC
    );
    client.result(-1, "EngineVersion", json!([])).await;
}

#[tokio::test]
async fn close_sends_the_code_and_reason_and_closed_reports_the_clients_answer() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let connection = within(engine.next_connection()).await;
    connection.close(4001, "idle").await;
    match client.frame().await {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(u16::from(frame.code), 4001);
            assert_eq!(frame.reason.as_str(), "idle");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    while let Some(Ok(_)) = client.frame().await {}
    assert_eq!(
        within(connection.closed()).await,
        Some((4001, "idle".to_owned()))
    );
    assert!(!connection.is_open());
}

#[tokio::test]
async fn closed_reports_the_code_and_reason_the_client_closed_with() {
    let engine = MockEngine::start().await.unwrap();
    let (client, _) = Client::open(&engine.app_url("a")).await;
    let connection = within(engine.next_connection()).await;
    assert!(connection.is_open());
    client.close(4000, "suspend").await;
    assert_eq!(
        within(connection.closed()).await,
        Some((4000, "suspend".to_owned()))
    );
}

#[tokio::test]
async fn drop_tcp_ends_the_socket_without_a_close_frame() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let connection = within(engine.next_connection()).await;
    connection.drop_tcp();
    match client.frame().await {
        None | Some(Err(_)) => {}
        other => panic!("expected the socket to end abnormally, got {other:?}"),
    }
    assert_eq!(within(connection.closed()).await, None);
    assert_eq!(within(connection.wait_for_request("OpenDoc")).await, None);
}

#[tokio::test]
async fn pushed_frames_arrive_as_given() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let connection = within(engine.next_connection()).await;
    connection
        .notify("OnSessionTimedOut", json!({"severity": "fatal"}))
        .await;
    assert_eq!(
        client.recv().await,
        json!({"jsonrpc": "2.0", "method": "OnSessionTimedOut", "params": {"severity": "fatal"}})
    );
    connection.push_changes(vec![3, 4], vec![5]).await;
    assert_eq!(
        client.recv().await,
        json!({"jsonrpc": "2.0", "change": [3, 4], "close": [5]})
    );
    connection.send_text("not json {").await;
    assert!(
        matches!(client.frame().await, Some(Ok(Message::Text(t))) if t.as_str() == "not json {")
    );
    connection.send_binary(vec![1, 2, 3]).await;
    assert!(
        matches!(client.frame().await, Some(Ok(Message::Binary(b))) if b.as_ref() == [1, 2, 3])
    );
}

#[tokio::test]
async fn requests_are_logged_in_order_and_waited_for() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let connection = within(engine.next_connection()).await;
    let waiter = tokio::spawn({
        let connection = connection.clone();
        async move { connection.wait_for_requests("ProductVersion", 2).await }
    });
    client.result(-1, "ProductVersion", json!([])).await;
    client.open_doc("a").await;
    client.result(-1, "ProductVersion", json!({})).await;
    let waited = within(waiter).await.unwrap().unwrap();
    assert_eq!(waited.len(), 2);
    let methods: Vec<String> = connection
        .requests()
        .into_iter()
        .map(|r| r.method)
        .collect();
    assert_eq!(methods, ["ProductVersion", "OpenDoc", "ProductVersion"]);
    assert_eq!(
        within(connection.wait_for_request("OpenDoc"))
            .await
            .unwrap()
            .id,
        2
    );
}

#[tokio::test]
async fn an_oversized_message_ends_that_socket_only() {
    let engine = MockEngine::start_with(MockConfig::new().max_message_size(1024))
        .await
        .unwrap();
    let (mut big, _) = Client::open(&engine.app_url("a")).await;
    let (mut other, _) = Client::open(&engine.app_url("b")).await;
    let padding = "x".repeat(4096);
    let _ = big
        .ws
        .send(Message::text(format!(r#"{{"pad":"{padding}"}}"#)))
        .await;
    match big.frame().await {
        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {}
        Some(Ok(frame)) => panic!("unexpected frame {frame:?}"),
    }
    other.result(-1, "EngineVersion", json!([])).await;
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let shutdown = tokio::spawn(engine.shutdown());
    match client.frame().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected a close frame, got {other:?}"),
    }
    while let Some(Ok(_)) = client.frame().await {}
    within(shutdown).await.unwrap();
}

#[tokio::test]
async fn dropping_the_engine_drops_its_sockets_and_port() {
    let engine = MockEngine::start().await.unwrap();
    let addr = engine.addr();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let connection = within(engine.next_connection()).await;
    drop(engine);
    match client.frame().await {
        None | Some(Err(_)) => {}
        other => panic!("expected the socket to end abnormally, got {other:?}"),
    }
    assert_eq!(within(connection.closed()).await, None);
    within(async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn under_a_paused_clock_the_engine_serves_and_its_delays_follow_that_clock() {
    let config = MockConfig::new().on_connected(OnConnected::Delay(Duration::from_secs(5)));
    let engine = MockEngine::start_with(config).await.unwrap();
    let started = tokio::time::Instant::now();
    let (mut client, state) = Client::open(&engine.url("/app/a/ttl/1")).await;
    assert_eq!(state, "SESSION_CREATED");
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "the delay is in the runtime's time"
    );
    client.open_doc("a").await;
    client.close(1000, "").await;
    within(within(engine.next_connection()).await.closed()).await;
    // The TTL lapses in the paused clock's time too.
    within(async {
        while engine.session_count() > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn abort_method_answers_the_next_k_calls_of_a_method_with_error_15_then_carries_on() {
    let engine = MockEngine::start().await.unwrap();
    engine.abort_method("EngineVersion", 2);
    assert_eq!(engine.aborts_left("EngineVersion"), 2);
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    // Other methods are untouched.
    assert!(client.result(-1, "ProductVersion", json!([])).await["qReturn"].is_string());
    for _ in 0..2 {
        assert_eq!(
            client.error(-1, "EngineVersion", json!([])).await,
            json!({"code": codes::ABORTED, "parameter": "", "message": "Request aborted"})
        );
    }
    assert_eq!(engine.aborts_left("EngineVersion"), 0);
    let version = client.result(-1, "EngineVersion", json!([])).await;
    assert!(
        version["qVersion"]["qComponentVersion"].is_string(),
        "{version}"
    );

    engine.abort_method("EngineVersion", 5);
    engine.abort_method("EngineVersion", 0);
    assert!(client.result(-1, "EngineVersion", json!([])).await["qVersion"].is_object());
}
