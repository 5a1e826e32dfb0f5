//! Every variant of [`Error`] walked through `Display`, `source()` and the codes: the match in
//! `expected` has no wildcard, so a variant added without its line here does not compile.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use qix_rpc::{DecodeError, EncodedCall, EngineError};
use qix_session::{NotConnectedReason, State};

use super::{EngineCode, Error, TransportError};
use crate::CloseEvent;

/// What a variant must say and answer.
#[derive(Debug, PartialEq)]
struct Expected {
    /// A piece of its `Display`.
    shows: &'static str,
    /// Whether it keeps a cause in `source()`.
    source: bool,
    enigma_code: Option<i32>,
    engine_code: Option<EngineCode>,
    disconnect: bool,
    retryable: bool,
}

const fn expect(
    shows: &'static str,
    source: bool,
    enigma_code: Option<i32>,
    disconnect: bool,
    retryable: bool,
) -> Expected {
    Expected {
        shows,
        source,
        enigma_code,
        engine_code: None,
        disconnect,
        retryable,
    }
}

/// The table, one arm per variant and no wildcard.
fn expected(error: &Error) -> Expected {
    match error {
        Error::NotConnected { close, .. } => match close.as_ref().map(|c| c.code) {
            Some(4001) => expect("Socket closed (code 4001", false, Some(-1), true, false),
            _ => expect("Socket closed (code 1006", false, Some(-1), true, true),
        },
        Error::ObjectNotFound => expect("Object not found", false, Some(-2), false, false),
        Error::SessionSuspended => expect("Session suspended", false, Some(-11), false, false),
        Error::SessionNotAttached => expect("SESSION_CREATED", false, Some(-12), false, false),
        Error::Engine(_) => Expected {
            engine_code: Some(EngineCode::GenericAborted),
            ..expect("aborted by the test", false, None, false, true)
        },
        Error::Transport(_) => expect("could not connect to", true, Some(-1), true, true),
        Error::Protocol(_) => expect("bad frame from the engine", true, None, false, false),
        Error::SessionState { .. } => expect("SESSION_ERROR_NO_LICENSE", false, None, false, false),
        Error::Timeout { .. } => expect("GetLayout (request 7)", false, None, false, true),
        Error::ResumeTimeout(_) => expect("resume did not finish", false, None, false, true),
        Error::InvalidState { .. } => expect("cannot resume", false, None, false, false),
        Error::ObjectClosed => expect("object was closed", false, None, false, false),
        Error::BadResponse(_) => expect("no qReturn", false, None, false, false),
        Error::InvalidParams(_) => expect("invalid params", true, None, false, false),
        Error::InvalidCall(_) => expect("invalid method name", true, None, false, false),
        Error::BadFrame(_) => expect("malformed", true, None, false, false),
        Error::ResultType(_) => expect("requested type", true, None, false, false),
        Error::UnknownTopic { .. } => expect("unknown topic \"nope\"", false, None, false, false),
        Error::InvalidClose(_) => expect("invalid close", false, None, false, false),
        Error::Config(_) => expect("event_capacity", false, None, false, false),
        Error::InvalidSetting(_) => expect("invalid transport setting", true, None, false, false),
        Error::SessionGone => expect("driver task has stopped", false, Some(-1), true, false),
        Error::NoRuntime => expect("no tokio runtime", false, None, false, false),
        Error::Listener(_) => expect("listener", true, None, false, false),
        Error::ExpectedArrayOfPatches(_) => {
            expect("Expected array of patches", true, Some(-3), false, false)
        }
        Error::PatchHasNoParent(_) => expect("Patch has no parent", true, Some(-4), false, false),
        Error::Refused(_) => expect("refused by an interceptor", false, None, false, false),
        Error::Interrupted { .. } => {
            expect("may or may not have run", false, Some(-1), true, false)
        }
    }
}

/// How many variants `expected` has arms for; each needs a sample below.
const VARIANTS: usize = 28;

fn samples() -> Vec<Error> {
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    vec![
        Error::NotConnected {
            reason: NotConnectedReason::SocketClosed,
            close: Some(CloseEvent::new(1006, "")),
        },
        Error::NotConnected {
            reason: NotConnectedReason::SocketClosed,
            close: Some(CloseEvent::new(4001, "idle")),
        },
        Error::ObjectNotFound,
        Error::SessionSuspended,
        Error::SessionNotAttached,
        Error::Engine(EngineError {
            code: 15,
            parameter: String::new(),
            message: "aborted by the test".to_owned(),
        }),
        Error::Transport(Arc::new(TransportError::Connect {
            addr: "127.0.0.1:1".to_owned(),
            source: io,
        })),
        Error::Protocol(DecodeError::NotUtf8),
        Error::SessionState {
            state: "SESSION_ERROR_NO_LICENSE".to_owned(),
        },
        Error::Timeout {
            method: "GetLayout".to_owned(),
            request: 7,
            elapsed: Duration::from_secs(3),
        },
        Error::ResumeTimeout(Duration::from_secs(30)),
        Error::InvalidState {
            operation: "resume",
            state: State::Open,
        },
        Error::ObjectClosed,
        Error::BadResponse("no qReturn".to_owned()),
        Error::from(EncodedCall::new("GetLayout", &5).unwrap_err()),
        Error::from(EncodedCall::new("Get\"Layout", &[0; 0]).unwrap_err()),
        Error::BadFrame(DecodeError::NotUtf8),
        Error::ResultType(Arc::new(serde_json::from_str::<u8>("\"x\"").unwrap_err())),
        Error::UnknownTopic {
            topic: "nope".to_owned(),
            known: &["opened"],
        },
        Error::InvalidClose("code 1005 may not be sent".to_owned()),
        Error::Config("event_capacity must be at least 1".to_owned()),
        Error::InvalidSetting(Arc::new(TransportError::InvalidSetting {
            setting: "max_message_size",
            reason: "must be at least 1 byte".to_owned(),
        })),
        Error::SessionGone,
        Error::NoRuntime,
        Error::Listener(qix_events::ListenError::Thread {
            reason: "no threads left".to_owned(),
        }),
        Error::ExpectedArrayOfPatches(qix_delta::Error::ExpectedArrayOfPatches {
            member: Some("qLayout".to_owned()),
            found: "an object",
        }),
        Error::PatchHasNoParent(qix_delta::Error::Patch {
            member: Some("qLayout".to_owned()),
            error: Box::new(
                qix_delta::apply(
                    &mut serde_json::json!({}),
                    qix_delta::parse_patches(r#"[{"op":"add","path":"/a/b","value":1}]"#).unwrap(),
                )
                .unwrap_err(),
            ),
        }),
        Error::Refused("read-only session".to_owned()),
        Error::Interrupted {
            method: "SelectValues".to_owned(),
            close: CloseEvent::new(1006, ""),
        },
    ]
}

#[test]
fn every_error_variant_says_what_happened_keeps_its_cause_and_answers_its_codes() {
    let samples = samples();
    let variants: std::collections::HashSet<_> =
        samples.iter().map(std::mem::discriminant).collect();
    assert_eq!(variants.len(), VARIANTS, "a variant without a sample");
    for error in &samples {
        let expected = expected(error);
        let shown = error.to_string();
        assert!(
            shown.contains(expected.shows),
            "{error:?} shows {shown:?}, not {:?}",
            expected.shows
        );
        let found = Expected {
            shows: expected.shows,
            source: error.source().is_some(),
            enigma_code: error.enigma_code(),
            engine_code: error.engine_code(),
            disconnect: error.is_disconnect(),
            retryable: error.is_retryable(),
        };
        assert_eq!(found, expected, "{error:?}");
        // `code()` is the enigma.js code, else the engine's: never both, never made up.
        assert_eq!(
            error.code(),
            expected.enigma_code.or(expected.engine_code.map(i32::from)),
            "{error:?}"
        );
        // A cause is kept whole: the transport's own error, down to the OS's.
        if let Some(source) = error.source() {
            assert!(!source.to_string().is_empty(), "{error:?}");
        }
    }
    let transport = samples
        .iter()
        .find(|error| matches!(error, Error::Transport(_)))
        .unwrap();
    let mut chain = Vec::new();
    let mut cause = transport.source();
    while let Some(error) = cause {
        chain.push(error.to_string());
        cause = error.source();
    }
    assert_eq!(
        chain,
        ["could not connect to 127.0.0.1:1: refused", "refused"]
    );
}
