//! The engine's behaviour on the wire: sessions, TTL, apps and methods.

mod common;

use common::{handle, within, Client};
use qix_mock::{codes, MockApp, MockConfig, MockEngine};
use serde_json::json;

#[tokio::test]
async fn on_connected_with_session_created_is_the_first_frame() {
    let engine = MockEngine::start().await.unwrap();
    let mut client = Client::connect(&engine.app_url("a")).await;
    let first = client.recv().await;
    assert_eq!(
        first,
        json!({"jsonrpc": "2.0", "method": "OnConnected", "params": {"qSessionState": "SESSION_CREATED"}})
    );
    let connection = within(engine.next_connection()).await;
    assert_eq!(connection.session_state(), &qix_mock::SessionState::Created);
}

#[tokio::test]
async fn reattach_within_ttl_gives_attached_with_the_doc_and_session_objects_still_there() {
    let engine = MockEngine::start().await.unwrap();
    let url = engine.url("/app/Sales.qvf/ttl/60");
    let (mut client, state) = Client::open(&url).await;
    assert_eq!(state, "SESSION_CREATED");
    let doc = client.open_doc("Sales.qvf").await;
    let created = client
        .result(
            doc,
            "CreateSessionObject",
            json!([{"qInfo": {"qId": "s1", "qType": "list"}, "x": 1}]),
        )
        .await;
    let old_object = handle(&created);
    client.close(1000, "").await;
    within(within(engine.next_connection()).await.closed()).await;
    assert_eq!(engine.session_count(), 1, "the session waits out its TTL");

    let (mut client, state) = Client::open(&url).await;
    assert_eq!(state, "SESSION_ATTACHED");
    let active = client.result(-1, "GetActiveDoc", json!([])).await;
    assert_eq!(active["qReturn"]["qType"], "Doc");
    assert_eq!(active["qReturn"]["qGenericId"], "Sales.qvf");
    let new_doc = handle(&active);
    let object = client.result(new_doc, "GetObject", json!(["s1"])).await;
    let new_object = handle(&object);
    assert_ne!(
        new_object, old_object,
        "handles are new on a reattached socket"
    );
    let layout = client.result(new_object, "GetLayout", json!([])).await;
    assert_eq!(layout["qLayout"]["x"], 1);

    // The old socket's handles mean nothing on the new one.
    let error = client.error(old_object, "GetLayout", json!([])).await;
    assert_eq!(error["code"], codes::INVALID_PARAMETERS);
    assert_eq!(error["parameter"], "Invalid handle");
    let connection = within(engine.next_connection()).await;
    assert_eq!(
        connection.session_state(),
        &qix_mock::SessionState::Attached
    );
    assert_eq!(connection.handle_of("s1"), Some(new_object));
    assert_eq!(connection.handle_of("Sales.qvf"), Some(new_doc));
}

#[tokio::test]
async fn after_the_ttl_lapses_a_new_socket_gets_created_and_no_active_doc() {
    let engine = MockEngine::start().await.unwrap();
    let url = engine.url("/app/a/ttl/1");
    let (mut client, _) = Client::open(&url).await;
    client.open_doc("a").await;
    client.close(1000, "").await;
    within(async {
        while engine.session_count() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;

    let (mut client, state) = Client::open(&url).await;
    assert_eq!(state, "SESSION_CREATED");
    let error = client.error(-1, "GetActiveDoc", json!([])).await;
    assert_eq!(error["code"], codes::NO_ACTIVE_DOC);
}

#[tokio::test]
async fn forget_sessions_makes_the_next_socket_created() {
    let engine = MockEngine::start().await.unwrap();
    let url = engine.url("/app/a/identity/me/ttl/600");
    let (mut client, _) = Client::open(&url).await;
    client.open_doc("a").await;
    client.close(4000, "").await;
    within(within(engine.next_connection()).await.closed()).await;
    assert_eq!(engine.session_count(), 1);

    engine.forget_sessions();
    assert_eq!(engine.session_count(), 0);
    let (mut client, state) = Client::open(&url).await;
    assert_eq!(state, "SESSION_CREATED");
    let error = client.error(-1, "GetActiveDoc", json!([])).await;
    assert_eq!(error["code"], codes::NO_ACTIVE_DOC);
}

#[tokio::test]
async fn without_ttl_the_session_ends_with_its_last_socket() {
    let engine = MockEngine::start().await.unwrap();
    let (client, _) = Client::open(&engine.app_url("a")).await;
    client.close(1000, "").await;
    within(within(engine.next_connection()).await.closed()).await;
    assert_eq!(engine.session_count(), 0);
    let (_client, state) = Client::open(&engine.app_url("a")).await;
    assert_eq!(state, "SESSION_CREATED");
}

#[tokio::test]
async fn config_default_ttl_keeps_sessions_when_the_url_has_none() {
    let config = MockConfig::new().default_ttl(std::time::Duration::from_secs(600));
    let engine = MockEngine::start_with(config).await.unwrap();
    let (client, _) = Client::open(&engine.app_url("a")).await;
    client.close(1000, "").await;
    within(within(engine.next_connection()).await.closed()).await;
    let (_client, state) = Client::open(&engine.app_url("a")).await;
    assert_eq!(state, "SESSION_ATTACHED");
}

#[tokio::test]
async fn identities_separate_sessions_and_equal_urls_share_one() {
    let engine = MockEngine::start().await.unwrap();
    let (mut first, state) = Client::open(&engine.url("/app/a/identity/one")).await;
    assert_eq!(state, "SESSION_CREATED");
    let (_other, state) = Client::open(&engine.url("/app/a/identity/two")).await;
    assert_eq!(state, "SESSION_CREATED");
    let (mut second, state) = Client::open(&engine.url("/app/a/identity/one")).await;
    assert_eq!(state, "SESSION_ATTACHED");

    // A change made on one socket is pushed to the other socket holding the object.
    let doc = first.open_doc("a").await;
    let object = handle(
        &first
            .result(
                doc,
                "CreateSessionObject",
                json!([{"qInfo": {"qId": "o", "qType": "t"}}]),
            )
            .await,
    );
    let doc2 = second.open_doc("a").await;
    let object2 = handle(&second.result(doc2, "GetObject", json!(["o"])).await);
    first
        .result(
            object,
            "SetProperties",
            json!([{"qInfo": {"qId": "o", "qType": "t"}, "v": 2}]),
        )
        .await;
    let pushed = second.recv().await;
    assert_eq!(pushed, json!({"jsonrpc": "2.0", "change": [object2]}));
}

#[tokio::test]
async fn create_object_persists_across_sessions_and_create_session_object_does_not() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("app")).await;
    let doc = client.open_doc("app").await;
    let persistent = client
        .result(
            doc,
            "CreateObject",
            json!([{"qInfo": {"qId": "p1", "qType": "chart"}, "title": "kept"}]),
        )
        .await;
    assert_eq!(
        persistent["qReturn"],
        json!({"qType": "GenericObject", "qHandle": handle(&persistent), "qGenericType": "chart", "qGenericId": "p1"})
    );
    client
        .result(
            doc,
            "CreateSessionObject",
            json!([{"qInfo": {"qId": "s1", "qType": "chart"}}]),
        )
        .await;
    client.close(1000, "").await;
    within(within(engine.next_connection()).await.closed()).await;

    let (mut client, state) = Client::open(&engine.app_url("app")).await;
    assert_eq!(state, "SESSION_CREATED");
    let doc = client.open_doc("app").await;
    let found = client.result(doc, "GetObject", json!(["p1"])).await;
    let layout = client.result(handle(&found), "GetLayout", json!([])).await;
    assert_eq!(layout["qLayout"]["title"], "kept");
    assert_eq!(
        layout["qLayout"]["qInfo"],
        json!({"qId": "p1", "qType": "chart"})
    );
    let missing = client.result(doc, "GetObject", json!(["s1"])).await;
    assert_eq!(
        missing,
        json!({"qReturn": {"qHandle": null, "qType": null}})
    );
    assert_eq!(
        engine.object_properties("app", "p1").unwrap()["title"],
        "kept"
    );
}

#[tokio::test]
async fn create_object_generates_an_id_when_qinfo_has_none_and_refuses_a_taken_one() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let doc = client.open_doc("a").await;
    let first = client
        .result(
            doc,
            "CreateSessionObject",
            json!([{"qInfo": {"qType": "t"}}]),
        )
        .await;
    let second = client
        .result(
            doc,
            "CreateSessionObject",
            json!([{"qInfo": {"qType": "t"}}]),
        )
        .await;
    let (id1, id2) = (
        &first["qReturn"]["qGenericId"],
        &second["qReturn"]["qGenericId"],
    );
    assert!(id1.as_str().is_some_and(|id| !id.is_empty()));
    assert_ne!(id1, id2);
    assert_ne!(handle(&first), handle(&second));

    let taken = client
        .error(
            doc,
            "CreateObject",
            json!([{"qInfo": {"qId": id1, "qType": "t"}}]),
        )
        .await;
    assert_eq!(taken["code"], codes::ALREADY_EXISTS);
    let no_type = client
        .error(doc, "CreateObject", json!([{"qInfo": {"qId": "x"}}]))
        .await;
    assert_eq!(no_type["code"], codes::INVALID_PARAMETERS);
    let no_props = client.error(doc, "CreateObject", json!([])).await;
    assert_eq!(no_props["code"], codes::INVALID_PARAMETERS);
}

#[tokio::test]
async fn a_missing_object_answers_a_null_handle_not_an_error() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let doc = client.open_doc("a").await;
    for method in [
        "GetObject",
        "GetDimension",
        "GetMeasure",
        "GetBookmark",
        "GetVariableById",
    ] {
        let response = client.call(doc, method, json!(["nope"])).await;
        assert_eq!(
            response["result"],
            json!({"qReturn": {"qHandle": null, "qType": null}}),
            "{method}"
        );
    }
    let field = client.result(doc, "GetField", json!(["nope"])).await;
    assert_eq!(field["qReturn"]["qHandle"], json!(null));
}

#[tokio::test]
async fn unknown_methods_and_handles_are_json_rpc_errors() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let error = client.error(-1, "NoSuchMethod", json!([])).await;
    assert_eq!(error["code"], -32601);
    assert_eq!(error["message"], "Method does not exist");
    let doc = client.open_doc("a").await;
    let on_wrong_class = client.error(doc, "GetLayout", json!([])).await;
    assert_eq!(on_wrong_class["code"], -32601);
    let unknown_handle = client.error(42, "GetLayout", json!([])).await;
    assert_eq!(unknown_handle["code"], -32602);
    let bad_param = client.error(-1, "OpenDoc", json!([7])).await;
    assert_eq!(bad_param["code"], -32602);
    assert_eq!(bad_param["parameter"], "qDocName");
}

#[tokio::test]
async fn invalid_handle_code_is_configurable() {
    let engine = MockEngine::start_with(MockConfig::new().invalid_handle_code(-32600))
        .await
        .unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    assert_eq!(
        client.error(9, "GetLayout", json!([])).await["code"],
        -32600
    );
}

#[tokio::test]
async fn set_properties_answers_with_the_handle_in_the_change_array() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let doc = client.open_doc("a").await;
    let object = handle(
        &client
            .result(
                doc,
                "CreateObject",
                json!([{"qInfo": {"qId": "o", "qType": "t"}, "v": 1}]),
            )
            .await,
    );
    let response = client
        .call(
            object,
            "SetProperties",
            json!([{"qInfo": {"qId": "renamed", "qType": "t"}, "v": 2}]),
        )
        .await;
    assert_eq!(response["result"], json!({}));
    assert_eq!(response["change"], json!([object]));
    let properties = client.result(object, "GetProperties", json!([])).await;
    assert_eq!(properties["qProp"]["v"], 2);
    assert_eq!(properties["qProp"]["qInfo"]["qId"], "o", "the id stays");
    let info = client.result(object, "GetInfo", json!([])).await;
    assert_eq!(info, json!({"qInfo": {"qId": "o", "qType": "t"}}));
}

#[tokio::test]
async fn destroy_session_object_answers_with_the_handle_in_the_close_array() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let doc = client.open_doc("a").await;
    let object = handle(
        &client
            .result(
                doc,
                "CreateSessionObject",
                json!([{"qInfo": {"qId": "s", "qType": "t"}}]),
            )
            .await,
    );
    let response = client.call(doc, "DestroySessionObject", json!(["s"])).await;
    assert_eq!(response["result"], json!({"qSuccess": true}));
    assert_eq!(response["close"], json!([object]));
    assert_eq!(
        client.error(object, "GetLayout", json!([])).await["code"],
        -32602
    );
    let again = client
        .result(doc, "DestroySessionObject", json!(["s"]))
        .await;
    assert_eq!(again, json!({"qSuccess": false}));
}

#[tokio::test]
async fn named_params_work_like_positional_ones() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let doc = handle(&client.result(-1, "OpenDoc", json!({"qDocName": "a"})).await);
    let created = client
        .result(
            doc,
            "CreateSessionObject",
            json!({"qProp": {"qInfo": {"qId": "n", "qType": "t"}}}),
        )
        .await;
    let by_name = client.result(doc, "GetObject", json!({"qId": "n"})).await;
    assert_eq!(handle(&by_name), handle(&created));
    let set = client
        .call(
            handle(&created),
            "SetProperties",
            json!({"qProp": {"w": true}}),
        )
        .await;
    assert_eq!(set["change"], json!([handle(&created)]));
    let destroyed = client
        .result(doc, "DestroySessionObject", json!({"qId": "n"}))
        .await;
    assert_eq!(destroyed, json!({"qSuccess": true}));
}

#[tokio::test]
async fn open_doc_twice_gives_the_same_handle_and_another_app_is_refused() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let first = client.result(-1, "OpenDoc", json!(["a"])).await;
    assert_eq!(
        first,
        json!({"qReturn": {"qType": "Doc", "qHandle": 1, "qGenericId": "a"}})
    );
    let again = client
        .result(-1, "OpenDoc", json!(["a", "", "", "", false]))
        .await;
    assert_eq!(again, first);
    let other = client.error(-1, "OpenDoc", json!(["b"])).await;
    assert_eq!(other["code"], codes::APP_ALREADY_OPEN);
    let active = client.result(-1, "GetActiveDoc", json!([])).await;
    assert_eq!(active, first);
}

#[tokio::test]
async fn unknown_apps_fail_to_open_when_configured() {
    let config = MockConfig::new()
        .open_unknown_apps(false)
        .app(MockApp::new("known"));
    let engine = MockEngine::start_with(config).await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("x")).await;
    assert_eq!(
        client.error(-1, "OpenDoc", json!(["unknown"])).await["code"],
        codes::APP_NOT_FOUND
    );
    client.open_doc("known").await;
}

#[tokio::test]
async fn seeded_dimensions_measures_bookmarks_variables_and_fields_are_found() {
    let app = MockApp::new("s")
        .object("sheet-1", "sheet", json!({"title": "Overview"}))
        .dimension("d", json!({"qDim": {"qFieldDefs": ["Country"]}}))
        .measure("m", json!({}))
        .bookmark("b", json!({}))
        .variable("v", json!({"qName": "vYear", "qInfo": {"qType": "custom"}}))
        .field("Country");
    let engine = MockEngine::start_with(MockConfig::new().app(app))
        .await
        .unwrap();
    let (mut client, _) = Client::open(&engine.app_url("s")).await;
    let doc = client.open_doc("s").await;
    for (method, id, qtype, generic) in [
        ("GetObject", "sheet-1", "GenericObject", "sheet"),
        ("GetDimension", "d", "GenericDimension", "dimension"),
        ("GetMeasure", "m", "GenericMeasure", "measure"),
        ("GetBookmark", "b", "GenericBookmark", "bookmark"),
        ("GetVariableById", "v", "GenericVariable", "custom"),
    ] {
        let result = client.result(doc, method, json!([id])).await;
        assert_eq!(result["qReturn"]["qType"], qtype, "{method}");
        assert_eq!(result["qReturn"]["qGenericType"], generic, "{method}");
        assert_eq!(result["qReturn"]["qGenericId"], id, "{method}");
    }
    // Kinds do not mix: a dimension is not a generic object.
    let wrong_kind = client.result(doc, "GetObject", json!(["d"])).await;
    assert_eq!(wrong_kind["qReturn"]["qHandle"], json!(null));
    let field = client
        .result(doc, "GetField", json!({"qFieldName": "Country"}))
        .await;
    assert_eq!(field["qReturn"]["qType"], "Field");
    let field_handle = handle(&field);
    assert_eq!(
        client.error(field_handle, "GetLayout", json!([])).await["code"],
        -32601
    );
}

#[tokio::test]
async fn create_dimension_and_friends_persist_and_destroy_reports_close() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let doc = client.open_doc("a").await;
    let dimension = client
        .result(
            doc,
            "CreateDimension",
            json!([{"qInfo": {"qId": "dim"}, "qDim": {}}]),
        )
        .await;
    assert_eq!(dimension["qReturn"]["qType"], "GenericDimension");
    assert_eq!(dimension["qReturn"]["qGenericType"], "dimension");
    let variable = client
        .result(doc, "CreateVariableEx", json!([{"qName": "v"}]))
        .await;
    assert_eq!(variable["qReturn"]["qType"], "GenericVariable");
    assert!(engine.object_properties("a", "dim").is_some());
    let destroyed = client.call(doc, "DestroyDimension", json!(["dim"])).await;
    assert_eq!(destroyed["result"], json!({"qSuccess": true}));
    assert_eq!(destroyed["close"], json!([handle(&dimension)]));
    assert!(engine.object_properties("a", "dim").is_none());
}

#[tokio::test]
async fn create_session_app_opens_a_session_scoped_app() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.url("/app/engineData/ttl/60")).await;
    let result = client.result(-1, "CreateSessionApp", json!([])).await;
    let app_id = result["qSessionAppId"].as_str().unwrap().to_owned();
    assert!(app_id.starts_with("SessionApp_"));
    assert_eq!(result["qReturn"]["qType"], "Doc");
    assert_eq!(result["qReturn"]["qGenericId"], app_id.as_str());
    let doc = handle(&result);
    client
        .result(
            doc,
            "CreateObject",
            json!([{"qInfo": {"qId": "in-session-app", "qType": "t"}}]),
        )
        .await;
    assert!(engine
        .object_properties(&app_id, "in-session-app")
        .is_none());
    assert_eq!(
        client.error(-1, "CreateSessionApp", json!([])).await["code"],
        codes::APP_ALREADY_OPEN
    );
    let active = client.result(-1, "GetActiveDoc", json!([])).await;
    assert_eq!(handle(&active), doc);
}

#[tokio::test]
async fn engine_and_product_version_answer() {
    let config = MockConfig::new()
        .engine_version("1.2.3")
        .product_version("p");
    let engine = MockEngine::start_with(config).await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let version = client.result(-1, "EngineVersion", json!([])).await;
    assert_eq!(version, json!({"qVersion": {"qComponentVersion": "1.2.3"}}));
    let product = client.result(-1, "ProductVersion", json!({})).await;
    assert_eq!(product, json!({"qReturn": "p"}));
}

#[tokio::test]
async fn delta_requests_are_answered_with_patches_against_the_previous_answer() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    let ask = |id: u64, delta: bool| {
        let mut request = json!({"jsonrpc": "2.0", "id": id, "handle": -1, "method": "EngineVersion", "params": [], "return_empty": true});
        if delta {
            request["delta"] = json!(true);
        }
        request.to_string()
    };
    // The first answer for (handle, method, member) is the whole value at "/".
    client.send_text(&ask(5, true)).await;
    let first = client.response(5).await;
    assert_eq!(first["delta"], json!(true));
    let patches = first["result"]["qVersion"].as_array().unwrap();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0]["op"], "add");
    assert_eq!(patches[0]["path"], "/");
    assert!(patches[0]["value"]["qComponentVersion"].is_string());
    // Nothing changed since: an empty list.
    client.send_text(&ask(6, true)).await;
    let second = client.response(6).await;
    assert_eq!(second["result"], json!({"qVersion": []}));
    // Without delta, the full value, and no `delta` member.
    client.send_text(&ask(7, false)).await;
    let plain = client.response(7).await;
    assert!(plain.get("delta").is_none());
    assert!(plain["result"]["qVersion"].is_object());
}

#[tokio::test]
async fn request_ids_may_repeat_and_restart() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;
    for _ in 0..2 {
        let request = json!({"jsonrpc": "2.0", "id": 1, "handle": -1, "method": "ProductVersion"});
        client.send_text(&request.to_string()).await;
        assert!(client.response(1).await["result"]["qReturn"].is_string());
    }
}

#[tokio::test]
async fn frames_that_are_not_requests_get_errors_and_the_socket_keeps_working() {
    let engine = MockEngine::start().await.unwrap();
    let (mut client, _) = Client::open(&engine.app_url("a")).await;

    client.send_text("this is not json").await;
    let parse = client.recv().await;
    assert_eq!(parse["id"], json!(null));
    assert_eq!(parse["error"]["code"], codes::PARSE_ERROR);

    client
        .send_text(r#"{"jsonrpc":"2.0","id":7,"method":"OpenDoc"}"#)
        .await;
    let invalid = client.recv().await;
    assert_eq!(invalid["id"], 7);
    assert_eq!(invalid["error"]["code"], codes::INVALID_REQUEST);

    client
        .send_text(r#"{"jsonrpc":"2.0","id":"x","handle":"h","method":1}"#)
        .await;
    assert_eq!(client.recv().await["id"], "x");
    client.send_text("[1,2,3]").await;
    let array = client.recv().await;
    assert_eq!(
        (array["id"].clone(), array["error"]["code"].clone()),
        (json!(null), json!(-32600))
    );

    client
        .ws
        .send(tokio_tungstenite::tungstenite::Message::binary(vec![
            0, 159, 146, 150,
        ]))
        .await
        .unwrap();
    assert_eq!(client.recv().await["error"]["code"], codes::PARSE_ERROR);

    // A notification (no id) gets no answer: the next frame answers the next request.
    client
        .send_text(r#"{"jsonrpc":"2.0","handle":-1,"method":"EngineVersion","params":[]}"#)
        .await;
    let id = client.request(-1, "ProductVersion", json!([])).await;
    assert_eq!(client.recv().await["id"], id);

    let deep = "[".repeat(100_000);
    client.send_text(&deep).await;
    assert_eq!(client.recv().await["error"]["code"], codes::PARSE_ERROR);
    client.result(-1, "EngineVersion", json!([])).await;
    let logged: Vec<String> = within(engine.next_connection())
        .await
        .requests()
        .into_iter()
        .map(|r| r.method)
        .collect();
    assert_eq!(logged, ["ProductVersion", "EngineVersion"]);
}

use futures_util::SinkExt;
