//! `cargo xtask chaos [--seed S] [--scenarios N] [--trace]`: the chaos scenarios of
//! `crates/qix-chaos` (a release build), as many as asked for. A failure prints the seed of the
//! scenario that failed; `--seed <it> --scenarios 1 --trace` replays it with its whole trace.

use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub(crate) fn run(cargo: &str, args: &[String]) -> Result<String, String> {
    let mut seed: Option<u64> = None;
    let mut scenarios: u64 = 1000;
    let mut trace = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut number = |name: &str| {
            args.next()
                .and_then(|value| value.parse::<u64>().ok())
                .ok_or(format!("{name} takes a whole number"))
        };
        match arg.as_str() {
            "--seed" => seed = Some(number("--seed")?),
            "--scenarios" => scenarios = number("--scenarios")?,
            "--trace" => trace = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    // A new seed each run unless one is given: it is printed, so any failure can be replayed.
    let seed = seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64)
    });
    eprintln!("xtask: chaos, {scenarios} scenarios from seed {seed}");
    let started = Instant::now();
    let mut command = Command::new(cargo);
    command
        .args([
            "test",
            "-p",
            "qix-chaos",
            "--release",
            "--locked",
            "--test",
            "chaos",
            "--",
            "--nocapture",
        ])
        .env("QIX_CHAOS_SEED", seed.to_string())
        .env("QIX_CHAOS_SCENARIOS", scenarios.to_string());
    if trace {
        command.env("QIX_CHAOS_TRACE", "1");
    }
    let status = command
        .status()
        .map_err(|error| format!("could not start cargo: {error}"))?;
    if !status.success() {
        return Err(format!(
            "chaos failed ({status}); the seed to replay is above"
        ));
    }
    Ok(format!(
        "{scenarios} chaos scenarios from seed {seed} passed in {:.0} s (build included)",
        started.elapsed().as_secs_f64()
    ))
}
