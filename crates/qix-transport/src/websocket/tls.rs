//! The rustls client configuration for `wss://`: root stores read once per process, client
//! certificates (PEM or PKCS#12), a user's own `ClientConfig`, and the one dangerous switch.
//!
//! Without a rustls feature this module keeps its interface and refuses `wss://` in `build()`.

#[cfg(feature = "__rustls")]
pub(super) use with_rustls::{failure, Tls};
#[cfg(not(feature = "__rustls"))]
pub(super) use without_rustls::{failure, Tls};

#[cfg(not(feature = "__rustls"))]
mod without_rustls {
    use tokio::net::TcpStream;

    use super::super::builder::TlsOptions;
    use super::super::Io;
    use crate::TransportError;

    /// Without TLS no I/O error is a TLS failure.
    pub(in crate::websocket) fn failure(_error: &std::io::Error) -> Option<TransportError> {
        None
    }

    /// Never made: `new` always fails.
    #[derive(Debug)]
    pub(in crate::websocket) enum Tls {}

    impl Tls {
        pub(in crate::websocket) fn new(
            _options: &TlsOptions,
            _server_name: &str,
        ) -> Result<Tls, TransportError> {
            Err(TransportError::Tls {
                reason: "wss:// needs TLS, and qix-transport was built without it (enable the \
                         `rustls-ring` or `rustls-aws-lc` feature)"
                    .to_owned(),
            })
        }

        pub(in crate::websocket) async fn connect(
            &self,
            _tcp: TcpStream,
        ) -> Result<Box<dyn Io>, TransportError> {
            match *self {}
        }
    }
}

#[cfg(feature = "__rustls")]
mod with_rustls {
    use std::sync::{Arc, OnceLock};

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
    use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
    use tokio::net::TcpStream;

    use super::super::builder::{ClientIdentity, RootCertificate, TlsOptions, TlsRoots};
    use super::super::Io;
    use crate::TransportError;

    /// The TLS half of a transport's settings: one config, shared by all its connections.
    pub(in crate::websocket) struct Tls {
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
    }

    impl std::fmt::Debug for Tls {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Tls")
                .field("server_name", &self.server_name)
                .finish_non_exhaustive()
        }
    }

    impl Tls {
        pub(in crate::websocket) fn new(
            options: &TlsOptions,
            server_name: &str,
        ) -> Result<Tls, TransportError> {
            let server_name = ServerName::try_from(server_name.to_owned()).map_err(|error| {
                TransportError::Tls {
                    reason: format!("{server_name:?} is not a valid TLS server name: {error}"),
                }
            })?;
            Ok(Tls {
                config: client_config(options)?,
                server_name,
            })
        }

        pub(in crate::websocket) async fn connect(
            &self,
            tcp: TcpStream,
        ) -> Result<Box<dyn Io>, TransportError> {
            let stream = tokio_rustls::TlsConnector::from(self.config.clone())
                .connect(self.server_name.clone(), tcp)
                .await
                .map_err(handshake_error)?;
            Ok(Box::new(stream))
        }
    }

    fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, TransportError> {
        if let Some(config) = &options.config {
            if options.roots.is_some()
                || !options.added.is_empty()
                || options.identity.is_some()
                || options.accept_invalid_certs
            {
                return Err(TransportError::Tls {
                    reason: "tls_config replaces every other TLS setting: drop tls_roots, the \
                             added root certificates, the client certificate and \
                             danger_accept_invalid_certs, or set them in that ClientConfig"
                        .to_owned(),
                });
            }
            return Ok(config.clone());
        }
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|error| TransportError::Tls {
                reason: error.to_string(),
            })?;
        let builder = if options.accept_invalid_certs {
            tracing::warn!(
                "danger_accept_invalid_certs is on: the server's certificate is not checked, so \
                 the connection can be read and changed by anyone on the path"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        } else {
            builder.with_root_certificates(root_store(options)?)
        };
        let config = match &options.identity {
            None => builder.with_no_client_auth(),
            Some(identity) => {
                let (chain, key) = load_identity(identity)?;
                builder.with_client_auth_cert(chain, key).map_err(|error| {
                    TransportError::InvalidClientCertificate {
                        reason: error.to_string(),
                    }
                })?
            }
        };
        Ok(Arc::new(config))
    }

    /// An explicit provider, so the process-wide default (or its absence) never matters.
    fn provider() -> Arc<CryptoProvider> {
        static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
        PROVIDER
            .get_or_init(|| {
                #[cfg(feature = "rustls-ring")]
                let provider = rustls::crypto::ring::default_provider();
                #[cfg(all(feature = "rustls-aws-lc", not(feature = "rustls-ring")))]
                let provider = rustls::crypto::aws_lc_rs::default_provider();
                Arc::new(provider)
            })
            .clone()
    }

    fn root_store(options: &TlsOptions) -> Result<Arc<RootCertStore>, TransportError> {
        let roots = options.roots.unwrap_or(if cfg!(feature = "webpki-roots") {
            TlsRoots::WebPki
        } else if cfg!(feature = "native-roots") {
            TlsRoots::Native
        } else {
            TlsRoots::OnlyAdded
        });
        let base = match roots {
            TlsRoots::WebPki => webpki_store()?,
            TlsRoots::Native => native_store()?,
            TlsRoots::OnlyAdded => Arc::new(RootCertStore::empty()),
        };
        if options.added.is_empty() {
            if base.is_empty() {
                return Err(TransportError::InvalidCertificate {
                    reason: "nothing to trust: TlsRoots::OnlyAdded needs add_root_certificate_pem \
                             or add_root_certificate_der"
                        .to_owned(),
                });
            }
            // The shared store itself: no copy per transport.
            return Ok(base);
        }
        let mut store = Arc::unwrap_or_clone(base);
        for certificate in &options.added {
            match certificate {
                RootCertificate::Pem(pem) => add_pem(&mut store, pem)?,
                RootCertificate::Der(der) => {
                    add_der(&mut store, CertificateDer::from(der.as_slice()))?
                }
            }
        }
        Ok(Arc::new(store))
    }

    fn webpki_store() -> Result<Arc<RootCertStore>, TransportError> {
        #[cfg(feature = "webpki-roots")]
        {
            static STORE: OnceLock<Arc<RootCertStore>> = OnceLock::new();
            Ok(STORE
                .get_or_init(|| {
                    Arc::new(RootCertStore {
                        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                    })
                })
                .clone())
        }
        #[cfg(not(feature = "webpki-roots"))]
        Err(TransportError::Tls {
            reason: "TlsRoots::WebPki needs the `webpki-roots` feature of qix-transport".to_owned(),
        })
    }

    /// The system store, read on first use and kept, failure included: reading it takes
    /// milliseconds of blocking file I/O, which a thousand sessions must not each pay.
    fn native_store() -> Result<Arc<RootCertStore>, TransportError> {
        #[cfg(feature = "native-roots")]
        {
            static STORE: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
            STORE
                .get_or_init(|| {
                    let found = rustls_native_certs::load_native_certs();
                    let mut store = RootCertStore::empty();
                    let (usable, _unusable) = store.add_parsable_certificates(found.certs);
                    if usable > 0 {
                        return Ok(Arc::new(store));
                    }
                    let errors: Vec<String> =
                        found.errors.iter().map(ToString::to_string).collect();
                    Err(format!(
                        "no usable certificate in the system store{}{}",
                        if errors.is_empty() { "" } else { ": " },
                        errors.join("; ")
                    ))
                })
                .clone()
                .map_err(|reason| TransportError::Tls { reason })
        }
        #[cfg(not(feature = "native-roots"))]
        Err(TransportError::Tls {
            reason: "TlsRoots::Native needs the `native-roots` feature of qix-transport".to_owned(),
        })
    }

    fn add_pem(store: &mut RootCertStore, pem: &[u8]) -> Result<(), TransportError> {
        let mut count = 0;
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate = certificate.map_err(|error| TransportError::InvalidCertificate {
                reason: format!("bad PEM data: {error}"),
            })?;
            add_der(store, certificate)?;
            count += 1;
        }
        if count == 0 {
            return Err(TransportError::InvalidCertificate {
                reason: "no CERTIFICATE block in the PEM data".to_owned(),
            });
        }
        Ok(())
    }

    fn add_der(
        store: &mut RootCertStore,
        certificate: CertificateDer<'_>,
    ) -> Result<(), TransportError> {
        store
            .add(certificate)
            .map_err(|error| TransportError::InvalidCertificate {
                reason: error.to_string(),
            })
    }

    type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

    fn load_identity(identity: &ClientIdentity) -> Result<Identity, TransportError> {
        let invalid = |reason: String| TransportError::InvalidClientCertificate { reason };
        match identity {
            ClientIdentity::Pem { chain, key } => {
                let chain = CertificateDer::pem_slice_iter(chain)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|error| invalid(format!("bad PEM certificate chain: {error}")))?;
                if chain.is_empty() {
                    return Err(invalid(
                        "no CERTIFICATE block in the client certificate PEM".to_owned(),
                    ));
                }
                let key = PrivateKeyDer::from_pem_slice(key).map_err(|error| {
                    invalid(format!(
                        "no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {error}"
                    ))
                })?;
                Ok((chain, key))
            }
            #[cfg(feature = "pkcs12")]
            ClientIdentity::Pkcs12 { der, password } => {
                let store = p12_keystore::KeyStore::from_pkcs12(
                    der,
                    password,
                    p12_keystore::Pkcs12ImportPolicy::Strict,
                )
                .map_err(|error| {
                    invalid(format!(
                        "cannot read the PKCS#12 file (wrong password?): {error}"
                    ))
                })?;
                let (_alias, chain) = store.private_key_chain().ok_or_else(|| {
                    invalid("the PKCS#12 file holds no private key with its certificate".to_owned())
                })?;
                let key = PrivateKeyDer::Pkcs8(chain.key().as_der().to_vec().into());
                let certificates = chain
                    .certs()
                    .iter()
                    .map(|certificate| CertificateDer::from(certificate.as_der().to_vec()))
                    .collect();
                Ok((certificates, key))
            }
            #[cfg(not(feature = "pkcs12"))]
            ClientIdentity::Pkcs12 { .. } => Err(invalid(
                "PKCS#12 needs the `pkcs12` feature of qix-transport".to_owned(),
            )),
        }
    }

    /// `danger_accept_invalid_certs`: any certificate passes, but the handshake signatures are
    /// still verified, so the peer must at least hold the key of the certificate it shows.
    #[derive(Debug)]
    struct AcceptAnyCertificate(Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// Maps a failed TLS handshake.
    fn handshake_error(error: std::io::Error) -> TransportError {
        failure(&error).unwrap_or_else(|| TransportError::Tls {
            reason: format!("connection failed during the TLS handshake: {error}"),
        })
    }

    /// The TLS error inside an I/O error, if it is one: rustls puts its own error there. A
    /// server that refuses the client's certificate says so only after the client's side of a
    /// TLS 1.3 handshake is done, so the alert arrives during the WebSocket handshake.
    pub(in crate::websocket) fn failure(error: &std::io::Error) -> Option<TransportError> {
        let tls = error.get_ref()?.downcast_ref::<rustls::Error>()?;
        Some(TransportError::Tls {
            reason: tls.to_string(),
        })
    }
}
