//! The builder's settings for real deployments: client certificates, a rustls config of one's
//! own, proxies and cookies. Each forwards to [`WebSocketTransportBuilder`], which documents it
//! in full.

#[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
use std::sync::Arc;

#[cfg(doc)]
use qix_transport::WebSocketTransportBuilder;

use super::SessionBuilder;

impl SessionBuilder {
    /// Trusts this DER-encoded CA certificate (a `.cer` file, such as the `root.cer` Qlik Sense
    /// exports) for `wss://`, besides the default roots.
    pub fn add_root_certificate_der(mut self, der: &[u8]) -> Self {
        self.websocket = self.websocket.add_root_certificate_der(der);
        self
    }

    /// Presents this client certificate on `wss://`: the chain as PEM `CERTIFICATE` blocks
    /// (leaf first) and its private key as PEM. Qlik Sense Enterprise on Windows asks for one
    /// on the engine port 4747, with the user in an `X-Qlik-User` header:
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let session = qix::Session::builder("wss://qlik.example.com:4747/app/engineData")
    ///     .header("X-Qlik-User", "UserDirectory=INTERNAL;UserId=sa_api")
    ///     .client_certificate_pem(std::fs::read("client.pem")?, std::fs::read("client_key.pem")?)
    ///     .tls_roots(qix::TlsRoots::OnlyAdded)
    ///     .add_root_certificate_pem(&std::fs::read("root.pem")?)
    ///     .build()?;
    /// # drop(session);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// See [`WebSocketTransportBuilder::client_certificate_pem`]. Default none.
    pub fn client_certificate_pem(
        mut self,
        chain: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.websocket = self.websocket.client_certificate_pem(chain, key);
        self
    }

    /// Presents the client certificate of this PKCS#12 file (`.pfx`, as the QMC exports it),
    /// decrypted with `password` (feature `pkcs12`). See
    /// [`WebSocketTransportBuilder::client_certificate_pkcs12`]. Default none.
    #[cfg(feature = "pkcs12")]
    pub fn client_certificate_pkcs12(
        mut self,
        der: impl Into<Vec<u8>>,
        password: impl Into<String>,
    ) -> Self {
        self.websocket = self.websocket.client_certificate_pkcs12(der, password);
        self
    }

    /// Uses this rustls configuration for `wss://` as it is; it replaces every other TLS
    /// setting. See [`WebSocketTransportBuilder::tls_config`]. Default none.
    #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
    pub fn tls_config(mut self, config: Arc<qix_transport::rustls::ClientConfig>) -> Self {
        self.websocket = self.websocket.tls_config(config);
        self
    }

    /// The name sent in SNI and checked against the server's certificate, instead of the URL's
    /// host. Default the URL's host.
    pub fn tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.websocket = self.websocket.tls_server_name(name);
        self
    }

    /// **Dangerous**: accepts any server certificate on `wss://`, so anyone on the path can
    /// read and change the traffic; logged as a warning by `build`. Only for a test engine.
    /// See [`WebSocketTransportBuilder::danger_accept_invalid_certs`]. Default `false`.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.websocket = self.websocket.danger_accept_invalid_certs(accept);
        self
    }

    /// Connects through this HTTP proxy (`http://[user:password@]host[:port]`) with
    /// `CONNECT`. See [`WebSocketTransportBuilder::proxy`]. Default no proxy.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.websocket = self.websocket.proxy(url);
        self
    }

    /// Takes the proxy from `HTTPS_PROXY` (for `wss://`) or `HTTP_PROXY` (for `ws://`), and
    /// `NO_PROXY`, read by `build`. See [`WebSocketTransportBuilder::proxy_from_env`].
    /// Default: the environment is not read.
    pub fn proxy_from_env(mut self) -> Self {
        self.websocket = self.websocket.proxy_from_env();
        self
    }

    /// Sends the cookies that a handshake's answer set back on the next connect (a resume
    /// then carries the proxy's session cookie). See
    /// [`WebSocketTransportBuilder::reuse_cookies`] for what the jar keeps. Default `false`.
    pub fn reuse_cookies(mut self, reuse: bool) -> Self {
        self.websocket = self.websocket.reuse_cookies(reuse);
        self
    }

    /// Asks `provider` for headers and URL query parameters before every connect: `open`,
    /// each [`resume`](crate::Session::resume) and each automatic resume attempt (Q-AUTH-1).
    /// A refreshed JWT or a new `qlikTicket` is then used without building a new session.
    /// Its headers replace the builder's [`header`](Self::header)s of the same name; its
    /// query parameters are appended to the URL, percent-encoded.
    ///
    /// A provider's error fails that connect with [`Error::Transport`](crate::Error::Transport)
    /// holding [`TransportError::Credentials`](crate::TransportError::Credentials), the
    /// provider's error as its `source()`. An engine or proxy that refuses the credentials
    /// answers 401 or 403: [`Error::http_status`](crate::Error::http_status) says which, the
    /// session stays suspended, and the next attempt asks the provider again. Default: none.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use qix::Credentials;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), qix::Error> {
    /// // Whatever keeps the current token (refreshed elsewhere before it expires).
    /// let token = Arc::new(std::sync::RwLock::new("eyJhbGciOi...".to_owned()));
    /// let session = qix::Session::builder("wss://tenant.example.com/app/1234")
    ///     .credentials(move || {
    ///         let token = token.read().unwrap().clone();
    ///         async move {
    ///             Ok::<_, std::convert::Infallible>(
    ///                 Credentials::new().header("Authorization", format!("Bearer {token}")),
    ///             )
    ///         }
    ///     })
    ///     .build()?;
    /// # drop(session);
    /// # Ok(())
    /// # }
    /// ```
    pub fn credentials(mut self, provider: impl qix_transport::CredentialProvider) -> Self {
        self.websocket = self.websocket.credentials(provider);
        self
    }
}
