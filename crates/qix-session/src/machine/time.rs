//! The rules that run on the clock for calls: request timeouts (Q-TIME-1), cancellation
//! (Q-CANCEL-1), the bound on calls in flight (Q-FLOW-1) and liveness probes (Q-LIVE-1).

use std::time::Instant;

use qix_rpc::{EncodedCall, RequestId, GLOBAL_HANDLE};

use super::Machine;
use crate::requests::{Pending, Purpose};
use crate::timer::TimerId;
use crate::{Failure, Waiter};

impl Machine {
    /// True while another call may be written: fewer than
    /// [`max_in_flight`](crate::Config::max_in_flight) user calls wait for an answer (Q-FLOW-1).
    /// The session's own cancels and probes do not count: a window full of unanswered cancels
    /// would otherwise hold callers back with no deadline.
    /// A driver takes no call from its callers while this is false, so they wait.
    pub fn accepts_calls(&self) -> bool {
        self.requests.calls() < self.config.max_in_flight
    }

    /// Q-CANCEL-1: the caller is gone; the call leaves the table and the engine stops.
    pub(super) fn cancel(&mut self, waiter: Waiter) {
        if let Some((id, pending)) = self.requests.take_call(waiter) {
            self.abandon_delta(id, pending);
            self.send_cancel(id);
            self.settled();
        } else {
            self.unpark(waiter); // never written on this connection: nothing to cancel
        }
    }

    /// Q-TIME-1: a call past its deadline fails with `Timeout` and is cancelled.
    pub(super) fn request_expired(&mut self, id: RequestId, pending: Pending, now: Instant) {
        if let Purpose::Call { waiter, .. } = pending.purpose {
            let elapsed = now.saturating_duration_since(pending.sent);
            self.abandon_delta(id, pending);
            self.fail(
                waiter,
                Failure::Timeout {
                    request: id,
                    elapsed,
                },
            );
            self.send_cancel(id);
            self.settled();
        }
    }

    /// `CancelRequest` (handle -1, params `[id]`) so the engine stops working on `id`; its
    /// answer, and a late answer to `id`, are dropped quietly.
    fn send_cancel(&mut self, id: RequestId) {
        if let Ok(call) = EncodedCall::new("CancelRequest", &[id]) {
            self.send(GLOBAL_HANDLE, call, None, Purpose::Cancel, None);
        }
    }

    /// A call was written: make sure the liveness check runs (Q-LIVE-1).
    pub(super) fn watch_liveness(&mut self) {
        let Some(liveness) = self.config.liveness else {
            return;
        };
        if self.timers.is_armed(TimerId::Liveness) || self.probing {
            return;
        }
        if let Some(now) = self.now {
            self.liveness_since = Some(now);
            self.arm(TimerId::Liveness, liveness.interval);
        }
    }

    /// A frame arrived on the current connection: it is alive.
    pub(super) fn heard(&mut self, now: Instant) {
        self.last_frame = Some(now);
        if self.probing {
            self.probing = false;
            self.timers.stop(TimerId::Probe);
        }
    }

    /// A call was settled: with no call left and no idle probe, nothing is watched, so an
    /// idle session arms no timer at all.
    pub(super) fn settled(&mut self) {
        let idle = self.config.liveness.is_some_and(|liveness| liveness.idle);
        if !idle && !self.probing && !self.requests.has_calls() {
            self.timers.stop(TimerId::Liveness);
        }
    }

    /// The connection changed: whatever was being watched belongs to the old one.
    pub(super) fn forget_liveness(&mut self) {
        self.probing = false;
        self.last_frame = None;
        self.liveness_since = None;
        self.timers.stop(TimerId::Probe);
        self.timers.stop(TimerId::Liveness);
    }

    /// A connection is open: with the idle probe, it is watched from now on even with
    /// nothing pending.
    pub(super) fn watch_idle(&mut self) {
        if self.config.liveness.is_some_and(|liveness| liveness.idle) {
            if let Some(now) = self.now {
                self.liveness_since = Some(now);
                if let Some(liveness) = self.config.liveness {
                    self.arm(TimerId::Liveness, liveness.interval);
                }
            }
        }
    }

    /// The liveness check is due: probe if nothing was heard for the interval while a call
    /// waits (or always, with the idle probe); else look again an interval after the last
    /// frame.
    pub(super) fn liveness_due(&mut self, now: Instant) {
        let (Some(liveness), Some(link)) = (self.config.liveness, self.link) else {
            return;
        };
        if !link.connected || self.probing {
            return;
        }
        if !liveness.idle && !self.requests.has_calls() {
            return; // nothing waits: the next call starts the check again
        }
        let quiet_since = match (self.last_frame, self.liveness_since) {
            (Some(frame), Some(since)) => frame.max(since),
            (frame, since) => frame.or(since).unwrap_or(now),
        };
        let due = quiet_since.checked_add(liveness.interval).unwrap_or(now);
        if now < due {
            self.timers.set(TimerId::Liveness, due);
            return;
        }
        if let Ok(call) = EncodedCall::new("ProductVersion", &[(); 0]) {
            if self.send(GLOBAL_HANDLE, call, None, Purpose::Probe, None) {
                self.probing = true;
                self.probes.sent += 1;
                self.arm(TimerId::Probe, liveness.timeout);
                self.liveness_since = Some(now);
                self.arm(TimerId::Liveness, liveness.interval);
            }
        }
    }

    /// No frame came within the probe's timeout: the connection is dead, which is a network
    /// close with 1006 (Q-CLOSE-2, Q-SUSP-3).
    pub(super) fn probe_expired(&mut self) {
        if !self.probing {
            return;
        }
        self.probing = false;
        self.probes.expired += 1;
        if let Some(link) = self.link.filter(|link| link.connected) {
            self.drop_socket(link.conn);
        }
    }
}
