//! Inputs out of order, and cases found in review.

use super::*;

// ---- robustness -----------------------------------------------------------------------------

#[test]
fn facts_about_other_connections_are_ignored() {
    let mut h = Harness::new(config());
    let global = h.open();
    let stranger = ConnId(9_999);
    let mark = h.mark();
    h.feed(Input::Connected { conn: stranger });
    h.feed(Input::ConnectFailed {
        conn: stranger,
        cause: cause("x"),
    });
    h.feed(Input::SocketError {
        conn: stranger,
        cause: cause("x"),
    });
    h.push_frame(stranger, "garbage");
    h.step();
    h.frame(
        stranger,
        Incoming::Notification(on_connected("SESSION_CREATED")),
    );
    h.socket_closed(stranger, 1006, "");
    assert_eq!(h.mark(), mark);
    assert_eq!(h.state(), State::Open);
    assert!(h.machine.object(global.key).is_some());
}

#[test]
fn the_engine_closing_global_does_not_break_open() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.frame(
        h.last_conn(),
        Incoming::Message(Changes {
            change: vec![],
            close: vec![GLOBAL_HANDLE],
        }),
    );
    assert_eq!(h.machine.object(global.key), None);
    let again = h.command(crate::Command::Open);
    let Reply::Opened(fresh) = h.reply(again) else {
        panic!("open replies Global")
    };
    assert_eq!(fresh.handle, GLOBAL_HANDLE);
    assert_ne!(fresh.key, global.key);
}

#[test]
fn restored_objects_that_get_the_same_handle_keep_handles_unique() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let a = h.get_object(doc.key, "GetObject", "a");
    let b = h.get_object(doc.key, "GetDimension", "b");
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.engine.auto_answer = false;
    h.resume(false);
    h.drive();
    h.answer_held(0, json!({"qReturn": {"qType": "Doc", "qHandle": 50}}));
    h.drive();
    h.answer_held(
        0,
        json!({"qReturn": {"qType": "GenericObject", "qHandle": 60}}),
    );
    h.answer_held(
        0,
        json!({"qReturn": {"qType": "GenericDimension", "qHandle": 60}}),
    );
    h.drive();
    assert_eq!(h.state(), State::Open);
    assert_eq!(h.machine.object(a.key).map(|o| o.handle), Some(60));
    assert_eq!(h.machine.object(b.key), None, "the later one is lost");
}

// ---- Found in review ----------------------------------------------------------------------

#[test]
fn q_req_4_responses_out_of_order_settle_their_own_calls() {
    let mut h = Harness::new(config());
    let global = h.open();
    h.engine.auto_answer = false;
    let first = h.call(global.key, "EngineVersion", json!([]));
    let second = h.call(global.key, "EngineVersion", json!([]));
    h.drive();
    let held = std::mem::take(&mut h.engine.held);
    let (conn, first_request) = held[0].clone();
    let second_request = held[1].1.clone();
    for (request, answer) in [(&second_request, "second"), (&first_request, "first")] {
        h.frame(
            conn,
            Incoming::Response(Response::result(request.id, raw(json!(answer)))),
        );
    }
    for (waiter, answer) in [(first, "\"first\""), (second, "\"second\"")] {
        match h.reply(waiter) {
            Reply::Result(raw) => assert_eq!(raw.get(), answer),
            other => panic!("expected a result, got {other:?}"),
        }
    }
}

#[test]
fn q_res_1_an_on_connected_timeout_too_large_for_the_clock_means_no_deadline() {
    let mut h = Harness::new(Config {
        on_connected_timeout: Duration::MAX,
        ..config()
    });
    h.open();
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = None;
    let waiter = h.resume(true);
    h.drive();
    assert_eq!(h.state(), State::Resuming);
    assert!(h.machine.poll_timeout().is_none());
    assert!(!h.replied(waiter));
}

#[test]
fn q_ev_2_a_handle_listed_many_times_in_one_frame_gives_one_event() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let conn = h.last_conn();
    let mark = h.mark();
    h.frame(
        conn,
        Incoming::Message(Changes {
            change: vec![doc.handle; 1000],
            close: vec![doc.handle; 1000],
        }),
    );
    let object_events: Vec<Event> = h
        .events_since(mark)
        .into_iter()
        .filter(|event| matches!(event, Event::ObjectChanged(_) | Event::ObjectClosed(_)))
        .collect();
    assert_eq!(
        object_events,
        vec![Event::ObjectChanged(doc.key), Event::ObjectClosed(doc.key)]
    );
}

#[test]
fn q_ev_3_change_arrays_on_the_socket_of_an_abandoned_resume_are_ignored() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.suspend(4000, "");
    h.drive();
    h.engine.auto_connect = false;
    h.resume(false);
    let conn = h.last_conn();
    h.connected(conn);
    h.close(1000, "");
    let mark = h.mark();
    // The handles of the resume's socket belong to another engine session.
    h.frame(
        conn,
        Incoming::Message(Changes {
            change: vec![doc.handle],
            close: vec![doc.handle],
        }),
    );
    assert!(!h
        .events_since(mark)
        .iter()
        .any(|event| matches!(event, Event::ObjectChanged(_) | Event::ObjectClosed(_))));
}

#[test]
fn q_res_3_a_doc_given_the_handle_of_global_is_lost_with_its_objects() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.engine.auto_answer = false;
    let waiter = h.resume(false);
    h.drive();
    let (conn, request) = h
        .engine
        .held
        .pop()
        .expect("GetActiveDoc waits for an answer");
    assert_eq!(request.method, "GetActiveDoc");
    let mark = h.mark();
    let answer = json!({"qReturn": {"qType": "Doc", "qHandle": -1}});
    h.frame(
        conn,
        Incoming::Response(Response::result(request.id, raw(answer))),
    );
    assert!(is_done(h.reply(waiter)));
    assert!(h.sent_since(mark).is_empty(), "nothing is asked of Global");
    let events = h.events_since(mark);
    assert!(events.contains(&Event::ObjectClosed(doc.key)));
    assert!(events.contains(&Event::ObjectClosed(chart.key)));
}
