//! What a server answered to the opening handshake of a connection.

use std::fmt;
use std::sync::Arc;

/// The server's answer to a connection's opening handshake: for a WebSocket, the HTTP status
/// (101) and the response headers, `Set-Cookie` included.
///
/// [`WebSocketTransport`](crate::WebSocketTransport) attaches one to every
/// [`Connection`](crate::Connection) it opens ([`Connection::handshake`](crate::Connection::handshake))
/// and returns it from `connect_with_handshake`. Header names are in lower case; values that are
/// not UTF-8 are converted lossily. Cloning shares the headers (one reference count). Debug
/// output shows header names only: values such as cookies may be credentials.
///
/// ```
/// use qix_transport::Handshake;
///
/// let handshake = Handshake::new(
///     101,
///     vec![
///         ("set-cookie".to_owned(), "X-Qlik-Session=1f2e; Path=/; HttpOnly".to_owned()),
///         ("set-cookie".to_owned(), "lb=2".to_owned()),
///     ],
/// );
/// assert_eq!(handshake.status(), 101);
/// assert_eq!(handshake.header("Set-Cookie"), Some("X-Qlik-Session=1f2e; Path=/; HttpOnly"));
/// assert_eq!(handshake.headers("set-cookie").count(), 2);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Handshake {
    status: u16,
    /// Shared: a connection, the transport's caller and a session's status each keep one, and
    /// every resume makes a new one.
    headers: Arc<[(String, String)]>,
}

impl Handshake {
    /// A handshake answer with this status and these headers (names are lower-cased).
    pub fn new(status: u16, mut headers: Vec<(String, String)>) -> Self {
        for (name, _) in &mut headers {
            name.make_ascii_lowercase();
        }
        Handshake {
            status,
            headers: headers.into(),
        }
    }

    /// The HTTP status of the answer (101 for an accepted WebSocket upgrade).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Every response header, in the order the server sent them, names in lower case.
    pub fn response_headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of the header `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every value of the header `name` (case-insensitive), in order: `Set-Cookie` may come
    /// many times.
    pub fn headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("status", &self.status)
            .field(
                "header_names",
                &self
                    .headers
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_header_values() {
        let handshake = Handshake::new(101, vec![("Set-Cookie".into(), "secret=1".into())]);
        let text = format!("{handshake:?}");
        assert!(
            text.contains("set-cookie") && !text.contains("secret"),
            "{text}"
        );
    }
}
