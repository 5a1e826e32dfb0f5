//! The side-by-side benchmark that `cargo xtask bench` runs: a minimal engine (`bench-server`)
//! and the clients it measures, each a process of its own so that its CPU time and memory are
//! its own: `bench-raw` (a bare tokio-tungstenite loop, the ceiling), `bench-qix` (qix's public
//! API as a user calls it) and, apart, an enigma.js script under `bench/node/`.
//!
//! A client is run as `bench-<client> <workload> --url <ws url> --ops N [--warmup N]
//! [--server-pid PID]` and prints one JSON line ([`Report`]) on stdout. What is shared between
//! the binaries lives here: the wire text ([`engine`]), the measurement ([`probe`]), the
//! command line ([`cli`]).

// Nothing that came off the wire may be unwrapped; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod cli;
pub mod engine;
pub mod probe;

pub use cli::{ClientArgs, Workload};
pub use probe::{Probe, Report, Span};

/// What a client fails with: any error, described for the person running the suite.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Raises this process's open-file limit to its hard limit (10,000 idle sessions need as many
/// sockets) and returns the soft limit now in force.
pub fn raise_nofile() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(_) => soft,
        },
        Ok((soft, _)) => soft,
        Err(_) => 0,
    }
}

/// The `main` of a Rust client: reads the command line, runs the workload, prints the report
/// line (or the error, with a failing exit status).
pub fn client_main(
    client: &'static str,
    run: impl FnOnce(&ClientArgs) -> Result<Report, BoxError>,
) -> std::process::ExitCode {
    use std::io::Write as _;
    let args = match ClientArgs::from_env() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("bench-{client}: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    raise_nofile();
    match run(&args) {
        Ok(report) => {
            let mut stdout = std::io::stdout();
            let _ = writeln!(stdout, "{}", report.to_line());
            let _ = stdout.flush();
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bench-{client} {}: {error}", args.workload);
            std::process::ExitCode::FAILURE
        }
    }
}

/// How long an idle workload waits after the last open before reading memory, so that every
/// session has taken its `OnConnected` and is at rest.
pub const SETTLE: std::time::Duration = std::time::Duration::from_millis(300);
