//! The session builder's deployment settings, end to end against the mock engine: a session
//! through an HTTP `CONNECT` proxy (one this test runs on 127.0.0.1), opened and resumed.

mod common;

use common::within;
use qix_mock::{MockConfig, MockEngine};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A `CONNECT` proxy that tunnels anywhere and reports each request line it served.
async fn proxy() -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen, lines) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.ok() != Some(1) {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let line = head.lines().next().unwrap_or_default().to_owned();
                let destination = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let _ = seen.send(line);
                let Ok(mut upstream) = TcpStream::connect(destination).await else {
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
    (format!("http://{addr}"), lines)
}

#[tokio::test]
async fn a_session_opens_and_resumes_through_a_connect_proxy() {
    let engine = MockEngine::start_with(MockConfig::new().default_ttl(Duration::from_secs(30)))
        .await
        .unwrap();
    let (proxy, mut lines) = proxy().await;
    let session = qix::Session::builder(engine.url("/app/sales.qvf"))
        .proxy(proxy)
        .build()
        .unwrap();
    let global = within(session.open()).await.unwrap();
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    let expected = format!("CONNECT {} HTTP/1.1", engine.addr());
    assert_eq!(within(lines.recv()).await.unwrap(), expected);

    within(session.suspend()).await.unwrap();
    within(session.resume(true)).await.unwrap();
    // The resume dialled through the proxy too.
    assert_eq!(within(lines.recv()).await.unwrap(), expected);
    within(session.close()).await.unwrap();
}

#[test]
fn deployment_settings_are_checked_by_build() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _inside = runtime.enter();
    let error = qix::Session::builder("wss://127.0.0.1:4747/app/engineData")
        .client_certificate_pem("not a certificate", "not a key")
        .build()
        .unwrap_err();
    assert!(matches!(error, qix::Error::InvalidSetting(_)), "{error:?}");
    let error = qix::Session::builder("ws://127.0.0.1:9076/app/engineData")
        .proxy("ftp://proxy")
        .build()
        .unwrap_err();
    assert!(matches!(error, qix::Error::InvalidSetting(_)), "{error:?}");
    let session = qix::Session::builder("wss://127.0.0.1:4747/app/engineData")
        .tls_roots(qix::TlsRoots::WebPki)
        .danger_accept_invalid_certs(true)
        .reuse_cookies(true)
        .proxy_from_env()
        .build();
    assert!(session.is_ok(), "{session:?}");
}

#[tokio::test]
async fn the_handshake_of_the_last_connect_is_kept_on_the_session() {
    let engine = MockEngine::start().await.unwrap();
    let session = qix::Session::builder(engine.url("/app/app.qvf/ttl/30"))
        .build()
        .unwrap();
    assert!(session.handshake().is_none(), "nothing before a connect");
    within(session.open()).await.unwrap();
    let opened = session.handshake().expect("the open's handshake");
    assert_eq!(opened.status(), 101);
    let accept = |handshake: &qix::Handshake| {
        handshake
            .header("Sec-WebSocket-Accept")
            .expect("a 101 answer carries Sec-WebSocket-Accept")
            .to_owned()
    };
    within(session.suspend()).await.unwrap();
    assert_eq!(
        session.handshake().as_ref().map(accept),
        Some(accept(&opened)),
        "kept while suspended"
    );
    within(session.resume(true)).await.unwrap();
    let resumed = session.handshake().unwrap();
    // Each handshake answers its own random key: a new value means a new handshake.
    assert_ne!(accept(&resumed), accept(&opened));
}
