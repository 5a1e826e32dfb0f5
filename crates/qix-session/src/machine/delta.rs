//! The delta rules (Q-DELTA-1, 2, 4): which requests ask the engine for patches, and when the
//! baselines those patches are relative to end. The patches themselves are the driver's: it
//! applies them in frame order and never decides when.

use std::collections::HashSet;

use qix_rpc::Handle;

use qix_rpc::{RawJson, RequestId};

use super::Machine;
use crate::requests::{DeltaKey, Pending, Purpose};
use crate::Effect;

/// Methods asked without delta even when it is on (Q-DELTA-1): the engine answers them badly
/// with it, so @qlik/api keeps them off too.
pub(crate) const NO_DELTA_METHODS: [&str; 2] = ["GetProperties", "GetFullPropertyTree"];

/// The (handle, method) pairs whose patches could not be applied: asked without delta until
/// the handle or the connection ends (Q-DELTA-4).
#[derive(Debug, Default)]
pub(crate) struct DeltaOff(HashSet<(Handle, Box<str>)>);

impl Machine {
    /// Q-DELTA-1: where a delta answer to this call would be applied, when the caller takes
    /// delta answers. A call that returns an object is read by the machine itself, so never.
    pub(super) fn delta_key(
        &self,
        handle: Handle,
        method: &str,
        accepts_delta: bool,
        returns_object: bool,
    ) -> Option<DeltaKey> {
        (accepts_delta && !returns_object).then(|| DeltaKey {
            handle,
            method: method.into(),
            asked: false,
        })
    }

    /// Q-DELTA-1: whether the request for `key` carries `"delta": true`.
    pub(super) fn asks_delta(&self, key: &DeltaKey) -> bool {
        // A scan, not a set lookup with a cloned key: this runs for every call, and the pairs
        // turned off are the rare ones whose patches failed.
        self.config.delta
            && !NO_DELTA_METHODS.contains(&&*key.method)
            && !self
                .delta_off
                .0
                .iter()
                .any(|(handle, method)| *handle == key.handle && **method == *key.method)
    }

    /// Q-DELTA-2: the engine closed `handle`: its baselines go.
    pub(super) fn drop_baselines(&mut self, handle: Handle) {
        self.delta_off.0.retain(|(h, _)| *h != handle);
        self.effects.push_back(Effect::DropBaselines {
            handle,
            method: None,
        });
    }

    /// Q-DELTA-2: a new connection (its engine starts baselines again, with new handles after
    /// a resume) or the session's end: every baseline goes.
    pub(super) fn clear_baselines(&mut self) {
        self.delta_off.0.clear();
        self.effects.push_back(Effect::ClearBaselines);
    }

    /// Q-DELTA-4: the driver could not apply an answer's patches for (`handle`, `method`).
    /// The engine's baseline has moved on while ours did not, so later patches would apply to
    /// the wrong value: that pair's baselines go, and it is asked without delta from now on
    /// (full answers, always right) until its handle or the connection ends.
    pub(super) fn delta_failed(&mut self, handle: Handle, method: String) {
        let method = method.into_boxed_str();
        self.delta_off.0.insert((handle, method.clone()));
        self.effects.push_back(Effect::DropBaselines {
            handle,
            method: Some(method),
        });
    }

    /// Q-DELTA-2: a call that asked for delta was written and its caller is gone
    /// (dropped, timed out). Its answer still comes, and the engine's baseline moved when it
    /// answered: the request stays in the table, without a waiter, so that a delta answer is
    /// still applied to the cache in its place among the frames.
    pub(super) fn abandon_delta(&mut self, id: RequestId, pending: Pending) {
        if let Purpose::Call {
            delta: Some(key), ..
        } = pending.purpose
        {
            if !key.asked {
                return; // the engine keeps no baseline for a request that did not ask
            }
            let pending = Pending {
                purpose: Purpose::Abandoned(key),
                deadline: None,
                ..pending
            };
            self.requests.insert(id, pending);
        }
    }

    /// The answer to an abandoned call (see [`abandon_delta`](Self::abandon_delta)).
    pub(super) fn abandoned_answer(&mut self, key: DeltaKey, delta: bool, result: Option<RawJson>) {
        match result {
            Some(result) if delta => self.effects.push_back(Effect::ApplyDelta {
                handle: key.handle,
                method: key.method,
                result,
            }),
            // A full answer or an error leaves the engine's baseline where ours is.
            _ => {}
        }
    }
}
