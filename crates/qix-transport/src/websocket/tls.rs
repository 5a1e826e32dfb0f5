//! The rustls client configuration for `wss://`, always on the ring provider.

use std::sync::Arc;

use tokio_rustls::rustls::{self, pki_types::pem::PemObject, pki_types::CertificateDer};

use super::{RootCertificate, TlsRoots};
use crate::TransportError;

pub(super) fn client_config(
    roots: TlsRoots,
    added: &[RootCertificate],
) -> Result<Arc<rustls::ClientConfig>, TransportError> {
    let mut store = rustls::RootCertStore::empty();
    match roots {
        TlsRoots::WebPki => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        TlsRoots::Native => {
            let found = rustls_native_certs::load_native_certs();
            let (usable, _unusable) = store.add_parsable_certificates(found.certs);
            if usable == 0 {
                let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
                return Err(TransportError::Tls {
                    reason: format!(
                        "no usable certificate in the system store{}{}",
                        if errors.is_empty() { "" } else { ": " },
                        errors.join("; ")
                    ),
                });
            }
        }
        TlsRoots::OnlyAdded => {}
    }
    for certificate in added {
        match certificate {
            RootCertificate::Pem(pem) => add_pem(&mut store, pem)?,
            RootCertificate::Der(der) => add_der(&mut store, CertificateDer::from(der.as_slice()))?,
        }
    }
    if store.is_empty() {
        return Err(TransportError::InvalidCertificate {
            reason: "nothing to trust: TlsRoots::OnlyAdded needs add_root_certificate_pem or \
                     add_root_certificate_der"
                .to_owned(),
        });
    }
    // An explicit provider, so the process-wide default (or its absence) never matters.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| TransportError::Tls {
            reason: error.to_string(),
        })?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn add_pem(store: &mut rustls::RootCertStore, pem: &[u8]) -> Result<(), TransportError> {
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
    store: &mut rustls::RootCertStore,
    certificate: CertificateDer<'_>,
) -> Result<(), TransportError> {
    store
        .add(certificate)
        .map_err(|error| TransportError::InvalidCertificate {
            reason: error.to_string(),
        })
}

/// Maps a failed TLS handshake; rustls puts its own error inside the `io::Error`.
pub(super) fn handshake_error(error: std::io::Error) -> TransportError {
    let reason = match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => tls.to_string(),
        None => format!("connection failed during the TLS handshake: {error}"),
    };
    TransportError::Tls { reason }
}
