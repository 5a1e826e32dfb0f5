//! The WebSocket transport: `ws://` and `wss://` on tokio-tungstenite and rustls, directly or
//! through an HTTP proxy.

mod builder;
mod connection;
mod cookies;
mod proxy;
mod tls;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::{HeaderName, HeaderValue, Uri};
use tungstenite::protocol::WebSocketConfig;

pub use builder::{TlsRoots, WebSocketTransportBuilder};
/// The rustls version the transport is built on, for [`WebSocketTransportBuilder::tls_config`].
#[cfg(feature = "__rustls")]
pub use tokio_rustls::rustls;

use crate::{
    async_trait, redact_url, Connection, CredentialProvider, Credentials, Handshake, Transport,
    TransportError,
};
use builder::HeaderNames;

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
            url: crate::redact_url(url),
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
    tls: Option<tls::Tls>,
    proxy: Option<proxy::Proxy>,
    /// With `reuse_cookies(true)`: shared by the transport's clones, as they share settings.
    cookies: Option<cookies::Jar>,
    /// Asked before every connect (Q-AUTH-1).
    credentials: Option<Arc<dyn CredentialProvider>>,
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
            .field("url", &redact_url(&settings.url))
            .field("header_names", &HeaderNames(&settings.headers))
            .field("connect_timeout", &settings.connect_timeout)
            .field("max_message_size", &settings.max_message_size)
            .field("read_buffer_size", &settings.read_buffer_size)
            .field("tls", &settings.tls.is_some())
            .field("proxy", &settings.proxy)
            .field("reuse_cookies", &settings.cookies.is_some())
            .field("credential_provider", &settings.credentials.is_some())
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

    /// Opens a connection, like [`Transport::connect`], and also returns the server's answer
    /// to the handshake (status and response headers, `Set-Cookie` among them). The same
    /// answer is attached to the connection ([`Connection::handshake`]).
    ///
    /// With a [credential provider](WebSocketTransportBuilder::credentials), it is asked
    /// first, within the connect timeout; its headers and query parameters go on this
    /// connect only.
    pub async fn connect_with_handshake(&self) -> Result<(Connection, Handshake), TransportError> {
        let settings = self.inner.clone();
        let connect = async {
            let credentials = match &settings.credentials {
                Some(provider) => Some(
                    provider
                        .credentials()
                        .await
                        .map_err(|source| TransportError::Credentials { source })?,
                ),
                None => None,
            };
            open(&settings, credentials.as_ref()).await
        };
        match tokio::time::timeout(settings.connect_timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::ConnectTimeout {
                timeout: settings.connect_timeout,
            }),
        }
    }
}

#[async_trait]
impl Transport for WebSocketTransport {
    async fn connect(&self) -> Result<Connection, TransportError> {
        let (connection, _handshake) = self.connect_with_handshake().await?;
        Ok(connection)
    }
}

/// The byte stream under the WebSocket: plain TCP or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

async fn open(
    settings: &Settings,
    credentials: Option<&Credentials>,
) -> Result<(Connection, Handshake), TransportError> {
    let target = &settings.target;
    // Checked before dialling: a provider's mistake costs no connection.
    let extra = credentials.map(supplied).transpose()?;
    let tcp = match &settings.proxy {
        Some(proxy) => proxy.tunnel(target).await?,
        None => TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|source| TransportError::Connect {
                addr: target.addr(),
                source,
            })?,
    };
    // Requests are small and waited for: do not hold them back to fill a segment.
    tcp.set_nodelay(true)
        .map_err(|source| TransportError::Connect {
            addr: target.addr(),
            source,
        })?;
    let stream: Box<dyn Io> = match &settings.tls {
        None => Box::new(tcp),
        Some(tls) => tls.connect(tcp).await?,
    };

    let uri = match &extra {
        Some(extra) if !extra.query.is_empty() => with_query(&target.uri, &extra.query)?,
        _ => target.uri.clone(),
    };
    let mut request = uri.into_client_request().map_err(handshake_error)?;
    for (name, value) in &settings.http_headers {
        request.headers_mut().append(name.clone(), value.clone());
    }
    if let Some(extra) = extra {
        for (name, _) in &extra.headers {
            request.headers_mut().remove(name);
        }
        for (name, value) in extra.headers {
            request.headers_mut().append(name, value);
        }
    }
    if let Some(jar) = &settings.cookies {
        jar.apply(request.headers_mut());
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
    if let Some(jar) = &settings.cookies {
        jar.store(response.headers());
    }
    let handshake = Handshake::new(
        response.status().as_u16(),
        response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect(),
    );
    let connection = Connection::new(connection::WebSocketConnection::new(socket))
        .with_handshake(handshake.clone());
    Ok((connection, handshake))
}

/// A provider's credentials, checked and encoded for one request.
struct Supplied {
    headers: Vec<(HeaderName, HeaderValue)>,
    /// `name=value` pairs joined with `&`, percent-encoded.
    query: String,
}

/// What may stand unencoded in a query component: RFC 3986's unreserved characters.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn supplied(credentials: &Credentials) -> Result<Supplied, TransportError> {
    let headers = credentials
        .headers()
        .iter()
        .map(|(name, value)| builder::parse_header(name, value))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TransportError::Credentials {
            source: Box::new(error),
        })?;
    let encode = |text: &str| percent_encoding::utf8_percent_encode(text, QUERY_VALUE).to_string();
    let query = credentials
        .query_parameters()
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    Ok(Supplied { headers, query })
}

/// `uri` with `query` (encoded) after its own query.
fn with_query(uri: &Uri, query: &str) -> Result<Uri, TransportError> {
    let mut parts = uri.clone().into_parts();
    let path_and_query = match uri.path_and_query() {
        Some(pq) => match pq.query() {
            Some(own) if !own.is_empty() => format!("{}?{own}&{query}", pq.path()),
            _ => format!("{}?{query}", pq.path()),
        },
        None => format!("/?{query}"),
    };
    parts.path_and_query =
        Some(
            path_and_query
                .parse()
                .map_err(|error| TransportError::Credentials {
                    source: Box::new(error),
                })?,
        );
    Uri::from_parts(parts).map_err(|error| TransportError::Credentials {
        source: Box::new(error),
    })
}

fn handshake_error(error: tungstenite::Error) -> TransportError {
    match error {
        tungstenite::Error::Http(response) => TransportError::HandshakeRejected {
            status: response.status().as_u16(),
            reason: response.status().canonical_reason().map(str::to_owned),
        },
        tungstenite::Error::Io(error) => {
            tls::failure(&error).unwrap_or_else(|| TransportError::Handshake {
                reason: format!("connection failed during the handshake: {error}"),
            })
        }
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
                builder::parse_header(name, "x"),
                Err(TransportError::InvalidHeaderName { .. })
            ));
        }
        assert!(builder::parse_header("Sec-WebSocket-Protocol", "qix").is_ok());
    }

    #[test]
    fn q_auth_1_provider_query_parameters_follow_the_urls_own() {
        let query = supplied(
            &Credentials::new()
                .query("qlikTicket", "a b/&c")
                .query("x", "1"),
        )
        .unwrap()
        .query;
        assert_eq!(query, "qlikTicket=a%20b%2F%26c&x=1");
        for (url, expected) in [
            ("ws://h/app/x", "ws://h/app/x?q=1"),
            ("ws://h/app/x?", "ws://h/app/x?q=1"),
            ("ws://h:9/app/x?ttl=3", "ws://h:9/app/x?ttl=3&q=1"),
        ] {
            let uri: Uri = url.parse().unwrap();
            assert_eq!(with_query(&uri, "q=1").unwrap().to_string(), expected);
        }
    }

    #[test]
    fn q_auth_2_debug_and_url_errors_hide_url_secrets() {
        let url = "ws://sa:pw1@127.0.0.1:1/app?qlikTicket=tk1";
        let builder = WebSocketTransport::builder(url);
        let transport = builder.clone().build().unwrap();
        for text in [format!("{builder:?}"), format!("{transport:?}")] {
            assert!(!text.contains("pw1") && !text.contains("tk1"), "{text}");
        }
        let error = WebSocketTransport::new("http://sa:pw1@h/?qlikTicket=tk1").unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(!text.contains("pw1") && !text.contains("tk1"), "{text}");
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
