//! A subscriber's end: its queue, what it has taken from it, and the stream over both.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use futures_util::stream::{FusedStream, Stream};

use crate::bus::Shared;
use crate::queue::Queue;
use crate::{Delivery, Topic};

/// The events of one or more topics, as a [`Stream`] of [`Delivery`].
///
/// Created by [`Bus::subscribe`](crate::Bus::subscribe). Dropping it unsubscribes. The stream
/// ends (yields `None`) once the bus is closed or dropped and everything queued has been
/// delivered.
pub struct Subscription<E> {
    id: u64,
    topics: Arc<[Topic]>,
    queue: Arc<Queue<E>>,
    bus: Weak<Shared<E>>,
    /// Events taken from the queue with the one last delivered, in order, not yet handed out.
    taken: VecDeque<(E, usize)>,
    finished: bool,
}

impl<E> Subscription<E> {
    pub(crate) fn new(
        id: u64,
        topics: Arc<[Topic]>,
        queue: Arc<Queue<E>>,
        bus: Weak<Shared<E>>,
    ) -> Self {
        Subscription {
            id,
            topics,
            queue,
            bus,
            taken: VecDeque::new(),
            finished: false,
        }
    }

    /// The topics this subscription receives.
    pub fn topics(&self) -> &[Topic] {
        &self.topics
    }

    pub(crate) fn detach_parts(&self) -> (u64, Arc<Queue<E>>, Weak<Shared<E>>) {
        (self.id, Arc::clone(&self.queue), Weak::clone(&self.bus))
    }

    /// What [`Stream::poll_next`] does, without pinning (for a listener's thread).
    pub(crate) fn poll_next_delivery(&mut self, cx: &mut Context<'_>) -> Poll<Option<Delivery<E>>> {
        Pin::new(self).poll_next(cx)
    }
}

// Nothing is pinned in place: the events a subscription holds are moved in and out.
impl<E> Unpin for Subscription<E> {}

impl<E> Stream for Subscription<E> {
    type Item = Delivery<E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        // A removed listener is not called again, not even with what it had taken.
        if this.queue.is_cancelled() {
            this.taken.clear();
        } else if let Some((event, _)) = this.taken.pop_front() {
            return Poll::Ready(Some(Delivery::Event(event)));
        }
        let next = this.queue.poll_next(&mut this.taken, cx);
        if let Poll::Ready(None) = next {
            this.finished = true;
        }
        next
    }
}

impl<E> FusedStream for Subscription<E> {
    fn is_terminated(&self) -> bool {
        self.finished || (self.taken.is_empty() && self.queue.is_finished())
    }
}

/// Takes a receiver off its bus: unregistered at once (so `is_listened` turns false), and its
/// queue cancelled, since a publisher may still hold the queue until it next looks at the bus:
/// what it pushes meanwhile is dropped at once, and what was queued goes now.
pub(crate) fn detach<E>(bus: &Weak<Shared<E>>, id: u64, queue: &Queue<E>) {
    if let Some(shared) = bus.upgrade() {
        shared.unregister(id);
    }
    queue.cancel();
}

impl<E> Drop for Subscription<E> {
    fn drop(&mut self) {
        detach(&self.bus, self.id, &self.queue);
    }
}

impl<E> fmt::Debug for Subscription<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topics", &self.topics)
            .field("finished", &self.finished)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Bus;
    use futures_util::{FutureExt, StreamExt};

    fn topic(s: &str) -> Topic {
        Topic::parse(s).unwrap()
    }

    #[test]
    fn queue_memory_stays_within_capacity_whatever_the_publish_rate() {
        let bus: Bus<u64> = Bus::with_capacity(8);
        let mut sub = bus.subscribe(topic("traffic:*"));
        for i in 0..10_000u64 {
            bus.publish("traffic", Some("sent"), i);
            assert!(sub.queue.len() <= 8);
        }
        assert_eq!(sub.queue.len(), 8);
        assert!(matches!(
            sub.next().now_or_never(),
            Some(Some(Delivery::Lagged { missed: 9_992 }))
        ));
    }

    #[test]
    fn queue_bytes_stay_within_the_byte_bound_and_are_given_back_when_taken() {
        let bus: Bus<Vec<u8>> = Bus::with_limits(1024, 10_000, Vec::len);
        let mut sub = bus.subscribe(topic("traffic:*"));
        for _ in 0..1_000 {
            bus.publish("traffic", Some("received"), vec![0; 3_000]);
            assert!(sub.queue.bytes() <= 10_000);
        }
        assert_eq!((sub.queue.len(), sub.queue.bytes()), (3, 9_000));
        assert!(matches!(
            sub.next().now_or_never(),
            Some(Some(Delivery::Lagged { missed: 997 }))
        ));
        assert!(matches!(
            sub.next().now_or_never(),
            Some(Some(Delivery::Event(_)))
        ));
        // The two behind it were taken with it: the queue holds nothing, the stream two.
        assert_eq!(
            (sub.queue.len(), sub.queue.bytes(), sub.taken.len()),
            (0, 0, 2)
        );
    }

    #[test]
    fn a_subscription_takes_a_batch_under_one_lock_and_the_queue_stays_bounded_meanwhile() {
        let bus: Bus<u64> = Bus::with_capacity(4);
        let mut sub = bus.subscribe(topic("a"));
        for i in 0..3 {
            bus.publish("a", None, i);
        }
        assert!(matches!(
            sub.next().now_or_never(),
            Some(Some(Delivery::Event(0)))
        ));
        assert_eq!((sub.queue.len(), sub.taken.len()), (0, 2));
        // While it holds 1 and 2, the queue fills and drops its own oldest.
        for i in 3..9 {
            bus.publish("a", None, i);
        }
        let mut got = Vec::new();
        while let Some(Some(delivery)) = sub.next().now_or_never() {
            got.push(match delivery {
                Delivery::Event(event) => format!("{event}"),
                Delivery::Lagged { missed } => format!("lagged {missed}"),
            });
        }
        assert_eq!(got, ["1", "2", "lagged 2", "5", "6", "7", "8"]);
    }

    #[test]
    fn a_cancelled_queue_hands_out_nothing_it_had_taken() {
        let bus: Bus<u64> = Bus::new();
        let mut sub = bus.subscribe(topic("a"));
        for i in 0..3 {
            bus.publish("a", None, i);
        }
        assert!(matches!(
            sub.next().now_or_never(),
            Some(Some(Delivery::Event(0)))
        ));
        sub.queue.cancel();
        assert!(matches!(sub.next().now_or_never(), Some(None)));
        assert!(sub.is_terminated());
    }

    #[test]
    fn is_terminated_tracks_close_and_drain() {
        let bus: Bus<u64> = Bus::new();
        let mut sub = bus.subscribe(topic("a"));
        bus.publish("a", None, 1);
        assert!(!sub.is_terminated());
        bus.close();
        assert!(!sub.is_terminated());
        assert!(matches!(
            sub.next().now_or_never(),
            Some(Some(Delivery::Event(_)))
        ));
        assert!(sub.is_terminated());
        assert!(matches!(sub.next().now_or_never(), Some(None)));
    }
}
