//! JSON Patch (RFC 6902) on `serde_json::Value`, with the few rules by which the QIX engine's
//! delta protocol reads it, and a cache of delta baselines that hands out full values. A patch
//! list applies all or nothing, and a value handed out is shared, never copied and never
//! changed afterwards.
//!
//! Take this crate alone when you speak the QIX delta protocol yourself (your own client, a
//! proxy, a recorder of engine traffic), or when you need atomic RFC 6902 patching of
//! `serde_json` values with errors that say which patch failed and why.
//!
//! # Overview
//!
//! - [`Patch`]: one operation as it travels (`{"op":"replace","path":"/a","value":1}`);
//!   [`parse_patches`] reads a list from text, [`patches_from_value`] from a [`Value`].
//! - [`apply`]: patches a value in place, all or nothing.
//! - [`DeltaCache`]: baselines keyed by (handle, method, result member);
//!   [`apply_result`](DeltaCache::apply_result) takes a whole delta `result`,
//!   [`drop_handle`](DeltaCache::drop_handle) and [`clear`](DeltaCache::clear) end baselines.
//! - [`Error`] and [`PatchError`]: what went wrong, with the failing patch's index, `op` and
//!   pointers.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use qix_delta::DeltaCache;
//! use serde_json::json;
//!
//! let mut cache = DeltaCache::new();
//! // First answer to GetLayout on handle 2: the whole layout at "/".
//! let first = cache.apply_result(2, "GetLayout",
//!     r#"{"qLayout":[{"op":"add","path":"/","value":{"title":"Sales","rows":[1,2]}}]}"#)?;
//! let (member, layout) = &first[0];
//! assert_eq!((member.as_str(), &**layout), ("qLayout", &json!({"title":"Sales","rows":[1,2]})));
//!
//! // Later answers carry only the changes...
//! let second = cache.apply_json(2, "GetLayout", "qLayout",
//!     r#"[{"op":"replace","path":"/title","value":"Costs"}]"#)?;
//! assert_eq!(second["title"], "Costs");
//! assert_eq!(layout["title"], "Sales"); // ...and what was handed out before stays as it was.
//!
//! // "Unchanged" is an empty list: the same value, not a copy.
//! let third = cache.apply_json(2, "GetLayout", "qLayout", "[]")?;
//! assert!(Arc::ptr_eq(&second, &third));
//!
//! // The engine closed handle 2: its baselines go.
//! assert_eq!(cache.drop_handle(2), 1);
//! # Ok::<(), qix_delta::Error>(())
//! ```
//!
//! # The engine's rules
//!
//! A delta answer replaces each member of `result` by a list of patches against what the
//! client got last time for the same handle, method and member. This crate reads those lists
//! as RFC 6902 says, except for these rules, which the engine and enigma.js follow:
//!
//! - **The whole value is `/`.** RFC 6901 reads `"/"` as the member named `""` of the root;
//!   the engine means the root itself, and so does this crate (`""` too). An `add` or
//!   `replace` there puts its value in place of the whole value, whatever either of them is:
//!   an object, an array, or a plain `false`, `3` or `"text"`, which then *is* the value.
//!   (So a top-level member named `""` cannot be reached; the engine's own reading.)
//! - **No baseline yet.** The first list for a key is applied to an empty array when its
//!   first patch carries an array `value`, and to an empty object otherwise. In practice the
//!   first list is a single `add` at `/`, so the start hardly matters.
//! - **An empty list means unchanged.** The cached value is handed out again as it is (the
//!   same `Arc`); with no baseline, the empty start is handed out and nothing is stored.
//!
//! # Deviations from enigma.js
//!
//! enigma.js patches JavaScript objects in place and keeps their references; some of its
//! behaviour follows from that and is not kept here:
//!
//! - A missing parent is an error ([`PatchErrorKind::NoParent`]), as RFC 6902 wants; enigma.js
//!   creates the missing containers.
//! - `~0` and `~1` are decoded in pointers (RFC 6901); enigma.js leaves them as written.
//! - `test` and `copy` are applied; enigma.js skips them.
//! - A root `null` or a root value of another type than the baseline replaces it; enigma.js
//!   throws PatchHasNoParent (-4) for those.
//! - `__proto__`, `constructor` and `prototype` are ordinary member names: there is no
//!   prototype to pollute.
//! - A failing list changes nothing, and a result is shared, not deep-copied per answer.
//!
//! With serde_json's `preserve_order` feature on (some crate in the build may turn it on), a
//! `remove` moves the last member into the removed one's place, and a rolled-back `remove`
//! puts its member back last: the values are equal, the member order is not kept.
//!
//! # Cost
//!
//! Patching moves the patch values into place and records what they displaced (an undo log of
//! moved values, no copies), so a list costs what its patches touch, not what the whole value
//! weighs. The one full copy happens when the previous value of a key is still held by someone
//! while the next patch arrives; drop old values to avoid it. `cargo bench -p qix-delta`
//! measures a 1 MB hypercube layout.
//!
//! # Why not the `json-patch` crate
//!
//! `json-patch` 5 is a good RFC 6902 implementation and was the first choice, but it does not
//! fit the protocol: it reads `"/"` as the member `""` (the engine's root rule would mean
//! rewriting lists before applying them); it reports a missing parent, an index past the end
//! and a parent that is not a container all as one `InvalidPointer`, where the session must
//! tell PatchHasNoParent apart; and it takes patches by reference, so each value is cloned on
//! its way in, the first full layout included. Measured on the benchmark's 1.1 MB layout, same
//! machine and build: the first answer (read + apply) took 48 to 56 ms with `json-patch` and
//! 13 to 18 ms here; a 300-patch delta took 370 µs against 162 µs (read + apply) and 240 to
//! 330 µs against 100 to 117 µs (apply only).

// Nothing that came off the wire may be unwrapped; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod apply;
mod cache;
mod error;
mod patch;
mod pointer;

pub use apply::apply;
pub use cache::DeltaCache;
pub use error::{At, Error, PatchError, PatchErrorKind};
pub use patch::{parse_patches, patches_from_value, Op, Patch};
pub use serde_json::Value;
