//! Custom transports plugged through `SessionBuilder::transport`: a wrapper around the
//! WebSocket transport, and the in-memory transport with a small hand-written engine.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use common::{next, notification, ready, within};
use qix::qix_transport::memory::{self, MemoryAcceptor};
use qix::qix_transport::{
    CloseEvent, Connection, Incoming, Transport, TransportError, WebSocketTransport,
};
use qix::{Error, ObjectEvent, Session, SessionEvent};
use qix_mock::{MockApp, MockConfig, MockEngine};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Delegates to a WebSocket transport and counts the connects.
#[derive(Debug)]
struct Counting {
    inner: WebSocketTransport,
    connects: Arc<AtomicUsize>,
}

#[async_trait]
impl Transport for Counting {
    async fn connect(&self) -> Result<Connection, TransportError> {
        self.connects.fetch_add(1, Ordering::SeqCst);
        self.inner.connect().await
    }
}

#[tokio::test]
async fn custom_transport_wrapper_is_used_for_open_and_every_resume() {
    let config = MockConfig::new().app(MockApp::new("app.qvf").object("o-1", "kpi", json!({})));
    let engine = MockEngine::start_with(config).await.unwrap();
    let connects = Arc::new(AtomicUsize::new(0));
    let transport = Counting {
        inner: WebSocketTransport::builder(engine.url("/app/app.qvf/ttl/30"))
            .build()
            .unwrap(),
        connects: Arc::clone(&connects),
    };
    // The builder's URL is unused with a custom transport.
    let session = Session::builder("ws://unused.invalid/app/x")
        .transport(transport)
        .build()
        .unwrap();
    let global = within(session.open()).await.unwrap();
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let object = within(doc.call_object("GetObject", json!(["o-1"])))
        .await
        .unwrap();
    assert_eq!(connects.load(Ordering::SeqCst), 1);

    within(session.suspend()).await.unwrap();
    within(session.resume(true)).await.unwrap();
    within(object.call("GetLayout", json!([]))).await.unwrap();
    assert_eq!(connects.load(Ordering::SeqCst), 2);
    assert_eq!(engine.connection_count(), 2);
    within(session.close()).await.unwrap();
}

/// What the hand-written engine saw, in order.
#[derive(Debug)]
enum Seen {
    Request(usize, Value),
    Closed(usize, CloseEvent),
}

/// Accepts memory connections and plays a minimal engine on each: every socket is a fresh
/// engine session (`SESSION_CREATED`, no doc open, no session objects).
fn spawn_fake_engine(mut acceptor: MemoryAcceptor) -> mpsc::UnboundedReceiver<Seen> {
    let (seen, log) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut number = 0;
        while let Some(connection) = acceptor.accept().await {
            number += 1;
            tokio::spawn(serve(number, connection, seen.clone()));
        }
    });
    log
}

async fn serve(number: usize, mut connection: Connection, seen: mpsc::UnboundedSender<Seen>) {
    let greeting = json!({"jsonrpc": "2.0", "method": "OnConnected", "params": {"qSessionState": "SESSION_CREATED"}});
    if connection.send_text(greeting.to_string()).await.is_err() {
        return;
    }
    let mut next_handle = 1;
    loop {
        let text = match connection.next().await {
            Incoming::Text(text) => text,
            Incoming::Error(_) => continue,
            Incoming::Closed(close) => {
                let _ = seen.send(Seen::Closed(number, close));
                return;
            }
        };
        let request: Value = serde_json::from_slice(&text).expect("the client sends JSON");
        let _ = seen.send(Seen::Request(number, request.clone()));
        let first = &request["params"][0];
        let mut reference = |q_type: &str, id: &Value| {
            next_handle += 1;
            json!({"result": {"qReturn": {"qType": q_type, "qHandle": next_handle, "qGenericId": id}}})
        };
        let mut answer = match request["method"]
            .as_str()
            .expect("a request names its method")
        {
            "OpenDoc" => reference("Doc", &request["params"]["qDocName"]),
            "GetVariable" => reference("Variable", first),
            "GetField" => json!({"result": {"qReturn": {"qType": "Field", "qHandle": 90}}}),
            "CreateSessionObject" => reference("GenericObject", &first["qInfo"]["qId"]),
            "GetObject" => json!({"result": {"qReturn": {"qType": null, "qHandle": null}}}),
            "GetActiveDoc" => {
                json!({"error": {"code": 1007, "parameter": "", "message": "App invalid"}})
            }
            _ => json!({"result": {}}),
        };
        answer["jsonrpc"] = json!("2.0");
        answer["id"] = request["id"].clone();
        if connection.send_text(answer.to_string()).await.is_err() {
            return;
        }
    }
}

async fn seen(log: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    within(log.recv()).await.expect("the fake engine stopped")
}

fn request(seen: Seen) -> (usize, String, Value) {
    match seen {
        Seen::Request(number, request) => (
            number,
            request["method"]
                .as_str()
                .expect("a request names its method")
                .to_owned(),
            request["params"].clone(),
        ),
        other => panic!("expected a request, got {other:?}"),
    }
}

#[tokio::test]
async fn memory_transport_with_a_fake_engine_open_refused_then_field_and_variable_closed_on_resume()
{
    let (transport, acceptor) = memory::transport();
    acceptor.refuse_next(TransportError::Connect {
        addr: "memory".to_owned(),
        source: std::io::ErrorKind::ConnectionRefused.into(),
    });
    let mut log = spawn_fake_engine(acceptor);
    let session = Session::builder("memory://fake")
        .transport(transport)
        .build()
        .unwrap();
    let mut errors = session.subscribe("socket-error").unwrap();
    let mut on_connected = session.subscribe("notification:OnConnected").unwrap();

    // Q-OPEN-2 through a custom transport: the refusal is the error, and it is not cached.
    let error = within(session.open()).await.unwrap_err();
    assert_eq!(error.code(), Some(-1));
    assert!(
        matches!(
            error.transport_error(),
            Some(TransportError::Connect { .. })
        ),
        "{error:?}"
    );
    let global = within(session.open()).await.unwrap();
    assert_eq!(
        notification(next(&mut on_connected).await).1,
        json!({"qSessionState": "SESSION_CREATED"})
    );

    let open_params = json!({"qDocName": "mem.qvf"});
    let doc = within(global.call_object("OpenDoc", open_params.clone()))
        .await
        .unwrap();
    let variable = within(doc.call_object("GetVariable", json!(["vYear"])))
        .await
        .unwrap();
    let field = within(doc.call_object("GetField", json!(["Country"])))
        .await
        .unwrap();
    let scratch = within(doc.call_object(
        "CreateSessionObject",
        json!([{"qInfo": {"qId": "scratch", "qType": "kpi"}}]),
    ))
    .await
    .unwrap();
    assert_eq!(variable.object_type(), "Variable");
    assert_eq!(field.object_type(), "Field");
    for _ in 0..4 {
        assert_eq!(request(seen(&mut log).await).0, 1);
    }
    let mut doc_changed = doc.subscribe("changed").unwrap();
    let mut lost: Vec<_> = [&variable, &field, &scratch]
        .iter()
        .map(|object| object.subscribe("closed").unwrap())
        .collect();

    within(session.suspend()).await.unwrap();
    match seen(&mut log).await {
        Seen::Closed(1, close) => assert_eq!(close, CloseEvent::new(4000, "")),
        other => panic!("expected the suspend's close, got {other:?}"),
    }

    let error = within(session.resume(true)).await.unwrap_err();
    assert!(matches!(error, Error::SessionNotAttached), "{error:?}");
    match seen(&mut log).await {
        Seen::Closed(2, close) => assert_eq!(close.code, 1000),
        other => panic!("expected the refused resume's close, got {other:?}"),
    }

    within(session.resume(false)).await.unwrap();
    let restore: Vec<(usize, String, Value)> = vec![
        request(seen(&mut log).await),
        request(seen(&mut log).await),
        request(seen(&mut log).await),
    ];
    assert_eq!(
        restore,
        vec![
            (3, "GetActiveDoc".to_owned(), json!([])),
            (3, "OpenDoc".to_owned(), open_params),
            (3, "GetObject".to_owned(), json!(["scratch"])),
        ],
        "no request for the Variable or the Field: they cannot be restored"
    );
    assert!(matches!(next(&mut doc_changed).await, ObjectEvent::Changed));
    for (object, closed) in [&variable, &field, &scratch].iter().zip(lost.iter_mut()) {
        assert!(
            matches!(next(closed).await, ObjectEvent::Closed),
            "{object:?}"
        );
        assert!(object.is_closed());
    }
    within(doc.call("GetAppLayout", json!([]))).await.unwrap();
    assert_eq!(request(seen(&mut log).await).1, "GetAppLayout");
    let socket_errors: Vec<SessionEvent> = ready(&mut errors);
    assert!(socket_errors.is_empty(), "{socket_errors:?}");
}
