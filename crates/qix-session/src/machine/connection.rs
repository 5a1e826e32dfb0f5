//! What the connections tell: connected, failed, errored, ended, closed (Q-OPEN-2, Q-REQ-5,
//! Q-CLOSE-2..5, Q-SUSP-2).

use super::*;

impl Machine {
    pub(super) fn connected(&mut self, conn: ConnId) {
        match self.sockets.phase(conn) {
            Some(SocketPhase::Connecting { then_close }) => {
                self.sockets.set(conn, SocketPhase::Open);
                if let Some(close) = then_close {
                    // Abandoned while it connected: close it now (Q-CLOSE-4).
                    return self.close_conn(conn, close);
                }
            }
            _ => return,
        }
        let Some(link) = self
            .link
            .as_mut()
            .filter(|link| link.conn == conn && !link.connected)
        else {
            return;
        };
        link.connected = true;
        self.clear_baselines();
        self.watch_idle();
        match &mut self.phase {
            Phase::Connecting { greeting, .. } => {
                // Q-OPEN-4: the engine's OnConnected says whether the session is attached.
                *greeting = true;
                self.arm(TimerId::OnConnected, self.config.on_connected_timeout);
            }
            Phase::Resuming(resume) => {
                resume.step = ResumeStep::AwaitingOnConnected;
                // A timeout too large to add to `now` means no deadline: wait for OnConnected.
                self.arm(TimerId::OnConnected, self.config.on_connected_timeout);
            }
            _ => {}
        }
    }

    pub(super) fn connect_failed(&mut self, conn: ConnId, cause: Cause) {
        if matches!(
            self.sockets.phase(conn),
            Some(SocketPhase::Connecting { .. })
        ) {
            self.sockets.remove(conn);
        }
        if self.current(conn).is_none_or(|link| link.connected) {
            return;
        }
        self.link = None;
        self.forget_liveness();
        match mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Connecting {
                waiters, before, ..
            } => {
                self.timers.stop(TimerId::OnConnected);
                // Q-OPEN-2: not cached, no socket-error; the next open tries again.
                self.phase = Phase::before_connecting(before);
                for waiter in waiters {
                    self.fail(waiter, Failure::ConnectFailed(cause.clone()));
                }
            }
            Phase::Resuming(resume) => {
                self.phase = Phase::Suspended;
                self.fail(resume.waiter, Failure::ConnectFailed(cause));
            }
            // A close during a resume whose socket never opened: nothing left to wait for.
            Phase::Closing { close, waiters, .. } => self.close_for_good(close, waiters),
            phase => self.phase = phase,
        }
    }

    pub(super) fn socket_error(&mut self, conn: ConnId, cause: Cause) {
        let Some(link) = self.link.as_mut().filter(|link| link.conn == conn) else {
            return;
        };
        match self.phase {
            Phase::Open
            | Phase::Closing {
                after_resume: false,
                ..
            } => {
                link.errored = true;
                self.emit(Event::SocketError(SocketProblem::Transport(cause)));
            }
            // Not reported (Q-EV-3), but the resume fails with "Socket error" if it closes.
            Phase::Resuming(_) => link.errored = true,
            // A suspend closed the socket on purpose; a connect that fails says so itself.
            _ => {}
        }
    }

    /// The connection's stream ended: it is over for good. One that ended without
    /// reporting a close counts as closed with 1006.
    pub(super) fn socket_ended(&mut self, conn: ConnId) {
        match self.sockets.remove(conn) {
            Some(SocketPhase::Open | SocketPhase::Closing) => {
                self.timers.stop(TimerId::Socket(conn));
                self.socket_closed(conn, CloseEvent::new(1006, ""));
            }
            Some(SocketPhase::Finishing) => self.timers.stop(TimerId::Socket(conn)),
            Some(phase @ SocketPhase::Connecting { .. }) => self.sockets.set(conn, phase),
            None => {}
        }
    }

    pub(super) fn socket_closed(&mut self, conn: ConnId, close: CloseEvent) {
        if matches!(
            self.sockets.phase(conn),
            Some(SocketPhase::Open | SocketPhase::Closing)
        ) {
            // The driver polls it on until its stream ends, within the close timeout.
            self.sockets.set(conn, SocketPhase::Finishing);
            self.arm(TimerId::Socket(conn), self.config.close_timeout);
        }
        let Some(link) = self.current(conn) else {
            return;
        };
        self.link = None;
        self.forget_liveness();
        let reason = if link.errored {
            NotConnectedReason::SocketError
        } else {
            NotConnectedReason::SocketClosed
        };
        match mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Connecting {
                waiters, before, ..
            } => {
                self.timers.stop(TimerId::OnConnected);
                // Q-OPEN-2: open never hangs.
                self.phase = Phase::before_connecting(before);
                self.fail_calls(waiters, NotConnectedReason::SocketClosed, &close);
                self.last_close = Some(close);
            }
            Phase::Open => self.closed_unasked(reason, close),
            Phase::Closing {
                close: asked,
                waiters,
                ..
            } => {
                // Q-CLOSE-1: the session reports the close it asked for.
                let calls = self.requests.drain_calls();
                self.close_objects();
                self.emit(Event::Closed(asked.clone()));
                self.phase = Phase::Closed;
                self.fail_calls(calls, reason, &asked);
                self.last_close = Some(asked);
                for waiter in waiters {
                    self.reply(waiter, Reply::Done);
                }
            }
            Phase::Suspending {
                close: asked,
                waiters,
                then_close,
            } => {
                // Q-SUSP-1: whatever code the socket reports, this is the suspend's close.
                let calls = self.requests.drain_calls();
                self.fail_calls(calls, reason, &asked);
                self.phase = Phase::Suspended;
                self.last_close = Some(asked.clone());
                self.emit(Event::Suspended {
                    initiator: Initiator::Manual,
                    close: asked,
                });
                for waiter in waiters {
                    self.reply(waiter, Reply::Done);
                }
                if let Some((close, waiters)) = then_close {
                    self.close_for_good(close, waiters);
                }
            }
            Phase::Resuming(resume) => {
                // The resume fails; the registry is as it was when the session was suspended.
                self.phase = Phase::Suspended;
                self.fail_resume(
                    resume,
                    Failure::NotConnected {
                        reason,
                        close: Some(close),
                    },
                );
            }
            phase @ (Phase::Idle | Phase::Suspended | Phase::Closed) => self.phase = phase,
        }
    }

    /// Q-CLOSE-2, Q-SUSP-3: the socket of an open session closed without being asked to.
    pub(super) fn closed_unasked(&mut self, reason: NotConnectedReason, close: CloseEvent) {
        if self.config.suspend_on_close {
            let calls = self.requests.drain_replayable();
            self.phase = Phase::Suspended;
            self.emit(Event::Suspended {
                initiator: Initiator::Network,
                close: close.clone(),
            });
            self.park_or_fail(calls, reason, &close);
            let code = close.code;
            self.last_close = Some(close);
            return self.auto_resume_after(code);
        }
        let calls = self.requests.drain_calls();
        self.close_objects();
        self.emit(Event::Closed(close.clone()));
        self.phase = Phase::Closed;
        self.fail_calls(calls, reason, &close);
        self.last_close = Some(close);
    }

    pub(super) fn fail_calls(
        &mut self,
        calls: Vec<Waiter>,
        reason: NotConnectedReason,
        close: &CloseEvent,
    ) {
        for waiter in calls {
            self.fail(
                waiter,
                Failure::NotConnected {
                    reason,
                    close: Some(close.clone()),
                },
            );
        }
    }
}
