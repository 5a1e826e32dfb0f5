//! A call's `result` as shared values: what a delta answer hands out (Q-DELTA-3).

use std::sync::Arc;

use serde::de::value::MapDeserializer;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;

/// The `result` of a call, member by member, each member an `Arc<Value>` that nobody changes
/// afterwards: what [`Object::call_shared`](crate::Object::call_shared) returns.
///
/// With delta on, each value is the session's cached baseline itself: an answer that changed
/// nothing (`[]`) hands out the same `Arc` again, without copying the value (Q-DELTA-3), and a
/// later answer that changed something gives a new `Arc` while this one stays as it was. With
/// delta off (or for a method asked without it) the members are parsed from the answer.
///
/// ```no_run
/// # async fn show(chart: qix::Object) -> Result<(), qix::Error> {
/// let result = chart.call_shared("GetLayout", serde_json::json!([])).await?;
/// let layout = result.get("qLayout").expect("GetLayout answers qLayout");
/// println!("{}", layout["qInfo"]["qId"]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SharedResult {
    members: Vec<(String, Arc<Value>)>,
}

impl SharedResult {
    pub(crate) fn new(members: Vec<(String, Arc<Value>)>) -> Self {
        Self { members }
    }

    /// Parses a plain (not delta) `result`. The engine's results are always objects: anything
    /// else is a bad answer.
    pub(crate) fn parse(text: &str) -> Result<Self, Error> {
        serde_json::from_str::<Value>(text)
            .map_err(|error| Error::ResultType(Arc::new(error)))
            .and_then(Self::from_value)
    }

    /// A `result` already parsed (what interceptors settled on), member by member.
    pub(crate) fn from_value(value: Value) -> Result<Self, Error> {
        match value {
            Value::Object(members) => Ok(Self::new(
                members
                    .into_iter()
                    .map(|(name, value)| (name, Arc::new(value)))
                    .collect(),
            )),
            other => Err(Error::BadResponse(format!(
                "a result that is not an object: {}",
                kind(&other)
            ))),
        }
    }

    /// The value of one member of `result` (`qLayout`, `qProp`, `qReturn` ...).
    pub fn get(&self, member: &str) -> Option<&Arc<Value>> {
        self.members
            .iter()
            .find(|(name, _)| name == member)
            .map(|(_, value)| value)
    }

    /// The members in the order of the answer.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<Value>)> {
        self.members
            .iter()
            .map(|(name, value)| (name.as_str(), value))
    }

    /// How many members the result has.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True for a result with no member (`{}`).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The result deserialized into `T`, read from the shared values (nothing is copied but
    /// what `T` keeps).
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let members = self
            .members
            .iter()
            .map(|(name, value)| (name.as_str(), &**value));
        T::deserialize(MapDeserializer::new(members)).map_err(|e| Error::ResultType(Arc::new(e)))
    }

    /// The result as one owned JSON object: a deep copy of every member.
    pub fn to_value(&self) -> Value {
        Value::Object(
            self.members
                .iter()
                .map(|(name, value)| (name.clone(), Value::clone(value)))
                .collect(),
        )
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_plain_result_is_parsed_member_by_member() {
        let shared = SharedResult::parse(r#"{"qLayout":{"title":"t"},"qOther":[1]}"#).unwrap();
        assert_eq!(shared.len(), 2);
        assert_eq!(**shared.get("qLayout").unwrap(), json!({"title": "t"}));
        let names: Vec<&str> = shared.iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["qLayout", "qOther"]);
        assert_eq!(
            shared.to_value(),
            json!({"qLayout": {"title": "t"}, "qOther": [1]})
        );
        assert!(matches!(
            SharedResult::parse("[1]"),
            Err(Error::BadResponse(message)) if message.contains("an array")
        ));
        assert!(SharedResult::parse("{}").unwrap().is_empty());
    }

    #[test]
    fn deserialize_reads_the_shared_values_and_reports_a_mismatch() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Answer {
            #[serde(rename = "qLayout")]
            layout: Value,
        }
        let value = Arc::new(json!({"title": "t"}));
        let shared = SharedResult::new(vec![("qLayout".to_owned(), Arc::clone(&value))]);
        let answer: Answer = shared.deserialize().unwrap();
        assert_eq!(answer.layout, *value);
        let whole: Value = shared.deserialize().unwrap();
        assert_eq!(whole, json!({"qLayout": {"title": "t"}}));
        assert!(matches!(
            shared.deserialize::<Vec<u8>>(),
            Err(Error::ResultType(_))
        ));
    }
}
