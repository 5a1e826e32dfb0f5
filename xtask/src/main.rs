//! Project automation for qix contributors.
//!
//! `cargo xtask ci` runs every check a change must pass, in the order CI runs them, and stops at
//! the first one that fails. `cargo xtask proptest` runs the property tests with many more cases.
//! `cargo xtask codegen` writes the typed engine API of `qix-api` from its vendored schema.

// Nothing that came off the wire may be unwrapped; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

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
];

const PROPTEST: &[Step] = &[Step {
    name: "proptest (long)",
    args: &["test", "--workspace", "--locked", "--release", "proptest"],
    env: &[("PROPTEST_CASES", "50000")],
}];

const BENCH: &[Step] = &[Step {
    name: "bench",
    args: &["bench", "--workspace", "--locked"],
    env: &[],
}];

fn main() -> ExitCode {
    let task = env::args().nth(1);
    let steps = match task.as_deref() {
        Some("ci") => CI,
        Some("proptest") => PROPTEST,
        Some("bench") => BENCH,
        Some("codegen") => return codegen::run(env::args().nth(2).as_deref() == Some("--check")),
        _ => {
            eprintln!("usage: cargo xtask <task>\n");
            eprintln!("tasks:");
            eprintln!("  ci        fmt --check, clippy -D warnings, all tests, docs -D warnings");
            eprintln!("  proptest  the property tests with 50,000 cases each (release build)");
            eprintln!("  bench     the benchmarks");
            eprintln!("  codegen   write qix-api's typed engine API from its schema (--check: compare only)");
            return ExitCode::from(2);
        }
    };
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    for step in steps {
        eprintln!("xtask: {} (cargo {})", step.name, step.args.join(" "));
        let mut command = Command::new(&cargo);
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
    eprintln!("xtask: all {} steps passed", steps.len());
    ExitCode::SUCCESS
}
