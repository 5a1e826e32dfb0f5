//! What the handles ask: open, call, close, suspend, resume (Q-OPEN, Q-REQ-1..3, Q-CLOSE, Q-SUSP,
//! Q-RES).

use super::*;

impl Machine {
    pub(super) fn command(&mut self, waiter: Waiter, command: Command) {
        match command {
            Command::Open => self.open(waiter),
            Command::Call(call) => self.call(waiter, call),
            Command::Close { code, reason } => self.close(waiter, CloseEvent { code, reason }),
            Command::Suspend { code, reason } => self.suspend(waiter, CloseEvent { code, reason }),
            Command::Resume { only_if_attached } => self.resume(waiter, only_if_attached),
        }
    }

    /// Q-OPEN-1, Q-OPEN-3.
    pub(super) fn open(&mut self, waiter: Waiter) {
        match &mut self.phase {
            Phase::Idle | Phase::Closed => {
                let before = self.phase.state();
                self.connect();
                self.phase = Phase::Connecting {
                    waiters: vec![waiter],
                    before,
                    greeting: false,
                };
            }
            Phase::Connecting { waiters, .. } => waiters.push(waiter),
            Phase::Open => {
                let global = self.objects.global();
                self.reply(waiter, Reply::Opened(global));
            }
            _ => self.invalid(waiter, "open"),
        }
    }

    /// Q-REQ-1..3.
    pub(super) fn call(&mut self, waiter: Waiter, call: Call) {
        match self.phase {
            Phase::Open => {}
            Phase::Suspending { .. } | Phase::Suspended | Phase::Resuming(_) => {
                return self.fail(waiter, Failure::SessionSuspended);
            }
            _ => return self.fail(waiter, self.not_connected()),
        }
        let Call {
            object,
            call,
            returns_object,
            timeout,
            accepts_delta,
        } = call;
        let Some(handle) = self.objects.get(object).map(|info| info.handle) else {
            return self.fail(waiter, Failure::ObjectClosed);
        };
        let replay = self.replayable(&call).then(|| {
            Box::new(Call {
                object,
                call: call.clone(),
                returns_object,
                timeout,
                accepts_delta,
            })
        });
        let purpose = Purpose::Call {
            waiter,
            returns_object,
            replay,
            delta: self.delta_key(handle, call.method(), accepts_delta, returns_object),
        };
        let timeout = timeout.or(self.config.request_timeout);
        if !self.send(handle, call, Some(object), purpose, timeout) {
            // Open always has a connected link; answer rather than lose the waiter if not.
            self.fail(waiter, self.not_connected());
        }
    }

    /// Q-REQ-3: a call with no socket, with the close event reported last (enigma.js R6).
    pub(super) fn not_connected(&self) -> Failure {
        Failure::NotConnected {
            reason: NotConnectedReason::NotConnected,
            close: self.last_close.clone(),
        }
    }

    /// Q-CLOSE-1, Q-CLOSE-3.
    pub(super) fn close(&mut self, waiter: Waiter, close: CloseEvent) {
        self.stop_auto(); // Q-AUTO-1: nothing is resumed after a close
        match mem::replace(&mut self.phase, Phase::Idle) {
            phase @ (Phase::Idle | Phase::Closed) => {
                self.phase = phase;
                self.reply(waiter, Reply::Done);
            }
            Phase::Open => {
                self.close_socket(&close);
                self.phase = Phase::Closing {
                    close,
                    waiters: vec![waiter],
                    after_resume: false,
                };
            }
            Phase::Closing {
                close,
                mut waiters,
                after_resume,
            } => {
                waiters.push(waiter);
                self.phase = Phase::Closing {
                    close,
                    waiters,
                    after_resume,
                };
            }
            Phase::Connecting { waiters, .. } => {
                // The socket is closed as soon as it connects; the session never opened, so
                // there is no `closed` to tell.
                self.timers.stop(TimerId::OnConnected);
                self.abandon(close.code, close.reason.clone());
                self.phase = Phase::Closed;
                self.fail_calls(waiters, NotConnectedReason::SocketClosed, &close);
                self.last_close = Some(close);
                self.reply(waiter, Reply::Done);
            }
            Phase::Suspended => {
                self.phase = Phase::Suspended;
                self.close_for_good(close, vec![waiter]);
            }
            Phase::Suspending {
                close: suspend,
                waiters,
                mut then_close,
            } => {
                match &mut then_close {
                    Some((_, close_waiters)) => close_waiters.push(waiter),
                    None => then_close = Some((close, vec![waiter])),
                }
                self.phase = Phase::Suspending {
                    close: suspend,
                    waiters,
                    then_close,
                };
            }
            Phase::Resuming(resume) => {
                // The resume fails; the session then closes for good, its new socket with the
                // code and reason asked for, and `close` resolves once that socket has closed.
                self.fail_resume(
                    resume,
                    Failure::NotConnected {
                        reason: NotConnectedReason::SocketClosed,
                        close: Some(close.clone()),
                    },
                );
                if self.link.is_some() {
                    self.close_socket(&close);
                    self.phase = Phase::Closing {
                        close,
                        waiters: vec![waiter],
                        after_resume: true,
                    };
                } else {
                    self.phase = Phase::Suspended;
                    self.close_for_good(close, vec![waiter]);
                }
            }
        }
    }

    pub(super) fn close_socket(&mut self, close: &CloseEvent) {
        if let Some(link) = self.link {
            self.close_conn(link.conn, close.clone());
        }
    }

    /// Q-CLOSE-5: every handle is gone. The session closes with 1000 as if asked to, and
    /// whatever is still open after the grace period is dropped.
    pub(super) fn release(&mut self) {
        if self.released {
            return;
        }
        self.released = true;
        self.close(
            NOBODY,
            CloseEvent {
                code: 1000,
                reason: String::new(),
            },
        );
        if !self.sockets.is_empty() {
            self.arm(TimerId::Release, self.config.release_grace);
        }
    }

    /// Q-CLOSE-3: a session without a socket closes at once.
    pub(super) fn close_for_good(&mut self, close: CloseEvent, waiters: Vec<Waiter>) {
        self.close_objects();
        self.emit(Event::Closed(close.clone()));
        self.phase = Phase::Closed;
        self.last_close = Some(close);
        for waiter in waiters {
            self.reply(waiter, Reply::Done);
        }
    }

    pub(super) fn close_objects(&mut self) {
        self.clear_baselines();
        for key in self.objects.clear() {
            self.emit(Event::ObjectClosed(key));
        }
    }

    /// Q-SUSP-1.
    pub(super) fn suspend(&mut self, waiter: Waiter, close: CloseEvent) {
        self.stop_auto(); // Q-AUTO-1: a manual suspend takes over, and stays suspended
        match &mut self.phase {
            Phase::Open => {
                // Suspending before the close goes out, so its close is never taken for a
                // network failure (SR2).
                self.close_socket(&close);
                self.phase = Phase::Suspending {
                    close,
                    waiters: vec![waiter],
                    then_close: None,
                };
            }
            Phase::Suspending { waiters, .. } => waiters.push(waiter),
            Phase::Suspended => self.reply(waiter, Reply::Done),
            _ => self.invalid(waiter, "suspend"),
        }
    }

    /// Q-RES-1.
    pub(super) fn resume(&mut self, waiter: Waiter, only_if_attached: bool) {
        if waiter != AUTO {
            self.stop_auto(); // Q-AUTO-1: a manual resume takes over
        }
        if !matches!(self.phase, Phase::Suspended) {
            return self.invalid(waiter, "resume");
        }
        self.connect();
        self.arm(TimerId::Resume, self.config.resume_timeout);
        self.phase = Phase::Resuming(Resume {
            waiter,
            only_if_attached,
            step: ResumeStep::Connecting,
        });
    }
}
