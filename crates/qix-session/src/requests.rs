//! The table of requests written on the current connection and not yet answered, with their
//! deadlines.

use std::collections::BTreeSet;
use std::time::Instant;

use qix_rpc::RequestId;
use rustc_hash::FxHashMap;

use crate::{Call, ObjectKey, Waiter};

/// Why a request was written.
#[derive(Debug)]
pub(crate) enum Purpose {
    /// A user call; its response settles `waiter`.
    Call {
        waiter: Waiter,
        returns_object: bool,
        /// The call again, kept to replay it after a network drop (Q-RETRY-1): only for a
        /// method that reads, when the session replays reads.
        replay: Option<Box<Call>>,
        /// Where a delta answer's baselines live, when the caller takes delta answers
        /// (Q-DELTA-1): an answer marked `delta` settles as [`Reply::Delta`](crate::Reply::Delta)
        /// whether or not the request asked.
        delta: Option<DeltaKey>,
    },
    /// One step of a resume's restore plan (Q-RES-3), for the object with this key.
    Restore(RestoreStep, ObjectKey),
    /// A liveness probe (Q-LIVE-1): any frame answers it, its own response included.
    Probe,
    /// A `CancelRequest` for a call that was dropped or timed out (Q-CANCEL-1).
    Cancel,
    /// A delta call that was dropped or timed out after it was written: nobody waits for its
    /// answer, but the engine moved its baseline when it answered, so a delta answer is still
    /// applied (Q-DELTA-2).
    Abandoned(DeltaKey),
}

/// The handle and method a delta answer's patches are relative to.
#[derive(Debug)]
pub(crate) struct DeltaKey {
    pub(crate) handle: qix_rpc::Handle,
    pub(crate) method: Box<str>,
    /// The request carried `"delta": true`.
    pub(crate) asked: bool,
}

/// Which restore request a response answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RestoreStep {
    /// `GetActiveDoc` for the Doc.
    ActiveDoc,
    /// `OpenDoc` again, after `GetActiveDoc` failed.
    OpenDoc,
    /// `Get<Type>` for one object on the new Doc handle.
    Object,
}

/// A request waiting for its response.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The object the request concerns (the one called, or the one being restored), for its
    /// traffic; none for probes and cancels.
    pub(crate) object: Option<ObjectKey>,
    pub(crate) purpose: Purpose,
    /// When it was written, for the `Timeout` error's elapsed time.
    pub(crate) sent: Instant,
    /// When it times out (Q-TIME-1).
    pub(crate) deadline: Option<Instant>,
}

/// Only one connection carries requests at a time, so everything in here belongs to the
/// current connection and goes when it goes.
#[derive(Debug)]
pub(crate) struct Requests {
    next_id: RequestId,
    /// Keyed by ids this table hands out, never by the peer's choice, so a fast hash cannot be
    /// turned against it (a hostile id in a response is one lookup).
    pending: FxHashMap<RequestId, Pending>,
    /// The deadlines of the pending requests that have one, earliest first.
    deadlines: BTreeSet<(Instant, RequestId)>,
    /// How many of the pending requests are user calls.
    calls: usize,
}

impl Requests {
    pub(crate) fn new() -> Self {
        Self {
            next_id: 1,
            pending: FxHashMap::default(),
            deadlines: BTreeSet::new(),
            calls: 0,
        }
    }

    /// A fresh id. Ids are never reused for the life of the machine (Q-REQ-1).
    pub(crate) fn allocate(&mut self) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(crate) fn insert(&mut self, id: RequestId, pending: Pending) {
        if let Some(deadline) = pending.deadline {
            self.deadlines.insert((deadline, id));
        }
        if matches!(pending.purpose, Purpose::Call { .. }) {
            self.calls += 1;
        }
        self.pending.insert(id, pending);
    }

    /// The request `id` answers, removed from the table: one lookup per response.
    pub(crate) fn take(&mut self, id: RequestId) -> Option<Pending> {
        let pending = self.pending.remove(&id)?;
        if let Some(deadline) = pending.deadline {
            self.deadlines.remove(&(deadline, id));
        }
        if matches!(pending.purpose, Purpose::Call { .. }) {
            self.calls -= 1;
        }
        Some(pending)
    }

    /// The user call that `waiter` waits for, removed from the table. A scan: cancelling is
    /// rare next to answering.
    pub(crate) fn take_call(&mut self, waiter: Waiter) -> Option<(RequestId, Pending)> {
        let id = self.pending.iter().find_map(|(id, pending)| {
            matches!(pending.purpose, Purpose::Call { waiter: w, .. } if w == waiter).then_some(*id)
        })?;
        self.take(id).map(|pending| (id, pending))
    }

    /// The id of the user call that `waiter` waits for, if it is pending.
    pub(crate) fn id_of(&self, waiter: Waiter) -> Option<RequestId> {
        let is_its = |pending: &Pending| matches!(pending.purpose, Purpose::Call { waiter: w, .. } if w == waiter);
        // Asked right after the call was written, it is the last id handed out: no scan of
        // a window that may hold a thousand requests.
        let last = self.next_id.wrapping_sub(1);
        if self.pending.get(&last).is_some_and(is_its) {
            return Some(last);
        }
        self.pending
            .iter()
            .find_map(|(id, pending)| is_its(pending).then_some(*id))
    }

    /// The earliest deadline of a pending request.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    /// A request whose deadline is not after `now`, removed from the table.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<(RequestId, Pending)> {
        let &(deadline, id) = self.deadlines.first()?;
        if deadline > now {
            return None;
        }
        self.take(id).map(|pending| (id, pending))
    }

    /// Empties the table: the waiters of the user calls, oldest first. Other requests are
    /// forgotten; the resume that sent restore requests answers for them.
    pub(crate) fn drain_calls(&mut self) -> Vec<Waiter> {
        self.drain_replayable()
            .into_iter()
            .map(|(waiter, _)| waiter)
            .collect()
    }

    /// As [`drain_calls`](Self::drain_calls), with the call to replay of each that has one.
    pub(crate) fn drain_replayable(&mut self) -> Vec<(Waiter, Option<Box<Call>>)> {
        self.deadlines.clear();
        self.calls = 0;
        let mut calls: Vec<_> = self
            .pending
            .drain()
            .filter_map(|(id, pending)| match pending.purpose {
                Purpose::Call { waiter, replay, .. } => Some((id, waiter, replay)),
                _ => None,
            })
            .collect();
        calls.sort_unstable_by_key(|(id, _, _)| *id);
        calls
            .into_iter()
            .map(|(_, waiter, replay)| (waiter, replay))
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// How many user calls are pending.
    pub(crate) fn calls(&self) -> usize {
        self.calls
    }

    /// User calls pending, the ones a liveness check waits for.
    pub(crate) fn has_calls(&self) -> bool {
        self.calls > 0
    }
}
