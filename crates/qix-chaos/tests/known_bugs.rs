//! Bugs in qix found by the chaos run, each as the smallest test that shows it; they pass
//! since the fix (the window of calls in flight counts user calls only).
//!
//! The bug: `CancelRequest`s (and liveness probes) take places in the window of requests in
//! flight (`max_in_flight`, Q-FLOW-1) and have no deadline, while the liveness check (Q-LIVE-1)
//! watches user calls only. When a window is full of cancels that get no answer, the callers
//! queued behind it are never written, so their request timeout (which starts at the write)
//! never runs, and nothing else ends their wait: they hang, against Q-TIME-1 ("every call has
//! a deadline") and Q-REQ-5 ("no call is left waiting for ever"). Found by the chaos scenario
//! with seed 104375299100736 (max_in_flight 1, a half-open link); with seed 104375299101611
//! the cancel was lost to a flipped byte on a live connection.

use std::time::Duration;

use qix::Session;
use qix_mock::MockEngine;
use serde_json::json;

/// Far more than any bound the session has here; only guards the test against hanging.
const GUARD: Duration = Duration::from_secs(3600);

async fn session_with_a_window_of_one(engine: &MockEngine) -> (Session, qix::Object) {
    let session = Session::builder(engine.url("/app/app.qvf"))
        .max_in_flight(1)
        .request_timeout(Duration::from_secs(1))
        .build()
        .expect("build");
    let global = session.open().await.expect("open");
    (session, global)
}

/// A live engine that is slow to answer `CancelRequest`: the one place in the window stays
/// taken, and the next call waits as long as that answer takes (an hour here), although the
/// connection answers everything else at once.
#[tokio::test(start_paused = true)]
async fn known_bug_a_call_queued_behind_an_unanswered_cancel_request_has_no_deadline() {
    let engine = MockEngine::start().await.expect("engine");
    let (_session, global) = session_with_a_window_of_one(&engine).await;
    let connection = engine.next_connection().await;
    connection.delay_method("EngineVersion", Duration::from_secs(3600));
    connection.delay_method("CancelRequest", Duration::from_secs(3600));
    let first = global.call("EngineVersion", json!([])).await;
    assert!(
        matches!(first, Err(qix::Error::Timeout { .. })),
        "{first:?}"
    );
    connection
        .wait_for_request("CancelRequest")
        .await
        .expect("the timed-out call is cancelled");
    // The rules: this call's deadline is its request timeout, 1 s.
    let started = tokio::time::Instant::now();
    let second = tokio::time::timeout(GUARD, global.call("ProductVersion", json!([]))).await;
    let waited = started.elapsed();
    assert!(
        waited <= Duration::from_secs(2),
        "KNOWN BUG: the call behind an unanswered CancelRequest waited {waited:?} ({second:?}) \
         with a request timeout of 1 s"
    );
}

/// A frozen engine: the call times out, its cancel takes the window, and since no *call* is
/// pending the liveness check never probes, so the dead connection is never found and the
/// next call waits for ever.
#[tokio::test(start_paused = true)]
async fn known_bug_a_window_full_of_cancels_hides_a_dead_connection_from_the_liveness_check() {
    let engine = MockEngine::start().await.expect("engine");
    let (_session, global) = session_with_a_window_of_one(&engine).await;
    let connection = engine.next_connection().await;
    connection.hold_responses();
    let first = global.call("EngineVersion", json!([])).await;
    assert!(
        matches!(first, Err(qix::Error::Timeout { .. })),
        "{first:?}"
    );
    // The rules: probed after 20 s without a frame while something waits, dead 10 s later,
    // and the waiting call fails then at the latest.
    let second = tokio::time::timeout(GUARD, global.call("ProductVersion", json!([]))).await;
    assert!(
        second.is_ok(),
        "KNOWN BUG: a call queued behind a window full of CancelRequests on a dead connection \
         never settled (no liveness probe was sent: {} requests seen)",
        connection.requests().len()
    );
}
