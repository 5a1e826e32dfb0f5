//! Tests of the machine through its public API, driven against a fake engine in memory
//! (`harness`). They live under `src/` so that proptest files its regressions in the crate's
//! `proptest-regressions/` directory.

mod harness;
mod props;
mod rules;
