//! The chaos run: many seeded scenarios against qix-mock through the fault proxy (see the
//! crate docs for what each asserts). `QIX_CHAOS_SEED` and `QIX_CHAOS_SCENARIOS` change the
//! run; `cargo xtask chaos` sets them.

/// The seed of the default run, fixed so that `cargo test` is repeatable.
const SEED: u64 = 0x5eed_c4a0_5000;

/// Enough scenarios to meet every fault many times, in well under a minute on two cores
/// (about ten seconds in a debug build).
const SCENARIOS: u64 = 500;

#[test]
fn chaos_scenarios_settle_every_call_and_keep_the_event_rules() {
    let plan = qix_chaos::Plan::from_env(SEED, SCENARIOS).expect("a valid plan");
    eprintln!(
        "chaos: {} scenarios from seed {}",
        plan.scenarios, plan.seed
    );
    let started = std::time::Instant::now();
    match qix_chaos::run::run(plan) {
        Ok(summary) => eprintln!(
            "chaos: passed in {:.1} s of real time\n{summary}",
            started.elapsed().as_secs_f64()
        ),
        Err(failure) => panic!("{failure}"),
    }
}
