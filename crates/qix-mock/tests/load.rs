//! Many clients at once: the engine's listener queues connects instead of making them wait
//! for a SYN retry.

mod common;

use std::sync::Arc;

use common::{within, Client};
use qix_mock::MockEngine;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

const CLIENTS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_simultaneous_sessions_all_get_on_connected() {
    let engine = MockEngine::start().await.unwrap();
    let start = Arc::new(Barrier::new(CLIENTS));
    let mut clients = JoinSet::new();
    for client in 0..CLIENTS {
        // An identity each: a thousand engine sessions, not one shared.
        let url = engine.url(&format!("/app/engineData/identity/user-{client}"));
        let start = Arc::clone(&start);
        clients.spawn(async move {
            start.wait().await;
            Client::open(&url).await
        });
    }
    let mut open = Vec::with_capacity(CLIENTS);
    within(async {
        while let Some(client) = clients.join_next().await {
            let (client, state) = client.unwrap();
            assert_eq!(state, "SESSION_CREATED");
            open.push(client);
        }
    })
    .await;
    assert_eq!(open.len(), CLIENTS);
    assert_eq!(engine.connection_count(), CLIENTS);
    assert_eq!(engine.session_count(), CLIENTS);
}
