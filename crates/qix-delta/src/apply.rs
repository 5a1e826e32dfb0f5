//! Applying a patch list in place, all or nothing.
//!
//! Atomicity comes from an undo log: each step records what it displaced (the old value moves
//! into the log, nothing is cloned), and a failing list is unwound in reverse. The log is kept
//! only when the caller's value must survive a failure; a scratch copy is simply dropped.

use std::mem;

use serde_json::{Number, Value};

use crate::error::{At, PatchError, PatchErrorKind};
use crate::patch::Patch;
use crate::pointer::{self, Pointer};

/// Applies `patches` to `doc` in order, with the engine's reading of `"/"` as the whole value.
///
/// All or nothing: on error `doc` is as it was and the error names the failing patch. The
/// patches' values are moved into `doc`, never copied (except by `copy`, which must).
///
/// ```
/// use qix_delta::{apply, Patch};
/// use serde_json::json;
///
/// let mut doc = json!({"title": "Sales", "rows": [1, 2]});
/// apply(&mut doc, vec![
///     Patch::Replace { path: "/title".into(), value: json!("Costs") },
///     Patch::Add { path: "/rows/-".into(), value: json!(3) },
/// ])?;
/// assert_eq!(doc, json!({"title": "Costs", "rows": [1, 2, 3]}));
///
/// // The second patch has no parent: the first one is rolled back.
/// let failed = apply(&mut doc, vec![
///     Patch::Remove { path: "/rows/0".into() },
///     Patch::Add { path: "/missing/x".into(), value: json!(0) },
/// ]);
/// assert!(failed.is_err_and(|error| error.index == 1 && error.is_no_parent()));
/// assert_eq!(doc, json!({"title": "Costs", "rows": [1, 2, 3]}));
/// # Ok::<(), qix_delta::PatchError>(())
/// ```
pub fn apply(doc: &mut Value, patches: Vec<Patch>) -> Result<(), PatchError> {
    apply_with(doc, patches, Log::Keep)
}

/// Whether the value must be restored when a patch fails.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Log {
    /// Keep an undo log and unwind on failure.
    Keep,
    /// The value is a scratch copy the caller drops on failure.
    Skip,
}

pub(crate) fn apply_with(
    doc: &mut Value,
    mut patches: Vec<Patch>,
    log: Log,
) -> Result<(), PatchError> {
    let mut undo = match log {
        // One step per patch (a `move` records one too), so the log never grows while it runs.
        Log::Keep => Vec::with_capacity(patches.len()),
        Log::Skip => Vec::new(),
    };
    let keep = (log == Log::Keep).then_some(&mut undo);
    if let Err((index, at, kind)) = run(doc, &mut patches, keep) {
        rewind(doc, &patches, undo);
        return Err(patches[index].error(index, at, kind));
    }
    Ok(())
}

type Failure = (usize, At, PatchErrorKind);

/// Undoes one step. The pointer is the patch's own `path` (or `from`), which leads to the same
/// place again once the later steps have been undone.
enum Undo {
    /// The whole value was replaced: put this one back.
    Root(Value),
    /// A member or an element was overwritten: put this one back.
    Restore(Value),
    /// A member was added where there was none: remove it.
    RemoveMember,
    /// A member was removed: add it back.
    AddMember(Value),
    /// An element was inserted at this index: remove it.
    RemoveElement(usize),
    /// An element was removed from this index: insert it back.
    InsertElement(usize, Value),
    /// A `move`: undo its add at `path`, which yields the moved value, and put that back at
    /// `from`. The value itself is never held twice.
    Moved { add: Box<Undo>, removed: Removed },
}

/// Where a removed value was, so that it can go back.
#[derive(Clone, Copy)]
enum Removed {
    Member,
    Element(usize),
}

impl Removed {
    fn undo(self, value: Value) -> Undo {
        match self {
            Removed::Member => Undo::AddMember(value),
            Removed::Element(index) => Undo::InsertElement(index, value),
        }
    }
}

/// A step of the undo log: the patch whose `path` it is about, and how to undo it.
struct Step {
    patch: usize,
    undo: Undo,
}

fn run(
    doc: &mut Value,
    patches: &mut [Patch],
    mut log: Option<&mut Vec<Step>>,
) -> Result<(), Failure> {
    for (index, patch) in patches.iter_mut().enumerate() {
        let mut record = |undo: Undo| {
            if let Some(log) = log.as_deref_mut() {
                log.push(Step { patch: index, undo });
            }
        };
        let fail = |at: At| move |kind| (index, at, kind);
        match patch {
            Patch::Add { path, value } => {
                let target = Pointer::parse(path).map_err(fail(At::Path))?;
                let undo =
                    add(doc, target, mem::take(value)).map_err(|(kind, _)| fail(At::Path)(kind))?;
                record(undo);
            }
            Patch::Remove { path } => {
                let target = Pointer::parse(path).map_err(fail(At::Path))?;
                let (removed, place) = remove(doc, target).map_err(fail(At::Path))?;
                record(place.undo(removed));
            }
            Patch::Replace { path, value } => {
                let target = Pointer::parse(path).map_err(fail(At::Path))?;
                let undo = replace(doc, target, mem::take(value)).map_err(fail(At::Path))?;
                record(undo);
            }
            Patch::Move { from, path } => {
                let source = Pointer::parse(from).map_err(fail(At::From))?;
                let target = Pointer::parse(path).map_err(fail(At::Path))?;
                if pointer::is_proper_child(path, from) {
                    return Err(fail(At::Path)(PatchErrorKind::MoveIntoChild));
                }
                let (moved, place) = remove(doc, source).map_err(fail(At::From))?;
                match add(doc, target, moved) {
                    Ok(undo) => record(Undo::Moved {
                        add: Box::new(undo),
                        removed: place,
                    }),
                    Err((kind, moved)) => {
                        // Put the value back at once, so that even an unlogged run leaves a
                        // whole document behind.
                        let restored = undo_at(doc, from, place.undo(moved));
                        debug_assert!(restored.is_ok(), "the source takes its value back");
                        return Err(fail(At::Path)(kind));
                    }
                }
            }
            Patch::Copy { from, path } => {
                let source = Pointer::parse(from).map_err(fail(At::From))?;
                let target = Pointer::parse(path).map_err(fail(At::Path))?;
                let copied = pointer::get(doc, source).map_err(fail(At::From))?.clone();
                let undo = add(doc, target, copied).map_err(|(kind, _)| fail(At::Path)(kind))?;
                record(undo);
            }
            Patch::Test { path, value } => {
                let target = Pointer::parse(path).map_err(fail(At::Path))?;
                let found = pointer::get(doc, target).map_err(fail(At::Path))?;
                if !same(found, value) {
                    return Err(fail(At::Path)(PatchErrorKind::TestFailed));
                }
            }
        }
    }
    Ok(())
}

/// Adds `value` at `target`; on failure the value comes back untouched.
fn add(
    doc: &mut Value,
    target: Pointer<'_>,
    value: Value,
) -> Result<Undo, (PatchErrorKind, Value)> {
    let (parent, last) = match target {
        Pointer::Root => return Ok(Undo::Root(mem::replace(doc, value))),
        Pointer::Child { parent, last } => (parent, last),
    };
    match pointer::walk_mut(doc, parent) {
        Ok(Value::Object(map)) => Ok(
            match map.insert(pointer::decode(last).into_owned(), value) {
                Some(old) => Undo::Restore(old),
                None => Undo::RemoveMember,
            },
        ),
        Ok(Value::Array(items)) => match pointer::insert_index(last, items.len()) {
            Ok(index) => {
                items.insert(index, value);
                Ok(Undo::RemoveElement(index))
            }
            Err(kind) => Err((kind, value)),
        },
        Ok(_) => Err((PatchErrorKind::NoParent, value)),
        Err(kind) => Err((kind, value)),
    }
}

fn remove(doc: &mut Value, target: Pointer<'_>) -> Result<(Value, Removed), PatchErrorKind> {
    let (parent, last) = match target {
        // The whole value has no parent to be removed from.
        Pointer::Root => return Err(PatchErrorKind::NoParent),
        Pointer::Child { parent, last } => (parent, last),
    };
    match pointer::walk_mut(doc, parent)? {
        Value::Object(map) => map
            .remove(pointer::decode(last).as_ref())
            .map(|removed| (removed, Removed::Member))
            .ok_or(PatchErrorKind::NotFound),
        Value::Array(items) => {
            let index = pointer::existing_index(last, items.len())?;
            Ok((items.remove(index), Removed::Element(index)))
        }
        _ => Err(PatchErrorKind::NoParent),
    }
}

fn replace(doc: &mut Value, target: Pointer<'_>, value: Value) -> Result<Undo, PatchErrorKind> {
    let (parent, last) = match target {
        Pointer::Root => return Ok(Undo::Root(mem::replace(doc, value))),
        Pointer::Child { parent, last } => (parent, last),
    };
    let slot = match pointer::walk_mut(doc, parent)? {
        Value::Object(map) => map
            .get_mut(pointer::decode(last).as_ref())
            .ok_or(PatchErrorKind::NotFound)?,
        Value::Array(items) => {
            let index = pointer::existing_index(last, items.len())?;
            &mut items[index]
        }
        _ => return Err(PatchErrorKind::NoParent),
    };
    Ok(Undo::Restore(mem::replace(slot, value)))
}

/// Unwinds the log, newest step first.
fn rewind(doc: &mut Value, patches: &[Patch], log: Vec<Step>) {
    for step in log.into_iter().rev() {
        let patch = &patches[step.patch];
        let path = patch.path();
        let undone = match step.undo {
            Undo::Moved { add, removed } => match undo_at(doc, path, *add) {
                Ok(Some(moved)) => {
                    undo_at(doc, patch.from().unwrap_or_default(), removed.undo(moved))
                }
                _ => Err(()),
            },
            undo => undo_at(doc, path, undo),
        };
        debug_assert!(
            undone.is_ok(),
            "an undo step for `{path}` did not find its place"
        );
    }
}

/// Undoes one step at `path`, returning the value that the undo took out, if any.
fn undo_at(doc: &mut Value, path: &str, undo: Undo) -> Result<Option<Value>, ()> {
    if let Undo::Root(old) = undo {
        return Ok(Some(mem::replace(doc, old)));
    }
    let Ok(Pointer::Child { parent, last }) = Pointer::parse(path) else {
        return Err(());
    };
    let parent = pointer::walk_mut(doc, parent).map_err(drop)?;
    match (parent, undo) {
        (Value::Object(map), Undo::Restore(old)) => map
            .insert(pointer::decode(last).into_owned(), old)
            .ok_or(())
            .map(Some),
        (Value::Object(map), Undo::AddMember(old)) => {
            map.insert(pointer::decode(last).into_owned(), old);
            Ok(None)
        }
        (Value::Object(map), Undo::RemoveMember) => map
            .remove(pointer::decode(last).as_ref())
            .ok_or(())
            .map(Some),
        (Value::Array(items), Undo::Restore(old)) => {
            let index = pointer::existing_index(last, items.len()).map_err(drop)?;
            Ok(Some(mem::replace(&mut items[index], old)))
        }
        (Value::Array(items), Undo::RemoveElement(index)) if index < items.len() => {
            Ok(Some(items.remove(index)))
        }
        (Value::Array(items), Undo::InsertElement(index, old)) if index <= items.len() => {
            items.insert(index, old);
            Ok(None)
        }
        _ => Err(()),
    }
}

/// JSON equality as RFC 6902 `test` wants it: numbers are equal when their values are.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => same_number(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| same(x, y)))
        }
        _ => a == b,
    }
}

fn same_number(x: &Number, y: &Number) -> bool {
    if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
        return x == y;
    }
    x.as_f64() == y.as_f64()
}
