//! Reads chosen top-level fields of a JSON object without building the rest: a request's or an
//! answer's bulk (conversation, content) is checked and skipped, never copied into a tree.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

/// What to keep of a field.
#[derive(Clone, Copy)]
pub enum Take {
    /// Its value.
    Value,
    /// Only that it is there (kept as `true`); its value is skipped unread.
    Presence,
}

/// The fields of the JSON object `body` named in `fields`, as an object holding just those
/// (the last one wins when a name repeats, as in a full parse). Fails on anything that is not
/// a JSON object, or not valid JSON, or not UTF-8 (including inside skipped strings).
pub fn pick(body: &[u8], fields: &[(&str, Take)]) -> Result<Map<String, Value>, PickError> {
    // The parser skips strings without decoding them; a body that is not text is refused here.
    if let Err(e) = std::str::from_utf8(body) {
        return Err(PickError::Syntax(format!(
            "invalid UTF-8 at byte {}",
            e.valid_up_to()
        )));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let picked = Picker(fields)
        .deserialize(&mut de)
        .and_then(|m| de.end().map(|()| m));
    picked.map_err(|e| match e.classify() {
        serde_json::error::Category::Data => PickError::NotObject,
        _ => PickError::Syntax(e.to_string()),
    })
}

#[derive(Debug, PartialEq)]
pub enum PickError {
    /// Valid JSON, but not an object.
    NotObject,
    /// Not JSON; the parser's explanation.
    Syntax(String),
}

struct Picker<'a>(&'a [(&'a str, Take)]);

impl<'de> DeserializeSeed<'de> for Picker<'_> {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Picker<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Map::new();
        while let Some(found) = map.next_key_seed(Name(self.0))? {
            match found.map(|i| self.0[i]) {
                Some((n, Take::Value)) => {
                    out.insert((*n).to_owned(), map.next_value::<Value>()?);
                }
                Some((n, Take::Presence)) => {
                    map.next_value::<IgnoredAny>()?;
                    out.insert((*n).to_owned(), Value::Bool(true));
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// Which of the wanted fields a key names, if any (compared without copying the key).
struct Name<'a>(&'a [(&'a str, Take)]);

impl<'de> DeserializeSeed<'de> for Name<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Name<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|(n, _)| *n == key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[(&str, Take)] = &[("model", Take::Value), ("choices", Take::Presence)];

    #[test]
    fn only_the_named_fields_are_kept_and_the_last_repeat_wins() {
        let m = pick(
            br#"{"messages":[{"content":"long"}],"model":"a","choices":null,"mod\u0065l":"b"}"#,
            FIELDS,
        )
        .unwrap();
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"model":"b","choices":true})
        );
    }

    #[test]
    fn anything_but_a_json_object_is_refused_with_the_reason() {
        assert_eq!(pick(b"null", FIELDS), Err(PickError::NotObject));
        assert_eq!(pick(b"[1]", FIELDS), Err(PickError::NotObject));
        for bad in [
            &b"{\"model\":"[..],
            b"{\"x\": \"\xc3\x28\"}",
            b"{} trailing",
            b"{\"model\":\"a\",}",
        ] {
            assert!(
                matches!(pick(bad, FIELDS), Err(PickError::Syntax(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Skipping is not recursive: deep nesting in a skipped field cannot exhaust the stack.
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(pick(deep.as_bytes(), FIELDS).is_ok());
        // A kept field is parsed whole, with the parser's depth limit.
        let deep = format!("{{\"model\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            pick(deep.as_bytes(), FIELDS),
            Err(PickError::Syntax(_))
        ));
    }
}
