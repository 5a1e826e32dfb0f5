//! Measuring a span of a client's run: wall time, the client's CPU time (getrusage), its
//! allocations (the counting global allocator), its resident memory (/proc/self/statm) and the
//! server's CPU time (`/proc/<pid>/task/*/schedstat`), and the JSON line that reports them.

use std::fs;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use stats_alloc::{Stats, INSTRUMENTED_SYSTEM};

use crate::Workload;

/// The readings at the start of a span. Take it with [`Probe::start`] right before the measured
/// work and end it with [`Probe::finish`] right after; the probe's own allocations and file
/// reads fall outside the span.
#[derive(Debug)]
pub struct Probe {
    server_pid: Option<u32>,
    server_ns: Option<u64>,
    rss: Option<u64>,
    cpu_ns: u64,
    alloc: Stats,
    wall: Instant,
}

/// What happened between [`Probe::start`] and [`Probe::finish`].
#[derive(Debug, Clone, Copy)]
pub struct Span {
    /// Wall time.
    pub wall: Duration,
    /// The client's user + system CPU time, all threads.
    pub cpu_ns: u64,
    /// Allocations and reallocations.
    pub allocs: u64,
    /// Bytes allocated, including what reallocations grew by.
    pub bytes: u64,
    /// Heap bytes live at the end less those live at the start.
    pub live_bytes: i64,
    /// Resident memory at the end less that at the start (Linux only).
    pub rss_bytes: Option<i64>,
    /// The server's user + system CPU time, when its pid was given and readable.
    pub server_ns: Option<u64>,
}

impl Probe {
    /// Reads everything; the wall clock and the allocator last.
    pub fn start(server_pid: Option<u32>) -> Self {
        let server_ns = server_pid.and_then(process_cpu_ns);
        let rss = rss_bytes();
        let cpu_ns = self_cpu_ns();
        let alloc = INSTRUMENTED_SYSTEM.stats();
        Self {
            server_pid,
            server_ns,
            rss,
            cpu_ns,
            alloc,
            wall: Instant::now(),
        }
    }

    /// Reads everything again; the wall clock and the allocator first.
    pub fn finish(&self) -> Span {
        let wall = self.wall.elapsed();
        let alloc = INSTRUMENTED_SYSTEM.stats();
        let cpu_ns = self_cpu_ns();
        let rss = rss_bytes();
        let server_ns = self.server_pid.and_then(process_cpu_ns);
        let live = |stats: &Stats| stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
        Span {
            wall,
            cpu_ns: cpu_ns.saturating_sub(self.cpu_ns),
            allocs: (alloc.allocations + alloc.reallocations) as u64
                - (self.alloc.allocations + self.alloc.reallocations) as u64,
            bytes: (alloc.bytes_allocated - self.alloc.bytes_allocated) as u64,
            live_bytes: live(&alloc) - live(&self.alloc),
            rss_bytes: rss
                .zip(self.rss)
                .map(|(end, start)| end as i64 - start as i64),
            server_ns: server_ns
                .zip(self.server_ns)
                .map(|(end, start)| end.saturating_sub(start)),
        }
    }
}

/// The client's own CPU time, user + system, all threads.
fn self_cpu_ns() -> u64 {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(usage) => {
            let ns = |time: nix::sys::time::TimeVal| {
                time.tv_sec() as u64 * 1_000_000_000 + time.tv_usec() as u64 * 1000
            };
            ns(usage.user_time()) + ns(usage.system_time())
        }
        Err(_) => 0,
    }
}

/// Another process's CPU time, user + system, summed over its threads: schedstat counts
/// nanoseconds, where `/proc/<pid>/stat` counts 10 ms ticks (too coarse for a few seconds).
pub fn process_cpu_ns(pid: u32) -> Option<u64> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        let text = fs::read_to_string(task.path().join("schedstat")).ok()?;
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// This process's resident memory.
fn rss_bytes() -> Option<u64> {
    let statm = fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()?;
    Some(pages * page as u64)
}

/// One client's figures for one workload: printed as one JSON line,
/// `{"client":..,"workload":..,"ops":..,"metrics":{..}}`, which `cargo xtask bench` reads.
///
/// The metric names are shared with the enigma.js client and the table: `ops_per_s`, `cpu_us`,
/// `allocs`, `bytes`, `server_us` and `server_share` (per operation), `p50_us`, `p99_us`,
/// `heap_kib`, `rss_kib` and `open_ms` (idle sessions), `events` and `lagged` (traffic).
#[derive(Debug)]
pub struct Report {
    client: &'static str,
    workload: Workload,
    ops: usize,
    metrics: Map<String, Value>,
}

impl Report {
    /// An empty report of `ops` operations.
    pub fn new(client: &'static str, workload: Workload, ops: usize) -> Self {
        Self {
            client,
            workload,
            ops,
            metrics: Map::new(),
        }
    }

    /// Sets one figure; one that is not finite is left out.
    pub fn metric(&mut self, name: &str, value: f64) -> &mut Self {
        if let Some(number) = serde_json::Number::from_f64(value) {
            self.metrics.insert(name.to_owned(), Value::Number(number));
        }
        self
    }

    /// Leaves a figure out (one that would mislead for this workload).
    pub fn forget(&mut self, name: &str) -> &mut Self {
        self.metrics.remove(name);
        self
    }

    /// The per-operation figures of a span of `ops` operations.
    pub fn per_op(&mut self, span: &Span) -> &mut Self {
        let ops = self.ops as f64;
        let secs = span.wall.as_secs_f64();
        self.metric("ops_per_s", ops / secs)
            .metric("cpu_us", span.cpu_ns as f64 / 1000.0 / ops)
            .metric("allocs", span.allocs as f64 / ops)
            .metric("bytes", span.bytes as f64 / ops);
        if let Some(server_ns) = span.server_ns {
            self.metric("server_us", server_ns as f64 / 1000.0 / ops)
                .metric("server_share", server_ns as f64 / 1e9 / secs);
        }
        self
    }

    /// The 50th and 99th percentiles of per-call latencies in nanoseconds.
    pub fn latencies(&mut self, latencies: &mut [u64]) -> &mut Self {
        latencies.sort_unstable();
        let at = |quantile: f64| {
            let index = ((latencies.len() as f64 * quantile) as usize).min(latencies.len() - 1);
            latencies[index] as f64 / 1000.0
        };
        if !latencies.is_empty() {
            self.metric("p50_us", at(0.50)).metric("p99_us", at(0.99));
        }
        self
    }

    /// Memory per session of a span that opened `ops` sessions.
    pub fn memory(&mut self, span: &Span) -> &mut Self {
        let ops = self.ops as f64;
        self.metric("heap_kib", span.live_bytes as f64 / 1024.0 / ops);
        if let Some(rss) = span.rss_bytes {
            self.metric("rss_kib", rss as f64 / 1024.0 / ops);
        }
        self
    }

    /// The JSON line.
    pub fn to_line(&self) -> String {
        serde_json::json!({
            "client": self.client,
            "workload": self.workload.name(),
            "ops": self.ops,
            "metrics": self.metrics,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_sorted_ranks() {
        let mut report = Report::new("raw", Workload::Seq, 100);
        let mut latencies: Vec<u64> = (1..=100).rev().map(|us| us * 1000).collect();
        report.latencies(&mut latencies);
        let line: Value = serde_json::from_str(&report.to_line()).unwrap();
        assert_eq!(line["metrics"]["p50_us"], 51.0);
        assert_eq!(line["metrics"]["p99_us"], 100.0);
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(20) {}
        assert!(process_cpu_ns(std::process::id()).unwrap() > 0);
        assert!(rss_bytes().unwrap() > 0);
        assert!(self_cpu_ns() > 0);
    }
}
