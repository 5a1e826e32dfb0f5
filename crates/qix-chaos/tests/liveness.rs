//! Q-LIVE-1 through the fault proxy: a link that goes half-open (nothing forwarded, nothing
//! closed, as a proxy that drops an idle socket silently) is found by the liveness check and
//! becomes a network suspension, within the bound the session was given. On the paused clock.

use std::time::Duration;

use futures_util::StreamExt;
use qix::{Error, Initiator, Liveness, Session, SessionEvent};
use qix_chaos::Proxy;
use qix_mock::MockEngine;
use serde_json::json;

#[tokio::test(start_paused = true)]
async fn q_live_1_a_half_open_link_through_the_proxy_becomes_a_network_suspension() {
    let engine = MockEngine::start().await.expect("engine");
    let proxy = Proxy::start(engine.addr()).await.expect("proxy");
    let mut liveness = Liveness::default();
    liveness.interval = Duration::from_secs(5);
    liveness.timeout = Duration::from_secs(3);
    let session = Session::builder(proxy.url("/app/app.qvf/ttl/30"))
        .suspend_on_close(true)
        .liveness(Some(liveness))
        .build()
        .expect("build");
    let global = session.open().await.expect("open");
    let mut suspended = session.subscribe("suspended").expect("topic");
    global
        .call("EngineVersion", json!([]))
        .await
        .expect("answered while the link is whole");

    proxy.half_open(true);
    let started = tokio::time::Instant::now();
    // Far beyond the bound; only guards the test against hanging.
    let error = tokio::time::timeout(
        Duration::from_secs(600),
        global.call("GetDocList", json!([])),
    )
    .await
    .expect("the liveness check never fired")
    .expect_err("nothing can answer through a half-open link");
    assert!(error.is_disconnect(), "{error:?}");
    assert!(matches!(error, Error::NotConnected { .. }), "{error:?}");
    // Silence for the interval, then a probe unanswered for the timeout: 5 s + 3 s.
    assert_eq!(started.elapsed(), Duration::from_secs(8));
    match suspended.next().await.expect("a suspended event") {
        SessionEvent::Suspended {
            initiator, code, ..
        } => assert_eq!((initiator, code), (Initiator::Network, 1006)),
        other => panic!("expected suspended, got {other:?}"),
    }
}
