//! Replaying reads after a network drop (Q-RETRY-1): with an automatic resume on its way and
//! `replay_reads` on, the calls a drop interrupted are kept when their method only reads and
//! sent again, to the objects' new handles, once the resume succeeded. A call that may have
//! changed engine state is never sent twice: it fails with `Interrupted`, which says it may
//! or may not have run.

use super::auto::will_resume;
use super::Machine;
use crate::{Call, CloseEvent, Failure, NotConnectedReason, Waiter};

impl Machine {
    /// Whether the session keeps `call` to replay it: only when it replays reads and the
    /// method reads. Checked as the call is written, so that a session that does not replay
    /// keeps no copy.
    pub(super) fn replayable(&self, call: &qix_rpc::EncodedCall) -> bool {
        self.replays_reads() && crate::is_read_method(call.method())
    }

    fn replays_reads(&self) -> bool {
        self.config.suspend_on_close
            && self
                .config
                .auto_resume
                .as_ref()
                .is_some_and(|policy| policy.replay_reads)
    }

    /// The calls of a connection that dropped: kept for the replay, failed as interrupted, or
    /// failed with `NotConnected` as always when nothing will be replayed (no replay, or no
    /// automatic resume after this close code).
    pub(super) fn park_or_fail(
        &mut self,
        calls: Vec<(Waiter, Option<Box<Call>>)>,
        reason: NotConnectedReason,
        close: &CloseEvent,
    ) {
        let replaying = self.replays_reads() && will_resume(close.code);
        for (waiter, replay) in calls {
            match (replaying, replay) {
                (true, Some(call)) => self.parked.push((waiter, call)),
                (true, None) => self.fail(
                    waiter,
                    Failure::Interrupted {
                        close: close.clone(),
                    },
                ),
                (false, _) => self.fail(
                    waiter,
                    Failure::NotConnected {
                        reason,
                        close: Some(close.clone()),
                    },
                ),
            }
        }
    }

    /// The resume succeeded: the kept calls go out again, oldest first, each with a new id
    /// and its object's new handle (an object the resume lost fails with `ObjectClosed`).
    pub(super) fn replay_parked(&mut self) {
        for (waiter, call) in std::mem::take(&mut self.parked) {
            self.call(waiter, *call);
        }
    }

    /// The automatic resume ended without success, or the user took over: the kept calls
    /// fail as they would have without the replay.
    pub(super) fn fail_parked(&mut self) {
        let close = self.last_close.clone();
        for (waiter, _) in std::mem::take(&mut self.parked) {
            self.fail(
                waiter,
                Failure::NotConnected {
                    reason: NotConnectedReason::SocketClosed,
                    close: close.clone(),
                },
            );
        }
    }

    /// A kept call whose caller left: it goes without an answer. True when it was kept.
    pub(super) fn unpark(&mut self, waiter: Waiter) -> bool {
        let before = self.parked.len();
        self.parked.retain(|(parked, _)| *parked != waiter);
        self.parked.len() != before
    }
}
