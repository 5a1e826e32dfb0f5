//! `wss://` against a rustls server on 127.0.0.1 with a certificate made by the test.

mod common;

use std::sync::Arc;

use common::{accept, next, text, within};
use futures_util::{SinkExt, StreamExt};
use qix_transport::{
    CloseEvent, Incoming, TlsRoots, Transport, TransportError, WebSocketTransport,
};
use rcgen::CertifiedKey;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

fn certificate() -> CertifiedKey<rcgen::KeyPair> {
    rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("test certificate")
}

/// A `wss://` echo server for one connection. The task returns the TLS error when the
/// handshake fails.
async fn tls_server(key: &CertifiedKey<rcgen::KeyPair>) -> (String, JoinHandle<Option<String>>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![key.cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der())),
        )
        .expect("server TLS config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let url = format!(
        "wss://{}/app/engineData",
        listener.local_addr().expect("local address")
    );
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept TCP");
        let tls = match acceptor.accept(tcp).await {
            Ok(tls) => tls,
            Err(error) => return Some(error.to_string()),
        };
        let (mut socket, _) = accept(tls).await;
        while let Some(Ok(message)) = socket.next().await {
            if message.is_text() {
                socket.send(message).await.expect("echo");
            }
        }
        None
    });
    (url, server)
}

#[tokio::test]
async fn wss_with_a_trusted_pem_certificate_carries_text_and_close() {
    let key = certificate();
    let (url, server) = tls_server(&key).await;
    let transport = WebSocketTransport::builder(url)
        .add_root_certificate_pem(key.cert.pem().as_bytes())
        .build()
        .unwrap();
    let mut connection = within(transport.connect()).await.unwrap();
    within(connection.send_text("over tls".to_owned()))
        .await
        .unwrap();
    assert_eq!(text(next(&mut connection).await), "over tls");
    within(connection.close(1000, "done")).await.unwrap();
    assert!(matches!(
        next(&mut connection).await,
        Incoming::Closed(event) if event == CloseEvent::new(1000, "done")
    ));
    assert_eq!(within(server).await.unwrap(), None);
}

#[tokio::test]
async fn wss_with_only_the_added_der_certificate_connects() {
    let key = certificate();
    let (url, server) = tls_server(&key).await;
    let transport = WebSocketTransport::builder(url)
        .tls_roots(TlsRoots::OnlyAdded)
        .add_root_certificate_der(key.cert.der())
        .build()
        .unwrap();
    let mut connection = within(transport.connect()).await.unwrap();
    within(connection.send_text("der".to_owned()))
        .await
        .unwrap();
    assert_eq!(text(next(&mut connection).await), "der");
    drop(connection);
    assert_eq!(within(server).await.unwrap(), None);
}

#[tokio::test]
async fn wss_with_an_untrusted_certificate_fails_with_a_tls_error() {
    let key = certificate();
    let (url, server) = tls_server(&key).await;
    // Default roots (webpki) do not know the self-signed certificate.
    let transport = WebSocketTransport::new(url).unwrap();
    let error = within(transport.connect()).await.unwrap_err();
    assert!(matches!(error, TransportError::Tls { .. }), "{error:?}");
    assert!(error.to_string().contains("certificate"), "{error}");
    // The server saw the client give up during the TLS handshake.
    assert!(within(server).await.unwrap().is_some());
}

#[tokio::test]
async fn wss_with_another_certificate_trusted_fails_with_a_tls_error() {
    let key = certificate();
    let other = certificate();
    let (url, _server) = tls_server(&key).await;
    let transport = WebSocketTransport::builder(url)
        .tls_roots(TlsRoots::OnlyAdded)
        .add_root_certificate_pem(other.cert.pem().as_bytes())
        .build()
        .unwrap();
    let error = within(transport.connect()).await.unwrap_err();
    assert!(matches!(error, TransportError::Tls { .. }), "{error:?}");
}

#[test]
fn build_refuses_pem_without_a_certificate() {
    let error = WebSocketTransport::builder("wss://127.0.0.1:4747/")
        .add_root_certificate_pem(b"not a certificate")
        .build()
        .unwrap_err();
    assert!(
        matches!(error, TransportError::InvalidCertificate { .. }),
        "{error:?}"
    );
}

#[test]
fn build_refuses_only_added_roots_without_any_certificate() {
    let error = WebSocketTransport::builder("wss://127.0.0.1:4747/")
        .tls_roots(TlsRoots::OnlyAdded)
        .build()
        .unwrap_err();
    assert!(
        matches!(error, TransportError::InvalidCertificate { .. }),
        "{error:?}"
    );
}

#[test]
fn tls_settings_are_not_needed_for_ws() {
    let transport = WebSocketTransport::builder("ws://127.0.0.1:4747/")
        .tls_roots(TlsRoots::OnlyAdded)
        .build();
    assert!(transport.is_ok());
}
