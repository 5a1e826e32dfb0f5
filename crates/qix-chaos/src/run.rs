//! Runs many scenarios in a row on one paused-clock runtime and checks that nothing
//! accumulates across them: no task outlives its scenario, memory does not grow with their
//! number, nothing panics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

use crate::scenario::{self, Outcome};

/// Which scenarios to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The first scenario's seed; scenario `k` has seed `seed + k`.
    pub seed: u64,
    /// How many scenarios.
    pub scenarios: u64,
    /// Print every scenario's trace, not only a failing one's.
    pub trace: bool,
}

impl Plan {
    /// The plan from `QIX_CHAOS_SEED` and `QIX_CHAOS_SCENARIOS`, each defaulting to the value
    /// given, and `QIX_CHAOS_TRACE` (set: print every trace). `cargo xtask chaos` sets them.
    pub fn from_env(seed: u64, scenarios: u64) -> Result<Plan, String> {
        let read = |name: &str, default: u64| match std::env::var(name) {
            Ok(text) => text
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{name}={text:?} is not a whole number")),
            Err(_) => Ok(default),
        };
        Ok(Plan {
            seed: read("QIX_CHAOS_SEED", seed)?,
            scenarios: read("QIX_CHAOS_SCENARIOS", scenarios)?,
            trace: std::env::var_os("QIX_CHAOS_TRACE").is_some(),
        })
    }
}

/// What a run that passed did.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Scenarios run.
    pub scenarios: u64,
    /// Operations made in all of them.
    pub operations: u64,
    /// Faults injected in all of them.
    pub faults: u64,
    /// How the operations ended, with counts.
    pub ends: BTreeMap<String, u64>,
    /// Virtual time, summed over the scenarios.
    pub elapsed: Duration,
    /// Resident memory after the first half of the scenarios and after all of them, in
    /// bytes, when the run was long enough to compare.
    pub memory: Option<(u64, u64)>,
}

/// Growth of resident memory allowed between the middle and the end of a run: what the
/// allocator may keep or fragment, far below what a leak of a session per scenario adds up
/// to over hundreds of scenarios.
const MEMORY_SLACK: u64 = 16 << 20;

/// How many scenarios a run needs before its memory is compared.
const MEMORY_MIN_SCENARIOS: u64 = 40;

static PANICS: AtomicUsize = AtomicUsize::new(0);
static HOOK: Once = Once::new();

/// Counts panics on any thread (a panic in a spawned task does not fail the test by itself),
/// still printing them as before.
fn count_panics() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// Resident memory of this process in bytes, from `/proc/self/statm` (Linux); `None`
/// elsewhere.
fn resident() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // The page size of every Linux target this project runs on.
    Some(pages * 4096)
}

/// Runs `plan` on a new current-thread runtime with a paused clock. Stops at the first
/// scenario that fails and describes it (its seed, what broke, its trace).
pub fn run(plan: Plan) -> Result<Summary, String> {
    count_panics();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|error| format!("no runtime: {error}"))?;
    runtime.block_on(run_all(plan))
}

async fn run_all(plan: Plan) -> Result<Summary, String> {
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    let mut summary = Summary::default();
    let half = plan.scenarios / 2;
    let mut middle = None;
    for k in 0..plan.scenarios {
        let seed = plan.seed.wrapping_add(k);
        let panics = PANICS.load(Ordering::SeqCst);
        let outcome = scenario::run(seed)
            .await
            .map_err(|violation| violation.to_string())?;
        if PANICS.load(Ordering::SeqCst) != panics {
            return Err(format!(
                "chaos scenario with seed {seed} panicked (see the panic message above)\n\
                 replay: cargo xtask chaos --seed {seed} --scenarios 1"
            ));
        }
        settle_tasks(baseline).await.map_err(|alive| {
            format!(
                "chaos scenario with seed {seed} left tasks behind: {alive} alive, {baseline} \
                 before the run\nreplay: cargo xtask chaos --seed {seed} --scenarios 1"
            )
        })?;
        if plan.trace {
            eprintln!("chaos scenario with seed {seed}:");
            for line in &outcome.trace {
                eprintln!("  {line}");
            }
        }
        add(&mut summary, outcome);
        if plan.scenarios >= MEMORY_MIN_SCENARIOS && k + 1 == half {
            middle = resident();
        }
    }
    if let (Some(middle), Some(end)) = (middle, resident()) {
        summary.memory = Some((middle, end));
        if end > middle + MEMORY_SLACK {
            return Err(format!(
                "resident memory grew from {} MiB after {half} scenarios to {} MiB after {}: \
                 more than {} MiB",
                middle >> 20,
                end >> 20,
                plan.scenarios,
                MEMORY_SLACK >> 20
            ));
        }
    }
    Ok(summary)
}

/// Waits, on the virtual clock, until no more tasks are alive than before the run. Aborted
/// tasks need a turn of the scheduler to go. The count still alive if they never do.
async fn settle_tasks(baseline: usize) -> Result<(), usize> {
    let metrics = tokio::runtime::Handle::current().metrics();
    for _ in 0..1000 {
        if metrics.num_alive_tasks() <= baseline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(metrics.num_alive_tasks())
}

fn add(summary: &mut Summary, outcome: Outcome) {
    summary.scenarios += 1;
    summary.operations += outcome.operations;
    summary.faults += outcome.faults;
    summary.elapsed += outcome.elapsed;
    for (kind, count) in outcome.ends {
        *summary.ends.entry(kind).or_default() += count;
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} scenarios, {} operations, {} faults, {:.0} s of virtual time",
            self.scenarios,
            self.operations,
            self.faults,
            self.elapsed.as_secs_f64()
        )?;
        if let Some((middle, end)) = self.memory {
            writeln!(
                f,
                "resident memory: {} KiB at the middle, {} KiB at the end",
                middle >> 10,
                end >> 10
            )?;
        }
        for (kind, count) in &self.ends {
            writeln!(f, "  {kind}: {count}")?;
        }
        Ok(())
    }
}
