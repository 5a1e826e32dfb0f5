//! The spans of the calls and commands a tracing subscriber wants to hear about (Q-TRACE-1):
//! opened when the driver takes them, given the request id once it is written, ended with
//! the outcome. Untraced calls cost one interest check.

use std::time::Instant;

use qix_rpc::RequestId;
use qix_session::{Command, Failure, ObjectKey, Waiter};
use rustc_hash::FxHashMap;
use tracing::field::Empty;

/// A traced call or command: its span, and when the driver took it.
struct Trace {
    span: tracing::Span,
    taken: Instant,
    call: bool,
}

/// The traced calls and commands still waiting, by waiter.
#[derive(Default)]
pub(crate) struct Traces(FxHashMap<Waiter, Trace>);

impl Traces {
    /// True when nothing is traced: the driver then skips the look-ups.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Opens the span of a call (`qix::call`, debug) or a lifecycle command (debug), when a
    /// subscriber wants it. `handle` gives the handle of a call's object, `now` when it was
    /// taken.
    pub(crate) fn start(
        &mut self,
        waiter: Waiter,
        command: &Command,
        handle: impl FnOnce(ObjectKey) -> Option<i32>,
        now: impl FnOnce() -> Instant,
    ) {
        let (span, call) = match command {
            Command::Call(call) => (
                tracing::debug_span!(
                    target: "qix::call",
                    "call",
                    method = call.call.method(),
                    handle = handle(call.object),
                    id = Empty,
                ),
                true,
            ),
            Command::Open => (tracing::debug_span!("open"), false),
            Command::Close { code, .. } => (tracing::debug_span!("close", code), false),
            Command::Suspend { code, .. } => (tracing::debug_span!("suspend", code), false),
            Command::Resume { only_if_attached } => {
                (tracing::debug_span!("resume", only_if_attached), false)
            }
        };
        if !span.is_disabled() {
            let taken = now();
            self.0.insert(waiter, Trace { span, taken, call });
        }
    }

    /// Gives a traced call's span its request id (Q-REQ-1), once the call is written.
    pub(crate) fn record_id(&self, waiter: Waiter, id: impl FnOnce() -> Option<RequestId>) {
        if let Some(trace) = self.0.get(&waiter).filter(|trace| trace.call) {
            if let Some(id) = id() {
                trace.span.record("id", id);
            }
        }
    }

    /// Ends the trace of `waiter`, if it has one, with its outcome.
    pub(crate) fn end(
        &mut self,
        waiter: Waiter,
        failure: Option<&Failure>,
        cancelled: bool,
        now: Instant,
    ) {
        let Some(trace) = self.0.remove(&waiter) else {
            return;
        };
        let elapsed = now.saturating_duration_since(trace.taken);
        let elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let span = &trace.span;
        match (trace.call, failure) {
            _ if cancelled => {
                tracing::debug!(target: "qix::call", parent: span, elapsed_us, outcome = "cancelled", "call cancelled: its caller left");
            }
            (true, None) => {
                tracing::debug!(target: "qix::call", parent: span, elapsed_us, outcome = "ok", "call answered");
            }
            (true, Some(failure)) => {
                tracing::debug!(target: "qix::call", parent: span, elapsed_us, outcome = "error", error = %failure, "call failed");
            }
            (false, None) => {
                tracing::debug!(parent: span, elapsed_us, outcome = "ok", "done");
            }
            (false, Some(failure)) => {
                tracing::info!(parent: span, elapsed_us, outcome = "error", error = %failure, "failed");
            }
        }
    }
}
