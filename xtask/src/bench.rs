//! `cargo xtask bench`: the side-by-side benchmark. One run builds `qix-bench` in release,
//! starts its engine (`bench-server`), runs every client on every workload as a process of its
//! own (so its CPU time and memory are its own), repeats that with the order of the clients
//! rotated, and prints medians with min and max and the ratios qix/raw and qix/enigma.js; the
//! same goes to `target/bench/results.json`.
//!
//! The clients: `raw` (a bare tokio-tungstenite loop, the ceiling), `qix` (its public API) and
//! `enigma.js` (bench/node/, installed into target/bench-node/ on first use; skipped, with the
//! reason, when node or npm is missing or the install fails).

mod process;
mod report;
mod specs;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::thread;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use process::{pin_self, raise_nofile, setup_node, Run, Server};
use report::Results;
pub(crate) use specs::{Spec, SPECS};
/// A client column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Client {
    Raw,
    Qix,
    Enigma,
}

impl Client {
    const ALL: [Client; 3] = [Client::Raw, Client::Qix, Client::Enigma];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Qix => "qix",
            Self::Enigma => "enigma.js",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|client| client.name() == name || (name == "enigma" && *client == Self::Enigma))
    }
}
/// File descriptors a client needs beyond one per session (stdio, epoll, the runtime's own).
const SPARE_FDS: u64 = 100;
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) quick: bool,
    pub(crate) reps: usize,
    pub(crate) pin: bool,
    only: Vec<String>,
    clients: Vec<Client>,
}

const USAGE: &str = "\
usage: cargo xtask bench [options]

  --quick             few iterations: a smoke run of every cell (about a minute)
  --reps N            repetitions, the client order rotated each time (default 3)
  --only W[,W..]      only these workloads (a prefix works: `idle`, `big`):
                      seq inflight tasks8 big-value big-raw idle-1k idle-10k suspend traffic
                      patch layout-full layout-unchanged layout-off
  --clients C[,C..]   only these clients: raw qix enigma.js (default all)
  --pin / --no-pin    run the server and the clients on one CPU (default), or let the
                      scheduler place them

The table goes to stdout, progress to stderr, everything to target/bench/results.json.
The crates' own micro-benchmarks are apart: cargo bench --workspace.";

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Self {
            quick: false,
            reps: 3,
            pin: true,
            only: Vec::new(),
            clients: Client::ALL.to_vec(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .cloned()
                    .ok_or_else(|| format!("`{arg}` needs a value"))
            };
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--pin" => options.pin = true,
                "--no-pin" => options.pin = false,
                "--reps" => {
                    let text = value()?;
                    options.reps =
                        text.parse().ok().filter(|reps| *reps > 0).ok_or_else(|| {
                            format!("`--reps` takes a number above 0, not `{text}`")
                        })?;
                }
                "--only" => {
                    for name in value()?.split(',').filter(|name| !name.is_empty()) {
                        if !SPECS.iter().any(|spec| spec.id.starts_with(name)) {
                            return Err(format!("no workload is called `{name}`"));
                        }
                        options.only.push(name.to_owned());
                    }
                }
                "--clients" => {
                    options.clients = value()?
                        .split(',')
                        .map(|name| {
                            Client::parse(name)
                                .ok_or_else(|| format!("no client is called `{name}`"))
                        })
                        .collect::<Result<_, _>>()?;
                }
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown option `{other}`")),
            }
        }
        Ok(options)
    }

    pub(crate) fn selected(&self, spec: &Spec) -> bool {
        self.only.is_empty()
            || self
                .only
                .iter()
                .any(|name| spec.id.starts_with(name.as_str()))
    }
}
/// The paths a run uses.
pub(crate) struct Paths {
    pub(crate) root: PathBuf,
    pub(crate) release: PathBuf,
    pub(crate) node_dir: PathBuf,
    pub(crate) out_dir: PathBuf,
}

impl Paths {
    fn new() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|dir| {
                if dir.is_relative() {
                    root.join(dir)
                } else {
                    dir
                }
            })
            .unwrap_or_else(|| root.join("target"));
        Self {
            release: target.join("release"),
            node_dir: target.join("bench-node"),
            out_dir: target.join("bench"),
            root,
        }
    }
}
pub(crate) fn run(args: &[String]) -> ExitCode {
    let options = match Options::parse(args) {
        Ok(options) => options,
        Err(error) => {
            if !error.is_empty() {
                eprintln!("xtask bench: {error}\n");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match bench(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn bench(options: &Options) -> Result<(), String> {
    let started = Instant::now();
    let paths = Paths::new();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask bench: building qix-bench (release)");
    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "qix-bench",
            "--bins",
        ])
        .current_dir(&paths.root)
        .status()
        .map_err(|error| format!("could not start cargo: {error}"))?;
    if !status.success() {
        return Err(format!("the release build failed ({status})"));
    }
    let build_secs = started.elapsed().as_secs_f64();

    let nofile = raise_nofile();
    let mut notes = Vec::new();
    let enigma = if options.clients.contains(&Client::Enigma) {
        match setup_node(&paths) {
            Ok(node) => Some(node),
            Err(why) => {
                let note = format!("enigma.js column skipped: {why}");
                eprintln!("xtask bench: {note}");
                notes.push(note);
                None
            }
        }
    } else {
        None
    };
    let cpus = thread::available_parallelism().map_or(0, usize::from);
    let load_before = load_average();
    // Pinning this process before starting anything pins the server and every client with it
    // (children inherit the affinity); the build above used every CPU.
    let cpu = if options.pin { pin_self()? } else { None };

    let mut server = Server::start(&paths.release.join("bench-server"))?;
    let announce = server.announce.clone();
    eprintln!(
        "xtask bench: engine on port {} (pid {}){}",
        server.port,
        server.pid,
        cpu.map_or_else(String::new, |cpu| format!(
            ", everything pinned to CPU {cpu}"
        ))
    );
    let url = format!("ws://127.0.0.1:{}/app/engineData", server.port);

    let mut results = Results::new(options);
    for spec in SPECS.iter().filter(|spec| options.selected(spec)) {
        let ops = spec.ops[usize::from(options.quick)];
        let limit = nofile.min(announce["nofile"].as_u64().unwrap_or(nofile));
        if spec.workload == "idle" && limit < ops as u64 + SPARE_FDS {
            let note = format!(
                "{} skipped: RLIMIT_NOFILE can only be raised to {limit}, {ops} sessions need {}",
                spec.id,
                ops as u64 + SPARE_FDS
            );
            eprintln!("xtask bench: {note}");
            notes.push(note);
            results.skip(spec.id);
        }
    }
    let clients: Vec<Client> = Client::ALL
        .into_iter()
        .filter(|client| options.clients.contains(client))
        .filter(|client| *client != Client::Enigma || enigma.is_some())
        .collect();
    let mut engine_died = None;
    'reps: for rep in 0..options.reps {
        for spec in SPECS.iter().filter(|spec| options.selected(spec)) {
            if results.skipped(spec.id) {
                continue;
            }
            let mut order: Vec<Client> = clients
                .iter()
                .copied()
                .filter(|client| spec.clients.contains(client))
                .collect();
            if !order.is_empty() {
                let shift = rep % order.len();
                order.rotate_left(shift);
            }
            for client in order {
                let run = Run {
                    paths: &paths,
                    client,
                    spec,
                    ops: spec.ops[usize::from(options.quick)],
                    warmup: spec.warmup[usize::from(options.quick)],
                    url: &url,
                    server: &announce,
                    enigma: enigma.as_ref(),
                };
                let outcome = run.run();
                match &outcome {
                    Ok(metrics) => eprintln!(
                        "xtask bench: rep {}/{} {:<9} {:<9} {}",
                        rep + 1,
                        options.reps,
                        spec.id,
                        client.name(),
                        report::headline(spec, metrics)
                    ),
                    Err(error) => eprintln!(
                        "xtask bench: rep {}/{} {:<9} {:<9} FAILED: {error}",
                        rep + 1,
                        options.reps,
                        spec.id,
                        client.name()
                    ),
                }
                results.record(spec.id, client, outcome);
                // A dead engine fails every cell after it: stop, and report what was measured.
                if let Err(error) = server.alive() {
                    eprintln!("xtask bench: {error}; stopping");
                    notes.push(error.clone());
                    engine_died = Some(error);
                    break 'reps;
                }
            }
        }
    }
    server.stop();

    let total_secs = started.elapsed().as_secs_f64();
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let context = json!({
        "finished_unix": unix,
        "build_s": build_secs,
        "duration_s": total_secs,
        "options": {
            "reps": options.reps,
            "quick": options.quick,
            "pinned_cpu": cpu,
            "clients": clients.iter().map(|client| client.name()).collect::<Vec<_>>(),
        },
        "machine": {
            "cpus": cpus,
            // Other work on the machine slows calls/s more than it moves CPU per call.
            "load_average": [load_before, load_average()],
            "nofile": nofile,
            "node": enigma.as_ref().map(|node| node.node_version.clone()),
            "enigma.js": enigma.as_ref().map(|node| node.enigma_version.clone()),
        },
        "server": announce,
        "notes": notes,
    });
    print!("{}", results.table(&context));
    fs::create_dir_all(&paths.out_dir)
        .map_err(|error| format!("could not create {}: {error}", paths.out_dir.display()))?;
    let file = paths.out_dir.join("results.json");
    let text = serde_json::to_string_pretty(&results.json(context))
        .map_err(|error| format!("could not write the results: {error}"))?;
    fs::write(&file, text + "\n")
        .map_err(|error| format!("could not write {}: {error}", file.display()))?;
    eprintln!(
        "xtask bench: done in {total_secs:.0} s ({build_secs:.0} s of it building); results in {}",
        file.display()
    );
    if let Some(error) = engine_died {
        return Err(error);
    }
    if results.failures() > 0 {
        return Err(format!("{} cell(s) failed; see above", results.failures()));
    }
    Ok(())
}
/// The 1-minute load average, when the system tells it.
fn load_average() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Options, String> {
        let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        Options::parse(&args)
    }

    #[test]
    fn options_default_to_three_pinned_reps_of_everything() {
        let options = parse("").unwrap();
        assert_eq!((options.reps, options.pin, options.quick), (3, true, false));
        assert!(SPECS.iter().all(|spec| options.selected(spec)));
    }

    #[test]
    fn only_takes_names_and_prefixes() {
        let options = parse("--only idle,seq --no-pin --reps 5 --clients qix,enigma").unwrap();
        let chosen: Vec<&str> = SPECS
            .iter()
            .filter(|spec| options.selected(spec))
            .map(|spec| spec.id)
            .collect();
        assert_eq!(chosen, ["seq", "idle-1k", "idle-10k"]);
        assert_eq!((options.reps, options.pin), (5, false));
        assert_eq!(options.clients, [Client::Qix, Client::Enigma]);
    }

    #[test]
    fn bad_options_are_refused() {
        for line in [
            "--only nothing",
            "--reps 0",
            "--reps",
            "--clients rust",
            "--fast",
        ] {
            assert!(parse(line).is_err(), "{line}");
        }
    }

    #[test]
    fn every_figure_of_every_workload_has_a_label() {
        for spec in SPECS {
            for metric in spec.metrics {
                assert!(report::label(metric, spec.unit).is_some(), "{metric}");
            }
        }
    }
}
