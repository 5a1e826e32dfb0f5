//! A Rust client for the Qlik Associative Engine (QIX) JSON-RPC API, with the session
//! semantics of enigma.js: open, close, suspend and resume, and the events `opened`, `closed`,
//! `notification:*`, `socket-error`, `suspended`, `resumed` and `traffic:*`.
//!
//! Take this crate when you want a working session; take its parts alone (see "The crates")
//! when you need only one of them.
//!
//! # Quick start
//!
//! A complete program, against the mock engine of `qix-mock` started in the same process (for
//! your engine, give its URL instead: `wss://host/app/<app id>`):
//!
//! ```
//! use futures_util::StreamExt;
//! use qix::{Initiator, SessionEvent};
//! use serde_json::json;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let engine = qix_mock::MockEngine::start().await?;
//!     let url = engine.url("/app/my.qvf/ttl/30"); // the engine session outlives a suspend
//!
//!     let session = qix::Session::builder(url).build()?;           // connects nothing yet
//!     let mut suspended = session.subscribe("suspended")?;
//!     let global = session.open().await?;                           // handle -1
//!     let version = global.call("EngineVersion", json!([])).await?; // the response's `result`
//!     println!("engine {}", version["qVersion"]["qComponentVersion"]);
//!     let doc = global.call_object("OpenDoc", json!(["my.qvf"])).await?;
//!     let sheet = doc
//!         .call_object("CreateSessionObject", json!([{"qInfo": {"qType": "sheet"}}]))
//!         .await?;
//!     session.suspend().await?;                                     // socket closed, objects kept
//!     let event = suspended.next().await;
//!     assert!(matches!(event, Some(SessionEvent::Suspended { initiator: Initiator::Manual, .. })));
//!     session.resume(true).await?;                                  // re-attached, objects restored
//!     let layout = sheet.call("GetLayout", json!([])).await?;       // same Object, new handle
//!     println!("{layout}");
//!     session.close().await?;
//!     Ok(())
//! }
//! ```
//!
//! `cargo run --example tour` walks through every event with output you can read.
//!
//! # The crates
//!
//! | crate | what it is | take it alone when |
//! |---|---|---|
//! | `qix` | this facade: a tokio driver, [`Session`], [`Object`], [`Error`] | you want a session |
//! | [`qix_session`] | the session rules as a pure state machine, no I/O, no clock | you drive sessions from another runtime or test rules without sockets |
//! | [`qix_transport`] | the [`Transport`](qix_transport::Transport) traits, a WebSocket and an in-memory transport | you write your own transport or need exact close codes |
//! | [`qix_rpc`] | the JSON-RPC codec with the QIX members | you read or write QIX frames yourself |
//! | [`qix_events`] | topic-based event bus with bounded queues | you need enigma.js-style topics elsewhere |
//! | `qix-mock` | a mock engine on 127.0.0.1 | you test code that talks to an engine |
//!
//! # Real deployments
//!
//! The builder reaches engines the way production networks need:
//! - `wss://` checks the certificate and host name and sends SNI; add a CA with
//!   [`add_root_certificate_pem`](SessionBuilder::add_root_certificate_pem) or `_der`, pick the
//!   root store with [`tls_roots`](SessionBuilder::tls_roots) ([`TlsRoots`], read once per
//!   process), present a client certificate with
//!   [`client_certificate_pem`](SessionBuilder::client_certificate_pem) or
//!   `client_certificate_pkcs12` (Qlik Sense Enterprise on Windows, port 4747, with an
//!   `X-Qlik-User` header), or hand in a whole `rustls::ClientConfig` with `tls_config`. Only
//!   [`danger_accept_invalid_certs`](SessionBuilder::danger_accept_invalid_certs) turns
//!   checking off, and it is logged as a warning.
//! - [`proxy`](SessionBuilder::proxy) tunnels through an HTTP proxy with `CONNECT`;
//!   [`proxy_from_env`](SessionBuilder::proxy_from_env) reads `HTTPS_PROXY`, `HTTP_PROXY` and
//!   `NO_PROXY`.
//! - [`reuse_cookies`](SessionBuilder::reuse_cookies) sends the cookies a handshake set back on
//!   the next connect (a resume).
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `websocket` | yes | the WebSocket transport and the builder's URL, header, TLS and proxy settings; without it, give a transport with [`SessionBuilder::transport`] (no TLS stack is compiled) |
//! | `rustls-ring` | yes | `wss://` on rustls with the ring provider |
//! | `rustls-aws-lc` | no | `wss://` on rustls with aws-lc-rs (needs cmake); ring wins when both are on |
//! | `webpki-roots` | yes | Mozilla's roots compiled in ([`TlsRoots::WebPki`]) |
//! | `native-roots` | no | the system's certificate store ([`TlsRoots::Native`]) |
//! | `pkcs12` | yes | client certificates from `.pfx`/`.p12` files |
//!
//! # Cancel safety
//!
//! Dropping an [`Object::call`] future does not cancel a request the session already took: it
//! is written (or waits its turn to be) and its response is discarded. Dropping an `open`,
//! `close`, `suspend` or `resume` future does not stop the operation either; it completes in the
//! session's driver task.
//!
//! # Backpressure
//!
//! When the engine reads more slowly than calls are made, at most 256 frames wait to be written;
//! further calls wait for room (their futures stay pending) instead of growing a queue. `close`,
//! `suspend` and `resume` never wait behind calls.
//!
//! # Where qix differs from enigma.js
//!
//! Every rule a session follows, with its id (Q-OPEN-1, Q-REQ-4, ...), is written down in the
//! project's [behaviour document](https://github.com/qix-rs/qix/blob/main/docs/behaviour.md)
//! (`docs/behaviour.md`); tests are named after the ids. In short:
//!
//! - A server close with 1000 or 4000 (or any code) emits `closed`, or `suspended` with
//!   `suspend_on_close`; enigma.js stays silent and leaves a dead session (Q-CLOSE-2).
//! - A failed `open` is not remembered: `open` again retries; `open` never hangs (Q-OPEN-2).
//! - `open` after `close` connects afresh (Q-OPEN-3); `close` on a session that is not open
//!   resolves at once (Q-CLOSE-1); `close` on a suspended session closes it for good (Q-CLOSE-3).
//! - A frame that is not JSON emits `socket-error` and is dropped; the session goes on (Q-REQ-6).
//! - A panicking listener or a slow subscriber never holds back responses; subscribers are
//!   bounded and told how many events they missed (Q-REQ-7).
//! - The `OnConnected` wait of `resume` is configurable ([`SessionBuilder::on_connected_timeout`]);
//!   `resume` on a session that is not suspended fails and opens nothing; an `OnConnected` error
//!   state fails `resume` with that state (Q-RES-1, Q-RES-2).
//! - [Interceptors](intercept) run in the caller's task; after a retry, the interceptors past
//!   the one that asked see only the final outcome, once (Q-INT-4). Calls a network drop
//!   interrupted can be replayed after an automatic resume, only when they read; the others
//!   fail with [`Error::Interrupted`] (Q-RETRY-1).

// Nothing that came off the wire may be unwrapped; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod builder;
mod driver;
mod error;
mod event;
mod events;
pub mod intercept;
mod object;
mod session;
mod shared;
mod traces;
mod wake;

pub use builder::SessionBuilder;
pub use error::{EngineCode, EngineError, Error, TransportError};
pub use event::{CloseEvent, Direction, Initiator, ObjectEvent, SessionEvent, Traffic};
pub use object::Object;
pub use qix_events::ListenerGuard;
pub use qix_rpc::{Handle, RawJson};
pub use qix_session::{AutoResume, Backoff, EngineSession, Liveness, NotConnectedReason, State};
#[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
pub use qix_transport::rustls;
#[cfg(feature = "websocket")]
pub use qix_transport::TlsRoots;
pub use qix_transport::{CredentialProvider, Credentials, Handshake};
pub use session::{EventStream, Session};
pub use shared::SharedResult;

pub use {qix_delta, qix_events, qix_rpc, qix_session, qix_transport};

/// `Session` and `Object` are promised to be usable from many tasks at once.
const _: fn() = || {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Session>();
    shareable::<Object>();
    shareable::<Error>();
    shareable::<SessionEvent>();
};
