//! Servers for the transport tests: real sockets on 127.0.0.1, port 0.

#![allow(dead_code, unreachable_pub)] // each test crate uses a different part

use std::future::Future;
use std::time::Duration;

use qix_transport::{Connection, Incoming};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderMap;
use tokio_tungstenite::WebSocketStream;

/// Bound on every wait, so a broken transport fails the test instead of hanging it.
pub const LIMIT: Duration = Duration::from_secs(10);

pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(LIMIT, future)
        .await
        .expect("timed out: the transport hung")
}

/// A listener on 127.0.0.1 and the `ws://` URL that reaches it.
pub async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let url = format!(
        "ws://{}/app/engineData",
        listener.local_addr().expect("local address")
    );
    (listener, url)
}

/// Accepts one WebSocket connection and returns it with the request headers it came with.
#[allow(clippy::result_large_err)] // the callback's error type is tungstenite's
pub async fn accept<S>(stream: S) -> (WebSocketStream<S>, HeaderMap)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut seen = HeaderMap::new();
    let socket =
        tokio_tungstenite::accept_hdr_async(stream, |request: &Request, response: Response| {
            seen = request.headers().clone();
            Ok::<_, ErrorResponse>(response)
        })
        .await
        .expect("WebSocket handshake (server side)");
    (socket, seen)
}

pub async fn accept_one(listener: &TcpListener) -> (WebSocketStream<TcpStream>, HeaderMap) {
    let (tcp, _) = listener.accept().await.expect("accept TCP");
    accept(tcp).await
}

pub async fn next(connection: &mut Connection) -> Incoming {
    within(connection.next()).await
}

pub fn text(incoming: Incoming) -> String {
    match incoming {
        Incoming::Text(text) => String::from_utf8(text.to_vec()).expect("UTF-8"),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// A `ws://` server that echoes every text message, on as many connections as come.
pub async fn echo_server() -> String {
    let (listener, url) = listen().await;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                use futures_util::{SinkExt, StreamExt};
                let (mut socket, _) = accept(tcp).await;
                while let Some(Ok(message)) = socket.next().await {
                    if message.is_text() && socket.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    url
}

/// An HTTP `CONNECT` proxy on 127.0.0.1, written for the tests: it sends the head of every
/// request it gets (request line and headers) on the channel, then tunnels to the named
/// address, or answers `refusal` (a status line such as `407 Proxy Authentication Required`)
/// instead when one is given.
pub async fn connect_proxy(
    refusal: Option<&'static str>,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let (seen, heads) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match client.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let _ = seen.send(head.clone());
                if let Some(status) = refusal {
                    let answer = format!(
                        "HTTP/1.1 {status}\r\nProxy-Authenticate: Basic realm=\"test\"\r\n\r\n"
                    );
                    let _ = client.write_all(answer.as_bytes()).await;
                    return;
                }
                let destination = head
                    .strip_prefix("CONNECT ")
                    .and_then(|rest| rest.split_whitespace().next())
                    .unwrap_or_default()
                    .to_owned();
                let Ok(mut upstream) = TcpStream::connect(destination.as_str()).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_ok()
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (addr, heads)
}
