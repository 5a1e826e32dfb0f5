//! `cargo xtask fuzz --seconds N [--target T]`: each fuzz target of `fuzz/` for N seconds, one
//! after the other (they would compete for the cores), with cargo fuzz (libFuzzer).
//!
//! cargo fuzz needs nightly flags (`-Z sanitizer=address`); with no nightly toolchain on the
//! machine, `RUSTC_BOOTSTRAP=1` lets the stable compiler take them. Install the tool with
//! `cargo install cargo-fuzz`.

use std::path::Path;
use std::process::Command;

/// The targets in `fuzz/Cargo.toml`.
const TARGETS: &[&str] = &["rpc", "session", "transport"];

pub(crate) fn run(cargo: &str, args: &[String]) -> Result<String, String> {
    let mut seconds: u64 = 60;
    let mut only: Option<String> = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|value| value.parse().ok())
                    .ok_or("--seconds takes a whole number")?;
            }
            "--target" => only = Some(args.next().ok_or("--target takes a name")?.clone()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("xtask has no parent directory")?;
    let fuzz = root.join("fuzz");
    let targets: Vec<&str> = match &only {
        Some(name) if TARGETS.contains(&name.as_str()) => vec![name.as_str()],
        Some(name) => return Err(format!("no fuzz target {name:?}; known: {TARGETS:?}")),
        None => TARGETS.to_vec(),
    };
    for target in &targets {
        eprintln!("xtask: fuzz {target} for {seconds} s");
        let status = Command::new(cargo)
            .current_dir(&fuzz)
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", target, "--", "-print_final_stats=1"])
            .arg(format!("-max_total_time={seconds}"))
            .status()
            .map_err(|error| format!("could not start cargo fuzz: {error}"))?;
        if !status.success() {
            return Err(format!(
                "fuzz target {target} failed ({status}); the input that broke it is in \
                 fuzz/artifacts/{target}/ (replay: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run \
                 {target} <file>)"
            ));
        }
    }
    Ok(format!(
        "{} fuzz targets ran {seconds} s each with no crash",
        targets.len()
    ))
}
