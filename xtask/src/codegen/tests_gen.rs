//! Prints `crates/qix-api/tests/generated/mod.rs`: what the tests need per type and per
//! method, which only the generator can list (a test cannot name a type from a string).

use std::collections::BTreeSet;
use std::fmt::Write;

use super::model::{Model, Ty, TypeKind};
use super::names;

pub(crate) fn helpers(model: &Model) -> String {
    let enums: BTreeSet<&str> = model
        .types
        .iter()
        .filter(|t| matches!(t.kind, TypeKind::Enum(_)))
        .map(|t| t.name.as_str())
        .collect();
    let mut out = String::new();
    out.push_str(
        "//! Per-type and per-method helpers for the tests, one entry per schema item.\n\n",
    );
    out.push_str("#![allow(deprecated, dead_code, unreachable_pub)]\n\n");
    out.push_str("use qix_api::types::*;\n\n");

    out.push_str("/// Deserializes `text` as the schema type `name` and serializes it back; `None` for a name\n/// that has no generated type.\n");
    out.push_str("pub fn round_trip(name: &str, text: &str) -> Option<Result<serde_json::Value, serde_json::Error>> {\n");
    out.push_str("    Some(match name {\n");
    for def in &model.types {
        let _ = writeln!(
            out,
            "        {:?} => again::<{}>(text),",
            def.name, def.name
        );
    }
    out.push_str("        _ => return None,\n    })\n}\n\n");
    out.push_str("fn again<T: serde::Serialize + serde::de::DeserializeOwned>(text: &str) -> Result<serde_json::Value, serde_json::Error> {\n");
    out.push_str(
        "    let value: T = serde_json::from_str(text)?;\n    serde_json::to_value(&value)\n}\n\n",
    );

    out.push_str("/// The types that keep members the schema does not list.\npub const KEEPS_EXTRA: &[&str] = &[\n");
    for def in &model.types {
        if let TypeKind::Struct { extra: true, .. } | TypeKind::Map = def.kind {
            let _ = writeln!(out, "    {:?},", def.name);
        }
    }
    out.push_str("];\n\n");

    out.push_str(
        "/// One wrapper of each class, to call every method on.\npub struct Wrappers {\n",
    );
    for class in &model.classes {
        let _ = writeln!(
            out,
            "    pub {}: qix_api::{},",
            names::module(&class.name),
            class.name
        );
    }
    out.push_str("}\n\n");
    out.push_str("/// Calls every generated method once, with empty or default arguments, ignoring the\n/// answers; returns how many calls it made.\n");
    out.push_str(
        "pub async fn call_every_method(w: &Wrappers) -> usize {\n    let mut calls = 0;\n",
    );
    for class in &model.classes {
        let field = names::module(&class.name);
        for method in &class.methods {
            let args: Vec<String> = method
                .required
                .iter()
                .map(|p| default_arg(&p.ty, &enums))
                .collect();
            let _ = writeln!(
                out,
                "    let _ = w.{field}.{}({}).await;\n    calls += 1;",
                method.rust,
                args.join(", ")
            );
        }
    }
    out.push_str("    calls\n}\n");
    out
}

fn default_arg(ty: &Ty, enums: &BTreeSet<&str>) -> String {
    match ty {
        Ty::Str => "\"\"".to_owned(),
        Ty::Bool => "false".to_owned(),
        Ty::Int(_) => "0".to_owned(),
        Ty::Float => "0.0".to_owned(),
        Ty::Json => "&serde_json::Value::Null".to_owned(),
        Ty::Named(name) if enums.contains(name.as_str()) => {
            format!("&{name}::Unknown(String::new())")
        }
        Ty::Named(_) => "&Default::default()".to_owned(),
        Ty::List(_) => "&[]".to_owned(),
    }
}
