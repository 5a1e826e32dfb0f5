//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use futures_util::{FutureExt, StreamExt};
use qix_events::{Delivery, Subscription, Topic};

/// A delivery with the event copied out, for comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Got {
    Event(u64),
    Lagged(u64),
}

pub fn got(delivery: Delivery<u64>) -> Got {
    match delivery {
        Delivery::Event(event) => Got::Event(event),
        Delivery::Lagged { missed } => Got::Lagged(missed),
    }
}

pub fn topic(s: &str) -> Topic {
    Topic::parse(s).expect("a valid test topic")
}

/// What a poll without waiting gives.
#[derive(Debug, PartialEq, Eq)]
pub enum Polled {
    Item(Got),
    Pending,
    Ended,
}

pub fn poll_once(sub: &mut Subscription<u64>) -> Polled {
    match sub.next().now_or_never() {
        Some(Some(delivery)) => Polled::Item(got(delivery)),
        Some(None) => Polled::Ended,
        None => Polled::Pending,
    }
}

/// Everything available without waiting, and whether the stream has ended.
pub fn drain(sub: &mut Subscription<u64>) -> (Vec<Got>, bool) {
    let mut items = Vec::new();
    loop {
        match poll_once(sub) {
            Polled::Item(item) => items.push(item),
            Polled::Pending => return (items, false),
            Polled::Ended => return (items, true),
        }
    }
}
