//! Prints one wrapper per engine class, with an async method per engine method.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::docs;
use super::model::{is_generic_getter, Class, Field, MethodDef, Ty};
use super::names;
use super::types::{field_ty, item_doc, stability_note, struct_field};

/// The type of a required argument: borrowed where the value is not `Copy`.
fn arg_ty(ty: &Ty) -> String {
    match ty {
        Ty::Str => "&str".to_owned(),
        Ty::Bool => "bool".to_owned(),
        Ty::Int(rust) => (*rust).to_owned(),
        Ty::Float => "f64".to_owned(),
        Ty::Json => "&serde_json::Value".to_owned(),
        Ty::Named(name) => format!("&{name}"),
        Ty::List(item) => format!("&[{}]", field_ty(item)),
    }
}

/// What `Params::push` gets for a required argument.
fn arg_value(field: &Field) -> String {
    match field.ty {
        Ty::Str | Ty::Named(_) | Ty::List(_) | Ty::Json => field.rust.clone(),
        Ty::Float => format!("&crate::Float64({})", field.rust),
        Ty::Bool | Ty::Int(_) => format!("&{}", field.rust),
    }
}

/// The out-parameters' marker types that `keys.rs` must define.
pub(crate) fn keys(classes: &[Class]) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for class in classes {
        for method in &class.methods {
            if method.outs.len() == 1 && method.returns.is_none() {
                keys.insert(method.outs[0].wire.clone());
            }
        }
    }
    keys
}

pub(crate) fn class(class: &Class) -> String {
    let mut out = String::new();
    // Deprecated engine items are still generated (and marked); required params are
    // arguments, and a few methods have more than clippy's seven.
    out.push_str("#![allow(deprecated, clippy::too_many_arguments)]\n\n");
    out.push_str("#[allow(unused_imports)]\nuse crate::types::*;\n");
    out.push_str("use crate::wire::{self, Out};\nuse qix::Error;\n\n");
    out.push_str("use super::keys;\n\n");
    let _ = writeln!(out, "crate::wire::wrapper! {{");
    out.push_str(&docs::comment(
        &format!(
            "{}\n\nThe engine's `{}` class: a [`qix::Object`] with one async method per \
             engine method.",
            class.doc, class.name
        ),
        4,
    ));
    let _ = writeln!(out, "    {}\n}}\n", class.name);
    let _ = writeln!(out, "impl {} {{", class.name);
    for method in &class.methods {
        method_fns(&mut out, class, method);
    }
    out.push_str("}\n\n");
    for method in &class.methods {
        if !method.optional.is_empty() {
            options_struct(&mut out, class, method);
        }
        if method.outs.len() > 1 && method.returns.is_none() {
            output_struct(&mut out, class, method);
        }
        if method.returns.is_some() && !extra_outs(method).is_empty() {
            object_output_structs(&mut out, class, method);
        }
    }
    out
}

fn method_doc(class: &Class, method: &MethodDef) -> String {
    let mut notes = Vec::new();
    if !method.required.is_empty() {
        let mut list = String::from("# Parameters\n");
        for param in &method.required {
            let text = match param.doc.as_deref().map(str::trim) {
                Some(d) if !d.is_empty() => docs::markdown(d),
                _ => format!("`{}`.", param.wire),
            };
            let text = text.replace('\n', "\n  ");
            let text = text.replace("\n  \n", "\n\n");
            let _ = write!(list, "\n* `{}`: {}", names::plain(&param.rust), text);
        }
        notes.push(list);
    }
    if method.returns.is_some() && !extra_outs(method).is_empty() {
        let others: Vec<String> = extra_outs(method)
            .iter()
            .map(|o| format!("`{}`", o.wire))
            .collect();
        notes.push(format!(
            "Returns the object with the engine's other out-parameters ({}), in [`{}`].",
            others.join(", "),
            method.output_name()
        ));
    }
    notes.extend(stability_note(method.stability.as_deref()));
    notes.push(format!("Engine method `{}.{}`.", class.name, method.wire));
    let fallback = format!("Calls `{}`.", method.wire);
    item_doc(method.doc.as_deref(), &fallback, &notes, 4)
}

fn deprecation(out: &mut String, method: &MethodDef) {
    if let Some(note) = &method.deprecated {
        let note = note.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(out, "    #[deprecated(note = \"{note}\")]");
    }
}

/// The return type and the expression that makes the call with `params`.
fn call(method: &MethodDef, params: &str) -> (String, String) {
    let wire = &method.wire;
    if let (Some(class), false) = (&method.returns, extra_outs(method).is_empty()) {
        let output = method.output_name();
        let fields: Vec<String> = extra_outs(method)
            .iter()
            .map(|o| format!("{0}: rest.{0}", o.rust))
            .collect();
        return (
            output.clone(),
            format!(
                "{{\n            let (object, result) = self.object.call_object_with_result(\"{wire}\", {params}).await?;\n            let rest: {output}Rest = serde_json::from_str(result.get()).map_err(|e| Error::ResultType(std::sync::Arc::new(e)))?;\n            Ok({output} {{ object: crate::{class}::from(object), {} }})\n        }}",
                fields.join(", ")
            ),
        );
    }
    if let Some(class) = &method.returns {
        return (
            format!("crate::{class}"),
            format!(
                "self.object.call_object(\"{wire}\", {params}).await.map(crate::{class}::from)"
            ),
        );
    }
    match method.outs.as_slice() {
        [] => (
            "()".to_owned(),
            format!("self.object.call_raw(\"{wire}\", {params}).await.map(drop)"),
        ),
        [single] => {
            let ty = field_ty(&single.ty);
            let key = names::key(&single.wire);
            (
                ty.clone(),
                format!(
                    "self.object.call_as::<Out<{ty}, keys::{key}>>(\"{wire}\", {params}).await.map(Out::into_inner)"
                ),
            )
        }
        _ => {
            let output = method.output_name();
            (
                output.clone(),
                format!("self.object.call_as::<{output}>(\"{wire}\", {params}).await"),
            )
        }
    }
}

fn method_fns(out: &mut String, class: &Class, method: &MethodDef) {
    let args: Vec<String> = method
        .required
        .iter()
        .map(|p| format!("{}: {}", p.rust, arg_ty(&p.ty)))
        .collect();
    let arg_names: Vec<&str> = method.required.iter().map(|p| p.rust.as_str()).collect();
    let with_options = !method.optional.is_empty();
    let rust = &method.rust;

    out.push_str(&method_doc(class, method));
    deprecation(out, method);
    let (ret, _) = call(method, "params");
    if with_options {
        let _ = writeln!(
            out,
            "    pub async fn {rust}(&self, {}) -> Result<{ret}, Error> {{\n        self.{rust}_with({}{}{}::default()).await\n    }}\n",
            args.join(", "),
            arg_names.join(", "),
            if arg_names.is_empty() { "" } else { ", " },
            method.options_name(),
        );
        let _ = writeln!(
            out,
            "    /// [`{rust}`](Self::{rust}) with the engine's optional params: see [`{}`].",
            method.options_name()
        );
        deprecation(out, method);
    }
    let name = if with_options {
        format!("{rust}_with")
    } else {
        rust.clone()
    };
    let mut all_args = args.clone();
    if with_options {
        all_args.push(format!("optional: {}", method.options_name()));
    }
    let body = if method.order.is_empty() {
        call(method, "wire::no_params()").1
    } else {
        let mut body = format!(
            "let mut params = wire::Params::new({});\n",
            method.order.len()
        );
        for wire_name in &method.order {
            if let Some(param) = method.required.iter().find(|p| &p.wire == wire_name) {
                let _ = writeln!(body, "params.push(\"{wire_name}\", {})?;", arg_value(param));
            } else if let Some(param) = method.optional.iter().find(|p| &p.wire == wire_name) {
                let _ = writeln!(
                    body,
                    "params.push_opt(\"{wire_name}\", optional.{}.as_ref())?;",
                    param.rust
                );
            }
        }
        body.push_str(&call(method, "params.finish()").1);
        body
    };
    let _ = writeln!(
        out,
        "    pub async fn {name}(&self, {}) -> Result<{ret}, Error> {{\n{body}\n    }}\n",
        all_args.join(", ")
    );

    if is_generic_getter(method) {
        let single = &method.outs[0];
        let key = names::key(&single.wire);

        let _ = writeln!(
            out,
            "    /// [`{rust}`](Self::{rust}) deserialized into a type of your own (say, one \
             that names the members your objects carry), in one pass over the engine's text.\n    \
             ///\n    /// Engine method `{}.{}`; `T` gets the `{}` out-parameter.\n    \
             pub async fn {rust}_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {{\n        \
             self.object.call_as::<Out<T, keys::{key}>>(\"{}\", wire::no_params()).await.map(Out::into_inner)\n    }}\n",
            class.name, method.wire, single.wire, method.wire
        );
    }
}

fn options_struct(out: &mut String, class: &Class, method: &MethodDef) {
    let _ = writeln!(
        out,
        "/// The optional params of [`{}::{}_with`]; `Default` leaves them all out (the engine's defaults).",
        class.name, method.rust
    );
    out.push_str("#[derive(Debug, Clone, Default, PartialEq)]\n");
    let _ = writeln!(out, "pub struct {} {{", method.options_name());
    for param in &method.optional {
        let fallback = format!("`{}`.", param.wire);
        out.push_str(&item_doc(param.doc.as_deref(), &fallback, &[], 4));
        let _ = writeln!(
            out,
            "    pub {}: Option<{}>,",
            param.rust,
            field_ty(&param.ty)
        );
    }
    out.push_str("}\n\n");
}

/// The out-parameters of an object-returning method other than the object itself.
fn extra_outs(method: &MethodDef) -> Vec<&Field> {
    method
        .outs
        .iter()
        .filter(|o| o.ty != Ty::Named("ObjectInterface".to_owned()))
        .collect()
}

/// What an object-returning method with other out-parameters returns, and the private struct
/// those are read into from the result.
fn object_output_structs(out: &mut String, class: &Class, method: &MethodDef) {
    let output = method.output_name();
    let returns = method.returns.as_deref().unwrap_or_default();
    let _ = writeln!(
        out,
        "/// What [`{}::{}`] returns: the object and the engine's other out-parameters.",
        class.name, method.rust
    );
    out.push_str("#[derive(Debug, Clone)]\n");
    let _ = writeln!(out, "pub struct {output} {{");
    out.push_str("    /// The object the engine returned (`qReturn`).\n");
    let _ = writeln!(out, "    pub object: crate::{returns},");
    for field in extra_outs(method) {
        let fallback = format!("The `{}` member.", field.wire);
        out.push_str(&item_doc(field.doc.as_deref(), &fallback, &[], 4));
        let _ = writeln!(
            out,
            "    pub {}: Option<{}>,",
            field.rust,
            field_ty(&field.ty)
        );
    }
    out.push_str("}\n\n");
    out.push_str("#[derive(serde::Deserialize)]\n");
    let _ = writeln!(out, "struct {output}Rest {{");
    for field in extra_outs(method) {
        let _ = writeln!(out, "    #[serde(rename = \"{}\")]", field.wire);
        let _ = writeln!(out, "    {}: Option<{}>,", field.rust, field_ty(&field.ty));
    }
    out.push_str("}\n\n");
}

fn output_struct(out: &mut String, class: &Class, method: &MethodDef) {
    let _ = writeln!(
        out,
        "/// What [`{}::{}`] returns: the engine's out-parameters.",
        class.name, method.rust
    );
    out.push_str("#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]\n");
    let _ = writeln!(out, "pub struct {} {{", method.output_name());
    for field in &method.outs {
        struct_field(out, field, false);
    }
    out.push_str("}\n\n");
}
