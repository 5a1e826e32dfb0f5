//! The naming rules, one place: engine members lose their `q` prefix and become snake_case
//! (`qLayout` -> `layout`, `qDBMSName` -> `dbms_name`); methods become snake_case
//! (`GetLayout` -> `get_layout`); enumeration values become UpperCamelCase
//! (`LOCERR_GENERIC_OK` -> `LocerrGenericOk`). A Rust keyword becomes a raw identifier
//! (`qType` -> `r#type`).

use heck::{ToSnakeCase, ToUpperCamelCase};

/// Keywords that `r#` makes usable as names.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers; they get a trailing underscore instead.
const RESERVED: &[&str] = &["self", "Self", "super", "crate"];

/// The Rust name of an engine member or parameter (`qLayout` -> `layout`).
pub(crate) fn member(wire: &str) -> String {
    let bare = match wire.strip_prefix('q') {
        Some(rest) if !rest.is_empty() => rest,
        _ => wire,
    };
    identifier(bare.to_snake_case())
}

/// The Rust name of an engine method (`GetLayout` -> `get_layout`).
pub(crate) fn method(wire: &str) -> String {
    identifier(wire.to_snake_case())
}

/// The Rust name of an enumeration value (`EXCL_SELECTED` -> `ExclSelected`).
pub(crate) fn variant(wire: &str) -> String {
    wire.to_upper_camel_case()
}

/// The module of a class (`GenericObject` -> `generic_object`).
pub(crate) fn module(class: &str) -> String {
    class.to_snake_case()
}

/// The marker type naming an out-parameter (`qLayout` -> `QLayout`).
pub(crate) fn key(wire: &str) -> String {
    wire.to_upper_camel_case()
}

/// A name in UpperCamelCase for generated items (`GetObjects` -> `GetObjects`).
pub(crate) fn camel(wire: &str) -> String {
    wire.to_upper_camel_case()
}

fn identifier(name: String) -> String {
    if RESERVED.contains(&name.as_str()) {
        format!("{name}_")
    } else if KEYWORDS.contains(&name.as_str()) {
        format!("r#{name}")
    } else {
        name
    }
}

/// The name without a raw-identifier prefix, for building other names from it.
pub(crate) fn plain(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_lose_the_q_and_become_snake_case() {
        assert_eq!(member("qLayout"), "layout");
        assert_eq!(member("qDBMSName"), "dbms_name");
        assert_eq!(member("qnDec"), "n_dec");
        assert_eq!(member("qx"), "x");
        assert_eq!(member("qType"), "r#type");
        assert_eq!(member("qBit32"), "bit32");
        assert_eq!(member("qSortbyYValue"), "sortby_y_value");
        assert_eq!(member("q"), "q");
    }

    #[test]
    fn methods_and_variants() {
        assert_eq!(method("GetLayout"), "get_layout");
        assert_eq!(method("GetBNF"), "get_bnf");
        assert_eq!(variant("LOCERR_GENERIC_OK"), "LocerrGenericOk");
        assert_eq!(variant("binningData"), "BinningData");
        assert_eq!(variant("XS"), "Xs");
        assert_eq!(variant("D1"), "D1");
    }
}
