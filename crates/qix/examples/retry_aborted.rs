//! Retries calls the engine aborted, with back-off: the mock engine is told to abort the first
//! calls of `GetLayout` (error 15, "Request aborted"), and `RetryAborted` sends them again
//! until one is answered. A request interceptor logs every attempt on its way out.
//!
//! ```sh
//! cargo run -p qix --example retry_aborted
//! ```

use std::time::Duration;

use qix::intercept::{request_fn, Request, RetryAborted};
use qix::{Backoff, EngineCode};
use qix_mock::{MockApp, MockConfig, MockEngine};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = MockConfig::new().app(MockApp::new("sales.qvf").object(
        "sheet-1",
        "sheet",
        json!({"title": "Overview"}),
    ));
    let engine = MockEngine::start_with(config).await?;

    let session = qix::Session::builder(engine.app_url("sales.qvf"))
        .request_interceptor(request_fn(|request: Request| async move {
            println!(
                "-> {} on handle {} (attempt {})",
                request.method(),
                request.handle(),
                request.attempt()
            );
            Ok(request)
        }))
        // At most 4 retries, 50 ms, 100 ms, 200 ms ... apart.
        .response_interceptor(RetryAborted::new(4).backoff(Backoff::Exponential {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(1),
            jitter: false,
        }))
        .build()?;
    let global = session.open().await?;
    let doc = global.call_object("OpenDoc", json!(["sales.qvf"])).await?;
    let sheet = doc.call_object("GetObject", json!(["sheet-1"])).await?;

    // The engine aborts the next three GetLayout calls, as it does when a selection makes a
    // computation obsolete.
    engine.abort_method("GetLayout", 3);
    let layout = sheet.call("GetLayout", json!([])).await?;
    println!(
        "<- GetLayout answered: title {}",
        layout["qLayout"]["title"]
    );

    // More aborts than retries: the engine's error reaches the caller.
    engine.abort_method("GetLayout", 10);
    match sheet.call("GetLayout", json!([])).await {
        Err(error) if error.engine_code() == Some(EngineCode::GenericAborted) => {
            println!("<- gave up after 4 retries: {error}");
        }
        other => return Err(format!("expected the engine's abort, got {other:?}").into()),
    }
    session.close().await?;
    Ok(())
}
