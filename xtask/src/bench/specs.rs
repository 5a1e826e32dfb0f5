//! The workloads: what each runs, how many operations, which clients, which figures.

use super::Client;

/// One workload row of the report.
#[derive(Debug)]
pub(crate) struct Spec {
    /// The name for `--only` and in results.json.
    pub(crate) id: &'static str,
    /// The client's workload argument.
    pub(crate) workload: &'static str,
    pub(crate) title: &'static str,
    /// What one operation is: "call", "cycle", "session".
    pub(crate) unit: &'static str,
    /// Measured operations, full run and `--quick`.
    pub(crate) ops: [usize; 2],
    /// Operations before measuring, full run and `--quick`.
    pub(crate) warmup: [usize; 2],
    pub(crate) clients: &'static [Client],
    /// The figures shown, in order (see `report::label`).
    pub(crate) metrics: &'static [&'static str],
}

const ALL_CLIENTS: &[Client] = &[Client::Raw, Client::Qix, Client::Enigma];
const CALL_METRICS: &[&str] = &[
    "ops_per_s",
    "cpu_us",
    "allocs",
    "bytes",
    "server_us",
    "server_share",
];

pub(crate) const SPECS: &[Spec] = &[
    Spec {
        id: "seq",
        workload: "seq",
        title: "(a) sequential EngineVersion, one call at a time",
        unit: "call",
        ops: [30_000, 1_000],
        warmup: [2_000, 100],
        clients: ALL_CLIENTS,
        metrics: &[
            "ops_per_s",
            "p50_us",
            "p99_us",
            "cpu_us",
            "allocs",
            "bytes",
            "server_us",
            "server_share",
        ],
    },
    Spec {
        id: "inflight",
        workload: "inflight",
        title: "(b) 64 EngineVersion calls in flight on one session, one task",
        unit: "call",
        ops: [100_000, 5_000],
        warmup: [10_000, 500],
        clients: ALL_CLIENTS,
        metrics: CALL_METRICS,
    },
    Spec {
        id: "tasks8",
        workload: "tasks8",
        title: "(b) the same from 8 tasks sharing one Session, 2-worker runtime",
        unit: "call",
        ops: [100_000, 5_000],
        warmup: [10_000, 500],
        clients: &[Client::Qix],
        metrics: CALL_METRICS,
    },
    Spec {
        id: "big-value",
        workload: "big-value",
        title: "(c) 1 MB result parsed as a Value (`call`)",
        unit: "call",
        ops: [200, 10],
        warmup: [20, 2],
        clients: ALL_CLIENTS,
        metrics: CALL_METRICS,
    },
    Spec {
        id: "big-raw",
        workload: "big-raw",
        title: "(c) 1 MB result kept raw (`call_raw`; raw borrows a &RawValue)",
        unit: "call",
        ops: [500, 10],
        warmup: [50, 2],
        clients: &[Client::Raw, Client::Qix],
        metrics: CALL_METRICS,
    },
    Spec {
        id: "idle-1k",
        workload: "idle",
        title: "(d) idle open sessions, opened 64 at a time",
        unit: "session",
        ops: [1_000, 100],
        warmup: [0, 0],
        clients: ALL_CLIENTS,
        metrics: &[
            "heap_kib",
            "rss_kib",
            "open_ms",
            "cpu_us",
            "allocs",
            "server_us",
        ],
    },
    Spec {
        id: "idle-10k",
        workload: "idle",
        title: "(d) idle open sessions, opened 64 at a time",
        unit: "session",
        ops: [10_000, 1_000],
        warmup: [0, 0],
        clients: ALL_CLIENTS,
        metrics: &[
            "heap_kib",
            "rss_kib",
            "open_ms",
            "cpu_us",
            "allocs",
            "server_us",
        ],
    },
    Spec {
        id: "suspend",
        workload: "suspend",
        title: "(e) suspend + resume(true) with a Doc open (raw: close, reconnect, GetActiveDoc)",
        unit: "cycle",
        ops: [2_000, 50],
        warmup: [100, 5],
        clients: ALL_CLIENTS,
        metrics: CALL_METRICS,
    },
    Spec {
        id: "traffic",
        workload: "traffic",
        title: "(f) workload (b), one task, with traffic:* subscribed and drained",
        unit: "call",
        ops: [100_000, 5_000],
        warmup: [10_000, 500],
        clients: &[Client::Qix, Client::Enigma],
        metrics: &[
            "ops_per_s",
            "cpu_us",
            "allocs",
            "bytes",
            "events",
            "lagged",
            "server_us",
            "server_share",
        ],
    },
];
