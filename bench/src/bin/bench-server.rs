//! The bench engine: a single-threaded tokio-tungstenite server on 127.0.0.1 that answers just
//! what the workloads call, as cheaply as it can, so that the clients are what is measured.
//!
//! `bench-server [--port P]` prints one JSON line, `{"port":..,"pid":..,"nofile":..,
//! "version":..,"docs":..}`, then serves until its standard input closes.
//!
//! Every socket is greeted with `OnConnected` (`SESSION_ATTACHED` when the URL's query has
//! `attached`, else `SESSION_CREATED`). Methods: `EngineVersion`, `GetDocList` (the 1 MB
//! result), `OpenDoc` and `GetActiveDoc` (the Doc on handle 1), `GetObject` (a generic object
//! on handle 2) and `GetLayout` (a 1 MB layout; with `"delta":true`, the whole layout at `/`
//! first, then again or `[]` as the URL's `layout=` query says); anything else gets "Method
//! not found". Responses to requests that arrived together go out in one flush.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use qix_bench::engine::{self, BigResult};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// The answers, built once.
struct Answers {
    version: String,
    doc: String,
    big: String,
    object: String,
    /// `GetLayout`: plain, the whole layout as a delta answer, unchanged (`[]`).
    layout: [String; 3],
}

/// What one socket's delta answers depend on.
struct Socket {
    mode: engine::LayoutMode,
    /// A delta `GetLayout` was answered: the client has a baseline.
    baseline: bool,
}

#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    delta: Option<bool>,
}

fn main() -> ExitCode {
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().map(|value| value.parse())) {
            ("--port", Some(Ok(value))) => port = value,
            _ => {
                eprintln!("usage: bench-server [--port P]");
                return ExitCode::from(2);
            }
        }
    }
    let nofile = qix_bench::raise_nofile();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench-server: no runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(port, nofile)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench-server: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(port: u16, nofile: u64) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let big = BigResult::new();
    let answers = Arc::new(Answers {
        version: engine::engine_version_result(),
        doc: engine::doc_result(),
        object: engine::object_result(),
        layout: engine::layout_results(&big),
        big: big.json,
    });
    let announce = serde_json::json!({
        "port": listener.local_addr()?.port(),
        "pid": std::process::id(),
        "nofile": nofile,
        "version": engine::ENGINE_VERSION,
        "docs": big.docs,
    });
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{announce}")?;
    stdout.flush()?;
    // The server never outlives whoever started it, even one that died without a word.
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, answers.clone()));
            }
            Err(error) => {
                // Out of file descriptors: say so, and take sockets again once some closed.
                eprintln!("bench-server: accept: {error}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn connection(stream: TcpStream, answers: Arc<Answers>) {
    let _ = stream.set_nodelay(true);
    let mut attached = false;
    let mut mode = engine::LayoutMode::Full;
    #[allow(clippy::result_large_err)] // the callback's error type is tungstenite's
    let look = |request: &Request, response: Response| {
        let query = request.uri().query();
        attached =
            query.is_some_and(|query| query.split('&').any(|part| part == engine::ATTACHED_QUERY));
        mode = engine::LayoutMode::from_query(query);
        Ok(response)
    };
    // Requests are small: a small read buffer keeps 10,000 idle sockets cheap for the server.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let Ok(mut ws) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, look, Some(config)).await
    else {
        return;
    };
    if ws
        .send(Message::text(engine::on_connected(attached)))
        .await
        .is_err()
    {
        return;
    }
    let mut socket = Socket {
        mode,
        baseline: false,
    };
    while let Some(Ok(message)) = ws.next().await {
        let mut ok = answer(&message, &answers, &mut socket, &mut ws).await;
        // Whatever else has arrived is answered before the one flush.
        while ok {
            match ws.next().now_or_never() {
                Some(Some(Ok(message))) => {
                    ok = answer(&message, &answers, &mut socket, &mut ws).await
                }
                Some(_) => ok = false,
                None => break,
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}

/// Queues the answer to one frame; false once the socket is gone.
async fn answer<S>(message: &Message, answers: &Answers, socket: &mut Socket, ws: &mut S) -> bool
where
    S: futures_util::Sink<Message> + Unpin,
{
    let Message::Text(text) = message else {
        return true;
    };
    let Ok(incoming) = serde_json::from_str::<Incoming<'_>>(text.as_str()) else {
        return true;
    };
    let Some(id) = incoming.id.map(RawValue::get) else {
        return true;
    };
    let frame = match incoming.method.as_deref() {
        Some("EngineVersion") => engine::response(id, &answers.version),
        Some(engine::BIG_METHOD) => engine::response(id, &answers.big),
        Some("OpenDoc" | "GetActiveDoc") => engine::response(id, &answers.doc),
        Some("GetObject") => engine::response(id, &answers.object),
        Some("GetLayout") if incoming.delta == Some(true) => {
            let unchanged = socket.baseline && socket.mode == engine::LayoutMode::Unchanged;
            socket.baseline = true;
            let result = &answers.layout[if unchanged { 2 } else { 1 }];
            engine::delta_response(id, result)
        }
        Some("GetLayout") => engine::response(id, &answers.layout[0]),
        _ => engine::unknown_method(id),
    };
    ws.feed(Message::text(frame)).await.is_ok()
}
