//! The generated code against the schema it came from: every method is there and sends its
//! engine method with params of the right shape; every type reads and writes the JSON the
//! schema describes.

mod common;
mod generated;

use std::collections::BTreeMap;

use qix_api::types::GenericObjectProperties;
use serde_json::{json, Map, Value};

use common::{methods_by_class, schema, schemas, setup};

const CLASSES: &[&str] = &[
    "Global",
    "Doc",
    "GenericObject",
    "Field",
    "GenericDimension",
    "GenericBookmark",
    "GenericMeasure",
    "GenericVariable",
    "Variable",
];

#[tokio::test]
async fn every_schema_method_is_generated_and_sends_its_engine_method() {
    let schema = schema();
    let expected = methods_by_class(&schema);
    assert_eq!(expected.values().map(Vec::len).sum::<usize>(), 336);

    let s = setup().await;
    let doc = s.global.open_doc("sales.qvf").await.unwrap();
    // One session object per other class, so that each class's calls go to a handle of its own.
    let mut stand_ins = BTreeMap::new();
    for class in &CLASSES[2..] {
        let properties = GenericObjectProperties {
            info: Some(qix_api::types::NxInfo {
                id: Some(format!("stand-in-{class}")),
                r#type: Some("stand-in".to_owned()),
            }),
            ..Default::default()
        };
        let object = doc.create_session_object(&properties).await.unwrap();
        stand_ins.insert(*class, object.into_object());
    }
    let wrappers = generated::Wrappers {
        global: s.global.clone(),
        doc: doc.clone(),
        generic_object: stand_ins["GenericObject"].clone().into(),
        field: stand_ins["Field"].clone().into(),
        generic_dimension: stand_ins["GenericDimension"].clone().into(),
        generic_bookmark: stand_ins["GenericBookmark"].clone().into(),
        generic_measure: stand_ins["GenericMeasure"].clone().into(),
        generic_variable: stand_ins["GenericVariable"].clone().into(),
        variable: stand_ins["Variable"].clone().into(),
    };
    let mut class_of = BTreeMap::from([(-1, "Global"), (doc.object().handle(), "Doc")]);
    for (class, object) in &stand_ins {
        class_of.insert(object.handle(), class);
    }

    let before = s.connection.requests().len();
    let calls = generated::call_every_method(&wrappers).await;
    assert_eq!(calls, 336);

    let shapes = param_shapes(&schema);
    let mut sent = BTreeMap::<String, Vec<String>>::new();
    let requests = s.connection.requests();
    for request in &requests[before..] {
        let class = class_of
            .get(&request.handle)
            .unwrap_or_else(|| panic!("a call went to handle {}", request.handle));
        let name = format!("{class}.{}", request.method);
        let shape = shapes
            .get(&name)
            .unwrap_or_else(|| panic!("{name} is not in the schema"));
        shape.check(&name, request.params.as_value());
        sent.entry((*class).to_owned())
            .or_default()
            .push(request.method.clone());
    }
    for class in CLASSES {
        let mut want = expected[*class].clone();
        let mut got = sent.remove(*class).unwrap_or_default();
        assert_eq!(got.len(), want.len(), "{class}: methods generated");
        want.sort();
        got.sort();
        assert_eq!(got, want, "{class}: the engine methods sent");
    }
    assert!(sent.is_empty(), "calls to no known class: {sent:?}");
}

/// How a method's params must look when only its required ones are given: by position, all
/// of them, in order; by name when an optional param comes before a required one (position
/// cannot leave a param out in the middle).
struct Shape {
    by_name: bool,
    required: Vec<String>,
}

impl Shape {
    fn check(&self, method: &str, params: &Value) {
        if self.by_name {
            let members: Vec<&String> = params
                .as_object()
                .unwrap_or_else(|| panic!("{method}: by name, got {params}"))
                .keys()
                .collect();
            let mut want: Vec<&String> = self.required.iter().collect();
            want.sort();
            assert_eq!(members, want, "{method}");
        } else {
            let items = params
                .as_array()
                .unwrap_or_else(|| panic!("{method}: by position, got {params}"));
            assert_eq!(items.len(), self.required.len(), "{method}: {params}");
        }
    }
}

fn param_shapes(schema: &Value) -> BTreeMap<String, Shape> {
    let mut shapes = BTreeMap::new();
    let mut by_name = 0;
    for method in schema["methods"].as_array().unwrap() {
        let params = method["params"].as_array().unwrap();
        let required: Vec<bool> = params.iter().map(|p| p["required"] == true).collect();
        let last = required.iter().rposition(|r| *r);
        let gap = last.is_some_and(|last| required[..last].contains(&false));
        by_name += usize::from(gap);
        let names = params
            .iter()
            .filter(|p| p["required"] == true)
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        let name = method["name"].as_str().unwrap().to_owned();
        shapes.insert(
            name,
            Shape {
                by_name: gap,
                required: names,
            },
        );
    }
    assert_eq!(
        by_name, 6,
        "the schema's methods with an optional param before a required one"
    );
    shapes
}

#[test]
fn every_schema_type_has_a_rust_type() {
    let schema = schema();
    let names = schemas(&schema);
    assert_eq!(names.len(), 333);
    for name in names.keys() {
        assert!(
            generated::round_trip(name, "null").is_some(),
            "no Rust type for {name}"
        );
    }
    assert!(generated::round_trip("NoSuchType", "null").is_none());
}

/// A JSON value for schema type `name`: every member, numbers as NaN, infinities, fractions
/// and whole numbers in turn, the first value of enumerations, extra members where kept.
fn sample(all: &Map<String, Value>, name: &str, depth: usize) -> Value {
    let schema = &all[name];
    if let Some(values) = schema["oneOf"].as_array() {
        return values[0]["title"].clone();
    }
    match schema["type"].as_str() {
        Some("array") => match member(all, &schema["items"], depth, 0) {
            Some(item) => json!([item]),
            None => json!([]),
        },
        Some("string") => json!("aGVsbG8="),
        _ => {
            let mut object = Map::new();
            if let Some(properties) = schema["properties"].as_object() {
                for (i, (wire, property)) in properties.iter().enumerate() {
                    if let Some(value) = member(all, property, depth, i) {
                        object.insert(wire.clone(), value);
                    }
                }
            }
            if generated::KEEPS_EXTRA.contains(&name) {
                object.insert("userTitle".to_owned(), json!("Sales"));
                object.insert(
                    "qHyperCube".to_owned(),
                    json!({"qSize": {"qcx": 1, "qcy": 2}}),
                );
            }
            Value::Object(object)
        }
    }
}

fn member(all: &Map<String, Value>, schema: &Value, depth: usize, i: usize) -> Option<Value> {
    if let Some(reference) = schema["$ref"].as_str() {
        // Deep enough to reach every type; recursive types stop here.
        if depth >= 4 {
            return None;
        }
        let name = reference.rsplit('/').next()?;
        return Some(sample(all, name, depth + 1));
    }
    Some(match schema["type"].as_str()? {
        "string" => json!("text"),
        "boolean" => json!(i.is_multiple_of(2)),
        "integer" => json!(7),
        "number" => [
            json!("NaN"),
            json!("Infinity"),
            json!("-Infinity"),
            json!(1.5),
            json!(2),
        ][i % 5]
            .clone(),
        "array" => match member(all, &schema["items"], depth, i) {
            Some(item) => json!([item]),
            None => json!([]),
        },
        _ => return None,
    })
}

#[test]
fn every_type_reads_and_writes_back_the_json_the_schema_describes() {
    let schema = schema();
    let all = schemas(&schema);
    let mut checked = 0;
    for name in all.keys() {
        let value = sample(all, name, 0);
        let back = generated::round_trip(name, &value.to_string())
            .expect("a generated type")
            .unwrap_or_else(|e| panic!("{name}: {e}\n{value:#}"));
        assert_eq!(back, value, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 333);
}

#[test]
fn members_the_schema_does_not_list_are_kept_only_where_it_allows_them() {
    let schema = schema();
    let all = schemas(&schema);
    let mut kept = 0;
    for name in all.keys() {
        let Value::Object(mut object) = sample(all, name, 0) else {
            continue;
        };
        object.insert("zzNewerEngineMember".to_owned(), json!([1, {"a": "NaN"}]));
        let back = generated::round_trip(name, &Value::Object(object.clone()).to_string())
            .expect("a generated type")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if generated::KEEPS_EXTRA.contains(&name.as_str()) {
            assert_eq!(back, Value::Object(object), "{name} keeps it");
            kept += 1;
        } else {
            object.remove("zzNewerEngineMember");
            assert_eq!(back, Value::Object(object), "{name} drops it");
        }
    }
    assert!(generated::KEEPS_EXTRA.contains(&"GenericObjectProperties"));
    assert!(generated::KEEPS_EXTRA.contains(&"GenericObjectLayout"));
    assert_eq!(kept, generated::KEEPS_EXTRA.len());
}

#[test]
fn every_enumeration_value_and_an_unknown_one_read_and_write_back() {
    let schema = schema();
    let mut enums = 0;
    for (name, type_schema) in schemas(&schema) {
        let Some(values) = type_schema["oneOf"].as_array() else {
            continue;
        };
        enums += 1;
        for value in values {
            let title = &value["title"];
            let back = generated::round_trip(name, &title.to_string()).unwrap();
            assert_eq!(back.unwrap(), *title, "{name}");
            // The engine's number for the value reads as the value too.
            let code = &value["x-qlik-const"];
            let first_with_code = values.iter().find(|v| v["x-qlik-const"] == *code).unwrap();
            let back = generated::round_trip(name, &code.to_string()).unwrap();
            assert_eq!(back.unwrap(), first_with_code["title"], "{name} {code}");
        }
        let back = generated::round_trip(name, "\"A_VALUE_FROM_A_NEWER_ENGINE\"").unwrap();
        assert_eq!(
            back.unwrap(),
            json!("A_VALUE_FROM_A_NEWER_ENGINE"),
            "{name}"
        );
    }
    assert_eq!(enums, 50);
}

#[test]
fn q_retry_1_the_read_table_classifies_every_schema_method() {
    // The table in qix-session is generated from this schema (`cargo xtask codegen`); this
    // checks the classification itself against the methods the engine has.
    let is_read = qix::qix_session::is_read_method;
    let methods: Vec<String> = methods_by_class(&schema())
        .into_values()
        .flatten()
        .collect();
    let reads: Vec<&String> = methods.iter().filter(|m| is_read(m)).collect();
    assert!(reads.len() > 100, "{} reads", reads.len());
    for method in &methods {
        let getter = method.starts_with("Get") || method.starts_with("Evaluate");
        let exception = matches!(method.as_str(), "GetOrCreateObject" | "GetInteract");
        if getter && !exception {
            assert!(is_read(method), "{method} reads");
        }
        let changes = [
            "Select", "Set", "Create", "Destroy", "Do", "Apply", "Clear", "Lock",
        ]
        .iter()
        .any(|prefix| method.starts_with(prefix));
        if changes {
            assert!(!is_read(method), "{method} changes state");
        }
    }
    for version in [
        "EngineVersion",
        "ProductVersion",
        "OSVersion",
        "QvVersion",
        "GetDocList",
    ] {
        assert!(
            methods.iter().any(|m| m == version) && is_read(version),
            "{version}"
        );
    }
    assert!(
        !is_read("NotAnEngineMethod"),
        "unknown methods count as changing state"
    );
}
