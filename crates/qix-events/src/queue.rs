//! One bounded queue per subscriber or listener.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::Delivery;

/// A drop-oldest ring of events, bounded in events and in bytes, plus the count of events
/// dropped since the last delivery.
///
/// Dropped events are always the ones just before the current front (the oldest are dropped,
/// and only while nothing has been taken since), so reporting the count before the front puts
/// the lag marker exactly where the events went missing.
pub(crate) struct Queue<E> {
    capacity: usize,
    max_bytes: usize,
    inner: Mutex<Inner<E>>,
    /// Set by [`Queue::cancel`], read without the lock: the consumer checks it before handing
    /// out each event it has already taken.
    cancelled: AtomicBool,
}

/// How many events a consumer takes from its queue under one lock: the first is delivered at
/// once, the others wait in the consumer's own buffer. A publisher and a consumer that take
/// turns (a driver and a task on one thread) then pay for the lock once per batch on the
/// consumer's side.
pub(crate) const TAKE: usize = 64;

struct Inner<E> {
    /// Each event with the size it was published with.
    items: VecDeque<(E, usize)>,
    /// The sum of the sizes in `items`.
    bytes: usize,
    missed: u64,
    /// No more pushes; the stream ends once `items` and `missed` are drained.
    closed: bool,
    waker: Option<Waker>,
}

impl<E> Queue<E> {
    pub(crate) fn new(capacity: usize, max_bytes: usize, closed: bool) -> Self {
        Queue {
            capacity,
            max_bytes,
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                bytes: 0,
                missed: 0,
                closed,
                waker: None,
            }),
            cancelled: AtomicBool::new(false),
        }
    }

    // Nothing holding this lock can leave the queue half-updated, so a poisoned lock (a panic
    // in a waker or in an event's Drop elsewhere) still guards a consistent queue.
    fn lock(&self) -> MutexGuard<'_, Inner<E>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Never waits on the consumer: a full queue drops its oldest events instead, as many as
    /// it takes to stay within both bounds. An event larger than the byte bound on its own is
    /// still queued, alone: it is in memory anyway, and dropping it unseen would hide it.
    pub(crate) fn push(&self, event: E, size: usize) {
        let (evicted, waker) = {
            let mut inner = self.lock();
            if inner.closed {
                return;
            }
            // A lagging subscriber evicts one event per push: that one needs no allocation;
            // only a large event evicting several fills the `Vec`.
            let mut evicted = (None, Vec::new());
            while inner.items.len() >= self.capacity
                || (!inner.items.is_empty() && inner.bytes.saturating_add(size) > self.max_bytes)
            {
                let Some((old, old_size)) = inner.items.pop_front() else {
                    break;
                };
                inner.bytes -= old_size;
                inner.missed = inner.missed.saturating_add(1);
                match evicted.0 {
                    None => evicted.0 = Some(old),
                    Some(_) => evicted.1.push(old),
                }
            }
            inner.bytes = inner.bytes.saturating_add(size);
            inner.items.push_back((event, size));
            (evicted, inner.waker.take())
        };
        // An evicted event may be the last reference; its Drop runs outside the lock.
        drop(evicted);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Stops accepting events; what is queued is still delivered.
    pub(crate) fn close(&self) {
        let waker = {
            let mut inner = self.lock();
            inner.closed = true;
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Stops accepting events and throws away what is queued.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        let (discarded, waker) = {
            let mut inner = self.lock();
            inner.closed = true;
            inner.missed = 0;
            inner.bytes = 0;
            (std::mem::take(&mut inner.items), inner.waker.take())
        };
        drop(discarded);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// True once [`Queue::cancel`] was called.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// The next delivery; with an event, up to [`TAKE`] - 1 of the ones queued behind it are
    /// moved to `taken` (which the caller has emptied), to be handed out before the queue is
    /// asked again. Events taken are delivered whatever the queue drops later: they are older
    /// than anything still queued, so a lag marker still comes where the events went missing.
    pub(crate) fn poll_next(
        &self,
        taken: &mut VecDeque<(E, usize)>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Delivery<E>>> {
        let mut inner = self.lock();
        if inner.missed > 0 {
            let missed = std::mem::take(&mut inner.missed);
            return Poll::Ready(Some(Delivery::Lagged { missed }));
        }
        if let Some((event, _)) = inner.items.pop_front() {
            if inner.items.len() < TAKE {
                // The usual case: the rest fits in one batch, and the two buffers trade places
                // (the queue keeps the consumer's empty one, with its capacity).
                std::mem::swap(&mut inner.items, taken);
                inner.bytes = 0;
            } else {
                taken.extend(inner.items.drain(..TAKE - 1));
                inner.bytes = inner.items.iter().map(|(_, size)| size).sum();
            }
            return Poll::Ready(Some(Delivery::Event(event)));
        }
        if inner.closed {
            return Poll::Ready(None);
        }
        match &inner.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => inner.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// True once the queue is closed and fully drained.
    pub(crate) fn is_finished(&self) -> bool {
        let inner = self.lock();
        inner.closed && inner.missed == 0 && inner.items.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().items.len()
    }

    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
    }
}
