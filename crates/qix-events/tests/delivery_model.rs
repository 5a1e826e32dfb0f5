//! Q-REQ-7, Q-EV-2, Q-EV-5 as a property: random subscribe / publish / drop / poll sequences
//! against a model of what each subscriber must see, publishing through the bus and through
//! long-lived `Publisher`s alike.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::{poll_once, topic, Got, Polled};
use proptest::prelude::*;
use qix_events::{Bus, Subscription, Topic};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

const KINDS: [&str; 2] = ["a", "b"];
const NAMES: [Option<&str>; 3] = [None, Some("x"), Some("y")];
const TOPICS: [&str; 8] = ["a", "a:x", "a:y", "a:*", "b", "b:x", "b:*", "b:y"];

#[derive(Debug, Clone)]
enum Op {
    Subscribe(Vec<usize>),
    Publish {
        kind: usize,
        name: usize,
        via_publisher: bool,
    },
    Drop(usize),
    Poll {
        sub: usize,
        items: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => prop::collection::vec(0..TOPICS.len(), 1..=3).prop_map(Op::Subscribe),
        6 => (0..KINDS.len(), 0..NAMES.len(), any::<bool>())
            .prop_map(|(kind, name, via_publisher)| Op::Publish { kind, name, via_publisher }),
        1 => any::<usize>().prop_map(Op::Drop),
        3 => (any::<usize>(), 1..6usize).prop_map(|(sub, items)| Op::Poll { sub, items }),
    ]
}

struct Subscriber {
    topics: Vec<Topic>,
    stream: Subscription<u64>,
    /// Ids of every published event matching `topics` since it subscribed.
    expected: Vec<u64>,
    /// How many of `expected` it has received or been told it missed.
    accounted: usize,
    /// How many of the next ones it took from its queue with the last delivery: those are
    /// delivered whatever the queue drops afterwards.
    taken: usize,
}

/// How many events a subscription takes from its queue at once (the crate's batch).
const TAKE: usize = 64;

impl Subscriber {
    fn matches(&self, kind: &str, name: Option<&str>) -> bool {
        self.topics.iter().any(|t| t.matches(kind, name))
    }

    /// Checks one poll against the model. A subscriber first gets what it has taken; then,
    /// with drop-oldest queues of `capacity`, one owed more than `capacity` events must be told
    /// it missed exactly the excess, and otherwise gets the next one it is owed and takes up to
    /// `TAKE - 1` more.
    fn poll_and_check(&mut self, capacity: usize, closed: bool) -> Result<Polled, TestCaseError> {
        let polled = poll_once(&mut self.stream);
        let owed = self.expected.len() - self.accounted;
        if self.taken > 0 {
            prop_assert_eq!(
                &polled,
                &Polled::Item(Got::Event(self.expected[self.accounted]))
            );
            self.taken -= 1;
            self.accounted += 1;
            return Ok(polled);
        }
        let want = if owed > capacity {
            Polled::Item(Got::Lagged((owed - capacity) as u64))
        } else if owed > 0 {
            Polled::Item(Got::Event(self.expected[self.accounted]))
        } else if closed {
            Polled::Ended
        } else {
            Polled::Pending
        };
        prop_assert_eq!(&polled, &want, "topics {:?}, owed {}", self.topics, owed);
        match polled {
            Polled::Item(Got::Lagged(missed)) => self.accounted += missed as usize,
            Polled::Item(Got::Event(_)) => {
                self.accounted += 1;
                self.taken = (owed - 1).min(TAKE - 1);
            }
            Polled::Pending | Polled::Ended => {}
        }
        Ok(polled)
    }
}

fn run(capacity: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let bus: Bus<u64> = Bus::with_capacity(capacity);
    let mut subscribers: Vec<Subscriber> = Vec::new();
    let mut next_id = 0u64;
    let built = AtomicUsize::new(0);
    // One publisher per (kind, name), made before any subscriber, kept for the whole run.
    let mut publishers: Vec<_> = KINDS
        .iter()
        .flat_map(|&kind| NAMES.iter().map(move |&name| (kind, name)))
        .map(|(kind, name)| bus.publisher(kind, name))
        .collect();

    for op in ops {
        match op {
            Op::Subscribe(indices) => {
                let topics: Vec<Topic> = indices.iter().map(|&i| topic(TOPICS[i])).collect();
                let stream = bus.subscribe_many(topics.clone());
                subscribers.push(Subscriber {
                    topics,
                    stream,
                    expected: Vec::new(),
                    accounted: 0,
                    taken: 0,
                });
            }
            Op::Publish {
                kind: kind_at,
                name: name_at,
                via_publisher,
            } => {
                let (kind, name) = (KINDS[kind_at], NAMES[name_at]);
                let id = next_id;
                next_id += 1;
                let listened = subscribers.iter().any(|s| s.matches(kind, name));
                let before = built.load(Ordering::SeqCst);
                let build = || {
                    built.fetch_add(1, Ordering::SeqCst);
                    id
                };
                if via_publisher {
                    publishers[kind_at * NAMES.len() + name_at].publish_with(build);
                } else {
                    bus.publish_with(kind, name, build);
                }
                // Q-EV-5: built exactly when somebody matches, and then once.
                prop_assert_eq!(built.load(Ordering::SeqCst) - before, usize::from(listened));
                for sub in subscribers.iter_mut().filter(|s| s.matches(kind, name)) {
                    sub.expected.push(id);
                }
            }
            Op::Drop(at) => {
                if !subscribers.is_empty() {
                    let at = at % subscribers.len();
                    drop(subscribers.swap_remove(at));
                }
            }
            Op::Poll { sub, items } => {
                if !subscribers.is_empty() {
                    let at = sub % subscribers.len();
                    for _ in 0..items {
                        subscribers[at].poll_and_check(capacity, false)?;
                    }
                }
            }
        }
        for kind in KINDS {
            for name in NAMES {
                let live = subscribers.iter().any(|s| s.matches(kind, name));
                prop_assert_eq!(bus.is_listened(kind, name), live, "({}, {:?})", kind, name);
            }
        }
    }

    bus.close();
    for sub in &mut subscribers {
        let held = sub.taken;
        let mut events_in_drain = 0;
        loop {
            match sub.poll_and_check(capacity, true)? {
                Polled::Item(Got::Event(_)) => events_in_drain += 1,
                Polled::Item(Got::Lagged(_)) => {}
                Polled::Ended => break,
                Polled::Pending => prop_assert!(false, "a closed bus left a stream pending"),
            }
        }
        // Every event it was owed was either received or counted in a lag marker.
        prop_assert_eq!(sub.accounted, sub.expected.len());
        // What a subscriber holds is bounded by the capacity (queued) plus what it had taken
        // (at most a batch), however much was published.
        prop_assert!(events_in_drain <= capacity + held);
        prop_assert!(held < TAKE);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn proptest_every_subscriber_sees_its_events_in_order_or_an_exact_lag_marker_q_req_7(
        capacity in 1..5usize,
        ops in prop::collection::vec(op(), 0..80),
    ) {
        run(capacity, ops)?;
    }
}
