//! The QIX session as a pure state machine: every rule of the project's `docs/behaviour.md`
//! about lifecycle, requests, events, suspend and resume, decided in one synchronous place with
//! no I/O and no clock.
//! Feed it inputs (user commands, transport facts, the current time), drain the effects it asks
//! for (connect, send, close, reply, emit).
//!
//! Take this crate alone when you drive a QIX session from a runtime other than tokio, or want
//! to test session behaviour without sockets; most users want the `qix` crate, which drives it.
//!
//! # No I/O, no clock
//!
//! The [`Machine`] never touches a socket or reads the time. A driver owns the connections,
//! the one timer and whoever waits for an answer; it hands the machine what happened and carries
//! out what the machine asks for:
//!
//! ```text
//!  user commands  Input::Command, ─┐                        ┌─> Effect::Connect       ┐ socket
//!                 Released         │    ┌──────────────┐    ├─> Effect::Send          │ work for
//!  transport      Input::Connected,├──> │   Machine    │ ───┼─> Effect::CloseSocket   │ the
//!  facts          ConnectFailed,   │    │ lifecycle,   │    ├─> Effect::DropConnection┘ driver
//!                 Frame, Socket-   │    │ requests,    │    ├─> Effect::Reply   settle one waiter
//!                 Error, Socket-   │    │ objects,     │    └─> Effect::Emit    tell the user
//!                 Closed, -Ended   │    │ connections, │
//!  the time       now: Instant ────┘    │ timer table  │ ─────> poll_timeout(): next deadline
//!                 handle_timeout(now) ─>└──────────────┘ ─────> is_finished(): the driver stops
//! ```
//!
//! # The driver loop
//!
//! 1. Hand in every user command and transport fact with [`Machine::handle`], and call
//!    [`Machine::handle_timeout`] once the deadline of step 3 has passed (early or repeated
//!    calls do nothing).
//! 2. Drain [`Machine::poll_effect`] until it returns `None`, carrying out each effect in order.
//! 3. Rearm the one timer from [`Machine::poll_timeout`] (only when the deadline moved).
//! 4. Stop once [`Machine::is_finished`] says so: every handle is gone and every connection
//!    is over.
//!
//! A session scripted by hand: open, the socket connects, one call, its response.
//!
//! ```
//! use std::time::Instant;
//!
//! use qix_rpc::{Bytes, EncodedCall};
//! use qix_session::{Call, Command, Config, Effect, Event, Input, Machine, Reply, Waiter};
//!
//! /// Step 2 of the loop: everything the machine asks for, in order.
//! fn drain(machine: &mut Machine) -> Vec<Effect> {
//!     std::iter::from_fn(|| machine.poll_effect()).collect()
//! }
//!
//! let mut machine = Machine::new(Config::default());
//! let now = Instant::now(); // the driver's clock, never the machine's
//!
//! // open(): the machine asks for a connection...
//! machine.handle(Input::Command { waiter: Waiter(1), command: Command::Open }, now);
//! let [Effect::Connect { conn }] = drain(&mut machine)[..] else { panic!("expected a connect") };
//!
//! // ...once the driver reports it connected, the machine waits for the engine's greeting
//! // (a new connection starts with no delta baseline, Q-DELTA-2)...
//! machine.handle(Input::Connected { conn }, now);
//! assert!(matches!(drain(&mut machine)[..], [Effect::ClearBaselines]));
//! let greeting = br#"{"jsonrpc":"2.0","method":"OnConnected","params":{"qSessionState":"SESSION_CREATED"}}"#;
//! let decoded = qix_rpc::decode_shared(Bytes::from_static(greeting));
//! machine.handle(Input::Frame { conn, decoded }, now);
//! // ...which opens the session: `opened`, the reply with Global, then the notification.
//! let effects = drain(&mut machine);
//! let [Effect::Emit(Event::TrafficReceived { .. }), Effect::Emit(Event::Opened), Effect::Reply { waiter: Waiter(1), reply: Reply::Opened(global) }, Effect::Emit(Event::Notification(_))] =
//!     &effects[..]
//! else {
//!     panic!("expected opened and the Global object, got {effects:?}")
//! };
//! assert_eq!(machine.engine_session(), qix_session::EngineSession::Created);
//! assert_eq!((global.handle, global.id.as_str()), (-1, "Global"));
//!
//! // A call: one frame to write, with request id 1 on Global's handle.
//! let call = Call {
//!     object: global.key,
//!     call: EncodedCall::new("EngineVersion", &[(); 0])?, // encoded by the caller, once
//!     returns_object: false,
//!     timeout: None, // the session's request_timeout
//!     accepts_delta: false, // the engine's own text, never patches (Q-DELTA-1)
//! };
//! machine.handle(Input::Command { waiter: Waiter(2), command: Command::Call(call) }, now);
//! let effects = drain(&mut machine);
//! let [Effect::Send { text, .. }] = &effects[..] else { panic!("expected a send") };
//! assert_eq!(text, r#"{"jsonrpc":"2.0","id":1,"handle":-1,"method":"EngineVersion","params":[]}"#);
//!
//! // The engine's response, decoded by the driver: traffic first, then the caller's result.
//! let frame = Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"result":{"qComponentVersion":"12.2.0"}}"#);
//! machine.handle(Input::Frame { conn, decoded: qix_rpc::decode_shared(frame) }, now);
//! let effects = drain(&mut machine);
//! let [Effect::Emit(Event::TrafficReceived { object }), Effect::Reply { waiter: Waiter(2), reply: Reply::Result(result) }] =
//!     &effects[..]
//! else {
//!     panic!("expected traffic and the result, got {effects:?}")
//! };
//! assert_eq!(*object, Some(global.key));
//! assert_eq!(result.get(), r#"{"qComponentVersion":"12.2.0"}"#);
//!
//! // Step 3: nothing to wait for.
//! assert_eq!(machine.poll_timeout(), None);
//! assert_eq!(machine.pending_calls(), 0);
//! # Ok::<(), qix_rpc::MethodError>(())
//! ```
//!
//! # Choices the rules leave open
//!
//! `docs/behaviour.md` lists the deviations from enigma.js with their rule ids; [`Machine`]
//! gives the order of effects. Decided here:
//! - an `OnConnected` whose `qSessionState` is missing or not a string counts as attached, as in
//!   enigma.js (SR7);
//! - a socket error on a connection that has not connected yet is not reported (enigma.js E11:
//!   the open fails instead, Q-OPEN-2); a connection is only over when the transport says closed;
//! - a response whose object was closed in the meantime still settles its call, but its
//!   [`Event::TrafficReceived`] names no object: a closed object gets no more events;
//! - a restore that hands two objects the same new handle keeps the first and closes the second,
//!   so handles in the registry stay unique.
//!

// Nothing that came off the wire may be unwrapped; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod effect;
mod input;
mod machine;
mod objects;
mod read_methods;
mod requests;
mod sockets;
mod timer;
mod types;

pub use effect::{
    is_object_topic, is_session_topic, Effect, Event, Initiator, ObjectInfo, Reply, SocketProblem,
    OBJECT_TOPICS, SESSION_TOPICS,
};
pub use input::{Call, Command, Input};
pub use machine::{Machine, ProbeCounts};
pub use types::{
    codes, AutoResume, Backoff, Cause, CloseEvent, Config, ConnId, EngineSession, Failure,
    Liveness, NotConnectedReason, ObjectKey, State, Waiter,
};

/// Whether `method` only reads engine state: a getter (`GetLayout`, `GetObject`, ...), an
/// evaluation, a check, a version or a search that only answers. After a network drop, an
/// automatic resume replays only these (Q-RETRY-1). The table is generated from the engine's
/// schema (`cargo xtask codegen`); a method it does not know counts as one that changes
/// state.
///
/// ```
/// assert!(qix_session::is_read_method("GetLayout"));
/// assert!(qix_session::is_read_method("EngineVersion"));
/// assert!(!qix_session::is_read_method("SelectValues"));
/// assert!(!qix_session::is_read_method("GetOrCreateObject")); // may create
/// ```
pub fn is_read_method(method: &str) -> bool {
    read_methods::READ_METHODS.binary_search(&method).is_ok()
}

#[cfg(test)]
mod tests;
