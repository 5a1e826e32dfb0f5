//! `reuse_cookies`: a name=value jar, one per transport.
//!
//! Hand-written rather than the `cookie_store` crate: a transport talks to one URL, so domain
//! and path matching, which is most of what such a crate does, has nothing to decide here.

use std::sync::Mutex;

use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderValue};

/// Cookies set by handshake answers, in the order they were first set.
#[derive(Debug, Default)]
pub(super) struct Jar {
    cookies: Mutex<Vec<(String, String)>>,
}

impl Jar {
    /// Takes in every `Set-Cookie` of a handshake's answer.
    pub(super) fn store(&self, headers: &HeaderMap) {
        let mut cookies = self
            .cookies
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        for value in headers.get_all("set-cookie") {
            let Some(cookie) = value.to_str().ok().and_then(parse_set_cookie) else {
                continue;
            };
            cookies.retain(|(name, _)| *name != cookie.name);
            if !cookie.expired {
                cookies.push((cookie.name, cookie.value));
            }
        }
    }

    /// Adds the jar's cookies to the request's `Cookie` header, after the ones the user set
    /// (which win on a name clash). One header, as RFC 6265 asks.
    pub(super) fn apply(&self, headers: &mut HeaderMap) {
        let cookies = self
            .cookies
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if cookies.is_empty() {
            return;
        }
        let given: Vec<String> = headers
            .get_all("cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .map(str::to_owned)
            .collect();
        let given_names: Vec<&str> = given
            .iter()
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.split_once('=').map(|(name, _)| name.trim()))
            .collect();
        let mut line = given.join("; ");
        for (name, value) in cookies.iter() {
            if given_names.contains(&name.as_str()) {
                continue;
            }
            if !line.is_empty() {
                line.push_str("; ");
            }
            line.push_str(name);
            line.push('=');
            line.push_str(value);
        }
        // Names and values were header-safe when they arrived; a value that is not is skipped.
        if let Ok(value) = HeaderValue::from_str(&line) {
            headers.remove("cookie");
            headers.insert("cookie", value);
        }
    }
}

struct SetCookie {
    name: String,
    value: String,
    expired: bool,
}

/// `name=value; Attr; Attr=x`: the pair, and whether `Max-Age` says it is already gone.
fn parse_set_cookie(line: &str) -> Option<SetCookie> {
    let mut parts = line.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let expired = parts.any(|attribute| {
        attribute
            .split_once('=')
            .filter(|(key, _)| key.trim().eq_ignore_ascii_case("max-age"))
            .and_then(|(_, seconds)| seconds.trim().parse::<i64>().ok())
            .is_some_and(|seconds| seconds <= 0)
    });
    Some(SetCookie {
        name: name.to_owned(),
        value: value.trim().to_owned(),
        expired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("set-cookie", HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    fn cookie_line(jar: &Jar, given: Option<&str>) -> Option<String> {
        let mut headers = HeaderMap::new();
        if let Some(given) = given {
            headers.insert("cookie", HeaderValue::from_str(given).unwrap());
        }
        jar.apply(&mut headers);
        assert!(headers.get_all("cookie").iter().count() <= 1);
        headers
            .get("cookie")
            .map(|value| value.to_str().unwrap().to_owned())
    }

    #[test]
    fn set_cookies_come_back_as_one_cookie_header() {
        let jar = Jar::default();
        assert_eq!(cookie_line(&jar, None), None);
        jar.store(&answer(&[
            "X-Qlik-Session=1f2e; Path=/; HttpOnly; Secure",
            "lb=node2",
        ]));
        assert_eq!(
            cookie_line(&jar, None).as_deref(),
            Some("X-Qlik-Session=1f2e; lb=node2")
        );
    }

    #[test]
    fn a_later_value_replaces_and_max_age_zero_removes() {
        let jar = Jar::default();
        jar.store(&answer(&["a=1", "b=2"]));
        jar.store(&answer(&["a=3", "b=; Max-Age=0"]));
        assert_eq!(cookie_line(&jar, None).as_deref(), Some("a=3"));
    }

    #[test]
    fn cookies_the_user_set_win_and_stay_in_one_header() {
        let jar = Jar::default();
        jar.store(&answer(&["a=from-server", "b=2"]));
        assert_eq!(
            cookie_line(&jar, Some("a=mine")).as_deref(),
            Some("a=mine; b=2")
        );
    }

    #[test]
    fn malformed_set_cookie_lines_are_skipped() {
        let jar = Jar::default();
        jar.store(&answer(&["no-equals-sign", "=nameless", "ok=1"]));
        assert_eq!(cookie_line(&jar, None).as_deref(), Some("ok=1"));
    }
}
