//! URLs as they may be shown: in `Debug`, in errors, in logs (Q-AUTH-2).

/// `url` with its secrets replaced by `***`: the password of the userinfo, every query
/// parameter's value (`qlikTicket`, `token`, `xrfkey` ... and the rest, since which ones are
/// secret cannot be told from their names), and the fragment. Names, host, port and path stay,
/// so the URL still says where it points. Works on any text, URL or not: nothing is parsed
/// beyond the separators.
///
/// ```
/// assert_eq!(
///     qix_transport::redact_url("wss://sa:pw@qlik.example.com/app/x?qlikTicket=abc&reloadUri=y"),
///     "wss://sa:***@qlik.example.com/app/x?qlikTicket=***&reloadUri=***"
/// );
/// assert_eq!(qix_transport::redact_url("ws://127.0.0.1:9076/app/x"), "ws://127.0.0.1:9076/app/x");
/// ```
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (&url[..scheme.len() + 3], rest),
        None => ("", url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let mut shown = String::with_capacity(url.len());
    shown.push_str(scheme);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    shown.push_str(user);
                    shown.push_str(":***");
                }
                // A userinfo without a colon may be a token on its own.
                None => shown.push_str("***"),
            }
            shown.push('@');
            shown.push_str(host);
        }
        None => shown.push_str(authority),
    }
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (tail, None),
    };
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            shown.push_str(path);
            shown.push('?');
            for (index, pair) in query.split('&').enumerate() {
                if index > 0 {
                    shown.push('&');
                }
                match pair.split_once('=') {
                    Some((name, _)) => {
                        shown.push_str(name);
                        shown.push_str("=***");
                    }
                    None => shown.push_str(pair),
                }
            }
        }
        None => shown.push_str(before_fragment),
    }
    if let Some(fragment) = fragment {
        shown.push('#');
        if !fragment.is_empty() {
            shown.push_str("***");
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn q_auth_2_secrets_are_hidden_and_the_rest_kept() {
        let cases = [
            ("ws://h/app/x", "ws://h/app/x"),
            ("ws://h:1/app/x?", "ws://h:1/app/x?"),
            (
                "wss://u:p%40ss@h/p?a=1&b&c=",
                "wss://u:***@h/p?a=***&b&c=***",
            ),
            ("wss://token@h/p", "wss://***@h/p"),
            ("ws://h?qlikTicket=T#frag", "ws://h?qlikTicket=***#***"),
            ("not a url?x=secret", "not a url?x=***"),
            ("", ""),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }
}
