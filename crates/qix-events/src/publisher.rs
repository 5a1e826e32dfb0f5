//! A publisher of one topic that keeps the queues it matches between publishes.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::bus::Shared;
use crate::queue::Queue;

/// Gives `event` to every queue: a clone to each but the last, which gets the event itself.
pub(crate) fn fan_out<'a, E: Clone + 'a>(
    mut queues: impl Iterator<Item = &'a Queue<E>>,
    event: E,
    size: usize,
) {
    let Some(mut current) = queues.next() else {
        return;
    };
    for next in queues {
        current.push(event.clone(), size);
        current = next;
    }
    current.push(event, size);
}

/// Publishes the events of one `(kind, name)` on a [`Bus`](crate::Bus), made by
/// [`Bus::publisher`](crate::Bus::publisher).
///
/// It delivers exactly what [`Bus::publish_with`](crate::Bus::publish_with) would, in the
/// same order relative to the bus's other publishes from the same thread; it only remembers
/// which queues match, and asks the bus again when a subscriber or listener came or went. A
/// subscriber added while a publish runs may or may not get that event, as with the bus. Like
/// a [`Bus`](crate::Bus) handle, a publisher keeps the bus open: the bus closes by itself once
/// every handle and every publisher is gone.
pub struct Publisher<E> {
    shared: Arc<Shared<E>>,
    kind: Cow<'static, str>,
    name: Option<Cow<'static, str>>,
    /// The bus's generation when `queues` was taken; `None` before the first look.
    generation: Option<u64>,
    queues: Vec<Arc<Queue<E>>>,
}

impl<E: Clone + Send + 'static> Publisher<E> {
    pub(crate) fn new(
        shared: Arc<Shared<E>>,
        kind: Cow<'static, str>,
        name: Option<Cow<'static, str>>,
    ) -> Self {
        Publisher {
            shared,
            kind,
            name,
            generation: None,
            queues: Vec::new(),
        }
    }

    /// Takes the matching queues again if the bus's subscribers changed since the last look.
    fn refresh(&mut self) {
        if self.generation == Some(self.shared.generation()) {
            return;
        }
        // The queues let go of may hold the last reference to events: dropped outside the lock.
        let stale = std::mem::take(&mut self.queues);
        let generation = self
            .shared
            .matching(&self.kind, self.name.as_deref(), &mut self.queues);
        self.generation = Some(generation);
        drop(stale);
    }

    /// True when at least one live subscriber or listener matches this publisher's topic.
    pub fn is_listened(&mut self) -> bool {
        self.refresh();
        !self.queues.is_empty()
    }

    /// Publishes the event that `build` makes, calling `build` only when someone matches; as
    /// [`Bus::publish_with`](crate::Bus::publish_with).
    pub fn publish_with(&mut self, build: impl FnOnce() -> E) {
        if !self.is_listened() {
            return;
        }
        let event = build();
        let size = self.shared.size_of(&event);
        fan_out(self.queues.iter().map(|queue| &**queue), event, size);
    }

    /// Publishes an event already built; as [`Bus::publish`](crate::Bus::publish).
    pub fn publish(&mut self, event: E) {
        self.publish_with(|| event);
    }
}

impl<E> fmt::Debug for Publisher<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("matching", &self.queues.len())
            .finish()
    }
}
