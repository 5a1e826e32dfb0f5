//! Q-EV-1..3: what the events carry, their order, what is not told while suspended.

use super::*;

// ---- Q-EV-1 ---------------------------------------------------------------------------------

#[test]
fn q_ev_1_events_carry_the_seed_payloads() {
    let mut h = Harness::new(config());
    let global = h.open();
    let conn = h.last_conn();
    let reset = cause("reset");
    h.feed(Input::SocketError {
        conn,
        cause: reset.clone(),
    });
    h.suspend(4001, "maintenance");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.resume(true);
    h.drive();
    h.close(4100, "bye");
    h.drive();
    assert_eq!(
        h.events(),
        vec![
            // Q-OPEN-4: the open waits for the greeting, then opens, then tells it.
            Event::TrafficReceived { object: None },
            Event::Opened,
            Event::Notification(crate::tests::shared(&on_connected("SESSION_CREATED"))),
            Event::SocketError(SocketProblem::Transport(reset)),
            Event::Suspended {
                initiator: Initiator::Manual,
                close: CloseEvent::new(4001, "maintenance")
            },
            Event::TrafficReceived { object: None },
            Event::Notification(crate::tests::shared(&on_connected("SESSION_ATTACHED"))),
            Event::Resumed,
            Event::ObjectClosed(global.key),
            Event::Closed(CloseEvent::new(4100, "bye")),
        ]
    );
}

// ---- Q-EV-2 ---------------------------------------------------------------------------------

#[test]
fn q_ev_2_traffic_then_changed_then_closed_then_the_reply() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    h.engine.auto_answer = false;
    let waiter = h.call(doc.key, "DestroyObject", json!(["chart"]));
    let (conn, request) = h.engine.held.remove(0);
    let mut response = Response::result(request.id, raw(json!({"qSuccess": true})));
    response.changes = Changes {
        change: vec![doc.handle, 77],
        close: vec![chart.handle],
    };
    let mark = h.mark();
    h.frame(conn, Incoming::Response(response));
    let kinds: Vec<String> = h.log[mark..]
        .iter()
        .map(|e| match e {
            Effect::Emit(event) => format!("{event:?}"),
            Effect::Reply { waiter: w, .. } if *w == waiter => "reply".to_owned(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            format!(
                "{:?}",
                Event::TrafficReceived {
                    object: Some(doc.key)
                }
            ),
            format!("{:?}", Event::ObjectChanged(doc.key)),
            // Q-DELTA-2: the closed handle's baselines go with it.
            format!(
                "{:?}",
                Effect::DropBaselines {
                    handle: chart.handle,
                    method: None
                }
            ),
            format!("{:?}", Event::ObjectClosed(chart.key)),
            "reply".to_owned(),
        ]
    );
}

#[test]
fn q_ev_2_an_object_from_a_response_gets_no_changed_for_that_response() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.engine.auto_answer = false;
    let waiter = h.call_object(doc.key, "CreateSessionObject", json!([{}]));
    let (conn, request) = h.engine.held.remove(0);
    let mut response = Response::result(
        request.id,
        raw(json!({"qReturn": {"qType": "GenericObject", "qHandle": 9, "qGenericId": "s1"}})),
    );
    response.changes.change = vec![9];
    let mark = h.mark();
    h.frame(conn, Incoming::Response(response));
    let object = h.object_reply(waiter);
    assert_eq!(object.handle, 9);
    assert_eq!(
        h.events_since(mark),
        vec![Event::TrafficReceived {
            object: Some(doc.key)
        }]
    );
}

#[test]
fn q_ev_2_a_request_is_written_before_its_response_is_handled() {
    let mut h = Harness::new(config());
    let global = h.open();
    let mark = h.mark();
    let waiter = h.call(global.key, "EngineVersion", json!([]));
    h.drive();
    let sent = position(&h, mark, |e| matches!(e, Effect::Send { .. }));
    let received = position(&h, mark, |e| {
        matches!(e, Effect::Emit(Event::TrafficReceived { .. }))
    });
    let replied = position(
        &h,
        mark,
        |e| matches!(e, Effect::Reply { waiter: w, .. } if *w == waiter),
    );
    assert!(sent < received && received < replied);
}

// ---- Q-EV-3 ---------------------------------------------------------------------------------

#[test]
fn q_ev_3_while_suspending_only_traffic_and_notifications_are_reported() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.engine.echo_close = false;
    h.suspend(4000, "");
    let conn = h.last_conn();
    let mark = h.mark();
    h.feed(Input::SocketError {
        conn,
        cause: cause("reset"),
    });
    h.push_frame(conn, "garbage");
    h.frame(
        conn,
        Incoming::Message(Changes {
            change: vec![doc.handle],
            close: vec![doc.handle],
        }),
    );
    let notification = Notification {
        method: Some("OnMaxParallelSessionsExceeded".to_owned()),
        params: raw(json!({})),
    };
    h.frame(conn, Incoming::Notification(notification.clone()));
    h.settle();
    assert_eq!(
        h.events_since(mark),
        vec![
            Event::TrafficReceived { object: None },
            Event::TrafficReceived { object: None },
            Event::Notification(crate::tests::shared(&notification)),
        ]
    );
    assert!(
        h.machine.object(doc.key).is_some(),
        "close arrays are ignored"
    );
    h.socket_closed(conn, 1006, "");
    assert!(
        !h.events().iter().any(|e| matches!(e, Event::Closed(_))),
        "the old socket's close is not reported as closed"
    );
}

#[test]
fn q_ev_3_while_resuming_on_connected_is_visible_but_changes_are_not() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.suspend(4000, "");
    h.drive();
    h.engine.auto_connect = false;
    h.resume(false);
    let conn = h.last_conn();
    h.connected(conn);
    let mark = h.mark();
    h.frame(
        conn,
        Incoming::Message(Changes {
            change: vec![doc.handle],
            close: vec![doc.handle],
        }),
    );
    h.feed(Input::SocketError {
        conn,
        cause: cause("reset"),
    });
    h.frame(
        conn,
        Incoming::Notification(on_connected("SESSION_ATTACHED")),
    );
    assert_eq!(
        h.events_since(mark),
        vec![
            Event::TrafficReceived { object: None },
            Event::TrafficReceived { object: None },
            Event::Notification(crate::tests::shared(&on_connected("SESSION_ATTACHED"))),
        ]
    );
}
