//! The clients' command line: `<workload> --url URL --ops N [--warmup N] [--server-pid PID]`.

use std::fmt;
use std::str::FromStr;

/// What a client measures. `cargo xtask bench` names the figures; a client runs one workload
/// per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// (a) `EngineVersion`, one call at a time: latency percentiles.
    Seq,
    /// (b) 64 `EngineVersion` calls in flight on one session, from one task.
    Inflight,
    /// (b) the same from 8 tasks sharing one session on a 2-worker multi-thread runtime.
    Tasks8,
    /// (c) the large result, parsed as a `serde_json::Value`.
    BigValue,
    /// (c) the large result, kept as raw JSON text.
    BigRaw,
    /// (d) `--ops` idle open sessions: memory per session, time to open them all.
    Idle,
    /// (e) suspend + resume(true) cycles with a Doc open.
    Suspend,
    /// (f) `Inflight` with every frame's `traffic:*` event delivered to a subscriber.
    Traffic,
    /// (g) the patches of a 1 MB layout with 1% of its cells changed, applied to a delta cache
    /// (no socket).
    Patch,
    /// (h) `GetLayout` of a 1 MB layout, delta on, every answer the whole layout.
    LayoutFull,
    /// (h) the same, every answer after the first unchanged (`[]`).
    LayoutUnchanged,
    /// (h) the same with delta off.
    LayoutOff,
}

impl Workload {
    /// Every workload, in the order of the report.
    pub const ALL: [Workload; 12] = [
        Self::Seq,
        Self::Inflight,
        Self::Tasks8,
        Self::BigValue,
        Self::BigRaw,
        Self::Idle,
        Self::Suspend,
        Self::Traffic,
        Self::Patch,
        Self::LayoutFull,
        Self::LayoutUnchanged,
        Self::LayoutOff,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Seq => "seq",
            Self::Inflight => "inflight",
            Self::Tasks8 => "tasks8",
            Self::BigValue => "big-value",
            Self::BigRaw => "big-raw",
            Self::Idle => "idle",
            Self::Suspend => "suspend",
            Self::Traffic => "traffic",
            Self::Patch => "patch",
            Self::LayoutFull => "layout-full",
            Self::LayoutUnchanged => "layout-unchanged",
            Self::LayoutOff => "layout-off",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|workload| workload.name() == name)
            .ok_or_else(|| format!("unknown workload `{name}`"))
    }
}

/// How many calls are in flight in the pipelined workloads (`inflight`, `tasks8`, `traffic`).
pub const IN_FLIGHT: usize = 64;

/// How many tasks share the session in `tasks8`; each keeps `IN_FLIGHT / TASKS` calls in flight.
pub const TASKS: usize = 8;

/// How many sessions open at once in `idle`.
pub const OPENING: usize = 64;

/// A client's command line.
#[derive(Debug, Clone)]
pub struct ClientArgs {
    /// What to measure.
    pub workload: Workload,
    /// The engine's URL (`ws://127.0.0.1:<port>/app/engineData`).
    pub url: String,
    /// Measured operations: calls, cycles, or (for `idle`) sessions.
    pub ops: usize,
    /// Operations before the measurement starts, not counted.
    pub warmup: usize,
    /// The server's process id, to read its CPU time around the measurement.
    pub server_pid: Option<u32>,
}

impl ClientArgs {
    /// Reads the process's arguments.
    pub fn from_env() -> Result<Self, String> {
        Self::parse(std::env::args().skip(1))
    }

    /// Reads arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut args = args.into_iter();
        let workload: Workload = args
            .next()
            .ok_or_else(|| {
                "usage: <workload> --url URL --ops N [--warmup N] [--server-pid PID]".to_owned()
            })?
            .parse()?;
        let mut parsed = Self {
            workload,
            url: String::new(),
            ops: 1000,
            warmup: 100,
            server_pid: None,
        };
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .ok_or_else(|| format!("`{flag}` needs a value"))?;
            let number = || {
                value
                    .parse::<usize>()
                    .map_err(|_| format!("`{flag}` takes a number, not `{value}`"))
            };
            match flag.as_str() {
                "--url" => parsed.url = value.clone(),
                "--ops" => parsed.ops = number()?,
                "--warmup" => parsed.warmup = number()?,
                "--server-pid" => {
                    parsed.server_pid = Some(
                        value
                            .parse()
                            .map_err(|_| format!("`--server-pid` takes a pid, not `{value}`"))?,
                    )
                }
                // The enigma.js client's checks; the Rust clients know them from `engine`.
                "--expect-version" | "--expect-docs" => {}
                _ => return Err(format!("unknown option `{flag}`")),
            }
        }
        if parsed.url.is_empty() {
            return Err("`--url` is required".to_owned());
        }
        if parsed.ops == 0 {
            return Err("`--ops` must be at least 1".to_owned());
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<ClientArgs, String> {
        ClientArgs::parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn reads_a_full_command_line() {
        let parsed = args("idle --url ws://x --ops 10 --warmup 0 --server-pid 42").unwrap();
        assert_eq!(parsed.workload, Workload::Idle);
        assert_eq!(
            (parsed.ops, parsed.warmup, parsed.server_pid),
            (10, 0, Some(42))
        );
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        assert!(args("nope --url ws://x").is_err());
        assert!(args("seq --url ws://x --ops ten").is_err());
        assert!(args("seq --url ws://x --frobnicate 1").is_err());
        assert!(args("seq --ops 3").is_err());
    }

    #[test]
    fn every_workload_round_trips_its_name() {
        for workload in Workload::ALL {
            assert_eq!(workload.name().parse::<Workload>(), Ok(workload));
        }
    }
}
