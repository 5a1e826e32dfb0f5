//! The engine's numbers: JSON numbers, or the strings `"NaN"`, `"Infinity"`, `"-Infinity"`
//! where JSON has no number (a cell without a numeric value has `qNum: "NaN"`).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A number as the engine sends it: an `f64` that may be NaN or infinite.
///
/// Deserializes from a JSON number or from `"NaN"`, `"Infinity"`, `"-Infinity"` (also `"inf"`
/// forms and numbers in strings); serializes NaN and infinities back as those strings, whole
/// numbers as JSON integers and others as JSON numbers, so a value read and written again is the
/// same JSON.
///
/// ```
/// use qix_api::Float64;
///
/// let values: Vec<Float64> = serde_json::from_str(r#"[1.5, 2, "NaN", "-Infinity"]"#).unwrap();
/// assert_eq!(values[0].0, 1.5);
/// assert!(values[2].is_nan());
/// assert_eq!(serde_json::to_string(&values).unwrap(), r#"[1.5,2,"NaN","-Infinity"]"#);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd)]
pub struct Float64(pub f64);

impl Float64 {
    /// True for NaN (the engine's "no number").
    pub fn is_nan(self) -> bool {
        self.0.is_nan()
    }
}

impl From<f64> for Float64 {
    fn from(value: f64) -> Self {
        Self(value)
    }
}

impl From<Float64> for f64 {
    fn from(value: Float64) -> Self {
        value.0
    }
}

impl fmt::Display for Float64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Whole numbers below this magnitude are written as JSON integers (exact in an f64).
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

impl Serialize for Float64 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = self.0;
        if value.is_nan() {
            serializer.serialize_str("NaN")
        } else if value.is_infinite() {
            serializer.serialize_str(if value > 0.0 { "Infinity" } else { "-Infinity" })
        } else if value.fract() == 0.0 && value.abs() < EXACT_INTEGERS {
            // In range, so the cast is exact.
            serializer.serialize_i64(value as i64)
        } else {
            serializer.serialize_f64(value)
        }
    }
}

impl<'de> Deserialize<'de> for Float64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FloatVisitor)
    }
}

/// One visitor for every number of every type: an untagged enum would buffer each value first.
struct FloatVisitor;

impl Visitor<'_> for FloatVisitor {
    type Value = Float64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, or \"NaN\", \"Infinity\" or \"-Infinity\"")
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Float64, E> {
        Ok(Float64(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Float64, E> {
        Ok(Float64(value as f64))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Float64, E> {
        Ok(Float64(value as f64))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Float64, E> {
        match text {
            "NaN" => Ok(Float64(f64::NAN)),
            "Infinity" | "+Infinity" => Ok(Float64(f64::INFINITY)),
            "-Infinity" => Ok(Float64(f64::NEG_INFINITY)),
            // Rust's parser also takes "inf", "nan" and plain numbers in a string.
            other => other
                .trim()
                .parse()
                .map(Float64)
                .map_err(|_| E::invalid_value(de::Unexpected::Str(text), &self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<f64, serde_json::Error> {
        serde_json::from_str::<Float64>(text).map(f64::from)
    }

    #[test]
    fn reads_numbers_and_the_engine_strings() {
        assert_eq!(read("1.25").unwrap(), 1.25);
        assert_eq!(read("-3").unwrap(), -3.0);
        assert_eq!(read("18446744073709551615").unwrap(), u64::MAX as f64);
        assert!(read("\"NaN\"").unwrap().is_nan());
        assert_eq!(read("\"Infinity\"").unwrap(), f64::INFINITY);
        assert_eq!(read("\"-Infinity\"").unwrap(), f64::NEG_INFINITY);
        assert_eq!(read("\"2.5\"").unwrap(), 2.5);
    }

    #[test]
    fn refuses_what_is_not_a_number() {
        assert!(read("\"twelve\"").is_err());
        assert!(read("true").is_err());
        assert!(read("null").is_err());
        assert!(read("[1]").is_err());
    }

    #[test]
    fn writes_what_it_read() {
        for text in [
            "1.25",
            "-3",
            "0",
            "\"NaN\"",
            "\"Infinity\"",
            "\"-Infinity\"",
            "1e300",
        ] {
            let value: Float64 = serde_json::from_str(text).unwrap();
            let again: Float64 =
                serde_json::from_str(&serde_json::to_string(&value).unwrap()).unwrap();
            assert!(
                again == value || (again.is_nan() && value.is_nan()),
                "{text}"
            );
        }
        assert_eq!(serde_json::to_string(&Float64(2.0)).unwrap(), "2");
        assert_eq!(serde_json::to_string(&Float64(0.5)).unwrap(), "0.5");
    }
}
