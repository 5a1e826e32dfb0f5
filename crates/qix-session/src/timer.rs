//! The machine's one timer table. Deadlines are plain `Instant`s handed in by the driver; the
//! machine never reads a clock.

use std::time::Instant;

/// The timers the machine can arm. Only one exists today; the enum keeps a stale or early fire
/// harmless when more are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerId {
    /// A resume waits this long for `OnConnected` before assuming `SESSION_CREATED` (Q-RES-1).
    OnConnected,
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    on_connected: Option<Instant>,
}

impl Timers {
    pub(crate) fn set(&mut self, timer: TimerId, deadline: Instant) {
        match timer {
            TimerId::OnConnected => self.on_connected = Some(deadline),
        }
    }

    pub(crate) fn stop(&mut self, timer: TimerId) {
        match timer {
            TimerId::OnConnected => self.on_connected = None,
        }
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.on_connected
    }

    /// Disarms and returns the first timer whose deadline is not after `now`.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<TimerId> {
        match self.on_connected {
            Some(deadline) if deadline <= now => {
                self.on_connected = None;
                Some(TimerId::OnConnected)
            }
            _ => None,
        }
    }
}
