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
