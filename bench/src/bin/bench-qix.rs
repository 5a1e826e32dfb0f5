//! qix through its public API, as a user calls it: `Session::builder(url).build()`,
//! `session.open()`, `global.call(..)`, `call_raw`, `suspend`, `resume(true)`, `subscribe`.
//! Everything runs on a current-thread runtime but `tasks8`, which shares one session between
//! 8 tasks on a 2-worker multi-thread runtime.
//!
//! Calls in flight are `IN_FLIGHT` loops joined in one task, each awaiting one call after
//! another: the harness allocates nothing per call, so what is counted is qix's.

use std::alloc::System;
use std::cell::Cell;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{future, StreamExt};
use qix::{Object, Session, SessionEvent};
use qix_bench::cli::{IN_FLIGHT, OPENING, TASKS};
use qix_bench::engine::{self, BigResult};
use qix_bench::{BoxError, ClientArgs, Probe, Report, Workload, SETTLE};
use serde_json::{json, Value};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const CLIENT: &str = "qix";

fn main() -> ExitCode {
    qix_bench::client_main(CLIENT, |args| {
        let runtime = match args.workload {
            Workload::Tasks8 => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?,
            _ => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        };
        runtime.block_on(run(args))
    })
}

async fn run(args: &ClientArgs) -> Result<Report, BoxError> {
    match args.workload {
        Workload::Seq => seq(args).await,
        Workload::Inflight => inflight(args, false).await,
        Workload::Traffic => inflight(args, true).await,
        Workload::Tasks8 => tasks8(args).await,
        Workload::BigValue => big(args, false).await,
        Workload::BigRaw => big(args, true).await,
        Workload::Idle => idle(args).await,
        Workload::Suspend => suspend(args).await,
        Workload::Patch => patch(args),
        Workload::LayoutFull => layout(args, Some(engine::LayoutMode::Full)).await,
        Workload::LayoutUnchanged => layout(args, Some(engine::LayoutMode::Unchanged)).await,
        Workload::LayoutOff => layout(args, None).await,
    }
}

/// (h) `GetLayout` of the 1 MB layout through `call_shared`: with delta on, full answers are
/// parsed and replace the cached value; unchanged ones hand out the cached `Arc` again.
async fn layout(args: &ClientArgs, mode: Option<engine::LayoutMode>) -> Result<Report, BoxError> {
    let expected = BigResult::new();
    let url = mode.map_or_else(
        || args.url.clone(),
        |mode| engine::layout_url(&args.url, mode),
    );
    let session = Session::builder(url).delta(mode.is_some()).build()?;
    let global = session.open().await?;
    let doc = global
        .call_object("OpenDoc", json!([engine::DOC_NAME]))
        .await?;
    let chart = doc
        .call_object("GetObject", json!([engine::LAYOUT_OBJECT]))
        .await?;
    let call = async || -> Result<usize, BoxError> {
        let result = chart.call_shared("GetLayout", json!([])).await?;
        let layout = result.get("qLayout").ok_or("no qLayout")?;
        Ok(layout["qDocList"].as_array().map_or(0, Vec::len))
    };
    for _ in 0..args.warmup.max(1) {
        call().await?;
    }
    let mut last = 0;
    let probe = Probe::start(args.server_pid);
    for _ in 0..args.ops {
        last = call().await?;
    }
    let span = probe.finish();
    if last != expected.docs {
        return Err(format!("GetLayout answered {last} docs, not {}", expected.docs).into());
    }
    let mut report = Report::new(CLIENT, args.workload, args.ops);
    report.per_op(&span);
    Ok(report)
}

/// (g) A 1 MB hypercube layout in a `qix_delta::DeltaCache`, then `ops` patch lists, each
/// changing 1% of the cells (one `replace` per cell), alternately to new values and back:
/// time per list and patches/s, beside the time to parse the whole layout once.
fn patch(args: &ClientArgs) -> Result<Report, BoxError> {
    use qix::qix_delta::DeltaCache;
    const COLUMNS: usize = 8;
    let cell = |row: usize, column: usize, changed: bool| {
        let n = row * COLUMNS + column;
        let value = if changed { n * 7 + 1 } else { n };
        json!({"qText": format!("{value}.00 EUR"), "qNum": value, "qElemNumber": n, "qState": "O"})
    };
    let mut rows = Vec::new();
    let mut text_len = 0;
    while text_len < engine::BIG_MIN_BYTES {
        let row: Vec<Value> = (0..COLUMNS).map(|c| cell(rows.len(), c, false)).collect();
        text_len += serde_json::to_string(&row)?.len() + 1;
        rows.push(Value::Array(row));
    }
    let cells = rows.len() * COLUMNS;
    let layout = json!({
        "qInfo": {"qId": engine::LAYOUT_OBJECT, "qType": "table"},
        "qHyperCube": {"qSize": {"qcx": COLUMNS, "qcy": rows.len()},
                       "qDataPages": [{"qArea": {"qLeft": 0, "qTop": 0, "qWidth": COLUMNS, "qHeight": rows.len()},
                                       "qMatrix": rows}]},
    });
    let layout_text = serde_json::to_string(&layout)?;
    // 1% of the cells, spread over the matrix.
    let changed: Vec<usize> = (0..cells).step_by(100).collect();
    let list = |to_new: bool| -> Result<String, BoxError> {
        let patches: Vec<Value> = changed
            .iter()
            .map(|&n| {
                let (row, column) = (n / COLUMNS, n % COLUMNS);
                json!({"op": "replace",
                       "path": format!("/qHyperCube/qDataPages/0/qMatrix/{row}/{column}"),
                       "value": cell(row, column, to_new)})
            })
            .collect();
        Ok(serde_json::to_string(&patches)?)
    };
    let lists = [list(true)?, list(false)?];
    let first = format!(r#"[{{"op":"add","path":"/","value":{layout_text}}}]"#);

    // The full parse of the layout, for comparison: the median of a few.
    let mut parses: Vec<f64> = (0..9)
        .map(|_| {
            let start = Instant::now();
            let value: Result<Value, _> = serde_json::from_str(&layout_text);
            let elapsed = start.elapsed().as_secs_f64() * 1e6;
            drop(value);
            elapsed
        })
        .collect();
    parses.sort_by(f64::total_cmp);

    let mut cache = DeltaCache::new();
    cache.apply_json(engine::LAYOUT_HANDLE, "GetLayout", "qLayout", &first)?;
    let mut apply = |i: usize| -> Result<(), BoxError> {
        // The caller drops each value before the next answer, as a loop over layouts does:
        // the cache then patches in place.
        cache.apply_json(engine::LAYOUT_HANDLE, "GetLayout", "qLayout", &lists[i % 2])?;
        Ok(())
    };
    for i in 0..args.warmup {
        apply(i)?;
    }
    let probe = Probe::start(args.server_pid);
    for i in 0..args.ops {
        apply(args.warmup + i)?;
    }
    let span = probe.finish();
    // After an even number of lists in all the cells are back where they started.
    let check = cache
        .get(engine::LAYOUT_HANDLE, "GetLayout", "qLayout")
        .ok_or("the cache lost the layout")?;
    let expected_first = if (args.warmup + args.ops).is_multiple_of(2) {
        0
    } else {
        1
    };
    if check["qHyperCube"]["qDataPages"][0]["qMatrix"][0][0]["qNum"] != json!(expected_first) {
        return Err(format!(
            "the first cell is {}",
            check["qHyperCube"]["qDataPages"][0]["qMatrix"][0][0]
        )
        .into());
    }
    let mut report = Report::new(CLIENT, args.workload, args.ops);
    report
        .per_op(&span)
        .metric("patches", changed.len() as f64)
        .metric(
            "patches_per_s",
            changed.len() as f64 * args.ops as f64 / span.wall.as_secs_f64(),
        )
        .metric(
            "us_per_call",
            span.wall.as_secs_f64() * 1e6 / args.ops as f64,
        )
        .metric("parse_us", parses[parses.len() / 2])
        .metric("layout_kib", layout_text.len() as f64 / 1024.0);
    Ok(report)
}

/// A session for workloads (a)-(f): the raw client never asks for delta and the bench engine
/// answers those methods in full, so qix asks without it too (the same frames on the wire).
async fn open(url: &str) -> Result<(Session, Object), BoxError> {
    let session = Session::builder(url).delta(false).build()?;
    let global = session.open().await?;
    Ok((session, global))
}

fn check_version(result: &Value) -> Result<(), BoxError> {
    match result["qVersion"]["qComponentVersion"].as_str() {
        Some(engine::ENGINE_VERSION) => Ok(()),
        _ => Err(format!("EngineVersion answered {result}").into()),
    }
}

async fn seq(args: &ClientArgs) -> Result<Report, BoxError> {
    let (_session, global) = open(&args.url).await?;
    for _ in 0..args.warmup {
        global.call("EngineVersion", json!([])).await?;
    }
    let mut latencies = Vec::with_capacity(args.ops);
    let mut last = Value::Null;
    let probe = Probe::start(args.server_pid);
    for _ in 0..args.ops {
        let start = Instant::now();
        last = global.call("EngineVersion", json!([])).await?;
        latencies.push(start.elapsed().as_nanos() as u64);
    }
    let span = probe.finish();
    check_version(&last)?;
    let mut report = Report::new(CLIENT, args.workload, args.ops);
    report.per_op(&span).latencies(&mut latencies);
    Ok(report)
}

/// `calls` `EngineVersion` calls from `loops` loops joined in this task; returns the last
/// result. `issued` counts calls across every caller sharing it.
async fn calls(
    global: &Object,
    issued: &AtomicUsize,
    calls: usize,
    loops: usize,
) -> Result<Value, BoxError> {
    let each = (0..loops).map(|_| async {
        let mut last = Value::Null;
        while issued.fetch_add(1, Ordering::Relaxed) < calls {
            last = global.call("EngineVersion", json!([])).await?;
        }
        Ok::<_, BoxError>(last)
    });
    let results = future::try_join_all(each).await?;
    Ok(results
        .into_iter()
        .find(|result| !result.is_null())
        .unwrap_or_default())
}

/// `traffic`: the same with every frame's event drained from a `traffic:*` subscription by a
/// task of its own; the measurement ends once the drain has caught up.
async fn inflight(args: &ClientArgs, traffic: bool) -> Result<Report, BoxError> {
    let session = Session::builder(args.url.as_str()).delta(false).build()?;
    let seen = Arc::new(AtomicU64::new(0));
    let lagged = Arc::new(AtomicU64::new(0));
    if traffic {
        let mut events = session.subscribe("traffic:*")?;
        let (seen, lagged) = (seen.clone(), lagged.clone());
        tokio::spawn(async move {
            // Counted here and published with plain stores: the drain is the only writer, and
            // an atomic add per event would be the bench's cost, not the listener's.
            let (mut seen_here, mut lagged_here) = (0, 0);
            while let Some(event) = events.next().await {
                match event {
                    SessionEvent::Traffic(_) => {
                        seen_here += 1;
                        seen.store(seen_here, Ordering::Relaxed);
                    }
                    SessionEvent::Lagged { missed } => {
                        lagged_here += missed;
                        lagged.store(lagged_here, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        });
    }
    let global = session.open().await?;
    calls(&global, &AtomicUsize::new(0), args.warmup, IN_FLIGHT).await?;
    // Every call is one frame sent and one received; `OnConnected` was one more received.
    let before = 1 + 2 * args.warmup as u64;
    let drained = async |target: u64| {
        let deadline = Instant::now() + Duration::from_secs(5);
        while traffic
            && seen.load(Ordering::Relaxed) + lagged.load(Ordering::Relaxed) < target
            && Instant::now() < deadline
        {
            tokio::task::yield_now().await;
        }
    };
    drained(before).await;
    let (seen_before, lagged_before) =
        (seen.load(Ordering::Relaxed), lagged.load(Ordering::Relaxed));
    let probe = Probe::start(args.server_pid);
    let last = calls(&global, &AtomicUsize::new(0), args.ops, IN_FLIGHT).await?;
    drained(before + 2 * args.ops as u64).await;
    let span = probe.finish();
    check_version(&last)?;
    let mut report = Report::new(CLIENT, args.workload, args.ops);
    report.per_op(&span);
    if traffic {
        let seen = seen.load(Ordering::Relaxed) - seen_before;
        let lagged = lagged.load(Ordering::Relaxed) - lagged_before;
        report
            .metric("events", seen as f64 / args.ops as f64)
            .metric("lagged", lagged as f64);
    }
    Ok(report)
}

async fn tasks8(args: &ClientArgs) -> Result<Report, BoxError> {
    let (_session, global) = open(&args.url).await?;
    let spawn_all = |total: usize| {
        let issued = Arc::new(AtomicUsize::new(0));
        (0..TASKS)
            .map(|_| {
                let (global, issued) = (global.clone(), issued.clone());
                tokio::spawn(async move { calls(&global, &issued, total, IN_FLIGHT / TASKS).await })
            })
            .collect::<Vec<_>>()
    };
    for task in spawn_all(args.warmup) {
        task.await??;
    }
    let probe = Probe::start(args.server_pid);
    let mut last = Value::Null;
    for task in spawn_all(args.ops) {
        let result = task.await??;
        if !result.is_null() {
            last = result;
        }
    }
    let span = probe.finish();
    check_version(&last)?;
    let mut report = Report::new(CLIENT, args.workload, args.ops);
    report.per_op(&span);
    Ok(report)
}

async fn big(args: &ClientArgs, raw: bool) -> Result<Report, BoxError> {
    let expected = BigResult::new();
    let (_session, global) = open(&args.url).await?;
    let call = async || -> Result<usize, BoxError> {
        if raw {
            let result = global.call_raw(engine::BIG_METHOD, json!([])).await?;
            Ok(result.get().len())
        } else {
            let result = global.call(engine::BIG_METHOD, json!([])).await?;
            Ok(result["qDocList"].as_array().map_or(0, Vec::len))
        }
    };
    for _ in 0..args.warmup {
        call().await?;
    }
    let mut last = 0;
    let probe = Probe::start(args.server_pid);
    for _ in 0..args.ops {
        last = call().await?;
    }
    let span = probe.finish();
    let want = if raw {
        expected.json.len()
    } else {
        expected.docs
    };
    if last != want {
        return Err(format!("{} answered {last}, not {want}", engine::BIG_METHOD).into());
    }
    let mut report = Report::new(CLIENT, args.workload, args.ops);
    report.per_op(&span);
    Ok(report)
}

async fn idle(args: &ClientArgs) -> Result<Report, BoxError> {
    let mut sessions = Vec::with_capacity(args.ops);
    let opened = Cell::new(0);
    let probe = Probe::start(args.server_pid);
    let openers = (0..OPENING.min(args.ops)).map(|_| async {
        let mut mine = Vec::new();
        while opened.get() < args.ops {
            opened.set(opened.get() + 1);
            mine.push(open(&args.url).await?);
        }
        Ok::<_, BoxError>(mine)
    });
    for mine in future::try_join_all(openers).await? {
        sessions.extend(mine);
    }
    let open_ms = probe.finish().wall.as_secs_f64() * 1000.0;
    tokio::time::sleep(SETTLE).await;
    let span = probe.finish();
    if sessions.len() != args.ops {
        return Err(format!("opened {} sessions, not {}", sessions.len(), args.ops).into());
    }
    let mut report = Report::new(CLIENT, args.workload, args.ops);
    report
        .per_op(&span)
        .memory(&span)
        .metric("open_ms", open_ms)
        // Sessions opened per second, without the settling time the span includes.
        .metric("ops_per_s", args.ops as f64 / (open_ms / 1000.0))
        // The span includes the idle settling time: a share of it says nothing.
        .forget("server_share");
    drop(sessions);
    Ok(report)
}

async fn suspend(args: &ClientArgs) -> Result<Report, BoxError> {
    let (session, global) = open(&engine::attached_url(&args.url)).await?;
    let doc = global
        .call_object("OpenDoc", json!([engine::DOC_NAME]))
        .await?;
    let cycle = async || -> Result<(), BoxError> {
        session.suspend().await?;
        session.resume(true).await?;
        Ok(())
    };
    for _ in 0..args.warmup {
        cycle().await?;
    }
    let probe = Probe::start(args.server_pid);
    for _ in 0..args.ops {
        cycle().await?;
    }
    let span = probe.finish();
    if doc.handle() != engine::DOC_HANDLE || doc.is_closed() {
        return Err(format!("the Doc came back as {doc:?}").into());
    }
    check_version(&global.call("EngineVersion", json!([])).await?)?;
    let mut report = Report::new(CLIENT, args.workload, args.ops);
    report.per_op(&span);
    Ok(report)
}
