//! What a service's logs tell through `tracing` (Q-TRACE-1): a span per call with its method,
//! handle and request id, its outcome and duration at debug level; connects, suspensions,
//! resumes and liveness probes as the driver carries them out.
//!
//! The subscriber is written here (as qix-transport's log test does): it records spans and
//! events into vectors, which is all these tests need, without another dependency.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{next, within};
use qix::{Initiator, Session, SessionEvent};
use qix_mock::{EngineError, MockEngine};
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

#[derive(Debug, Clone)]
struct SpanRecord {
    name: &'static str,
    target: String,
    fields: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
struct EventRecord {
    level: Level,
    target: String,
    /// The explicit parent span, as an index into the spans.
    parent: Option<usize>,
    fields: BTreeMap<String, String>,
}

impl EventRecord {
    fn message(&self) -> &str {
        self.fields.get("message").map_or("", String::as_str)
    }
}

#[derive(Default)]
struct Log {
    spans: Vec<SpanRecord>,
    events: Vec<EventRecord>,
}

/// Records every span and event at every level.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Log>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut fields = BTreeMap::new();
        attributes.record(&mut Fields(&mut fields));
        let mut log = self.0.lock().unwrap();
        log.spans.push(SpanRecord {
            name: attributes.metadata().name(),
            target: attributes.metadata().target().to_owned(),
            fields,
        });
        Id::from_u64(log.spans.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut log = self.0.lock().unwrap();
        let index = usize::try_from(span.into_u64()).unwrap() - 1;
        values.record(&mut Fields(&mut log.spans[index].fields));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let parent = event
            .parent()
            .map(|id| usize::try_from(id.into_u64()).unwrap() - 1);
        self.0.lock().unwrap().events.push(EventRecord {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            parent,
            fields,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Recorder {
    fn spans(&self) -> Vec<SpanRecord> {
        self.0.lock().unwrap().spans.clone()
    }
    fn events(&self) -> Vec<EventRecord> {
        self.0.lock().unwrap().events.clone()
    }
    /// The event that ended the span at `index` (its outcome).
    fn outcome_of(&self, index: usize) -> EventRecord {
        self.events()
            .into_iter()
            .find(|event| event.parent == Some(index) && event.fields.contains_key("outcome"))
            .unwrap_or_else(|| panic!("no outcome for span {:?}", self.spans()[index]))
    }
    /// The index of the call span for `method`.
    fn call(&self, method: &str) -> usize {
        self.spans()
            .iter()
            .position(|span| span.name == "call" && span.fields["method"] == method)
            .unwrap_or_else(|| panic!("no span for {method}"))
    }
}

/// The driver is spawned on this thread's runtime, so a thread-local default sees it.
fn recording() -> (Recorder, tracing::subscriber::DefaultGuard) {
    let recorder = Recorder::default();
    let guard = tracing::subscriber::set_default(recorder.clone());
    (recorder, guard)
}

#[tokio::test(start_paused = true)]
async fn q_trace_1_each_call_has_a_debug_span_with_method_handle_id_duration_and_outcome() {
    let (log, _guard) = recording();
    let engine = MockEngine::start().await.unwrap();
    engine.delay_method("EngineVersion", Duration::from_secs(2));
    engine.fail_method(
        "GetDocList",
        EngineError {
            code: 15,
            parameter: String::new(),
            message: "aborted".to_owned(),
        },
    );
    let session = Session::builder(engine.url("/app/app.qvf/ttl/30"))
        .build()
        .unwrap();
    let global = within(session.open()).await.unwrap();
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    within(global.call("GetDocList", json!([])))
        .await
        .unwrap_err();

    let spans = log.spans();
    let answered = log.call("EngineVersion");
    let span = &spans[answered];
    assert_eq!(span.target, "qix::call");
    assert_eq!(span.fields["handle"], "-1");
    let id: u64 = span.fields["id"]
        .parse()
        .expect("the request id is recorded");
    assert!(id >= 1);
    let outcome = log.outcome_of(answered);
    assert_eq!(outcome.level, Level::DEBUG);
    assert_eq!(outcome.fields["outcome"], "ok");
    // The mock answered after 2 s of the paused clock.
    let elapsed: u64 = outcome.fields["elapsed_us"].parse().unwrap();
    assert!(elapsed >= 2_000_000, "{elapsed}");

    let failed = log.outcome_of(log.call("GetDocList"));
    assert_eq!(failed.fields["outcome"], "error");
    assert!(failed.fields["error"].contains("aborted"), "{failed:?}");

    // Nothing about a call is said above debug level.
    for event in log.events() {
        let per_call = event.target == "qix::call"
            || event
                .parent
                .is_some_and(|index| spans.get(index).is_some_and(|span| span.name == "call"));
        assert!(
            !per_call || event.level >= Level::DEBUG,
            "a call logged at {}: {event:?}",
            event.level
        );
    }
}

#[tokio::test(start_paused = true)]
async fn q_trace_1_connects_suspensions_and_resumes_are_logged_with_their_outcome() {
    let (log, _guard) = recording();
    let engine = MockEngine::start().await.unwrap();
    let mut policy = qix::AutoResume::default();
    policy.backoff = qix::Backoff::Delays(vec![Duration::from_secs(1)]);
    let session = Session::builder(engine.url("/app/app.qvf/ttl/30?qlikTicket=SECRET"))
        .suspend_on_close(true)
        .auto_resume(policy)
        .build()
        .unwrap();
    let mut events = session.subscribe_many(["suspended", "resumed"]).unwrap();
    within(session.open()).await.unwrap();
    within(session.suspend()).await.unwrap();
    next(&mut events).await;
    engine.set_handshake_rejection(Some(403));
    let refused = within(session.resume(true)).await.unwrap_err();
    assert_eq!(refused.http_status(), Some(403));
    engine.set_handshake_rejection(None);
    within(session.resume(true)).await.unwrap();
    next(&mut events).await;
    // A network drop, resumed automatically.
    within(engine.next_connection()).await;
    let current = within(engine.next_connection()).await;
    current.drop_tcp();
    assert!(matches!(
        next(&mut events).await,
        SessionEvent::Suspended {
            initiator: Initiator::Network,
            ..
        }
    ));
    assert!(matches!(next(&mut events).await, SessionEvent::Resumed));

    let spans = log.spans();
    let session_span = spans
        .iter()
        .find(|span| span.name == "session")
        .expect("a span for the session");
    assert!(
        session_span.fields["url"].contains("qlikTicket=***"),
        "{session_span:?}"
    );
    assert!(spans
        .iter()
        .chain(std::iter::once(session_span))
        .all(|span| !format!("{span:?}").contains("SECRET")));

    let events = log.events();
    let said = |level: Level, message: &str| {
        events
            .iter()
            .filter(|event| event.level == level && event.message() == message)
            .count()
    };
    assert_eq!(said(Level::INFO, "session opened"), 1);
    assert_eq!(said(Level::INFO, "session suspended"), 2);
    assert_eq!(said(Level::INFO, "session resumed"), 2);
    assert_eq!(said(Level::INFO, "automatic resume attempt scheduled"), 1);
    assert_eq!(said(Level::INFO, "connect failed"), 1);
    // open, the refused resume, the manual resume, the automatic one.
    assert_eq!(said(Level::DEBUG, "connecting"), 4);
    assert_eq!(said(Level::DEBUG, "connected"), 3);
    let network = events
        .iter()
        .find(|event| {
            event.message() == "session suspended" && event.fields["initiator"] == "Network"
        })
        .expect("the network suspension is logged");
    assert_eq!(network.fields["code"], "1006");

    // The refused resume is its command's outcome, at info, naming the status.
    let resumes: Vec<usize> = (0..spans.len())
        .filter(|&index| spans[index].name == "resume")
        .collect();
    assert_eq!(resumes.len(), 2);
    let refused = log.outcome_of(resumes[0]);
    assert_eq!(
        (refused.level, refused.fields["outcome"].as_str()),
        (Level::INFO, "error")
    );
    assert!(refused.fields["error"].contains("403"), "{refused:?}");
    assert_eq!(log.outcome_of(resumes[1]).fields["outcome"], "ok");
    let suspend = spans
        .iter()
        .position(|span| span.name == "suspend")
        .unwrap();
    assert_eq!(spans[suspend].fields["code"], "4000");
    assert_eq!(log.outcome_of(suspend).fields["outcome"], "ok");
}

#[tokio::test(start_paused = true)]
async fn q_trace_1_a_liveness_probe_and_its_expiry_are_logged() {
    let (log, _guard) = recording();
    let engine = MockEngine::start().await.unwrap();
    let session = Session::builder(engine.url("/app/app.qvf/ttl/30"))
        .suspend_on_close(true)
        .build()
        .unwrap();
    let global = within(session.open()).await.unwrap();
    let connection = within(engine.next_connection()).await;
    connection.hold_responses();
    tokio::time::timeout(
        Duration::from_secs(120),
        global.call("GetDocList", json!([])),
    )
    .await
    .expect("the liveness check never fired")
    .unwrap_err();
    let events = log.events();
    let sent = events
        .iter()
        .filter(|event| event.message().starts_with("liveness probe sent"))
        .collect::<Vec<_>>();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].level, Level::DEBUG);
    let expired = events
        .iter()
        .filter(|event| event.message().starts_with("liveness probe unanswered"))
        .collect::<Vec<_>>();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].level, Level::WARN);
}
