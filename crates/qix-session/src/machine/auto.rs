//! Automatic resume after a network suspension (Q-AUTO-1): the close code decides whether
//! and when, a back-off schedule spaces the attempts, and a manual `resume`, `suspend` or
//! `close` takes over at any point.

use std::mem;
use std::time::Duration;

use super::{Machine, Phase};
use crate::timer::TimerId;
use crate::{Event, Failure, Reply, Waiter};

/// The waiter of an automatic resume attempt: its reply decides the next attempt.
pub(super) const AUTO: Waiter = Waiter(u64::MAX - 1);

/// An automatic resume in progress: waiting for its next attempt, or running one.
#[derive(Debug, Clone, Copy)]
pub(super) struct AutoState {
    attempt: u32,
    only_if_attached: bool,
}

/// What a close code says about resuming on one's own.
enum Verdict {
    Never,
    AtOnce,
    BackOff,
}

/// Q-AUTO-1: never after a close that says the session or the user is refused; at once
/// after one that says the engine or the app went away; with back-off after the rest
/// (network failures, overload).
fn verdict(code: u16) -> Verdict {
    match code {
        1000 | 4001 | 4002 | 4005 | 4006 => Verdict::Never,
        4205 => Verdict::BackOff,
        4200..=4299 => Verdict::Never,
        4003 | 4004 | 4007 => Verdict::AtOnce,
        _ => Verdict::BackOff,
    }
}

/// Whether a network suspension with `code` starts an automatic resume (when there is a
/// policy).
pub(super) fn will_resume(code: u16) -> bool {
    !matches!(verdict(code), Verdict::Never)
}

impl Machine {
    /// A network suspension with `code`: start resuming when the policy and the code say so.
    pub(super) fn auto_resume_after(&mut self, code: u16) {
        let Some(policy) = &self.config.auto_resume else {
            return;
        };
        let only_if_attached = policy.only_if_attached;
        match verdict(code) {
            Verdict::Never => {}
            Verdict::AtOnce => self.schedule_attempt(1, only_if_attached, Duration::ZERO),
            Verdict::BackOff => {
                let delay = self.delay(1);
                self.schedule_attempt(1, only_if_attached, delay);
            }
        }
    }

    fn schedule_attempt(&mut self, attempt: u32, only_if_attached: bool, delay: Duration) {
        self.auto = Some(AutoState {
            attempt,
            only_if_attached,
        });
        self.emit(Event::Resuming { attempt, delay });
        self.arm(TimerId::AutoResume, delay);
    }

    /// The back-off before attempt `attempt` (1-based).
    fn delay(&mut self, attempt: u32) -> Duration {
        let Some(policy) = &self.config.auto_resume else {
            return Duration::ZERO;
        };
        let backoff = policy.backoff.clone();
        backoff.delay(attempt, || self.random())
    }

    /// Deterministic from the configured seed, so tests replay.
    fn random(&mut self) -> u64 {
        let (next, value) = crate::Backoff::jitter_step(self.jitter);
        self.jitter = next;
        value
    }

    /// The attempt's time has come.
    pub(super) fn attempt_due(&mut self) {
        if let (Some(auto), Phase::Suspended) = (self.auto, &self.phase) {
            self.resume(AUTO, auto.only_if_attached);
        }
    }

    /// The outcome of an attempt, instead of a reply nobody waits for.
    pub(super) fn attempt_settled(&mut self, reply: Reply) {
        let Some(auto) = self.auto.take() else {
            return; // taken over meanwhile
        };
        let Reply::Failed(failure) = reply else {
            return; // resumed: `resumed` told it, and the resume replays what it kept
        };
        let Some(policy) = self
            .config
            .auto_resume
            .as_ref()
            .filter(|_| matches!(self.phase, Phase::Suspended))
        else {
            return self.fail_parked();
        };
        let next = auto.attempt + 1;
        let (give_up, only_if_attached) = match &failure {
            // The engine session is gone: attaching again cannot work; restoring may.
            Failure::SessionNotAttached
                if auto.only_if_attached && policy.restore_if_not_attached =>
            {
                (false, false)
            }
            Failure::SessionNotAttached | Failure::SessionState { .. } => (true, false),
            _ => (next > policy.max_attempts, auto.only_if_attached),
        };
        if give_up || next > policy.max_attempts {
            self.emit(Event::ResumeFailed {
                attempts: auto.attempt,
                failure,
            });
            return self.fail_parked();
        }
        let delay = if only_if_attached == auto.only_if_attached {
            self.delay(next)
        } else {
            Duration::ZERO // straight on to the full restore
        };
        self.schedule_attempt(next, only_if_attached, delay);
    }

    /// A manual `resume`, `suspend` or `close` takes over: no more attempts, and one that is
    /// running is abandoned (its socket closed) without a `resume-failed`.
    pub(super) fn stop_auto(&mut self) {
        // Q-RETRY-1: only the automatic resume replays.
        self.fail_parked();
        if self.auto.take().is_none() {
            return;
        }
        self.timers.stop(TimerId::AutoResume);
        if let Phase::Resuming(resume) = &self.phase {
            if resume.waiter == AUTO {
                let Phase::Resuming(resume) = mem::replace(&mut self.phase, Phase::Suspended)
                else {
                    return;
                };
                // The reply to AUTO is dropped: `auto` is gone.
                self.abandon_resume(resume, Failure::SessionSuspended);
            }
        }
    }
}
