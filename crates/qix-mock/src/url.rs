//! The engine URL grammar: `/app/<app>[/identity/<id>][/ttl/<seconds>]`, query string ignored.

/// What a socket's URL asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnginePath {
    pub(crate) app: String,
    pub(crate) identity: Option<String>,
    /// Seconds, uncapped (the engine caps it).
    pub(crate) ttl: Option<u64>,
}

/// Reads the path of an upgrade request (the query string, if still attached, is ignored).
/// `None` for any other shape; the handshake then answers 404.
pub(crate) fn parse_path(path: &str) -> Option<EnginePath> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let rest = path.strip_prefix('/')?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let mut segments = rest.split('/');
    if segments.next()? != "app" {
        return None;
    }
    let app = decode(segments.next()?)?;
    if app.is_empty() {
        return None;
    }
    let mut parsed = EnginePath {
        app,
        identity: None,
        ttl: None,
    };
    let mut next = segments.next();
    if next == Some("identity") {
        let identity = decode(segments.next()?)?;
        if identity.is_empty() {
            return None;
        }
        parsed.identity = Some(identity);
        next = segments.next();
    }
    if next == Some("ttl") {
        let ttl = segments.next()?;
        if ttl.is_empty() || ttl.len() > 19 || !ttl.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        parsed.ttl = Some(ttl.parse().ok()?);
        next = segments.next();
    }
    match next {
        None => Some(parsed),
        Some(_) => None,
    }
}

/// Percent-decodes one path segment; `None` for a bad escape or text that is not UTF-8.
fn decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let high = hex(*bytes.get(i + 1)?)?;
                let low = hex(*bytes.get(i + 2)?)?;
                out.push(high << 4 | low);
                i += 3;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes like JavaScript's `encodeURIComponent`, as enigma.js builds URLs.
pub(crate) fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(byte >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(byte & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(app: &str, identity: Option<&str>, ttl: Option<u64>) -> Option<EnginePath> {
        Some(EnginePath {
            app: app.to_owned(),
            identity: identity.map(str::to_owned),
            ttl,
        })
    }

    #[test]
    fn accepts_the_documented_shapes() {
        assert_eq!(parse_path("/app/my.qvf"), path("my.qvf", None, None));
        assert_eq!(parse_path("/app/my.qvf/"), path("my.qvf", None, None));
        assert_eq!(
            parse_path("/app/a/identity/me/ttl/30?reloadUri=x&qlikTicket=y"),
            path("a", Some("me"), Some(30))
        );
        assert_eq!(parse_path("/app/a/ttl/0"), path("a", None, Some(0)));
        assert_eq!(
            parse_path("/app/%3Ftransient%3D/identity/12"),
            path("?transient=", Some("12"), None)
        );
    }

    #[test]
    fn rejects_other_shapes() {
        for bad in [
            "",
            "/",
            "/app",
            "/app/",
            "/apps/x",
            "/app/x/ttl",
            "/app/x/ttl/-1",
            "/app/x/ttl/1.5",
            "/app/x/ttl/99999999999999999999",
            "/app/x/ttl/5/identity/me",
            "/app/x/identity/",
            "/app/x/other",
            "/app/%zz",
            "/app/%ff",
            "/app/x/ttl/5/extra",
        ] {
            assert_eq!(parse_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn encoding_round_trips_through_decoding() {
        for text in ["plain", "with space/and?query=1", "ünïcode €", "%41"] {
            let encoded = encode_component(text);
            assert!(!encoded.contains(['/', '?', ' ']));
            assert_eq!(decode(&encoded).as_deref(), Some(text));
        }
    }
}
