//! The delta protocol over a real socket (Q-DELTA-1..4): a layout that changes between calls
//! reaches the caller exactly as the mock holds it, with delta on and off, across suspend and
//! resume and after its handle was closed and reopened; a small change in a large layout
//! travels as a few patches; a delta answer that is not patches fails that call only.

mod common;

use std::sync::Arc;

use common::{next, open_at, ready, received, within};
use qix::{Direction, Error, Object, ObjectEvent, Session};
use qix_mock::{MockApp, MockConfig, MockConnection, MockEngine};
use serde_json::{json, Value};

/// Resume needs an engine session that outlives its socket.
const TTL_PATH: &str = "/app/app.qvf/ttl/30";

/// A chart whose layout is `rows` rows of three cells (a few hundred kB at 5,000 rows).
fn chart_props(rows: usize, title: &str) -> Value {
    let rows: Vec<Value> = (0..rows)
        .map(|i| json!([i, format!("name-{i}"), (i as f64) * 1.5]))
        .collect();
    json!({"qInfo": {"qId": "chart", "qType": "table"}, "title": title, "rows": rows})
}

fn app(rows: usize) -> MockConfig {
    MockConfig::new().app(MockApp::new("app.qvf").object("chart", "table", chart_props(rows, "v0")))
}

async fn open_chart(
    engine: &MockEngine,
    delta: bool,
) -> (Session, Object, Object, Object, MockConnection) {
    let (session, global, connection) = open_at(engine, TTL_PATH, |b| b.delta(delta)).await;
    let doc = within(global.call_object("OpenDoc", json!(["app.qvf"])))
        .await
        .unwrap();
    let chart = within(doc.call_object("GetObject", json!(["chart"])))
        .await
        .unwrap();
    (session, global, doc, chart, connection)
}

/// The layout as the mock holds it now: `call_raw` never asks for delta (Q-DELTA-1).
async fn truth(chart: &Object) -> Value {
    let raw = within(chart.call_raw("GetLayout", json!([])))
        .await
        .unwrap();
    serde_json::from_str(raw.get()).unwrap()
}

async fn set_title(chart: &Object, rows: usize, title: &str) {
    within(chart.call("SetProperties", json!([chart_props(rows, title)])))
        .await
        .unwrap();
}

/// Whether the last GetLayout the mock got on `connection` asked for delta (ask before
/// [`truth`], whose raw GetLayout never does).
fn last_layout_asked_delta(connection: &MockConnection) -> bool {
    connection
        .requests()
        .iter()
        .rev()
        .find(|r| r.method == "GetLayout")
        .map(|r| r.delta == Some(true))
        .expect("a GetLayout was sent")
}

#[tokio::test]
async fn i8_i9_i11_q_delta_1_2_a_changing_layout_is_exactly_the_mocks_delta_on_and_off() {
    for delta in [true, false] {
        let engine = MockEngine::start_with(app(50)).await.unwrap();
        let (session, _global, doc, chart, connection) = open_chart(&engine, delta).await;

        // I8: the first answer (the whole value at "/"), a change, no change (I9: `[]`).
        for step in ["v1", "v1", "v2"] {
            let layout = within(chart.call("GetLayout", json!([]))).await.unwrap();
            assert_eq!(last_layout_asked_delta(&connection), delta);
            assert_eq!(layout, truth(&chart).await, "delta {delta}, before {step}");
            set_title(&chart, 50, step).await;
        }
        let layout = within(chart.call("GetLayout", json!([]))).await.unwrap();
        assert_eq!(layout["qLayout"]["title"], "v2");
        assert_eq!(layout, truth(&chart).await);
        let baselines = connection.delta_baselines(chart.handle());
        assert_eq!(
            baselines,
            usize::from(delta),
            "the mock's GetLayout baseline"
        );

        // Q-DELTA-2: across suspend and resume the handle is new and both sides start again.
        within(session.suspend()).await.unwrap();
        within(session.resume(true)).await.unwrap();
        let resumed = within(engine.next_connection()).await;
        let layout = within(chart.call("GetLayout", json!([]))).await.unwrap();
        assert_eq!(last_layout_asked_delta(&resumed), delta);
        assert_eq!(layout, truth(&chart).await, "delta {delta}, after resume");
        set_title(&chart, 50, "v3").await;
        let layout = within(chart.call("GetLayout", json!([]))).await.unwrap();
        assert_eq!(layout["qLayout"]["title"], "v3");
        assert_eq!(layout, truth(&chart).await);

        // I11: the handle closes (its baselines go on both sides) and the object comes back
        // on a new handle.
        let handle = chart.handle();
        assert_eq!(resumed.delta_baselines(handle), usize::from(delta));
        let mut closed = chart.subscribe("closed").unwrap();
        within(doc.call("DestroyObject", json!(["chart"])))
            .await
            .unwrap();
        next(&mut closed).await;
        assert_eq!(resumed.delta_baselines(handle), 0);
        let again = within(doc.call_object("CreateObject", json!([chart_props(50, "v4")])))
            .await
            .unwrap();
        assert_ne!(again.handle(), handle);
        for step in ["v5", "v5", "v6"] {
            let layout = within(again.call("GetLayout", json!([]))).await.unwrap();
            assert_eq!(
                layout,
                truth(&again).await,
                "delta {delta}, reopened, before {step}"
            );
            set_title(&again, 50, step).await;
        }
        let layout = within(again.call("GetLayout", json!([]))).await.unwrap();
        assert_eq!(layout["qLayout"]["title"], "v6");
        within(session.close()).await.unwrap();
    }
}

/// The bytes of the GetLayout answers `chart` received while `call` ran.
async fn received_bytes(chart: &Object, rows: usize, change: Option<&str>) -> usize {
    let mut traffic = chart.subscribe("traffic:received").unwrap();
    if let Some(title) = change {
        set_title(chart, rows, title).await;
    }
    ready(&mut traffic); // the SetProperties answer is not counted
    within(chart.call_shared("GetLayout", json!([])))
        .await
        .unwrap();
    ready(&mut traffic)
        .into_iter()
        .map(|event| match event {
            ObjectEvent::Traffic(traffic) => {
                assert_eq!(traffic.direction(), Direction::Received);
                traffic.text().len()
            }
            other => panic!("expected traffic, got {other:?}"),
        })
        .sum()
}

#[tokio::test]
async fn i8_q_delta_1_a_small_change_in_a_large_layout_travels_as_a_few_patches() {
    const ROWS: usize = 5_000;
    let mut sizes = Vec::new();
    for delta in [true, false] {
        let engine = MockEngine::start_with(app(ROWS)).await.unwrap();
        let (_session, _global, _doc, chart, _connection) = open_chart(&engine, delta).await;
        let first = received_bytes(&chart, ROWS, None).await;
        let changed = received_bytes(&chart, ROWS, Some("a new title")).await;
        let unchanged = received_bytes(&chart, ROWS, None).await;
        sizes.push((first, changed, unchanged));
    }
    println!(
        "GetLayout bytes received (first, changed, unchanged): delta on {:?}, off {:?}",
        sizes[0], sizes[1]
    );
    let [(on_first, on_changed, on_unchanged), (off_first, off_changed, off_unchanged)] = sizes[..]
    else {
        unreachable!()
    };
    assert!(off_first > 100_000, "a large layout: {off_first} bytes");
    // The first delta answer is the whole value, as large as a full answer.
    assert!(on_first * 10 >= off_first * 9, "{on_first} vs {off_first}");
    // A changed title is one patch; nothing changed is `[]`.
    assert!(
        on_changed * 100 < off_changed,
        "changed: {on_changed} bytes with delta, {off_changed} without"
    );
    assert!(
        on_unchanged * 100 < off_unchanged,
        "unchanged: {on_unchanged} bytes with delta, {off_unchanged} without"
    );
}

#[tokio::test]
async fn q_delta_3_an_unchanged_answer_hands_out_the_same_shared_value() {
    let engine = MockEngine::start_with(app(50)).await.unwrap();
    let (_session, _global, _doc, chart, _connection) = open_chart(&engine, true).await;
    let first = within(chart.call_shared("GetLayout", json!([])))
        .await
        .unwrap();
    let again = within(chart.call_shared("GetLayout", json!([])))
        .await
        .unwrap();
    let layout = |result: &qix::SharedResult| Arc::clone(result.get("qLayout").unwrap());
    assert!(Arc::ptr_eq(&layout(&first), &layout(&again)), "no copy");

    set_title(&chart, 50, "changed").await;
    let changed = within(chart.call_shared("GetLayout", json!([])))
        .await
        .unwrap();
    assert!(!Arc::ptr_eq(&layout(&first), &layout(&changed)));
    // What was handed out before never changes.
    assert_eq!(layout(&first)["title"], "v0");
    assert_eq!(layout(&changed)["title"], "changed");
    assert_eq!(changed.to_value(), truth(&chart).await);

    // The typed API reads the same shared value.
    let typed = qix_api::GenericObject::from(chart.clone());
    let layout = within(typed.get_layout()).await.unwrap();
    assert_eq!(layout.extra["title"], "changed");
    assert_eq!(layout.info.unwrap().id.as_deref(), Some("chart"));
}

#[tokio::test]
async fn i3_r5_i10_q_delta_1_raw_calls_and_the_kept_off_methods_never_ask_for_delta() {
    let engine = MockEngine::start_with(app(5)).await.unwrap();
    let (_session, global, _doc, chart, connection) = open_chart(&engine, true).await;
    within(chart.call("GetLayout", json!([]))).await.unwrap();
    let raw = within(chart.call_raw("GetLayout", json!([])))
        .await
        .unwrap();
    within(chart.call("GetProperties", json!([])))
        .await
        .unwrap();
    let asked: Vec<(String, Option<bool>)> = connection
        .requests()
        .into_iter()
        .map(|r| (r.method, r.delta))
        .collect();
    assert_eq!(
        asked,
        [
            ("OpenDoc", None),
            ("GetObject", None),
            ("GetLayout", Some(true)),
            ("GetLayout", None),
            ("GetProperties", None),
        ]
        .map(|(m, d)| (m.to_owned(), d))
    );
    let raw: Value = serde_json::from_str(raw.get()).unwrap();
    assert_eq!(raw["qLayout"]["title"], "v0", "the engine's own full text");

    // I10: a member whose value is a string (ProductVersion's qReturn) is stored as it is,
    // Global's handle -1 asks too (R5), and an unchanged answer (`[]`) gives it again.
    for _ in 0..2 {
        let version = within(global.call("ProductVersion", json!([])))
            .await
            .unwrap();
        let raw = within(global.call_raw("ProductVersion", json!([])))
            .await
            .unwrap();
        assert_eq!(version, serde_json::from_str::<Value>(raw.get()).unwrap());
        assert!(version["qReturn"].is_string());
    }
    let requests = connection.requests();
    let asked: Vec<Option<bool>> = requests
        .iter()
        .filter(|r| r.method == "ProductVersion")
        .map(|r| r.delta)
        .collect();
    assert_eq!(asked, [Some(true), None, Some(true), None]);
}

/// Holds the answers, lets `call` go out, answers it first with `text(id)`, then lets the
/// held answers go (the real one then answers a call that is over, and is dropped).
async fn answer_with<F: std::future::Future>(
    connection: &MockConnection,
    method: &str,
    call: F,
    text: impl Fn(u64) -> String,
) -> F::Output {
    let count = connection
        .requests()
        .iter()
        .filter(|r| r.method == method)
        .count();
    connection.hold_responses();
    let inject = async {
        received(connection, method, count + 1).await;
        let id = connection
            .requests()
            .iter()
            .rev()
            .find(|r| r.method == method)
            .unwrap()
            .id;
        connection.send_text(text(id)).await;
    };
    let (outcome, ()) = tokio::join!(within(call), inject);
    connection.release_responses();
    outcome
}

#[tokio::test]
async fn i8_q_delta_1_4_an_answer_that_is_not_patches_fails_that_call_and_the_session_goes_on() {
    let engine = MockEngine::start_with(app(5)).await.unwrap();
    let (session, global, _doc, chart, connection) = open_chart(&engine, true).await;
    within(chart.call("GetLayout", json!([]))).await.unwrap();

    // A member that is not an array of patches: -3, for this call only.
    let not_patches = |id| {
        json!({"jsonrpc": "2.0", "id": id, "delta": true, "result": {"qLayout": {"title": "x"}}})
            .to_string()
    };
    let error = answer_with(
        &connection,
        "GetLayout",
        chart.call("GetLayout", json!([])),
        not_patches,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, Error::ExpectedArrayOfPatches(_)),
        "{error:?}"
    );
    assert_eq!(error.enigma_code(), Some(-3));

    // Q-DELTA-4: the engine's baseline moved and ours did not: that pair is asked without
    // delta from now on, and its answers are right.
    set_title(&chart, 5, "after").await;
    let layout = within(chart.call("GetLayout", json!([]))).await.unwrap();
    assert!(!last_layout_asked_delta(&connection));
    assert_eq!(layout, truth(&chart).await);
    assert_eq!(layout["qLayout"]["title"], "after");

    // A patch that cannot apply: -4, and the session still works.
    let no_parent = |id| {
        json!({"jsonrpc": "2.0", "id": id, "delta": true,
               "result": {"qVersion": [{"op": "remove", "path": "/missing/x"}]}})
        .to_string()
    };
    let error = answer_with(
        &connection,
        "EngineVersion",
        global.call("EngineVersion", json!([])),
        no_parent,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, Error::PatchHasNoParent(_)), "{error:?}");
    assert_eq!(error.enigma_code(), Some(-4));
    let version = within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
    assert!(version["qVersion"]["qComponentVersion"].is_string());
    assert_eq!(session.state(), qix::State::Open);
}
