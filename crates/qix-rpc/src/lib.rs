//! The JSON-RPC 2.0 codec of the Qlik Associative Engine (QIX): requests with the QIX members
//! (`handle`, `delta`, extra protocol members) and engine frames classified as responses,
//! notifications or plain `change`/`close` messages.
//! It does no I/O and holds no state, so the client and the mock engine share one wire format.
//!
//! Take this crate alone when you drive QIX traffic over a transport of your own, write an
//! engine-side tool, or want to inspect captured frames.
//!
//! # Decoding what the engine sends
//!
//! ```
//! use qix_rpc::{decode, Incoming, ResponseBody};
//!
//! let frame = r#"{"jsonrpc":"2.0","id":1,"result":{"qReturn":{"qType":"Doc","qHandle":1}},"change":[1]}"#;
//! match decode(frame)? {
//!     Incoming::Response(response) => {
//!         assert_eq!(response.id, 1);
//!         assert_eq!(response.changes.change, vec![1]);
//!         // The result stays raw JSON until somebody asks for a type.
//!         let ResponseBody::Result(raw) = &response.body else { unreachable!() };
//!         assert_eq!(raw.get(), r#"{"qReturn":{"qType":"Doc","qHandle":1}}"#);
//!     }
//!     other => panic!("not a response: {other:?}"),
//! }
//! # Ok::<(), qix_rpc::DecodeError>(())
//! ```
//!
//! # Encoding a request
//!
//! ```
//! use qix_rpc::{Params, Request, GLOBAL_HANDLE};
//! use serde_json::json;
//!
//! let request = Request::new(1, GLOBAL_HANDLE, "OpenDoc", Params::new(json!(["my.qvf"]))?);
//! assert_eq!(
//!     request.encode(),
//!     r#"{"jsonrpc":"2.0","id":1,"handle":-1,"method":"OpenDoc","params":["my.qvf"]}"#
//! );
//! # Ok::<(), qix_rpc::ParamsError>(())
//! ```
//!
//! # Classification (Q-REQ-4)
//!
//! A frame with an `id` is a [`Response`]; one without an `id` but with `params` is a
//! [`Notification`]; anything else is a plain message whose `change`/`close` arrays still count
//! ([`Incoming::Message`]). Whether a response's id belongs to a pending request is the session's
//! question, not the codec's: a session treats a response to an unknown id as a plain message.
//! A frame with an `id` and `params` but neither `result` nor `error` is a notification. An `id`
//! or `params` that is JSON `null` counts as absent.

// Nothing that came off the wire may be unwrapped; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod call;
mod error;
mod incoming;
mod members;
mod request;
mod scan;

pub use bytes::Bytes;
pub use call::{EncodedCall, MethodError};
pub use error::{DecodeError, EngineError, ParamsError};
pub use incoming::{
    decode, decode_shared, Changes, FrameError, Incoming, Json, Notification, RawJson, Response,
    ResponseBody,
};
pub use members::{member, string};
pub use request::{Params, Request, RESERVED_MEMBERS};
pub use serde_json::value::RawValue;

/// A request id: chosen by the client, positive, unique within a session.
pub type RequestId = u64;

/// An engine object handle. `-1` is the Global object, the only handle that exists before any
/// call; the engine hands out the others.
pub type Handle = i32;

/// The handle of the Global object.
pub const GLOBAL_HANDLE: Handle = -1;
