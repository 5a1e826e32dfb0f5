//! Credentials asked for before every connect (Q-AUTH-1) and secrets kept out of `Debug` and
//! errors (Q-AUTH-2), over real sockets against the mock.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{next, within};
use qix::{Credentials, Error, Initiator, Session, SessionEvent, TransportError};
use qix_mock::{MockConfig, MockEngine};
use serde_json::json;

/// A provider that hands out whatever token the test last put in `token`, and counts calls.
#[derive(Clone, Default)]
struct Tokens {
    token: Arc<Mutex<String>>,
    calls: Arc<AtomicUsize>,
}

impl Tokens {
    fn set(&self, token: &str) {
        *self.token.lock().unwrap() = token.to_owned();
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn provider(
        &self,
    ) -> impl Fn() -> std::future::Ready<Result<Credentials, std::convert::Infallible>>
           + Send
           + Sync
           + 'static {
        let tokens = self.clone();
        move || {
            tokens.calls.fetch_add(1, Ordering::SeqCst);
            let token = tokens.token.lock().unwrap().clone();
            std::future::ready(Ok(Credentials::new()
                .header("Authorization", format!("Bearer {token}"))
                .query("qlikTicket", format!("{token}/ &="))))
        }
    }
}

#[tokio::test]
async fn q_auth_1_an_expired_credential_is_replaced_by_the_provider_at_resume() {
    let config = MockConfig::new().required_header("Authorization", "Bearer one");
    let engine = MockEngine::start_with(config).await.unwrap();
    let tokens = Tokens::default();
    tokens.set("one");
    let session = Session::builder(engine.url("/app/app.qvf/ttl/30"))
        // The provider's header replaces the stale one set here.
        .header("Authorization", "Bearer stale")
        .credentials(tokens.provider())
        .build()
        .unwrap();
    let global = within(session.open()).await.unwrap();
    let first = within(engine.next_connection()).await;
    assert_eq!(tokens.calls(), 1);
    let sent: Vec<_> = first
        .headers()
        .iter()
        .filter(|(name, _)| name == "authorization")
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].1, "Bearer one");
    assert_eq!(
        first.path(),
        "/app/app.qvf/ttl/30?qlikTicket=one%2F%20%26%3D"
    );

    within(session.suspend()).await.unwrap();
    // The token expires while the session is suspended.
    engine.set_required_header(Some(("Authorization", "Bearer two")));
    let refused = within(session.resume(true)).await.unwrap_err();
    assert_eq!(refused.http_status(), Some(401), "{refused}");
    assert!(refused.to_string().contains("401"), "{refused}");
    assert!(refused.is_disconnect() && !refused.is_retryable());
    assert_eq!(tokens.calls(), 2, "the resume asked the provider");
    assert_eq!(session.state(), qix::State::Suspended);

    tokens.set("two");
    within(session.resume(true)).await.unwrap();
    assert_eq!(tokens.calls(), 3, "the next attempt asked again");
    let second = within(engine.next_connection()).await;
    assert_eq!(second.header("authorization"), Some("Bearer two"));
    within(global.call("EngineVersion", json!([])))
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn q_auth_1_each_automatic_resume_attempt_asks_the_provider_again() {
    let config = MockConfig::new().required_header("Authorization", "Bearer one");
    let engine = MockEngine::start_with(config).await.unwrap();
    // Call 1 (open) and call 2 (the first attempt) get the old token, later calls the new one.
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let provider = move || {
        let call = counted.fetch_add(1, Ordering::SeqCst) + 1;
        let token = if call <= 2 { "one" } else { "two" };
        std::future::ready(Ok::<_, std::convert::Infallible>(
            Credentials::new().header("Authorization", format!("Bearer {token}")),
        ))
    };
    let mut policy = qix::AutoResume::default();
    policy.backoff = qix::Backoff::Delays(vec![Duration::from_secs(1)]);
    policy.max_attempts = 5;
    let session = Session::builder(engine.url("/app/app.qvf/ttl/30"))
        .suspend_on_close(true)
        .auto_resume(policy)
        .credentials(provider)
        .build()
        .unwrap();
    let mut events = session
        .subscribe_many(["suspended", "resuming", "resumed", "resume-failed"])
        .unwrap();
    within(session.open()).await.unwrap();
    let first = within(engine.next_connection()).await;

    engine.set_required_header(Some(("Authorization", "Bearer two")));
    first.drop_tcp();
    assert!(matches!(
        next(&mut events).await,
        SessionEvent::Suspended {
            initiator: Initiator::Network,
            ..
        }
    ));
    // The first attempt still gets the old token and is refused with 401; the next one asks
    // the provider again and gets the new one.
    assert!(matches!(
        next(&mut events).await,
        SessionEvent::Resuming { attempt: 1, .. }
    ));
    assert!(matches!(
        next(&mut events).await,
        SessionEvent::Resuming { attempt: 2, .. }
    ));
    assert!(matches!(next(&mut events).await, SessionEvent::Resumed));
    let second = within(engine.next_connection()).await;
    assert_eq!(second.header("authorization"), Some("Bearer two"));
    assert_eq!(
        engine.handshake_count(),
        3,
        "open, the refused attempt, the accepted one"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "open and one call per attempt"
    );
}

#[derive(Debug)]
struct VaultDown;

impl std::fmt::Display for VaultDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the vault is down")
    }
}

impl std::error::Error for VaultDown {}

#[tokio::test]
async fn q_auth_1_a_provider_error_fails_that_connect_with_its_source() {
    let engine = MockEngine::start().await.unwrap();
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let failing = fail.clone();
    let session =
        Session::builder(engine.app_url("app.qvf"))
            .credentials(move || {
                let fail = failing.load(Ordering::SeqCst);
                async move {
                    if fail {
                        Err(VaultDown)
                    } else {
                        Ok(Credentials::new()
                            .header("X-Qlik-User", "UserDirectory=internal;UserId=sa"))
                    }
                }
            })
            .build()
            .unwrap();
    let error = within(session.open()).await.unwrap_err();
    assert!(
        matches!(
            error.transport_error(),
            Some(TransportError::Credentials { .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("the vault is down"), "{error}");
    let mut chain =
        std::iter::successors(std::error::Error::source(&error), |cause| cause.source());
    assert!(
        chain.any(|cause| cause.is::<VaultDown>()),
        "the provider's error is kept in the source chain"
    );
    assert_eq!(engine.handshake_count(), 0, "nothing was dialled");

    // The provider is asked again at the next open.
    fail.store(false, Ordering::SeqCst);
    within(session.open()).await.unwrap();
    let connection = within(engine.next_connection()).await;
    assert_eq!(
        connection.header("x-qlik-user"),
        Some("UserDirectory=internal;UserId=sa")
    );
}

#[tokio::test]
async fn q_auth_1_a_header_the_handshake_forbids_fails_the_connect() {
    let engine = MockEngine::start().await.unwrap();
    let session = Session::builder(engine.app_url("app.qvf"))
        .credentials(|| async {
            Ok::<_, std::convert::Infallible>(Credentials::new().header("Host", "elsewhere"))
        })
        .build()
        .unwrap();
    let error = within(session.open()).await.unwrap_err();
    assert!(
        matches!(
            error.transport_error(),
            Some(TransportError::Credentials { .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("Host"), "{error}");
    assert_eq!(engine.handshake_count(), 0);
}

#[tokio::test]
async fn q_auth_2_secrets_in_urls_stay_out_of_debug_and_errors() {
    let secret = "S3CRET";
    let url = format!("ws://sa:{secret}@127.0.0.1:1/app/x?qlikTicket={secret}&xrfkey={secret}");
    let builder = Session::builder(url.as_str()).header("Authorization", secret);
    let shown = format!("{builder:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("qlikTicket=***"), "{shown}");
    let session = builder.build().unwrap();
    let shown = format!("{session:?}");
    assert!(!shown.contains(secret), "{shown}");

    for bad in [
        format!("http://sa:{secret}@host/app/x?qlikTicket={secret}"),
        format!("ws://sa:{secret}@/app/x?qlikTicket={secret}"),
    ] {
        let error = Session::builder(bad.as_str()).build().unwrap_err();
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(matches!(error, Error::InvalidSetting(_)), "{error:?}");
    }
}
