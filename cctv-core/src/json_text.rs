//! A JSON value kept as its text.
//!
//! A detection's `detection_data` is validated once, when the request arrives, and after
//! that only stored: written into the intake's payload, bound to SQL, served back as
//! text. Kept parsed, it cost ~1.2 KB of small allocations per detection in memory (a
//! `serde_json::Map` per object) and was serialised again for every row it went into;
//! as text it costs its length (~170 bytes for a typical detection), and a payload that
//! embeds it writes it as it is.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// Valid JSON text (compact when built from a [`Value`]). Serialised as the JSON it holds,
/// not as a string; deserialised from any JSON value.
#[derive(Clone)]
pub struct JsonText(Box<RawValue>);

impl JsonText {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The text as serde_json's raw value (to embed or bind it as it is).
    pub fn as_raw(&self) -> &RawValue {
        &self.0
    }

    /// The value, parsed.
    pub fn to_value(&self) -> Value {
        // The text was valid JSON when this was built, so parsing cannot fail.
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }

    /// The top-level member `key` of an object, parsed; `None` when the text is not an
    /// object or has no such member (or it is `null`). Texts that cannot hold the key are
    /// not parsed at all: a key is written either as it is or with a `\u` escape.
    pub fn member(&self, key: &str) -> Option<Value> {
        let text = self.0.get();
        if !text.contains(key) && !text.contains("\\u") {
            return None;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(mut map)) => map.remove(key).filter(|v| !v.is_null()),
            _ => None,
        }
    }
}

impl From<&Value> for JsonText {
    fn from(value: &Value) -> Self {
        // Serialising a `Value` cannot fail (its map keys are strings); `null` otherwise.
        Self(serde_json::value::to_raw_value(value).unwrap_or_default())
    }
}

impl From<Value> for JsonText {
    fn from(value: Value) -> Self {
        Self::from(&value)
    }
}

/// Two texts are equal when they hold the same JSON value (key order and spacing aside).
impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.to_value() == other.to_value()
    }
}

impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn embeds_as_json_and_reads_back_from_text_and_from_a_value() {
        let data = JsonText::from(json!({"confidence": 0.9, "box": {"x": 1}}));
        assert_eq!(data.as_str(), r#"{"box":{"x":1},"confidence":0.9}"#);
        let payload = serde_json::to_string(&json!({"d": data})).unwrap();
        assert_eq!(payload, r#"{"d":{"box":{"x":1},"confidence":0.9}}"#);

        #[derive(Deserialize)]
        struct Holder {
            d: JsonText,
        }
        let from_text: Holder = serde_json::from_str(&payload).unwrap();
        let from_value: Holder =
            serde_json::from_value(serde_json::from_str(&payload).unwrap()).unwrap();
        assert_eq!(from_text.d, data);
        assert_eq!(from_value.d, data);
        assert_eq!(
            from_text.d.to_value(),
            json!({"confidence": 0.9, "box": {"x": 1}})
        );
    }

    #[test]
    fn a_member_is_found_however_its_key_is_written() {
        let plain: JsonText =
            serde_json::from_str(r#"{"appearance_features": {"hat": "red"}}"#).unwrap();
        let escaped: JsonText =
            serde_json::from_str(r#"{"appearance\u005ffeatures": {"hat": "red"}}"#).unwrap();
        for data in [plain, escaped] {
            assert_eq!(
                data.member("appearance_features"),
                Some(json!({"hat": "red"}))
            );
        }
        let nested: JsonText =
            serde_json::from_str(r#"{"x": {"appearance_features": 1}}"#).unwrap();
        assert_eq!(nested.member("appearance_features"), None);
        let null: JsonText = serde_json::from_str(r#"{"appearance_features": null}"#).unwrap();
        assert_eq!(null.member("appearance_features"), None);
        assert_eq!(
            JsonText::from(json!([1])).member("appearance_features"),
            None
        );
    }

    #[test]
    fn equal_values_are_equal_whatever_their_spacing() {
        let spaced: JsonText = serde_json::from_str(r#"{ "a" : 1 }"#).unwrap();
        assert_eq!(spaced, JsonText::from(json!({"a": 1})));
        assert_ne!(spaced, JsonText::from(json!({"a": 2})));
    }
}
