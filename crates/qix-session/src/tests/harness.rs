//! A session machine wired to a scripted engine in memory, with a virtual clock: the `Pair` of
//! quinn-proto's tests. Only qix-rpc types cross between the two: the engine reads the machine's
//! frames with `Request::decode` and answers with encoded frames that go back through
//! `qix_rpc::decode`, as a driver would hand them in.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use qix_rpc::{EngineError, Handle, Notification, RawValue, Request, Response};
use serde_json::{json, Value};

use crate::{
    Call, Cause, CloseEvent, Command, Config, ConnId, Effect, Event, Input, Machine, ObjectInfo,
    ObjectKey, Reply, State, Waiter,
};

/// The error a fake transport reports.
#[derive(Debug)]
pub(crate) struct FakeTransportError(pub(crate) &'static str);

impl fmt::Display for FakeTransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for FakeTransportError {}

pub(crate) fn cause(what: &'static str) -> Cause {
    Cause::new(FakeTransportError(what))
}

pub(crate) fn raw(value: Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(&value).expect("JSON values serialize")
}

/// The epoch of every virtual clock: read once, then only advanced.
#[allow(clippy::disallowed_methods)]
pub(crate) fn epoch() -> Instant {
    Instant::now()
}

/// A tiny engine: objects get fresh handles, a Doc stays active while the engine session lives.
#[derive(Debug)]
pub(crate) struct FakeEngine {
    /// Answer `Connect` with `Connected` (then the `OnConnected` below, if any).
    pub(crate) auto_connect: bool,
    /// The `qSessionState` announced after each connect; `None` sends no `OnConnected`.
    pub(crate) announce: Option<String>,
    /// Answer requests from the model below; off: they wait in `held`.
    pub(crate) auto_answer: bool,
    /// Answer `CloseSocket` with `SocketClosed` carrying the same code and reason.
    pub(crate) echo_close: bool,
    /// Requests not answered (auto_answer off), oldest first.
    pub(crate) held: Vec<(ConnId, Request)>,
    /// Object ids `GetObject` reports as not found (`qHandle: null, qType: null`).
    pub(crate) missing: HashSet<String>,
    /// Methods answered with an engine error.
    pub(crate) failing: HashSet<String>,
    /// The document the engine session has open; a fresh engine session (`SESSION_CREATED`)
    /// has none.
    pub(crate) active_doc: Option<String>,
    next_handle: Handle,
}

impl Default for FakeEngine {
    fn default() -> Self {
        Self {
            auto_connect: true,
            announce: Some("SESSION_CREATED".to_owned()),
            auto_answer: true,
            echo_close: true,
            held: Vec::new(),
            missing: HashSet::new(),
            failing: HashSet::new(),
            active_doc: None,
            next_handle: 1,
        }
    }
}

impl FakeEngine {
    fn object(&mut self, object_type: &str, id: &str, generic_type: Option<&str>) -> Value {
        let handle = self.next_handle;
        self.next_handle += 1;
        json!({"qReturn": {"qType": object_type, "qHandle": handle, "qGenericId": id,
            "qGenericType": generic_type}})
    }

    /// The answer of the model engine to one request.
    pub(crate) fn answer(&mut self, request: &Request) -> Response {
        let first = request
            .params
            .as_value()
            .get(0)
            .and_then(Value::as_str)
            .unwrap_or("");
        let first = first.to_owned();
        if self.failing.contains(&request.method) {
            return Response::error(request.id, engine_error(2, &first, "Object not found"));
        }
        let result = match request.method.as_str() {
            "EngineVersion" => json!({"qVersion": {"qComponentVersion": "12.2.0"}}),
            "GetLayout" => json!({"qLayout": {"qInfo": {"qId": "x"}}}),
            "OpenDoc" | "CreateSessionApp" => {
                self.active_doc = Some(first.clone());
                self.object("Doc", &first, None)
            }
            "GetActiveDoc" => match self.active_doc.clone() {
                Some(name) => self.object("Doc", &name, None),
                None => return Response::error(request.id, engine_error(1007, "", "App invalid")),
            },
            "GetObject" | "CreateSessionObject" if self.missing.contains(&first) => {
                json!({"qReturn": {"qType": null, "qHandle": null}})
            }
            "GetObject" | "CreateSessionObject" => {
                self.object("GenericObject", &first, Some("barchart"))
            }
            "GetDimension" => self.object("GenericDimension", &first, Some("dimension")),
            "GetMeasure" => self.object("GenericMeasure", &first, Some("measure")),
            "GetBookmark" => self.object("GenericBookmark", &first, Some("bookmark")),
            "GetVariableById" => self.object("GenericVariable", &first, Some("variable")),
            "GetVariableByName" => self.object("Variable", &first, None),
            "GetField" => self.object("Field", &first, None),
            _ => {
                return Response::error(
                    request.id,
                    engine_error(-32601, &request.method, "Method not found"),
                )
            }
        };
        if request.delta == Some(true) {
            // As the engine: every member of the result as one patch list (a whole value at
            // `/` is the first answer's form).
            let patches = match result {
                Value::Object(members) => members
                    .into_iter()
                    .map(|(name, value)| {
                        (name, json!([{"op": "add", "path": "/", "value": value}]))
                    })
                    .collect(),
                _ => serde_json::Map::new(),
            };
            let mut response = Response::result(request.id, raw(Value::Object(patches)));
            response.delta = true;
            return response;
        }
        Response::result(request.id, raw(result))
    }
}

pub(crate) fn engine_error(code: i32, parameter: &str, message: &str) -> EngineError {
    EngineError {
        code,
        parameter: parameter.to_owned(),
        message: message.to_owned(),
    }
}

pub(crate) fn on_connected(state: &str) -> Notification {
    Notification {
        method: Some("OnConnected".to_owned()),
        params: raw(json!({ "qSessionState": state })),
    }
}

/// The machine, the engine, the inputs in flight between them, and everything the machine did.
#[derive(Debug)]
pub(crate) struct Harness {
    pub(crate) machine: Machine,
    pub(crate) engine: FakeEngine,
    pub(crate) now: Instant,
    /// Inputs on their way to the machine, handled one per `step`.
    pub(crate) inbox: VecDeque<Input>,
    /// Every effect the machine produced, in order.
    pub(crate) log: Vec<Effect>,
    /// Connections the engine side considers open (connected, not closed).
    pub(crate) live: HashSet<ConnId>,
    next_waiter: u64,
}

impl Harness {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            machine: Machine::new(config),
            engine: FakeEngine::default(),
            now: epoch(),
            inbox: VecDeque::new(),
            log: Vec::new(),
            live: HashSet::new(),
            next_waiter: 1,
        }
    }

    /// An engine that only does what a test tells it to.
    pub(crate) fn manual(config: Config) -> Self {
        let mut harness = Self::new(config);
        harness.engine.auto_connect = false;
        harness.engine.auto_answer = false;
        harness.engine.echo_close = false;
        harness.engine.announce = None;
        harness
    }

    /// Hands one input to the machine now and carries out its effects (the engine may queue
    /// answers in the inbox; they are not handled yet).
    pub(crate) fn feed(&mut self, input: Input) {
        self.machine.handle(input, self.now);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(effect) = self.machine.poll_effect() {
            self.carry_out(&effect);
            self.log.push(effect);
        }
    }

    fn carry_out(&mut self, effect: &Effect) {
        match effect {
            Effect::Connect { conn } => {
                if self.engine.auto_connect {
                    self.inbox.push_back(Input::Connected { conn: *conn });
                    self.live.insert(*conn);
                    if let Some(state) = self.engine.announce.clone() {
                        if state == "SESSION_CREATED" {
                            self.engine.active_doc = None;
                        }
                        self.push_frame(*conn, &on_connected(&state).encode());
                    }
                }
            }
            Effect::Send { conn, text, .. } => {
                let request = Request::decode(text).expect("the machine writes valid requests");
                if self.engine.auto_answer && self.live.contains(conn) {
                    let response = self.engine.answer(&request);
                    self.push_frame(*conn, &response.encode());
                } else {
                    self.engine.held.push((*conn, request));
                }
            }
            Effect::CloseSocket { conn, code, reason } => {
                if self.engine.echo_close && self.live.remove(conn) {
                    self.inbox.push_back(Input::SocketClosed {
                        conn: *conn,
                        close: CloseEvent::new(*code, reason.clone()),
                    });
                    self.inbox.push_back(Input::SocketEnded { conn: *conn });
                }
            }
            Effect::DropConnection { conn } => {
                self.live.remove(conn);
            }
            Effect::Reply { .. }
            | Effect::Emit(_)
            | Effect::DropBaselines { .. }
            | Effect::ApplyDelta { .. }
            | Effect::ClearBaselines => {}
        }
    }

    /// Queues a text frame from the engine, decoded as a driver would.
    pub(crate) fn push_frame(&mut self, conn: ConnId, text: &str) {
        self.inbox.push_back(Input::Frame {
            conn,
            decoded: crate::tests::decode(text),
        });
    }

    /// A frame from the engine on `conn`, handled now.
    pub(crate) fn frame(&mut self, conn: ConnId, incoming: qix_rpc::Incoming) {
        self.feed(Input::Frame {
            conn,
            decoded: crate::tests::decode(&incoming.encode()),
        });
    }

    /// The transport reports `conn` closed, handled now.
    /// The transport reports the close, and its stream ends right after, as TCP does.
    pub(crate) fn socket_closed(&mut self, conn: ConnId, code: u16, reason: &str) {
        self.feed(Input::SocketClosed {
            conn,
            close: CloseEvent::new(code, reason),
        });
        self.feed(Input::SocketEnded { conn });
    }

    /// The socket `conn` is open and, when an open waits for it, the engine greets it with
    /// `OnConnected` (SESSION_CREATED), as a real engine does first thing (Q-OPEN-4).
    pub(crate) fn connected(&mut self, conn: ConnId) {
        self.feed(Input::Connected { conn });
        if self.state() == crate::State::Connecting {
            self.push_frame(conn, &on_connected("SESSION_CREATED").encode());
            self.settle();
        }
    }

    /// Handles every input in flight without moving the clock.
    pub(crate) fn settle(&mut self) {
        while let Some(input) = self.inbox.pop_front() {
            self.feed(input);
        }
    }

    /// Handles the next input in flight, or, when none is, jumps the clock to the machine's
    /// next deadline. False when there was nothing to do.
    pub(crate) fn step(&mut self) -> bool {
        if let Some(input) = self.inbox.pop_front() {
            self.feed(input);
            return true;
        }
        match self.machine.poll_timeout() {
            Some(deadline) => {
                self.now = self.now.max(deadline);
                self.machine.handle_timeout(self.now);
                self.drain();
                true
            }
            None => false,
        }
    }

    /// Steps until nothing is in flight and no timer is armed.
    pub(crate) fn drive(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the session did not settle in 10,000 steps");
    }

    /// Moves the clock forward and lets due timers fire.
    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += by;
        self.machine.handle_timeout(self.now);
        self.drain();
    }

    pub(crate) fn command(&mut self, command: Command) -> Waiter {
        let waiter = Waiter(self.next_waiter);
        self.next_waiter += 1;
        self.feed(Input::Command { waiter, command });
        waiter
    }

    pub(crate) fn call_with(
        &mut self,
        object: ObjectKey,
        method: &str,
        params: Value,
        returns_object: bool,
    ) -> Waiter {
        self.command(Command::Call(Call {
            object,
            call: crate::tests::encoded(method, &params),
            returns_object,
            timeout: None,
            accepts_delta: true,
        }))
    }

    pub(crate) fn call(&mut self, object: ObjectKey, method: &str, params: Value) -> Waiter {
        self.call_with(object, method, params, false)
    }

    pub(crate) fn call_object(&mut self, object: ObjectKey, method: &str, params: Value) -> Waiter {
        self.call_with(object, method, params, true)
    }

    pub(crate) fn close(&mut self, code: u16, reason: &str) -> Waiter {
        self.command(Command::Close {
            code,
            reason: reason.to_owned(),
        })
    }

    pub(crate) fn suspend(&mut self, code: u16, reason: &str) -> Waiter {
        self.command(Command::Suspend {
            code,
            reason: reason.to_owned(),
        })
    }

    pub(crate) fn resume(&mut self, only_if_attached: bool) -> Waiter {
        self.command(Command::Resume { only_if_attached })
    }

    /// Opens the session and returns Global.
    pub(crate) fn open(&mut self) -> ObjectInfo {
        let waiter = self.command(Command::Open);
        self.drive();
        match self.reply(waiter) {
            Reply::Opened(global) => global.clone(),
            other => panic!("open failed: {other:?}"),
        }
    }

    /// Opens the session, opens a Doc and returns (Global, Doc).
    pub(crate) fn open_doc(&mut self) -> (ObjectInfo, ObjectInfo) {
        let global = self.open();
        let waiter = self.call_object(global.key, "OpenDoc", json!(["sales.qvf"]));
        self.drive();
        (global, self.object_reply(waiter))
    }

    /// Calls a method that returns an object, drives, and returns the object.
    pub(crate) fn get_object(&mut self, on: ObjectKey, method: &str, id: &str) -> ObjectInfo {
        let waiter = self.call_object(on, method, json!([id]));
        self.drive();
        self.object_reply(waiter)
    }

    pub(crate) fn object_reply(&self, waiter: Waiter) -> ObjectInfo {
        match self.reply(waiter) {
            Reply::Object { info, .. } => info.clone(),
            other => panic!("expected an object, got {other:?}"),
        }
    }

    /// Every reply to `waiter`.
    pub(crate) fn replies(&self, waiter: Waiter) -> Vec<&Reply> {
        self.log
            .iter()
            .filter_map(|effect| match effect {
                Effect::Reply { waiter: w, reply } if *w == waiter => Some(reply),
                _ => None,
            })
            .collect()
    }

    /// The one reply to `waiter`; panics when there is none or more than one.
    pub(crate) fn reply(&self, waiter: Waiter) -> &Reply {
        match self.replies(waiter).as_slice() {
            [reply] => reply,
            other => panic!("{waiter:?} has {} replies: {other:?}", other.len()),
        }
    }

    pub(crate) fn replied(&self, waiter: Waiter) -> bool {
        !self.replies(waiter).is_empty()
    }

    /// The events since log index `from`.
    pub(crate) fn events_since(&self, from: usize) -> Vec<Event> {
        self.log[from..]
            .iter()
            .filter_map(|effect| match effect {
                Effect::Emit(event) => Some(event.clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn events(&self) -> Vec<Event> {
        self.events_since(0)
    }

    /// The requests written since log index `from`: connection, decoded request, object.
    pub(crate) fn sent_since(&self, from: usize) -> Vec<(ConnId, Request, Option<ObjectKey>)> {
        self.log[from..]
            .iter()
            .filter_map(|effect| match effect {
                Effect::Send { conn, text, object } => Some((
                    *conn,
                    Request::decode(text).expect("the machine writes valid requests"),
                    *object,
                )),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn sent(&self) -> Vec<(ConnId, Request, Option<ObjectKey>)> {
        self.sent_since(0)
    }

    /// The methods written since log index `from`.
    pub(crate) fn methods_since(&self, from: usize) -> Vec<String> {
        self.sent_since(from)
            .into_iter()
            .map(|(_, request, _)| request.method)
            .collect()
    }

    /// The `CloseSocket` effects: connection, code, reason.
    pub(crate) fn socket_closes(&self) -> Vec<(ConnId, u16, String)> {
        self.log
            .iter()
            .filter_map(|effect| match effect {
                Effect::CloseSocket { conn, code, reason } => Some((*conn, *code, reason.clone())),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn connects(&self) -> Vec<ConnId> {
        self.log
            .iter()
            .filter_map(|effect| match effect {
                Effect::Connect { conn } => Some(*conn),
                _ => None,
            })
            .collect()
    }

    /// The connection the machine asked for last.
    pub(crate) fn last_conn(&self) -> ConnId {
        *self.connects().last().expect("a connection was asked for")
    }

    /// Answers a held request (manual engine) with a result.
    pub(crate) fn answer_held(&mut self, index: usize, result: Value) {
        let (conn, request) = self.engine.held.remove(index);
        self.push_frame(conn, &Response::result(request.id, raw(result)).encode());
    }

    pub(crate) fn state(&self) -> State {
        self.machine.state()
    }

    /// Where the log stands, for `events_since` and `sent_since`.
    pub(crate) fn mark(&self) -> usize {
        self.log.len()
    }

    /// The new handles per key after some step, for checks on restore.
    pub(crate) fn handles(&self, keys: &[ObjectKey]) -> HashMap<ObjectKey, Option<Handle>> {
        keys.iter()
            .map(|key| (*key, self.machine.object(*key).map(|info| info.handle)))
            .collect()
    }
}
