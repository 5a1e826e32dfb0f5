//! The frames the bench engine sends and what the clients check in them. The server and every
//! client take their text from here (the enigma.js client gets the checks on its command line),
//! so all clients send the same requests and expect the same answers.

use std::fmt::Write as _;

/// What `EngineVersion` answers in `qVersion.qComponentVersion`.
pub const ENGINE_VERSION: &str = "12.2015.0";

/// The method whose result is the large payload: a real Global method that can return a lot.
pub const BIG_METHOD: &str = "GetDocList";

/// The smallest size of the large result (`{"qDocList":[...]}`), in bytes.
pub const BIG_MIN_BYTES: usize = 1 << 20;

/// The app every `OpenDoc` opens and every `GetActiveDoc` returns.
pub const DOC_NAME: &str = "bench.qvf";

/// The Doc's handle in `OpenDoc` and `GetActiveDoc` answers.
pub const DOC_HANDLE: i32 = 1;

/// The query that makes the engine greet a socket with `SESSION_ATTACHED` (what a resume
/// expects) instead of `SESSION_CREATED`.
pub const ATTACHED_QUERY: &str = "attached";

/// The URL a suspend/resume workload uses: `url` with [`ATTACHED_QUERY`].
pub fn attached_url(url: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{ATTACHED_QUERY}")
}

/// A request as every client writes it (qix writes the same members in the same order).
pub fn request(id: u64, handle: i32, method: &str, params: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"handle":{handle},"method":"{method}","params":{params}}}"#
    )
}

/// The same request asking for a delta answer (`"delta":true` after `params`, where qix and
/// enigma.js write it).
pub fn delta_request(id: u64, handle: i32, method: &str, params: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"handle":{handle},"method":"{method}","params":{params},"delta":true}}"#
    )
}

/// The generic object whose `GetLayout` is the 1 MB layout of the (h) workloads.
pub const LAYOUT_OBJECT: &str = "bench-chart";

/// Its handle in the `GetObject` answer.
pub const LAYOUT_HANDLE: i32 = 2;

/// How the bench engine answers `GetLayout` requests that ask for delta, chosen by the URL's
/// query (`layout=unchanged`; anything else is `Full`). The first answer on a socket is always
/// the whole layout at `/`, as an engine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutMode {
    /// Every answer is the whole layout at `/`: what a layout that changes everywhere costs.
    Full,
    /// After the first, every answer is `[]`: unchanged.
    Unchanged,
}

impl LayoutMode {
    /// The query member that selects it.
    pub fn query(self) -> &'static str {
        match self {
            Self::Full => "layout=full",
            Self::Unchanged => "layout=unchanged",
        }
    }

    /// The mode a URL query asks for.
    pub fn from_query(query: Option<&str>) -> Self {
        match query {
            Some(query) if query.split('&').any(|part| part == Self::Unchanged.query()) => {
                Self::Unchanged
            }
            _ => Self::Full,
        }
    }
}

/// `url` with the query member of `mode`.
pub fn layout_url(url: &str, mode: LayoutMode) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{}", mode.query())
}

/// The result of `GetObject`: the generic object on [`LAYOUT_HANDLE`].
pub fn object_result() -> String {
    format!(
        r#"{{"qReturn":{{"qType":"GenericObject","qHandle":{LAYOUT_HANDLE},"qGenericId":"{LAYOUT_OBJECT}","qGenericType":"table"}}}}"#
    )
}

/// The `GetLayout` results: plain, as a delta answer with the whole value, and unchanged.
/// The layout is [`BigResult`]'s object.
pub fn layout_results(big: &BigResult) -> [String; 3] {
    [
        format!(r#"{{"qLayout":{}}}"#, big.json),
        format!(
            r#"{{"qLayout":[{{"op":"add","path":"/","value":{}}}]}}"#,
            big.json
        ),
        r#"{"qLayout":[]}"#.to_owned(),
    ]
}

/// A delta response frame: `{"jsonrpc":"2.0","id":<id>,"delta":true,"result":<patches>}`.
pub fn delta_response(id: &str, result: &str) -> String {
    let mut frame = String::with_capacity(result.len() + id.len() + 48);
    frame.push_str(r#"{"jsonrpc":"2.0","id":"#);
    frame.push_str(id);
    frame.push_str(r#","delta":true,"result":"#);
    frame.push_str(result);
    frame.push('}');
    frame
}

/// The `OnConnected` notification a socket gets first.
pub fn on_connected(attached: bool) -> String {
    let state = if attached {
        "SESSION_ATTACHED"
    } else {
        "SESSION_CREATED"
    };
    format!(r#"{{"jsonrpc":"2.0","method":"OnConnected","params":{{"qSessionState":"{state}"}}}}"#)
}

/// The result of `EngineVersion`.
pub fn engine_version_result() -> String {
    format!(r#"{{"qVersion":{{"qComponentVersion":"{ENGINE_VERSION}"}}}}"#)
}

/// The result of `OpenDoc` and `GetActiveDoc`.
pub fn doc_result() -> String {
    format!(r#"{{"qReturn":{{"qType":"Doc","qHandle":{DOC_HANDLE},"qGenericId":"{DOC_NAME}"}}}}"#)
}

/// The large result: a `GetDocList` answer of [`BIG_MIN_BYTES`] or a little more, with entries
/// shaped like an engine's (strings, numbers, booleans, nested objects), always the same.
#[derive(Debug, Clone)]
pub struct BigResult {
    /// The result's JSON text.
    pub json: String,
    /// How many entries `qDocList` has.
    pub docs: usize,
}

impl BigResult {
    /// Builds the result.
    pub fn new() -> Self {
        let mut json = String::with_capacity(BIG_MIN_BYTES + 1024);
        json.push_str(r#"{"qDocList":["#);
        let mut docs = 0;
        while json.len() < BIG_MIN_BYTES {
            if docs > 0 {
                json.push(',');
            }
            let day = docs % 28 + 1;
            let _ = write!(
                json,
                concat!(
                    r#"{{"qDocName":"Sales analysis {n:05}.qvf","qConnectedUsers":{users},"#,
                    r#""qFileTime":{time}.5,"qFileSize":{size},"#,
                    r#""qDocId":"5d0f6c4e-{n:04x}-4a6b-9c1e-{n:012x}","#,
                    r#""qMeta":{{"createdDate":"2024-03-{day:02}T08:15:00.000Z","#,
                    r#""modifiedDate":"2024-04-{day:02}T17:45:30.000Z","published":{published},"#,
                    r#""stream":{{"id":"aaec8d41-5201-43ab-809f-3063750dfafd","name":"Everyone"}},"#,
                    r#""description":"Quarterly figures by region and product line, {n}"}},"#,
                    r#""qLastReloadTime":"2024-04-{day:02}T06:00:00.000Z","qReadOnly":false,"#,
                    r#""qTitle":"Sales analysis {n}","qThumbnail":{{"qUrl":""}}}}"#
                ),
                n = docs,
                users = docs % 7,
                time = 45000 + docs,
                size = 1_000_000 + docs * 37,
                day = day,
                published = docs % 2 == 0,
            );
            docs += 1;
        }
        json.push_str("]}");
        Self { json, docs }
    }
}

impl Default for BigResult {
    fn default() -> Self {
        Self::new()
    }
}

/// A response frame: `{"jsonrpc":"2.0","id":<id>,"result":<result>}`, `id` as the request wrote
/// it.
pub fn response(id: &str, result: &str) -> String {
    let mut frame = String::with_capacity(result.len() + id.len() + 32);
    frame.push_str(r#"{"jsonrpc":"2.0","id":"#);
    frame.push_str(id);
    frame.push_str(r#","result":"#);
    frame.push_str(result);
    frame.push('}');
    frame
}

/// The error response to a method the bench engine does not know.
pub fn unknown_method(id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32601,"parameter":"","message":"Method not found"}}}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_big_result_is_json_of_at_least_a_megabyte() {
        let big = BigResult::new();
        assert!(big.json.len() >= BIG_MIN_BYTES);
        let value: serde_json::Value = serde_json::from_str(&big.json).unwrap();
        assert_eq!(value["qDocList"].as_array().unwrap().len(), big.docs);
    }

    #[test]
    fn frames_are_json() {
        for frame in [
            request(7, -1, "EngineVersion", "[]"),
            on_connected(true),
            response("7", &engine_version_result()),
            response("8", &doc_result()),
            response("8", &object_result()),
            delta_request(3, 2, "GetLayout", "[]"),
            delta_response("4", &layout_results(&BigResult::new())[1]),
            unknown_method("9"),
        ] {
            serde_json::from_str::<serde_json::Value>(&frame).unwrap();
        }
    }

    #[test]
    fn the_layout_mode_comes_from_the_query() {
        let url = layout_url("ws://h/app/x", LayoutMode::Unchanged);
        assert_eq!(url, "ws://h/app/x?layout=unchanged");
        assert_eq!(
            LayoutMode::from_query(url.split_once('?').map(|(_, q)| q)),
            LayoutMode::Unchanged
        );
        assert_eq!(LayoutMode::from_query(Some("attached")), LayoutMode::Full);
        assert_eq!(LayoutMode::from_query(None), LayoutMode::Full);
    }

    #[test]
    fn attached_url_adds_the_query() {
        assert_eq!(attached_url("ws://h/app/x"), "ws://h/app/x?attached");
        assert_eq!(
            attached_url("ws://h/app/x?a=1"),
            "ws://h/app/x?a=1&attached"
        );
    }
}
