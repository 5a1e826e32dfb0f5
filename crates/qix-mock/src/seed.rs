//! Apps and objects from JSON: the binary's `--seed FILE`, and tests that keep fixtures in
//! files. The format is in the crate docs ("Seed files") and `examples/seed.json`.

use std::fmt;

use serde_json::{Map, Value};

use crate::{MockApp, MockConfig};

/// Why a seed file was refused: names the place in the file (`apps."Sales.qvf".objects`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedError {
    message: String,
}

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad seed: {}", self.message)
    }
}

impl std::error::Error for SeedError {}

fn error(message: impl Into<String>) -> SeedError {
    SeedError {
        message: message.into(),
    }
}

impl MockConfig {
    /// Seeds the apps described by this JSON text (see the crate docs, "Seed files"), as
    /// [`app`](Self::app) would one by one. Unknown keys are refused, so a misspelt one does
    /// not leave an app silently empty.
    pub fn seed_json(self, text: &str) -> Result<MockConfig, SeedError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| error(format!("not JSON: {e}")))?;
        let top = object(&value, "the top level")?;
        only(top, &["apps"], "the top level")?;
        let Some(apps) = top.get("apps") else {
            return Ok(self);
        };
        let mut config = self;
        for (id, app) in object(apps, "apps")? {
            config = config.app(parse_app(id, app)?);
        }
        Ok(config)
    }
}

const APP_KEYS: [&str; 6] = [
    "objects",
    "dimensions",
    "measures",
    "bookmarks",
    "variables",
    "fields",
];

fn parse_app(id: &str, value: &Value) -> Result<MockApp, SeedError> {
    let at = format!("apps.{id:?}");
    let members = object(value, &at)?;
    only(members, &APP_KEYS, &at)?;
    let mut app = MockApp::new(id);
    if let Some(objects) = members.get("objects") {
        let at = format!("{at}.objects");
        for (object_id, entry) in object(objects, &at)? {
            let at = format!("{at}.{object_id:?}");
            let entry = object(entry, &at)?;
            only(entry, &["type", "properties"], &at)?;
            let generic_type = entry
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| error(format!("{at}: \"type\" (a string) is required")))?;
            let properties = entry.get("properties").cloned().unwrap_or_default();
            if !(properties.is_object() || properties.is_null()) {
                return Err(error(format!("{at}.properties: must be an object")));
            }
            app = app.object(object_id, generic_type, properties);
        }
    }
    type Seed = fn(MockApp, String, Value) -> MockApp;
    let kinds: [(&str, Seed); 4] = [
        ("dimensions", |app, id, props| app.dimension(id, props)),
        ("measures", |app, id, props| app.measure(id, props)),
        ("bookmarks", |app, id, props| app.bookmark(id, props)),
        ("variables", |app, id, props| app.variable(id, props)),
    ];
    for (key, seed) in kinds {
        let Some(entries) = members.get(key) else {
            continue;
        };
        let at = format!("{at}.{key}");
        for (entry_id, properties) in object(entries, &at)? {
            object(properties, &format!("{at}.{entry_id:?}"))?;
            app = seed(app, entry_id.clone(), properties.clone());
        }
    }
    if let Some(fields) = members.get("fields") {
        let fields = fields
            .as_array()
            .ok_or_else(|| error(format!("{at}.fields: must be an array of names")))?;
        for field in fields {
            let name = field
                .as_str()
                .ok_or_else(|| error(format!("{at}.fields: must be an array of names")))?;
            app = app.field(name);
        }
    }
    Ok(app)
}

fn object<'a>(value: &'a Value, at: &str) -> Result<&'a Map<String, Value>, SeedError> {
    value
        .as_object()
        .ok_or_else(|| error(format!("{at}: must be a JSON object")))
}

fn only(members: &Map<String, Value>, known: &[&str], at: &str) -> Result<(), SeedError> {
    match members.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(error(format!(
            "{at}: unknown key {key:?} (known: {})",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_seeds_every_kind() {
        let config = MockConfig::new()
            .seed_json(include_str!("../examples/seed.json"))
            .unwrap();
        let ids: Vec<&str> = config.apps.iter().map(MockApp::id).collect();
        assert_eq!(ids, ["Sales.qvf", "engineData"]);
        let sales = &config.apps[0].data;
        for id in [
            "sheet-1",
            "kpi-revenue",
            "dim-country",
            "m-total",
            "bm-q1",
            "v-year",
        ] {
            assert!(sales.objects.contains_key(id), "{id} missing");
        }
        assert!(sales.fields.contains("Country"));
    }

    #[test]
    fn mistakes_are_refused_with_where_they_are() {
        for (text, expected) in [
            ("[]", "the top level: must be a JSON object"),
            (r#"{"app": {}}"#, "unknown key \"app\""),
            (
                r#"{"apps": {"a": {"object": {}}}}"#,
                "apps.\"a\": unknown key \"object\"",
            ),
            (
                r#"{"apps": {"a": {"objects": {"o": {"properties": {}}}}}}"#,
                "apps.\"a\".objects.\"o\": \"type\" (a string) is required",
            ),
            (
                r#"{"apps": {"a": {"fields": ["x", 1]}}}"#,
                "apps.\"a\".fields",
            ),
            (
                r#"{"apps": {"a": {"measures": {"m": 3}}}}"#,
                "apps.\"a\".measures.\"m\"",
            ),
            ("{", "not JSON"),
        ] {
            let error = MockConfig::new().seed_json(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
