//! One seeded scenario: a mock engine behind a fault proxy, several sessions with callers of
//! their own, and a conductor that suspends, resumes, closes, notifies and breaks the link,
//! all on tokio's paused clock. Everything random comes from the seed.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use qix::{AutoResume, Backoff, Error, Liveness, Object, Session, State};
use qix_mock::{MockConfig, MockConnection, MockEngine, OnConnected};
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::proxy::{Close, Direction, Proxy, RandomFaults};
use crate::rules::{self, Bounds, Lifecycle, Op, Timing};

/// What a scenario that passed did, summed up.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Operations made (calls and lifecycle commands).
    pub operations: u64,
    /// Faults injected by the conductor.
    pub faults: u64,
    /// How each operation ended: `ok`, or the error's kind, with counts.
    pub ends: BTreeMap<String, u64>,
    /// Virtual time the scenario took.
    pub elapsed: Duration,
    /// What happened, with virtual times (as in a [`Violation`]).
    pub trace: Vec<String>,
}

/// A scenario that broke a rule: what was wrong and the trace of what happened.
#[derive(Debug)]
pub struct Violation {
    /// The scenario's seed: `cargo xtask chaos --seed <seed> --scenarios 1` replays it.
    pub seed: u64,
    /// Every rule broken, in the order found.
    pub problems: Vec<String>,
    /// What happened, with virtual times.
    pub trace: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "chaos scenario with seed {} failed:", self.seed)?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        writeln!(f, "trace ({} lines):", self.trace.len())?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        write!(
            f,
            "replay: cargo xtask chaos --seed {} --scenarios 1",
            self.seed
        )
    }
}

/// A whole scenario may take this long on the virtual clock; past it, something hung.
const SCENARIO_BOUND: Duration = Duration::from_secs(3600);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What every task of a scenario shares.
struct Ctx {
    start: Instant,
    trace: Mutex<Vec<String>>,
    problems: Mutex<Vec<String>>,
    ends: Mutex<BTreeMap<String, u64>>,
    operations: AtomicU64,
    faults: AtomicU64,
    /// Bytes were flipped on the wire: answers and requests may have become anything.
    corrupt: AtomicBool,
    /// Numbers the notifications carry, unique in the scenario.
    notes: AtomicU64,
    /// Object ids for `CreateObject`, unique in the scenario.
    ids: AtomicU64,
}

impl Ctx {
    fn log(&self, who: &str, what: impl std::fmt::Display) {
        let at = self.start.elapsed();
        lock(&self.trace).push(format!("{:>9.3}s {who}: {what}", at.as_secs_f64()));
    }

    fn problem(&self, who: &str, what: String) {
        self.log(who, format!("VIOLATION {what}"));
        lock(&self.problems).push(format!("{who}: {what}"));
    }

    fn end(&self, kind: &str) {
        *lock(&self.ends).entry(kind.to_owned()).or_default() += 1;
    }

    fn corrupt(&self) -> bool {
        self.corrupt.load(Ordering::SeqCst)
    }
}

/// One session of the scenario, with the objects its callers made.
struct Slot {
    name: String,
    session: Session,
    bounds: Bounds,
    objects: Mutex<Objects>,
}

#[derive(Default)]
struct Objects {
    global: Option<Object>,
    doc: Option<Object>,
    others: Vec<Object>,
}

/// The kind of an error, for the counts.
fn kind(error: &Error) -> String {
    let text = format!("{error:?}");
    let name: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    match error {
        Error::NotConnected { reason, .. } => format!("NotConnected({reason:?})"),
        Error::InvalidState { operation, .. } => format!("InvalidState({operation})"),
        Error::Engine(engine) => format!("Engine({})", engine.code),
        _ => name,
    }
}

impl Slot {
    /// Runs `op` within its bound and checks how it ended; the value when it succeeded.
    async fn check<T>(
        &self,
        ctx: &Ctx,
        who: &str,
        op: Op,
        future: impl Future<Output = Result<T, Error>>,
    ) -> Option<T> {
        let bound = match op {
            Op::Open => self.bounds.open,
            Op::Suspend => self.bounds.suspend,
            Op::Resume => self.bounds.resume,
            Op::Close => self.bounds.close,
            Op::Call(_) | Op::CallObject(_) => self.bounds.call,
        };
        ctx.operations.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let Ok(result) = tokio::time::timeout(bound, future).await else {
            ctx.problem(
                who,
                format!("{} did not settle within {bound:?}", op.name()),
            );
            ctx.end("unsettled");
            return None;
        };
        let took = started.elapsed();
        match result {
            Ok(value) => {
                ctx.log(who, format!("{} ok after {took:?}", op.name()));
                ctx.end("ok");
                Some(value)
            }
            Err(error) => {
                ctx.log(who, format!("{} failed after {took:?}: {error}", op.name()));
                ctx.end(&kind(&error));
                if !rules::allowed(op, &error, ctx.corrupt()) {
                    ctx.problem(who, format!("{} ended with {error:?}", op.name()));
                }
                None
            }
        }
    }

    async fn open(&self, ctx: &Ctx, who: &str) {
        if let Some(global) = self.check(ctx, who, Op::Open, self.session.open()).await {
            if !rules::object_fits("open", &global) {
                ctx.problem(who, format!("open returned {global:?}"));
            }
            lock(&self.objects).global = Some(global);
        }
    }

    async fn call(&self, ctx: &Ctx, who: &str, object: &Object, method: &'static str) {
        let params = match method {
            "SetProperties" => {
                json!([{"qInfo": {"qType": "chaos"}, "v": ctx.notes.load(Ordering::Relaxed)}])
            }
            _ => json!([]),
        };
        let op = Op::Call(method);
        if let Some(result) = self.check(ctx, who, op, object.call(method, params)).await {
            if !ctx.corrupt() && !rules::result_fits(method, &result) {
                ctx.problem(who, format!("{method} answered {result}"));
            }
        }
    }

    async fn call_object(
        &self,
        ctx: &Ctx,
        who: &str,
        on: &Object,
        method: &'static str,
        params: serde_json::Value,
    ) -> Option<Object> {
        let op = Op::CallObject(method);
        let object = self
            .check(ctx, who, op, on.call_object(method, params))
            .await?;
        if !ctx.corrupt() && !rules::object_fits(method, &object) {
            ctx.problem(who, format!("{method} returned {object:?}"));
        }
        Some(object)
    }
}

/// Runs the scenario of `seed` to its end, on the current (paused-clock) runtime.
pub async fn run(seed: u64) -> Result<Outcome, Violation> {
    let ctx = Arc::new(Ctx {
        start: Instant::now(),
        trace: Mutex::new(Vec::new()),
        problems: Mutex::new(Vec::new()),
        ends: Mutex::new(BTreeMap::new()),
        operations: AtomicU64::new(0),
        faults: AtomicU64::new(0),
        corrupt: AtomicBool::new(false),
        notes: AtomicU64::new(0),
        ids: AtomicU64::new(0),
    });
    let finished = tokio::time::timeout(SCENARIO_BOUND, play(seed, ctx.clone())).await;
    if finished.is_err() {
        ctx.problem(
            "scenario",
            format!("did not finish within {SCENARIO_BOUND:?}"),
        );
    }
    let problems = std::mem::take(&mut *lock(&ctx.problems));
    let trace = std::mem::take(&mut *lock(&ctx.trace));
    if !problems.is_empty() {
        return Err(Violation {
            seed,
            problems,
            trace,
        });
    }
    let ends = std::mem::take(&mut *lock(&ctx.ends));
    Ok(Outcome {
        operations: ctx.operations.load(Ordering::Relaxed),
        faults: ctx.faults.load(Ordering::Relaxed),
        ends,
        elapsed: ctx.start.elapsed(),
        trace,
    })
}

/// A session's settings, drawn from the scenario's generator.
fn build(
    ctx: &Ctx,
    rng: &mut fastrand::Rng,
    index: usize,
    proxy: &Proxy,
    callers: usize,
) -> (Slot, bool) {
    let mut timing = Timing {
        request_timeout: Duration::from_millis(rng.u64(500..=8_000)),
        liveness_interval: Duration::from_millis(rng.u64(1_000..=20_000)),
        liveness_timeout: Duration::from_millis(rng.u64(500..=10_000)),
        connect_timeout: Duration::from_millis(rng.u64(1_000..=5_000)),
        close_timeout: Duration::from_millis(rng.u64(500..=5_000)),
        resume_timeout: Duration::from_millis(rng.u64(2_000..=15_000)),
        // Small windows too: cancels and probes once held places in them with no deadline
        // (tests/known_bugs.rs), fixed since; the scenarios keep meeting that case.
        max_in_flight: match rng.usize(1..=3) {
            small if rng.u8(0..4) == 0 => small,
            _ => 1024,
        },
        callers,
        on_connected_timeout: Duration::ZERO, // drawn below, where it always was
    };
    let mut liveness = Liveness::default();
    liveness.interval = timing.liveness_interval;
    liveness.timeout = timing.liveness_timeout;
    liveness.idle = rng.u8(0..4) == 0;
    let suspend_on_close = rng.u8(0..10) < 7;
    let auto = suspend_on_close && rng.bool();
    // Sessions with a TTL can re-attach; those without get a fresh engine session.
    let ttl = if rng.bool() { 30 } else { 0 };
    let url = proxy.url(&format!("/app/chaos.qvf/identity/s{index}/ttl/{ttl}"));
    timing.on_connected_timeout = Duration::from_millis(rng.u64(200..=2_000));
    let mut builder = Session::builder(url)
        .suspend_on_close(suspend_on_close)
        .request_timeout(timing.request_timeout)
        .liveness(Some(liveness))
        .connect_timeout(timing.connect_timeout)
        .close_timeout(timing.close_timeout)
        .resume_timeout(timing.resume_timeout)
        .on_connected_timeout(timing.on_connected_timeout)
        .max_in_flight(timing.max_in_flight)
        .event_capacity(4096);
    if auto {
        let mut policy = AutoResume::default();
        // Fixed delays: the default's jitter is seeded per process, which a replay could not
        // repeat.
        policy.backoff = Backoff::Delays(vec![
            Duration::from_millis(rng.u64(0..=2_000)),
            Duration::from_millis(rng.u64(0..=5_000)),
        ]);
        policy.max_attempts = rng.u32(1..=4);
        policy.only_if_attached = rng.u8(0..4) != 0;
        policy.restore_if_not_attached = rng.bool();
        builder = builder.auto_resume(policy);
    }
    let session = builder.build().expect("the scenario's settings are valid");
    ctx.log(
        &format!("s{index}"),
        format!(
            "{callers} callers, ttl {ttl}, suspend_on_close {suspend_on_close}, auto_resume \
             {auto}, {timing:?}, idle probe {}",
            liveness.idle
        ),
    );
    let slot = Slot {
        name: format!("s{index}"),
        session,
        bounds: Bounds::new(&timing),
        objects: Mutex::new(Objects::default()),
    };
    (slot, auto)
}

async fn play(seed: u64, ctx: Arc<Ctx>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let on_connected = match rng.u8(0..6) {
        0 => OnConnected::Delay(Duration::from_millis(rng.u64(0..=3_000))),
        1 => OnConnected::Omit,
        _ => OnConnected::Send,
    };
    // Each scenario opens dozens of connections, and each closed one holds its port for a
    // minute (TIME_WAIT): thousands of scenarios on one address would use up its ports. The
    // seed picks one of 250 loopback addresses, the same again on a replay.
    let host = IpAddr::V4(Ipv4Addr::new(127, 0, 1, (seed % 250) as u8 + 1));
    let config = MockConfig::new()
        .on_connected(on_connected)
        .bind(SocketAddr::new(host, 0));
    let engine = MockEngine::start_with(config)
        .await
        .expect("the mock engine starts");
    let proxy = Proxy::start_on(host, engine.addr())
        .await
        .expect("the proxy starts");
    let engine = Arc::new(engine);
    let connections: Arc<Mutex<Vec<MockConnection>>> = Arc::default();
    let collector = tokio::spawn({
        let engine = engine.clone();
        let connections = connections.clone();
        async move {
            loop {
                let connection = engine.next_connection().await;
                let mut known = lock(&connections);
                known.retain(MockConnection::is_open);
                known.push(connection);
            }
        }
    });
    let sessions = rng.usize(2..=4);
    let mut slots = Vec::new();
    let mut watchers = JoinSet::new();
    for index in 0..sessions {
        let callers = rng.usize(1..=3);
        let (slot, auto) = build(&ctx, &mut rng, index, &proxy, callers);
        let mut topics = vec![
            "opened",
            "closed",
            "suspended",
            "resumed",
            "resuming",
            "resume-failed",
            "notification:*",
            "socket-error",
        ];
        if std::env::var_os("QIX_CHAOS_TRAFFIC").is_some() {
            topics.push("traffic:*");
        }
        let events = slot.session.subscribe_many(topics).expect("known topics");
        watchers.spawn(watch(ctx.clone(), slot.name.clone(), events, auto));
        slots.push((Arc::new(slot), callers));
    }
    ctx.log("scenario", format!("seed {seed}, {sessions} sessions"));
    let mut actors = JoinSet::new();
    for (slot, callers) in &slots {
        for caller in 0..*callers {
            let who = format!("{}/c{caller}", slot.name);
            actors.spawn(call_loop(ctx.clone(), slot.clone(), who, rng.u64(..)));
        }
    }
    let slots: Vec<Arc<Slot>> = slots.into_iter().map(|(slot, _)| slot).collect();
    let proxy = Arc::new(proxy);
    actors.spawn(conduct(
        ctx.clone(),
        slots.clone(),
        proxy.clone(),
        engine.clone(),
        connections.clone(),
        rng.u64(..),
    ));
    while let Some(joined) = actors.join_next().await {
        if let Err(error) = joined {
            ctx.problem("scenario", format!("an actor task failed: {error}"));
        }
    }
    // The end: every session is closed and dropped; its driver must stop and its event
    // streams end.
    if rng.bool() {
        proxy.heal();
        for connection in lock(&connections).iter() {
            connection.release_responses();
        }
    }
    for slot in &slots {
        slot.check(&ctx, &slot.name, Op::Close, slot.session.close())
            .await;
        let state = slot.session.state();
        if !matches!(state, State::Closed | State::Idle) {
            ctx.problem(&slot.name, format!("still {state:?} after close"));
        }
    }
    let release = slots
        .iter()
        .map(|slot| slot.bounds.release)
        .max()
        .unwrap_or_default();
    drop(slots);
    let ended = tokio::time::timeout(release, async {
        while let Some(joined) = watchers.join_next().await {
            if let Err(error) = joined {
                ctx.problem("scenario", format!("an event watcher failed: {error}"));
            }
        }
    })
    .await;
    if ended.is_err() {
        ctx.problem(
            "scenario",
            format!("event streams still open {release:?} after every handle was dropped"),
        );
    }
    collector.abort();
    let _ = collector.await;
    lock(&connections).clear();
    drop(proxy);
    drop(engine);
    ctx.log("scenario", "over");
}

/// Reads one session's lifecycle events until the stream ends, checking their order.
async fn watch(
    ctx: Arc<Ctx>,
    name: String,
    mut events: qix::EventStream<qix::SessionEvent>,
    auto: bool,
) {
    let mut life = Lifecycle::new(auto);
    let mut broken = false;
    while let Some(event) = events.next().await {
        ctx.log(&name, format!("event {}", rules::describe(&event)));
        if let Err(problem) = life.next(&event) {
            if !broken {
                ctx.problem(&name, problem);
            }
            broken = true; // one report per session: what follows is out of step anyway
        }
    }
}

const GLOBAL_METHODS: [&str; 2] = ["EngineVersion", "ProductVersion"];
const OBJECT_METHODS: [&str; 3] = ["GetLayout", "GetProperties", "SetProperties"];

/// One caller: random calls on whatever its session has, some abandoned half-way.
async fn call_loop(ctx: Arc<Ctx>, slot: Arc<Slot>, who: String, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..rng.usize(5..=20) {
        tokio::time::sleep(Duration::from_millis(rng.u64(0..=1_500))).await;
        let (global, doc, other) = {
            let objects = lock(&slot.objects);
            let other = (!objects.others.is_empty())
                .then(|| objects.others[rng.usize(0..objects.others.len())].clone());
            (objects.global.clone(), objects.doc.clone(), other)
        };
        let Some(global) = global else {
            slot.open(&ctx, &who).await;
            continue;
        };
        match rng.u8(0..10) {
            0 => slot.open(&ctx, &who).await,
            1 | 2 => {
                let method = GLOBAL_METHODS[rng.usize(0..GLOBAL_METHODS.len())];
                slot.call(&ctx, &who, &global, method).await;
            }
            3 if doc.is_none() || rng.u8(0..4) == 0 => {
                let params = json!(["chaos.qvf"]);
                if let Some(doc) = slot
                    .call_object(&ctx, &who, &global, "OpenDoc", params)
                    .await
                {
                    lock(&slot.objects).doc = Some(doc);
                }
            }
            3 | 4 => {
                let Some(doc) = doc else { continue };
                let (method, params) = if rng.bool() {
                    (
                        "CreateSessionObject",
                        json!([{"qInfo": {"qType": "chaos"}}]),
                    )
                } else {
                    let id = ctx.ids.fetch_add(1, Ordering::Relaxed);
                    let info = json!({"qId": format!("chaos-{id}"), "qType": "chaos"});
                    ("CreateObject", json!([{ "qInfo": info }]))
                };
                if let Some(object) = slot.call_object(&ctx, &who, &doc, method, params).await {
                    let mut objects = lock(&slot.objects);
                    if objects.others.len() >= 8 {
                        let at = rng.usize(0..objects.others.len());
                        objects.others.swap_remove(at);
                    }
                    objects.others.push(object);
                }
            }
            5 => {
                // Fetch an object again by its id: lost session objects are not found.
                let (Some(doc), Some(other)) = (doc, other) else {
                    continue;
                };
                let params = json!([other.id()]);
                slot.call_object(&ctx, &who, &doc, "GetObject", params)
                    .await;
            }
            6 | 7 => {
                let target = other.unwrap_or(global);
                let target = if target.object_type() == "GenericObject" {
                    target
                } else {
                    continue;
                };
                let method = OBJECT_METHODS[rng.usize(0..OBJECT_METHODS.len())];
                slot.call(&ctx, &who, &target, method).await;
            }
            8 => {
                // Abandoned: the future is dropped before or after its answer.
                let wait = Duration::from_millis(rng.u64(0..=500));
                let abandoned = global.call("EngineVersion", json!([]));
                tokio::select! {
                    _ = abandoned => ctx.log(&who, "EngineVersion settled before it was abandoned"),
                    _ = tokio::time::sleep(wait) => ctx.log(&who, format!("EngineVersion abandoned after {wait:?}")),
                }
                ctx.operations.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                // A handle with a timeout of its own, shorter than the session's.
                let short = global.with_timeout(Duration::from_millis(rng.u64(100..=1_000)));
                slot.call(&ctx, &who, &short, "ProductVersion").await;
            }
        }
    }
}

/// Lifecycle commands, engine pushes and proxy faults, at random times.
async fn conduct(
    ctx: Arc<Ctx>,
    slots: Vec<Arc<Slot>>,
    proxy: Arc<Proxy>,
    engine: Arc<MockEngine>,
    connections: Arc<Mutex<Vec<MockConnection>>>,
    seed: u64,
) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut side = JoinSet::new();
    let who = "conductor";
    for _ in 0..rng.usize(5..=25) {
        tokio::time::sleep(Duration::from_millis(rng.u64(0..=4_000))).await;
        let slot = slots[rng.usize(0..slots.len())].clone();
        let live = {
            let known = lock(&connections);
            let open: Vec<MockConnection> = known.iter().filter(|c| c.is_open()).cloned().collect();
            (!open.is_empty()).then(|| open[rng.usize(0..open.len())].clone())
        };
        let direction = if rng.bool() {
            Direction::Up
        } else {
            Direction::Down
        };
        let close = if rng.bool() { Close::Fin } else { Close::Rst };
        let pick = rng.u8(0..20);
        if pick >= 5 {
            ctx.faults.fetch_add(1, Ordering::Relaxed);
        }
        match pick {
            0..=4 => {
                let op = match pick {
                    0 => Op::Open,
                    1 => Op::Suspend,
                    2 | 3 => Op::Resume,
                    _ => Op::Close,
                };
                let only_if_attached = rng.bool();
                let task = lifecycle(ctx.clone(), slot, op, only_if_attached);
                // Some run alongside the next steps, so commands overlap.
                if rng.bool() {
                    side.spawn(task);
                } else {
                    task.await;
                }
            }
            5 => {
                ctx.log(who, format!("proxy: drop every link ({close:?})"));
                proxy.drop_links(close);
            }
            6 => {
                let stall = Duration::from_millis(rng.u64(500..=40_000));
                ctx.log(who, format!("proxy: half-open for {stall:?}"));
                proxy.half_open(true);
                let proxy = proxy.clone();
                side.spawn(async move {
                    tokio::time::sleep(stall).await;
                    proxy.half_open(false);
                });
            }
            7 => {
                let delay = Duration::from_millis(rng.u64(0..=3_000));
                ctx.log(who, format!("proxy: delay {direction:?} by {delay:?}"));
                proxy.delay(direction, delay);
            }
            8 => {
                let rate = rng.u64(50..=20_000);
                ctx.log(who, format!("proxy: throttle {direction:?} to {rate} B/s"));
                proxy.throttle(direction, Some(rate));
            }
            9 => {
                ctx.log(
                    who,
                    format!("proxy: cut the next chunk {direction:?} ({close:?})"),
                );
                proxy.cut_next(direction, close);
            }
            10 => {
                let bytes = rng.u32(1..=3);
                ctx.log(who, format!("proxy: flip {bytes} bytes {direction:?}"));
                ctx.corrupt.store(true, Ordering::SeqCst);
                proxy.flip_next(direction, bytes);
            }
            11 => {
                let refuse = Duration::from_millis(rng.u64(500..=10_000));
                ctx.log(who, format!("proxy: refuse connections for {refuse:?}"));
                proxy.refuse(true);
                let proxy = proxy.clone();
                side.spawn(async move {
                    tokio::time::sleep(refuse).await;
                    proxy.refuse(false);
                });
            }
            12 => {
                let faults = RandomFaults {
                    seed: rng.u64(..),
                    chance: rng.u32(1_000..=100_000),
                    drop: rng.bool(),
                    cut: rng.bool(),
                    flip: rng.u8(0..3) == 0,
                    stall: rng.bool(),
                    delay: rng.bool(),
                    max_stall: Duration::from_millis(rng.u64(0..=30_000)),
                };
                if faults.flip {
                    ctx.corrupt.store(true, Ordering::SeqCst);
                }
                ctx.log(who, format!("proxy: random faults {faults:?}"));
                proxy.random(Some(faults));
            }
            13 => {
                ctx.log(who, "proxy: heal");
                proxy.heal();
            }
            14 => {
                let Some(connection) = live else { continue };
                let code = [1000, 1001, 1011, 4001, 4003, 4205][rng.usize(0..6)];
                ctx.log(
                    who,
                    format!("engine: close connection {} with {code}", connection.id()),
                );
                connection.close(code, "chaos").await;
            }
            15 => {
                let Some(connection) = live else { continue };
                ctx.log(
                    who,
                    format!("engine: drop TCP of connection {}", connection.id()),
                );
                connection.drop_tcp();
            }
            16 => {
                let Some(connection) = live else { continue };
                let hold = Duration::from_millis(rng.u64(0..=30_000));
                ctx.log(
                    who,
                    format!(
                        "engine: hold answers on connection {} for {hold:?}",
                        connection.id()
                    ),
                );
                connection.hold_responses();
                side.spawn(async move {
                    tokio::time::sleep(hold).await;
                    connection.release_responses();
                });
            }
            17 | 18 => {
                let Some(connection) = live else { continue };
                let n = ctx.notes.fetch_add(1, Ordering::SeqCst);
                ctx.log(
                    who,
                    format!(
                        "engine: notify OnChaos n={n} on connection {}",
                        connection.id()
                    ),
                );
                connection.notify("OnChaos", json!({ "n": n })).await;
            }
            _ => {
                ctx.log(who, "engine: forget every engine session");
                engine.forget_sessions();
            }
        }
    }
    while let Some(joined) = side.join_next().await {
        if let Err(error) = joined {
            ctx.problem(who, format!("a side task failed: {error}"));
        }
    }
}

/// One lifecycle command, checked against its bound and allowed ends.
async fn lifecycle(ctx: Arc<Ctx>, slot: Arc<Slot>, op: Op, only_if_attached: bool) {
    let who = format!("conductor/{}", slot.name);
    ctx.log(
        &who,
        format!("{} (state {:?})", op.name(), slot.session.state()),
    );
    match op {
        Op::Open => slot.open(&ctx, &who).await,
        Op::Suspend => {
            slot.check(&ctx, &who, op, slot.session.suspend()).await;
        }
        Op::Resume => {
            slot.check(&ctx, &who, op, slot.session.resume(only_if_attached))
                .await;
        }
        _ => {
            slot.check(&ctx, &who, op, slot.session.close()).await;
        }
    }
}
