//! The ceiling: a bare tokio-tungstenite loop on a current-thread runtime that writes the same
//! requests as qix and parses the answers with serde_json, with no session logic at all.
//! A `call` result is parsed into a `serde_json::Value` (what qix's `call` returns); the large
//! result kept raw is borrowed from the frame as `&RawValue`.

use std::alloc::System;
use std::cell::Cell;
use std::process::ExitCode;
use std::time::Instant;

use futures_util::{future, FutureExt, SinkExt, StreamExt};
use qix_bench::cli::{IN_FLIGHT, OPENING};
use qix_bench::engine::{self, BigResult};
use qix_bench::{BoxError, ClientArgs, Probe, Report, Workload, SETTLE};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const CLIENT: &str = "raw";

/// The read buffer qix's WebSocket transport starts with. tungstenite's default, 128 KiB, is
/// allocated up front and would make each raw idle session six times heavier than qix's: a
/// ceiling is the leanest loop, configured as well as qix is.
const READ_BUFFER: usize = 4 << 10;

fn main() -> ExitCode {
    qix_bench::client_main(CLIENT, |args| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(run(args))
    })
}

async fn run(args: &ClientArgs) -> Result<Report, BoxError> {
    match args.workload {
        Workload::Seq => seq(args).await,
        Workload::Inflight => inflight(args).await,
        Workload::BigValue => big(args, false).await,
        Workload::BigRaw => big(args, true).await,
        Workload::Idle => idle(args).await,
        Workload::Suspend => suspend(args).await,
        Workload::LayoutFull => layout(args, Some(engine::LayoutMode::Full)).await,
        Workload::LayoutUnchanged => layout(args, Some(engine::LayoutMode::Unchanged)).await,
        Workload::LayoutOff => layout(args, None).await,
        Workload::Patch => Err("`patch` measures qix-delta alone: raw has no delta cache".into()),
        Workload::Tasks8 | Workload::Traffic => Err(format!(
            "`{}` needs a session shared by tasks or an event bus: raw has neither",
            args.workload
        )
        .into()),
    }
}

#[derive(Deserialize)]
struct ValueResponse {
    id: Option<u64>,
    result: Option<Value>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct RawResponse<'a> {
    id: Option<u64>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

/// The request ids of one socket.
struct Client {
    ws: Ws,
    next_id: u64,
}

impl Client {
    async fn connect(url: &str) -> Result<Self, BoxError> {
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
        Ok(Self { ws, next_id: 0 })
    }

    fn request(&mut self, handle: i32, method: &str) -> Message {
        self.next_id += 1;
        Message::text(engine::request(self.next_id, handle, method, "[]"))
    }

    async fn text(&mut self) -> Result<tokio_tungstenite::tungstenite::Utf8Bytes, BoxError> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => return Ok(text),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
                None => return Err("the engine closed the socket".into()),
            }
        }
    }

    /// One call, its result parsed as a `Value`.
    async fn call(&mut self, method: &str) -> Result<Value, BoxError> {
        let request = self.request(-1, method);
        let id = self.next_id;
        self.ws.send(request).await?;
        loop {
            let text = self.text().await?;
            let response: ValueResponse = serde_json::from_str(text.as_str())?;
            if response.id == Some(id) {
                return answer(response);
            }
        }
    }

    /// One call, its result borrowed from the frame; returns the result's length.
    async fn call_raw(&mut self, method: &str) -> Result<usize, BoxError> {
        let request = self.request(-1, method);
        let id = self.next_id;
        self.ws.send(request).await?;
        loop {
            let text = self.text().await?;
            let response: RawResponse<'_> = serde_json::from_str(text.as_str())?;
            if response.id == Some(id) {
                return match (response.result, response.error) {
                    (Some(result), _) => Ok(result.get().len()),
                    (None, error) => Err(format!("engine error: {error:?}").into()),
                };
            }
        }
    }

    /// `calls` `EngineVersion` calls, `IN_FLIGHT` at a time: answers are read as they come and
    /// each is replaced by a new request; what is written in one turn goes in one flush.
    async fn pipeline(&mut self, calls: usize) -> Result<Value, BoxError> {
        let mut sent = 0;
        let mut done = 0;
        let mut last = Value::Null;
        while sent < calls.min(IN_FLIGHT) {
            let request = self.request(-1, "EngineVersion");
            self.ws.feed(request).await?;
            sent += 1;
        }
        self.ws.flush().await?;
        while done < calls {
            let mut ready = Some(self.ws.next().await);
            while let Some(next) = ready {
                let text = match next {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => {
                        ready = self.ws.next().now_or_never();
                        continue;
                    }
                    Some(Err(error)) => return Err(error.into()),
                    None => return Err("the engine closed the socket".into()),
                };
                let response: ValueResponse = serde_json::from_str(text.as_str())?;
                if response.id.is_some() {
                    last = answer(response)?;
                    done += 1;
                    if sent < calls {
                        let request = self.request(-1, "EngineVersion");
                        self.ws.feed(request).await?;
                        sent += 1;
                    }
                }
                ready = self.ws.next().now_or_never();
            }
            self.ws.flush().await?;
        }
        Ok(last)
    }

    /// Waits for `OnConnected` and returns its `qSessionState`.
    async fn on_connected(&mut self) -> Result<String, BoxError> {
        loop {
            let text = self.text().await?;
            let frame: Value = serde_json::from_str(text.as_str())?;
            if frame["method"] == "OnConnected" {
                return Ok(frame["params"]["qSessionState"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned());
            }
        }
    }
}

fn answer(response: ValueResponse) -> Result<Value, BoxError> {
    match (response.result, response.error) {
        (Some(result), _) => Ok(result),
        (None, error) => Err(format!("engine error: {error:?}").into()),
    }
}

fn check_version(result: &Value) -> Result<(), BoxError> {
    match result["qVersion"]["qComponentVersion"].as_str() {
        Some(engine::ENGINE_VERSION) => Ok(()),
        _ => Err(format!("EngineVersion answered {result}").into()),
    }
}

async fn seq(args: &ClientArgs) -> Result<Report, BoxError> {
    let mut client = Client::connect(&args.url).await?;
    for _ in 0..args.warmup {
        client.call("EngineVersion").await?;
    }
    let mut latencies = Vec::with_capacity(args.ops);
    let mut last = Value::Null;
    let probe = Probe::start(args.server_pid);
    for _ in 0..args.ops {
        let start = Instant::now();
        last = client.call("EngineVersion").await?;
        latencies.push(start.elapsed().as_nanos() as u64);
    }
    let span = probe.finish();
    check_version(&last)?;
    let mut report = Report::new(CLIENT, args.workload, args.ops);
    report.per_op(&span).latencies(&mut latencies);
    Ok(report)
}

async fn inflight(args: &ClientArgs) -> Result<Report, BoxError> {
    let mut client = Client::connect(&args.url).await?;
    if args.warmup > 0 {
        client.pipeline(args.warmup).await?;
    }
    let probe = Probe::start(args.server_pid);
    let last = client.pipeline(args.ops).await?;
    let span = probe.finish();
    check_version(&last)?;
    let mut report = Report::new(CLIENT, args.workload, args.ops);
    report.per_op(&span);
    Ok(report)
}

async fn big(args: &ClientArgs, raw: bool) -> Result<Report, BoxError> {
    let expected = BigResult::new();
    let mut client = Client::connect(&args.url).await?;
    let check = |docs: usize, bytes: usize| -> Result<(), BoxError> {
        if (raw && bytes == expected.json.len()) || (!raw && docs == expected.docs) {
            Ok(())
        } else {
            Err(format!("{} answered {docs} docs, {bytes} bytes", engine::BIG_METHOD).into())
        }
    };
    let call = async |client: &mut Client| -> Result<(usize, usize), BoxError> {
        if raw {
            Ok((0, client.call_raw(engine::BIG_METHOD).await?))
        } else {
            let value = client.call(engine::BIG_METHOD).await?;
            Ok((value["qDocList"].as_array().map_or(0, Vec::len), 0))
        }
    };
    for _ in 0..args.warmup {
        call(&mut client).await?;
    }
    let mut last = (0, 0);
    let probe = Probe::start(args.server_pid);
    for _ in 0..args.ops {
        last = call(&mut client).await?;
    }
    let span = probe.finish();
    check(last.0, last.1)?;
    let mut report = Report::new(CLIENT, args.workload, args.ops);
    report.per_op(&span);
    Ok(report)
}

#[derive(Deserialize)]
struct LayoutResult {
    #[serde(rename = "qLayout")]
    layout: Value,
}

#[derive(Deserialize)]
struct LayoutResponse {
    id: Option<u64>,
    result: Option<LayoutResult>,
    error: Option<Value>,
}

/// (h) `GetLayout` on the object's handle, the ceiling of each mode: delta off parses the
/// layout; delta on with full answers parses the frame and takes the value out of its one
/// patch; unchanged answers (`[]`) keep the layout it has, as a delta cache would.
async fn layout(args: &ClientArgs, mode: Option<engine::LayoutMode>) -> Result<Report, BoxError> {
    let expected = BigResult::new();
    let url = mode.map_or_else(
        || args.url.clone(),
        |mode| engine::layout_url(&args.url, mode),
    );
    let mut client = Client::connect(&url).await?;
    let mut layout = Value::Null;
    let mut call = async |client: &mut Client| -> Result<usize, BoxError> {
        client.next_id += 1;
        let id = client.next_id;
        let text = if mode.is_some() {
            engine::delta_request(id, engine::LAYOUT_HANDLE, "GetLayout", "[]")
        } else {
            engine::request(id, engine::LAYOUT_HANDLE, "GetLayout", "[]")
        };
        client.ws.send(Message::text(text)).await?;
        let response = loop {
            let text = client.text().await?;
            let response: LayoutResponse = serde_json::from_str(text.as_str())?;
            if response.id == Some(id) {
                break response;
            }
        };
        let Some(LayoutResult { layout: answer }) = response.result else {
            return Err(format!("engine error: {:?}", response.error).into());
        };
        layout = match (mode, answer) {
            (None, value) => value,
            (Some(_), Value::Array(patches)) if patches.is_empty() => std::mem::take(&mut layout),
            (Some(_), Value::Array(mut patches)) => match patches.pop() {
                Some(Value::Object(mut patch)) => patch.remove("value").unwrap_or_default(),
                _ => Value::Null,
            },
            (Some(_), other) => return Err(format!("not patches: {other}").into()),
        };
        Ok(layout["qDocList"].as_array().map_or(0, Vec::len))
    };
    for _ in 0..args.warmup.max(1) {
        call(&mut client).await?;
    }
    let mut last = 0;
    let probe = Probe::start(args.server_pid);
    for _ in 0..args.ops {
        last = call(&mut client).await?;
    }
    let span = probe.finish();
    if last != expected.docs {
        return Err(format!("GetLayout answered {last} docs, not {}", expected.docs).into());
    }
    let mut report = Report::new(CLIENT, args.workload, args.ops);
    report.per_op(&span);
    Ok(report)
}

/// `ops` sockets, each with a task that reads it (as any client must, to see it close).
async fn idle(args: &ClientArgs) -> Result<Report, BoxError> {
    let opened = Cell::new(0);
    let probe = Probe::start(args.server_pid);
    let openers = (0..OPENING.min(args.ops)).map(|_| async {
        while opened.get() < args.ops {
            opened.set(opened.get() + 1);
            let mut client = Client::connect(&args.url).await?;
            tokio::spawn(async move { while let Some(Ok(_)) = client.ws.next().await {} });
        }
        Ok::<_, BoxError>(())
    });
    future::try_join_all(openers).await?;
    let open_ms = probe.finish().wall.as_secs_f64() * 1000.0;
    tokio::time::sleep(SETTLE).await;
    let span = probe.finish();
    let mut report = Report::new(CLIENT, args.workload, args.ops);
    report
        .per_op(&span)
        .memory(&span)
        .metric("open_ms", open_ms)
        // Sessions opened per second, without the settling time the span includes.
        .metric("ops_per_s", args.ops as f64 / (open_ms / 1000.0))
        // The span includes the idle settling time: a share of it says nothing.
        .forget("server_share");
    Ok(report)
}

/// Close with 4000 and wait for the close handshake; connect again, wait for `OnConnected`,
/// find the Doc with `GetActiveDoc`: what a resume of a session with a Doc open does.
async fn suspend(args: &ClientArgs) -> Result<Report, BoxError> {
    let url = engine::attached_url(&args.url);
    let mut client = Client::connect(&url).await?;
    client.on_connected().await?;
    let doc = client.call("OpenDoc").await?;
    let check_doc = |doc: &Value| -> Result<(), BoxError> {
        match doc["qReturn"]["qHandle"].as_i64() {
            Some(handle) if handle == i64::from(engine::DOC_HANDLE) => Ok(()),
            _ => Err(format!("the Doc came back as {doc}").into()),
        }
    };
    check_doc(&doc)?;
    let cycle = async |client: &mut Client| -> Result<Value, BoxError> {
        client
            .ws
            .close(Some(CloseFrame {
                code: CloseCode::from(4000),
                reason: "".into(),
            }))
            .await?;
        while let Some(Ok(_)) = client.ws.next().await {}
        *client = Client::connect(&url).await?;
        let state = client.on_connected().await?;
        if state != "SESSION_ATTACHED" {
            return Err(format!("OnConnected said {state}").into());
        }
        client.call("GetActiveDoc").await
    };
    for _ in 0..args.warmup {
        cycle(&mut client).await?;
    }
    let mut last = Value::Null;
    let probe = Probe::start(args.server_pid);
    for _ in 0..args.ops {
        last = cycle(&mut client).await?;
    }
    let span = probe.finish();
    check_doc(&last)?;
    let mut report = Report::new(CLIENT, args.workload, args.ops);
    report.per_op(&span);
    Ok(report)
}
