//! The WebSocket transport against tokio-tungstenite servers on 127.0.0.1.

mod common;

use std::time::Duration;

use common::{accept_one, listen, next, text, within};
use futures_util::{SinkExt, StreamExt};
use qix_transport::{
    CloseEvent, Connection, Incoming, Transport, TransportError, WebSocketTransport,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

async fn connect(url: &str) -> Connection {
    within(WebSocketTransport::new(url).expect("valid URL").connect())
        .await
        .expect("connect")
}

fn close_frame(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}

fn closed(incoming: Incoming) -> CloseEvent {
    match incoming {
        Incoming::Closed(event) => event,
        other => panic!("expected Closed, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_sends_extra_headers_exactly() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move { accept_one(&listener).await.1 });
    let transport = WebSocketTransport::builder(url)
        .header("X-Qlik-User", "UserDirectory=internal;UserId=sa")
        .header("Authorization", "Bearer abc.def-ghi")
        .header("Cookie", "X-Qlik-Session=1f2e; other=2")
        .build()
        .unwrap();
    let _connection = within(transport.connect()).await.unwrap();
    let headers = within(server).await.unwrap();
    for (name, value) in [
        ("x-qlik-user", "UserDirectory=internal;UserId=sa"),
        ("authorization", "Bearer abc.def-ghi"),
        ("cookie", "X-Qlik-Session=1f2e; other=2"),
    ] {
        let values: Vec<_> = headers.get_all(name).iter().collect();
        assert_eq!(values, [value], "header {name}");
    }
    assert_eq!(
        transport.headers()[0],
        (
            "X-Qlik-User".to_owned(),
            "UserDirectory=internal;UserId=sa".to_owned()
        )
    );
}

#[tokio::test]
async fn text_travels_both_ways() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (mut socket, _) = accept_one(&listener).await;
        let request = socket.next().await.unwrap().unwrap();
        socket
            .send(Message::text(format!(
                "echo {}",
                request.to_text().unwrap()
            )))
            .await
            .unwrap();
        // Keep the connection until the client is done.
        while socket.next().await.is_some() {}
    });
    let mut connection = connect(&url).await;
    within(connection.send_text(r#"{"jsonrpc":"2.0","id":1}"#))
        .await
        .unwrap();
    assert_eq!(
        text(next(&mut connection).await),
        r#"echo {"jsonrpc":"2.0","id":1}"#
    );
    drop(connection);
    within(server).await.unwrap();
}

#[tokio::test]
async fn client_close_reaches_server_exactly_and_source_reports_the_echo() {
    let (listener, url) = listen().await;
    let (seen_tx, seen_rx) = oneshot::channel();
    let server = tokio::spawn(async move {
        let (mut socket, _) = accept_one(&listener).await;
        let first = socket.next().await.unwrap().unwrap();
        seen_tx.send(first).unwrap();
        // Reading on lets tungstenite send the echo; then the server ends TCP.
        while socket.next().await.is_some() {}
    });
    let mut connection = connect(&url).await;
    within(connection.close(4000, "x")).await.unwrap();
    assert_eq!(within(seen_rx).await.unwrap(), close_frame(4000, "x"));
    let event = closed(next(&mut connection).await);
    assert_eq!(event, CloseEvent::new(4000, "x"));
    // Final: the same event again, and no more sending.
    assert_eq!(closed(next(&mut connection).await), event);
    assert!(matches!(
        within(connection.send_text("late".to_owned())).await,
        Err(TransportError::ConnectionClosed)
    ));
    // Closing again is harmless.
    within(connection.close(1000, "")).await.unwrap();
    within(server).await.unwrap();
}

#[tokio::test]
async fn server_close_is_reported_with_its_code_and_reason_and_echoed() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (mut socket, _) = accept_one(&listener).await;
        socket
            .close(Some(CloseFrame {
                code: CloseCode::from(4001),
                reason: "idle".into(),
            }))
            .await
            .unwrap();
        let mut echo = None;
        while let Some(Ok(message)) = socket.next().await {
            echo = Some(message);
        }
        echo
    });
    let mut connection = connect(&url).await;
    assert_eq!(
        closed(next(&mut connection).await),
        CloseEvent::new(4001, "idle")
    );
    assert_eq!(
        within(server).await.unwrap(),
        Some(close_frame(4001, "idle"))
    );
    assert!(matches!(
        within(connection.send_text("late".to_owned())).await,
        Err(TransportError::ConnectionClosed)
    ));
}

#[tokio::test]
async fn close_frame_without_status_is_reported_as_1005() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (mut socket, _) = accept_one(&listener).await;
        socket.close(None).await.unwrap();
        while socket.next().await.is_some() {}
    });
    let mut connection = connect(&url).await;
    assert_eq!(
        closed(next(&mut connection).await),
        CloseEvent::new(1005, "")
    );
    within(server).await.unwrap();
}

#[tokio::test]
async fn tcp_dropped_without_close_frame_is_reported_as_1006() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (mut socket, _) = accept_one(&listener).await;
        socket.send(Message::text("last words")).await.unwrap();
        drop(socket);
    });
    let mut connection = connect(&url).await;
    within(server).await.unwrap();
    assert_eq!(text(next(&mut connection).await), "last words");
    assert_eq!(closed(next(&mut connection).await), CloseEvent::abnormal());
}

#[tokio::test]
#[allow(clippy::result_large_err)] // the callback's error type is tungstenite's
async fn handshake_refused_with_401_reports_the_status() {
    let (listener, url) = listen().await;
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let refuse = |_: &Request, _: Response| -> Result<Response, ErrorResponse> {
            let mut response = ErrorResponse::new(Some("no ticket".to_owned()));
            *response.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::UNAUTHORIZED;
            Err(response)
        };
        let _ = tokio_tungstenite::accept_hdr_async(tcp, refuse).await;
    });
    let error = within(WebSocketTransport::new(url).unwrap().connect())
        .await
        .unwrap_err();
    assert_eq!(error.http_status(), Some(401));
    assert!(error.to_string().contains("401"), "{error}");
}

#[tokio::test]
async fn message_over_the_limit_is_an_error_then_closed_1009() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (mut socket, _) = accept_one(&listener).await;
        socket
            .send(Message::text("a".repeat(64 * 1024)))
            .await
            .unwrap();
        // What the client answers: its close frame.
        socket.next().await.unwrap().unwrap()
    });
    let transport = WebSocketTransport::builder(url)
        .max_message_size(1024)
        .build()
        .unwrap();
    let mut connection = within(transport.connect()).await.unwrap();
    match next(&mut connection).await {
        Incoming::Error(TransportError::MessageTooLarge { size, limit }) => {
            assert_eq!((size, limit), (64 * 1024, 1024));
        }
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    let event = closed(next(&mut connection).await);
    assert_eq!(event.code, 1009);
    assert!(!event.reason.is_empty());
    assert_eq!(
        within(server).await.unwrap(),
        close_frame(1009, &event.reason)
    );
}

#[tokio::test]
async fn oversized_frame_is_refused_from_its_header_without_reading_the_payload() {
    let (listener, url) = listen().await;
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let (mut socket, _) = accept_one(&listener).await;
        // A final text frame announcing 1 GiB, followed by 4 bytes only: a client that waited
        // for (or allocated) the payload would never report anything.
        let mut header = vec![0x81, 127];
        header.extend_from_slice(&(1u64 << 30).to_be_bytes());
        header.extend_from_slice(b"aaaa");
        socket.get_mut().write_all(&header).await.unwrap();
        let _ = release_rx.await;
    });
    let transport = WebSocketTransport::builder(url)
        .max_message_size(1024)
        .build()
        .unwrap();
    let mut connection = within(transport.connect()).await.unwrap();
    match next(&mut connection).await {
        Incoming::Error(TransportError::MessageTooLarge { size, limit }) => {
            assert_eq!((size, limit), (1 << 30, 1024));
        }
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    assert_eq!(closed(next(&mut connection).await).code, 1009);
    release_tx.send(()).unwrap();
    within(server).await.unwrap();
}

#[tokio::test]
async fn invalid_utf8_text_is_an_error_then_closed_1007() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (mut socket, _) = accept_one(&listener).await;
        socket
            .get_mut()
            .write_all(&[0x81, 2, 0xff, 0xfe])
            .await
            .unwrap();
        socket.next().await.unwrap().unwrap()
    });
    let mut connection = connect(&url).await;
    assert!(matches!(
        next(&mut connection).await,
        Incoming::Error(TransportError::InvalidUtf8)
    ));
    let event = closed(next(&mut connection).await);
    assert_eq!(event.code, 1007);
    assert_eq!(
        within(server).await.unwrap(),
        close_frame(1007, &event.reason)
    );
}

#[tokio::test]
async fn binary_frame_is_an_error_and_the_connection_goes_on() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (mut socket, _) = accept_one(&listener).await;
        socket.send(Message::binary(vec![1, 2, 3])).await.unwrap();
        socket.send(Message::text("after")).await.unwrap();
        while socket.next().await.is_some() {}
    });
    let mut connection = connect(&url).await;
    assert!(matches!(
        next(&mut connection).await,
        Incoming::Error(TransportError::BinaryFrame { len: 3 })
    ));
    assert_eq!(text(next(&mut connection).await), "after");
    within(connection.send_text("still usable".to_owned()))
        .await
        .unwrap();
    drop(connection);
    within(server).await.unwrap();
}

#[tokio::test]
async fn server_ping_is_answered_with_a_pong_and_never_surfaces() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (mut socket, _) = accept_one(&listener).await;
        socket.send(Message::Ping("hb".into())).await.unwrap();
        // The client sends nothing: the pong must be flushed on its own.
        let answer = socket.next().await.unwrap().unwrap();
        socket.send(Message::text("after ping")).await.unwrap();
        while socket.next().await.is_some() {}
        answer
    });
    let mut connection = connect(&url).await;
    // Arrives only once the server has the pong; the ping itself is not reported.
    assert_eq!(text(next(&mut connection).await), "after ping");
    drop(connection);
    assert_eq!(within(server).await.unwrap(), Message::Pong("hb".into()));
}

#[tokio::test]
async fn dropping_the_connection_ends_tcp_without_a_close_frame() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (socket, _) = accept_one(&listener).await;
        let mut tcp = socket.into_inner();
        let mut bytes = Vec::new();
        tcp.read_to_end(&mut bytes).await.unwrap();
        bytes
    });
    let connection = connect(&url).await;
    drop(connection);
    assert_eq!(within(server).await.unwrap(), Vec::<u8>::new());
}

#[tokio::test]
async fn close_code_that_may_not_be_sent_is_refused() {
    let (listener, url) = listen().await;
    let _server = tokio::spawn(async move {
        let (mut socket, _) = accept_one(&listener).await;
        while socket.next().await.is_some() {}
    });
    let mut connection = connect(&url).await;
    assert!(matches!(
        within(connection.close(1006, "")).await,
        Err(TransportError::InvalidCloseCode { code: 1006 })
    ));
    assert!(matches!(
        within(connection.close(1000, &"r".repeat(124))).await,
        Err(TransportError::CloseReasonTooLong { len: 124 })
    ));
    // The connection is untouched.
    within(connection.send_text("ok".to_owned())).await.unwrap();
}

#[tokio::test]
async fn connect_times_out_when_the_handshake_is_never_answered() {
    let (listener, url) = listen().await;
    tokio::spawn(async move {
        let (_tcp, _) = listener.accept().await.unwrap();
        std::future::pending::<()>().await;
    });
    let transport = WebSocketTransport::builder(url)
        .connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = within(transport.connect()).await.unwrap_err();
    assert!(
        matches!(error, TransportError::ConnectTimeout { timeout } if timeout == Duration::from_millis(200)),
        "{error:?}"
    );
    assert!(error.is_timeout());
}

#[tokio::test]
async fn connect_to_a_closed_port_fails_with_connect_error() {
    let (listener, url) = listen().await;
    drop(listener);
    let error = within(WebSocketTransport::new(url).unwrap().connect())
        .await
        .unwrap_err();
    assert!(matches!(error, TransportError::Connect { .. }), "{error:?}");
}

#[tokio::test]
async fn every_connect_opens_a_new_connection() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        for greeting in ["first", "second"] {
            let (mut socket, _) = accept_one(&listener).await;
            socket.send(Message::text(greeting)).await.unwrap();
        }
    });
    let transport = WebSocketTransport::new(url).unwrap();
    let mut first = within(transport.connect()).await.unwrap();
    assert_eq!(text(next(&mut first).await), "first");
    let mut second = within(transport.connect()).await.unwrap();
    assert_eq!(text(next(&mut second).await), "second");
    within(server).await.unwrap();
}

#[test]
fn build_refuses_a_non_websocket_scheme() {
    let error = WebSocketTransport::new("http://127.0.0.1:9076/app").unwrap_err();
    assert!(
        matches!(error, TransportError::InvalidUrl { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("ws or wss"), "{error}");
}

#[test]
fn build_refuses_bad_header_values_and_names_without_echoing_the_value() {
    let error = WebSocketTransport::builder("ws://127.0.0.1:9076/")
        .header("Authorization", "Bearer secret\r\nX-Injected: 1")
        .build()
        .unwrap_err();
    assert!(
        matches!(&error, TransportError::InvalidHeaderValue { name, .. } if name == "Authorization"),
        "{error:?}"
    );
    assert!(!error.to_string().contains("secret"), "{error}");

    let error = WebSocketTransport::builder("ws://127.0.0.1:9076/")
        .header("Bad Name", "x")
        .build()
        .unwrap_err();
    assert!(
        matches!(error, TransportError::InvalidHeaderName { .. }),
        "{error:?}"
    );
}
