//! The bus: who is subscribed to what, and publishing to them.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::listener::{self, ListenError, ListenerGuard};
use crate::publisher::{fan_out, Publisher};
use crate::queue::Queue;
use crate::subscription::Subscription;
use crate::{Delivery, Topic};

/// Queue bound per subscriber and per listener used by [`Bus::new`].
pub const DEFAULT_CAPACITY: usize = 1024;

/// A byte bound per subscriber and per listener for [`Bus::with_limits`]: 16 MiB, what a
/// few large engine answers take. The `qix` crate uses it for its sessions' events. [`Bus::new`]
/// and [`Bus::with_capacity`] bound events only.
pub const DEFAULT_MAX_BYTES: usize = 16 << 20;

/// A publish/subscribe bus for events of type `E`, addressed by kind and optional name.
///
/// Cloning gives another handle to the same bus. When the last handle is dropped the bus
/// closes as with [`Bus::close`].
///
/// # Delivery
///
/// Every subscriber and every listener has its own queue of at most `capacity` events and, on
/// a bus made by [`Bus::with_limits`], at most `max_bytes` bytes as the bus's size function
/// reckons them; topics are matched when an event is published, so only the queues of
/// matching subscribers fill up. A subscription takes the event it delivers together with up
/// to 63 queued behind it, under one lock, and hands those out before it asks its queue again:
/// what it holds is at most `capacity` queued events plus fewer than 64 taken ones.
///
/// When a queue is full the **oldest** queued events are dropped to make room (as tokio's
/// `broadcast` does). The subscriber then receives [`Delivery::Lagged`] with the exact number
/// dropped, at the place where they were, followed by the newer events it still holds. Every
/// event a subscriber receives comes in publish order.
///
/// # The publisher never waits
///
/// Publishing appends to queues under short internal locks that are never held across a
/// callback, an `.await` or a consumer's code, so a subscriber that stops reading or a slow
/// listener cannot hold the publisher up.
pub struct Bus<E> {
    shared: Arc<Shared<E>>,
}

pub(crate) struct Shared<E> {
    capacity: usize,
    max_bytes: usize,
    /// The bytes an event holds, for the byte bound; `None` when there is no byte bound.
    size: Option<fn(&E) -> usize>,
    state: Mutex<State<E>>,
    /// How many entries `state` holds, read without the lock: a bus nobody listens to costs
    /// one atomic load per publish.
    entry_count: AtomicUsize,
    /// Bumped, under the lock, whenever `entries` changes or the bus closes: a [`Publisher`]
    /// whose cached queues were taken at the current generation can use them without the lock.
    generation: AtomicU64,
    listener_panics: Arc<AtomicU64>,
}

struct State<E> {
    closed: bool,
    next_id: u64,
    entries: Vec<Entry<E>>,
}

struct Entry<E> {
    id: u64,
    topics: Arc<[Topic]>,
    queue: Arc<Queue<E>>,
}

impl<E> Entry<E> {
    fn matches(&self, kind: &str, name: Option<&str>) -> bool {
        self.topics.iter().any(|topic| topic.matches(kind, name))
    }
}

impl<E> Shared<E> {
    // Every update of the state is a single push, remove or flag write, so a lock poisoned by
    // a panic elsewhere (an event's Drop, a waker) still guards a consistent state.
    fn lock(&self) -> MutexGuard<'_, State<E>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(&self, topics: Arc<[Topic]>) -> (u64, Arc<Queue<E>>) {
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        let queue = Arc::new(Queue::new(self.capacity, self.max_bytes, state.closed));
        if !state.closed {
            state.entries.push(Entry {
                id,
                topics,
                queue: Arc::clone(&queue),
            });
            self.entry_count
                .store(state.entries.len(), Ordering::Release);
            self.generation.fetch_add(1, Ordering::Release);
        }
        (id, queue)
    }

    /// The bus's generation and the queues of the receivers matching `(kind, name)` in it,
    /// appended to `queues`.
    pub(crate) fn matching(
        &self,
        kind: &str,
        name: Option<&str>,
        queues: &mut Vec<Arc<Queue<E>>>,
    ) -> u64 {
        let state = self.lock();
        queues.extend(
            state
                .entries
                .iter()
                .filter(|entry| entry.matches(kind, name))
                .map(|entry| Arc::clone(&entry.queue)),
        );
        // Bumps happen under the lock, so this is the generation of what was read.
        self.generation.load(Ordering::Acquire)
    }

    /// Changes whenever the receivers do (see [`Shared::matching`]).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// What `event` weighs against the byte bound.
    pub(crate) fn size_of(&self, event: &E) -> usize {
        self.size.map_or(0, |size| size(event))
    }

    pub(crate) fn unregister(&self, id: u64) {
        let removed = {
            let mut state = self.lock();
            let at = state.entries.iter().position(|entry| entry.id == id);
            let removed = at.map(|at| state.entries.swap_remove(at));
            self.entry_count
                .store(state.entries.len(), Ordering::Release);
            self.generation.fetch_add(1, Ordering::Release);
            removed
        };
        drop(removed);
    }

    fn close(&self) {
        let entries = {
            let mut state = self.lock();
            state.closed = true;
            self.entry_count.store(0, Ordering::Release);
            self.generation.fetch_add(1, Ordering::Release);
            std::mem::take(&mut state.entries)
        };
        for entry in &entries {
            entry.queue.close();
        }
    }
}

impl<E> Drop for Shared<E> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<E: Clone + Send + 'static> Bus<E> {
    /// A bus whose subscribers and listeners each queue up to [`DEFAULT_CAPACITY`] (1024)
    /// events.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A bus whose subscribers and listeners each queue up to `capacity` events.
    ///
    /// # Panics
    ///
    /// When `capacity` is 0: a queue must hold at least the event it is handing out.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::build(capacity, usize::MAX, None)
    }

    /// A bus whose subscribers and listeners each queue up to `capacity` events and up to
    /// `max_bytes` bytes, an event's bytes being what `size` says (what it holds on the heap:
    /// a frame's length, say). A queue over either bound drops its oldest events and reports
    /// them with [`Delivery::Lagged`]; an event larger than `max_bytes` on its own is still
    /// delivered, alone. `size` is called once per published event, not per subscriber.
    ///
    /// ```
    /// use futures_util::{FutureExt, StreamExt};
    /// use qix_events::{Bus, Delivery, Topic};
    ///
    /// let bus: Bus<Vec<u8>> = Bus::with_limits(1024, 3_000, Vec::len);
    /// let mut frames = bus.subscribe(Topic::parse("traffic:*")?);
    /// for _ in 0..4 {
    ///     bus.publish("traffic", Some("received"), vec![0; 1_000]);
    /// }
    /// // Four frames of 1,000 bytes do not fit in 3,000: the oldest went.
    /// assert!(matches!(frames.next().now_or_never(), Some(Some(Delivery::Lagged { missed: 1 }))));
    /// # Ok::<(), qix_events::TopicError>(())
    /// ```
    ///
    /// # Panics
    ///
    /// When `capacity` or `max_bytes` is 0.
    pub fn with_limits(capacity: usize, max_bytes: usize, size: fn(&E) -> usize) -> Self {
        assert!(
            max_bytes >= 1,
            "qix-events: a bus queue byte bound must be at least 1"
        );
        Self::build(capacity, max_bytes, Some(size))
    }

    fn build(capacity: usize, max_bytes: usize, size: Option<fn(&E) -> usize>) -> Self {
        assert!(
            capacity >= 1,
            "qix-events: a bus queue capacity must be at least 1"
        );
        Bus {
            shared: Arc::new(Shared {
                capacity,
                max_bytes,
                size,
                state: Mutex::new(State {
                    closed: false,
                    next_id: 0,
                    entries: Vec::new(),
                }),
                entry_count: AtomicUsize::new(0),
                generation: AtomicU64::new(0),
                listener_panics: Arc::new(AtomicU64::new(0)),
            }),
        }
    }

    /// The queue bound of each subscriber and listener, in events.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// The queue bound of each subscriber and listener, in bytes (`usize::MAX`: none).
    pub fn max_bytes(&self) -> usize {
        self.shared.max_bytes
    }

    /// True when the bus has at least one live subscriber or listener, whatever its topics:
    /// one atomic load.
    pub fn has_receivers(&self) -> bool {
        self.shared.entry_count.load(Ordering::Acquire) > 0
    }

    /// True when at least one live subscriber or listener matches `(kind, name)`.
    /// Allocation-free; false once the bus is closed.
    pub fn is_listened(&self, kind: &str, name: Option<&str>) -> bool {
        if self.shared.entry_count.load(Ordering::Acquire) == 0 {
            return false;
        }
        let state = self.shared.lock();
        state.entries.iter().any(|entry| entry.matches(kind, name))
    }

    /// Publishes the event that `build` makes, calling `build` only when someone matches.
    ///
    /// Each matching subscriber and listener gets the event once, however many of its topics
    /// match: a clone, or the event itself for the last of them. Never blocks and never awaits.
    /// `build` runs outside the bus's locks, so it may use the bus; a subscriber added while it
    /// runs may or may not get the event. A task that publishes one topic often does better
    /// with a [`Publisher`], which matches topics only when subscribers come or go.
    pub fn publish_with(&self, kind: &str, name: Option<&str>, build: impl FnOnce() -> E) {
        if !self.is_listened(kind, name) {
            return;
        }
        let event = build();
        let size = self.shared.size_of(&event);
        let state = self.shared.lock();
        let matching = state.entries.iter().filter(|e| e.matches(kind, name));
        fan_out(matching.map(|entry| &*entry.queue), event, size);
    }

    /// A publisher of the events of one `(kind, name)`, for a task that publishes them often:
    /// it keeps the queues that match and looks at the bus's subscribers again only when they
    /// changed, so a publish costs an atomic load plus one short lock per matching queue.
    ///
    /// ```
    /// use futures_util::{FutureExt, StreamExt};
    /// use qix_events::{Bus, Delivery, Topic};
    ///
    /// let bus: Bus<u32> = Bus::new();
    /// let mut sent = bus.publisher("traffic", Some("sent"));
    /// assert!(!sent.is_listened());
    /// let mut frames = bus.subscribe(Topic::parse("traffic:*")?);
    /// sent.publish(7);
    /// assert!(matches!(frames.next().now_or_never(), Some(Some(Delivery::Event(7)))));
    /// # Ok::<(), qix_events::TopicError>(())
    /// ```
    pub fn publisher(
        &self,
        kind: impl Into<Cow<'static, str>>,
        name: Option<impl Into<Cow<'static, str>>>,
    ) -> Publisher<E> {
        Publisher::new(Arc::clone(&self.shared), kind.into(), name.map(Into::into))
    }

    /// Publishes an event already built; see [`Bus::publish_with`] to skip building it when
    /// nobody listens.
    pub fn publish(&self, kind: &str, name: Option<&str>, event: E) {
        self.publish_with(kind, name, || event);
    }

    /// A stream of the events matching `topic`, from now on.
    ///
    /// Dropping the subscription unsubscribes. On a closed bus the stream has already ended.
    pub fn subscribe(&self, topic: Topic) -> Subscription<E> {
        self.subscribe_many([topic])
    }

    /// A stream of the events matching any of `topics`; an event matching several of them is
    /// delivered once. With no topics the stream receives nothing until the bus closes.
    pub fn subscribe_many(&self, topics: impl IntoIterator<Item = Topic>) -> Subscription<E> {
        let topics: Arc<[Topic]> = topics.into_iter().collect();
        let (id, queue) = self.shared.register(Arc::clone(&topics));
        Subscription::new(id, topics, queue, Arc::downgrade(&self.shared))
    }

    /// Calls `listener` with every delivery matching `topic`, on a thread of its own: a
    /// listener that blocks delays only its own later calls, never the publisher nor any
    /// runtime (no runtime is needed).
    ///
    /// The listener has its own queue, bounded like a subscription's, so a slow listener is
    /// told it lagged ([`Delivery::Lagged`]) instead of slowing anyone down. A listener that
    /// panics is removed: it is not called again, the panic is logged with `tracing::error!`
    /// and counted in [`Bus::listener_panics`] and [`ListenerGuard::has_panicked`], and other
    /// listeners and subscribers are untouched. Dropping the guard removes the listener (a call
    /// already running finishes). When the bus closes the listener gets what it had queued,
    /// then stops. On a closed bus the listener is never called.
    ///
    /// # Errors
    ///
    /// [`ListenError::Thread`] when the listener's thread cannot be started.
    pub fn on<F>(&self, topic: Topic, listener: F) -> Result<ListenerGuard, ListenError>
    where
        F: Fn(Delivery<E>) + Send + 'static,
    {
        self.on_many([topic], listener)
    }

    /// Like [`Bus::on`] for several topics; an event matching several of them is delivered
    /// once.
    ///
    /// # Errors
    ///
    /// [`ListenError::Thread`] when the listener's thread cannot be started.
    pub fn on_many<F>(
        &self,
        topics: impl IntoIterator<Item = Topic>,
        listener: F,
    ) -> Result<ListenerGuard, ListenError>
    where
        F: Fn(Delivery<E>) + Send + 'static,
    {
        let subscription = self.subscribe_many(topics);
        listener::spawn(
            subscription,
            listener,
            Arc::clone(&self.shared.listener_panics),
        )
    }

    /// How many listeners of this bus have panicked (and so were removed).
    pub fn listener_panics(&self) -> u64 {
        self.shared.listener_panics.load(Ordering::Acquire)
    }

    /// Closes the bus: every subscription yields what it holds, then ends; every listener is
    /// called with what it holds, then stops. Later publishes are dropped without building the
    /// event, later subscriptions have already ended, later listeners are never called.
    pub fn close(&self) {
        self.shared.close();
    }

    /// True once [`Bus::close`] has been called.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }
}

impl<E: Clone + Send + 'static> Default for Bus<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Clone for Bus<E> {
    fn clone(&self) -> Self {
        Bus {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<E> fmt::Debug for Bus<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Bus")
            .field("capacity", &self.shared.capacity)
            .field("max_bytes", &self.shared.max_bytes)
            .field("receivers", &state.entries.len())
            .field("closed", &state.closed)
            .finish()
    }
}
