//! Tests of the machine through its public API, driven against a fake engine in memory
//! (`harness`). They live under `src/` so that proptest files its regressions in the crate's
//! `proptest-regressions/` directory.

mod auto;
mod connections;
mod delta;
mod harness;
mod malformed;
mod props;
mod replay;
mod rules;
mod time;

use qix_rpc::{Bytes, FrameError, Incoming, RawJson};

/// Decodes a frame the way the driver does: shared bytes, spans for the payloads.
pub(crate) fn decode(text: &str) -> Result<Incoming<RawJson>, FrameError> {
    qix_rpc::decode_shared(Bytes::copy_from_slice(text.as_bytes()))
}

/// A call as a caller encodes it.
pub(crate) fn encoded(method: &str, params: &serde_json::Value) -> qix_rpc::EncodedCall {
    qix_rpc::EncodedCall::new(method, params).expect("a plain method and array or object params")
}

/// A notification as the machine emits it (its params sharing a frame's bytes).
pub(crate) fn shared(notification: &qix_rpc::Notification) -> qix_rpc::Notification<RawJson> {
    qix_rpc::Notification {
        method: notification.method.clone(),
        params: RawJson::new(notification.params.get().to_owned()).expect("valid JSON"),
    }
}
