//! A mock Qlik Associative Engine (QIX): a WebSocket JSON-RPC server on 127.0.0.1 that keeps
//! engine sessions with TTL and reattach, apps with persistent and session objects, and answers
//! the core Global, Doc and GenericObject methods as the real engine puts them on the wire.
//! Tests steer it while a session runs: delay, hold, fail or cancel answers, push notifications,
//! close with any code or drop the TCP connection.
//!
//! Take this crate alone when you test code that talks to a QIX engine, in any language: it is
//! written against the wire protocol only and shares no logic with the qix client.
//!
//! # Example
//!
//! ```
//! use futures_util::{SinkExt, StreamExt};
//! use qix_mock::{MockApp, MockConfig, MockEngine};
//! use serde_json::{json, Value};
//! use tokio_tungstenite::tungstenite::Message;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = MockConfig::new()
//!     .app(MockApp::new("Sales.qvf").object("sheet-1", "sheet", json!({"title": "Overview"})));
//! let engine = MockEngine::start_with(config).await?;
//! println!("engine at {}", engine.app_url("Sales.qvf")); // ws://127.0.0.1:<port>/app/Sales.qvf
//!
//! // Any WebSocket client will do; here a raw one.
//! let (mut socket, _) = tokio_tungstenite::connect_async(engine.app_url("Sales.qvf")).await?;
//! let greeting = socket.next().await.ok_or("socket ended")??;
//! let greeting: Value = serde_json::from_str(greeting.to_text()?)?;
//! assert_eq!(greeting["params"]["qSessionState"], "SESSION_CREATED");
//!
//! let open = json!({"jsonrpc": "2.0", "id": 1, "handle": -1, "method": "OpenDoc", "params": ["Sales.qvf"]});
//! socket.send(Message::text(open.to_string())).await?;
//! let answer = socket.next().await.ok_or("socket ended")??;
//! let answer: Value = serde_json::from_str(answer.to_text()?)?;
//! assert_eq!(answer["result"]["qReturn"], json!({"qType": "Doc", "qHandle": 1, "qGenericId": "Sales.qvf"}));
//!
//! // The test's side of the same socket.
//! let connection = engine.next_connection().await;
//! assert_eq!(connection.requests()[0].method, "OpenDoc");
//! assert_eq!(connection.handle_of("Sales.qvf"), Some(1));
//! connection.close(4001, "idle").await;
//! # Ok(())
//! # }
//! ```
//!
//! Run it by hand with `cargo run -p qix-mock -- --port 9076` (see `--help`); the binary keeps
//! an engine session 30 s after its last socket unless told otherwise (`--ttl`), and serves
//! the apps of a seed file with `--seed FILE`.
//!
//! The engine runs as tasks on the tokio runtime that starts it (which needs I/O and time
//! enabled, as `#[tokio::test]` has). Under a paused clock (`start_paused`) its delays, TTLs and
//! timeouts follow that clock like the client's do.
//!
//! # The engine
//!
//! **URLs.** `/app/<app>[/identity/<id>][/ttl/<seconds>]`, segments percent-decoded, a query
//! string ignored. Any other path is refused with HTTP 404; a missing or wrong
//! [`required_header`](MockConfig::required_header) with 401;
//! [`set_handshake_rejection`](MockEngine::set_handshake_rejection) with its status.
//!
//! **Engine sessions** are keyed by (app, identity). Sockets with the same key share one
//! session. When its last socket ends, a session lives on for its TTL (the URL's, else
//! [`default_ttl`](MockConfig::default_ttl), zero by default, capped by
//! [`max_ttl`](MockConfig::max_ttl), 1800 s by default; the latest socket's TTL counts).
//! A socket that finds a live session is *attached* to it: its open doc and session objects are
//! still there. Handles belong to a socket and are numbered per session without reuse, so a
//! reattached socket gets new handles (`GetActiveDoc`, `GetObject` hand them out) and the old
//! numbers are invalid on it. Answers are never delivered on another socket than the
//! request's; request ids are taken as they come (they may repeat or restart).
//!
//! **`OnConnected`** `{"qSessionState": "SESSION_CREATED" | "SESSION_ATTACHED"}` is the first
//! frame, unless [`OnConnected`] says to delay it, omit it or send another state.
//!
//! **Apps** are engine-wide storage: persistent objects (seeded with [`MockApp`] or created
//! with `CreateObject`, `CreateDimension`, ...) outlive sessions; session objects
//! (`CreateSessionObject`) live in their engine session. `OpenDoc` of an app never seeded
//! creates it empty (see [`open_unknown_apps`](MockConfig::open_unknown_apps)). A session app
//! (`CreateSessionApp`) keeps all its objects in the session.
//!
//! **Methods.** Params may come by position (array) or by name (object), with the engine's
//! names (`qDocName`, `qProp`, `qId`, `qFieldName`, `qRequestId`).
//!
//! | Handle | Method | Answer |
//! |---|---|---|
//! | Global (-1) | `EngineVersion` | `{"qVersion":{"qComponentVersion":..}}` |
//! | | `ProductVersion` | `{"qReturn":..}` |
//! | | `GetDocList` | `{"qDocList":[..]}`: a `DocListEntry` per app the engine stores (`qDocName`, `qDocId`, `qTitle` = the app id) |
//! | | `OpenDoc(qDocName)` | `{"qReturn":{"qType":"Doc","qHandle":H,"qGenericId":app}}`; the open doc again gives the same handle; another app while one is open: error 1002 |
//! | | `GetActiveDoc` | as `OpenDoc`; with no doc open: error **1007** "App invalid" |
//! | | `CreateSessionApp` | `qReturn` as `OpenDoc` plus `qSessionAppId` (`SessionApp_<n>`) |
//! | | `CancelRequest(qRequestId)`, `AbortRequest(qRequestId)`, `AbortAll` | `{}`; a named request whose answer is still delayed or held is answered with error 15 "Request aborted" instead |
//! | Doc | `CreateObject(qProp)`, `CreateSessionObject(qProp)` | `{"qReturn":{"qType":"GenericObject","qHandle":H,"qGenericType":qInfo.qType,"qGenericId":qId}}`; `qInfo.qType` required, `qInfo.qId` generated (`mock-<n>`) when missing, an id in use: error 3 |
//! | | `CreateDimension`, `CreateMeasure`, `CreateBookmark`, `CreateVariableEx` (`qProp`) | the same with `GenericDimension`, `GenericMeasure`, `GenericBookmark`, `GenericVariable` |
//! | | `GetObject`, `GetDimension`, `GetMeasure`, `GetBookmark`, `GetVariableById` (`qId`) | the same; a missing object: `{"qReturn":{"qHandle":null,"qType":null}}` (the engine's quirk: not an error) |
//! | | `GetAppLayout` | `{"qLayout":{"qTitle":app,"qFileName":app,"qLocaleInfo":{..},"qIsSessionApp":..,..}}` |
//! | | `GetAllInfos` | `{"qInfos":[{"qId","qType"}..]}`: every object, dimension, measure, bookmark and variable, session objects included |
//! | | `GetObjects(qOptions)` | `{"qList":[{"qInfo","qMeta","qData"}..]}`: the generic objects whose type is in `qTypes` (all when empty), session objects with `qIncludeSessionObjects`; `qMeta` is the object's `qMetaDef`, `qData` the `qOptions.qData` members with `"/path"` strings read from the properties |
//! | | `GetField(qFieldName)` | `{"qReturn":{"qType":"Field","qHandle":H}}` for a seeded field, else the null `qReturn`; a Field handle answers -32601 to every method |
//! | | `DestroySessionObject`, `DestroyObject`, `DestroyDimension`, `DestroyMeasure`, `DestroyBookmark`, `DestroyVariableById` (`qId`) | `{"qSuccess":true}` with the destroyed handle in the response's `close` array (`false` if there was no such object) |
//! | Generic* | `GetLayout` | `{"qLayout":<properties>}` with `qInfo`, `qSelectionInfo: {}`, `qMeta` (the `qMetaDef` members, which leave), and `qChildList: {"qItems":[{"qInfo","qData"}..]}` in place of a `qChildListDef` (its `qData` filled as for `GetObjects`) |
//! | | `GetChildInfos`, `GetChild(qId)` | the children seeded with [`MockApp::child`]: `{"qInfos":[..]}`; a handle as `GetObject` |
//! | | `GetProperties`, `GetInfo` | `{"qProp":..}`, `{"qInfo":..}` |
//! | | `SetProperties(qProp)` | `{}` with the object's handle in the response's `change` array; `qInfo.qId` stays |
//!
//! Other sockets holding a handle on an object that changed or was destroyed receive an id-less
//! `{"change":[H]}` / `{"close":[H]}` message, as the engine pushes them.
//!
//! **Errors** (`{"code","parameter","message"}`): an unknown method (also a method of another
//! class) -32601 "Method does not exist"; missing or ill-typed params -32602 "Invalid method
//! parameter(s)" naming the param; a handle this socket does not hold -32602 with parameter
//! "Invalid handle" (the real engine's code is not documented; change it with
//! [`invalid_handle_code`](MockConfig::invalid_handle_code)); text that is not JSON, or a
//! binary frame, -32700 with `"id": null`; JSON that is not a valid request -32600 with the
//! request's `id` when it is a number or string, else `null`. A request without `id` is a
//! notification and gets no answer. None of these end the socket; a message over
//! [`max_message_size`](MockConfig::max_message_size) does.
//!
//! **Delta.** A request with `"delta": true` that succeeds is answered with `"delta": true` and
//! each member of its result as a list of JSON patches against the previous answer this socket
//! got for the same handle, method and member: the first is the whole value
//! (`[{"op":"add","path":"/","value":..}]`), later ones the differences (the `json-patch`
//! crate's diff), `[]` when nothing changed. The patches are made when the answer is written, in
//! the order answers go out (a delayed answer's too). A handle's baselines go when it appears in
//! a `close` array on its socket; [`MockConnection::delta_baselines`] counts them. Change a
//! layout between calls with `SetProperties`.
//!
//! **Not modelled:** selections, hypercubes, reloads.
//!
//! # Seed files
//!
//! [`MockConfig::seed_json`] (and the binary's `--seed FILE`) reads apps from JSON: `apps` maps
//! each app id to what it holds. `objects` maps an object id to its generic `type` and its
//! `properties`; `dimensions`, `measures`, `bookmarks` and `variables` map an id to the
//! properties; `fields` lists field names. Every part is optional; unknown keys are refused.
//! The same as [`MockApp`] calls, with `qInfo` set the same way. `examples/seed.json`:
//!
//! ```json
//! {
//!   "apps": {
//!     "Sales.qvf": {
//!       "objects": { "sheet-1": { "type": "sheet", "properties": { "title": "Overview" } } },
//!       "dimensions": { "dim-country": { "qDim": { "qFieldDefs": ["Country"] } } },
//!       "measures": { "m-total": { "qMeasure": { "qDef": "Sum(Amount)" } } },
//!       "bookmarks": { "bm-q1": { "qMetaDef": { "title": "Q1" } } },
//!       "variables": { "v-year": { "qName": "vYear", "qDefinition": "2024" } },
//!       "fields": ["Country", "Amount"]
//!     },
//!     "engineData": {}
//!   }
//! }
//! ```
//!
//! # Controls
//!
//! On the engine ([`MockEngine`]): [`next_connection`](MockEngine::next_connection),
//! [`set_on_connected`](MockEngine::set_on_connected),
//! [`forget_sessions`](MockEngine::forget_sessions),
//! [`delay_method`](MockEngine::delay_method), [`fail_method`](MockEngine::fail_method),
//! [`abort_method`](MockEngine::abort_method) (the next K calls answer error 15),
//! [`set_handshake_rejection`](MockEngine::set_handshake_rejection), counters and app storage.
//! On one socket ([`MockConnection`]): push notifications, changes or raw frames, close with a
//! code, drop the TCP connection, hold or delay answers, read the requests received, wait for
//! a request or for the end of the socket.

// Nothing that came off the wire may be unwrapped; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod config;
mod connection;
mod delta;
mod engine;
mod seed;
mod state;
mod url;

pub use config::{MockApp, MockConfig, OnConnected, SessionState};
pub use connection::MockConnection;
pub use engine::MockEngine;
pub use qix_rpc::{EngineError, Handle, Request};
pub use seed::SeedError;

/// Error codes the mock answers with, named as in the engine's `LocalizedErrorCode` list.
pub mod codes {
    /// `LOCERR_GENERIC_ALREADY_EXISTS`: a `Create*` with a `qId` already in use.
    pub const ALREADY_EXISTS: i32 = 3;
    /// `LOCERR_GENERIC_ABORTED`: the answer to a request cancelled while held or delayed, or
    /// told to abort with [`MockEngine::abort_method`](crate::MockEngine::abort_method).
    pub const ABORTED: i32 = 15;
    /// `LOCERR_APP_ALREADY_OPEN`: `OpenDoc` of another app, or `CreateSessionApp`, while a doc
    /// is open in the session.
    pub const APP_ALREADY_OPEN: i32 = 1002;
    /// `LOCERR_APP_NOT_FOUND`: `OpenDoc` of an unknown app with `open_unknown_apps(false)`.
    pub const APP_NOT_FOUND: i32 = 1003;
    /// `LOCERR_APP_INVALID`: `GetActiveDoc` with no doc open in the session.
    pub const NO_ACTIVE_DOC: i32 = 1007;
    /// `LOCERR_JSON_RPC_INVALID_REQUEST`: JSON that is not a valid request.
    pub const INVALID_REQUEST: i32 = -32600;
    /// `LOCERR_JSON_RPC_METHOD_NOT_FOUND`: unknown method, or a method of another class.
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// `LOCERR_JSON_RPC_INVALID_PARAMETERS`: missing or ill-typed params; also the default
    /// code for an unknown or closed handle.
    pub const INVALID_PARAMETERS: i32 = -32602;
    /// `LOCERR_JSON_RPC_PARSE_ERROR`: a frame that is not JSON (or is binary).
    pub const PARSE_ERROR: i32 = -32700;
}
