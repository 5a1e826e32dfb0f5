//! Project automation for qix contributors.
//!
//! `cargo xtask ci` runs every check a change must pass, in the order CI runs them, and stops at
//! the first one that fails. `cargo xtask proptest` runs the property tests with many more cases.
//! `cargo xtask bench` runs the side-by-side benchmark (see `bench.rs`).
//! `cargo xtask codegen` writes the typed engine API of `qix-api` from its vendored schema.
//! `cargo xtask chaos` and `cargo xtask fuzz` run the chaos scenarios and the fuzz targets.

// Nothing that came off the wire may be unwrapped; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod bench;
mod chaos;
mod checks;
mod fuzz;

use std::env;
use std::process::{Command, ExitCode};

mod codegen;

/// One step of a task: a name for the report and the cargo arguments that perform it.
struct Step {
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

const CI: &[Step] = &[
    Step {
        name: "format",
        args: &["fmt", "--all", "--check"],
        env: &[],
    },
    Step {
        name: "codegen freshness",
        args: &[
            "run",
            "--quiet",
            "--locked",
            "--package",
            "xtask",
            "--",
            "codegen",
            "--check",
        ],
        env: &[],
    },
    Step {
        name: "clippy",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        env: &[],
    },
    Step {
        name: "tests",
        args: &["test", "--workspace", "--locked"],
        // More random cases than a plain `cargo test`, still bounded for a 2-core machine.
        env: &[("PROPTEST_CASES", "2048")],
    },
    Step {
        name: "docs",
        args: &["doc", "--workspace", "--no-deps", "--locked"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
    },
    // The crates without their WebSocket/TLS stack (the steps above build default features).
    Step {
        name: "qix without default features",
        args: &["check", "-p", "qix", "--no-default-features", "--locked"],
        env: &[],
    },
    Step {
        name: "qix-transport without default features",
        args: &[
            "check",
            "-p",
            "qix-transport",
            "--no-default-features",
            "--locked",
        ],
        env: &[],
    },
    // The fuzz targets are a workspace of their own, which the steps above do not build; a
    // change to a type they use must not leave them broken until someone fuzzes.
    Step {
        name: "fuzz targets compile",
        args: &[
            "check",
            "--manifest-path",
            "fuzz/Cargo.toml",
            "--bins",
            "--locked",
        ],
        env: &[],
    },
    // Every published crate packages (README and LICENSE included). Not verified: that would
    // build each crate again from its package.
    Step {
        name: "package",
        args: &[
            "package",
            "--workspace",
            "--exclude",
            "xtask",
            "--exclude",
            "qix-integration-tests",
            "--no-verify",
            "--allow-dirty",
            "--locked",
        ],
        env: &[],
    },
];

/// CI checks that read cargo's output; they run after the steps of `ci`.
type Check = fn(&str) -> Result<String, String>;
const CI_CHECKS: &[(&str, Check)] = &[
    ("rust-version", checks::rust_version),
    (
        "no TLS without default features",
        checks::no_tls_without_default_features,
    ),
];

const PROPTEST: &[Step] = &[Step {
    name: "proptest (long)",
    args: &["test", "--workspace", "--locked", "--release", "proptest"],
    env: &[("PROPTEST_CASES", "50000")],
}];

/// A task that takes arguments of its own and runs its own commands.
type Task = fn(&str, &[String]) -> Result<String, String>;

fn main() -> ExitCode {
    let task = env::args().nth(1);
    let own: Option<Task> = match task.as_deref() {
        Some("chaos") => Some(chaos::run),
        Some("fuzz") => Some(fuzz::run),
        _ => None,
    };
    if let Some(own) = own {
        let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let args: Vec<String> = env::args().skip(2).collect();
        return match own(&cargo, &args) {
            Ok(report) => {
                eprintln!("xtask: {report}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("xtask: {message}");
                ExitCode::FAILURE
            }
        };
    }
    let steps = match task.as_deref() {
        Some("ci") => CI,
        Some("proptest") => PROPTEST,
        Some("bench") => return bench::run(&env::args().skip(2).collect::<Vec<_>>()),
        Some("codegen") => return codegen::run(env::args().nth(2).as_deref() == Some("--check")),
        _ => {
            eprintln!("usage: cargo xtask <task>\n");
            eprintln!("tasks:");
            eprintln!(
                "  ci        fmt --check, clippy -D warnings, all tests, docs -D warnings, builds \
                 without default features, package, rust-version against the lock"
            );
            eprintln!("  proptest  the property tests with 50,000 cases each (release build)");
            eprintln!(
                "  bench     raw vs qix vs enigma.js, side by side (`cargo xtask bench --help`)"
            );
            eprintln!("  codegen   write qix-api's typed engine API from its schema (--check: compare only)");
            eprintln!(
                "  chaos     [--seed S] [--scenarios N] [--trace] the chaos scenarios (release \
                 build); a failure prints the seed that replays it"
            );
            eprintln!(
                "  fuzz      [--seconds N] [--target T] each fuzz target for N seconds, one at \
                 a time (needs cargo-fuzz)"
            );
            return ExitCode::from(2);
        }
    };
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    for step in steps {
        eprintln!("xtask: {} (cargo {})", step.name, step.args.join(" "));
        let mut command = Command::new(&cargo);
        // From the workspace root, wherever `cargo xtask` was run: some steps name paths.
        if let Some(root) = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent() {
            command.current_dir(root);
        }
        command.args(step.args);
        for (key, value) in step.env {
            command.env(key, value);
        }
        match command.status() {
            Ok(status) if status.success() => {}
            Ok(status) => {
                eprintln!("xtask: step `{}` failed ({status})", step.name);
                return ExitCode::FAILURE;
            }
            Err(error) => {
                eprintln!("xtask: step `{}` could not start cargo: {error}", step.name);
                return ExitCode::FAILURE;
            }
        }
    }
    if task.as_deref() == Some("ci") {
        for (name, check) in CI_CHECKS {
            eprintln!("xtask: {name}");
            match check(&cargo) {
                Ok(report) => eprintln!("xtask: {report}"),
                Err(message) => {
                    eprintln!("xtask: step `{name}` failed: {message}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    eprintln!("xtask: all {} steps passed", steps.len());
    ExitCode::SUCCESS
}
