//! Q-REQ-1..6: ids, the wire shape, calls without a socket, answers, failures, bad frames.

use super::*;

// ---- Q-REQ-1 --------------------------------------------------------------------------------

#[test]
fn q_req_1_ids_start_at_1_and_grow_across_suspend_resume_restore_and_reopen() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.get_object(doc.key, "GetObject", "chart");
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.resume(false);
    h.drive();
    h.call(doc.key, "GetLayout", json!([]));
    h.drive();
    h.close(1000, "");
    h.drive();
    let global = h.open();
    h.call(global.key, "EngineVersion", json!([]));
    h.drive();

    let methods = h.methods_since(0);
    assert_eq!(
        methods,
        [
            "OpenDoc",
            "GetObject",
            "GetActiveDoc",
            "GetObject",
            "GetLayout",
            "EngineVersion"
        ]
    );
    let ids: Vec<u64> = h.sent().iter().map(|(_, request, _)| request.id).collect();
    assert_eq!(ids, (1..=6).collect::<Vec<u64>>());
}

// ---- Q-REQ-2 --------------------------------------------------------------------------------

#[test]
fn q_req_2_the_wire_request_has_the_qix_shape_and_the_configured_protocol_members() {
    let mut config = config();
    config
        .protocol
        .insert("return_empty".to_owned(), json!(true));
    let mut h = Harness::new(config);
    let (_, doc) = h.open_doc();
    let mark = h.mark();
    h.call(doc.key, "GetLayout", json!([]));
    h.call(doc.key, "GetObject", json!({"qId": "chart"}));
    let texts: Vec<(String, Option<ObjectKey>)> = h.log[mark..]
        .iter()
        .filter_map(|e| match e {
            Effect::Send { text, object, .. } => Some((text.clone(), *object)),
            _ => None,
        })
        .collect();
    assert_eq!(
        texts,
        vec![
            (
                format!(
                    r#"{{"jsonrpc":"2.0","id":2,"handle":{},"method":"GetLayout","params":[],"return_empty":true}}"#,
                    doc.handle
                ),
                Some(doc.key)
            ),
            (
                format!(
                    r#"{{"jsonrpc":"2.0","id":3,"handle":{},"method":"GetObject","params":{{"qId":"chart"}},"return_empty":true}}"#,
                    doc.handle
                ),
                Some(doc.key)
            ),
        ]
    );
}

// ---- Q-REQ-3 --------------------------------------------------------------------------------

#[test]
fn q_req_3_a_call_without_a_socket_fails_not_connected_and_writes_nothing() {
    let mut h = Harness::manual(config());
    let idle = h.call(ObjectKey(0), "EngineVersion", json!([]));
    assert_eq!(
        failed(h.reply(idle)),
        &not_connected(NotConnectedReason::NotConnected, None)
    );
    h.command(crate::Command::Open);
    let connecting = h.call(ObjectKey(0), "EngineVersion", json!([]));
    assert_eq!(
        failed(h.reply(connecting)),
        &not_connected(NotConnectedReason::NotConnected, None)
    );
    let conn = h.last_conn();
    h.connected(conn);
    h.close(4100, "bye");
    let closing = h.call(ObjectKey(0), "EngineVersion", json!([]));
    assert_eq!(
        failed(h.reply(closing)),
        &not_connected(NotConnectedReason::NotConnected, None)
    );
    h.socket_closed(h.last_conn(), 4100, "bye");
    let closed = h.call(ObjectKey(0), "EngineVersion", json!([]));
    assert_eq!(
        failed(h.reply(closed)),
        &not_connected(
            NotConnectedReason::NotConnected,
            Some(CloseEvent::new(4100, "bye"))
        )
    );
    assert!(h.sent().is_empty());
}

#[test]
fn q_req_3_a_call_while_suspending_suspended_or_resuming_fails_session_suspended() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.engine.echo_close = false;
    h.suspend(4000, "");
    let suspending = h.call(global.key, "EngineVersion", json!([]));
    h.socket_closed(h.last_conn(), 4000, "");
    let suspended = h.call(global.key, "EngineVersion", json!([]));
    h.engine.auto_connect = false;
    h.resume(false);
    let resuming = h.call(global.key, "EngineVersion", json!([]));
    for waiter in [suspending, suspended, resuming] {
        assert_eq!(failed(h.reply(waiter)), &Failure::SessionSuspended);
    }
    assert!(h.sent().is_empty(), "nothing written, no id used");
}

#[test]
fn q_req_3_a_call_on_a_closed_object_fails_object_closed() {
    let mut h = Harness::new(config());
    let (global, doc) = h.open_doc();
    h.frame(
        h.last_conn(),
        Incoming::Message(Changes {
            change: vec![],
            close: vec![doc.handle],
        }),
    );
    let waiter = h.call(doc.key, "GetLayout", json!([]));
    assert_eq!(failed(h.reply(waiter)), &Failure::ObjectClosed);
    let unknown = h.call(ObjectKey(999), "GetLayout", json!([]));
    assert_eq!(failed(h.reply(unknown)), &Failure::ObjectClosed);
    assert_eq!(h.sent().len(), 1, "only the OpenDoc was written");
    assert!(h.machine.object(global.key).is_some());
}

// ---- Q-REQ-4 --------------------------------------------------------------------------------

#[test]
fn q_req_4_a_response_settles_its_call_with_the_raw_result() {
    let mut h = Harness::new(config());
    let global = h.open();
    let waiter = h.call(global.key, "EngineVersion", json!([]));
    h.drive();
    let Reply::Result(result) = h.reply(waiter) else {
        panic!("expected a result")
    };
    assert_eq!(
        result.get(),
        r#"{"qVersion":{"qComponentVersion":"12.2.0"}}"#
    );
    assert_eq!(h.machine.pending_calls(), 0);
}

#[test]
fn q_req_4_the_result_payload_is_moved_to_the_reply_not_copied() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.engine.auto_answer = false;
    let waiter = h.call(global.key, "GetLayout", json!([]));
    let (conn, request) = h.engine.held.remove(0);
    let text = Response::result(request.id, raw(json!({"qLayout": {"title": "big"}}))).encode();
    let decoded = crate::tests::decode(&text);
    let Ok(Incoming::Response(response)) = &decoded else {
        panic!("a response")
    };
    let qix_rpc::ResponseBody::Result(payload) = &response.body else {
        panic!("a result")
    };
    let decoded_at = payload.get().as_ptr();
    h.feed(Input::Frame { conn, decoded });
    let Reply::Result(result) = h.reply(waiter) else {
        panic!("expected the result")
    };
    assert_eq!(
        result.get().as_ptr(),
        decoded_at,
        "the same allocation, moved"
    );
}

#[test]
fn q_req_4_an_error_response_fails_the_call_with_the_engine_error() {
    let mut h = Harness::new(config());
    let global = h.open();
    let waiter = h.call(global.key, "NoSuchMethod", json!([]));
    h.drive();
    assert_eq!(
        failed(h.reply(waiter)),
        &Failure::Engine(engine_error(-32601, "NoSuchMethod", "Method not found"))
    );
}

#[test]
fn q_req_4_an_object_response_registers_the_object() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    assert_eq!(doc.object_type, "Doc");
    assert_eq!(doc.id, "sales.qvf");
    assert_eq!(doc.generic_type, None);
    let chart = h.get_object(doc.key, "GetObject", "chart");
    assert_eq!(chart.object_type, "GenericObject");
    assert_eq!(chart.id, "chart");
    assert_eq!(chart.generic_type.as_deref(), Some("barchart"));
    assert_eq!(h.machine.object(chart.key), Some(&chart));
    assert_ne!(chart.key, doc.key);
}

#[test]
fn q_req_4_the_same_handle_gives_back_the_same_object() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.engine.auto_answer = false;
    let first = h.call_object(doc.key, "GetObject", json!(["a"]));
    let second = h.call_object(doc.key, "GetObject", json!(["a"]));
    let reference = json!({"qReturn": {"qType": "GenericObject", "qHandle": 7, "qGenericId": "a"}});
    h.answer_held(0, reference.clone());
    h.answer_held(0, reference);
    h.drive();
    assert_eq!(h.object_reply(first), h.object_reply(second));
}

#[test]
fn q_req_4_a_null_handle_and_type_is_object_not_found() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.engine.missing.insert("gone".to_owned());
    let waiter = h.call_object(doc.key, "GetObject", json!(["gone"]));
    h.drive();
    assert_eq!(failed(h.reply(waiter)), &Failure::ObjectNotFound);
}

#[test]
fn q_req_4_a_missing_or_ill_typed_object_reference_is_a_bad_response() {
    let results = [
        json!(null),
        json!([1, 2]),
        json!({}),
        json!({"qReturn": null}),
        json!({"qReturn": 5}),
        json!({"qReturn": {"qType": "GenericObject"}}),
        json!({"qReturn": {"qType": "GenericObject", "qHandle": "7"}}),
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 4294967296_u64}}),
        json!({"qReturn": {"qType": "GenericObject", "qHandle": null}}),
        json!({"qReturn": {"qType": 3, "qHandle": 7}}),
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 7, "qGenericId": 1}}),
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 7, "qGenericType": []}}),
    ];
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.engine.auto_answer = false;
    for result in results {
        let waiter = h.call_object(doc.key, "GetObject", json!(["x"]));
        h.answer_held(0, result.clone());
        h.drive();
        assert!(
            matches!(failed(h.reply(waiter)), Failure::BadResponse(_)),
            "{result}"
        );
    }
}

#[test]
fn q_req_4_a_response_to_an_unknown_id_is_a_plain_message_not_a_notification() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let mark = h.mark();
    let mut stray = Response::result(99, raw(json!({"x": 1})));
    stray.changes.change = vec![doc.handle];
    h.frame(h.last_conn(), Incoming::Response(stray));
    assert_eq!(
        h.events_since(mark),
        vec![
            Event::TrafficReceived { object: None },
            Event::ObjectChanged(doc.key)
        ]
    );
}

#[test]
fn q_req_4_notifications_and_plain_messages() {
    let mut h = Harness::new(config());
    let (global, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    let conn = h.last_conn();
    let mark = h.mark();
    let notification = Notification {
        method: Some("OnSessionTimedOut".to_owned()),
        params: raw(json!({})),
    };
    h.frame(conn, Incoming::Notification(notification.clone()));
    h.frame(
        conn,
        Incoming::Message(Changes {
            change: vec![GLOBAL_HANDLE, 42, chart.handle],
            close: vec![chart.handle, 43],
        }),
    );
    assert_eq!(
        h.events_since(mark),
        vec![
            Event::TrafficReceived { object: None },
            Event::Notification(crate::tests::shared(&notification)),
            Event::TrafficReceived { object: None },
            Event::ObjectChanged(global.key),
            Event::ObjectChanged(chart.key),
            Event::ObjectClosed(chart.key),
        ]
    );
    assert_eq!(h.machine.object(chart.key), None);
}

// ---- Q-REQ-5 --------------------------------------------------------------------------------

#[test]
fn q_req_5_pending_calls_fail_exactly_once_when_the_socket_closes() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.engine.auto_answer = false;
    let calls: Vec<_> = (0..3)
        .map(|_| h.call(global.key, "EngineVersion", json!([])))
        .collect();
    assert_eq!(h.machine.pending_calls(), 3);
    let conn = h.last_conn();
    h.socket_closed(conn, 1006, "");
    // Late frames on the dead socket change nothing.
    let (_, request) = h.engine.held[0].clone();
    let mark = h.mark();
    h.frame(
        conn,
        Incoming::Response(Response::result(request.id, raw(json!({})))),
    );
    h.socket_closed(conn, 1006, "");
    assert_eq!(h.mark(), mark);
    for waiter in calls {
        assert_eq!(
            failed(h.reply(waiter)),
            &not_connected(
                NotConnectedReason::SocketClosed,
                Some(CloseEvent::new(1006, ""))
            )
        );
    }
    assert_eq!(h.machine.pending_calls(), 0);
}

#[test]
fn q_req_5_after_a_socket_error_pending_calls_fail_with_socket_error() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.engine.auto_answer = false;
    let waiter = h.call(global.key, "EngineVersion", json!([]));
    let conn = h.last_conn();
    h.feed(Input::SocketError {
        conn,
        cause: cause("connection reset"),
    });
    assert!(!h.replied(waiter), "an error alone does not end the socket");
    h.socket_closed(conn, 1006, "");
    assert_eq!(
        failed(h.reply(waiter)),
        &not_connected(
            NotConnectedReason::SocketError,
            Some(CloseEvent::new(1006, ""))
        )
    );
}

#[test]
fn q_req_5_a_frame_read_after_a_socket_error_means_a_later_close_is_socket_closed() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.engine.auto_answer = false;
    let conn = h.last_conn();
    h.feed(Input::SocketError {
        conn,
        cause: cause("binary frame"),
    });
    // The connection survived the error: a frame arrives after it.
    h.feed(Input::Frame {
        conn,
        decoded: crate::tests::decode(r#"{"jsonrpc":"2.0","method":"OnPing","params":{}}"#),
    });
    let waiter = h.call(global.key, "EngineVersion", json!([]));
    h.socket_closed(conn, 1000, "");
    assert_eq!(
        failed(h.reply(waiter)),
        &not_connected(
            NotConnectedReason::SocketClosed,
            Some(CloseEvent::new(1000, ""))
        )
    );
}

// ---- Q-REQ-6 --------------------------------------------------------------------------------

#[test]
fn q_req_6_an_undecodable_frame_is_reported_dropped_and_the_session_goes_on() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.engine.auto_answer = false;
    let waiter = h.call(global.key, "EngineVersion", json!([]));
    let conn = h.last_conn();
    let mark = h.mark();
    for garbage in [
        "not json",
        "[1,2]",
        r#"{"id":"x"}"#,
        // Q-REQ-8 settles a pending call its malformed answer names; this one names none.
        r#"{"id":99,"result":1,"error":{}}"#,
    ] {
        h.push_frame(conn, garbage);
    }
    h.drive();
    let events = h.events_since(mark);
    assert_eq!(events.len(), 4);
    for event in events {
        let Event::SocketError(SocketProblem::Decode(_)) = event else {
            panic!("expected a decode socket-error, got {event:?}")
        };
    }
    assert!(!h.replied(waiter), "pending calls are untouched");
    assert_eq!(h.machine.pending_calls(), 1);
    h.answer_held(0, json!({"ok": true}));
    h.drive();
    assert!(matches!(h.reply(waiter), Reply::Result(_)));
}
