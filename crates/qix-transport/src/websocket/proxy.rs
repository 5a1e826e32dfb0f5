//! Reaching the engine through an HTTP proxy with `CONNECT` (RFC 9110, 9.3.6).
//!
//! Written here rather than taken from a crate: the client side of `CONNECT` is one request
//! and one status line, and the crates that offer it bring an HTTP client or another runtime.

use data_encoding::BASE64;
use percent_encoding::percent_decode_str;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::http::Uri;

use super::Target;
use crate::TransportError;

/// The proxy's answer may not be longer than this (status line and headers).
const MAX_ANSWER: usize = 16 * 1024;

/// An HTTP proxy to tunnel through.
pub(super) struct Proxy {
    host: String,
    port: u16,
    /// `Basic <base64(user:password)>`, from the URL's userinfo.
    authorization: Option<String>,
    /// The URL with any password hidden, for errors and Debug.
    shown: String,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("url", &self.shown)
            .field("basic_auth", &self.authorization.is_some())
            .finish()
    }
}

impl Proxy {
    /// `http://[user:password@]host[:port][/]`, or `host:port`.
    pub(super) fn parse(url: &str) -> Result<Proxy, TransportError> {
        let shown = redacted(url);
        let invalid = |reason: String| TransportError::InvalidProxy {
            url: shown.clone(),
            reason,
        };
        let full = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        let uri: Uri = full
            .parse()
            .map_err(|error| invalid(format!("does not parse: {error}")))?;
        match uri.scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => {}
            Some(scheme) => {
                return Err(invalid(format!(
                    "only http:// proxies are supported, not {scheme}://"
                )))
            }
            None => return Err(invalid("no scheme".to_owned())),
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(invalid("a proxy URL has no path or query".to_owned()));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| invalid("no host".to_owned()))?;
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(invalid("no host".to_owned()));
        }
        let authorization = match authority.as_str().rsplit_once('@') {
            None => None,
            Some((userinfo, _)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let decode = |part: &str| {
                    percent_decode_str(part)
                        .decode_utf8()
                        .map(|text| text.into_owned())
                        .map_err(|_| invalid("user or password is not UTF-8".to_owned()))
                };
                let credentials = format!("{}:{}", decode(user)?, decode(password)?);
                Some(format!("Basic {}", BASE64.encode(credentials.as_bytes())))
            }
        };
        Ok(Proxy {
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(80),
            authorization,
            shown,
        })
    }

    /// A TCP connection to the proxy, turned into a tunnel to `target`.
    pub(super) async fn tunnel(&self, target: &Target) -> Result<TcpStream, TransportError> {
        let addr = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let mut tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|source| TransportError::Connect { addr, source })?;
        let destination = target.addr();
        let mut request = format!("CONNECT {destination} HTTP/1.1\r\nHost: {destination}\r\n");
        if let Some(authorization) = &self.authorization {
            request.push_str("Proxy-Authorization: ");
            request.push_str(authorization);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        let failed = |reason: String| TransportError::Proxy {
            url: self.shown.clone(),
            reason,
        };
        tcp.write_all(request.as_bytes())
            .await
            .map_err(|error| failed(format!("cannot send CONNECT: {error}")))?;
        let answer = read_answer(&mut tcp)
            .await
            .map_err(|error| failed(format!("no answer to CONNECT: {error}")))?
            .ok_or_else(|| failed("closed the connection before answering CONNECT".to_owned()))?;
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&answer) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) | Err(_) => {
                return Err(failed(
                    "answered CONNECT with something other than HTTP".to_owned(),
                ))
            }
        }
        let status = response.code.unwrap_or(0);
        if (200..300).contains(&status) {
            Ok(tcp)
        } else {
            Err(TransportError::ProxyRejected {
                url: self.shown.clone(),
                status,
                reason: response.reason.map(str::to_owned).filter(|r| !r.is_empty()),
            })
        }
    }
}

/// Reads the proxy's answer up to and including the blank line, one byte at a time: what
/// follows belongs to the tunnel, so nothing past the answer may be read into a buffer here.
/// `None` when the proxy closed the connection first.
async fn read_answer(tcp: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut answer = Vec::with_capacity(128);
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() >= MAX_ANSWER {
            return Err(std::io::Error::other(format!(
                "answer longer than {MAX_ANSWER} bytes"
            )));
        }
        if tcp.read(&mut byte).await? == 0 {
            return Ok(None);
        }
        answer.push(byte[0]);
    }
    Ok(Some(answer))
}

/// The proxy of `proxy_from_env` for `target`, if any.
pub(super) fn from_env(
    lookup: impl Fn(&str) -> Option<String>,
    target: &Target,
) -> Result<Option<Proxy>, TransportError> {
    let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
    let names = if target.secure {
        ["https_proxy", "HTTPS_PROXY"]
    } else {
        ["http_proxy", "HTTP_PROXY"]
    };
    let Some(url) = names.iter().find_map(|name| set(name)) else {
        return Ok(None);
    };
    if let Some(list) = set("no_proxy").or_else(|| set("NO_PROXY")) {
        if bypasses(&list, &target.host, target.port) {
            return Ok(None);
        }
    }
    Proxy::parse(url.trim()).map(Some)
}

/// Whether a `NO_PROXY` list names this host: `*`; a host name, which also covers its
/// subdomains (`example.com` and `.example.com` both match `qlik.example.com`); an IP address;
/// each with an optional `:port`. CIDR ranges are not understood.
fn bypasses(list: &str, host: &str, port: u16) -> bool {
    let host = host.to_ascii_lowercase();
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let (name, entry_port) = split_port(entry);
            if entry_port.is_some_and(|entry_port| entry_port != port) {
                return false;
            }
            let name = name.to_ascii_lowercase();
            let name = name.trim_start_matches("*.").trim_start_matches('.');
            !name.is_empty() && (host == name || host.ends_with(&format!(".{name}")))
        })
}

/// `host:port`, `[v6]:port`, `[v6]`, a bare IPv6 address or a bare host.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((address, tail)) => (
                address,
                tail.strip_prefix(':').and_then(|port| port.parse().ok()),
            ),
            None => (rest, None),
        };
    }
    match entry.split_once(':') {
        Some((name, port)) if !port.contains(':') => (name, port.parse().ok()),
        _ => (entry, None),
    }
}

/// The URL with the password replaced by `***`.
pub(super) fn redacted(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap()
    }

    #[test]
    fn a_proxy_url_gives_host_port_and_basic_auth() {
        let proxy = Proxy::parse("http://alice:p%40ss%3Aword@proxy.corp:3128/").unwrap();
        assert_eq!((proxy.host.as_str(), proxy.port), ("proxy.corp", 3128));
        // base64("alice:p@ss:word")
        assert_eq!(
            proxy.authorization.as_deref(),
            Some("Basic YWxpY2U6cEBzczp3b3Jk")
        );
        assert_eq!(proxy.shown, "http://alice:***@proxy.corp:3128/");
        assert!(!format!("{proxy:?}").contains("p%40ss"));

        let bare = Proxy::parse("[::1]:8080").unwrap();
        assert_eq!(
            (bare.host.as_str(), bare.port, bare.authorization),
            ("::1", 8080, None)
        );
        assert_eq!(Proxy::parse("http://proxy.corp").unwrap().port, 80);
    }

    #[test]
    fn other_schemes_paths_and_missing_hosts_are_refused() {
        for url in [
            "https://proxy:443",
            "socks5://proxy:1080",
            "http://proxy:3128/path",
            "http://",
            "",
        ] {
            let error = Proxy::parse(url).unwrap_err();
            assert!(
                matches!(error, TransportError::InvalidProxy { .. }),
                "{url}: {error:?}"
            );
        }
        let error = Proxy::parse("https://user:secret@proxy:443").unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
    }

    #[test]
    fn from_env_picks_the_variable_of_the_scheme_lower_case_first() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        let vars = env(&[
            ("https_proxy", "http://lower:1"),
            ("HTTPS_PROXY", "http://upper:2"),
            ("HTTP_PROXY", "http://plain:3"),
        ]);
        let secure = from_env(vars, &target("wss://qlik.example.com/app"))
            .unwrap()
            .unwrap();
        assert_eq!((secure.host.as_str(), secure.port), ("lower", 1));
        let plain = from_env(vars, &target("ws://qlik.example.com/app"))
            .unwrap()
            .unwrap();
        assert_eq!((plain.host.as_str(), plain.port), ("plain", 3));
        let none = from_env(env(&[("HTTPS_PROXY", " ")]), &target("wss://q/app")).unwrap();
        assert!(none.is_none());
        let bad = from_env(env(&[("HTTP_PROXY", "ftp://x")]), &target("ws://q/app"));
        assert!(matches!(bad, Err(TransportError::InvalidProxy { .. })));
    }

    #[test]
    fn no_proxy_bypasses_hosts_domains_addresses_and_ports() {
        let list = "localhost, .internal.corp,example.com:4747,10.0.0.7,[::1]";
        for (host, port, expected) in [
            ("localhost", 80, true),
            ("qlik.internal.corp", 443, true),
            ("internal.corp", 443, true),
            ("notinternal.corp", 443, false),
            ("example.com", 4747, true),
            ("sense.example.com", 4747, true),
            ("example.com", 443, false),
            ("10.0.0.7", 9076, true),
            ("10.0.0.70", 9076, false),
            ("::1", 4848, true),
            ("qlik.example.org", 443, false),
        ] {
            assert_eq!(bypasses(list, host, port), expected, "{host}:{port}");
        }
        assert!(bypasses(" * ", "anything", 1));
        assert!(!bypasses("", "anything", 1));
        let vars = |name: &str| match name {
            "HTTPS_PROXY" => Some("http://proxy:3128".to_owned()),
            "NO_PROXY" => Some("QLIK.example.com".to_owned()),
            _ => None,
        };
        assert!(from_env(vars, &target("wss://qlik.example.com/app"))
            .unwrap()
            .is_none());
        assert!(from_env(vars, &target("wss://other.example.com/app"))
            .unwrap()
            .is_some());
    }
}
