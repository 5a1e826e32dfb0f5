//! `ws://` and `wss://` through an HTTP `CONNECT` proxy that the test runs on 127.0.0.1.

mod common;

use std::sync::Arc;

use common::{accept, connect_proxy, echo_server, next, text, within};
use futures_util::{SinkExt, StreamExt};
use qix_transport::{Connection, TlsRoots, Transport, TransportError, WebSocketTransport};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

async fn echo(connection: &mut Connection, message: &str) {
    within(connection.send_text(message.to_owned()))
        .await
        .unwrap();
    assert_eq!(text(next(connection).await), message);
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn ws_goes_through_the_proxy_with_basic_auth_from_the_url() {
    let url = echo_server().await;
    let engine = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let (proxy, mut heads) = connect_proxy(None).await;
    let transport = WebSocketTransport::builder(&url)
        .proxy(format!("http://alice:s%40cret@{proxy}"))
        .build()
        .unwrap();
    let mut connection = within(transport.connect()).await.unwrap();
    echo(&mut connection, "through the proxy").await;

    let head = within(heads.recv()).await.unwrap();
    assert!(
        head.starts_with(&format!("CONNECT {engine} HTTP/1.1\r\n")),
        "{head}"
    );
    assert_eq!(header(&head, "host"), Some(engine.as_str()));
    // base64("alice:s@cret"): the password percent-decoded first.
    assert_eq!(
        header(&head, "proxy-authorization"),
        Some("Basic YWxpY2U6c0BjcmV0")
    );
    // One tunnel per connect: a second connect goes through the proxy again.
    drop(connection);
    let mut again = within(transport.connect()).await.unwrap();
    echo(&mut again, "again").await;
    assert!(within(heads.recv()).await.unwrap().starts_with("CONNECT "));
}

#[tokio::test]
async fn wss_runs_tls_end_to_end_through_the_tunnel() {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![key.cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await.unwrap();
        let sni = tls.get_ref().1.server_name().map(str::to_owned);
        let (mut socket, _) = accept(tls).await;
        if let Some(Ok(message)) = socket.next().await {
            socket.send(message).await.unwrap();
        }
        sni
    });
    let (proxy, mut heads) = connect_proxy(None).await;
    let transport = WebSocketTransport::builder(format!("wss://localhost:{port}/app/engineData"))
        .tls_roots(TlsRoots::OnlyAdded)
        .add_root_certificate_pem(key.cert.pem().as_bytes())
        .proxy(proxy.to_string()) // host:port, read as http://
        .build()
        .unwrap();
    let mut connection = within(transport.connect()).await.unwrap();
    echo(&mut connection, "tls in a tunnel").await;
    let head = within(heads.recv()).await.unwrap();
    assert!(
        head.starts_with(&format!("CONNECT localhost:{port} HTTP/1.1")),
        "{head}"
    );
    assert_eq!(header(&head, "proxy-authorization"), None);
    // The certificate was checked for the engine's name, not the proxy's.
    assert_eq!(within(server).await.unwrap().as_deref(), Some("localhost"));
}

#[tokio::test]
async fn a_proxy_that_refuses_connect_fails_the_connect_with_its_status() {
    let url = echo_server().await;
    let (proxy, mut heads) = connect_proxy(Some("407 Proxy Authentication Required")).await;
    let transport = WebSocketTransport::builder(url)
        .proxy(format!("http://bob:hunter2@{proxy}"))
        .build()
        .unwrap();
    let error = within(transport.connect()).await.unwrap_err();
    match &error {
        TransportError::ProxyRejected { status, reason, .. } => {
            assert_eq!(*status, 407);
            assert_eq!(reason.as_deref(), Some("Proxy Authentication Required"));
        }
        other => panic!("expected ProxyRejected, got {other:?}"),
    }
    assert!(!error.to_string().contains("hunter2"), "{error}");
    assert!(within(heads.recv()).await.is_some());
}

#[tokio::test]
async fn a_proxy_that_is_not_listening_fails_the_connect() {
    let url = echo_server().await;
    // A port that was free a moment ago.
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let transport = WebSocketTransport::builder(url)
        .proxy(format!("http://{addr}"))
        .build()
        .unwrap();
    let error = within(transport.connect()).await.unwrap_err();
    assert!(
        matches!(&error, TransportError::Connect { addr: dialled, .. } if *dialled == addr.to_string()),
        "{error:?}"
    );
}

#[test]
fn a_bad_proxy_url_is_refused_by_build() {
    let error = WebSocketTransport::builder("ws://127.0.0.1:9076/app/engineData")
        .proxy("socks5://127.0.0.1:1080")
        .build()
        .unwrap_err();
    assert!(
        matches!(error, TransportError::InvalidProxy { .. }),
        "{error:?}"
    );
}
