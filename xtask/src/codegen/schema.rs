//! The part of the engine's OpenRPC document the generator reads, as plain serde structs.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// The whole document: `info`, `methods` and `components.schemas`.
#[derive(Debug, Deserialize)]
pub(crate) struct Document {
    pub(crate) info: Info,
    pub(crate) methods: Vec<Method>,
    pub(crate) components: Components,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Info {
    pub(crate) version: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Components {
    pub(crate) schemas: Ordered<Schema>,
}

/// `Class.Method` with its params and out-parameters.
#[derive(Debug, Deserialize)]
pub(crate) struct Method {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) params: Vec<Param>,
    pub(crate) result: MethodResult,
    #[serde(rename = "x-qlik-deprecated", default)]
    pub(crate) deprecated: bool,
    #[serde(rename = "x-qlik-deprecation-description")]
    pub(crate) deprecation: Option<String>,
    #[serde(rename = "x-qlik-stability")]
    pub(crate) stability: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Param {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) required: bool,
    pub(crate) schema: Schema,
}

#[derive(Debug, Deserialize)]
pub(crate) struct MethodResult {
    pub(crate) schema: Schema,
}

/// A JSON schema as the document uses it: a primitive, a `$ref`, an array, an object with
/// properties, or a string enumeration (`oneOf` of titled constants).
#[derive(Debug, Deserialize)]
pub(crate) struct Schema {
    #[serde(rename = "type")]
    pub(crate) ty: Option<String>,
    pub(crate) format: Option<String>,
    #[serde(rename = "$ref")]
    pub(crate) reference: Option<String>,
    pub(crate) items: Option<Box<Schema>>,
    pub(crate) properties: Option<Ordered<Schema>>,
    #[serde(rename = "additionalProperties")]
    pub(crate) additional_properties: Option<serde_json::Value>,
    #[serde(rename = "oneOf")]
    pub(crate) one_of: Option<Vec<EnumValue>>,
    #[serde(rename = "contentEncoding")]
    pub(crate) content_encoding: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) default: Option<serde_json::Value>,
    #[serde(rename = "x-qlik-deprecated", default)]
    pub(crate) deprecated: bool,
    #[serde(rename = "x-qlik-stability")]
    pub(crate) stability: Option<String>,
}

impl Schema {
    /// The name of the referenced component, for `#/components/schemas/<Name>`.
    pub(crate) fn ref_name(&self) -> Option<&str> {
        self.reference.as_deref()?.rsplit('/').next()
    }
}

/// One constant of an enumeration: the wire name (`title`) and the engine's number.
#[derive(Debug, Deserialize)]
pub(crate) struct EnumValue {
    pub(crate) title: String,
    #[serde(rename = "x-qlik-const")]
    pub(crate) code: i64,
    pub(crate) description: Option<String>,
}

/// A JSON object read with its members in document order (serde_json's own map sorts them,
/// and turning on its `preserve_order` feature would change every crate of the workspace).
#[derive(Debug)]
pub(crate) struct Ordered<T>(pub(crate) Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OrderedVisitor<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Ordered(members))
            }
        }
        deserializer.deserialize_map(OrderedVisitor(PhantomData))
    }
}
