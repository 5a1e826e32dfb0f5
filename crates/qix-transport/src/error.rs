//! The one error type of every transport.

use std::time::Duration;

/// What went wrong in a transport: while building it, connecting, or on a live connection.
///
/// Errors on a live connection reach the session in two ways: the connection's `Sink` methods
/// return them, and its `Stream` reports problems with one incoming frame as
/// [`Incoming::Error`](crate::Incoming::Error).
///
/// Messages never contain header values: they may hold credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The URL does not parse, has no host, or its scheme is not `ws` or `wss`.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given, its secrets hidden ([`redact_url`](crate::redact_url)).
        url: String,
        /// Why it was refused.
        reason: String,
    },

    /// A request header name is not a valid HTTP header name, or names a header that the
    /// WebSocket handshake sets itself.
    #[error("invalid header name {name:?}: {reason}")]
    InvalidHeaderName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A request header value holds characters that HTTP forbids (control characters such
    /// as CR or LF). The value itself is not repeated here: it may be a secret.
    #[error("invalid value for header {name:?}: {reason}")]
    InvalidHeaderValue {
        /// The header whose value was refused.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A builder setting is out of its range.
    #[error("invalid setting `{setting}`: {reason}")]
    InvalidSetting {
        /// The setting's name, as the builder method is called.
        setting: &'static str,
        /// What is wrong with the value.
        reason: String,
    },

    /// A root certificate given to the builder could not be read or was refused.
    #[error("invalid root certificate: {reason}")]
    InvalidCertificate {
        /// What was wrong with it.
        reason: String,
    },

    /// A client certificate or its key given to the builder could not be read, or rustls
    /// refused them (a key that does not fit the certificate, an unsupported key type).
    #[error("invalid client certificate: {reason}")]
    InvalidClientCertificate {
        /// What was wrong with it.
        reason: String,
    },

    /// The proxy URL given to the builder, or found in the environment, is not usable.
    #[error("invalid proxy {url:?}: {reason}")]
    InvalidProxy {
        /// The URL, its password hidden.
        url: String,
        /// Why it was refused.
        reason: String,
    },

    /// The proxy answered `CONNECT` with a status other than 2xx (407: it wants credentials,
    /// or refused the ones in the proxy URL).
    #[error("proxy {url} refused CONNECT with HTTP {status}{}", reason_suffix(.reason))]
    ProxyRejected {
        /// The proxy URL, its password hidden.
        url: String,
        /// The HTTP status of its answer.
        status: u16,
        /// The reason phrase it sent, if any.
        reason: Option<String>,
    },

    /// The proxy could not be talked to: it closed the connection, or its answer was not HTTP.
    #[error("proxy {url}: {reason}")]
    Proxy {
        /// The proxy URL, its password hidden.
        url: String,
        /// What went wrong.
        reason: String,
    },

    /// The [`CredentialProvider`](crate::CredentialProvider) failed, or gave a header that
    /// cannot be sent: nothing was dialled. The next connect asks the provider again.
    #[error("the credential provider failed: {source}")]
    Credentials {
        /// The provider's error (or the refused header's).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// The TCP connection could not be made (name resolution, refused, unreachable ...).
    #[error("could not connect to {addr}: {source}")]
    Connect {
        /// `host:port` that was dialled.
        addr: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// Connecting (TCP, TLS and the WebSocket handshake together) took longer than allowed.
    #[error("connect timed out after {timeout:?}")]
    ConnectTimeout {
        /// The limit that was exceeded.
        timeout: Duration,
    },

    /// The server answered the WebSocket upgrade request with an HTTP status other than 101.
    #[error("WebSocket handshake refused with HTTP {status}{}", reason_suffix(.reason))]
    HandshakeRejected {
        /// The HTTP status code, for example 401 or 403.
        status: u16,
        /// The standard reason phrase of that status, when it has one.
        reason: Option<String>,
    },

    /// The WebSocket handshake failed for another reason than an HTTP status (malformed
    /// response, wrong `Sec-WebSocket-Accept`, connection dropped mid-handshake ...).
    #[error("WebSocket handshake failed: {reason}")]
    Handshake {
        /// What went wrong.
        reason: String,
    },

    /// The TLS layer failed: untrusted or invalid certificate, name mismatch, alert from the
    /// peer, or a TLS configuration that could not be built.
    #[error("TLS failure: {reason}")]
    Tls {
        /// What went wrong.
        reason: String,
    },

    /// An incoming message is larger than the configured limit. It was not read into memory.
    #[error(
        "incoming message of {size} bytes exceeds the limit of {limit} bytes (max_message_size)"
    )]
    MessageTooLarge {
        /// The size announced by the peer (or reached so far for a fragmented message).
        size: usize,
        /// The configured limit.
        limit: usize,
    },

    /// The peer sent a binary frame; QIX speaks text only. The frame was dropped and the
    /// connection goes on.
    #[error("binary frame of {len} bytes received; only text frames are supported")]
    BinaryFrame {
        /// Payload length of the dropped frame.
        len: usize,
    },

    /// A text frame was not valid UTF-8. RFC 6455 makes this fatal: the connection is closed
    /// with code 1007.
    #[error("text frame is not valid UTF-8")]
    InvalidUtf8,

    /// The peer broke the WebSocket protocol (bad framing, reserved bits, masked frame from
    /// a server ...).
    #[error("WebSocket protocol error: {reason}")]
    Protocol {
        /// What the peer did wrong.
        reason: String,
    },

    /// A close code that may not be sent in a close frame (RFC 6455 section 7.4): only
    /// 1000-1003, 1007-1013 and 3000-4999 may.
    #[error("close code {code} may not be sent in a close frame (allowed: 1000-1003, 1007-1013, 3000-4999)")]
    InvalidCloseCode {
        /// The refused code.
        code: u16,
    },

    /// A close reason longer than the 123 bytes that fit in a close frame.
    #[error("close reason is {len} bytes long; a close frame holds at most 123")]
    CloseReasonTooLong {
        /// Length of the refused reason in bytes.
        len: usize,
    },

    /// Sending on a connection that is closed or closing.
    #[error("connection closed")]
    ConnectionClosed,

    /// An I/O error on a live connection.
    #[error("I/O error on the connection: {0}")]
    Io(#[source] std::io::Error),

    /// An error of a custom transport that fits none of the other variants.
    #[error("{0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

fn reason_suffix(reason: &Option<String>) -> String {
    match reason {
        Some(reason) => format!(" {reason}"),
        None => String::new(),
    }
}

impl TransportError {
    /// The HTTP status of a refused handshake ([`TransportError::HandshakeRejected`]).
    pub fn http_status(&self) -> Option<u16> {
        match self {
            TransportError::HandshakeRejected { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Wraps the error of a custom transport.
    pub fn other(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        TransportError::Other(error.into())
    }

    /// `true` for [`TransportError::ConnectTimeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, TransportError::ConnectTimeout { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_bounds<T: Send + Sync + std::error::Error + 'static>() {}

    #[test]
    fn transport_error_is_send_sync_static_error() {
        assert_bounds::<TransportError>();
    }

    #[test]
    fn handshake_rejected_names_status_and_reason() {
        let error = TransportError::HandshakeRejected {
            status: 401,
            reason: Some("Unauthorized".into()),
        };
        assert_eq!(error.http_status(), Some(401));
        assert_eq!(
            error.to_string(),
            "WebSocket handshake refused with HTTP 401 Unauthorized"
        );
        let bare = TransportError::HandshakeRejected {
            status: 599,
            reason: None,
        };
        assert_eq!(
            bare.to_string(),
            "WebSocket handshake refused with HTTP 599"
        );
        assert_eq!(TransportError::ConnectionClosed.http_status(), None);
    }

    #[test]
    fn message_too_large_names_the_limit() {
        let error = TransportError::MessageTooLarge {
            size: 65536,
            limit: 1024,
        };
        let text = error.to_string();
        assert!(
            text.contains("65536") && text.contains("1024") && text.contains("max_message_size")
        );
    }
}
