//! How an open or a resume ends: OnConnected, the restore of the objects (Q-OPEN-4, Q-RES-1..4).

use super::*;

impl Machine {
    /// Q-RES-2: what the engine said about the session decides the resume; Q-OPEN-4: it is
    /// what an open learns.
    pub(super) fn session_state(&mut self, state: SessionState) {
        self.engine_session = match &state {
            SessionState::Created => EngineSession::Created,
            SessionState::Attached => EngineSession::Attached,
            SessionState::Refused(_) => EngineSession::Unknown,
        };
        if let Phase::Connecting { greeting: true, .. } = self.phase {
            return match state {
                SessionState::Refused(state) => self.refuse_open(Failure::SessionState { state }),
                _ => self.finish_open(),
            };
        }
        let Phase::Resuming(resume) = &mut self.phase else {
            return;
        };
        let failure = match state {
            SessionState::Created if resume.only_if_attached => Failure::SessionNotAttached,
            SessionState::Refused(state) => Failure::SessionState { state },
            SessionState::Created | SessionState::Attached => {
                let plan = self.objects.plan_restore();
                resume.step = ResumeStep::Restoring(plan);
                return self.restore_doc();
            }
        };
        let Phase::Resuming(resume) = mem::replace(&mut self.phase, Phase::Suspended) else {
            return;
        };
        self.abandon_resume(resume, failure);
    }

    /// Q-OPEN-1: the socket is open and the engine has said how it sees the session (or
    /// said nothing in time): the session is Open.
    pub(super) fn finish_open(&mut self) {
        let Phase::Connecting { waiters, .. } = &mut self.phase else {
            return;
        };
        let waiters = mem::take(waiters);
        self.timers.stop(TimerId::OnConnected);
        self.phase = Phase::Open;
        let global = self.objects.register_global();
        self.emit(Event::Opened);
        for waiter in waiters {
            self.reply(waiter, Reply::Opened(global.clone()));
        }
    }

    /// Q-OPEN-4: the engine refused the session in its OnConnected: the open fails, the
    /// socket is closed.
    pub(super) fn refuse_open(&mut self, failure: Failure) {
        let Phase::Connecting {
            waiters, before, ..
        } = mem::replace(&mut self.phase, Phase::Idle)
        else {
            return;
        };
        self.timers.stop(TimerId::OnConnected);
        self.abandon(1000, String::new());
        self.phase = Phase::before_connecting(before);
        for waiter in waiters {
            self.fail(waiter, failure.clone());
        }
    }

    /// The resume fails: its socket is closed, the session is Suspended as before it.
    pub(super) fn abandon_resume(&mut self, resume: Resume, failure: Failure) {
        self.abandon(1000, String::new());
        self.phase = Phase::Suspended;
        self.fail_resume(resume, failure);
    }

    /// Ends a resume that failed: its restore requests and its OnConnected wait are dropped,
    /// its waiter answered. The caller decides the phase and the socket.
    pub(super) fn fail_resume(&mut self, resume: Resume, failure: Failure) {
        self.forget_requests();
        self.timers.stop(TimerId::OnConnected);
        self.timers.stop(TimerId::Resume);
        self.fail(resume.waiter, failure);
    }

    /// Drops the restore requests of a failed resume. No call can be pending while resuming
    /// (calls fail with SessionSuspended), but a waiter is never dropped without an answer.
    pub(super) fn forget_requests(&mut self) {
        let calls = self.requests.drain_calls();
        let close = self.last_close.clone();
        for waiter in calls {
            self.fail(
                waiter,
                Failure::NotConnected {
                    reason: NotConnectedReason::SocketClosed,
                    close: close.clone(),
                },
            );
        }
    }

    pub(super) fn plan(&mut self) -> Option<&mut RestorePlan> {
        match &mut self.phase {
            Phase::Resuming(Resume {
                step: ResumeStep::Restoring(plan),
                ..
            }) => Some(plan),
            _ => None,
        }
    }

    pub(super) fn restore_doc(&mut self) {
        let Some(doc) = self.plan().and_then(|plan| plan.doc) else {
            return self.finish_resume();
        };
        self.send_restore(
            GLOBAL_HANDLE,
            restore_call("GetActiveDoc", &[]),
            doc,
            RestoreStep::ActiveDoc,
        );
    }

    pub(super) fn send_restore(
        &mut self,
        handle: Handle,
        call: Option<EncodedCall>,
        key: ObjectKey,
        step: RestoreStep,
    ) {
        let Some(call) = call else {
            return self.restored(key, step, None);
        };
        // Restoring needs a connected link, so this always writes; the resume has its own
        // bound (Q-TIME-1).
        let purpose = Purpose::Restore(step, key);
        self.send(handle, call, Some(key), purpose, None);
    }

    /// A restore step's answer: the result's text, or `None` for an error (or a malformed
    /// answer, Q-REQ-8).
    pub(super) fn restored(&mut self, key: ObjectKey, step: RestoreStep, result: Option<&str>) {
        let handle = result.and_then(objects::restored_handle);
        match (step, handle) {
            (RestoreStep::ActiveDoc, None) if result.is_none() => {
                match self.last_open_doc.clone() {
                    Some(call) => {
                        self.send_restore(GLOBAL_HANDLE, Some(call), key, RestoreStep::OpenDoc)
                    }
                    None => self.lose_doc(),
                }
            }
            // A Doc on Global's handle is no Doc: its objects would be asked of Global.
            (RestoreStep::ActiveDoc | RestoreStep::OpenDoc, None | Some(GLOBAL_HANDLE)) => {
                self.lose_doc()
            }
            (RestoreStep::ActiveDoc | RestoreStep::OpenDoc, Some(handle)) => {
                self.restore_objects(key, handle)
            }
            (RestoreStep::Object, handle) => {
                let Some(plan) = self.plan() else { return };
                match handle {
                    Some(handle) => plan.restored.push((key, handle)),
                    // SR15: this object only.
                    None => plan.lost.push(key),
                }
                plan.outstanding = plan.outstanding.saturating_sub(1);
                if plan.outstanding == 0 {
                    self.finish_resume();
                }
            }
        }
    }

    pub(super) fn lose_doc(&mut self) {
        if let Some(plan) = self.plan() {
            plan.lose_doc();
        }
        self.finish_resume();
    }

    pub(super) fn restore_objects(&mut self, doc: ObjectKey, handle: Handle) {
        let Some(plan) = self.plan() else { return };
        plan.restored.push((doc, handle));
        let others = mem::take(&mut plan.others);
        plan.outstanding = others.len();
        if others.is_empty() {
            return self.finish_resume();
        }
        for object in others {
            let call = restore_call(object.method, &[Value::String(object.id)]);
            self.send_restore(handle, call, object.key, RestoreStep::Object);
        }
    }

    /// Q-RES-4.
    pub(super) fn finish_resume(&mut self) {
        let Phase::Resuming(Resume {
            waiter,
            step: ResumeStep::Restoring(plan),
            ..
        }) = mem::replace(&mut self.phase, Phase::Open)
        else {
            return;
        };
        self.timers.stop(TimerId::Resume);
        let (closed, changed) = self.objects.finish_restore(plan);
        for key in closed {
            self.emit(Event::ObjectClosed(key));
        }
        for key in changed {
            self.emit(Event::ObjectChanged(key));
        }
        self.emit(Event::Resumed);
        self.reply(waiter, Reply::Done);
        self.replay_parked();
    }
}
