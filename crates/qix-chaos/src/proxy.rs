//! A TCP proxy that forwards bytes between a client and a server and breaks the link on
//! command or at random: it drops connections (FIN or RST), goes half-open, delays, cuts a
//! frame short, flips bytes and throttles.
//!
//! It works on bytes, below WebSocket: a "frame" here is whatever one read returned, which on
//! 127.0.0.1 is usually one WebSocket frame or a few written back to back.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Which way bytes go through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the server (the session's requests).
    Up,
    /// From the server to the client (the engine's answers and notifications).
    Down,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Self::Up => 0,
            Self::Down => 1,
        }
    }
}

/// How the proxy ends a connection it drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Close {
    /// An orderly close: the peer reads the end of the stream.
    #[default]
    Fin,
    /// A reset (`SO_LINGER` zero, then close): the peer's next read or write fails.
    Rst,
}

/// Faults the proxy draws by itself, per link, from a seed: before each chunk it forwards,
/// with probability `chance` in a million, one of the faults that are switched on here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomFaults {
    /// Seeds each link's generator (mixed with the link's number and direction).
    pub seed: u64,
    /// The chance, per million chunks, that a chunk meets a fault.
    pub chance: u32,
    /// Drop the link (FIN or RST, drawn).
    pub drop: bool,
    /// Forward part of the chunk, then drop the link.
    pub cut: bool,
    /// Flip one to three bits of the chunk.
    pub flip: bool,
    /// Stop this direction for up to `max_stall`, then go on (the other soon waits too, for
    /// answers that do not come).
    pub stall: bool,
    /// Hold this chunk back for up to `max_stall`.
    pub delay: bool,
    /// The longest stall or delay drawn.
    pub max_stall: Duration,
}

/// What every link follows. One-shot actions carry an epoch: a link acts on an epoch newer than
/// the one it saw when it started, once.
#[derive(Debug, Clone, Default)]
struct Faults {
    drop: (u64, Close),
    cut: [(u64, Close); 2],
    flip: [(u64, u32); 2],
    half_open: bool,
    delay: [Duration; 2],
    /// Bytes per second.
    throttle: [Option<u64>; 2],
    refuse: bool,
    random: Option<RandomFaults>,
}

/// A fault-injecting TCP proxy on 127.0.0.1 in front of one upstream address.
///
/// Every accepted connection (a *link*) is forwarded to the upstream by two tasks, one per
/// direction, each a delay line of at most 64 chunks, on the runtime that started the proxy; under tokio's paused clock, delays and
/// throttling follow that clock. Settings apply to links open now and to later ones; one-shot
/// actions (`drop_links`, `cut_next`, `flip_next`) to the links open now. Dropping the proxy
/// ends every link at once.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    faults: watch::Sender<Faults>,
    epoch: AtomicU64,
    open: Arc<AtomicUsize>,
    accepted: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy on a free port of 127.0.0.1 that forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> io::Result<Proxy> {
        Self::start_on(Ipv4Addr::LOCALHOST.into(), upstream).await
    }

    /// Starts a proxy on a free port of `ip` (any of 127.0.0.0/8 on Linux) that forwards to
    /// `upstream`. Many runs that each open many connections can spread over addresses, so
    /// that connections waiting out TIME_WAIT do not use up one address's ports.
    pub async fn start_on(ip: IpAddr, upstream: SocketAddr) -> io::Result<Proxy> {
        let listener = TcpListener::bind((ip, 0)).await?;
        let addr = listener.local_addr()?;
        let (faults, watched) = watch::channel(Faults::default());
        let open = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            watched,
            open.clone(),
            accepted.clone(),
        ));
        Ok(Proxy {
            addr,
            faults,
            epoch: AtomicU64::new(0),
            open,
            accepted,
            task,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://<addr>` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// How many links are being forwarded now.
    pub fn open_links(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// How many connections the proxy has accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    fn next_epoch(&self) -> u64 {
        self.epoch.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Drops every link open now, both of its sockets, with `close`.
    pub fn drop_links(&self, close: Close) {
        let epoch = self.next_epoch();
        self.faults.send_modify(|f| f.drop = (epoch, close));
    }

    /// Each link open now forwards part of its next chunk in `direction` (at least one byte
    /// short of it), then drops with `close`.
    pub fn cut_next(&self, direction: Direction, close: Close) {
        let epoch = self.next_epoch();
        self.faults
            .send_modify(|f| f.cut[direction.index()] = (epoch, close));
    }

    /// Each link open now flips one bit in each of the next `bytes` bytes it forwards in
    /// `direction`.
    pub fn flip_next(&self, direction: Direction, bytes: u32) {
        let epoch = self.next_epoch();
        self.faults
            .send_modify(|f| f.flip[direction.index()] = (epoch, bytes));
    }

    /// Half-open: while on, nothing is forwarded either way (the proxy stops reading, so what
    /// the peers write piles up in the sockets' buffers), but every socket stays open. Turned
    /// off, what piled up flows on.
    pub fn half_open(&self, on: bool) {
        self.faults.send_modify(|f| f.half_open = on);
    }

    /// Holds each chunk in `direction` back for `delay` after it was read: a latency, with
    /// the chunks read meanwhile waiting behind it in order.
    pub fn delay(&self, direction: Direction, delay: Duration) {
        self.faults
            .send_modify(|f| f.delay[direction.index()] = delay);
    }

    /// Forwards at most `bytes_per_second` in `direction` (`None`: as fast as it comes).
    pub fn throttle(&self, direction: Direction, bytes_per_second: Option<u64>) {
        self.faults.send_modify(|f| {
            f.throttle[direction.index()] = bytes_per_second.filter(|rate| *rate > 0)
        });
    }

    /// While on, new connections are accepted and reset at once (the upstream is not dialled).
    pub fn refuse(&self, on: bool) {
        self.faults.send_modify(|f| f.refuse = on);
    }

    /// Faults drawn at random per link (see [`RandomFaults`]), or `None` for none.
    pub fn random(&self, faults: Option<RandomFaults>) {
        self.faults.send_modify(|f| f.random = faults);
    }

    /// Back to plain forwarding: no half-open, delay, throttle, refusal or random faults.
    /// One-shot actions already taken are not undone.
    pub fn heal(&self) {
        self.faults.send_modify(|f| {
            f.half_open = false;
            f.delay = [Duration::ZERO; 2];
            f.throttle = [None; 2];
            f.refuse = false;
            f.random = None;
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The accept loop owns the links' JoinSet: aborting it aborts every link.
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    faults: watch::Receiver<Faults>,
    open: Arc<AtomicUsize>,
    accepted: Arc<AtomicU64>,
) {
    let mut links = JoinSet::new();
    loop {
        let client = tokio::select! {
            accepted = listener.accept() => accepted,
            // Finished links are reaped as they end, so the set does not grow with them.
            Some(_) = links.join_next(), if !links.is_empty() => continue,
        };
        let Ok((client, _)) = client else {
            continue; // a connection that failed before it was accepted
        };
        let number = accepted.fetch_add(1, Ordering::SeqCst);
        let snapshot = faults.borrow().clone();
        if snapshot.refuse {
            reset(client);
            continue;
        }
        let Ok(server) = TcpStream::connect(upstream).await else {
            reset(client);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let (kill, killed) = watch::channel(None);
        let kill = Arc::new(kill);
        let guard = Arc::new(OpenGuard::new(open.clone()));
        for (direction, from, to) in [
            (Direction::Up, client_read, server_write),
            (Direction::Down, server_read, client_write),
        ] {
            let pump = Pump {
                link: number,
                direction,
                from,
                to,
                faults: faults.clone(),
                seen: snapshot.clone(),
                kill: kill.clone(),
                killed: killed.clone(),
                rng: snapshot
                    .random
                    .map(|random| link_rng(random.seed, number, direction)),
                flips: 0,
                cut: None,
                stalled_until: None,
                extra_delay: Duration::ZERO,
                _open: guard.clone(),
            };
            links.spawn(pump.run());
        }
    }
}

/// Counts a link as open while either of its pumps lives.
#[derive(Debug)]
struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    fn new(open: Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::SeqCst);
        Self(open)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn link_rng(seed: u64, link: u64, direction: Direction) -> fastrand::Rng {
    let mixed = seed ^ link.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (direction.index() as u64 + 1);
    fastrand::Rng::with_seed(mixed)
}

/// Closes a socket with a reset instead of a FIN.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// One direction of one link: reads from `from`, applies the faults, writes to `to`.
struct Pump {
    /// The link's number, from 0 in the order accepted.
    link: u64,
    direction: Direction,
    from: OwnedReadHalf,
    to: OwnedWriteHalf,
    faults: watch::Receiver<Faults>,
    /// The settings as this pump last acted on them (epochs included).
    seen: Faults,
    /// Ends both pumps of the link.
    kill: Arc<watch::Sender<Option<Close>>>,
    killed: watch::Receiver<Option<Close>>,
    rng: Option<fastrand::Rng>,
    /// Bytes still to flip.
    flips: u32,
    /// The next chunk is cut, then the link dropped this way.
    cut: Option<Close>,
    /// A random stall: nothing moves this way until then.
    stalled_until: Option<Instant>,
    /// A random delay for the chunk being taken, on top of the configured one.
    extra_delay: Duration,
    _open: Arc<OpenGuard>,
}

/// Why a pump stops.
enum Stop {
    /// The source ended: pass the end on, leave the other direction alone.
    Eof,
    /// Drop the whole link this way.
    Kill(Close),
}

impl Pump {
    async fn run(mut self) {
        let stop = self.forward().await;
        match stop {
            Stop::Eof => {
                let _ = self.to.shutdown().await;
            }
            Stop::Kill(close) => {
                self.kill.send_if_modified(|k| {
                    let first = k.is_none();
                    if first {
                        *k = Some(close);
                    }
                    first
                });
                if close == Close::Rst {
                    // Linger zero on both sockets this pump touches, and no FIN from the
                    // write half: whichever half closes a socket last, it closes with a reset.
                    let _ = self.from.as_ref().set_zero_linger();
                    let _ = self.to.as_ref().set_zero_linger();
                    self.to.forget();
                }
            }
        }
    }

    /// The delay line: chunks are read as they come, each is due `delay` after it was read,
    /// and they are written in order when due (throttled when asked).
    async fn forward(&mut self) -> Stop {
        let mut buffer = vec![0u8; 16 * 1024];
        let mut line: VecDeque<Chunk> = VecDeque::new();
        let mut eof = false;
        loop {
            if let Some(close) = *self.killed.borrow() {
                return Stop::Kill(close);
            }
            if let Some(stop) = self.take_settings() {
                return stop;
            }
            if eof && line.is_empty() {
                return Stop::Eof;
            }
            let now = Instant::now();
            let stalled = self.stalled_until.filter(|until| *until > now);
            let moving = !self.seen.half_open && stalled.is_none();
            let can_read = moving && !eof && line.len() < LINE;
            let due = line.front().map(|chunk| chunk.due).filter(|_| moving);
            let step = tokio::select! {
                read = self.from.read(&mut buffer), if can_read => Step::Read(read),
                _ = sleep_until_some(due), if due.is_some() => Step::Due,
                _ = sleep_until_some(stalled), if stalled.is_some() => Step::Woke,
                changed = self.faults.changed() => match changed {
                    Ok(()) => Step::Woke,
                    Err(_) => return Stop::Kill(Close::Rst), // the proxy is gone
                },
                _ = wait_killed(&mut self.killed) => Step::Woke,
            };
            match step {
                Step::Read(Ok(0)) => eof = true,
                Step::Read(Ok(length)) => {
                    match self.take(&mut buffer[..length]) {
                        Taken::Forward(chunk) => line.push_back(chunk),
                        Taken::Drop(close) => return Stop::Kill(close),
                        Taken::Stall => {
                            // The chunk waits with the link.
                            let chunk = self.chunk(&buffer[..length], None);
                            line.push_back(chunk);
                        }
                    }
                }
                Step::Read(Err(_)) => return Stop::Kill(Close::Rst),
                Step::Due => {
                    if let Some(chunk) = line.pop_front() {
                        if let Some(stop) = self.send(&chunk.bytes).await {
                            return stop;
                        }
                        if let Some(close) = chunk.then {
                            return Stop::Kill(close);
                        }
                    }
                }
                Step::Woke => {}
            }
        }
    }

    /// Takes in what changed in the proxy's settings; a drop asked for is returned.
    fn take_settings(&mut self) -> Option<Stop> {
        let faults = self.faults.borrow_and_update().clone();
        let d = self.direction.index();
        let drop = (faults.drop.0 > self.seen.drop.0).then_some(faults.drop.1);
        if faults.cut[d].0 > self.seen.cut[d].0 {
            self.cut = Some(faults.cut[d].1);
        }
        if faults.flip[d].0 > self.seen.flip[d].0 {
            self.flips = self.flips.saturating_add(faults.flip[d].1);
        }
        match (&faults.random, &self.seen.random) {
            (Some(new), old) if old.as_ref().map(|o| o.seed) != Some(new.seed) => {
                self.rng = Some(link_rng(new.seed, self.link, self.direction));
            }
            _ => {}
        }
        self.seen = faults;
        drop.map(Stop::Kill)
    }

    /// A chunk for the line, due after the delay in force.
    fn chunk(&self, bytes: &[u8], then: Option<Close>) -> Chunk {
        let delay = self.seen.delay[self.direction.index()];
        Chunk {
            due: Instant::now() + delay + self.extra_delay,
            bytes: bytes.to_vec(),
            then,
        }
    }

    /// Applies the faults in force to a chunk just read.
    fn take(&mut self, chunk: &mut [u8]) -> Taken {
        self.extra_delay = Duration::ZERO;
        if let (Some(random), Some(rng)) = (self.seen.random, self.rng.as_mut()) {
            if rng.u32(0..1_000_000) < random.chance {
                let mut kinds = Vec::with_capacity(5);
                for (on, kind) in [
                    (random.drop, 0),
                    (random.cut, 1),
                    (random.flip, 2),
                    (random.stall, 3),
                    (random.delay, 4),
                ] {
                    if on {
                        kinds.push(kind);
                    }
                }
                let close = if rng.bool() { Close::Fin } else { Close::Rst };
                let max = u64::try_from(random.max_stall.as_millis()).unwrap_or(u64::MAX);
                let pause = Duration::from_millis(rng.u64(0..=max));
                match kinds.get(rng.usize(0..kinds.len().max(1))) {
                    Some(0) => return Taken::Drop(close),
                    Some(1) => self.cut = Some(close),
                    Some(2) => self.flips = self.flips.saturating_add(rng.u32(1..=3)),
                    Some(3) => {
                        // This direction stops for a while; the other follows soon, held up
                        // by the answers that do not come.
                        self.stalled_until = Some(Instant::now() + pause);
                        self.flip(chunk);
                        return Taken::Stall;
                    }
                    Some(_) => self.extra_delay = pause,
                    None => {}
                }
            }
        }
        self.flip(chunk);
        let mut keep = chunk.len();
        let mut then = None;
        if let Some(close) = self.cut.take() {
            // At least one byte short of the chunk, then the link drops.
            keep = match chunk.len() {
                0 | 1 => 0,
                n => self.rng.as_mut().map_or(n / 2, |rng| rng.usize(1..n)),
            };
            then = Some(close);
        }
        Taken::Forward(self.chunk(&chunk[..keep], then))
    }

    /// Flips one bit in each of the next bytes still to flip.
    fn flip(&mut self, chunk: &mut [u8]) {
        if self.flips == 0 || chunk.is_empty() {
            return;
        }
        let rng = self
            .rng
            .get_or_insert_with(|| fastrand::Rng::with_seed(self.link));
        let count = usize::try_from(self.flips)
            .unwrap_or(usize::MAX)
            .min(chunk.len());
        for _ in 0..count {
            let at = rng.usize(0..chunk.len());
            chunk[at] ^= 1 << rng.u32(0..8);
        }
        self.flips -= u32::try_from(count).unwrap_or(self.flips);
    }

    /// Writes a due chunk on, at the throttled rate if there is one.
    async fn send(&mut self, bytes: &[u8]) -> Option<Stop> {
        let Some(rate) = self.seen.throttle[self.direction.index()] else {
            return self.write(bytes).await;
        };
        // A tenth of a second's worth at a time, so a frame arrives in pieces.
        let piece = usize::try_from(rate / 10).unwrap_or(usize::MAX).max(1);
        for part in bytes.chunks(piece) {
            let secs = part.len() as f64 / rate as f64;
            if let Some(stop) = self.pause(Duration::from_secs_f64(secs)).await {
                return Some(stop);
            }
            if let Some(stop) = self.write(part).await {
                return Some(stop);
            }
        }
        None
    }

    /// Waits `pause`, unless the link is dropped meanwhile.
    async fn pause(&mut self, pause: Duration) -> Option<Stop> {
        tokio::select! {
            _ = tokio::time::sleep(pause) => None,
            _ = wait_killed(&mut self.killed) => self.killed.borrow().map(Stop::Kill),
        }
    }

    /// Writes `bytes` on, unless the link is dropped meanwhile (a peer that does not read
    /// must not hold a drop up).
    async fn write(&mut self, bytes: &[u8]) -> Option<Stop> {
        let killed = &mut self.killed;
        let to = &mut self.to;
        tokio::select! {
            written = to.write_all(bytes) => written.err().map(|_| Stop::Kill(Close::Rst)),
            _ = wait_killed(killed) => killed.borrow().map(Stop::Kill),
        }
    }
}

/// Sleeps until `deadline`; never without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// What woke the delay line.
enum Step {
    Read(io::Result<usize>),
    Due,
    Woke,
}

/// What becomes of a chunk just read.
enum Taken {
    Forward(Chunk),
    Drop(Close),
    Stall,
}

/// A chunk in the delay line.
struct Chunk {
    due: Instant,
    bytes: Vec<u8>,
    /// Drop the link this way once the chunk is written (a cut).
    then: Option<Close>,
}

/// How many chunks a direction holds in its delay line before it stops reading.
const LINE: usize = 64;

/// Resolves once the link has been dropped; never when every sender is gone without that.
async fn wait_killed(killed: &mut watch::Receiver<Option<Close>>) {
    if killed.wait_for(Option::is_some).await.is_err() {
        std::future::pending::<()>().await;
    }
}
