//! The machine's timer table, keyed by what each timer is for. Deadlines are plain `Instant`s
//! computed from the `now` of an input; the machine never reads a clock.

use std::time::Instant;

use crate::ConnId;

/// What a timer is for. One timer per id at most: arming an armed id moves its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TimerId {
    /// A resume waits this long for `OnConnected` before assuming `SESSION_CREATED` (Q-RES-1).
    OnConnected,
    /// A connection the session is closing, or that has closed and is finishing: past this
    /// deadline it is dropped (Q-CLOSE-4).
    Socket(ConnId),
    /// Every handle of the session is gone: past this deadline whatever is still open is
    /// dropped and the machine is finished (Q-CLOSE-5).
    Release,
    /// Time to check whether the connection still delivers frames (Q-LIVE-1).
    Liveness,
    /// A liveness probe waits for any frame until this deadline (Q-LIVE-1).
    Probe,
    /// A resume must be over by this deadline (Q-TIME-1).
    Resume,
    /// The next automatic resume attempt (Q-AUTO-1).
    AutoResume,
}

/// The armed timers. A handful at a time (one per connection, the OnConnected wait, the
/// release), so a vector scanned in full is the cheapest table.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    armed: Vec<(TimerId, Instant)>,
}

impl Timers {
    /// Arms `timer` for `deadline`, moving it when it is armed already.
    pub(crate) fn set(&mut self, timer: TimerId, deadline: Instant) {
        match self.armed.iter_mut().find(|(id, _)| *id == timer) {
            Some(entry) => entry.1 = deadline,
            None => self.armed.push((timer, deadline)),
        }
    }

    /// Arms `timer` for `now + after`; a duration too large to add means never.
    pub(crate) fn set_after(&mut self, timer: TimerId, now: Instant, after: std::time::Duration) {
        match now.checked_add(after) {
            Some(deadline) => self.set(timer, deadline),
            None => self.stop(timer),
        }
    }

    /// Disarms `timer`; a no-op when it is not armed.
    pub(crate) fn stop(&mut self, timer: TimerId) {
        self.armed.retain(|(id, _)| *id != timer);
    }

    /// True when `timer` is armed.
    pub(crate) fn is_armed(&self, timer: TimerId) -> bool {
        self.armed.iter().any(|(id, _)| *id == timer)
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.armed.iter().map(|(_, deadline)| *deadline).min()
    }

    /// Disarms and returns the earliest timer whose deadline is not after `now`.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<TimerId> {
        let (index, _) = self
            .armed
            .iter()
            .enumerate()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .min_by_key(|(_, (_, deadline))| *deadline)?;
        Some(self.armed.swap_remove(index).0)
    }
}
