//! `wss://` against a rustls server on 127.0.0.1 that requires a client certificate, as Qlik
//! Sense Enterprise on Windows does on port 4747. A CA, the server's and the client's
//! certificates are made by each test with rcgen.

mod common;

use std::sync::Arc;

use common::{accept, next, text, within};
use futures_util::{SinkExt, StreamExt};
use qix_transport::{Transport, TransportError, WebSocketTransport, WebSocketTransportBuilder};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA and the two certificates it issued.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    server: (Certificate, KeyPair),
    client: (Certificate, KeyPair),
}

fn pki() -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "qix test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();

    let server =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = (server.signed_by(&server_key, &ca).unwrap(), server_key);

    let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
    client.distinguished_name.push(DnType::CommonName, "sa_api");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().unwrap();
    let client = (client.signed_by(&client_key, &ca).unwrap(), client_key);
    Pki { ca, server, client }
}

fn key_der(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

/// What the server saw of one connection attempt.
#[derive(Debug)]
struct Seen {
    /// The subject names of the client certificate it accepted.
    client_certificates: usize,
    /// The server name the client sent in SNI.
    sni: Option<String>,
}

/// A `wss://` echo server for one connection that requires a client certificate issued by
/// the test CA. The task returns the TLS error when the handshake fails.
async fn mutual_tls_server(pki: &Pki) -> (u16, JoinHandle<Result<Seen, String>>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![pki.server.0.der().clone(), pki.ca.der().clone()],
            key_der(&pki.server.1),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor
            .accept(tcp)
            .await
            .map_err(|error| error.to_string())?;
        let (_, session) = tls.get_ref();
        let seen = Seen {
            client_certificates: session.peer_certificates().map_or(0, <[_]>::len),
            sni: session.server_name().map(str::to_owned),
        };
        let (mut socket, _) = accept(tls).await;
        if let Some(Ok(message)) = socket.next().await {
            socket.send(message).await.unwrap();
        }
        Ok(seen)
    });
    (port, server)
}

fn builder(port: u16, pki: &Pki) -> WebSocketTransportBuilder {
    WebSocketTransport::builder(format!("wss://localhost:{port}/app/engineData"))
        .tls_roots(qix_transport::TlsRoots::OnlyAdded)
        .add_root_certificate_pem(pki.ca.pem().as_bytes())
}

async fn echo(transport: &WebSocketTransport) {
    let mut connection = within(transport.connect()).await.unwrap();
    within(connection.send_text("over mutual TLS".to_owned()))
        .await
        .unwrap();
    assert_eq!(text(next(&mut connection).await), "over mutual TLS");
}

#[tokio::test]
async fn a_pem_client_certificate_is_accepted_by_a_server_that_requires_one() {
    let pki = pki();
    let (port, server) = mutual_tls_server(&pki).await;
    let transport = builder(port, &pki)
        .client_certificate_pem(pki.client.0.pem(), pki.client.1.serialize_pem())
        .build()
        .unwrap();
    echo(&transport).await;
    let seen = within(server).await.unwrap().unwrap();
    assert_eq!(seen.client_certificates, 1);
    // SNI is on by default and names the URL's host.
    assert_eq!(seen.sni.as_deref(), Some("localhost"));
}

#[tokio::test]
async fn without_a_client_certificate_the_server_refuses_the_connection() {
    let pki = pki();
    let (port, server) = mutual_tls_server(&pki).await;
    let transport = builder(port, &pki).build().unwrap();
    let error = within(transport.connect()).await.unwrap_err();
    assert!(matches!(error, TransportError::Tls { .. }), "{error:?}");
    let refusal = within(server).await.unwrap().unwrap_err();
    assert!(refusal.to_lowercase().contains("certificate"), "{refusal}");
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let pki = pki();
    let stranger = self::pki();
    let (port, server) = mutual_tls_server(&pki).await;
    let transport = builder(port, &pki)
        .client_certificate_pem(stranger.client.0.pem(), stranger.client.1.serialize_pem())
        .build()
        .unwrap();
    let error = within(transport.connect()).await.unwrap_err();
    assert!(matches!(error, TransportError::Tls { .. }), "{error:?}");
    assert!(within(server).await.unwrap().is_err());
}

/// A `.pfx` as Windows and the QMC export it: 3DES-encrypted with a SHA-1 MAC, the CA included.
fn pkcs12(pki: &Pki, password: &str) -> Vec<u8> {
    use p12_keystore::{
        Certificate as P12Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm,
        PrivateKey, PrivateKeyChain,
    };
    let key = PrivateKey::from_der(&pki.client.1.serialize_der()).unwrap();
    let chain = PrivateKeyChain::new(
        b"client".to_vec(),
        key,
        [
            P12Certificate::from_der(pki.client.0.der()).unwrap(),
            P12Certificate::from_der(pki.ca.der()).unwrap(),
        ],
    );
    let mut store = KeyStore::new();
    store.add_entry("client", KeyStoreEntry::PrivateKeyChain(chain));
    store
        .writer(password)
        .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
        .mac_algorithm(MacAlgorithm::HmacSha1)
        .write()
        .unwrap()
}

#[tokio::test]
async fn a_pkcs12_client_certificate_is_accepted() {
    let pki = pki();
    let (port, server) = mutual_tls_server(&pki).await;
    let transport = builder(port, &pki)
        .client_certificate_pkcs12(pkcs12(&pki, "qlik"), "qlik")
        .build()
        .unwrap();
    echo(&transport).await;
    let seen = within(server).await.unwrap().unwrap();
    // The leaf and the CA of the file's chain.
    assert_eq!(seen.client_certificates, 2);
}

#[test]
fn a_pkcs12_file_with_the_wrong_password_is_refused_by_build() {
    let pki = pki();
    let error = builder(4747, &pki)
        .client_certificate_pkcs12(pkcs12(&pki, "qlik"), "not the password")
        .build()
        .unwrap_err();
    assert!(
        matches!(error, TransportError::InvalidClientCertificate { .. }),
        "{error:?}"
    );
}

#[test]
fn a_key_that_is_not_pem_or_a_certificate_without_a_key_is_refused_by_build() {
    let pki = pki();
    for (chain, key) in [
        (pki.client.0.pem(), "not a key".to_owned()),
        ("no certificate".to_owned(), pki.client.1.serialize_pem()),
    ] {
        let error = builder(4747, &pki)
            .client_certificate_pem(chain, key)
            .build()
            .unwrap_err();
        assert!(
            matches!(error, TransportError::InvalidClientCertificate { .. }),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn a_users_own_rustls_config_is_used_as_it_is() {
    let pki = pki();
    let (port, server) = mutual_tls_server(&pki).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(
        vec![CertificateDer::from(pki.client.0.der().to_vec())],
        key_der(&pki.client.1),
    )
    .unwrap();
    let transport = WebSocketTransport::builder(format!("wss://localhost:{port}/app/engineData"))
        .tls_config(Arc::new(config.clone()))
        .build()
        .unwrap();
    echo(&transport).await;
    assert_eq!(
        within(server).await.unwrap().unwrap().client_certificates,
        1
    );

    // Other TLS settings next to it would be ignored: build() says so instead.
    let error = builder(port, &pki)
        .tls_config(Arc::new(config))
        .build()
        .unwrap_err();
    assert!(matches!(error, TransportError::Tls { .. }), "{error:?}");
}

#[tokio::test]
async fn the_host_name_is_checked_and_tls_server_name_overrides_it() {
    let pki = pki();
    // The server's certificate names localhost and 127.0.0.1, not this name.
    let (port, server) = mutual_tls_server(&pki).await;
    let transport = WebSocketTransport::builder(format!("wss://127.0.0.1:{port}/app/engineData"))
        .tls_roots(qix_transport::TlsRoots::OnlyAdded)
        .add_root_certificate_pem(pki.ca.pem().as_bytes())
        .client_certificate_pem(pki.client.0.pem(), pki.client.1.serialize_pem())
        .tls_server_name("qlik.example.com")
        .build()
        .unwrap();
    let error = within(transport.connect()).await.unwrap_err();
    assert!(matches!(error, TransportError::Tls { .. }), "{error:?}");
    assert!(error.to_string().contains("certificate"), "{error}");
    assert!(within(server).await.unwrap().is_err());

    let (port, server) = mutual_tls_server(&pki).await;
    let transport = WebSocketTransport::builder(format!("wss://127.0.0.1:{port}/app/engineData"))
        .tls_roots(qix_transport::TlsRoots::OnlyAdded)
        .add_root_certificate_pem(pki.ca.pem().as_bytes())
        .client_certificate_pem(pki.client.0.pem(), pki.client.1.serialize_pem())
        .tls_server_name("localhost")
        .build()
        .unwrap();
    echo(&transport).await;
    let seen = within(server).await.unwrap().unwrap();
    assert_eq!(seen.sni.as_deref(), Some("localhost"));
}

#[tokio::test]
async fn danger_accept_invalid_certs_connects_to_an_untrusted_server() {
    let pki = pki();
    let (port, server) = mutual_tls_server(&pki).await;
    // Nothing trusts the test CA here (webpki roots only): refused without the option.
    let url = format!("wss://localhost:{port}/app/engineData");
    let untrusted = WebSocketTransport::builder(&url)
        .client_certificate_pem(pki.client.0.pem(), pki.client.1.serialize_pem())
        .build()
        .unwrap();
    let error = within(untrusted.connect()).await.unwrap_err();
    assert!(matches!(error, TransportError::Tls { .. }), "{error:?}");
    assert!(within(server).await.unwrap().is_err());

    let (port, server) = mutual_tls_server(&pki).await;
    let transport = WebSocketTransport::builder(format!("wss://localhost:{port}/app/engineData"))
        .client_certificate_pem(pki.client.0.pem(), pki.client.1.serialize_pem())
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    echo(&transport).await;
    assert_eq!(
        within(server).await.unwrap().unwrap().client_certificates,
        1
    );
}
