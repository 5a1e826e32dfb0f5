//! What the driver tells the user: the machine's events published on the session's and the
//! objects' buses, and the registry of the objects' shared state.

use std::sync::Arc;

use qix_events::{Bus, Publisher};
use qix_rpc::Bytes;
use qix_session::{Event, ObjectInfo, ObjectKey, SocketProblem};
use rustc_hash::FxHashMap;

use crate::event::{Direction, ObjectEvent, SessionEvent, Traffic};
use crate::object::ObjectShared;
use crate::Error;

/// The bounds of every subscriber's and listener's queue, in events and in bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) events: usize,
    pub(crate) bytes: usize,
}

impl Limits {
    pub(crate) fn session_bus(self) -> Bus<SessionEvent> {
        Bus::with_limits(self.events, self.bytes, SessionEvent::heap_size)
    }

    pub(crate) fn object_bus(self) -> Bus<ObjectEvent> {
        Bus::with_limits(self.events, self.bytes, ObjectEvent::heap_size)
    }
}

/// The publishers of one bus's `traffic:sent` and `traffic:received`: a frame costs no topic
/// matching (Q-EV-5's check included) while the bus's subscribers stay the same.
struct TrafficPublishers<E> {
    sent: Publisher<E>,
    received: Publisher<E>,
}

impl<E: Clone + Send + 'static> TrafficPublishers<E> {
    fn new(bus: &Bus<E>) -> Self {
        Self {
            sent: bus.publisher("traffic", Some(Direction::Sent.as_str())),
            received: bus.publisher("traffic", Some(Direction::Received.as_str())),
        }
    }

    fn publish_with(&mut self, direction: Direction, build: impl FnOnce() -> E) {
        match direction {
            Direction::Sent => self.sent.publish_with(build),
            Direction::Received => self.received.publish_with(build),
        }
    }
}

/// The traffic publishers of a bus, made when the bus first has a subscriber: an idle
/// session, and an object nobody subscribed to, keep a null pointer instead of two publishers.
struct LazyTraffic<E>(Option<Box<TrafficPublishers<E>>>);

impl<E: Clone + Send + 'static> LazyTraffic<E> {
    fn publish_with(&mut self, bus: &Bus<E>, direction: Direction, build: impl FnOnce() -> E) {
        let publishers = match &mut self.0 {
            Some(publishers) => publishers,
            // Nobody has subscribed to this bus yet: one atomic load.
            None if !bus.has_receivers() => return,
            None => self.0.insert(Box::new(TrafficPublishers::new(bus))),
        };
        publishers.publish_with(direction, build);
    }
}

/// A live object's shared state and its traffic publishers.
struct Registered {
    shared: Arc<ObjectShared>,
    traffic: LazyTraffic<ObjectEvent>,
}

/// The buses of a session and of its live objects.
pub(crate) struct Emitter {
    bus: Bus<SessionEvent>,
    traffic: LazyTraffic<SessionEvent>,
    objects: FxHashMap<ObjectKey, Registered>,
    object_limits: Limits,
}

impl Emitter {
    pub(crate) fn new(bus: Bus<SessionEvent>, object_limits: Limits) -> Self {
        Self {
            traffic: LazyTraffic(None),
            bus,
            objects: FxHashMap::default(),
            object_limits,
        }
    }

    /// The shared state of a registered object: the same for the same key.
    pub(crate) fn object(&mut self, info: ObjectInfo) -> Arc<ObjectShared> {
        let limits = self.object_limits;
        let registered = self.objects.entry(info.key).or_insert_with(|| {
            let shared = Arc::new(ObjectShared::new(info, limits.object_bus()));
            Registered {
                shared,
                traffic: LazyTraffic(None),
            }
        });
        Arc::clone(&registered.shared)
    }

    /// Publishes one of the machine's events where its topic says. `handle` reads an object's
    /// current handle from the machine.
    pub(crate) fn emit(&mut self, event: Event, handle: impl Fn(ObjectKey) -> Option<i32>) {
        if let Event::Notification(notification) = &event {
            let (kind, name) = event.topic();
            if !self.bus.is_listened(kind, name) {
                return;
            }
            let method = notification.method.as_deref().unwrap_or_default();
            match serde_json::from_slice(notification.params.as_bytes()) {
                Ok(params) => self.bus.publish(
                    kind,
                    name,
                    SessionEvent::Notification {
                        method: method.to_owned(),
                        params,
                    },
                ),
                // The frame is JSON (it was checked), but params that a `Value` cannot hold
                // (nested deeper than serde_json's 128 levels) are not a `null` to hand out:
                // the listeners of `socket-error` are told, as for any frame we cannot use.
                Err(cause) => {
                    let error = qix_rpc::DecodeError::BadMember {
                        member: "params",
                        expected: "JSON a serde_json::Value holds (at most 128 levels deep)",
                    };
                    tracing::debug!(%error, %cause, method, "notification dropped");
                    self.emit(Event::SocketError(SocketProblem::Decode(error)), handle);
                }
            }
            return;
        }
        // The other topics have no name, so nothing borrows from the event.
        let kind = event.topic().0;
        let name = None;
        match event {
            Event::ObjectChanged(key) => {
                if let Some(Registered { shared, .. }) = self.objects.get(&key) {
                    // A frame that changes and closes the object leaves no handle to read:
                    // the `changed` still goes out, before the `closed`.
                    if let Some(handle) = handle(key) {
                        shared.set_handle(handle);
                    }
                    shared.bus.publish(kind, name, ObjectEvent::Changed);
                }
            }
            Event::ObjectClosed(key) => {
                if let Some(Registered { shared, .. }) = self.objects.remove(&key) {
                    shared.mark_closed();
                    shared.bus.publish(kind, name, ObjectEvent::Closed);
                    shared.bus.close();
                }
            }
            Event::SocketError(problem) => {
                self.bus.publish_with(kind, name, || {
                    let error = match problem {
                        SocketProblem::Transport(cause) => Error::from_cause(&cause),
                        SocketProblem::Decode(error) => Error::Protocol(error),
                    };
                    tracing::debug!(%error, "socket error");
                    SessionEvent::SocketError(Arc::new(error))
                });
            }
            Event::Opened => {
                tracing::info!("session opened");
                self.bus.publish_with(kind, name, || SessionEvent::Opened);
            }
            Event::Closed(close) => {
                tracing::info!(code = close.code, reason = %close.reason, "session closed");
                self.bus.publish(kind, name, SessionEvent::Closed(close));
            }
            Event::Suspended { initiator, close } => {
                tracing::info!(?initiator, code = close.code, reason = %close.reason, "session suspended");
                self.bus.publish(
                    kind,
                    name,
                    SessionEvent::Suspended {
                        initiator,
                        code: close.code,
                        reason: close.reason,
                    },
                );
            }
            Event::Resumed => {
                tracing::info!("session resumed");
                self.bus.publish_with(kind, name, || SessionEvent::Resumed);
            }
            Event::Resuming { attempt, delay } => {
                tracing::info!(attempt, ?delay, "automatic resume attempt scheduled");
                self.bus
                    .publish_with(kind, name, || SessionEvent::Resuming { attempt, delay });
            }
            Event::ResumeFailed { attempts, failure } => {
                let error = Arc::new(Error::from_failure(failure));
                tracing::warn!(attempts, %error, "automatic resume gave up");
                self.bus
                    .publish(kind, name, SessionEvent::ResumeFailed { attempts, error });
            }
            // Published above, and by the driver, which holds the frame's text.
            Event::Notification(_) | Event::TrafficReceived { .. } => {}
        }
    }

    /// Publishes a frame to the session's and the object's traffic listeners, sharing its
    /// bytes; nothing is built when nobody listens (Q-EV-5).
    pub(crate) fn traffic(
        &mut self,
        direction: Direction,
        text: &Bytes,
        object: Option<&ObjectKey>,
    ) {
        // A publisher builds the event only when someone listens; each bus gets its own
        // `Traffic`, which shares the frame.
        let traffic = || Traffic::new(direction, text.clone());
        if let Some(object) = object.and_then(|key| self.objects.get_mut(key)) {
            let bus = &object.shared.bus;
            object
                .traffic
                .publish_with(bus, direction, || ObjectEvent::Traffic(traffic()));
        }
        self.traffic
            .publish_with(&self.bus, direction, || SessionEvent::Traffic(traffic()));
    }

    /// Ends every stream: nothing more will be told.
    pub(crate) fn close(&self) {
        self.bus.close();
        for object in self.objects.values() {
            object.shared.bus.close();
        }
    }
}
