//! The schema turned into what the emitters need: Rust names and types decided, checked for
//! clashes, so the emitters only print.

use std::collections::{BTreeMap, BTreeSet};

use super::names;
use super::schema::{Document, Method, Schema};

/// The engine classes, in the order the crate lists them, with a line for their docs.
pub(crate) const CLASSES: &[(&str, &str)] = &[
    (
        "Global",
        "The engine itself (handle -1): apps, versions, connections, sessions.",
    ),
    (
        "Doc",
        "An app: its objects, fields, variables, selections, script and reloads.",
    ),
    (
        "GenericObject",
        "A generic object: a sheet, a chart, a list box, any object of an app.",
    ),
    (
        "Field",
        "A field of an app's data model: selections on its values.",
    ),
    ("GenericDimension", "A master dimension of an app."),
    ("GenericBookmark", "A bookmark of an app."),
    ("GenericMeasure", "A master measure of an app."),
    ("GenericVariable", "A variable of an app."),
    (
        "Variable",
        "A variable through the old Variable class (deprecated: use GenericVariable).",
    ),
];

/// Which class the object returned by each object-returning method belongs to. The schema
/// only says `ObjectInterface`; a method missing here stops the generator so that a new
/// schema is looked at rather than guessed.
const RETURNED_CLASS: &[(&str, &str)] = &[
    ("Global.OpenDoc", "Doc"),
    ("Global.GetActiveDoc", "Doc"),
    ("Global.CreateDocEx", "Doc"),
    ("Global.CreateSessionApp", "Doc"),
    ("Global.CreateSessionAppFromApp", "Doc"),
    ("Doc.GetObject", "GenericObject"),
    ("Doc.CreateObject", "GenericObject"),
    ("Doc.CreateSessionObject", "GenericObject"),
    ("Doc.GetOrCreateObject", "GenericObject"),
    ("Doc.GetField", "Field"),
    ("Doc.GetDimension", "GenericDimension"),
    ("Doc.CreateDimension", "GenericDimension"),
    ("Doc.GetMeasure", "GenericMeasure"),
    ("Doc.GetMeasureWithLabel", "GenericMeasure"),
    ("Doc.CreateMeasure", "GenericMeasure"),
    ("Doc.GetBookmark", "GenericBookmark"),
    ("Doc.CreateBookmark", "GenericBookmark"),
    ("Doc.CreateBookmarkEx", "GenericBookmark"),
    ("Doc.ReplaceBookmark", "GenericBookmark"),
    ("Doc.GetVariable", "Variable"),
    ("Doc.GetVariableById", "GenericVariable"),
    ("Doc.GetVariableByName", "GenericVariable"),
    ("Doc.CreateVariableEx", "GenericVariable"),
    ("Doc.CreateSessionVariable", "GenericVariable"),
    ("GenericObject.GetChild", "GenericObject"),
    ("GenericObject.GetParent", "GenericObject"),
    ("GenericObject.CreateChild", "GenericObject"),
    ("GenericObject.GetSnapshotObject", "GenericBookmark"),
];

/// Types whose JSON carries members the schema does not list, kept in a flattened map. The
/// schema marks two (`additionalProperties`); the engine also puts user-defined properties
/// in every generic object's, dimension's, measure's, bookmark's and variable's properties and
/// layout, in the app's properties, and copies `qMetaDef` members into `qMeta`.
const EXTRA_MEMBERS: &[&str] = &[
    "GenericObjectProperties",
    "GenericObjectLayout",
    "GenericDimensionProperties",
    "GenericDimensionLayout",
    "GenericMeasureProperties",
    "GenericMeasureLayout",
    "GenericBookmarkProperties",
    "GenericBookmarkLayout",
    "GenericVariableProperties",
    "GenericVariableLayout",
    "NxAppProperties",
    "NxMeta",
];

/// Names the wrappers take for themselves; no engine method may generate one of them.
pub(crate) const WRAPPER_METHODS: &[&str] = &["object", "into_object", "call_json", "subscribe"];

/// The name of the flattened map of members the schema does not list.
pub(crate) const EXTRA_FIELD: &str = "extra";

/// A Rust type as the schema describes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    Str,
    Bool,
    Int(&'static str),
    Float,
    /// Any JSON (an object schema without a `$ref`).
    Json,
    Named(String),
    List(Box<Ty>),
}

#[derive(Debug)]
pub(crate) struct Model {
    pub(crate) version: String,
    pub(crate) types: Vec<TypeDef>,
    pub(crate) classes: Vec<Class>,
}

#[derive(Debug)]
pub(crate) struct TypeDef {
    pub(crate) name: String,
    pub(crate) doc: Option<String>,
    pub(crate) deprecated: bool,
    pub(crate) stability: Option<String>,
    pub(crate) kind: TypeKind,
}

#[derive(Debug)]
pub(crate) enum TypeKind {
    Struct {
        fields: Vec<Field>,
        extra: bool,
    },
    /// An object schema with no properties: any members, kept.
    Map,
    Enum(Vec<Variant>),
    List(Ty),
    /// A base64 string.
    Blob,
}

#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) wire: String,
    pub(crate) rust: String,
    pub(crate) ty: Ty,
    pub(crate) doc: Option<String>,
    pub(crate) deprecated: bool,
    pub(crate) default: Option<serde_json::Value>,
}

#[derive(Debug)]
pub(crate) struct Variant {
    pub(crate) wire: String,
    pub(crate) rust: String,
    pub(crate) code: i64,
    pub(crate) doc: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Class {
    pub(crate) name: String,
    pub(crate) doc: &'static str,
    pub(crate) methods: Vec<MethodDef>,
}

#[derive(Debug)]
pub(crate) struct MethodDef {
    /// `GetLayout`, as sent on the wire.
    pub(crate) wire: String,
    pub(crate) rust: String,
    pub(crate) doc: Option<String>,
    pub(crate) deprecated: Option<String>,
    pub(crate) stability: Option<String>,
    pub(crate) required: Vec<Field>,
    pub(crate) optional: Vec<Field>,
    /// Every param in the engine's order, for positional params.
    pub(crate) order: Vec<String>,
    pub(crate) outs: Vec<Field>,
    /// The wrapper class of the returned object, for object-returning methods.
    pub(crate) returns: Option<String>,
}

impl MethodDef {
    pub(crate) fn options_name(&self) -> String {
        format!("{}Options", names::camel(&self.wire))
    }

    pub(crate) fn output_name(&self) -> String {
        format!("{}Output", names::camel(&self.wire))
    }
}

pub(crate) fn build(document: &Document) -> Result<Model, String> {
    let mut types = Vec::new();
    for (name, schema) in &document.components.schemas.0 {
        types.push(type_def(name, schema)?);
    }
    let type_names: BTreeSet<&str> = types.iter().map(|t| t.name.as_str()).collect();
    let mut classes: Vec<Class> = CLASSES
        .iter()
        .map(|&(name, doc)| Class {
            name: name.to_owned(),
            doc,
            methods: Vec::new(),
        })
        .collect();
    let returned: BTreeMap<&str, &str> = RETURNED_CLASS.iter().copied().collect();
    for method in &document.methods {
        let (class_name, _) = method
            .name
            .split_once('.')
            .ok_or_else(|| format!("method {:?} has no class", method.name))?;
        let class = classes
            .iter_mut()
            .find(|class| class.name == class_name)
            .ok_or_else(|| format!("method {:?} of an unknown class", method.name))?;
        class.methods.push(method_def(method, &returned)?);
    }
    for class in &classes {
        check_class(class, &type_names)?;
    }
    Ok(Model {
        version: document.info.version.clone(),
        types,
        classes,
    })
}

fn type_def(name: &str, schema: &Schema) -> Result<TypeDef, String> {
    let kind = if let Some(values) = &schema.one_of {
        let mut variants = Vec::new();
        for value in values {
            let rust = names::variant(&value.title);
            if !rust.starts_with(|c: char| c.is_ascii_alphabetic()) {
                return Err(format!(
                    "{name}: value {:?} makes no Rust name",
                    value.title
                ));
            }
            variants.push(Variant {
                wire: value.title.clone(),
                rust,
                code: value.code,
                doc: value.description.clone(),
            });
        }
        unique(
            name,
            variants.iter().map(|v| v.rust.as_str()).chain(["Unknown"]),
        )?;
        unique(name, variants.iter().map(|v| v.wire.as_str()))?;
        TypeKind::Enum(variants)
    } else {
        match schema.ty.as_deref() {
            Some("array") => {
                let items = schema.items.as_deref().ok_or("array without items")?;
                TypeKind::List(ty_of(items)?)
            }
            Some("string") if schema.content_encoding.as_deref() == Some("base64") => {
                TypeKind::Blob
            }
            Some("object") => match &schema.properties {
                None => TypeKind::Map,
                Some(properties) => {
                    let mut fields = Vec::new();
                    for (wire, property) in &properties.0 {
                        fields.push(field(wire, property)?);
                    }
                    let extra =
                        schema.additional_properties.is_some() || EXTRA_MEMBERS.contains(&name);
                    let rust = fields.iter().map(|f| names::plain(&f.rust));
                    unique(name, rust.chain(extra.then_some(EXTRA_FIELD)))?;
                    TypeKind::Struct { fields, extra }
                }
            },
            other => return Err(format!("type {name}: unexpected schema type {other:?}")),
        }
    };
    Ok(TypeDef {
        name: name.to_owned(),
        doc: schema.description.clone(),
        deprecated: schema.deprecated,
        stability: schema.stability.clone(),
        kind,
    })
}

fn field(wire: &str, schema: &Schema) -> Result<Field, String> {
    Ok(Field {
        wire: wire.to_owned(),
        rust: names::member(wire),
        ty: ty_of(schema).map_err(|e| format!("{wire}: {e}"))?,
        doc: schema.description.clone(),
        deprecated: schema.deprecated,
        default: schema.default.clone(),
    })
}

fn ty_of(schema: &Schema) -> Result<Ty, String> {
    if let Some(name) = schema.ref_name() {
        return Ok(Ty::Named(name.to_owned()));
    }
    Ok(match schema.ty.as_deref() {
        Some("string") => Ty::Str,
        Some("boolean") => Ty::Bool,
        Some("number") => Ty::Float,
        Some("integer") => Ty::Int(match schema.format.as_deref() {
            Some("int8") => "i8",
            Some("byte") => "u8",
            Some("int32") => "i32",
            // int64 and integers without a format: the widest, so no value is refused.
            _ => "i64",
        }),
        Some("array") => {
            let items = schema.items.as_deref().ok_or("array without items")?;
            Ty::List(Box::new(ty_of(items)?))
        }
        Some("object") => Ty::Json,
        other => return Err(format!("unexpected schema type {other:?}")),
    })
}

fn method_def(method: &Method, returned: &BTreeMap<&str, &str>) -> Result<MethodDef, String> {
    let (_, wire) = method.name.split_once('.').unwrap_or(("", &method.name));
    let mut required = Vec::new();
    let mut optional = Vec::new();
    let mut order = Vec::new();
    for param in &method.params {
        let mut f = field(&param.name, &param.schema)?;
        f.doc = param.description.clone();
        order.push(param.name.clone());
        if param.required {
            required.push(f);
        } else {
            optional.push(f);
        }
    }
    let mut outs = Vec::new();
    if let Some(properties) = &method.result.schema.properties {
        for (name, schema) in &properties.0 {
            outs.push(field(name, schema)?);
        }
    }
    let returns_object = outs
        .iter()
        .any(|out| out.ty == Ty::Named("ObjectInterface".to_owned()));
    let returns = match (returns_object, returned.get(method.name.as_str())) {
        (true, Some(class)) => Some((*class).to_owned()),
        (true, None) => {
            return Err(format!(
                "{} returns an object: add its class to RETURNED_CLASS",
                method.name
            ))
        }
        (false, Some(_)) => {
            return Err(format!(
                "{} is in RETURNED_CLASS but returns no object",
                method.name
            ))
        }
        (false, None) => None,
    };
    let deprecated = method.deprecated.then(|| {
        method
            .deprecation
            .clone()
            .unwrap_or_else(|| "deprecated by the engine".to_owned())
    });
    Ok(MethodDef {
        wire: wire.to_owned(),
        rust: names::method(wire),
        doc: method.description.clone(),
        deprecated,
        stability: method.stability.clone(),
        required,
        optional,
        order,
        outs,
        returns,
    })
}

fn check_class(class: &Class, type_names: &BTreeSet<&str>) -> Result<(), String> {
    let mut fns: Vec<String> = WRAPPER_METHODS.iter().map(|&s| s.to_owned()).collect();
    let mut items = Vec::new();
    for method in &class.methods {
        fns.push(method.rust.clone());
        if !method.optional.is_empty() {
            fns.push(format!("{}_with", method.rust));
            items.push(method.options_name());
        }
        if method.outs.len() > 1 && method.returns.is_none() {
            items.push(method.output_name());
        }
        if is_generic_getter(method) {
            fns.push(format!("{}_as", method.rust));
        }
        let params = method.required.iter().chain(&method.optional);
        unique(
            &method.wire,
            params.map(|p| names::plain(&p.rust)).chain(["optional"]),
        )?;
        unique(
            &method.wire,
            method.outs.iter().map(|o| names::plain(&o.rust)),
        )?;
    }
    unique(&class.name, fns.iter().map(String::as_str))?;
    unique(&class.name, items.iter().map(String::as_str))?;
    if let Some(clash) = items.iter().find(|item| type_names.contains(item.as_str())) {
        return Err(format!("{}: {clash} is also a schema type", class.name));
    }
    Ok(())
}

/// `GetLayout` and `GetProperties` without params: they also get a twin generic in the result.
pub(crate) fn is_generic_getter(method: &MethodDef) -> bool {
    matches!(method.wire.as_str(), "GetLayout" | "GetProperties")
        && method.required.is_empty()
        && method.optional.is_empty()
        && method.outs.len() == 1
}

fn unique<'a>(owner: &str, names: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(format!("{owner}: two items would be named {name:?}"));
        }
    }
    Ok(())
}
