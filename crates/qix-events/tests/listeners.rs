//! Listeners (`Bus::on`): own task, own bounded queue, panics contained (Q-REQ-7).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{drain, got, topic, Got};
use qix_events::Bus;

const PATIENCE: Duration = Duration::from_secs(10);

/// Waits for a condition another task makes true; the timeout only keeps a bug from hanging.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let waiting = async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(PATIENCE, waiting)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

/// Reports on a channel when the listener closure is dropped, i.e. its task has ended.
struct DropSignal(tokio::sync::mpsc::UnboundedSender<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

#[test]
fn a_listener_needs_no_runtime() {
    let bus: Bus<u64> = Bus::new();
    let (seen, heard) = std::sync::mpsc::channel();
    let guard = bus
        .on(topic("a"), move |delivery| {
            let _ = seen.send(delivery.event().copied());
        })
        .unwrap();
    assert!(bus.is_listened("a", None));
    bus.publish("a", None, 7);
    assert_eq!(heard.recv().unwrap(), Some(7));
    drop(guard);
    assert!(!bus.is_listened("a", None));
}

/// Q-EV-6: a listener that blocks its thread holds up neither the publisher nor other
/// listeners; a blocked listener only delays its own later calls.
#[test]
fn a_blocked_listener_holds_up_nothing_else() {
    let bus: Bus<u64> = Bus::new();
    let gate = std::sync::Arc::new(std::sync::Barrier::new(2));
    let blocked = std::sync::Arc::clone(&gate);
    let _stuck = bus
        .on(topic("a"), move |delivery| {
            if delivery.event().copied() == Some(0) {
                blocked.wait();
            }
        })
        .unwrap();
    let (seen, heard) = std::sync::mpsc::channel();
    let _other = bus
        .on(topic("a"), move |delivery| {
            let _ = seen.send(delivery.event().copied());
        })
        .unwrap();
    for n in 0..3 {
        bus.publish("a", None, n); // returns although the first listener is stuck
    }
    for n in 0..3 {
        assert_eq!(heard.recv().unwrap(), Some(n));
    }
    gate.wait(); // only now does the stuck listener get past its first event
}

#[tokio::test]
async fn listener_receives_its_events_in_order() {
    let bus: Bus<u64> = Bus::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _guard = bus
        .on(topic("traffic:*"), move |delivery| {
            tx.send(got(delivery)).unwrap();
        })
        .unwrap();
    assert!(bus.is_listened("traffic", Some("sent")));
    for i in 0..20 {
        bus.publish("traffic", Some("sent"), i);
        bus.publish("closed", None, 1_000 + i);
    }
    for i in 0..20 {
        let next = tokio::time::timeout(PATIENCE, rx.recv()).await.unwrap();
        assert_eq!(next, Some(Got::Event(i)));
    }
}

/// Q-REQ-7: a panicking listener is removed; other listeners and subscribers go on.
#[tokio::test]
async fn panicking_listener_is_removed_and_others_keep_receiving_q_req_7() {
    let bus: Bus<u64> = Bus::new();
    let panicking_calls = Arc::new(AtomicUsize::new(0));
    let calls = Arc::clone(&panicking_calls);
    let panicking = bus
        .on_many([topic("a"), topic("only-the-panicking-one")], move |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            panic!("listener failure on purpose");
        })
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _good = bus
        .on(topic("a"), move |delivery| {
            tx.send(got(delivery)).unwrap();
        })
        .unwrap();
    let mut subscriber = bus.subscribe(topic("a"));

    bus.publish("a", None, 0);
    eventually("the listener has panicked", || panicking.has_panicked()).await;
    assert_eq!(bus.listener_panics(), 1);
    assert!(!bus.is_listened("only-the-panicking-one", None));

    bus.publish("a", None, 1);
    bus.publish("only-the-panicking-one", None, 2);
    bus.publish("a", None, 3);
    for expected in [0, 1, 3] {
        let next = tokio::time::timeout(PATIENCE, rx.recv()).await.unwrap();
        assert_eq!(next, Some(Got::Event(expected)));
    }
    assert_eq!(
        drain(&mut subscriber).0,
        vec![Got::Event(0), Got::Event(1), Got::Event(3)]
    );
    assert_eq!(panicking_calls.load(Ordering::SeqCst), 1);
    assert_eq!(bus.listener_panics(), 1);
    assert!(format!("{panicking:?}").contains("has_panicked: true"));
}

/// A listener stuck in its callback neither blocks the publisher nor grows memory: it lags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_listener_lags_and_never_blocks_the_publisher() {
    let bus: Bus<u64> = Bus::with_capacity(4);
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _guard = bus
        .on(topic("tick"), move |delivery| {
            let item = got(delivery);
            tx.send(item).unwrap();
            if item == Got::Event(0) {
                entered_tx.send(()).unwrap();
                release_rx.lock().unwrap().recv().unwrap();
            }
        })
        .unwrap();

    bus.publish("tick", None, 0);
    tokio::task::spawn_blocking(move || entered_rx.recv_timeout(PATIENCE))
        .await
        .unwrap()
        .expect("the listener was never called");
    // The listener is blocked inside its callback: these must all return at once.
    for i in 1..100 {
        bus.publish("tick", None, i);
    }
    release_tx.send(()).unwrap();

    let mut received = Vec::new();
    while received.len() < 6 {
        let next = tokio::time::timeout(PATIENCE, rx.recv()).await.unwrap();
        received.push(next.unwrap());
    }
    assert_eq!(
        received,
        vec![
            Got::Event(0),
            Got::Lagged(95),
            Got::Event(96),
            Got::Event(97),
            Got::Event(98),
            Got::Event(99)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_guard_removes_the_listener_and_discards_what_it_had_queued() {
    let bus: Bus<u64> = Bus::new();
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let (dropped_tx, mut dropped_rx) = tokio::sync::mpsc::unbounded_channel();
    let signal = DropSignal(dropped_tx);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&calls);
    let guard = bus
        .on(topic("a"), move |delivery| {
            let _keep = &signal;
            let item = got(delivery);
            seen.lock().unwrap().push(item);
            if item == Got::Event(0) {
                entered_tx.send(()).unwrap();
                release_rx.lock().unwrap().recv().unwrap();
            }
        })
        .unwrap();

    bus.publish("a", None, 0);
    tokio::task::spawn_blocking(move || entered_rx.recv_timeout(PATIENCE))
        .await
        .unwrap()
        .expect("the listener was never called");
    bus.publish("a", None, 1);
    bus.publish("a", None, 2);
    drop(guard);
    assert!(!bus.is_listened("a", None));
    bus.publish("a", None, 3);
    release_tx.send(()).unwrap();

    tokio::time::timeout(PATIENCE, dropped_rx.recv())
        .await
        .expect("the listener task never ended");
    assert_eq!(*calls.lock().unwrap(), vec![Got::Event(0)]);
}

#[tokio::test]
async fn close_lets_listeners_finish_what_they_hold_then_stops_them() {
    let bus: Bus<u64> = Bus::new();
    let (dropped_tx, mut dropped_rx) = tokio::sync::mpsc::unbounded_channel();
    let signal = DropSignal(dropped_tx.clone());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _guard = bus
        .on(topic("closed"), move |delivery| {
            let _keep = &signal;
            tx.send(got(delivery)).unwrap();
        })
        .unwrap();
    bus.publish("closed", None, 1);
    bus.close();
    tokio::time::timeout(PATIENCE, dropped_rx.recv())
        .await
        .expect("the listener did not stop after close");
    assert_eq!(rx.recv().await, Some(Got::Event(1)));
    assert_eq!(rx.recv().await, None);

    let late_signal = DropSignal(dropped_tx);
    let late_calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&late_calls);
    let _late = bus
        .on(topic("closed"), move |_| {
            let _keep = &late_signal;
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    bus.publish("closed", None, 2);
    tokio::time::timeout(PATIENCE, dropped_rx.recv())
        .await
        .expect("a listener added after close was kept");
    assert_eq!(late_calls.load(Ordering::SeqCst), 0);
}
