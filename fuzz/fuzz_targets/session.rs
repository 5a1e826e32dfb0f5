//! qix-session: the machine fed any sequence of commands, transport facts, frames and time,
//! through its public API only. It must not panic, must answer each command at most once and
//! never after the caller left, and, once every connection has ended and time has run on,
//! must have answered every command.

#![no_main]

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use qix_rpc::{Bytes, EncodedCall};
use qix_session::{
    AutoResume, Backoff, Call, Cause, CloseEvent, Command, Config, ConnId, Effect, Input, Liveness,
    Machine, ObjectKey, Reply, Waiter,
};

#[derive(Debug, Arbitrary)]
struct Settings {
    suspend_on_close: bool,
    request_timeout_ms: Option<u16>,
    liveness: Option<(u16, u16, bool)>,
    auto_resume: Option<(u8, u8, bool, bool)>,
    max_in_flight: u8,
    on_connected_ms: u16,
    close_ms: u16,
    resume_ms: u16,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Open,
    Call {
        object: u8,
        method: u8,
        returns_object: bool,
        timeout_ms: Option<u16>,
        /// The caller takes delta answers (Q-DELTA-1).
        accepts_delta: bool,
    },
    Close(u8),
    Suspend(u8),
    Resume(bool),
    Connected(u8),
    ConnectFailed(u8),
    Frame(u8, Frame),
    SocketError(u8),
    SocketClosed(u8, u16),
    SocketEnded(u8),
    Cancel(u8),
    Released,
    Advance(u16),
}

#[derive(Debug, Arbitrary)]
enum Frame {
    /// An answer to one of the requests sent (picked by index), or to any id.
    Result {
        request: u8,
        kind: ResultKind,
        change: Vec<i8>,
        close: Vec<i8>,
    },
    Error {
        request: u8,
        code: i16,
    },
    OnConnected(u8),
    Notification(String),
    Changes {
        change: Vec<i8>,
        close: Vec<i8>,
    },
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum ResultKind {
    Empty,
    Object { handle: i8, kind: u8, id: u8 },
    NullHandle,
    Text(String),
}

const METHODS: [&str; 6] = [
    "OpenDoc",
    "GetObject",
    "GetLayout",
    "CreateSessionObject",
    "GetField",
    "EngineVersion",
];
const TYPES: [&str; 6] = [
    "Doc",
    "GenericObject",
    "GenericDimension",
    "Field",
    "GenericVariable",
    "GenericBookmark",
];
const STATES: [&str; 4] = [
    "SESSION_CREATED",
    "SESSION_ATTACHED",
    "SESSION_ERROR_NO_LICENSE",
    "",
];

fn config(settings: &Settings) -> Config {
    let ms = |ms: u16| Duration::from_millis(u64::from(ms).max(1));
    let mut config = Config::default();
    config.suspend_on_close = settings.suspend_on_close;
    config.request_timeout = settings.request_timeout_ms.map(ms);
    config.liveness = settings.liveness.map(|(interval, timeout, idle)| {
        let mut liveness = Liveness::default();
        liveness.interval = ms(interval);
        liveness.timeout = ms(timeout);
        liveness.idle = idle;
        liveness
    });
    config.auto_resume = settings
        .auto_resume
        .map(|(first, attempts, only, restore)| {
            let mut policy = AutoResume::default();
            policy.backoff = Backoff::Delays(vec![Duration::from_millis(u64::from(first) * 10)]);
            policy.max_attempts = u32::from(attempts % 5) + 1;
            policy.only_if_attached = only;
            policy.restore_if_not_attached = restore;
            policy
        });
    config.max_in_flight = usize::from(settings.max_in_flight % 8) + 1;
    config.on_connected_timeout = ms(settings.on_connected_ms);
    config.close_timeout = ms(settings.close_ms);
    config.resume_timeout = ms(settings.resume_ms);
    config
}

/// A transport's error, for the causes handed in.
#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}

impl std::error::Error for Refused {}

/// The driver's side: what it was asked and what it was told.
struct Harness {
    machine: Machine,
    now: Instant,
    next_waiter: u64,
    /// Waiters handed in and not answered yet.
    waiting: BTreeSet<u64>,
    answered: HashSet<u64>,
    cancelled: HashSet<u64>,
    /// The waiters that are calls.
    calls: HashSet<u64>,
    /// Connections asked for and not dropped or ended.
    conns: Vec<ConnId>,
    /// Request ids seen in sends.
    sent: Vec<u64>,
    objects: Vec<ObjectKey>,
    released: bool,
}

impl Harness {
    fn handle(&mut self, input: Input) {
        self.machine.handle(input, self.now);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(effect) = self.machine.poll_effect() {
            match effect {
                Effect::Connect { conn } => self.conns.push(conn),
                Effect::DropConnection { conn } => self.conns.retain(|c| *c != conn),
                Effect::Send { text, .. } => {
                    let id = serde_json::from_str::<serde_json::Value>(&text)
                        .expect("the machine writes JSON")["id"]
                        .as_u64()
                        .expect("every request has an id");
                    self.sent.push(id);
                }
                Effect::CloseSocket { .. } => {}
                Effect::Reply { waiter, reply } => {
                    let Waiter(waiter) = waiter;
                    assert!(
                        !self.cancelled.contains(&waiter),
                        "waiter {waiter} answered after its caller left"
                    );
                    assert!(
                        self.waiting.remove(&waiter),
                        "waiter {waiter} answered twice or never asked: {reply:?}"
                    );
                    self.answered.insert(waiter);
                    if let Reply::Opened(info) | Reply::Object { info, .. } = &reply {
                        self.objects.push(info.key);
                    }
                }
                // The driver's delta cache: nothing to check here but that no effect panics.
                Effect::Emit(_)
                | Effect::DropBaselines { .. }
                | Effect::ApplyDelta { .. }
                | Effect::ClearBaselines => {}
            }
        }
    }

    fn command(&mut self, command: Command) {
        if self.released {
            return; // nobody is left to command anything
        }
        self.next_waiter += 1;
        let waiter = self.next_waiter;
        self.waiting.insert(waiter);
        if matches!(command, Command::Call(_)) {
            self.calls.insert(waiter);
        }
        self.handle(Input::Command {
            waiter: Waiter(waiter),
            command,
        });
    }

    fn conn(&self, pick: u8) -> ConnId {
        // Mostly a connection the machine asked for; sometimes one it never did.
        match self.conns.len() {
            0 => ConnId(u64::from(pick)),
            n => self.conns[usize::from(pick) % n],
        }
    }

    fn request_id(&self, pick: u8) -> u64 {
        match self.sent.len() {
            0 => u64::from(pick),
            n => self.sent[n - 1 - usize::from(pick) % n],
        }
    }

    /// Fires the timers that are due, as a driver does when its sleep ends.
    fn timers(&mut self) {
        for _ in 0..64 {
            match self.machine.poll_timeout() {
                Some(deadline) if deadline <= self.now => {
                    self.machine.handle_timeout(self.now);
                    self.drain();
                }
                _ => return,
            }
        }
    }
}

fn frame_text(harness: &Harness, frame: Frame) -> Vec<u8> {
    let handles = |list: Vec<i8>| list.into_iter().map(i32::from).collect::<Vec<_>>();
    let value = match frame {
        Frame::Result {
            request,
            kind,
            change,
            close,
        } => {
            let result = match kind {
                ResultKind::Empty => serde_json::json!({}),
                ResultKind::Object { handle, kind, id } => serde_json::json!({"qReturn": {
                    "qHandle": handle, "qType": TYPES[usize::from(kind) % TYPES.len()],
                    "qGenericId": format!("id-{id}")}}),
                ResultKind::NullHandle => {
                    serde_json::json!({"qReturn": {"qHandle": null, "qType": null}})
                }
                ResultKind::Text(text) => serde_json::json!({ "qReturn": text }),
            };
            serde_json::json!({"jsonrpc": "2.0", "id": harness.request_id(request),
                "result": result, "change": handles(change), "close": handles(close)})
        }
        Frame::Error { request, code } => serde_json::json!({"jsonrpc": "2.0",
            "id": harness.request_id(request),
            "error": {"code": code, "parameter": "", "message": "fuzz"}}),
        Frame::OnConnected(state) => serde_json::json!({"jsonrpc": "2.0", "method": "OnConnected",
            "params": {"qSessionState": STATES[usize::from(state) % STATES.len()]}}),
        Frame::Notification(method) => {
            serde_json::json!({"jsonrpc": "2.0", "method": method, "params": {}})
        }
        Frame::Changes { change, close } => {
            serde_json::json!({"jsonrpc": "2.0", "change": handles(change), "close": handles(close)})
        }
        Frame::Raw(bytes) => return bytes,
    };
    value.to_string().into_bytes()
}

fuzz_target!(|input: (Settings, Vec<Op>)| {
    let (settings, ops) = input;
    let mut harness = Harness {
        machine: Machine::new(config(&settings)),
        now: Instant::now(),
        next_waiter: 0,
        waiting: BTreeSet::new(),
        answered: HashSet::new(),
        cancelled: HashSet::new(),
        calls: HashSet::new(),
        conns: Vec::new(),
        sent: Vec::new(),
        objects: Vec::new(),
        released: false,
    };
    for op in ops.into_iter().take(256) {
        match op {
            Op::Open => harness.command(Command::Open),
            Op::Call {
                object,
                method,
                returns_object,
                timeout_ms,
                accepts_delta,
            } => {
                let object = match harness.objects.len() {
                    0 => ObjectKey(u64::from(object)),
                    n => harness.objects[usize::from(object) % n],
                };
                let method = METHODS[usize::from(method) % METHODS.len()];
                let Ok(call) = EncodedCall::new(method, &["x"]) else {
                    continue;
                };
                harness.command(Command::Call(Call {
                    object,
                    call,
                    returns_object,
                    timeout: timeout_ms.map(|ms| Duration::from_millis(u64::from(ms))),
                    accepts_delta,
                }));
            }
            Op::Close(code) => harness.command(Command::Close {
                code: [1000, 4000, 3000, 1001][usize::from(code) % 4],
                reason: String::new(),
            }),
            Op::Suspend(code) => harness.command(Command::Suspend {
                code: [4000, 1000, 3000][usize::from(code) % 3],
                reason: String::new(),
            }),
            Op::Resume(only_if_attached) => harness.command(Command::Resume { only_if_attached }),
            Op::Connected(pick) => {
                let conn = harness.conn(pick);
                harness.handle(Input::Connected { conn });
            }
            Op::ConnectFailed(pick) => {
                let conn = harness.conn(pick);
                harness.handle(Input::ConnectFailed {
                    conn,
                    cause: Cause::new(Refused),
                });
            }
            Op::Frame(pick, frame) => {
                let conn = harness.conn(pick);
                let text = frame_text(&harness, frame);
                let decoded = qix_rpc::decode_shared(Bytes::from(text));
                harness.handle(Input::Frame { conn, decoded });
            }
            Op::SocketError(pick) => {
                let conn = harness.conn(pick);
                harness.handle(Input::SocketError {
                    conn,
                    cause: Cause::new(Refused),
                });
            }
            Op::SocketClosed(pick, code) => {
                let conn = harness.conn(pick);
                harness.handle(Input::SocketClosed {
                    conn,
                    close: CloseEvent::new(code, "fuzz"),
                });
            }
            Op::SocketEnded(pick) => {
                // Kept in `conns`: a connection still connecting goes on connecting, and
                // the end of the run still owes it its connect's outcome.
                let conn = harness.conn(pick);
                harness.handle(Input::SocketEnded { conn });
            }
            Op::Cancel(pick) => {
                // A caller that leaves: the driver forgets its waiter, whatever comes later.
                // Only calls are cancelled: a driver keeps every other waiter.
                let calls: Vec<u64> = harness
                    .waiting
                    .iter()
                    .filter(|w| harness.calls.contains(w))
                    .copied()
                    .collect();
                let waiter = calls.get(usize::from(pick) % calls.len().max(1)).copied();
                if let Some(waiter) = waiter {
                    harness.waiting.remove(&waiter);
                    harness.cancelled.insert(waiter);
                    harness.handle(Input::Cancel {
                        waiter: Waiter(waiter),
                    });
                }
            }
            Op::Released => {
                if !harness.released {
                    harness.released = true;
                    harness.handle(Input::Released);
                }
            }
            Op::Advance(ms) => {
                harness.now += Duration::from_millis(u64::from(ms));
                harness.timers();
            }
        }
        harness.timers();
    }
    // The end of the world: every connection ends and a long time passes. Nothing may be
    // left waiting (Q-REQ-5, Q-OPEN-2, Q-CLOSE-4, Q-TIME-1).
    for _ in 0..8 {
        for conn in std::mem::take(&mut harness.conns) {
            harness.handle(Input::ConnectFailed {
                conn,
                cause: Cause::new(Refused),
            });
            harness.handle(Input::SocketEnded { conn });
        }
        harness.now += Duration::from_secs(3600);
        harness.timers();
    }
    assert!(
        harness.waiting.is_empty(),
        "waiters never answered: {:?}",
        harness.waiting
    );
});
