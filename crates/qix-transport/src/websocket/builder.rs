//! The settings of a WebSocket transport and the checks `build()` makes.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

use super::cookies::Jar;
use super::proxy::{self, Proxy};
use super::{tls, Settings, Target, WebSocketTransport};
use crate::{redact_url, CredentialProvider, TransportError};

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;
/// QIX answers are mostly small; a larger message grows the buffer while it is read.
const DEFAULT_READ_BUFFER_SIZE: usize = 4 << 10;
const MIN_READ_BUFFER_SIZE: usize = 256;

/// Headers that the WebSocket handshake writes itself; a second copy would break it.
const HANDSHAKE_HEADERS: [&str; 7] = [
    "host",
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-accept",
    "sec-websocket-extensions",
];

/// Which certificate authorities a `wss://` connection trusts, besides the certificates
/// added with [`WebSocketTransportBuilder::add_root_certificate_pem`] or `_der`.
///
/// A store is read once per process and shared by every transport built after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsRoots {
    /// Mozilla's root program, compiled in (feature `webpki-roots`, on by default). The
    /// default: the same on every machine, and works in containers without a system
    /// certificate store.
    #[default]
    WebPki,
    /// The operating system's certificate store (feature `native-roots`), read the first time
    /// a transport needs it and kept for the life of the process. Choose it when the engine's
    /// certificate comes from a corporate CA installed on the machine.
    Native,
    /// None: only the certificates added to the builder are trusted (a self-signed engine
    /// certificate, or pinning one CA, such as the `root.cer` that Qlik Sense exports).
    OnlyAdded,
}

#[derive(Clone)]
#[cfg_attr(not(feature = "__rustls"), allow(dead_code))] // kept for `build()` to refuse wss
pub(super) enum RootCertificate {
    Pem(Vec<u8>),
    Der(Vec<u8>),
}

/// A client certificate with its private key, as handed to the builder.
#[derive(Clone)]
#[cfg_attr(not(feature = "__rustls"), allow(dead_code))]
pub(super) enum ClientIdentity {
    Pem {
        chain: Vec<u8>,
        key: Vec<u8>,
    },
    #[cfg_attr(not(all(feature = "pkcs12", feature = "__rustls")), allow(dead_code))]
    Pkcs12 {
        der: Vec<u8>,
        password: String,
    },
}

/// Every TLS setting of a builder, read by `tls::client_config`.
#[derive(Clone, Default)]
pub(super) struct TlsOptions {
    pub(super) roots: Option<TlsRoots>,
    pub(super) added: Vec<RootCertificate>,
    pub(super) identity: Option<ClientIdentity>,
    pub(super) accept_invalid_certs: bool,
    pub(super) server_name: Option<String>,
    #[cfg(feature = "__rustls")]
    pub(super) config: Option<Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for TlsOptions {
    /// Never prints keys or passwords.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let identity = self.identity.as_ref().map(|identity| match identity {
            ClientIdentity::Pem { .. } => "PEM",
            ClientIdentity::Pkcs12 { .. } => "PKCS#12",
        });
        let mut debug = f.debug_struct("TlsOptions");
        debug
            .field("roots", &self.roots)
            .field("added_root_certificates", &self.added.len())
            .field("client_certificate", &identity)
            .field("danger_accept_invalid_certs", &self.accept_invalid_certs)
            .field("server_name", &self.server_name);
        #[cfg(feature = "__rustls")]
        debug.field("custom_config", &self.config.is_some());
        debug.finish()
    }
}

/// Where the proxy setting comes from.
#[derive(Debug, Clone, Default)]
enum ProxySetting {
    #[default]
    Direct,
    Url(String),
    FromEnv,
}

/// Builds a [`WebSocketTransport`]; made by [`WebSocketTransport::builder`].
///
/// ```
/// use std::time::Duration;
/// use qix_transport::{TlsRoots, WebSocketTransport};
///
/// let transport = WebSocketTransport::builder("wss://qlik.example.com/app/engineData")
///     .header("X-Qlik-User", "UserDirectory=internal;UserId=sa")
///     .connect_timeout(Duration::from_secs(3))
///     .tls_roots(TlsRoots::WebPki)
///     .build()?; // validates; connects nothing
/// assert_eq!(transport.url(), "wss://qlik.example.com/app/engineData");
/// # Ok::<(), qix_transport::TransportError>(())
/// ```
///
/// Server-to-server access to Qlik Sense Enterprise on Windows (port 4747, a client certificate
/// exported from the QMC, the user in `X-Qlik-User`):
///
/// ```no_run
/// use qix_transport::{TlsRoots, WebSocketTransport};
///
/// let transport = WebSocketTransport::builder("wss://qlik.example.com:4747/app/engineData")
///     .header("X-Qlik-User", "UserDirectory=INTERNAL;UserId=sa_api")
///     .client_certificate_pem(std::fs::read("client.pem")?, std::fs::read("client_key.pem")?)
///     .tls_roots(TlsRoots::OnlyAdded)
///     .add_root_certificate_pem(&std::fs::read("root.pem")?)
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct WebSocketTransportBuilder {
    url: String,
    headers: Vec<(String, String)>,
    connect_timeout: Duration,
    max_message_size: usize,
    read_buffer_size: usize,
    tls: TlsOptions,
    proxy: ProxySetting,
    reuse_cookies: bool,
    credentials: Option<Arc<dyn CredentialProvider>>,
}

impl fmt::Debug for WebSocketTransportBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketTransportBuilder")
            .field("url", &redact_url(&self.url))
            .field("header_names", &HeaderNames(&self.headers))
            .field("connect_timeout", &self.connect_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("read_buffer_size", &self.read_buffer_size)
            .field("tls", &self.tls)
            .field(
                "proxy",
                &match &self.proxy {
                    ProxySetting::Direct => "none".to_owned(),
                    ProxySetting::Url(url) => proxy::redacted(url),
                    ProxySetting::FromEnv => "from the environment".to_owned(),
                },
            )
            .field("reuse_cookies", &self.reuse_cookies)
            .field("credential_provider", &self.credentials.is_some())
            .finish()
    }
}

/// Prints header names only: values may be credentials.
pub(super) struct HeaderNames<'a>(pub(super) &'a [(String, String)]);

impl fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

impl WebSocketTransportBuilder {
    pub(super) fn new(url: impl Into<String>) -> Self {
        WebSocketTransportBuilder {
            url: url.into(),
            headers: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            read_buffer_size: DEFAULT_READ_BUFFER_SIZE,
            tls: TlsOptions::default(),
            proxy: ProxySetting::Direct,
            reuse_cookies: false,
            credentials: None,
        }
    }

    /// Adds a header to the upgrade request, for example `X-Qlik-User`, `Authorization` or
    /// `Cookie`. Repeatable; the same name twice sends two headers. Default: none.
    ///
    /// Checked by `build()`: the name must be a valid HTTP header name other than those the
    /// handshake sets (`Host`, `Connection`, `Upgrade`, `Sec-WebSocket-Key`,
    /// `Sec-WebSocket-Version`, `Sec-WebSocket-Accept`, `Sec-WebSocket-Extensions`), and the
    /// value may not hold control characters such as CR or LF.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Limit for one connect: proxy tunnel, TCP, TLS and the WebSocket handshake together.
    /// Default: 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many bytes one read from the socket takes at most, which is also the read
    /// buffer's size while no larger message is being read. An idle connection holds this
    /// much; a message larger than it grows the buffer while it is read. Larger values read
    /// large answers with fewer system calls. Default: 4 KiB. Checked by `build()`: at
    /// least 256 bytes.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes;
        self
    }

    /// Largest incoming message, in bytes. A larger one is refused from its frame header, so
    /// it is never held in memory: the source reports
    /// [`TransportError::MessageTooLarge`], the connection is closed with 1009, and the
    /// source reports `Closed{1009, "message too large"}`. Default: 64 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Trusts the certificates in this PEM data (one or more `CERTIFICATE` blocks) for
    /// `wss://`, in addition to [`TlsRoots`]. Repeatable. Checked by `build()`. Default: none.
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        self.tls.added.push(RootCertificate::Pem(pem.to_vec()));
        self
    }

    /// Trusts this DER-encoded certificate (a `.cer` file) for `wss://`, in addition to
    /// [`TlsRoots`]. Repeatable. Checked by `build()`. Default: none.
    pub fn add_root_certificate_der(mut self, der: &[u8]) -> Self {
        self.tls.added.push(RootCertificate::Der(der.to_vec()));
        self
    }

    /// Which certificate authorities `wss://` trusts. Default: [`TlsRoots::WebPki`] when the
    /// `webpki-roots` feature is on, else [`TlsRoots::Native`] when `native-roots` is.
    pub fn tls_roots(mut self, roots: TlsRoots) -> Self {
        self.tls.roots = Some(roots);
        self
    }

    /// Presents this client certificate on `wss://`: `chain` holds the certificate and any
    /// intermediates as PEM `CERTIFICATE` blocks (leaf first), `key` its private key as PEM
    /// (PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`). This is what
    /// Qlik Sense Enterprise on Windows asks for on its engine port 4747 (`client.pem` and
    /// `client_key.pem` exported from the QMC). Checked by `build()`. Default: none.
    pub fn client_certificate_pem(
        mut self,
        chain: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.identity = Some(ClientIdentity::Pem {
            chain: chain.into(),
            key: key.into(),
        });
        self
    }

    /// Presents the client certificate and key of this PKCS#12 file (`.pfx`/`.p12`, as the
    /// QMC exports with "Windows format"), decrypted with `password` (feature `pkcs12`). The
    /// first key in the file and its certificate chain are used; CA certificates in the file
    /// are not trusted for that: add them with `add_root_certificate_*`. Checked by `build()`.
    /// Default: none.
    #[cfg(feature = "pkcs12")]
    pub fn client_certificate_pkcs12(
        mut self,
        der: impl Into<Vec<u8>>,
        password: impl Into<String>,
    ) -> Self {
        self.tls.identity = Some(ClientIdentity::Pkcs12 {
            der: der.into(),
            password: password.into(),
        });
        self
    }

    /// Uses this rustls configuration for `wss://` as it is, for anything the other settings
    /// do not cover (a hardware key, a custom verifier, pinned protocol versions). It replaces
    /// every other TLS setting: `build()` refuses it together with `tls_roots`, added root
    /// certificates, a client certificate or `danger_accept_invalid_certs`. Its ALPN list, if
    /// any, must allow `http/1.1`. Default: none.
    #[cfg(feature = "__rustls")]
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls.config = Some(config);
        self
    }

    /// The name sent in SNI and checked against the server's certificate, instead of the
    /// URL's host: for an engine reached by an address its certificate does not name (an IP,
    /// or a name behind a tunnel). Default: the URL's host.
    pub fn tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.tls.server_name = Some(name.into());
        self
    }

    /// **Dangerous**: accepts any server certificate on `wss://`, expired, self-signed or for
    /// another host, so anyone between client and engine can read and change the traffic.
    /// Only for a test engine with a throwaway certificate; prefer adding that certificate
    /// with [`add_root_certificate_pem`](Self::add_root_certificate_pem). `build()` logs a
    /// warning (`tracing`) when it is on. The handshake's signatures are still checked, and a
    /// client certificate is still presented. Default: `false`.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.tls.accept_invalid_certs = accept;
        self
    }

    /// Connects through this HTTP proxy with `CONNECT`, for `ws://` and `wss://` alike (TLS
    /// runs end to end, through the tunnel). `url` is `http://[user:password@]host[:port]`
    /// (port 80 when left out; a bare `host:port` is read as `http://`); user and password
    /// are percent-decoded and sent as `Proxy-Authorization: Basic`. Replaces
    /// [`proxy_from_env`](Self::proxy_from_env). Checked by `build()`. Default: no proxy.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = ProxySetting::Url(url.into());
        self
    }

    /// Takes the proxy from the environment, as curl does: `https_proxy` or `HTTPS_PROXY` for
    /// `wss://`, `http_proxy` or `HTTP_PROXY` for `ws://` (lower case first), unless the host
    /// matches `no_proxy`/`NO_PROXY` (comma-separated host names, domain suffixes such as
    /// `.example.com`, IP addresses, optional `:port`, or `*` for all). Read by `build()`;
    /// no variable set means no proxy. Replaces [`proxy`](Self::proxy). Default: the
    /// environment is not read.
    pub fn proxy_from_env(mut self) -> Self {
        self.proxy = ProxySetting::FromEnv;
        self
    }

    /// Keeps the cookies that the handshake's answer sets (`Set-Cookie`) and sends them back
    /// (`Cookie`) on every later connect of this transport (and of its clones): a session's
    /// resume then carries the proxy's session cookie, as a browser would. The jar keeps
    /// name and value only: `Domain`, `Path`, `Secure` and `Expires` are not looked at (every
    /// cookie goes back to this transport's one URL); `Max-Age=0` or less removes a cookie. A
    /// cookie of the same name in a [`header`](Self::header)`("Cookie", ..)` wins.
    /// Default: `false`.
    pub fn reuse_cookies(mut self, reuse: bool) -> Self {
        self.reuse_cookies = reuse;
        self
    }

    /// Asks `provider` for headers and URL query parameters before every connect (Q-AUTH-1),
    /// so each connect carries fresh ones: a JWT refreshed before it expires, a new
    /// `qlikTicket` (a ticket is good for one connect). Its headers replace the builder's of
    /// the same name; its query parameters are percent-encoded and appended to the URL's.
    /// The provider runs within the [connect timeout](Self::connect_timeout); its error
    /// fails that connect with [`TransportError::Credentials`], and so does a header it gives
    /// that [`header`](Self::header) would refuse. Default: none.
    pub fn credentials(mut self, provider: impl CredentialProvider) -> Self {
        self.credentials = Some(Arc::new(provider));
        self
    }

    /// Checks the URL, the headers, the proxy and, for `wss://`, the TLS settings (reading a
    /// root store the first time the process needs it). Connects nothing: every
    /// [`Transport::connect`](crate::Transport::connect) opens a new connection.
    pub fn build(self) -> Result<WebSocketTransport, TransportError> {
        let target = Target::parse(&self.url)?;
        if self.max_message_size == 0 {
            return Err(TransportError::InvalidSetting {
                setting: "max_message_size",
                reason: "must be at least 1 byte".to_owned(),
            });
        }
        if self.read_buffer_size < MIN_READ_BUFFER_SIZE {
            return Err(TransportError::InvalidSetting {
                setting: "read_buffer_size",
                reason: format!("must be at least {MIN_READ_BUFFER_SIZE} bytes"),
            });
        }
        let http_headers = self
            .headers
            .iter()
            .map(|(name, value)| parse_header(name, value))
            .collect::<Result<Vec<_>, _>>()?;
        let tls = if target.secure {
            let name = self.tls.server_name.as_deref().unwrap_or(&target.host);
            Some(tls::Tls::new(&self.tls, name)?)
        } else {
            None
        };
        let proxy = match &self.proxy {
            ProxySetting::Direct => None,
            ProxySetting::Url(url) => Some(Proxy::parse(url)?),
            ProxySetting::FromEnv => proxy::from_env(|name| std::env::var(name).ok(), &target)?,
        };
        Ok(WebSocketTransport {
            inner: Arc::new(Settings {
                url: self.url,
                target,
                headers: self.headers,
                http_headers,
                connect_timeout: self.connect_timeout,
                max_message_size: self.max_message_size,
                read_buffer_size: self.read_buffer_size,
                tls,
                proxy,
                cookies: self.reuse_cookies.then(Jar::default),
                credentials: self.credentials,
            }),
        })
    }
}

pub(super) fn parse_header(
    name: &str,
    value: &str,
) -> Result<(HeaderName, HeaderValue), TransportError> {
    let header_name =
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| TransportError::InvalidHeaderName {
            name: name.to_owned(),
            reason: "not a valid HTTP header name",
        })?;
    if HANDSHAKE_HEADERS.contains(&header_name.as_str()) {
        return Err(TransportError::InvalidHeaderName {
            name: name.to_owned(),
            reason: "set by the WebSocket handshake itself",
        });
    }
    let header_value =
        HeaderValue::from_str(value).map_err(|_| TransportError::InvalidHeaderValue {
            name: name.to_owned(),
            reason: "contains a control character (CR, LF, NUL ...)",
        })?;
    Ok((header_name, header_value))
}
