//! Suspending and resuming sessions against the mock engine over real sockets: manual and
//! network suspension, reattaching within the TTL, restoring after the engine forgot the
//! session (Q-SUSP-*, Q-RES-*).

mod common;

use std::time::Duration;

use common::{
    id_of, next, notification, open, open_at, ready, received, traffic, until_end, within,
};
use qix::{CloseEvent, Direction, Error, Initiator, NotConnectedReason, Object, ObjectEvent};
use qix::{Session, SessionEvent, State};
use qix_mock::{EngineError, MockApp, MockConfig, MockEngine, OnConnected, SessionState};
use serde_json::{json, Value};

const TTL_PATH: &str = "/app/Sales.qvf/ttl/30";

fn sales() -> MockConfig {
    MockConfig::new().app(
        MockApp::new("Sales.qvf")
            .object("sheet-1", "sheet", json!({"title": "Overview"}))
            .dimension("dim-1", json!({"qDim": {"qFieldDefs": ["Country"]}}))
            .measure("m-1", json!({"qMeasure": {"qDef": "Sum(Amount)"}}))
            .bookmark("bm-1", json!({"qMetaDef": {"title": "Q1"}}))
            .variable("v-1", json!({"qName": "vYear", "qDefinition": "2024"}))
            .field("Country"),
    )
}

fn suspended(event: SessionEvent) -> (Initiator, u16, String) {
    match event {
        SessionEvent::Suspended {
            initiator,
            code,
            reason,
        } => (initiator, code, reason),
        other => panic!("expected suspended, got {other:?}"),
    }
}

async fn open_sales(
    engine: &MockEngine,
    path: &str,
) -> (Session, Object, Object, qix_mock::MockConnection) {
    let (session, global, connection) = open_at(engine, path, |b| b).await;
    let doc = within(global.call_object("OpenDoc", json!(["Sales.qvf"])))
        .await
        .expect("the step succeeds");
    (session, global, doc, connection)
}

#[tokio::test]
async fn q_susp_1_suspend_closes_with_4000_and_emits_suspended_manual() {
    let engine = MockEngine::start_with(sales()).await.unwrap();
    let (session, global, doc, connection) = open_sales(&engine, TTL_PATH).await;
    let mut events = session.subscribe("suspended").unwrap();
    let mut session_closed = session.subscribe("closed").unwrap();
    let mut doc_closed = doc.subscribe("closed").unwrap();

    within(session.suspend()).await.unwrap();
    assert_eq!(
        within(connection.closed()).await,
        Some((4000, String::new()))
    );
    assert_eq!(
        suspended(next(&mut events).await),
        (Initiator::Manual, 4000, String::new())
    );

    // Objects are kept, calls are refused with -11, and nothing was written.
    assert!(!doc.is_closed() && !global.is_closed());
    let error = within(doc.call("GetObject", json!(["sheet-1"])))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::SessionSuspended), "{error:?}");
    assert_eq!(error.code(), Some(-11));
    assert_eq!(connection.requests().len(), 1);
    assert!(ready(&mut session_closed).is_empty());
    assert!(ready(&mut doc_closed).is_empty());
}

#[tokio::test]
async fn q_susp_2_calls_while_suspended_fail_with_minus_11_and_write_nothing() {
    let engine = MockEngine::start_with(sales()).await.unwrap();
    let (session, global, doc, first) = open_sales(&engine, TTL_PATH).await;
    within(session.suspend()).await.unwrap();
    for object in [&global, &doc] {
        let error = within(object.call("GetObject", json!(["sheet-1"])))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::SessionSuspended), "{error:?}");
        assert_eq!(error.code(), Some(-11));
        assert_eq!(error.to_string(), "Session suspended");
    }
    let object = within(doc.call_object("GetObject", json!(["sheet-1"])))
        .await
        .unwrap_err();
    assert_eq!(object.code(), Some(-11));
    assert_eq!(
        first.requests().len(),
        1,
        "only the OpenDoc was ever written"
    );
    assert_eq!(engine.connection_count(), 1);
}

#[tokio::test]
async fn q_susp_1_suspend_with_custom_code_and_reason() {
    let engine = MockEngine::start().await.unwrap();
    let (session, _global, connection) = open(&engine).await;
    let mut events = session.subscribe("suspended").unwrap();
    within(session.suspend_with(4001, "maintenance"))
        .await
        .unwrap();
    assert_eq!(
        within(connection.closed()).await,
        Some((4001, "maintenance".to_owned()))
    );
    assert_eq!(
        suspended(next(&mut events).await),
        (Initiator::Manual, 4001, "maintenance".to_owned())
    );
}

#[tokio::test]
async fn q_susp_1_pending_calls_fail_socket_closed_on_suspend() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, connection) = open(&engine).await;
    connection.hold_responses();
    let pending = tokio::spawn({
        let global = global.clone();
        async move { global.call("EngineVersion", json!([])).await }
    });
    received(&connection, "EngineVersion", 1).await;
    within(session.suspend()).await.unwrap();
    match within(pending).await.unwrap() {
        Err(error @ Error::NotConnected { .. }) => {
            assert_eq!(error.code(), Some(-1));
            assert!(error.to_string().starts_with("Socket closed"), "{error}");
            assert!(matches!(
                error,
                Error::NotConnected {
                    reason: NotConnectedReason::SocketClosed,
                    ..
                }
            ));
        }
        other => panic!("expected Socket closed, got {other:?}"),
    }
}

#[tokio::test]
async fn q_susp_1_suspend_needs_an_open_session_and_is_a_no_op_when_suspended() {
    let engine = MockEngine::start().await.unwrap();
    let idle = Session::builder(engine.app_url("app.qvf")).build().unwrap();
    let error = within(idle.suspend()).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidState {
                state: State::Idle,
                ..
            }
        ),
        "{error:?}"
    );

    let (session, _global, _connection) = open(&engine).await;
    let mut events = session.subscribe("suspended").unwrap();
    within(session.suspend()).await.unwrap();
    within(session.suspend_with(4001, "again")).await.unwrap();
    within(session.close()).await.unwrap();
    let error = within(session.suspend()).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidState {
                state: State::Closed,
                ..
            }
        ),
        "{error:?}"
    );
    drop(session);
    assert_eq!(
        until_end(&mut events).await.len(),
        1,
        "one suspension, one event"
    );
    assert_eq!(engine.connection_count(), 1);
}

async fn network_suspension(
    drop_connection: impl AsyncFnOnce(&qix_mock::MockConnection),
    expected: (u16, &str),
) {
    let engine = MockEngine::start_with(sales())
        .await
        .expect("start the mock engine");
    let (session, global, connection) =
        open_at(&engine, TTL_PATH, |builder| builder.suspend_on_close(true)).await;
    let doc = within(global.call_object("OpenDoc", json!(["Sales.qvf"])))
        .await
        .expect("the step succeeds");
    let sheet = within(doc.call_object("GetObject", json!(["sheet-1"])))
        .await
        .expect("the step succeeds");
    let mut events = session.subscribe("suspended").expect("known topic");
    let mut session_closed = session.subscribe("closed").expect("known topic");
    let mut sheet_closed = sheet.subscribe("closed").expect("known topic");

    drop_connection(&connection).await;
    assert_eq!(
        suspended(next(&mut events).await),
        (Initiator::Network, expected.0, expected.1.to_owned())
    );
    let error = within(sheet.call("GetLayout", json!([])))
        .await
        .expect_err("the call should fail");
    assert_eq!(error.code(), Some(-11));

    // The engine session outlived the socket (TTL 30): the session reattaches.
    within(session.resume(true))
        .await
        .expect("the step succeeds");
    let layout = within(sheet.call("GetLayout", json!([])))
        .await
        .expect("the step succeeds");
    assert_eq!(layout["qLayout"]["title"], "Overview");
    assert!(
        ready(&mut session_closed).is_empty(),
        "no closed for a network suspension"
    );
    assert!(ready(&mut sheet_closed).is_empty());
}

#[tokio::test]
async fn q_susp_3_server_close_with_suspend_on_close_suspends_with_network_initiator() {
    network_suspension(
        async |connection| connection.close(4029, "x").await,
        (4029, "x"),
    )
    .await;
}

#[tokio::test]
async fn q_susp_3_server_close_1000_with_suspend_on_close_suspends_too() {
    network_suspension(
        async |connection| connection.close(1000, "").await,
        (1000, ""),
    )
    .await;
}

#[tokio::test]
async fn q_susp_3_dropped_tcp_with_suspend_on_close_suspends_with_1006() {
    network_suspension(async |connection| connection.drop_tcp(), (1006, "")).await;
}

#[tokio::test]
async fn q_res_1_resume_on_a_session_that_is_not_suspended_fails_and_opens_nothing() {
    let engine = MockEngine::start().await.unwrap();
    let session = Session::builder(engine.app_url("app.qvf")).build().unwrap();
    let error = within(session.resume(false)).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidState {
                state: State::Idle,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(engine.handshake_count(), 0);

    let global = within(session.open()).await.unwrap();
    let error = within(session.resume(true)).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidState {
                state: State::Open,
                ..
            }
        ),
        "{error:?}"
    );
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();

    within(session.close()).await.unwrap();
    let error = within(session.resume(false)).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidState {
                state: State::Closed,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(engine.handshake_count(), 1);
}

#[tokio::test]
async fn q_res_1_resume_reattaches_within_ttl_and_objects_get_new_handles() {
    let config = sales().required_header("X-Qlik-User", "UserDirectory=internal;UserId=sa");
    let engine = MockEngine::start_with(config).await.unwrap();
    let (session, global, first) = open_at(&engine, TTL_PATH, |builder| {
        builder.header("X-Qlik-User", "UserDirectory=internal;UserId=sa")
    })
    .await;
    let doc = within(global.call_object("OpenDoc", json!(["Sales.qvf"])))
        .await
        .unwrap();
    let sheet = within(doc.call_object("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
    let scratch = within(doc.call_object(
        "CreateSessionObject",
        json!([{"qInfo": {"qId": "scratch", "qType": "listbox"}, "n": 7}]),
    ))
    .await
    .unwrap();
    let old = (doc.handle(), sheet.handle(), scratch.handle());
    let mut doc_changed = doc.subscribe("changed").unwrap();
    let mut sheet_changed = sheet.subscribe("changed").unwrap();
    let mut scratch_changed = scratch.subscribe("changed").unwrap();
    let mut global_changed = global.subscribe("changed").unwrap();
    let mut resumed = session.subscribe("resumed").unwrap();
    let mut on_connected = session.subscribe("notification:OnConnected").unwrap();

    within(session.suspend()).await.unwrap();
    within(session.resume(true)).await.unwrap();
    // Q-RES-4: `changed` and `resumed` were published before `resume` resolved.
    assert!(matches!(
        ready(&mut resumed).as_slice(),
        [SessionEvent::Resumed]
    ));
    for changed in [&mut doc_changed, &mut sheet_changed, &mut scratch_changed] {
        assert!(matches!(ready(changed).as_slice(), [ObjectEvent::Changed]));
    }
    let second = within(engine.next_connection()).await;

    // Same URL, same headers (the engine would have refused the handshake otherwise).
    assert_eq!(second.path(), first.path());
    assert_eq!(second.header("x-qlik-user"), first.header("x-qlik-user"));
    assert_eq!(second.session_state(), &SessionState::Attached);
    assert_eq!(
        notification(next(&mut on_connected).await).1,
        json!({"qSessionState": "SESSION_ATTACHED"})
    );

    // Everything was restored: identity kept, new handles, `changed` for each but Global.
    for (object, old) in [(&doc, old.0), (&sheet, old.1), (&scratch, old.2)] {
        assert!(!object.is_closed());
        assert_ne!(object.handle(), old, "{object:?} kept its old handle");
    }
    assert_eq!(Some(doc.handle()), second.handle_of("Sales.qvf"));
    assert_eq!(Some(sheet.handle()), second.handle_of("sheet-1"));
    assert_eq!(Some(scratch.handle()), second.handle_of("scratch"));
    assert_eq!(global.handle(), -1);
    assert!(ready(&mut global_changed).is_empty());

    let methods: Vec<String> = second.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods[0], "GetActiveDoc");
    assert_eq!(methods.iter().filter(|m| *m == "GetObject").count(), 2);
    assert_eq!(methods.len(), 3);

    let layout = within(scratch.call("GetLayout", json!([]))).await.unwrap();
    assert_eq!(
        layout["qLayout"]["n"], 7,
        "the session object survived in the engine session"
    );
    within(sheet.call("GetLayout", json!([]))).await.unwrap();
}

#[tokio::test]
async fn q_res_3_restore_requests_appear_in_traffic_with_the_same_id_counter() {
    let engine = MockEngine::start_with(sales()).await.unwrap();
    let (session, _global, doc, _first) = open_sales(&engine, TTL_PATH).await;
    let sheet = within(doc.call_object("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
    within(session.suspend()).await.unwrap();
    let mut frames = session.subscribe("traffic:*").unwrap();
    within(session.resume(true)).await.unwrap();
    let second = within(engine.next_connection()).await;

    let seen: Vec<(Direction, Value)> = ready(&mut frames).into_iter().map(traffic).collect();
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(seen[0].0, Direction::Received);
    assert_eq!(seen[0].1["method"], "OnConnected");
    assert_eq!(
        (seen[1].0, &seen[1].1["method"]),
        (Direction::Sent, &json!("GetActiveDoc"))
    );
    assert_eq!(seen[1].1["handle"], -1);
    assert_eq!(
        id_of(&seen[1].1),
        3,
        "ids go on from the calls before the suspension"
    );
    assert_eq!((seen[2].0, id_of(&seen[2].1)), (Direction::Received, 3));
    assert_eq!(
        (seen[3].0, &seen[3].1["method"]),
        (Direction::Sent, &json!("GetObject"))
    );
    assert_eq!(seen[3].1["params"], json!(["sheet-1"]));
    assert_eq!(
        seen[3].1["handle"],
        doc.handle(),
        "GetObject goes to the doc's new handle"
    );
    assert_eq!((seen[4].0, id_of(&seen[4].1)), (Direction::Received, 4));
    let ids: Vec<u64> = second.requests().iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![3, 4]);
    assert_eq!(Some(sheet.handle()), second.handle_of("sheet-1"));
}

#[tokio::test]
async fn q_res_1_no_on_connected_in_time_counts_as_a_new_session() {
    let engine = MockEngine::start_with(sales()).await.unwrap();
    let (session, global, _first) = open_at(&engine, TTL_PATH, |builder| {
        builder.on_connected_timeout(Duration::from_millis(200))
    })
    .await;
    let doc = within(global.call_object("OpenDoc", json!(["Sales.qvf"])))
        .await
        .unwrap();
    within(session.suspend()).await.unwrap();
    engine.set_on_connected(OnConnected::Omit);

    let error = within(session.resume(true)).await.unwrap_err();
    assert!(matches!(error, Error::SessionNotAttached), "{error:?}");
    assert_eq!(error.code(), Some(-12));
    let second = within(engine.next_connection()).await;
    assert_eq!(within(second.closed()).await, Some((1000, String::new())));
    let call = within(doc.call("GetObject", json!(["sheet-1"])))
        .await
        .unwrap_err();
    assert_eq!(call.code(), Some(-11), "still suspended");

    // Once the engine greets again, the same session reattaches.
    engine.set_on_connected(OnConnected::Send);
    within(session.resume(true)).await.unwrap();
    within(doc.call("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
}

#[tokio::test]
async fn q_res_2_after_the_engine_forgot_the_session_only_if_attached_fails_then_resume_false_restores(
) {
    let engine = MockEngine::start_with(sales()).await.unwrap();
    let (session, global, _first) = open_at(&engine, TTL_PATH, |b| b).await;
    // By name, to check the restore repeats the params exactly as given.
    let open_params = json!({"qDocName": "Sales.qvf", "qNoData": false});
    let doc = within(global.call_object("OpenDoc", open_params.clone()))
        .await
        .unwrap();
    let get =
        async |method: &str, id: &str| within(doc.call_object(method, json!([id]))).await.unwrap();
    let sheet = get("GetObject", "sheet-1").await;
    let dimension = get("GetDimension", "dim-1").await;
    let measure = get("GetMeasure", "m-1").await;
    let bookmark = get("GetBookmark", "bm-1").await;
    let variable = get("GetVariableById", "v-1").await;
    let field = get("GetField", "Country").await;
    let create = async |method: &str, id: &str| {
        let props = json!([{"qInfo": {"qId": id, "qType": "chart"}, "made": id}]);
        within(doc.call_object(method, props)).await.unwrap()
    };
    let persistent = create("CreateObject", "persist-1").await;
    let scratch = create("CreateSessionObject", "scratch-1").await;
    assert_eq!(
        [&dimension, &measure, &bookmark, &variable, &field].map(|o| o.object_type().to_owned()),
        [
            "GenericDimension",
            "GenericMeasure",
            "GenericBookmark",
            "GenericVariable",
            "Field"
        ]
    );

    let restorable = [
        &doc,
        &sheet,
        &dimension,
        &measure,
        &bookmark,
        &variable,
        &persistent,
    ];
    let lost = [&scratch, &field];
    let mut changed: Vec<_> = restorable
        .iter()
        .map(|o| o.subscribe("changed").unwrap())
        .collect();
    let mut closed: Vec<_> = lost
        .iter()
        .map(|o| o.subscribe("closed").unwrap())
        .collect();
    let mut lost_changed: Vec<_> = lost
        .iter()
        .map(|o| o.subscribe("changed").unwrap())
        .collect();
    let mut resumed = session.subscribe("resumed").unwrap();

    within(session.suspend()).await.unwrap();
    engine.forget_sessions();

    let error = within(session.resume(true)).await.unwrap_err();
    assert!(matches!(error, Error::SessionNotAttached), "{error:?}");
    assert_eq!(error.code(), Some(-12));
    let refused = within(engine.next_connection()).await;
    assert_eq!(refused.session_state(), &SessionState::Created);
    assert_eq!(within(refused.closed()).await, Some((1000, String::new())));
    assert!(
        refused.requests().is_empty(),
        "nothing restored on a session not attached"
    );
    let call = within(sheet.call("GetLayout", json!([])))
        .await
        .unwrap_err();
    assert_eq!(call.code(), Some(-11), "still suspended");
    assert!(restorable.iter().chain(lost.iter()).all(|o| !o.is_closed()));
    assert!(ready(&mut resumed).is_empty());

    let mut sent = session.subscribe("traffic:sent").unwrap();
    within(session.resume(false)).await.unwrap();
    let third = within(engine.next_connection()).await;
    assert!(matches!(next(&mut resumed).await, SessionEvent::Resumed));

    // The Doc came back through OpenDoc with the last params, after GetActiveDoc failed.
    let requests = third.requests();
    assert_eq!(requests[0].method, "GetActiveDoc");
    assert_eq!(requests[1].method, "OpenDoc");
    assert_eq!(*requests[1].params.as_value(), open_params);
    let frames: Vec<Value> = ready(&mut sent).into_iter().map(|e| traffic(e).1).collect();
    assert_eq!(frames[1]["method"], "OpenDoc");
    assert_eq!(frames[1]["params"], open_params);
    let mut gets: Vec<(String, Value)> = requests[2..]
        .iter()
        .map(|r| (r.method.clone(), r.params.as_value().clone()))
        .collect();
    gets.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.to_string().cmp(&b.1.to_string()))
    });
    let expected: Vec<(String, Value)> = [
        ("GetBookmark", "bm-1"),
        ("GetDimension", "dim-1"),
        ("GetMeasure", "m-1"),
        ("GetObject", "persist-1"),
        ("GetObject", "scratch-1"),
        ("GetObject", "sheet-1"),
        ("GetVariableById", "v-1"),
    ]
    .into_iter()
    .map(|(method, id)| (method.to_owned(), json!([id])))
    .collect();
    assert_eq!(gets, expected, "no GetField: a Field cannot be restored");
    assert!(requests[2..].iter().all(|r| r.handle == doc.handle()));

    for (object, changed) in restorable.iter().zip(changed.iter_mut()) {
        assert!(
            matches!(next(changed).await, ObjectEvent::Changed),
            "{object:?}"
        );
        assert!(!object.is_closed());
        let id = if object.object_type() == "Doc" {
            "Sales.qvf"
        } else {
            object.id()
        };
        assert_eq!(Some(object.handle()), third.handle_of(id), "{object:?}");
    }
    for ((object, closed), changed) in lost
        .iter()
        .zip(closed.iter_mut())
        .zip(lost_changed.iter_mut())
    {
        assert!(
            matches!(next(closed).await, ObjectEvent::Closed),
            "{object:?}"
        );
        assert!(object.is_closed());
        assert!(until_end(changed).await.is_empty());
        let error = within(object.call("GetLayout", json!([])))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::ObjectClosed), "{error:?}");
    }

    let layout = within(sheet.call("GetLayout", json!([]))).await.unwrap();
    assert_eq!(layout["qLayout"]["title"], "Overview");
    let props = within(persistent.call("GetProperties", json!([])))
        .await
        .unwrap();
    assert_eq!(props["qProp"]["made"], "persist-1");
    let dim = within(dimension.call("GetProperties", json!([])))
        .await
        .unwrap();
    assert_eq!(dim["qProp"]["qDim"]["qFieldDefs"], json!(["Country"]));
}

#[tokio::test]
async fn q_res_2_without_ttl_the_engine_session_is_gone_and_only_if_attached_fails() {
    let engine = MockEngine::start_with(sales()).await.unwrap();
    let (session, _global, doc, first) = open_sales(&engine, "/app/Sales.qvf").await;
    within(session.suspend()).await.unwrap();
    within(first.closed()).await;
    let error = within(session.resume(true)).await.unwrap_err();
    assert_eq!(error.code(), Some(-12), "{error:?}");
    assert!(!doc.is_closed());
    let call = within(doc.call("GetObject", json!(["sheet-1"])))
        .await
        .unwrap_err();
    assert_eq!(call.code(), Some(-11));

    within(session.resume(false)).await.unwrap();
    let sheet = within(doc.call_object("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
    within(sheet.call("GetLayout", json!([]))).await.unwrap();
}

#[tokio::test]
async fn q_res_2_on_connected_error_state_fails_resume_naming_the_state() {
    let engine = MockEngine::start_with(sales()).await.unwrap();
    let (session, _global, doc, _first) = open_sales(&engine, TTL_PATH).await;
    within(session.suspend()).await.unwrap();
    engine.set_on_connected(OnConnected::State(SessionState::ErrorLimitExceeded));

    let error = within(session.resume(false)).await.unwrap_err();
    match &error {
        Error::SessionState { state } => assert_eq!(state, "SESSION_ERROR_LIMIT_EXCEEDED"),
        other => panic!("expected a session state error, got {other:?}"),
    }
    assert!(
        error.to_string().contains("SESSION_ERROR_LIMIT_EXCEEDED"),
        "{error}"
    );
    let second = within(engine.next_connection()).await;
    assert_eq!(within(second.closed()).await, Some((1000, String::new())));
    let call = within(doc.call("GetObject", json!(["sheet-1"])))
        .await
        .unwrap_err();
    assert_eq!(call.code(), Some(-11), "still suspended");
    assert!(!doc.is_closed());

    engine.set_on_connected(OnConnected::Send);
    within(session.resume(true)).await.unwrap();
    within(doc.call("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
}

#[tokio::test]
async fn q_res_2_connect_failure_fails_resume_and_the_session_stays_suspended() {
    let engine = MockEngine::start_with(sales()).await.unwrap();
    let (session, _global, doc, _first) = open_sales(&engine, TTL_PATH).await;
    let mut errors = session.subscribe("socket-error").unwrap();
    within(session.suspend()).await.unwrap();
    engine.set_handshake_rejection(Some(503));

    let error = within(session.resume(true)).await.unwrap_err();
    assert_eq!(error.http_status(), Some(503), "{error:?}");
    let call = within(doc.call("GetObject", json!(["sheet-1"])))
        .await
        .unwrap_err();
    assert_eq!(call.code(), Some(-11));

    engine.set_handshake_rejection(None);
    within(session.resume(true)).await.unwrap();
    within(doc.call("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
    assert!(ready(&mut errors).is_empty());
}

#[tokio::test]
async fn q_res_3_a_doc_that_cannot_be_reopened_is_closed_with_its_objects() {
    let engine = MockEngine::start_with(sales()).await.unwrap();
    let (session, global, doc, _first) = open_sales(&engine, TTL_PATH).await;
    let sheet = within(doc.call_object("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
    let mut doc_closed = doc.subscribe("closed").unwrap();
    let mut sheet_closed = sheet.subscribe("closed").unwrap();
    within(session.suspend()).await.unwrap();
    engine.forget_sessions();
    engine.fail_method(
        "OpenDoc",
        EngineError {
            code: qix_mock::codes::APP_NOT_FOUND,
            parameter: "Sales.qvf".to_owned(),
            message: "App not found".to_owned(),
        },
    );

    within(session.resume(false)).await.unwrap();
    let second = within(engine.next_connection()).await;
    let methods: Vec<String> = second.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["GetActiveDoc", "OpenDoc"]);
    assert!(matches!(next(&mut doc_closed).await, ObjectEvent::Closed));
    assert!(matches!(next(&mut sheet_closed).await, ObjectEvent::Closed));
    assert!(doc.is_closed() && sheet.is_closed());
    assert!(!global.is_closed());
    assert_eq!(global.handle(), -1);
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
}

#[tokio::test]
async fn q_res_4_calls_while_resuming_fail_with_minus_11() {
    let engine = MockEngine::start_with(sales()).await.unwrap();
    let (session, global, doc, _first) = open_sales(&engine, TTL_PATH).await;
    within(session.suspend()).await.unwrap();
    // The engine holds its greeting back: the resume stays in progress until the test sends it.
    engine.set_on_connected(OnConnected::Omit);
    let resume = tokio::spawn({
        let session = session.clone();
        async move { session.resume(true).await }
    });
    let second = within(engine.next_connection()).await;

    for object in [&global, &doc] {
        let error = within(object.call("GetObject", json!(["sheet-1"])))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::SessionSuspended), "{error:?}");
    }
    let suspend = within(session.suspend()).await.unwrap_err();
    assert!(
        matches!(
            suspend,
            Error::InvalidState {
                state: State::Resuming,
                ..
            }
        ),
        "{suspend:?}"
    );
    let again = within(session.resume(true)).await.unwrap_err();
    assert!(
        matches!(
            again,
            Error::InvalidState {
                state: State::Resuming,
                ..
            }
        ),
        "{again:?}"
    );
    assert!(
        second.requests().is_empty(),
        "calls while resuming are never written"
    );

    second
        .notify("OnConnected", json!({"qSessionState": "SESSION_ATTACHED"}))
        .await;
    within(resume).await.unwrap().unwrap();
    within(doc.call("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
    let methods: Vec<String> = second.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["GetActiveDoc", "GetObject"]);
}

#[tokio::test]
async fn q_res_2_engine_closing_the_resume_socket_fails_resume_and_it_can_be_retried() {
    // A resume whose socket is closed by the engine mid-way fails and leaves the session
    // suspended with its objects.
    let engine = MockEngine::start_with(sales()).await.unwrap();
    let (session, _global, doc, _first) = open_sales(&engine, TTL_PATH).await;
    within(session.suspend()).await.unwrap();
    engine.set_on_connected(OnConnected::Omit);
    let resume = tokio::spawn({
        let session = session.clone();
        async move { session.resume(true).await }
    });
    let second = within(engine.next_connection()).await;
    second.close(4029, "x").await;
    let error = within(resume).await.unwrap().unwrap_err();
    match &error {
        Error::NotConnected {
            close: Some(close), ..
        } => assert_eq!(*close, CloseEvent::new(4029, "x")),
        other => panic!("expected Not connected with the close, got {other:?}"),
    }
    assert!(!doc.is_closed());
    engine.set_on_connected(OnConnected::Send);
    within(session.resume(true)).await.unwrap();
    within(doc.call("GetObject", json!(["sheet-1"])))
        .await
        .unwrap();
}

#[tokio::test]
async fn q_res_3_a_session_app_is_restored_when_attached_and_lost_without_an_open_doc() {
    let engine = MockEngine::start().await.unwrap();
    let (session, global, _first) = open_at(&engine, "/app/engineData/ttl/30", |b| b).await;
    let app = within(global.call_object("CreateSessionApp", json!([])))
        .await
        .unwrap();
    assert_eq!(app.object_type(), "Doc");
    let object = within(app.call_object(
        "CreateSessionObject",
        json!([{"qInfo": {"qId": "kpi-1", "qType": "kpi"}, "v": 1}]),
    ))
    .await
    .unwrap();

    // Attached: GetActiveDoc finds the session app, and its object comes back.
    within(session.suspend()).await.unwrap();
    within(session.resume(true)).await.unwrap();
    let layout = within(object.call("GetLayout", json!([]))).await.unwrap();
    assert_eq!(layout["qLayout"]["v"], 1);

    // Forgotten: no OpenDoc was ever sent, so nothing can bring the session app back.
    let mut app_closed = app.subscribe("closed").unwrap();
    let mut object_closed = object.subscribe("closed").unwrap();
    within(session.suspend()).await.unwrap();
    engine.forget_sessions();
    within(session.resume(false)).await.unwrap();
    let _second = within(engine.next_connection()).await;
    let third = within(engine.next_connection()).await;
    let methods: Vec<String> = third.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["GetActiveDoc"]);
    assert!(matches!(next(&mut app_closed).await, ObjectEvent::Closed));
    assert!(matches!(
        next(&mut object_closed).await,
        ObjectEvent::Closed
    ));
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
}

/// Q-OPEN-4: open and resume tell whether the engine session was attached or created, and the
/// session answers it at any time.
#[tokio::test]
async fn q_open_4_open_and_resume_report_attached_or_created() {
    let engine = MockEngine::start().await.unwrap();
    let session = Session::builder(engine.url("/app/app.qvf/ttl/30"))
        .build()
        .unwrap();
    assert_eq!(session.engine_session(), qix::EngineSession::Unknown);
    within(session.open()).await.unwrap();
    assert_eq!(session.engine_session(), qix::EngineSession::Created);
    within(session.suspend()).await.unwrap();
    let attached = within(session.resume(true)).await.unwrap();
    assert_eq!(attached, qix::EngineSession::Attached);
    assert_eq!(session.engine_session(), qix::EngineSession::Attached);
    within(session.suspend()).await.unwrap();
    engine.forget_sessions();
    let created = within(session.resume(false)).await.unwrap();
    assert_eq!(created, qix::EngineSession::Created);
    within(session.close()).await.unwrap();
    // A second socket joins the engine session the first one keeps alive.
    let first = Session::builder(engine.url("/app/app.qvf/identity/u1/ttl/30"))
        .build()
        .unwrap();
    within(first.open()).await.unwrap();
    let second = Session::builder(engine.url("/app/app.qvf/identity/u1/ttl/30"))
        .build()
        .unwrap();
    within(second.open()).await.unwrap();
    assert_eq!(second.engine_session(), qix::EngineSession::Attached);
}

/// Q-OPEN-4: an engine that says nothing leaves the open to its timeout, then open, unknown.
#[tokio::test(start_paused = true)]
async fn q_open_4_an_open_without_on_connected_opens_after_the_timeout_unknown() {
    let engine = MockEngine::start().await.unwrap();
    engine.set_on_connected(OnConnected::Omit);
    let session = Session::builder(engine.url("/app/app.qvf"))
        .on_connected_timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    within(session.open()).await.unwrap();
    assert_eq!(started.elapsed(), std::time::Duration::from_secs(2));
    assert_eq!(session.engine_session(), qix::EngineSession::Unknown);
}
