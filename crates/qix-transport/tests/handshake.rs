//! The handshake's answer after connect, and `reuse_cookies`: what the server set comes back
//! on the next connect of the same transport.

mod common;

use common::{listen, within};
use qix_transport::{Transport, WebSocketTransport};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Accepts connections, answering the n-th with `Set-Cookie: session=<n>` and a fixed
/// `lb=node-a`, and sends the `Cookie` header each request came with (if any).
#[allow(clippy::result_large_err)] // the callback's error type is tungstenite's
fn cookie_server(listener: TcpListener) -> mpsc::UnboundedReceiver<Option<String>> {
    let (seen, cookies) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut count = 0;
        while let Ok((tcp, _)) = listener.accept().await {
            count += 1;
            let seen = seen.clone();
            let callback = move |request: &Request, mut response: Response| {
                let cookie = request
                    .headers()
                    .get("cookie")
                    .map(|value| value.to_str().unwrap().to_owned());
                seen.send(cookie).unwrap();
                let headers = response.headers_mut();
                let session = format!("session={count}; Path=/; HttpOnly");
                headers.append("set-cookie", HeaderValue::from_str(&session).unwrap());
                headers.append("set-cookie", HeaderValue::from_static("lb=node-a"));
                headers.append("x-engine", HeaderValue::from_static("qix-test"));
                Ok::<_, ErrorResponse>(response)
            };
            tokio::spawn(async move {
                if let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(tcp, callback).await {
                    let _ = socket.close(None).await;
                }
            });
        }
    });
    cookies
}

#[tokio::test]
async fn the_handshake_answer_is_on_the_connection_and_returned_alongside() {
    let (listener, url) = listen().await;
    let _cookies = cookie_server(listener);
    let transport = WebSocketTransport::new(url).unwrap();

    let connection = within(transport.connect()).await.unwrap();
    let handshake = connection
        .handshake()
        .expect("the WebSocket transport records it");
    assert_eq!(handshake.status(), 101);
    assert_eq!(handshake.header("X-Engine"), Some("qix-test"));
    let set: Vec<_> = handshake.headers("set-cookie").collect();
    assert_eq!(set, ["session=1; Path=/; HttpOnly", "lb=node-a"]);
    assert!(handshake
        .response_headers()
        .iter()
        .any(|(name, value)| name == "upgrade" && value.eq_ignore_ascii_case("websocket")));

    let (connection, handshake) = within(transport.connect_with_handshake()).await.unwrap();
    assert_eq!(
        handshake.header("set-cookie"),
        Some("session=2; Path=/; HttpOnly")
    );
    assert_eq!(connection.handshake(), Some(&handshake));
}

#[tokio::test]
async fn reuse_cookies_sends_back_what_the_last_answer_set() {
    let (listener, url) = listen().await;
    let mut cookies = cookie_server(listener);
    let transport = WebSocketTransport::builder(url)
        .header("Cookie", "mine=1")
        .reuse_cookies(true)
        .build()
        .unwrap();
    let clone = transport.clone();
    for expected in [
        "mine=1",
        "mine=1; session=1; lb=node-a",
        // A clone shares the jar; the newer session value replaced the older one.
        "mine=1; session=2; lb=node-a",
    ] {
        let _connection = within(clone.connect()).await.unwrap();
        assert_eq!(
            within(cookies.recv()).await.unwrap().as_deref(),
            Some(expected)
        );
    }
}

#[tokio::test]
async fn without_reuse_cookies_nothing_is_sent_back() {
    let (listener, url) = listen().await;
    let mut cookies = cookie_server(listener);
    let transport = WebSocketTransport::new(url).unwrap();
    for _ in 0..2 {
        let _connection = within(transport.connect()).await.unwrap();
        assert_eq!(within(cookies.recv()).await.unwrap(), None);
    }
}
