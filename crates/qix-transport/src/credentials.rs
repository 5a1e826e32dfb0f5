//! Credentials fetched before each connect (Q-AUTH-1): a refreshed JWT, a new `qlikTicket`, a
//! CSRF token, without building a new session.

use std::fmt;
use std::future::Future;

use crate::async_trait;

/// The error a [`CredentialProvider`] fails with: any error, kept whole as the `source()` of
/// [`TransportError::Credentials`](crate::TransportError::Credentials).
pub type ProviderError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What one connect carries besides the transport's fixed settings: request headers and URL
/// query parameters.
///
/// A header named here replaces every header of that name set on the builder (so a fresh
/// `Authorization` wins over a stale default); query parameters are appended to the URL's own,
/// percent-encoded. `Debug` shows names only: the values are the secrets.
///
/// ```
/// use qix_transport::Credentials;
///
/// let credentials = Credentials::new()
///     .header("Authorization", "Bearer eyJhbGciOi...")
///     .query("qlikTicket", "6RBWzmfDFlOq6vdx");
/// assert_eq!(credentials.headers()[0].0, "Authorization");
/// assert!(!format!("{credentials:?}").contains("6RBW"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    headers: Vec<(String, String)>,
    query: Vec<(String, String)>,
}

impl Credentials {
    /// No headers and no query parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a request header. Repeatable; the same name twice sends two headers. Checked at
    /// connect as the builder's headers are at `build()`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds a URL query parameter (`?name=value`, or `&name=value` after the URL's own).
    /// Name and value are given plain; they are percent-encoded when the URL is written.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// The headers, as given.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The query parameters, as given (not encoded).
    pub fn query_parameters(&self) -> &[(String, String)] {
        &self.query
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |pairs: &[(String, String)]| -> Vec<String> {
            pairs.iter().map(|(name, _)| name.clone()).collect()
        };
        f.debug_struct("Credentials")
            .field("header_names", &names(&self.headers))
            .field("query_names", &names(&self.query))
            .finish()
    }
}

/// Gives the [`Credentials`] for one connect. A transport that has one calls it before every
/// connect (a session's open and each resume, manual or automatic), so what it returns may
/// change between connects: a token refreshed when it is about to expire, a ticket fetched
/// from the proxy's ticket API for each connect.
///
/// Any `Fn() -> impl Future<Output = Result<Credentials, E>>` is a provider:
///
/// ```
/// use qix_transport::{Credentials, WebSocketTransport};
///
/// async fn fetch_token() -> Result<String, std::io::Error> {
///     Ok("eyJhbGciOi...".to_owned()) // e.g. from an identity provider
/// }
///
/// let transport = WebSocketTransport::builder("wss://tenant.example.com/app/1234")
///     .credentials(|| async {
///         let token = fetch_token().await?;
///         Ok::<_, std::io::Error>(Credentials::new().header("Authorization", format!("Bearer {token}")))
///     })
///     .build()?;
/// # drop(transport);
/// # Ok::<(), qix_transport::TransportError>(())
/// ```
#[async_trait]
pub trait CredentialProvider: Send + Sync + 'static {
    /// The credentials for the connect about to be made. An error fails that connect with
    /// [`TransportError::Credentials`](crate::TransportError::Credentials); the next connect
    /// asks again.
    async fn credentials(&self) -> Result<Credentials, ProviderError>;
}

#[async_trait]
impl<F, Fut, E> CredentialProvider for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Credentials, E>> + Send + 'static,
    E: Into<ProviderError> + 'static,
{
    async fn credentials(&self) -> Result<Credentials, ProviderError> {
        (self)().await.map_err(Into::into)
    }
}
