//! Close events and the rules for what a close frame may carry.

use std::fmt;

use crate::TransportError;

/// How a connection ended: a close code and its reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CloseEvent {
    /// The close code (RFC 6455 section 7.4), for example 1000, 4000 or
    /// [`CloseEvent::ABNORMAL`].
    pub code: u16,
    /// The reason text; empty when none was given.
    pub reason: String,
}

impl CloseEvent {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The peer broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// The peer sent a close frame without a status code (never sent on the wire).
    pub const NO_STATUS: u16 = 1005;
    /// The connection ended without a close frame (never sent on the wire).
    pub const ABNORMAL: u16 = 1006;
    /// A text message was not valid UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A message was larger than the receiver accepts.
    pub const MESSAGE_TOO_BIG: u16 = 1009;

    /// A close event with this code and reason.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        CloseEvent {
            code,
            reason: reason.into(),
        }
    }

    /// `1006` with an empty reason: the connection ended without a close frame.
    pub fn abnormal() -> Self {
        CloseEvent::new(Self::ABNORMAL, "")
    }

    /// `true` when the connection ended without a close frame (code 1006).
    pub fn is_abnormal(&self) -> bool {
        self.code == Self::ABNORMAL
    }
}

impl fmt::Display for CloseEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "close code {}", self.code)
        } else {
            write!(f, "close code {} ({:?})", self.code, self.reason)
        }
    }
}

/// Longest reason that fits a close frame: 125 payload bytes minus the 2-byte code.
const MAX_REASON_BYTES: usize = 123;

/// Checks that a close frame with this code and reason may be sent (RFC 6455 sections 5.5
/// and 7.4): the code is 1000-1003, 1007-1013 or 3000-4999, and the reason is at most 123
/// bytes of UTF-8. (1014 is registered too, but common peers such as tungstenite treat it
/// as a protocol violation.)
///
/// The transports of this crate call it for [`Outgoing::Close`](crate::Outgoing::Close);
/// custom transports may too.
pub fn check_close(code: u16, reason: &str) -> Result<(), TransportError> {
    let allowed = matches!(code, 1000..=1003 | 1007..=1013 | 3000..=4999);
    if !allowed {
        return Err(TransportError::InvalidCloseCode { code });
    }
    if reason.len() > MAX_REASON_BYTES {
        return Err(TransportError::CloseReasonTooLong { len: reason.len() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_close_accepts_sendable_codes_and_refuses_reserved_ones() {
        for code in [1000, 1001, 1002, 1003, 1007, 1011, 1013, 3000, 4000, 4999] {
            assert!(check_close(code, "").is_ok(), "{code} should be sendable");
        }
        for code in [
            0,
            999,
            1004,
            1005,
            1006,
            1014,
            1015,
            1016,
            2999,
            5000,
            u16::MAX,
        ] {
            assert!(
                matches!(check_close(code, ""), Err(TransportError::InvalidCloseCode { code: c }) if c == code),
                "{code} should be refused"
            );
        }
    }

    #[test]
    fn every_code_check_close_accepts_is_one_tungstenite_accepts_from_a_peer() {
        use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
        let mut accepted = 0;
        for code in 0..=u16::MAX {
            if check_close(code, "").is_ok() {
                accepted += 1;
                assert!(CloseCode::from(code).is_allowed(), "{code}");
            }
        }
        assert_eq!(accepted, 4 + 7 + 2000);
    }

    #[test]
    fn check_close_limits_reason_to_123_bytes() {
        assert!(check_close(1000, &"a".repeat(123)).is_ok());
        assert!(matches!(
            check_close(1000, &"a".repeat(124)),
            Err(TransportError::CloseReasonTooLong { len: 124 })
        ));
        // Bytes, not characters: 62 two-byte characters are 124 bytes.
        assert!(check_close(1000, &"é".repeat(62)).is_err());
    }

    #[test]
    fn close_event_display_and_abnormal() {
        assert_eq!(CloseEvent::abnormal(), CloseEvent::new(1006, ""));
        assert!(CloseEvent::abnormal().is_abnormal());
        assert_eq!(
            CloseEvent::new(4001, "idle").to_string(),
            "close code 4001 (\"idle\")"
        );
        assert_eq!(CloseEvent::new(1000, "").to_string(), "close code 1000");
    }
}
