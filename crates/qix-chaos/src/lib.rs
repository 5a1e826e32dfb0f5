//! Chaos testing for qix: a TCP proxy that injects faults between a client and qix-mock
//! ([`Proxy`]), and seeded scenarios that drive several sessions through suspends, resumes,
//! closes, notifications, automatic resume and broken links on tokio's paused clock
//! ([`scenario`], [`run`]).
//!
//! Each scenario asserts that every call and command settles once, within the bound its
//! settings give it, with a result or an error allowed for it; that lifecycle events follow
//! the rules of `docs/behaviour.md` (no `resumed` without `suspended` before it, nothing after
//! `closed` but a new `opened`); that nothing panics; and, across scenarios, that tasks and
//! memory do not grow with their number.
//!
//! `cargo test -p qix-chaos` runs a few hundred scenarios; `cargo xtask chaos --seed S
//! --scenarios N` runs any number, and a failure prints the seed that replays it.

// Nothing that came off the wire may be unwrapped; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod proxy;
mod rules;
pub mod run;
pub mod scenario;

pub use proxy::{Close, Direction, Proxy, RandomFaults};
pub use run::{Plan, Summary};
pub use scenario::{Outcome, Violation};
