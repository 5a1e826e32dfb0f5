//! What the tests share: the vendored schema, and a session on a mock engine.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use qix_mock::{MockApp, MockConfig, MockConnection, MockEngine};
use serde_json::{json, Map, Value};

/// Only guards against hanging forever; no test asserts on how long anything took.
pub const WAIT: Duration = Duration::from_secs(10);

/// The schema the code was generated from, read from the crate at test time.
pub fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/engine-rpc.json");
    let text = std::fs::read_to_string(path).expect("the vendored schema");
    serde_json::from_str(&text).expect("the schema is JSON")
}

pub fn schemas(schema: &Value) -> &Map<String, Value> {
    schema["components"]["schemas"]
        .as_object()
        .expect("components.schemas")
}

/// `Class -> [Method]` as the schema lists them.
pub fn methods_by_class(schema: &Value) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut classes = std::collections::BTreeMap::<String, Vec<String>>::new();
    for method in schema["methods"].as_array().expect("methods") {
        let name = method["name"].as_str().expect("method name");
        let (class, method) = name.split_once('.').expect("Class.Method");
        classes
            .entry(class.to_owned())
            .or_default()
            .push(method.to_owned());
    }
    classes
}

/// An app with a sheet holding two charts, a dimension, a measure, a bookmark and a variable.
pub fn sales_app() -> MockApp {
    MockApp::new("sales.qvf")
        .object(
            "sheet-1",
            "sheet",
            json!({
                "qMetaDef": {"title": "Overview", "description": "The big picture"},
                "qChildListDef": {"qData": {"title": "/title"}},
                "rank": 0,
            }),
        )
        .child(
            "sheet-1",
            "kpi",
            "kpi",
            json!({"title": "Revenue", "qStateName": "$"}),
        )
        .child(
            "sheet-1",
            "bars",
            "barchart",
            json!({"title": "Revenue per region"}),
        )
        .dimension(
            "dim-region",
            json!({"qDim": {"qFieldDefs": ["Region"], "qGrouping": "N"}}),
        )
        .measure(
            "m-revenue",
            json!({"qMeasure": {"qDef": "Sum(Revenue)", "qLabel": "Revenue"}}),
        )
        .bookmark("bm-q1", json!({"qMetaDef": {"title": "Q1"}}))
        .variable("v-year", json!({"qName": "vYear", "qDefinition": "2024"}))
        .field("Region")
}

/// A mock engine with [`sales_app`], a session on it, and the engine's side of its socket.
pub struct Setup {
    pub engine: MockEngine,
    pub session: qix::Session,
    pub global: qix_api::Global,
    pub connection: MockConnection,
}

pub async fn setup() -> Setup {
    let config = MockConfig::new().app(sales_app());
    let engine = MockEngine::start_with(config).await.expect("mock engine");
    let session = qix::Session::builder(engine.url("/app/sales.qvf/ttl/60"))
        .build()
        .expect("session");
    let global = qix_api::Global::from(session.open().await.expect("open"));
    let connection = tokio::time::timeout(WAIT, engine.next_connection())
        .await
        .expect("the engine saw the socket");
    Setup {
        engine,
        session,
        global,
        connection,
    }
}
