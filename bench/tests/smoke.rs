//! The suite must not rot silently: each Rust client runs each of its workloads against the
//! bench engine for a handful of operations. The clients check every answer they time (engine
//! version, doc count, the Doc's handle after a resume) and exit non-zero on a wrong one; these
//! tests check that they succeed here, report the figures the table reads, and fail against an
//! engine that answers otherwise. No timings are asserted.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

use serde_json::Value;

const SERVER: &str = env!("CARGO_BIN_EXE_bench-server");
const RAW: &str = env!("CARGO_BIN_EXE_bench-raw");
const QIX: &str = env!("CARGO_BIN_EXE_bench-qix");

/// The bench engine, stopped by closing its stdin when dropped.
struct Engine {
    child: Child,
    stdin: Option<ChildStdin>,
    url: String,
    pid: u32,
}

impl Engine {
    fn start() -> Self {
        let mut child = Command::new(SERVER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("bench-server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let announce: Value = serde_json::from_str(&line).expect("an announce line");
        Self {
            url: format!("ws://127.0.0.1:{}/app/engineData", announce["port"]),
            pid: child.id(),
            stdin: child.stdin.take(),
            child,
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn run(client: &str, workload: &str, url: &str, ops: usize, server: Option<u32>) -> Output {
    let mut command = Command::new(client);
    command.args([
        workload,
        "--url",
        url,
        "--ops",
        &ops.to_string(),
        "--warmup",
        "2",
    ]);
    if let Some(pid) = server {
        command.args(["--server-pid", &pid.to_string()]);
    }
    command.output().expect("the client starts")
}

/// Runs a client that must succeed and returns its report line.
fn report(client: &str, workload: &str, engine: &Engine, ops: usize) -> Value {
    let output = run(client, workload, &engine.url, ops, Some(engine.pid));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{client} {workload}: {stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(line["workload"], workload);
    assert_eq!(line["ops"], ops);
    let mut figures = vec!["ops_per_s", "cpu_us", "allocs", "bytes", "server_us"];
    // An idle span is mostly waiting: the engine's share of it would say nothing.
    if workload != "idle" {
        figures.push("server_share");
    }
    for figure in figures {
        assert!(
            line["metrics"][figure]
                .as_f64()
                .is_some_and(|value| value >= 0.0),
            "{client} {workload} has no {figure}: {line}"
        );
    }
    line
}

const BOTH: [&str; 9] = [
    "seq",
    "inflight",
    "big-value",
    "big-raw",
    "idle",
    "suspend",
    "layout-full",
    "layout-unchanged",
    "layout-off",
];

#[test]
fn raw_runs_each_of_its_workloads() {
    let engine = Engine::start();
    for workload in BOTH {
        report(RAW, workload, &engine, 5);
    }
}

#[test]
fn qix_runs_each_workload() {
    let engine = Engine::start();
    for workload in BOTH.into_iter().chain(["tasks8", "traffic", "patch"]) {
        report(QIX, workload, &engine, 5);
    }
}

#[test]
fn pipelined_workloads_run_more_calls_than_are_in_flight() {
    let engine = Engine::start();
    for (client, workload) in [(RAW, "inflight"), (QIX, "inflight"), (QIX, "tasks8")] {
        report(client, workload, &engine, 300);
    }
}

#[test]
fn seq_reports_latency_percentiles() {
    let engine = Engine::start();
    for client in [RAW, QIX] {
        let line = report(client, "seq", &engine, 20);
        let (p50, p99) = (&line["metrics"]["p50_us"], &line["metrics"]["p99_us"]);
        assert!(p50.as_f64().unwrap() <= p99.as_f64().unwrap(), "{line}");
    }
}

#[test]
fn traffic_sees_both_frames_of_every_call() {
    let engine = Engine::start();
    let line = report(QIX, "traffic", &engine, 200);
    assert_eq!(line["metrics"]["events"], 2.0, "{line}");
    assert_eq!(line["metrics"]["lagged"], 0.0, "{line}");
}

#[test]
fn idle_sessions_report_their_memory() {
    let engine = Engine::start();
    for client in [RAW, QIX] {
        let line = report(client, "idle", &engine, 20);
        assert!(
            line["metrics"]["heap_kib"].as_f64().unwrap() > 0.0,
            "{line}"
        );
        assert!(line["metrics"]["open_ms"].as_f64().unwrap() > 0.0, "{line}");
        assert!(line["metrics"]["rss_kib"].is_number(), "{line}");
    }
}

#[test]
fn raw_refuses_the_workloads_it_has_no_means_for() {
    let engine = Engine::start();
    for workload in ["tasks8", "traffic"] {
        let output = run(RAW, workload, &engine.url, 5, None);
        assert!(!output.status.success());
        assert!(String::from_utf8_lossy(&output.stderr).contains("raw has neither"));
    }
    let output = run(RAW, "patch", &engine.url, 5, None);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("raw has no delta cache"));
}

#[test]
fn clients_fail_on_an_engine_that_answers_otherwise() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // qix-mock claims another engine version and has no GetDocList.
    let mock = runtime.block_on(qix_mock::MockEngine::start()).unwrap();
    let url = mock.url("/app/engineData");
    for client in [RAW, QIX] {
        let output = run(client, "seq", &url, 5, None);
        assert!(!output.status.success(), "{client} took the mock's version");
        assert!(String::from_utf8_lossy(&output.stderr).contains("EngineVersion answered"));
        let output = run(client, "big-value", &url, 2, None);
        assert!(
            !output.status.success(),
            "{client} took the mock's GetDocList"
        );
    }
}

#[test]
fn a_client_without_an_engine_fails_with_a_message() {
    // Nothing listens on the port of a listener that was just closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for client in [RAW, QIX] {
        let output = run(
            client,
            "seq",
            &format!("ws://127.0.0.1:{port}/app/x"),
            5,
            None,
        );
        assert!(!output.status.success());
        assert!(!output.stderr.is_empty());
    }
}
