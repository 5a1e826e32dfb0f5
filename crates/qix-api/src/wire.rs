//! What the generated code stands on: building params, picking an out-parameter from a
//! result, the enumerations' serde, the wrappers' common part. Written once here so that the
//! generated files stay declarations and one-line bodies.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use qix::Error;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `[]`: the params of a method that takes none.
pub(crate) fn no_params() -> Value {
    Value::Array(Vec::new())
}

/// A method's params, collected in the engine's order and sent by position, or by name when
/// an optional param left out comes before one that is given (position cannot say that).
#[derive(Debug)]
pub(crate) struct Params {
    members: Vec<(&'static str, Option<Value>)>,
}

impl Params {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            members: Vec::with_capacity(capacity),
        }
    }

    pub(crate) fn push<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.members.push((name, Some(to_value(value)?)));
        Ok(())
    }

    pub(crate) fn push_opt<T: Serialize>(
        &mut self,
        name: &'static str,
        value: Option<&T>,
    ) -> Result<(), Error> {
        let value = value.map(to_value).transpose()?;
        self.members.push((name, value));
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Value {
        while matches!(self.members.last(), Some((_, None))) {
            self.members.pop();
        }
        if self.members.iter().all(|(_, value)| value.is_some()) {
            return Value::Array(self.members.into_iter().filter_map(|(_, v)| v).collect());
        }
        let named: Map<String, Value> = self
            .members
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_owned(), value?)))
            .collect();
        Value::Object(named)
    }
}

/// The one serialization of a param. The generated types always serialize; an error would
/// come from a user's own `Serialize`, and is reported as `ResultType` (qix has no variant for
/// params that do not serialize).
fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, Error> {
    serde_json::to_value(value).map_err(|e| Error::ResultType(Arc::new(e)))
}

/// Names an out-parameter (`qLayout`) at the type level, for [`Out`].
pub(crate) trait Key {
    const NAME: &'static str;
}

/// Defines the marker types of the out-parameters.
macro_rules! keys {
    ($($key:ident = $name:literal,)*) => {
        $(
            #[derive(Debug)]
            pub(crate) enum $key {}
            impl crate::wire::Key for $key {
                const NAME: &'static str = $name;
            }
        )*
    };
}
pub(crate) use keys;

/// A result's out-parameter `K` as a `T`: `{"qLayout": {...}}` read as the layout itself, in
/// the same pass that reads the result text (other members are skipped unread).
pub(crate) struct Out<T, K>(T, PhantomData<K>);

impl<T, K> Out<T, K> {
    pub(crate) fn into_inner(self) -> T {
        self.0
    }
}

impl<'de, T: Deserialize<'de>, K: Key> Deserialize<'de> for Out<T, K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OutVisitor(PhantomData))
    }
}

struct OutVisitor<T, K>(PhantomData<(T, K)>);

impl<'de, T: Deserialize<'de>, K: Key> Visitor<'de> for OutVisitor<T, K> {
    type Value = Out<T, K>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a result with a `{}` member", K::NAME)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(IsKey(is_ours, PhantomData::<K>)) = map.next_key()? {
            if is_ours && found.is_none() {
                found = Some(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        match found {
            Some(value) => Ok(Out(value, PhantomData)),
            None => Err(de::Error::missing_field(K::NAME)),
        }
    }
}

/// A member name, compared with `K::NAME` without allocating.
struct IsKey<K>(bool, PhantomData<K>);

impl<'de, K: Key> Deserialize<'de> for IsKey<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor<K>(PhantomData<K>);
        impl<K: Key> Visitor<'_> for KeyVisitor<K> {
            type Value = IsKey<K>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<IsKey<K>, E> {
                Ok(IsKey(name == K::NAME, PhantomData))
            }
        }
        deserializer.deserialize_str(KeyVisitor(PhantomData))
    }
}

/// What the generated enumerations provide, for the shared visitor.
pub(crate) trait WireEnum: Sized {
    /// The value named `name` (the `Unknown` fallback for a name not in the schema).
    fn from_name(name: &str) -> Self;
    /// The value with the engine's number `code`.
    fn from_code(code: i64) -> Option<Self>;
}

/// Deserializes an enumeration from its name, or from the engine's number for it.
pub(crate) fn deserialize_enum<'de, E: WireEnum, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<E, D::Error> {
    deserializer.deserialize_any(EnumVisitor(PhantomData))
}

struct EnumVisitor<E>(PhantomData<E>);

impl<E: WireEnum> Visitor<'_> for EnumVisitor<E> {
    type Value = E;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the name of an enumeration value")
    }

    fn visit_str<Er: de::Error>(self, name: &str) -> Result<E, Er> {
        Ok(E::from_name(name))
    }

    fn visit_i64<Er: de::Error>(self, code: i64) -> Result<E, Er> {
        Ok(E::from_code(code).unwrap_or_else(|| E::from_name(&code.to_string())))
    }

    fn visit_u64<Er: de::Error>(self, code: u64) -> Result<E, Er> {
        match i64::try_from(code) {
            Ok(code) => self.visit_i64(code),
            Err(_) => Ok(E::from_name(&code.to_string())),
        }
    }
}

/// The methods, conversions and serde of a generated enumeration.
macro_rules! wire_enum {
    ($name:ident { $($variant:ident = ($wire:literal, $code:literal),)* }) => {
        impl $name {
            /// The name the engine uses on the wire; an unknown value's own text.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::Unknown(name) => name,
                }
            }

            /// The engine's number for this value (`None` for an unknown one).
            pub fn code(&self) -> Option<i64> {
                match self {
                    $(Self::$variant => Some($code),)*
                    Self::Unknown(_) => None,
                }
            }

            /// The value with the engine's number `code`, if the schema lists it.
            pub fn from_code(code: i64) -> Option<Self> {
                <Self as crate::wire::WireEnum>::from_code(code)
            }
        }

        impl crate::wire::WireEnum for $name {
            fn from_name(name: &str) -> Self {
                match name {
                    $($wire => Self::$variant,)*
                    other => Self::Unknown(other.to_owned()),
                }
            }

            #[allow(unreachable_patterns)]
            fn from_code(code: i64) -> Option<Self> {
                match code {
                    $($code => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }

        impl From<&str> for $name {
            fn from(name: &str) -> Self {
                <Self as crate::wire::WireEnum>::from_name(name)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                crate::wire::deserialize_enum(deserializer)
            }
        }
    };
}
pub(crate) use wire_enum;

/// The struct of an engine class and what every wrapper has: its [`qix::Object`], the JSON
/// escape, events, conversions.
macro_rules! wrapper {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub struct $name {
            object: qix::Object,
        }

        impl $name {
            /// The [`qix::Object`] behind the wrapper: its handle, id and type, its events
            /// (`changed`, `closed`, `traffic:*`), and the untyped calls.
            pub fn object(&self) -> &qix::Object {
                &self.object
            }

            /// Gives the [`qix::Object`] back.
            pub fn into_object(self) -> qix::Object {
                self.object
            }

            /// Calls any engine method by name with JSON params (an array by position or an
            /// object by name) and returns the response's `result` as JSON: the escape for
            /// what the typed methods do not cover, or for a method newer than the schema.
            pub async fn call_json(
                &self,
                method: &str,
                params: serde_json::Value,
            ) -> Result<serde_json::Value, qix::Error> {
                self.object.call(method, params).await
            }

            /// A stream of this object's events on `topic` (`changed`, `closed`,
            /// `traffic:*`), as [`qix::Object::subscribe`].
            pub fn subscribe(
                &self,
                topic: &str,
            ) -> Result<qix::EventStream<qix::ObjectEvent>, qix::Error> {
                self.object.subscribe(topic)
            }
        }

        impl From<qix::Object> for $name {
            /// Wraps an object; the wrapper does not check the object's class, the engine
            /// answers a method of another class with an error.
            fn from(object: qix::Object) -> Self {
                Self { object }
            }
        }

        impl From<$name> for qix::Object {
            fn from(wrapper: $name) -> Self {
                wrapper.object
            }
        }

        impl AsRef<qix::Object> for $name {
            fn as_ref(&self) -> &qix::Object {
                &self.object
            }
        }
    };
}
pub(crate) use wrapper;

#[cfg(test)]
mod tests {
    use super::*;

    keys! {
        QReturn = "qReturn",
    }

    #[test]
    fn out_reads_its_member_and_skips_the_others() {
        let text = r#"{"qOther": [1, {"x": "y"}], "qReturn": 5, "qMore": null}"#;
        let out: Out<i32, QReturn> = serde_json::from_str(text).unwrap();
        assert_eq!(out.into_inner(), 5);
    }

    #[test]
    fn out_without_its_member_is_an_error_naming_it() {
        let error = serde_json::from_str::<Out<i32, QReturn>>(r#"{"qOther": 1}"#)
            .err()
            .unwrap();
        assert!(error.to_string().contains("qReturn"), "{error}");
        assert!(serde_json::from_str::<Out<i32, QReturn>>("[5]").is_err());
    }

    #[test]
    fn params_go_by_position_with_trailing_missing_ones_left_out() {
        let mut params = Params::new(3);
        params.push("qA", "a").unwrap();
        params.push_opt::<bool>("qB", Some(&true)).unwrap();
        params.push_opt::<bool>("qC", None).unwrap();
        assert_eq!(params.finish(), serde_json::json!(["a", true]));
    }

    #[test]
    fn params_go_by_name_when_a_missing_one_comes_before_a_given_one() {
        let mut params = Params::new(3);
        params.push("qA", "a").unwrap();
        params.push_opt::<String>("qB", None).unwrap();
        params.push("qC", &3).unwrap();
        assert_eq!(params.finish(), serde_json::json!({"qA": "a", "qC": 3}));
    }
}
