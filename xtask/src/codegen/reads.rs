//! The one table of engine methods that only read (Q-RETRY-1), generated into qix-session:
//! after a network drop the session replays only these. qix-session cannot depend on
//! qix-api, so the table is written there from the same schema, and the freshness check
//! keeps it in step with the schema like the rest of the generated code.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::model::Class;

/// Names that read whatever follows the prefix: getters, evaluations, checks, questions.
const READ_PREFIXES: &[&str] = &["Get", "Evaluate", "Check", "Is"];

/// Reads whose name says nothing: versions, product names, counters, searches that only
/// answer (unlike `SearchListObjectFor`, which changes a list object's search state).
const READ_NAMES: &[&str] = &[
    "BackCount",
    "EngineVersion",
    "ExpandExpression",
    "FindMatchingFields",
    "ForwardCount",
    "GuessFileType",
    "OSName",
    "OSVersion",
    "ProductVersion",
    "QTProduct",
    "QvVersion",
    "SearchAssociations",
    "SearchObjects",
    "SearchResults",
    "SearchSuggest",
    "SearchValues",
];

/// Getters that change state: `GetOrCreateObject` may create an object, `GetInteract` takes
/// part in an interactive reload.
const NOT_READS: &[&str] = &["GetInteract", "GetOrCreateObject"];

pub(crate) fn is_read(method: &str) -> bool {
    if NOT_READS.contains(&method) {
        return false;
    }
    READ_NAMES.contains(&method)
        || READ_PREFIXES.iter().any(|prefix| {
            method.strip_prefix(prefix).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_uppercase())
            })
        })
}

/// `crates/qix-session/src/read_methods.rs`: the sorted names, for a binary search.
pub(crate) fn table(classes: &[Class]) -> String {
    let reads: BTreeSet<&str> = classes
        .iter()
        .flat_map(|class| &class.methods)
        .map(|method| method.wire.as_str())
        .filter(|method| is_read(method))
        .collect();
    let mut out = String::from(
        "/// Every method of the engine's schema that only reads, sorted (Q-RETRY-1). The rule\n\
         /// that picks them is in `xtask/src/codegen/reads.rs`.\n\
         pub(crate) const READ_METHODS: &[&str] = &[\n",
    );
    for method in reads {
        let _ = writeln!(out, "    {method:?},");
    }
    out.push_str("];\n");
    out
}

#[cfg(test)]
mod tests {
    use super::is_read;

    #[test]
    fn the_rule_reads_getters_and_versions_and_never_mutations() {
        for read in [
            "GetLayout",
            "GetObject",
            "Evaluate",
            "EvaluateEx",
            "EngineVersion",
        ] {
            assert!(is_read(read), "{read}");
        }
        for write in [
            "SelectValues",
            "SetProperties",
            "DoReload",
            "CreateObject",
            "GetOrCreateObject",
            "Issue",
            "Getaway",
        ] {
            assert!(!is_read(write), "{write}");
        }
    }
}
