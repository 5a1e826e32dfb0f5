//! Frames seen in enigma.js's tests and in the QIX protocol notes, decoded and encoded by the
//! codec: classification (Q-REQ-4), the request layout (Q-REQ-2), and the QIX members.

use qix_rpc::{
    decode, Changes, DecodeError, EngineError, Incoming, Notification, Params, ParamsError,
    RawValue, Request, Response, ResponseBody, GLOBAL_HANDLE, RESERVED_MEMBERS,
};
use serde_json::{json, Map, Value};

fn as_response(frame: &str) -> Response {
    match decode(frame).expect("frame decodes") {
        Incoming::Response(response) => response,
        other => panic!("expected a response for {frame}, got {other:?}"),
    }
}

fn as_notification(frame: &str) -> Notification {
    match decode(frame).expect("frame decodes") {
        Incoming::Notification(notification) => notification,
        other => panic!("expected a notification for {frame}, got {other:?}"),
    }
}

fn as_message(frame: &str) -> Changes {
    match decode(frame).expect("frame decodes") {
        Incoming::Message(changes) => changes,
        other => panic!("expected a plain message for {frame}, got {other:?}"),
    }
}

fn result_of(response: &Response) -> Value {
    match &response.body {
        ResponseBody::Result(raw) => serde_json::from_str(raw.get()).expect("result is JSON"),
        ResponseBody::Error(error) => panic!("expected a result, got {error:?}"),
    }
}

fn error_of(response: &Response) -> &EngineError {
    match &response.body {
        ResponseBody::Error(error) => error,
        ResponseBody::Result(raw) => panic!("expected an error, got result {}", raw.get()),
    }
}

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).expect("test JSON is valid")
}

fn params(value: Value) -> Params {
    Params::new(value).expect("test params are an array or object")
}

fn extra(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Requests (Q-REQ-2)

#[test]
fn q_req_2_request_members_in_order_jsonrpc_id_handle_method_params() {
    let request = Request::new(6, GLOBAL_HANDLE, "GetActiveDoc", Params::empty());
    assert_eq!(
        request.encode(),
        r#"{"jsonrpc":"2.0","id":6,"handle":-1,"method":"GetActiveDoc","params":[]}"#
    );
}

#[test]
fn q_req_2_delta_true_follows_params_as_in_the_protocol_example() {
    let mut request = Request::new(6, 2, "GetLayout", Params::empty());
    request.delta = Some(true);
    assert_eq!(
        request.encode(),
        r#"{"jsonrpc":"2.0","id":6,"handle":2,"method":"GetLayout","params":[],"delta":true}"#
    );
}

#[test]
fn q_req_2_explicit_delta_false_stays_on_the_wire() {
    let mut request = Request::new(3, 1, "a", Params::empty());
    request.delta = Some(false);
    assert_eq!(
        request.encode(),
        r#"{"jsonrpc":"2.0","id":3,"handle":1,"method":"a","params":[],"delta":false}"#
    );
}

#[test]
fn q_req_2_no_delta_member_when_delta_is_none() {
    let request = Request::new(1, 1, "GetLayout", Params::empty());
    assert!(!request.encode().contains("delta"));
}

#[test]
fn q_req_2_extra_protocol_members_come_after_delta() {
    // enigma.js session.spec: protocol `foo: 'bar'` reaches the wire next to the request's own `xyz`.
    let mut request = Request::new(1, 1, "a", Params::empty());
    request.delta = Some(true);
    request.extra = extra(json!({ "foo": "bar", "xyz": "xyz" }));
    assert_eq!(
        request.encode(),
        r#"{"jsonrpc":"2.0","id":1,"handle":1,"method":"a","params":[],"delta":true,"foo":"bar","xyz":"xyz"}"#
    );
}

#[test]
fn q_req_2_return_empty_as_an_extra_member() {
    let mut request = Request::new(9, 4, "GetProperties", Params::empty());
    request.delta = Some(false);
    request.extra = extra(json!({ "return_empty": true }));
    assert_eq!(
        request.encode(),
        r#"{"jsonrpc":"2.0","id":9,"handle":4,"method":"GetProperties","params":[],"delta":false,"return_empty":true}"#
    );
}

#[test]
fn q_req_2_reserved_names_in_extra_are_never_written_twice() {
    let mut request = Request::new(5, 2, "GetLayout", params(json!(["x"])));
    request.delta = Some(true);
    let mut members = Map::new();
    for name in RESERVED_MEMBERS {
        members.insert(name.to_owned(), json!("hijack"));
    }
    members.insert("cont".to_owned(), json!(1));
    request.extra = members;
    let text = request.encode();
    assert_eq!(
        text,
        r#"{"jsonrpc":"2.0","id":5,"handle":2,"method":"GetLayout","params":["x"],"delta":true,"cont":1}"#
    );
    for name in RESERVED_MEMBERS {
        assert_eq!(
            text.matches(&format!("\"{name}\":")).count(),
            1,
            "{name} in {text}"
        );
    }
}

#[test]
fn q_req_2_reserved_members_lists_the_standard_names() {
    let mut names = RESERVED_MEMBERS.to_vec();
    names.sort_unstable();
    assert_eq!(
        names,
        ["delta", "handle", "id", "jsonrpc", "method", "params"]
    );
}

#[test]
fn q_req_2_reserved_name_without_delta_is_still_dropped() {
    // With `delta: None` an extra `delta` must not sneak in either.
    let mut request = Request::new(1, 1, "GetLayout", Params::empty());
    request.extra = extra(json!({ "delta": true, "jsonrpc": "1.0" }));
    assert_eq!(
        request.encode(),
        r#"{"jsonrpc":"2.0","id":1,"handle":1,"method":"GetLayout","params":[]}"#
    );
}

#[test]
fn q_req_2_encode_with_uses_the_given_members_not_self_extra() {
    let mut request = Request::new(2, -1, "EngineVersion", Params::empty());
    request.extra = extra(json!({ "own": 1 }));
    let session_members = extra(json!({ "foo": "bar", "id": 99 }));
    assert_eq!(
        request.encode_with(&session_members),
        r#"{"jsonrpc":"2.0","id":2,"handle":-1,"method":"EngineVersion","params":[],"foo":"bar"}"#
    );
}

#[test]
fn q_req_2_named_params_are_written_as_an_object() {
    let request = Request::new(
        4,
        1,
        "Bar",
        params(json!({ "param1": "abc", "param2": "def" })),
    );
    assert_eq!(
        request.encode(),
        r#"{"jsonrpc":"2.0","id":4,"handle":1,"method":"Bar","params":{"param1":"abc","param2":"def"}}"#
    );
}

#[test]
fn q_req_2_positional_params_keep_their_order_and_types() {
    let request = Request::new(
        7,
        GLOBAL_HANDLE,
        "OpenDoc",
        params(json!(["my.qvf", "user", "", "", true])),
    );
    assert_eq!(
        request.encode(),
        r#"{"jsonrpc":"2.0","id":7,"handle":-1,"method":"OpenDoc","params":["my.qvf","user","","",true]}"#
    );
}

#[test]
fn resume_requests_carry_no_delta_and_read_back_from_enigma_wire() {
    // The restore requests of suspend/resume, as enigma.js 2.14 writes them (other member order).
    let cases: [(&str, Request); 7] = [
        (
            r#"{"method":"GetActiveDoc","handle":-1,"params":[],"id":6,"jsonrpc":"2.0"}"#,
            Request::new(6, -1, "GetActiveDoc", Params::empty()),
        ),
        (
            r#"{"method":"OpenDoc","handle":-1,"params":["my.qvf","user","","",true],"id":7,"jsonrpc":"2.0"}"#,
            Request::new(
                7,
                -1,
                "OpenDoc",
                params(json!(["my.qvf", "user", "", "", true])),
            ),
        ),
        (
            r#"{"method":"GetObject","handle":5,"params":["OBJ1"],"id":7,"jsonrpc":"2.0"}"#,
            Request::new(7, 5, "GetObject", params(json!(["OBJ1"]))),
        ),
        (
            r#"{"method":"GetVariableById","handle":5,"params":["VAR1"],"id":8,"jsonrpc":"2.0"}"#,
            Request::new(8, 5, "GetVariableById", params(json!(["VAR1"]))),
        ),
        (
            r#"{"method":"GetDimension","handle":5,"params":["DIM1"],"id":9,"jsonrpc":"2.0"}"#,
            Request::new(9, 5, "GetDimension", params(json!(["DIM1"]))),
        ),
        (
            r#"{"method":"GetMeasure","handle":5,"params":["MEA1"],"id":10,"jsonrpc":"2.0"}"#,
            Request::new(10, 5, "GetMeasure", params(json!(["MEA1"]))),
        ),
        (
            r#"{"method":"GetBookmark","handle":5,"params":["BM1"],"id":11,"jsonrpc":"2.0"}"#,
            Request::new(11, 5, "GetBookmark", params(json!(["BM1"]))),
        ),
    ];
    for (enigma_wire, expected) in cases {
        let read = Request::decode(enigma_wire).unwrap();
        assert_eq!(read, expected, "{enigma_wire}");
        assert_eq!(read.delta, None);
        assert!(read.extra.is_empty());
        let ours = read.encode();
        assert!(ours.starts_with(r#"{"jsonrpc":"2.0","id":"#), "{ours}");
        assert!(!ours.contains("delta"), "{ours}");
        assert_eq!(Request::decode(&ours).unwrap(), expected);
    }
}

#[test]
fn enigma_traffic_request_reads_back_and_reencodes_in_our_order() {
    let enigma_wire = r#"{"delta":true,"handle":-1,"method":"AllowCreateApp","params":[],"id":1,"jsonrpc":"2.0"}"#;
    let request = Request::decode(enigma_wire).unwrap();
    let mut expected = Request::new(1, GLOBAL_HANDLE, "AllowCreateApp", Params::empty());
    expected.delta = Some(true);
    assert_eq!(request, expected);
    assert_eq!(
        request.encode(),
        r#"{"jsonrpc":"2.0","id":1,"handle":-1,"method":"AllowCreateApp","params":[],"delta":true}"#
    );
}

#[test]
fn enigma_go_request_with_delta_false_first_reads_back() {
    let wire = r#"{"jsonrpc":"2.0","delta":false,"method":"OpenDoc","handle":-1,"id":1,"params":["doc","","","",false]}"#;
    let request = Request::decode(wire).unwrap();
    assert_eq!(request.id, 1);
    assert_eq!(request.handle, GLOBAL_HANDLE);
    assert_eq!(request.method, "OpenDoc");
    assert_eq!(
        request.params.as_value(),
        &json!(["doc", "", "", "", false])
    );
    assert_eq!(request.delta, Some(false));
}

#[test]
fn request_decode_puts_unknown_members_in_extra() {
    let wire = r#"{"jsonrpc":"2.0","id":3,"handle":2,"method":"GetProperties","params":[],"delta":false,"return_empty":true,"cont":{"a":[1]}}"#;
    let request = Request::decode(wire).unwrap();
    assert_eq!(
        Value::Object(request.extra.clone()),
        json!({ "return_empty": true, "cont": { "a": [1] } })
    );
    assert_eq!(Request::decode(&request.encode()).unwrap(), request);
}

#[test]
fn request_decode_reads_missing_params_as_empty_array() {
    // The engine docs show no-argument calls without `params`.
    let request =
        Request::decode(r#"{"jsonrpc":"2.0","id":2,"handle":-1,"method":"EngineVersion"}"#)
            .unwrap();
    assert_eq!(request.params, Params::empty());
    assert_eq!(request.params.as_value(), &json!([]));
}

#[test]
fn request_decode_requires_id_handle_and_method() {
    assert_eq!(
        Request::decode(r#"{"jsonrpc":"2.0","handle":-1,"method":"EngineVersion","params":[]}"#),
        Err(DecodeError::MissingMember("id"))
    );
    assert_eq!(
        Request::decode(r#"{"jsonrpc":"2.0","id":1,"method":"EngineVersion","params":[]}"#),
        Err(DecodeError::MissingMember("handle"))
    );
    assert_eq!(
        Request::decode(r#"{"jsonrpc":"2.0","id":1,"handle":-1,"params":[]}"#),
        Err(DecodeError::MissingMember("method"))
    );
}

#[test]
fn request_decode_rejects_scalar_params() {
    for bad in ["1", "\"x\"", "true", "null"] {
        let frame = format!(r#"{{"id":1,"handle":1,"method":"M","params":{bad}}}"#);
        assert!(
            matches!(
                Request::decode(&frame),
                Err(DecodeError::BadMember {
                    member: "params",
                    ..
                })
            ),
            "{frame}"
        );
    }
}

#[test]
fn request_decode_rejects_handle_beyond_i32_and_wrong_version() {
    assert!(matches!(
        Request::decode(r#"{"id":1,"handle":2147483648,"method":"M"}"#),
        Err(DecodeError::BadMember {
            member: "handle",
            ..
        })
    ));
    assert!(matches!(
        Request::decode(r#"{"jsonrpc":"1.0","id":1,"handle":1,"method":"M"}"#),
        Err(DecodeError::BadMember {
            member: "jsonrpc",
            ..
        })
    ));
    assert!(matches!(
        Request::decode(r#"{"id":1,"handle":1,"method":"M","delta":"yes"}"#),
        Err(DecodeError::BadMember {
            member: "delta",
            ..
        })
    ));
}

// ---------------------------------------------------------------------------------------------
// Params

#[test]
fn params_new_accepts_arrays_and_objects_only() {
    assert_eq!(params(json!([])).as_value(), &json!([]));
    assert_eq!(params(json!({})).as_value(), &json!({}));
    assert_eq!(
        params(json!([1, "a", null])).into_value(),
        json!([1, "a", null])
    );
    for (value, kind) in [
        (json!(null), "null"),
        (json!(true), "a boolean"),
        (json!(1), "a number"),
        (json!(-2.5), "a number"),
        (json!("OpenDoc"), "a string"),
    ] {
        let error: ParamsError = Params::new(value.clone()).unwrap_err();
        assert!(error.to_string().ends_with(kind), "{value}: {error}");
        assert_eq!(Params::try_from(value).unwrap_err(), error);
    }
}

#[test]
fn params_default_is_the_empty_array() {
    assert_eq!(Params::default(), Params::empty());
    assert_eq!(Params::default().as_value(), &json!([]));
}

// ---------------------------------------------------------------------------------------------
// Responses (Q-REQ-4)

#[test]
fn q_req_4_protocol_response_with_change() {
    let frame = r#"{"jsonrpc":"2.0","id":1,"result":{"qReturn":{"qType":"Doc","qHandle":1,"qGenericId":"my-document.qvf"}},"change":[1]}"#;
    let response = as_response(frame);
    assert_eq!(response.id, 1);
    assert!(!response.delta);
    assert_eq!(
        response.changes,
        Changes {
            change: vec![1],
            close: vec![]
        }
    );
    assert_eq!(
        result_of(&response),
        json!({ "qReturn": { "qType": "Doc", "qHandle": 1, "qGenericId": "my-document.qvf" } })
    );
}

#[test]
fn q_req_4_result_text_is_kept_verbatim() {
    // Spacing and key order are the engine's; nothing is parsed or re-serialized.
    let response = as_response(r#"{"id":2,"result": { "b" : 1, "a":[ 2 ,3] } }"#);
    let ResponseBody::Result(raw) = &response.body else {
        panic!("no result")
    };
    assert_eq!(raw.get(), r#"{ "b" : 1, "a":[ 2 ,3] }"#);
}

#[test]
fn q_req_4_enigma_global_results() {
    let results = [
        json!({}),
        json!({ "qReturn": true }),
        json!({ "qReturn": false }),
        json!({ "qReturn": "UserDirectory=FOO;UserId=BAR" }),
        json!({ "qReturn": "Personal" }),
        json!({ "qReturn": { "qFeatures": { "qAutoSave": true, "qPublishing": true, "qSSOEnabled": true } } }),
        json!({ "qReturn": { "qFeatures": { "qIsDesktop": true } } }),
        json!({ "qReturn": [] }),
        json!({ "qReturn": "" }),
        json!({ "qReturn": "12345678-1234-1234-1234-123456789abc" }),
        json!({ "qReturn": "windows" }),
        json!({ "qReturn": "version" }),
        json!({ "qReturn": {} }),
        json!({ "qReturn": { "qType": "GenericObject", "qHandle": 6, "qGenericType": "barchart", "qGenericId": "RPKdHg" } }),
        json!({ "qReturn": { "qHandle": 1, "qType": "Doc" }, "qSessionAppId": "test" }),
        json!({ "qReturn": false, "qDef": "test" }),
    ];
    for (index, result) in results.into_iter().enumerate() {
        let id = index as u64 + 1;
        let frame = json!({ "jsonrpc": "2.0", "id": id, "result": result }).to_string();
        let response = as_response(&frame);
        assert_eq!(response.id, id);
        assert_eq!(result_of(&response), result, "{frame}");
        assert!(response.changes.is_empty());
    }
}

#[test]
fn q_req_4_create_session_app_response_with_change_array() {
    let response =
        as_response(r#"{"id":12,"result":{"qReturn":{"qType":"Doc","qHandle":1}},"change":[1]}"#);
    assert_eq!(response.changes.change, vec![1]);
    assert!(response.changes.close.is_empty());
}

#[test]
fn q_req_4_missing_object_is_a_result_with_null_handle_not_an_error() {
    for frame in [
        r#"{"jsonrpc":"2.0","id":3,"result":{"qReturn":{"qType":null,"qHandle":null}}}"#,
        r#"{"id":4,"result":{"qReturn":{"qHandle":null}}}"#,
    ] {
        let response = as_response(frame);
        assert_eq!(result_of(&response)["qReturn"]["qHandle"], Value::Null);
    }
}

#[test]
fn q_req_4_error_with_code_parameter_message() {
    let response = as_response(
        r#"{"jsonrpc":"2.0","id":4,"error":{"code":123,"parameter":"param","message":"mes"}}"#,
    );
    assert_eq!(response.id, 4);
    assert_eq!(
        error_of(&response),
        &EngineError {
            code: 123,
            parameter: "param".into(),
            message: "mes".into()
        }
    );
    let response =
        as_response(r#"{"id":5,"error":{"code":2,"parameter":"param","message":"msg"}}"#);
    assert_eq!(error_of(&response).code, 2);
    assert_eq!(
        error_of(&response).to_string(),
        "engine error 2: msg (param)"
    );
}

#[test]
fn q_req_4_empty_error_object_reads_as_zero_and_empty_strings() {
    let response = as_response(r#"{"id":6,"error":{}}"#);
    assert_eq!(error_of(&response), &EngineError::default());
    let response = as_response(r#"{"id":7,"error":{"message":"Oh, no!"}}"#);
    assert_eq!(
        error_of(&response),
        &EngineError {
            code: 0,
            parameter: String::new(),
            message: "Oh, no!".into()
        }
    );
}

#[test]
fn q_req_4_negative_engine_codes_and_unknown_error_members() {
    let response =
        as_response(r#"{"id":8,"error":{"code":-32601,"message":"Method not found","data":[1]}}"#);
    assert_eq!(error_of(&response).code, -32601);
    assert_eq!(error_of(&response).message, "Method not found");
}

#[test]
fn q_req_4_error_response_keeps_change_and_close() {
    let response = as_response(r#"{"id":9,"error":{"code":15},"change":[2],"close":[3,4]}"#);
    assert_eq!(error_of(&response).code, 15);
    assert_eq!(
        response.changes,
        Changes {
            change: vec![2],
            close: vec![3, 4]
        }
    );
}

#[test]
fn q_req_4_delta_responses() {
    let response = as_response(
        r#"{"id":1,"result":{"qReturn":[{"op":"add","path":"/","value":{"hello":"world!"}}]},"delta":true}"#,
    );
    assert!(response.delta);
    assert_eq!(
        result_of(&response),
        json!({ "qReturn": [{ "op": "add", "path": "/", "value": { "hello": "world!" } }] })
    );
    let empty_patch = as_response(r#"{"id":2,"result":{"qReturn":[]},"delta":true}"#);
    assert!(empty_patch.delta);
    assert_eq!(result_of(&empty_patch), json!({ "qReturn": [] }));
    let not_delta = as_response(r#"{"id":3,"result":{"qReturn":{"foo":{}}},"delta":false}"#);
    assert!(!not_delta.delta);
    let null_delta = as_response(r#"{"id":4,"result":{},"delta":null}"#);
    assert!(!null_delta.delta);
}

#[test]
fn q_req_4_response_with_neither_result_nor_error_reads_as_null_result() {
    // enigma.js rpc.spec: an echoed `{ msg: 'hej' }` still resolves request 1.
    let response = as_response(r#"{"jsonrpc":"2.0","id":1,"msg":"hej"}"#);
    assert_eq!(response.id, 1);
    assert_eq!(result_of(&response), Value::Null);
}

#[test]
fn q_req_4_null_result_is_a_result() {
    let response = as_response(r#"{"id":1,"result":null}"#);
    let ResponseBody::Result(raw) = &response.body else {
        panic!("no result")
    };
    assert_eq!(raw.get(), "null");
}

#[test]
fn q_req_4_error_null_reads_as_absent() {
    // JSON-RPC 1.0 peers write `"error": null` next to a result.
    let response = as_response(r#"{"id":1,"result":{"qReturn":true},"error":null}"#);
    assert_eq!(result_of(&response), json!({ "qReturn": true }));
}

#[test]
fn q_req_4_suspend_member_and_other_unknown_members_are_ignored() {
    let response = as_response(r#"{"id":1,"result":{},"suspend":[3],"foo":"bar"}"#);
    assert!(response.changes.is_empty());
    assert_eq!(result_of(&response), json!({}));
}

#[test]
fn q_req_4_response_without_jsonrpc_member_is_accepted() {
    // The enigma.js mock copies only the id.
    assert_eq!(as_response(r#"{"id":3,"result":{}}"#).id, 3);
}

#[test]
fn q_req_4_any_id_is_a_response_whether_pending_or_not() {
    // Matching ids to pending requests is the session's job; the codec only sees an id.
    assert_eq!(as_response(r#"{"id":0,"result":1}"#).id, 0);
    assert_eq!(
        as_response(r#"{"id":18446744073709551615,"result":1}"#).id,
        u64::MAX
    );
}

// ---------------------------------------------------------------------------------------------
// Notifications (Q-REQ-4)

#[test]
fn q_req_4_on_connected_notification() {
    for state in ["SESSION_CREATED", "SESSION_ATTACHED"] {
        let frame = format!(
            r#"{{"jsonrpc":"2.0","method":"OnConnected","params":{{"qSessionState":"{state}"}}}}"#
        );
        let notification = as_notification(&frame);
        assert_eq!(notification.method.as_deref(), Some("OnConnected"));
        assert_eq!(
            serde_json::from_str::<Value>(notification.params.get()).unwrap(),
            json!({ "qSessionState": state })
        );
    }
}

#[test]
fn q_req_4_notification_without_method() {
    let notification = as_notification(r#"{"params":{"user":"cam"}}"#);
    assert_eq!(notification.method, None);
    assert_eq!(notification.params.get(), r#"{"user":"cam"}"#);
    let null_method = as_notification(r#"{"method":null,"params":{"user":"cam"}}"#);
    assert_eq!(null_method.method, None);
}

#[test]
fn q_req_4_enigma_session_notifications() {
    let foo_bar = as_notification(r#"{"method":"FooBar","params":{"prop":"bar"}}"#);
    assert_eq!(foo_bar.method.as_deref(), Some("FooBar"));
    assert_eq!(foo_bar.params.get(), r#"{"prop":"bar"}"#);
    let foo = as_notification(r#"{"method":"Foo","params":{"prop":"foo"}}"#);
    assert_eq!(foo.method.as_deref(), Some("Foo"));
}

#[test]
fn q_req_4_proxy_notifications() {
    let timed_out = as_notification(
        r#"{"jsonrpc":"2.0","method":"OnSessionTimedOut","params":{"severity":"fatal","timestamp":"2014-01-10T08:55:17.3725148Z","message":"Session timed out due to inactivity"}}"#,
    );
    assert_eq!(timed_out.method.as_deref(), Some("OnSessionTimedOut"));
    let auth = as_notification(
        r#"{"jsonrpc":"2.0","method":"OnAuthenticationInformation","params":{"loginUri":"https://qps/login","mustAuthenticate":true}}"#,
    );
    let params: Value = serde_json::from_str(auth.params.get()).unwrap();
    assert_eq!(params["mustAuthenticate"], json!(true));
}

#[test]
fn q_req_4_notification_params_may_be_an_array_or_empty() {
    assert_eq!(
        as_notification(r#"{"method":"M","params":[]}"#)
            .params
            .get(),
        "[]"
    );
    assert_eq!(
        as_notification(r#"{"method":"M","params":{}}"#)
            .params
            .get(),
        "{}"
    );
}

#[test]
fn q_req_4_id_with_params_but_no_result_or_error_is_a_notification() {
    let notification = as_notification(
        r#"{"jsonrpc":"2.0","id":5,"method":"OnConnected","params":{"qSessionState":"SESSION_CREATED"}}"#,
    );
    assert_eq!(notification.method.as_deref(), Some("OnConnected"));
}

#[test]
fn q_req_4_without_id_params_decide_even_next_to_result_or_error() {
    let with_result = as_notification(r#"{"method":"M","params":{"a":1},"result":{}}"#);
    assert_eq!(with_result.params.get(), r#"{"a":1}"#);
    let with_error = as_notification(r#"{"params":[1],"error":{"code":1}}"#);
    assert_eq!(with_error.method, None);
    let null_id = as_notification(r#"{"id":null,"params":[1],"result":2}"#);
    assert_eq!(null_id.params.get(), "[1]");
}

#[test]
fn q_req_4_id_with_result_and_params_is_a_response() {
    let response = as_response(r#"{"id":3,"params":{"a":1},"result":{"qReturn":1}}"#);
    assert_eq!(response.id, 3);
    assert_eq!(result_of(&response), json!({ "qReturn": 1 }));
}

// ---------------------------------------------------------------------------------------------
// Plain messages (Q-REQ-4)

#[test]
fn q_req_4_change_message() {
    assert_eq!(
        as_message(r#"{"change":[1,2,3]}"#),
        Changes {
            change: vec![1, 2, 3],
            close: vec![]
        }
    );
}

#[test]
fn q_req_4_close_message() {
    assert_eq!(
        as_message(r#"{"close":[1,2,3]}"#),
        Changes {
            change: vec![],
            close: vec![1, 2, 3]
        }
    );
    assert_eq!(
        as_message(r#"{"jsonrpc":"2.0","close":[1]}"#).close,
        vec![1]
    );
}

#[test]
fn q_req_4_change_and_close_together_keep_their_order() {
    let changes = as_message(r#"{"close":[9,-1,7],"change":[3,1,2]}"#);
    assert_eq!(changes.change, vec![3, 1, 2]);
    assert_eq!(changes.close, vec![9, -1, 7]);
}

#[test]
fn q_req_4_foo_bar_is_a_plain_message() {
    let changes = as_message(r#"{"foo":"bar"}"#);
    assert!(changes.is_empty());
    assert!(as_message("{}").is_empty());
}

#[test]
fn q_req_4_null_params_or_null_id_or_method_alone_is_a_plain_message() {
    assert!(as_message(r#"{"params":null,"change":[]}"#).is_empty());
    assert_eq!(
        as_message(r#"{"id":null,"result":{},"change":[4]}"#).change,
        vec![4]
    );
    assert!(as_message(r#"{"method":"OnConnected"}"#).is_empty());
    assert!(as_message(r#"{"change":null,"close":null}"#).is_empty());
}

#[test]
fn q_req_4_result_without_id_is_a_plain_message() {
    assert_eq!(
        as_message(r#"{"result":{"qReturn":1},"change":[2]}"#).change,
        vec![2]
    );
    assert!(as_message(r#"{"result":1,"error":{"code":1}}"#).is_empty());
}

#[test]
fn changes_is_empty_only_when_both_arrays_are() {
    assert!(Changes::default().is_empty());
    assert!(!Changes {
        change: vec![1],
        close: vec![]
    }
    .is_empty());
    assert!(!Changes {
        change: vec![],
        close: vec![1]
    }
    .is_empty());
}

// ---------------------------------------------------------------------------------------------
// Encoding engine frames (the mock engine's side)

#[test]
fn response_encode_writes_engine_layout() {
    let mut response = Response::result(1, raw(r#"{"qReturn":{"qType":"Doc","qHandle":1}}"#));
    response.changes.change = vec![1];
    assert_eq!(
        response.encode(),
        r#"{"jsonrpc":"2.0","id":1,"result":{"qReturn":{"qType":"Doc","qHandle":1}},"change":[1]}"#
    );
    let mut delta = Response::result(2, raw(r#"{"qLayout":[]}"#));
    delta.delta = true;
    delta.changes.close = vec![4];
    assert_eq!(
        delta.encode(),
        r#"{"jsonrpc":"2.0","id":2,"result":{"qLayout":[]},"delta":true,"close":[4]}"#
    );
}

#[test]
fn error_response_encode_writes_all_three_members() {
    let response = Response::error(
        4,
        EngineError {
            code: 123,
            parameter: "param".into(),
            message: "mes".into(),
        },
    );
    assert_eq!(
        response.encode(),
        r#"{"jsonrpc":"2.0","id":4,"error":{"code":123,"parameter":"param","message":"mes"}}"#
    );
    assert_eq!(
        decode(&response.encode()).unwrap(),
        Incoming::Response(response)
    );
}

#[test]
fn notification_encode_has_no_id() {
    let notification = Notification {
        method: Some("OnConnected".into()),
        params: raw(r#"{"qSessionState":"SESSION_CREATED"}"#),
    };
    assert_eq!(
        notification.encode(),
        r#"{"jsonrpc":"2.0","method":"OnConnected","params":{"qSessionState":"SESSION_CREATED"}}"#
    );
    let anonymous = Notification {
        method: None,
        params: raw(r#"{"user":"cam"}"#),
    };
    assert_eq!(
        anonymous.encode(),
        r#"{"jsonrpc":"2.0","params":{"user":"cam"}}"#
    );
    assert_eq!(
        decode(&anonymous.encode()).unwrap(),
        Incoming::Notification(anonymous)
    );
}

#[test]
fn plain_message_encode_writes_only_nonempty_arrays() {
    let changes = Changes {
        change: vec![1, 2, 3],
        close: vec![],
    };
    assert_eq!(changes.encode(), r#"{"jsonrpc":"2.0","change":[1,2,3]}"#);
    let both = Changes {
        change: vec![1],
        close: vec![2],
    };
    assert_eq!(
        Incoming::Message(both.clone()).encode(),
        r#"{"jsonrpc":"2.0","change":[1],"close":[2]}"#
    );
    assert_eq!(Changes::default().encode(), r#"{"jsonrpc":"2.0"}"#);
    assert_eq!(decode(&both.encode()).unwrap(), Incoming::Message(both));
}

#[test]
fn response_body_equality_compares_text_and_kind() {
    assert_eq!(
        ResponseBody::Result(raw("[1]")),
        ResponseBody::Result(raw("[1]"))
    );
    assert_ne!(
        ResponseBody::Result(raw("[1]")),
        ResponseBody::Result(raw("[2]"))
    );
    assert_ne!(
        ResponseBody::Result(raw("{}")),
        ResponseBody::Error(EngineError::default())
    );
}
