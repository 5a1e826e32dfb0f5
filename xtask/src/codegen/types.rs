//! Prints the schema's types: structs, enumerations, aliases.

use std::fmt::Write;

use super::docs;
use super::model::{Field, Ty, TypeDef, TypeKind, EXTRA_FIELD};

/// The Rust type of a member or out-parameter.
pub(crate) fn field_ty(ty: &Ty) -> String {
    match ty {
        Ty::Str => "String".to_owned(),
        Ty::Bool => "bool".to_owned(),
        Ty::Int(rust) => (*rust).to_owned(),
        Ty::Float => "crate::Float64".to_owned(),
        Ty::Json => "serde_json::Value".to_owned(),
        Ty::Named(name) => name.clone(),
        Ty::List(item) => format!("Vec<{}>", field_ty(item)),
    }
}

/// The doc comment of an item: the schema's description, else `fallback`, then notes.
pub(crate) fn item_doc(
    description: Option<&str>,
    fallback: &str,
    notes: &[String],
    indent: usize,
) -> String {
    let mut text = match description.map(str::trim) {
        Some(d) if !d.is_empty() => docs::markdown(d),
        _ => fallback.to_owned(),
    };
    for note in notes {
        text.push_str("\n\n");
        text.push_str(note);
    }
    docs::comment(&text, indent)
}

pub(crate) fn stability_note(stability: Option<&str>) -> Vec<String> {
    match stability {
        Some("experimental") => {
            vec!["**Experimental** in the engine's API: it may change or go.".to_owned()]
        }
        _ => Vec::new(),
    }
}

/// `types.rs`: every struct, map and alias.
pub(crate) fn structs(types: &[TypeDef]) -> String {
    let mut out = String::new();
    out.push_str(
        "#![allow(deprecated)]\n\nuse serde::{Deserialize, Serialize};\n\nuse super::enums::*;\n\n",
    );
    for def in types {
        let notes = stability_note(def.stability.as_deref());
        let fallback = format!("The engine's `{}`.", def.name);
        match &def.kind {
            TypeKind::Enum(_) => continue,
            TypeKind::Struct { fields, extra } => {
                out.push_str(&item_doc(def.doc.as_deref(), &fallback, &notes, 0));
                deprecated(&mut out, def.deprecated, 0);
                out.push_str(
                    "#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]\n",
                );
                let _ = writeln!(out, "pub struct {} {{", def.name);
                for field in fields {
                    struct_field(&mut out, field, true);
                }
                if *extra {
                    out.push_str(concat!(
                        "    /// Members the schema does not list (user-defined properties, and ",
                        "dynamic ones such as `qHyperCube`), kept as the engine sent them.\n",
                        "    #[serde(flatten)]\n",
                    ));
                    let _ = writeln!(
                        out,
                        "    pub {EXTRA_FIELD}: serde_json::Map<String, serde_json::Value>,"
                    );
                }
                out.push_str("}\n\n");
            }
            TypeKind::Map => {
                out.push_str(&item_doc(def.doc.as_deref(), &fallback, &notes, 0));
                deprecated(&mut out, def.deprecated, 0);
                out.push_str(
                    "#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]\n",
                );
                out.push_str("#[serde(transparent)]\n");
                let _ = writeln!(out, "pub struct {} {{", def.name);
                out.push_str("    /// Its members: the schema lists none, the engine or the user may put any.\n");
                let _ = writeln!(
                    out,
                    "    pub {EXTRA_FIELD}: serde_json::Map<String, serde_json::Value>,\n}}\n"
                );
            }
            TypeKind::List(item) => {
                out.push_str(&item_doc(def.doc.as_deref(), &fallback, &notes, 0));
                deprecated(&mut out, def.deprecated, 0);
                let _ = writeln!(out, "pub type {} = Vec<{}>;\n", def.name, field_ty(item));
            }
            TypeKind::Blob => {
                let doc = format!("{fallback}: binary data, base64-encoded.");
                out.push_str(&item_doc(def.doc.as_deref(), &doc, &notes, 0));
                let _ = writeln!(out, "pub type {} = String;\n", def.name);
            }
        }
    }
    out
}

/// One `Option` member with its serde name; `skip` leaves `None` out when serializing.
pub(crate) fn struct_field(out: &mut String, field: &Field, skip: bool) {
    let mut notes = Vec::new();
    if let Some(default) = &field.default {
        notes.push(format!("Default: `{default}`."));
    }
    let fallback = format!("The `{}` member.", field.wire);
    out.push_str(&item_doc(field.doc.as_deref(), &fallback, &notes, 4));
    deprecated(out, field.deprecated, 4);
    if skip {
        let _ = writeln!(
            out,
            "    #[serde(rename = \"{}\", skip_serializing_if = \"Option::is_none\")]",
            field.wire
        );
    } else {
        let _ = writeln!(out, "    #[serde(rename = \"{}\")]", field.wire);
    }
    let _ = writeln!(
        out,
        "    pub {}: Option<{}>,",
        field.rust,
        field_ty(&field.ty)
    );
}

fn deprecated(out: &mut String, deprecated: bool, indent: usize) {
    if deprecated {
        let _ = writeln!(
            out,
            "{}#[deprecated(note = \"deprecated in the engine's API\")]",
            " ".repeat(indent)
        );
    }
}

/// `enums.rs`: every string enumeration, with an `Unknown` fallback.
pub(crate) fn enums(types: &[TypeDef]) -> String {
    let mut out = String::from("#![allow(deprecated)]\n\n");
    for def in types {
        let TypeKind::Enum(variants) = &def.kind else {
            continue;
        };
        let mut notes = stability_note(def.stability.as_deref());
        notes.push(format!(
            "Sent as its name (`\"{}\"`); the engine's number is [`code`]({}::code). A name \
             this schema does not list deserializes as [`Unknown`]({}::Unknown), so a newer \
             engine does not break a program.",
            variants
                .first()
                .map(|v| v.wire.as_str())
                .unwrap_or_default(),
            def.name,
            def.name,
        ));
        let fallback = format!("The engine's `{}` enumeration.", def.name);
        out.push_str(&item_doc(def.doc.as_deref(), &fallback, &notes, 0));
        deprecated(&mut out, def.deprecated, 0);
        out.push_str("#[derive(Debug, Clone, PartialEq, Eq, Hash)]\n#[non_exhaustive]\n");
        let _ = writeln!(out, "pub enum {} {{", def.name);
        for variant in variants {
            let doc = match variant.doc.as_deref().map(str::trim) {
                Some(d) if !d.is_empty() => {
                    format!(
                        "`{}` ({}): {}",
                        variant.wire,
                        variant.code,
                        docs::markdown(d)
                    )
                }
                _ => format!("`{}` ({}).", variant.wire, variant.code),
            };
            out.push_str(&docs::comment(&doc, 4));
            let _ = writeln!(out, "    {},", variant.rust);
        }
        out.push_str("    /// A name this schema does not list, as the engine sent it.\n");
        out.push_str("    Unknown(String),\n}\n\n");
        let _ = writeln!(out, "crate::wire::wire_enum!({} {{", def.name);
        for variant in variants {
            let _ = writeln!(
                out,
                "    {} = ({:?}, {}),",
                variant.rust, variant.wire, variant.code
            );
        }
        out.push_str("});\n\n");
    }
    out
}
