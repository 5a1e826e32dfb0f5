//! The table of requests written on the current connection and not yet answered.

use std::collections::HashMap;

use qix_rpc::RequestId;

use crate::{ObjectKey, Waiter};

/// Why a request was written.
#[derive(Debug)]
pub(crate) enum Purpose {
    /// A user call; its response settles `waiter`.
    Call {
        waiter: Waiter,
        returns_object: bool,
    },
    /// One step of a resume's restore plan (Q-RES-3).
    Restore(RestoreStep),
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
    /// The object the request concerns (the one called, or the one being restored).
    pub(crate) object: ObjectKey,
    pub(crate) purpose: Purpose,
}

/// Only one connection carries requests at a time, so everything in here belongs to the
/// current connection and goes when it goes.
#[derive(Debug)]
pub(crate) struct Requests {
    next_id: RequestId,
    pending: HashMap<RequestId, Pending>,
}

impl Requests {
    pub(crate) fn new() -> Self {
        Self {
            next_id: 1,
            pending: HashMap::new(),
        }
    }

    /// A fresh id. Ids are never reused for the life of the machine (Q-REQ-1).
    pub(crate) fn allocate(&mut self) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(crate) fn insert(&mut self, id: RequestId, pending: Pending) {
        self.pending.insert(id, pending);
    }

    /// The request `id` answers, removed from the table: one lookup per response.
    pub(crate) fn take(&mut self, id: RequestId) -> Option<Pending> {
        self.pending.remove(&id)
    }

    /// Empties the table: the waiters of the user calls, oldest first. Restore requests are
    /// forgotten; the resume that sent them answers for them.
    pub(crate) fn drain_calls(&mut self) -> Vec<Waiter> {
        let mut calls: Vec<(RequestId, Waiter)> = self
            .pending
            .drain()
            .filter_map(|(id, pending)| match pending.purpose {
                Purpose::Call { waiter, .. } => Some((id, waiter)),
                Purpose::Restore(_) => None,
            })
            .collect();
        calls.sort_unstable_by_key(|(id, _)| *id);
        calls.into_iter().map(|(_, waiter)| waiter).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }
}
