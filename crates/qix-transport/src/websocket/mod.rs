//! The WebSocket transport: `ws://` and `wss://` on tokio-tungstenite and rustls.

mod connection;
mod tls;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::{HeaderName, HeaderValue, Uri};
use tungstenite::protocol::WebSocketConfig;

use crate::{async_trait, Connection, Handshake, Transport, TransportError};

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;
const MIN_READ_BUFFER_SIZE: usize = 256;
/// QIX answers are mostly small; a larger message grows the buffer while it is read.
const DEFAULT_READ_BUFFER_SIZE: usize = 8 << 10;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsRoots {
    /// Mozilla's root program, compiled in (the `webpki-roots` crate). The default: the same
    /// on every machine, and works in containers without a system certificate store.
    #[default]
    WebPki,
    /// The operating system's certificate store, read once by `build()`. Choose it when the
    /// engine's certificate comes from a corporate CA installed on the machine.
    Native,
    /// None: only the certificates added to the builder are trusted (a self-signed engine
    /// certificate, or pinning one CA).
    OnlyAdded,
}

#[derive(Clone)]
enum RootCertificate {
    Pem(Vec<u8>),
    Der(Vec<u8>),
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
#[derive(Clone)]
pub struct WebSocketTransportBuilder {
    url: String,
    headers: Vec<(String, String)>,
    connect_timeout: Duration,
    max_message_size: usize,
    read_buffer_size: usize,
    root_certificates: Vec<RootCertificate>,
    tls_roots: TlsRoots,
}

impl fmt::Debug for WebSocketTransportBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketTransportBuilder")
            .field("url", &self.url)
            .field("header_names", &HeaderNames(&self.headers))
            .field("connect_timeout", &self.connect_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("read_buffer_size", &self.read_buffer_size)
            .field("root_certificates", &self.root_certificates.len())
            .field("tls_roots", &self.tls_roots)
            .finish()
    }
}

/// Prints header names only: values may be credentials.
struct HeaderNames<'a>(&'a [(String, String)]);

impl fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

impl WebSocketTransportBuilder {
    fn new(url: impl Into<String>) -> Self {
        WebSocketTransportBuilder {
            url: url.into(),
            headers: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            read_buffer_size: DEFAULT_READ_BUFFER_SIZE,
            root_certificates: Vec::new(),
            tls_roots: TlsRoots::default(),
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

    /// Limit for one connect: TCP, TLS and the WebSocket handshake together. Default: 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many bytes one read from the socket takes at most, which is also the read
    /// buffer's size while no larger message is being read. An idle connection holds this
    /// much; a message larger than it grows the buffer while it is read. Larger values read
    /// large answers with fewer system calls. Default: 8 KiB. Checked by `build()`: at
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
        self.root_certificates
            .push(RootCertificate::Pem(pem.to_vec()));
        self
    }

    /// Trusts this DER-encoded certificate for `wss://`, in addition to [`TlsRoots`].
    /// Repeatable. Checked by `build()`. Default: none.
    pub fn add_root_certificate_der(mut self, der: &[u8]) -> Self {
        self.root_certificates
            .push(RootCertificate::Der(der.to_vec()));
        self
    }

    /// Which certificate authorities `wss://` trusts. Default: [`TlsRoots::WebPki`].
    pub fn tls_roots(mut self, roots: TlsRoots) -> Self {
        self.tls_roots = roots;
        self
    }

    /// Checks the URL, the headers, the sizes and, for `wss://`, the TLS settings. Connects
    /// nothing: every [`Transport::connect`] opens a new connection.
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
            let config = tls::client_config(self.tls_roots, &self.root_certificates)?;
            let server_name = rustls::pki_types::ServerName::try_from(target.host.clone())
                .map_err(|error| TransportError::InvalidUrl {
                    url: self.url.clone(),
                    reason: format!("host is not a valid TLS server name: {error}"),
                })?;
            Some((config, server_name))
        } else {
            None
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
            }),
        })
    }
}

fn parse_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), TransportError> {
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

/// Where to connect, from the URL.
#[derive(Debug)]
struct Target {
    uri: Uri,
    secure: bool,
    /// Host without the brackets of an IPv6 literal, as TCP and TLS want it.
    host: String,
    port: u16,
}

impl Target {
    fn parse(url: &str) -> Result<Target, TransportError> {
        let invalid = |reason: String| TransportError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url
            .parse()
            .map_err(|error| invalid(format!("does not parse: {error}")))?;
        let secure = match uri.scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("ws") => false,
            Some(scheme) if scheme.eq_ignore_ascii_case("wss") => true,
            Some(scheme) => return Err(invalid(format!("scheme must be ws or wss, not {scheme}"))),
            None => return Err(invalid("scheme must be ws or wss".to_owned())),
        };
        let host = uri
            .host()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| invalid("no host".to_owned()))?;
        let host = host
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .unwrap_or(host)
            .to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        // Catches what tungstenite would refuse at connect time.
        uri.clone()
            .into_client_request()
            .map_err(|error| invalid(error.to_string()))?;
        Ok(Target {
            uri,
            secure,
            host,
            port,
        })
    }

    fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

struct Settings {
    url: String,
    target: Target,
    headers: Vec<(String, String)>,
    http_headers: Vec<(HeaderName, HeaderValue)>,
    connect_timeout: Duration,
    max_message_size: usize,
    read_buffer_size: usize,
    tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
}

/// A [`Transport`] that opens WebSocket connections (`ws://`, or `wss://` with rustls).
///
/// Cheap to clone. A connection has no task of its own: it works while its owner polls it
/// (the session's driver does), answering pings and carrying out the close handshake. Its
/// stream reports:
/// - each text message as [`Incoming::Text`](crate::Incoming::Text);
/// - a binary frame as [`TransportError::BinaryFrame`] in an
///   [`Incoming::Error`](crate::Incoming::Error); the connection goes on;
/// - the peer's close frame as `Closed{code, reason}` (1005 when it has no status code);
/// - TCP ending without a close frame as `Closed{1006, ""}`;
/// - after [`Outgoing::Close`](crate::Outgoing::Close), the peer's answer (how long to wait
///   for it is the owner's choice: dropping the connection ends TCP);
/// - a message over the size limit, invalid UTF-8 or a protocol violation as an `Error`,
///   then a close frame is sent (1009, 1007 or 1002) and `Closed` reports that code.
///
/// Unlike jsonrpsee's `WsClientBuilder::build`, building connects nothing.
#[derive(Clone)]
pub struct WebSocketTransport {
    inner: Arc<Settings>,
}

impl fmt::Debug for WebSocketTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &*self.inner;
        f.debug_struct("WebSocketTransport")
            .field("url", &settings.url)
            .field("header_names", &HeaderNames(&settings.headers))
            .field("connect_timeout", &settings.connect_timeout)
            .field("max_message_size", &settings.max_message_size)
            .field("read_buffer_size", &settings.read_buffer_size)
            .field("tls", &settings.tls.is_some())
            .finish()
    }
}

impl WebSocketTransport {
    /// A builder for a transport to `url` (`ws://` or `wss://`).
    pub fn builder(url: impl Into<String>) -> WebSocketTransportBuilder {
        WebSocketTransportBuilder::new(url)
    }

    /// A transport to `url` with default settings: `builder(url).build()`.
    pub fn new(url: impl Into<String>) -> Result<WebSocketTransport, TransportError> {
        Self::builder(url).build()
    }

    /// The URL as given to the builder.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The extra request headers, as given to the builder.
    pub fn headers(&self) -> &[(String, String)] {
        &self.inner.headers
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.inner.connect_timeout
    }

    /// The read buffer's size while no large message is read.
    pub fn read_buffer_size(&self) -> usize {
        self.inner.read_buffer_size
    }

    /// The largest incoming message accepted, in bytes.
    pub fn max_message_size(&self) -> usize {
        self.inner.max_message_size
    }
}

#[async_trait]
impl Transport for WebSocketTransport {
    async fn connect(&self) -> Result<Connection, TransportError> {
        let settings = self.inner.clone();
        match tokio::time::timeout(settings.connect_timeout, open(&settings)).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::ConnectTimeout {
                timeout: settings.connect_timeout,
            }),
        }
    }
}

/// The byte stream under the WebSocket: plain TCP or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

async fn open(settings: &Settings) -> Result<Connection, TransportError> {
    let target = &settings.target;
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|source| TransportError::Connect {
            addr: target.addr(),
            source,
        })?;
    // Requests are small and waited for: do not hold them back to fill a segment.
    tcp.set_nodelay(true)
        .map_err(|source| TransportError::Connect {
            addr: target.addr(),
            source,
        })?;
    let stream: Box<dyn Io> = match &settings.tls {
        None => Box::new(tcp),
        Some((config, server_name)) => Box::new(
            tokio_rustls::TlsConnector::from(config.clone())
                .connect(server_name.clone(), tcp)
                .await
                .map_err(tls::handshake_error)?,
        ),
    };

    let mut request = target
        .uri
        .clone()
        .into_client_request()
        .map_err(handshake_error)?;
    for (name, value) in &settings.http_headers {
        request.headers_mut().append(name.clone(), value.clone());
    }
    let limit = Some(settings.max_message_size);
    // The frame limit too: tungstenite checks it against the frame header before reading
    // the payload, while the message limit alone is checked only once a frame is in memory.
    let config = WebSocketConfig::default()
        .max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(settings.read_buffer_size);
    let (socket, response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(handshake_error)?;
    let handshake = Handshake {
        response_headers: response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                let value = value.to_str().ok()?;
                Some((name.as_str().to_owned(), value.to_owned()))
            })
            .collect(),
    };
    Ok(Connection::new(connection::WebSocketConnection::new(socket)).with_handshake(handshake))
}

fn handshake_error(error: tungstenite::Error) -> TransportError {
    match error {
        tungstenite::Error::Http(response) => TransportError::HandshakeRejected {
            status: response.status().as_u16(),
            reason: response.status().canonical_reason().map(str::to_owned),
        },
        tungstenite::Error::Io(error) => TransportError::Handshake {
            reason: format!("connection failed during the handshake: {error}"),
        },
        other => TransportError::Handshake {
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_parses_ports_and_ipv6_hosts() {
        let plain = Target::parse("ws://127.0.0.1/app").unwrap();
        assert_eq!(
            (plain.secure, plain.port, plain.host.as_str()),
            (false, 80, "127.0.0.1")
        );
        let secure = Target::parse("WSS://[::1]:4848/app/engineData").unwrap();
        assert_eq!(
            (secure.secure, secure.port, secure.host.as_str()),
            (true, 4848, "::1")
        );
        assert_eq!(secure.addr(), "[::1]:4848");
    }

    #[test]
    fn target_refuses_other_schemes_and_missing_hosts() {
        for url in [
            "http://localhost/",
            "localhost:9076",
            "ws:///path",
            "not a url",
            "",
        ] {
            assert!(
                matches!(Target::parse(url), Err(TransportError::InvalidUrl { .. })),
                "{url:?} should be refused"
            );
        }
    }

    #[test]
    fn handshake_headers_are_refused() {
        for name in ["Host", "sec-websocket-key", "Upgrade"] {
            assert!(matches!(
                parse_header(name, "x"),
                Err(TransportError::InvalidHeaderName { .. })
            ));
        }
        assert!(parse_header("Sec-WebSocket-Protocol", "qix").is_ok());
    }

    #[test]
    fn debug_output_hides_header_values() {
        let builder = WebSocketTransport::builder("ws://127.0.0.1:1/")
            .header("Authorization", "Bearer secret-token");
        assert!(!format!("{builder:?}").contains("secret-token"));
        let transport = builder.build().unwrap();
        let text = format!("{transport:?}");
        assert!(text.contains("Authorization") && !text.contains("secret-token"));
    }
}
