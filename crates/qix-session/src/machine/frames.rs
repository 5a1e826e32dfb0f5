//! What the engine sends: answers, notifications, change and close arrays (Q-REQ-4..6, Q-EV).

use super::*;

impl Machine {
    pub(super) fn frame(&mut self, conn: ConnId, decoded: Result<Incoming<RawJson>, FrameError>) {
        let Some(link) = self
            .link
            .as_mut()
            .filter(|link| link.conn == conn && link.connected)
        else {
            return;
        };
        link.errored = false;
        if let Some(now) = self.now {
            self.heard(now);
        }
        match decoded {
            // Q-REQ-6: dropped, reported, nothing else touched. Q-REQ-8: unless its id names
            // a pending request, which then fails with the frame's error.
            Err(FrameError { id, error }) => {
                let pending = id.and_then(|id| self.requests.take(id));
                if !self.phase.is_suspended() {
                    self.emit(Event::SocketError(SocketProblem::Decode(error.clone())));
                }
                if let Some(pending) = pending {
                    match pending.purpose {
                        Purpose::Call { waiter, delta, .. } => {
                            // Q-DELTA-4: an answer that may have moved the engine's baseline
                            // could not be read.
                            if let Some(key) = delta {
                                self.delta_failed(key.handle, key.method.into_string());
                            }
                            self.fail(waiter, Failure::BadFrame(error));
                            self.settled();
                        }
                        Purpose::Abandoned(key) => {
                            self.delta_failed(key.handle, key.method.into_string())
                        }
                        Purpose::Restore(step, key) => self.restored(key, step, None),
                        Purpose::Probe | Purpose::Cancel => {}
                    }
                }
            }
            Ok(Incoming::Response(response)) => self.response(response),
            Ok(Incoming::Notification(notification)) => self.notification(notification),
            Ok(Incoming::Message(changes)) => {
                self.emit(Event::TrafficReceived { object: None });
                self.apply_changes(changes);
            }
        }
    }

    /// Q-EV-2: change before close; ignored while suspended (Q-EV-3).
    ///
    /// A handle listed twice counts once, so one frame yields at most one event per registered
    /// object however long its arrays are.
    pub(super) fn apply_changes(&mut self, changes: Changes) {
        if self.phase.is_suspended() {
            return;
        }
        let mut changed = HashSet::new();
        for handle in changes.change {
            if let Some(key) = self.objects.key_of(handle) {
                if changed.insert(key) {
                    self.emit(Event::ObjectChanged(key));
                }
            }
        }
        for handle in changes.close {
            self.drop_baselines(handle);
            if let Some(key) = self.objects.remove_by_handle(handle) {
                self.emit(Event::ObjectClosed(key));
            }
        }
    }

    /// Q-REQ-4.
    pub(super) fn response(&mut self, response: Response<RawJson>) {
        let Response {
            id,
            body,
            changes,
            delta: response_delta,
            ..
        } = response;
        let Some(pending) = self.requests.take(id) else {
            // Not ours: a plain message, never a notification.
            self.emit(Event::TrafficReceived { object: None });
            return self.apply_changes(changes);
        };
        // A closed object gets no more events, not even traffic.
        let object = pending.object.filter(|key| self.objects.contains(*key));
        self.emit(Event::TrafficReceived { object });
        self.apply_changes(changes);
        match pending.purpose {
            Purpose::Call {
                waiter,
                returns_object,
                delta,
                ..
            } => {
                let delta = delta.filter(|_| response_delta);
                self.settle(waiter, returns_object, delta, body);
                self.settled();
            }
            Purpose::Restore(step, key) => {
                let result = match &body {
                    ResponseBody::Result(raw) => Some(raw.get()),
                    ResponseBody::Error(_) => None,
                };
                self.restored(key, step, result)
            }
            Purpose::Abandoned(key) => {
                let result = match body {
                    ResponseBody::Result(raw) => Some(raw),
                    ResponseBody::Error(_) => None,
                };
                self.abandoned_answer(key, response_delta, result)
            }
            // Answered: a probe by any frame already, a cancel needs nothing more.
            Purpose::Probe | Purpose::Cancel => {}
        }
    }

    pub(super) fn settle(
        &mut self,
        waiter: Waiter,
        returns_object: bool,
        delta: Option<DeltaKey>,
        body: ResponseBody<RawJson>,
    ) {
        let reply = match (body, delta) {
            (ResponseBody::Error(error), _) => Reply::Failed(Failure::Engine(error)),
            // Q-DELTA-1: the answer says it holds patches (enigma.js I8 reads the response's
            // flag, not the request's). Never for a call that returns an object.
            (ResponseBody::Result(result), Some(DeltaKey { handle, method, .. })) => Reply::Delta {
                handle,
                method,
                result,
            },
            (ResponseBody::Result(raw), None) if !returns_object => Reply::Result(raw),
            // Registered after the change array was applied: no `changed` for its own
            // response (enigma.js C8).
            (ResponseBody::Result(raw), None) => match objects::object_ref(raw.get()) {
                Ok(object) => Reply::Object {
                    info: self.objects.register(object),
                    result: raw,
                },
                Err(failure) => Reply::Failed(failure),
            },
        };
        self.reply(waiter, reply);
    }

    pub(super) fn notification(&mut self, notification: Notification<RawJson>) {
        self.emit(Event::TrafficReceived { object: None });
        let awaiting = matches!(
            self.phase,
            Phase::Resuming(Resume {
                step: ResumeStep::AwaitingOnConnected,
                ..
            }) | Phase::Connecting { greeting: true, .. }
        );
        let state = (awaiting && notification.method.as_deref() == Some("OnConnected"))
            .then(|| read_session_state(&notification.params));
        let opening = matches!(self.phase, Phase::Connecting { .. });
        if let (Some(state), true) = (&state, opening) {
            // The session opens on it: `opened` comes before the notification, as the seed
            // has it.
            self.session_state(state.clone());
            return self.emit(Event::Notification(notification));
        }
        self.emit(Event::Notification(notification));
        if let Some(state) = state {
            self.timers.stop(TimerId::OnConnected);
            self.session_state(state);
        }
    }
}
