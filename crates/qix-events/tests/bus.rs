//! Subscriptions: matching, order, lag, unsubscribe, close, and Q-EV-5 (nothing built when
//! nobody listens).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{drain, got, poll_once, topic, Got, Polled};
use futures_util::StreamExt;
use qix_events::{Bus, Delivery, Subscription, DEFAULT_CAPACITY, DEFAULT_MAX_BYTES};

#[test]
fn bus_and_subscription_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Bus<u64>>();
    send_sync::<Subscription<u64>>();
    send_sync::<qix_events::ListenerGuard>();
}

#[test]
fn new_bus_uses_the_default_capacity() {
    assert_eq!(DEFAULT_CAPACITY, 1024);
    assert_eq!(Bus::<u64>::new().capacity(), 1024);
    assert_eq!(Bus::<u64>::with_capacity(7).capacity(), 7);
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn zero_capacity_is_refused() {
    let _bus = Bus::<u64>::with_capacity(0);
}

#[test]
fn each_topic_form_receives_exactly_its_events_in_order() {
    let bus: Bus<u64> = Bus::new();
    let mut bare = bus.subscribe(topic("closed"));
    let mut named = bus.subscribe(topic("traffic:sent"));
    let mut wildcard = bus.subscribe(topic("traffic:*"));

    bus.publish("traffic", Some("sent"), 1);
    bus.publish("closed", None, 2);
    bus.publish("traffic", Some("received"), 3);
    bus.publish("traffic", None, 4);
    bus.publish("closed", Some("x"), 5);
    bus.publish("traffic", Some("sent"), 6);

    assert_eq!(drain(&mut bare), (vec![Got::Event(2)], false));
    assert_eq!(
        drain(&mut named),
        (vec![Got::Event(1), Got::Event(6)], false)
    );
    assert_eq!(
        drain(&mut wildcard),
        (
            vec![Got::Event(1), Got::Event(3), Got::Event(4), Got::Event(6)],
            false
        )
    );
}

#[test]
fn subscriber_whose_several_topics_match_gets_each_event_once() {
    let bus: Bus<u64> = Bus::new();
    let mut sub = bus.subscribe_many([topic("traffic:*"), topic("traffic:sent"), topic("closed")]);
    assert_eq!(sub.topics().len(), 3);
    bus.publish("traffic", Some("sent"), 1);
    bus.publish("closed", None, 2);
    bus.publish("traffic", Some("received"), 3);
    assert_eq!(
        drain(&mut sub),
        (vec![Got::Event(1), Got::Event(2), Got::Event(3)], false)
    );
}

/// Counts its clones, to show how many a publish makes.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, Ordering::SeqCst);
        Counted(Arc::clone(&self.0))
    }
}

#[test]
fn each_matching_subscriber_gets_the_event_once_cloned_for_all_but_the_last() {
    let clones = Arc::new(AtomicUsize::new(0));
    let bus: Bus<Counted> = Bus::new();
    let mut a = bus.subscribe(topic("notification:*"));
    // Two of its topics match: it still gets the event once.
    let mut b = bus.subscribe_many([topic("notification:OnConnected"), topic("notification:*")]);
    let mut c = bus.subscribe(topic("notification:OnConnected"));
    let _other = bus.subscribe(topic("notification:OnClosed"));
    bus.publish(
        "notification",
        Some("OnConnected"),
        Counted(Arc::clone(&clones)),
    );
    assert_eq!(clones.load(Ordering::SeqCst), 2);
    for sub in [&mut a, &mut b, &mut c] {
        assert!(matches!(
            futures_util::FutureExt::now_or_never(sub.next()),
            Some(Some(Delivery::Event(Counted(_))))
        ));
        assert!(futures_util::FutureExt::now_or_never(sub.next()).is_none());
    }
    assert_eq!(clones.load(Ordering::SeqCst), 2);
}

#[test]
fn full_queue_drops_oldest_and_reports_exact_count_where_they_went_missing() {
    let bus: Bus<u64> = Bus::with_capacity(3);
    let mut sub = bus.subscribe(topic("a"));
    for i in 0..3 {
        bus.publish("a", None, i);
    }
    assert_eq!(poll_once(&mut sub), Polled::Item(Got::Event(0)));
    // 1 and 2 were taken with 0, so they are delivered. The queue takes 3..=5, then 6..=9
    // each push out its oldest: 3..=6 are lost, and the marker stands where they were.
    for i in 3..10 {
        bus.publish("a", None, i);
    }
    assert_eq!(
        drain(&mut sub),
        (
            vec![
                Got::Event(1),
                Got::Event(2),
                Got::Lagged(4),
                Got::Event(7),
                Got::Event(8),
                Got::Event(9)
            ],
            false
        )
    );
    bus.publish("a", None, 10);
    assert_eq!(drain(&mut sub), (vec![Got::Event(10)], false));
}

/// Each test event weighs as many bytes as its value.
fn weight(event: &u64) -> usize {
    usize::try_from(*event).unwrap()
}

#[test]
fn a_queue_over_its_byte_bound_drops_the_oldest_and_marks_the_lag_where_they_were() {
    let bus: Bus<u64> = Bus::with_limits(100, 10, weight);
    assert_eq!((bus.capacity(), bus.max_bytes()), (100, 10));
    let mut sub = bus.subscribe(topic("a"));
    for i in [4, 3, 2] {
        bus.publish("a", None, i);
    }
    // 9 bytes held; 5 more need 4 to go, not 3.
    bus.publish("a", None, 5);
    assert_eq!(
        drain(&mut sub),
        (
            vec![Got::Lagged(1), Got::Event(3), Got::Event(2), Got::Event(5)],
            false
        )
    );
    // Delivered events give their bytes back: 10 fit again.
    for i in [5, 5] {
        bus.publish("a", None, i);
    }
    assert_eq!(drain(&mut sub), (vec![Got::Event(5), Got::Event(5)], false));
    // An event over the bound on its own is delivered, alone; the next one pushes it out.
    for i in [1, 2, 20] {
        bus.publish("a", None, i);
    }
    assert_eq!(
        drain(&mut sub),
        (vec![Got::Lagged(2), Got::Event(20)], false)
    );
    for i in [20, 1] {
        bus.publish("a", None, i);
    }
    assert_eq!(
        drain(&mut sub),
        (vec![Got::Lagged(1), Got::Event(1)], false)
    );
}

#[test]
fn the_event_bound_still_holds_on_a_bus_with_a_byte_bound() {
    let bus: Bus<u64> = Bus::with_limits(2, DEFAULT_MAX_BYTES, weight);
    let mut sub = bus.subscribe(topic("a"));
    for i in 1..=5 {
        bus.publish("a", None, i);
    }
    assert_eq!(
        drain(&mut sub),
        (vec![Got::Lagged(3), Got::Event(4), Got::Event(5)], false)
    );
    assert_eq!(DEFAULT_MAX_BYTES, 16 << 20);
    assert_eq!(Bus::<u64>::new().max_bytes(), usize::MAX, "no byte bound");
}

#[test]
#[should_panic(expected = "byte bound must be at least 1")]
fn a_zero_byte_bound_is_refused() {
    let _bus = Bus::<u64>::with_limits(1, 0, weight);
}

#[test]
fn lag_counts_only_the_subscribers_own_events() {
    let bus: Bus<u64> = Bus::with_capacity(2);
    let mut sent = bus.subscribe(topic("traffic:sent"));
    for i in 0..10 {
        bus.publish(
            "traffic",
            Some(if i % 2 == 0 { "sent" } else { "received" }),
            i,
        );
    }
    // Five `sent` events (0, 2, 4, 6, 8) into a queue of two.
    assert_eq!(
        drain(&mut sent),
        (vec![Got::Lagged(3), Got::Event(6), Got::Event(8)], false)
    );
}

#[test]
fn lag_marker_is_delivered_before_the_stream_ends_on_close() {
    let bus: Bus<u64> = Bus::with_capacity(1);
    let mut sub = bus.subscribe(topic("a"));
    for i in 0..5 {
        bus.publish("a", None, i);
    }
    bus.close();
    assert_eq!(drain(&mut sub), (vec![Got::Lagged(4), Got::Event(4)], true));
}

#[test]
fn dropping_a_subscription_unsubscribes() {
    let bus: Bus<u64> = Bus::new();
    let first = bus.subscribe(topic("traffic:*"));
    let second = bus.subscribe(topic("traffic:sent"));
    assert!(bus.is_listened("traffic", Some("sent")));
    assert!(bus.is_listened("traffic", Some("received")));
    drop(first);
    assert!(bus.is_listened("traffic", Some("sent")));
    assert!(!bus.is_listened("traffic", Some("received")));
    drop(second);
    assert!(!bus.is_listened("traffic", Some("sent")));
}

/// Q-EV-5: publishing where nobody listens costs a check, not the event.
#[test]
fn publish_with_does_not_build_the_event_when_nobody_listens_q_ev_5() {
    let bus: Bus<u64> = Bus::new();
    let built = AtomicUsize::new(0);
    let build = || {
        built.fetch_add(1, Ordering::SeqCst);
        1
    };

    bus.publish_with("traffic", Some("sent"), build);
    let closed = bus.subscribe(topic("closed"));
    let received = bus.subscribe(topic("traffic:received"));
    bus.publish_with("traffic", Some("sent"), build);
    bus.publish_with("traffic", None, build);
    bus.publish_with("closed", Some("x"), build);
    assert_eq!(built.load(Ordering::SeqCst), 0);

    bus.publish_with("traffic", Some("received"), build);
    assert_eq!(built.load(Ordering::SeqCst), 1);

    drop(received);
    bus.publish_with("traffic", Some("received"), build);
    assert_eq!(built.load(Ordering::SeqCst), 1);

    bus.close();
    assert!(!bus.is_listened("closed", None));
    bus.publish_with("closed", None, || panic!("built an event for a closed bus"));
    drop(closed);
}

#[test]
fn publish_with_builds_once_for_many_subscribers() {
    let bus: Bus<u64> = Bus::new();
    let subs: Vec<_> = (0..5).map(|_| bus.subscribe(topic("a:*"))).collect();
    let built = AtomicUsize::new(0);
    bus.publish_with("a", Some("b"), || {
        built.fetch_add(1, Ordering::SeqCst);
        9
    });
    assert_eq!(built.load(Ordering::SeqCst), 1);
    for mut sub in subs {
        assert_eq!(drain(&mut sub), (vec![Got::Event(9)], false));
    }
}

#[test]
fn build_may_use_the_bus_without_deadlocking() {
    let bus: Bus<u64> = Bus::new();
    let mut sub = bus.subscribe(topic("a"));
    let inner = bus.clone();
    bus.publish_with("a", None, || {
        assert!(inner.is_listened("a", None));
        let _late = inner.subscribe(topic("b"));
        3
    });
    assert_eq!(drain(&mut sub), (vec![Got::Event(3)], false));
}

#[test]
fn close_ends_streams_after_draining_and_later_subscriptions_are_already_ended() {
    let bus: Bus<u64> = Bus::new();
    let mut sub = bus.subscribe(topic("a"));
    for i in 0..3 {
        bus.publish("a", None, i);
    }
    assert!(!bus.is_closed());
    bus.close();
    assert!(bus.is_closed());
    bus.publish("a", None, 99);
    assert_eq!(
        drain(&mut sub),
        (vec![Got::Event(0), Got::Event(1), Got::Event(2)], true)
    );
    assert_eq!(poll_once(&mut sub), Polled::Ended);

    let mut late = bus.subscribe(topic("a"));
    assert!(!bus.is_listened("a", None));
    assert_eq!(poll_once(&mut late), Polled::Ended);
}

#[test]
fn dropping_every_bus_handle_ends_the_streams() {
    let bus: Bus<u64> = Bus::new();
    let clone = bus.clone();
    let mut sub = bus.subscribe(topic("a"));
    bus.publish("a", None, 1);
    drop(bus);
    assert_eq!(poll_once(&mut sub), Polled::Item(Got::Event(1)));
    assert_eq!(poll_once(&mut sub), Polled::Pending);
    drop(clone);
    assert_eq!(poll_once(&mut sub), Polled::Ended);
}

#[test]
fn flood_on_one_topic_does_not_lag_a_subscriber_of_another() {
    let bus: Bus<u64> = Bus::with_capacity(4);
    let mut traffic = bus.subscribe(topic("traffic:*"));
    let mut closed = bus.subscribe(topic("closed"));
    for i in 0..10_000 {
        bus.publish("traffic", Some("received"), i);
    }
    bus.publish("closed", None, 10_000);
    assert_eq!(drain(&mut closed), (vec![Got::Event(10_000)], false));
    assert_eq!(poll_once(&mut traffic), Polled::Item(Got::Lagged(9_996)));
}

#[test]
fn slow_subscriber_does_not_affect_a_fast_ones_delivery() {
    let bus: Bus<u64> = Bus::with_capacity(4);
    let mut fast = bus.subscribe(topic("tick"));
    let mut slow = bus.subscribe(topic("tick"));
    let mut fast_got = Vec::new();
    for i in 0..1_000 {
        bus.publish("tick", None, i);
        fast_got.extend(drain(&mut fast).0);
    }
    let expected: Vec<Got> = (0..1_000).map(Got::Event).collect();
    assert_eq!(fast_got, expected);
    assert_eq!(
        drain(&mut slow),
        (
            vec![
                Got::Lagged(996),
                Got::Event(996),
                Got::Event(997),
                Got::Event(998),
                Got::Event(999)
            ],
            false
        )
    );
}

#[test]
fn concurrent_publishers_give_every_subscriber_the_same_order() {
    let bus: Bus<u64> = Bus::with_capacity(4_000);
    let mut a = bus.subscribe(topic("n:*"));
    let mut b = bus.subscribe(topic("n:*"));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                for i in 0..1_000 {
                    bus.publish("n", Some("x"), t * 1_000 + i);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let (a_got, _) = drain(&mut a);
    let (b_got, _) = drain(&mut b);
    assert_eq!(a_got.len(), 4_000);
    assert_eq!(a_got, b_got);
    // Each publisher's own events stay in the order it published them.
    for t in 0..4u64 {
        let mine: Vec<u64> = a_got
            .iter()
            .filter_map(|g| match g {
                Got::Event(n) if n / 1_000 == t => Some(*n),
                _ => None,
            })
            .collect();
        assert_eq!(mine, (t * 1_000..(t + 1) * 1_000).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn a_waiting_subscriber_is_woken_by_a_publish_from_another_thread() {
    let bus: Bus<u64> = Bus::new();
    let mut sub = bus.subscribe(topic("a"));
    let waiter = tokio::spawn(async move { sub.next().await.map(got) });
    tokio::task::yield_now().await;
    let publisher = bus.clone();
    std::thread::spawn(move || publisher.publish("a", None, 5))
        .join()
        .unwrap();
    let received = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the subscriber was never woken")
        .unwrap();
    assert_eq!(received, Some(Got::Event(5)));
}

#[tokio::test]
async fn a_waiting_subscriber_is_woken_by_close() {
    let bus: Bus<u64> = Bus::new();
    let mut sub = bus.subscribe(topic("a"));
    let waiter = tokio::spawn(async move { sub.next().await.map(got) });
    tokio::task::yield_now().await;
    bus.close();
    let received = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the subscriber was never woken")
        .unwrap();
    assert_eq!(received, None);
}

#[test]
fn delivery_helpers_and_debug() {
    let event: Delivery<u64> = Delivery::Event(3);
    let lag: Delivery<u64> = Delivery::Lagged { missed: 2 };
    assert_eq!(event.event(), Some(&3));
    assert_eq!(lag.event(), None);
    assert_eq!(event.clone().into_event(), Some(3));
    assert_eq!(format!("{event:?}"), "Event(3)");
    assert_eq!(format!("{lag:?}"), "Lagged { missed: 2 }");
}

#[test]
fn has_receivers_counts_subscribers_and_listeners_whatever_their_topics() {
    let bus: Bus<u64> = Bus::new();
    assert!(!bus.has_receivers());
    let sub = bus.subscribe(topic("closed"));
    assert!(bus.has_receivers());
    drop(sub);
    assert!(!bus.has_receivers());
    let guard = bus.on(topic("traffic:*"), |_| {}).unwrap();
    assert!(bus.has_receivers());
    drop(guard);
    assert!(!bus.has_receivers());
    let _sub = bus.subscribe(topic("closed"));
    bus.close();
    assert!(!bus.has_receivers());
}
