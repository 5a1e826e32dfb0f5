//! `Publisher`: the same deliveries as `Bus::publish_with`, with the matching queues kept
//! between publishes and taken again when subscribers come or go.

mod common;

use std::sync::Arc;

use common::{drain, topic, Got};
use qix_events::Bus;

#[test]
fn a_publisher_builds_nothing_while_nobody_listens() {
    let bus: Bus<u64> = Bus::new();
    let mut sent = bus.publisher("traffic", Some("sent"));
    let _other = bus.subscribe(topic("traffic:received"));
    assert!(!sent.is_listened());
    sent.publish_with(|| unreachable!("built with nobody listening"));
}

#[test]
fn a_publisher_sees_subscribers_that_come_after_it_and_forgets_those_that_go() {
    let bus: Bus<u64> = Bus::new();
    let mut sent = bus.publisher("traffic", Some("sent"));
    sent.publish(1);
    let mut first = bus.subscribe(topic("traffic:*"));
    sent.publish(2);
    let mut second = bus.subscribe(topic("traffic:sent"));
    sent.publish(3);
    assert_eq!(
        drain(&mut first),
        (vec![Got::Event(2), Got::Event(3)], false)
    );
    drop(first);
    sent.publish(4);
    assert_eq!(
        drain(&mut second),
        (vec![Got::Event(3), Got::Event(4)], false)
    );
    drop(second);
    assert!(!sent.is_listened());
}

#[test]
fn a_publisher_keeps_nothing_for_a_subscriber_that_went() {
    let bus: Bus<Arc<u64>> = Bus::new();
    let mut sent = bus.publisher("traffic", Some("sent"));
    let sub = bus.subscribe(topic("traffic:sent"));
    let event = Arc::new(5);
    sent.publish(Arc::clone(&event));
    assert_eq!(Arc::strong_count(&event), 2);
    // The queue the publisher still holds is emptied when the subscription goes.
    drop(sub);
    assert_eq!(Arc::strong_count(&event), 1);
    sent.publish(Arc::clone(&event));
    assert_eq!(Arc::strong_count(&event), 1);
}

#[test]
fn a_publisher_and_the_bus_deliver_in_the_order_they_were_called() {
    let bus: Bus<u64> = Bus::new();
    let mut sub = bus.subscribe(topic("traffic:*"));
    let mut sent = bus.publisher("traffic", Some("sent"));
    let mut received = bus.publisher("traffic", Some("received"));
    sent.publish(1);
    bus.publish("traffic", Some("received"), 2);
    received.publish(3);
    sent.publish(4);
    assert_eq!(
        drain(&mut sub),
        (
            vec![Got::Event(1), Got::Event(2), Got::Event(3), Got::Event(4)],
            false
        )
    );
}

#[test]
fn a_publisher_of_a_closed_bus_delivers_nothing_and_builds_nothing() {
    let bus: Bus<u64> = Bus::new();
    let mut sub = bus.subscribe(topic("closed"));
    let mut closed = bus.publisher("closed", None::<&'static str>);
    closed.publish(1);
    bus.close();
    assert!(!closed.is_listened());
    closed.publish_with(|| unreachable!("built after close"));
    assert_eq!(drain(&mut sub), (vec![Got::Event(1)], true));
}

#[test]
fn a_publisher_respects_the_queue_bound_and_reports_the_lag() {
    let bus: Bus<u64> = Bus::with_capacity(2);
    let mut sub = bus.subscribe(topic("traffic:sent"));
    let mut sent = bus.publisher("traffic", Some("sent"));
    for i in 0..5 {
        sent.publish(i);
    }
    assert_eq!(
        drain(&mut sub),
        (vec![Got::Lagged(3), Got::Event(3), Got::Event(4)], false)
    );
}

#[test]
fn a_publisher_keeps_the_bus_open_like_a_handle() {
    let bus: Bus<u64> = Bus::new();
    let mut sub = bus.subscribe(topic("a"));
    let mut a = bus.publisher("a", None::<&'static str>);
    drop(bus);
    a.publish(1);
    assert_eq!(drain(&mut sub), (vec![Got::Event(1)], false));
    drop(a);
    assert_eq!(drain(&mut sub), (vec![], true));
}
