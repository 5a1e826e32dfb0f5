//! Q-RES-3..4: restoring the objects of a new engine session, and what a resume does when it fails.

use super::*;

// ---- Q-RES-3 --------------------------------------------------------------------------------

#[test]
fn q_res_3_restore_fetches_the_doc_then_every_restorable_object_on_its_new_handle() {
    let mut h = Harness::new(config());
    let (global, doc) = h.open_doc();
    let mut objects = Vec::new();
    for (method, id) in [
        ("GetObject", "chart"),
        ("GetDimension", "dim"),
        ("GetMeasure", "measure"),
        ("GetBookmark", "bookmark"),
        ("GetVariableById", "variable"),
    ] {
        objects.push(h.get_object(doc.key, method, id));
    }
    let field = h.get_object(doc.key, "GetField", "Region");
    let variable = h.get_object(doc.key, "GetVariableByName", "vName");
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    let mark = h.mark();
    let waiter = h.resume(false);
    h.drive();
    assert!(is_done(h.reply(waiter)));

    let sent = h.sent_since(mark);
    assert_eq!(sent[0].1.method, "GetActiveDoc");
    assert_eq!(sent[0].1.handle, GLOBAL_HANDLE);
    assert_eq!(sent[0].1.params.as_value(), &json!([]));
    assert_eq!(sent[0].2, Some(doc.key));
    let new_doc = h.machine.object(doc.key).expect("the doc is back").clone();
    assert_ne!(new_doc.handle, doc.handle, "the engine gave a new handle");
    let expected: Vec<(String, serde_json::Value, Option<ObjectKey>)> = objects
        .iter()
        .zip([
            "GetObject",
            "GetDimension",
            "GetMeasure",
            "GetBookmark",
            "GetVariableById",
        ])
        .map(|(object, method)| (method.to_owned(), json!([object.id]), Some(object.key)))
        .collect();
    let restores: Vec<(String, serde_json::Value, Option<ObjectKey>)> = sent[1..]
        .iter()
        .map(|(_, request, object)| {
            assert_eq!(request.handle, new_doc.handle);
            (
                request.method.clone(),
                request.params.as_value().clone(),
                *object,
            )
        })
        .collect();
    assert_eq!(restores, expected);
    assert_eq!(
        h.machine.object(field.key),
        None,
        "Field cannot be restored"
    );
    assert_eq!(
        h.machine.object(variable.key),
        None,
        "Variable cannot be restored"
    );
    assert_eq!(
        h.machine.object(global.key).map(|g| g.handle),
        Some(GLOBAL_HANDLE)
    );
    for object in &objects {
        assert!(h.machine.object(object.key).is_some());
    }
}

#[test]
fn q_res_3_a_failed_get_active_doc_reopens_with_the_last_open_doc_params() {
    let mut h = Harness::new(config());
    let global = h.open();
    let first = h.call_object(global.key, "OpenDoc", json!(["first.qvf"]));
    h.drive();
    let doc = h.object_reply(first);
    let again = h.call_object(
        global.key,
        "OpenDoc",
        json!(["sales.qvf", "user", "", "", true]),
    );
    h.drive();
    let doc = match h.reply(again) {
        Reply::Object { info: second, .. } => second.clone(),
        _ => doc,
    };
    let chart = h.get_object(doc.key, "GetObject", "chart");
    h.suspend(4000, "");
    h.drive();
    // A fresh engine session: no active doc.
    let mark = h.mark();
    let waiter = h.resume(false);
    h.drive();
    assert!(is_done(h.reply(waiter)));
    let sent = h.sent_since(mark);
    let methods: Vec<&str> = sent.iter().map(|(_, r, _)| r.method.as_str()).collect();
    assert_eq!(methods, ["GetActiveDoc", "OpenDoc", "GetObject"]);
    assert_eq!(sent[1].1.handle, GLOBAL_HANDLE);
    assert_eq!(
        sent[1].1.params.as_value(),
        &json!(["sales.qvf", "user", "", "", true])
    );
    assert_eq!(sent[1].2, Some(doc.key));
    assert!(h.machine.object(doc.key).is_some());
    assert!(h.machine.object(chart.key).is_some());
}

#[test]
fn q_res_3_when_the_doc_cannot_come_back_everything_but_global_is_lost() {
    let mut h = Harness::new(config());
    let global = h.open();
    // A doc that was never opened with OpenDoc: nothing to reopen it with.
    let created = h.call_object(global.key, "CreateSessionApp", json!([]));
    h.drive();
    let doc = h.object_reply(created);
    let chart = h.get_object(doc.key, "GetObject", "chart");
    h.suspend(4000, "");
    h.drive();
    let mark = h.mark();
    let waiter = h.resume(false);
    h.drive();
    assert!(is_done(h.reply(waiter)));
    assert_eq!(h.methods_since(mark), ["GetActiveDoc"]);
    assert_eq!(
        h.events_since(mark)
            .into_iter()
            .filter(|e| !matches!(e, Event::TrafficReceived { .. } | Event::Notification(_)))
            .collect::<Vec<_>>(),
        vec![
            Event::ObjectClosed(doc.key),
            Event::ObjectClosed(chart.key),
            Event::Resumed
        ]
    );
    assert!(h.machine.object(global.key).is_some());

    // The same when OpenDoc fails too.
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    h.suspend(4000, "");
    h.drive();
    h.engine.failing.insert("OpenDoc".to_owned());
    let mark = h.mark();
    let waiter = h.resume(false);
    h.drive();
    assert!(is_done(h.reply(waiter)));
    assert_eq!(h.methods_since(mark), ["GetActiveDoc", "OpenDoc"]);
    assert_eq!(h.machine.object(doc.key), None);
}

#[test]
fn q_res_3_an_object_error_or_null_handle_loses_that_object_only() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let kept = h.get_object(doc.key, "GetObject", "kept");
    let missing = h.get_object(doc.key, "GetObject", "missing");
    let failing = h.get_object(doc.key, "GetMeasure", "failing");
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.engine.missing.insert("missing".to_owned());
    h.engine.failing.insert("GetMeasure".to_owned());
    let mark = h.mark();
    let waiter = h.resume(false);
    h.drive();
    assert!(is_done(h.reply(waiter)));
    let events: Vec<Event> = h
        .events_since(mark)
        .into_iter()
        .filter(|e| !matches!(e, Event::TrafficReceived { .. } | Event::Notification(_)))
        .collect();
    assert_eq!(
        events,
        vec![
            Event::ObjectClosed(missing.key),
            Event::ObjectClosed(failing.key),
            Event::ObjectChanged(doc.key),
            Event::ObjectChanged(kept.key),
            Event::Resumed,
        ]
    );
}

#[test]
fn q_res_3_only_the_last_registered_doc_is_restored() {
    let mut h = Harness::new(config());
    let global = h.open();
    let first = h.call_object(global.key, "OpenDoc", json!(["a.qvf"]));
    h.drive();
    let first = h.object_reply(first);
    let second = h.call_object(global.key, "OpenDoc", json!(["b.qvf"]));
    h.drive();
    let second = h.object_reply(second);
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    let mark = h.mark();
    h.resume(false);
    h.drive();
    assert_eq!(h.machine.object(first.key), None);
    assert!(h.machine.object(second.key).is_some());
    let sent = h.sent_since(mark);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].2, Some(second.key));
}

#[test]
fn q_res_3_traffic_of_restore_responses_names_the_object_being_restored() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    let mark = h.mark();
    h.resume(false);
    h.drive();
    let traffic: Vec<Event> = h
        .events_since(mark)
        .into_iter()
        .filter(|e| matches!(e, Event::TrafficReceived { .. }))
        .collect();
    assert_eq!(
        traffic,
        vec![
            Event::TrafficReceived { object: None },
            Event::TrafficReceived {
                object: Some(doc.key)
            },
            Event::TrafficReceived {
                object: Some(chart.key)
            },
        ]
    );
}

// ---- Q-RES-4 --------------------------------------------------------------------------------

#[test]
fn q_res_4_success_closes_the_lost_changes_the_restored_then_resumed_then_done() {
    let mut h = Harness::new(config());
    let (global, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    let field = h.get_object(doc.key, "GetField", "Region");
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    let mark = h.mark();
    let waiter = h.resume(true);
    h.drive();
    let order: Vec<String> = h.log[mark..]
        .iter()
        .filter_map(|e| match e {
            Effect::Emit(Event::ObjectClosed(key)) => Some(format!("closed {}", key.0)),
            Effect::Emit(Event::ObjectChanged(key)) => Some(format!("changed {}", key.0)),
            Effect::Emit(Event::Resumed) => Some("resumed".to_owned()),
            Effect::Reply { waiter: w, reply } if *w == waiter && is_done(reply) => {
                Some("done".to_owned())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        order,
        vec![
            format!("closed {}", field.key.0),
            format!("changed {}", doc.key.0),
            format!("changed {}", chart.key.0),
            "resumed".to_owned(),
            "done".to_owned(),
        ]
    );
    assert_eq!(h.state(), State::Open);
    let doc_now = h.machine.object(doc.key).expect("same identity").clone();
    let chart_now = h.machine.object(chart.key).expect("same identity").clone();
    assert_ne!(doc_now.handle, doc.handle);
    assert_ne!(chart_now.handle, chart.handle);
    assert_eq!(h.machine.object(global.key), Some(&global));

    // The restored objects work on their new handles.
    let mark = h.mark();
    h.call(chart.key, "GetLayout", json!([]));
    let sent = h.sent_since(mark);
    assert_eq!(sent[0].1.handle, chart_now.handle);
}

#[test]
fn q_res_4_handles_change_only_at_the_end_of_the_restore() {
    let mut h = Harness::new(config());
    let (_, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.engine.auto_answer = false;
    h.resume(false);
    h.drive();
    let (conn, request) = h.engine.held.remove(0);
    let response = h.engine.answer(&request);
    h.frame(conn, Incoming::Response(response));
    assert_eq!(
        h.machine.object(doc.key).map(|d| d.handle),
        Some(doc.handle)
    );
    assert_eq!(
        h.machine.object(chart.key).map(|c| c.handle),
        Some(chart.handle)
    );
    assert_eq!(h.state(), State::Resuming);
    let (conn, request) = h.engine.held.remove(0);
    let response = h.engine.answer(&request);
    h.frame(conn, Incoming::Response(response));
    assert_eq!(h.state(), State::Open);
    assert_ne!(
        h.machine.object(doc.key).map(|d| d.handle),
        Some(doc.handle)
    );
}

#[test]
fn q_res_4_a_socket_dying_mid_resume_fails_the_resume_and_stays_suspended() {
    let mut h = Harness::new(config());
    let (global, doc) = h.open_doc();
    let chart = h.get_object(doc.key, "GetObject", "chart");
    let keys = [global.key, doc.key, chart.key];
    h.suspend(4000, "");
    h.drive();
    let before = h.handles(&keys);
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.engine.auto_answer = false;
    let waiter = h.resume(false);
    h.drive();
    // The doc comes back, the chart's restore is in flight when the socket dies.
    let (conn, request) = h.engine.held.remove(0);
    let response = h.engine.answer(&request);
    h.frame(conn, Incoming::Response(response));
    assert_eq!(h.machine.pending_calls(), 1);
    let (_, chart_request) = h.engine.held.remove(0);
    let mark = h.mark();
    h.socket_closed(conn, 1006, "");
    assert_eq!(
        failed(h.reply(waiter)),
        &not_connected(
            NotConnectedReason::SocketClosed,
            Some(CloseEvent::new(1006, ""))
        )
    );
    assert_eq!(h.state(), State::Suspended);
    assert_eq!(h.machine.pending_calls(), 0);
    assert_eq!(h.handles(&keys), before, "registry untouched");
    assert!(h.events_since(mark).is_empty());
    // The chart's answer arriving late changes nothing.
    let late = h.engine.answer(&chart_request);
    h.frame(conn, Incoming::Response(late));
    assert!(h.events_since(mark).is_empty());

    // A second resume restores everything.
    h.engine.auto_answer = true;
    let again = h.resume(false);
    h.drive();
    assert!(is_done(h.reply(again)));
    for key in keys {
        assert!(h.machine.object(key).is_some());
    }
}

#[test]
fn q_res_4_a_socket_error_mid_resume_fails_it_with_socket_error() {
    let mut h = Harness::new(config());
    h.open_doc();
    h.suspend(4000, "");
    h.drive();
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    h.engine.auto_answer = false;
    let waiter = h.resume(false);
    h.drive();
    let conn = h.last_conn();
    let mark = h.mark();
    h.feed(Input::SocketError {
        conn,
        cause: cause("reset"),
    });
    h.socket_closed(conn, 1006, "");
    assert_eq!(
        failed(h.reply(waiter)),
        &not_connected(
            NotConnectedReason::SocketError,
            Some(CloseEvent::new(1006, ""))
        )
    );
    assert!(
        h.events_since(mark).is_empty(),
        "no socket-error while resuming"
    );
    assert_eq!(h.state(), State::Suspended);
}

#[test]
fn q_res_4_a_network_suspension_resumes_like_a_manual_one() {
    let mut h = Harness::new(suspend_on_close());
    let (_, doc) = h.open_doc();
    h.socket_closed(h.last_conn(), 1006, "");
    assert_eq!(h.state(), State::Suspended);
    h.engine.announce = Some("SESSION_ATTACHED".to_owned());
    let waiter = h.resume(true);
    h.drive();
    assert!(is_done(h.reply(waiter)));
    let layout = h.call(doc.key, "GetLayout", json!([]));
    h.drive();
    assert!(matches!(h.reply(layout), Reply::Result(_)));
}
