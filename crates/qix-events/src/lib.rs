//! An in-process publish/subscribe bus whose subscribers each get a bounded queue, are told
//! exactly how many events they missed when they fall behind, and never slow the publisher.
//! Topics are written as enigma.js writes event names (`closed`, `traffic:sent`,
//! `notification:*`), but the bus knows nothing of QIX: events are any `E`, addressed by a kind
//! and an optional name.
//!
//! Take this crate alone when you need fan-out of events from one hot task (a socket reader, a
//! protocol driver) to any number of streams and callbacks, with memory bounded per consumer,
//! lag reported rather than hidden, and nothing built when nobody listens.
//!
//! # Overview
//!
//! - [`Topic`]: `kind`, `kind:name` or `kind:*`, parsed and validated.
//! - [`Bus`]: [`publish_with`](Bus::publish_with) builds the event only if a subscriber
//!   matches ([`is_listened`](Bus::is_listened) is the same check, without allocating);
//!   [`subscribe`](Bus::subscribe) gives a [`Subscription`], a `Stream` of [`Delivery`];
//!   [`on`](Bus::on) runs a callback on a thread of its own, behind a [`ListenerGuard`].
//! - [`Publisher`]: the same for one topic, for a task that publishes it often: it matches
//!   topics only when subscribers come or go.
//! - [`Delivery`]: an event (each subscriber its own clone; publish an `Arc` when cloning costs)
//!   or [`Lagged { missed }`](Delivery::Lagged).
//!
//! Each subscriber and listener queues at most [`Bus::capacity`] events
//! ([`DEFAULT_CAPACITY`] = 1024 with [`Bus::new`]) and, on a bus made with
//! [`Bus::with_limits`], at most [`Bus::max_bytes`] bytes by the bus's own measure of an event
//! (traffic frames and notification params are what make a queue heavy;
//! [`DEFAULT_MAX_BYTES`] = 16 MiB is what `qix` uses). When its queue is full the oldest queued
//! events are dropped; the subscriber then receives `Lagged { missed }` with the exact count, at
//! the place of the missing events, and carries on with the newer ones. Whatever it receives
//! comes in publish order. A subscription takes events from its queue up to 64 at a time
//! (one lock per batch); those it has taken are delivered whatever its queue drops later.
//!
//! # Example
//!
//! ```
//! use futures_util::StreamExt;
//! use qix_events::{Bus, Delivery, Topic};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bus: Bus<String> = Bus::new();
//! let mut traffic = bus.subscribe(Topic::parse("traffic:*")?);
//!
//! // Nobody listens to `closed`: the event is not even built.
//! bus.publish_with("closed", None, || unreachable!());
//! bus.publish("traffic", Some("sent"), r#"{"id":1}"#.to_owned());
//!
//! match traffic.next().await {
//!     Some(Delivery::Event(frame)) => assert_eq!(frame, r#"{"id":1}"#),
//!     other => panic!("expected the frame, got {other:?}"),
//! }
//!
//! bus.close();
//! assert!(traffic.next().await.is_none());
//! # Ok(())
//! # }
//! ```

// Nothing that came off the wire may be unwrapped; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod bus;
mod delivery;
mod listener;
mod publisher;
mod queue;
mod subscription;
mod topic;

pub use bus::{Bus, DEFAULT_CAPACITY, DEFAULT_MAX_BYTES};
pub use delivery::Delivery;
pub use listener::{ListenError, ListenerGuard};
pub use publisher::Publisher;
pub use subscription::Subscription;
pub use topic::{Topic, TopicError};
