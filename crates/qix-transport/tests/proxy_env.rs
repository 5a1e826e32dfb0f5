//! `proxy_from_env`: `HTTP_PROXY` is used for `ws://`, and `NO_PROXY` bypasses it.
//!
//! One test alone in its binary, because it changes the process environment: the variables
//! are set while no runtime (and so no other thread) is running.

mod common;

use common::{connect_proxy, echo_server, next, text, within};
use qix_transport::{Transport, WebSocketTransport};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn http_proxy_is_used_for_ws_unless_no_proxy_names_the_host() {
    let setup = runtime();
    let (url, proxy, mut heads) = setup.block_on(async {
        let url = echo_server().await;
        let (proxy, heads) = connect_proxy(None).await;
        (url, proxy, heads)
    });
    // The servers keep running on `setup`'s tasks only while it is driven: each phase below
    // runs on it, after the environment was changed with no runtime thread about.
    for name in [
        "http_proxy",
        "https_proxy",
        "HTTPS_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        std::env::remove_var(name);
    }
    std::env::set_var("HTTP_PROXY", format!("http://{proxy}"));
    let through = WebSocketTransport::builder(&url)
        .proxy_from_env()
        .build()
        .unwrap();
    // Without opting in, the environment is not read.
    let direct = WebSocketTransport::new(&url).unwrap();
    std::env::set_var("NO_PROXY", "example.com, 127.0.0.1");
    let bypassed = WebSocketTransport::builder(&url)
        .proxy_from_env()
        .build()
        .unwrap();

    setup.block_on(async {
        for (transport, proxied) in [(&through, true), (&direct, false), (&bypassed, false)] {
            let mut connection = within(transport.connect()).await.unwrap();
            within(connection.send_text("hello".to_owned()))
                .await
                .unwrap();
            assert_eq!(text(next(&mut connection).await), "hello");
            assert_eq!(heads.try_recv().is_ok(), proxied, "{transport:?}");
        }
    });
}
