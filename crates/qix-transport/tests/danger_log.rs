//! `danger_accept_invalid_certs` says so in the log: one warning from `build()`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use qix_transport::WebSocketTransport;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Counts warnings that mention the option; nothing else is kept.
#[derive(Default)]
struct Warnings(Arc<AtomicUsize>);

impl Subscriber for Warnings {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, _: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{value:?}"));
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        if *event.metadata().level() == Level::WARN
            && message.0.contains("danger_accept_invalid_certs")
        {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn warnings_while(build: impl FnOnce()) -> usize {
    let warnings = Warnings::default();
    let count = Arc::clone(&warnings.0);
    tracing::subscriber::with_default(warnings, build);
    count.load(Ordering::SeqCst)
}

#[test]
fn danger_accept_invalid_certs_is_logged_at_warn_by_build() {
    let url = "wss://127.0.0.1:4747/app/engineData";
    let dangerous = warnings_while(|| {
        WebSocketTransport::builder(url)
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
    });
    assert_eq!(dangerous, 1);
    let safe = warnings_while(|| {
        WebSocketTransport::builder(url)
            .danger_accept_invalid_certs(false)
            .build()
            .unwrap();
    });
    assert_eq!(safe, 0);
}
