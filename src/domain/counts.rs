//! The token counts of an upstream's usage object, of any of the four protocols, read straight
//! from its JSON (or from a `Value`) without building a tree: a non-streaming answer's usage
//! is read on every request, and its `Value` cost more than the rest of reading the answer.

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::MAX_TOKENS;

/// A field that was present: `Some` count when it was a number, clamped to
/// `0..=MAX_TOKENS`; `None` when it was anything else (which counts as absent, but stops a
/// fallback to another field, as a present `null` does in the object).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tokens(pub Option<i64>);

/// The counts a usage object holds, for `Usage`'s readers. A usage that is not an object is
/// empty; a repeated key keeps its last value, as a parsed object does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub input_tokens: Option<Tokens>,
    pub output_tokens: Option<Tokens>,
    pub cache_creation_input_tokens: Option<Tokens>,
    pub cache_read_input_tokens: Option<Tokens>,
    /// `cache_creation`.
    pub cache_creation: Option<Nested>,
    pub prompt_tokens: Option<Tokens>,
    pub completion_tokens: Option<Tokens>,
    pub prompt_tokens_details: Option<Nested>,
    pub input_tokens_details: Option<Nested>,
    /// DeepSeek's cache hits.
    pub prompt_cache_hit_tokens: Option<Tokens>,
    pub prompt_token_count: Option<Tokens>,
    pub tool_use_prompt_token_count: Option<Tokens>,
    pub cached_content_token_count: Option<Tokens>,
    pub candidates_token_count: Option<Tokens>,
    pub thoughts_token_count: Option<Tokens>,
}

/// The counts of an object inside usage (`cache_creation`, `…_tokens_details`); `None` in
/// `Counts` when the field was not an object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nested {
    pub cached_tokens: Option<Tokens>,
    pub ephemeral_1h_input_tokens: Option<Tokens>,
}

impl Tokens {
    /// The count, when the field was a number.
    pub fn of(field: Option<Tokens>) -> Option<i64> {
        field.and_then(|t| t.0)
    }
}

impl Counts {
    /// The counts of a parsed usage object.
    pub fn of(usage: &Value) -> Counts {
        Counts::deserialize(usage).unwrap_or_default()
    }

    /// The counts of a usage object's JSON text (empty when it is not valid JSON).
    pub fn from_json(text: &[u8]) -> Counts {
        serde_json::from_slice(text).unwrap_or_default()
    }
}

/// What a value that is not an object reads as: nothing, after consuming it.
macro_rules! not_an_object {
    ($t:ty) => {
        fn visit_bool<E>(self, _: bool) -> Result<$t, E> {
            Ok(Default::default())
        }
        fn visit_i64<E>(self, _: i64) -> Result<$t, E> {
            Ok(Default::default())
        }
        fn visit_u64<E>(self, _: u64) -> Result<$t, E> {
            Ok(Default::default())
        }
        fn visit_f64<E>(self, _: f64) -> Result<$t, E> {
            Ok(Default::default())
        }
        fn visit_str<E>(self, _: &str) -> Result<$t, E> {
            Ok(Default::default())
        }
        fn visit_unit<E>(self) -> Result<$t, E> {
            Ok(Default::default())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<$t, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Default::default())
        }
    };
}

/// Reads an object's fields into `Self`, any other value as `Default`.
trait Fields: Default {
    const EXPECTING: &'static str;
    /// Reads the value of `key` when it is one of the fields, else skips it.
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

struct ObjectVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Fields> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut out = T::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            out.field(key.as_str(), &mut map)?;
        }
        Ok(out)
    }

    not_an_object!(T);
}

impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Counts, D::Error> {
        d.deserialize_any(ObjectVisitor(std::marker::PhantomData))
    }
}

impl Fields for Counts {
    const EXPECTING: &'static str = "a usage object";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        let slot = match key {
            "input_tokens" => &mut self.input_tokens,
            "output_tokens" => &mut self.output_tokens,
            "cache_creation_input_tokens" => &mut self.cache_creation_input_tokens,
            "cache_read_input_tokens" => &mut self.cache_read_input_tokens,
            "prompt_tokens" => &mut self.prompt_tokens,
            "completion_tokens" => &mut self.completion_tokens,
            "prompt_cache_hit_tokens" => &mut self.prompt_cache_hit_tokens,
            "promptTokenCount" => &mut self.prompt_token_count,
            "toolUsePromptTokenCount" => &mut self.tool_use_prompt_token_count,
            "cachedContentTokenCount" => &mut self.cached_content_token_count,
            "candidatesTokenCount" => &mut self.candidates_token_count,
            "thoughtsTokenCount" => &mut self.thoughts_token_count,
            "cache_creation" | "prompt_tokens_details" | "input_tokens_details" => {
                let nested = map.next_value::<NestedField>()?.0;
                *match key {
                    "cache_creation" => &mut self.cache_creation,
                    "prompt_tokens_details" => &mut self.prompt_tokens_details,
                    _ => &mut self.input_tokens_details,
                } = nested;
                return Ok(());
            }
            _ => {
                map.next_value::<IgnoredAny>()?;
                return Ok(());
            }
        };
        *slot = Some(map.next_value()?);
        Ok(())
    }
}

impl Fields for Nested {
    const EXPECTING: &'static str = "an object of counts";

    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "cached_tokens" => self.cached_tokens = Some(map.next_value()?),
            "ephemeral_1h_input_tokens" => self.ephemeral_1h_input_tokens = Some(map.next_value()?),
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// A nested field's value: its counts when it is an object, `None` otherwise.
#[derive(Default)]
struct NestedField(Option<Nested>);

impl<'de> Deserialize<'de> for NestedField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NestedField, D::Error> {
        // An object, even an empty one, is present; anything else is not.
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = NestedField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(Nested::EXPECTING)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<NestedField, A::Error> {
                let nested = ObjectVisitor::<Nested>(std::marker::PhantomData).visit_map(map)?;
                Ok(NestedField(Some(nested)))
            }
            not_an_object!(NestedField);
        }
        d.deserialize_any(Object)
    }
}

impl<'de> Deserialize<'de> for Tokens {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tokens, D::Error> {
        struct Count;
        impl<'de> Visitor<'de> for Count {
            type Value = Tokens;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a token count")
            }
            fn visit_i64<E>(self, n: i64) -> Result<Tokens, E> {
                Ok(Tokens(Some(n.clamp(0, MAX_TOKENS))))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Tokens, E> {
                Ok(Tokens(Some(
                    i64::try_from(n).map_or(MAX_TOKENS, |n| n.min(MAX_TOKENS)),
                )))
            }
            fn visit_f64<E>(self, f: f64) -> Result<Tokens, E> {
                Ok(Tokens(
                    (!f.is_nan()).then(|| f.clamp(0.0, MAX_TOKENS as f64) as i64),
                ))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Tokens, E> {
                Ok(Tokens(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Tokens, E> {
                Ok(Tokens(None))
            }
            fn visit_unit<E>(self) -> Result<Tokens, E> {
                Ok(Tokens(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tokens, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Tokens(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tokens, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Tokens(None))
            }
        }
        d.deserialize_any(Count)
    }
}

/// An object's key, borrowed from the text when it has no escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct Name;
        impl<'de> Visitor<'de> for Name {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(s))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(s.to_owned()))
            }
        }
        d.deserialize_str(Name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The reading `Usage` made of a `Value` before: a field's count when it is a number.
    fn count(v: Option<&Value>) -> Option<i64> {
        let v = v?;
        if let Some(n) = v.as_i64() {
            Some(n.clamp(0, MAX_TOKENS))
        } else if v.is_u64() {
            Some(MAX_TOKENS)
        } else {
            v.as_f64().map(|f| f.clamp(0.0, MAX_TOKENS as f64) as i64)
        }
    }

    #[test]
    fn text_and_tree_read_the_same_counts() {
        let usage = json!({
            "input_tokens": 10, "output_tokens": 2.7, "cache_creation_input_tokens": -4,
            "cache_read_input_tokens": 18446744073709551615u64,
            "cache_creation": {"ephemeral_5m_input_tokens": 1, "ephemeral_1h_input_tokens": 3},
            "prompt_tokens": null, "completion_tokens": "7", "server_tool_use": {"web_search_requests": 1},
            "prompt_tokens_details": {}, "input_tokens_details": 5,
            "promptTokenCount": 1e30, "thoughtsTokenCount": [1, {"a": 2}],
        });
        let text = serde_json::to_vec(&usage).unwrap();
        let c = Counts::from_json(&text);
        assert_eq!(c, Counts::of(&usage));
        assert_eq!(Tokens::of(c.input_tokens), Some(10));
        assert_eq!(Tokens::of(c.output_tokens), Some(2));
        assert_eq!(Tokens::of(c.cache_creation_input_tokens), Some(0));
        assert_eq!(Tokens::of(c.cache_read_input_tokens), Some(MAX_TOKENS));
        assert_eq!(Tokens::of(c.prompt_token_count), Some(MAX_TOKENS));
        // Present but not a number: absent as a count, yet present (no fallback past it).
        assert_eq!(c.prompt_tokens, Some(Tokens(None)));
        assert_eq!(c.completion_tokens, Some(Tokens(None)));
        assert_eq!(c.thoughts_token_count, Some(Tokens(None)));
        assert_eq!(c.candidates_token_count, None);
        assert_eq!(
            Tokens::of(c.cache_creation.unwrap().ephemeral_1h_input_tokens),
            Some(3)
        );
        // An empty object is present; a number where an object belongs is not.
        assert_eq!(c.prompt_tokens_details, Some(Nested::default()));
        assert_eq!(c.input_tokens_details, None);
    }

    #[test]
    fn a_usage_that_is_no_object_is_empty_and_a_repeated_key_keeps_its_last_value() {
        for text in [
            &b"null"[..],
            b"7",
            b"\"x\"",
            b"[1,2]",
            b"{",
            b"{\"input_tokens\":}",
        ] {
            assert_eq!(Counts::from_json(text), Counts::default(), "{text:?}");
        }
        let c =
            Counts::from_json(br#"{"input_tokens":1,"input_tokens":5, "in\u0070ut_tokens" : 6 }"#);
        assert_eq!(Tokens::of(c.input_tokens), Some(6));
    }

    /// Every count field read from any JSON the property test makes is what a `Value`
    /// gives for it.
    #[test]
    fn counts_agree_with_the_tree_for_any_value() {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            (-1e12f64..1e12).prop_map(|f| json!(f)),
            "[a-z]{0,3}".prop_map(Value::String),
        ];
        let names = prop_oneof![
            Just("input_tokens"),
            Just("prompt_tokens"),
            Just("cached_tokens"),
            Just("cache_creation"),
            Just("prompt_tokens_details"),
            Just("ephemeral_1h_input_tokens"),
            Just("candidatesTokenCount"),
            Just("other"),
        ];
        let tree = leaf.prop_recursive(3, 24, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::vec((names.clone(), inner), 0..6).prop_map(|fields| {
                    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        });
        proptest!(|(usage in tree)| {
            let c = Counts::from_json(&serde_json::to_vec(&usage).unwrap());
            prop_assert_eq!(c, Counts::of(&usage));
            prop_assert_eq!(Tokens::of(c.input_tokens), count(usage.get("input_tokens")));
            prop_assert_eq!(Tokens::of(c.prompt_tokens), count(usage.get("prompt_tokens")));
            prop_assert_eq!(c.prompt_tokens.is_some(), usage.get("prompt_tokens").is_some());
            prop_assert_eq!(
                Tokens::of(c.prompt_tokens_details.and_then(|d| d.cached_tokens)),
                count(usage.pointer("/prompt_tokens_details/cached_tokens"))
            );
            prop_assert_eq!(
                Tokens::of(c.cache_creation.and_then(|d| d.ephemeral_1h_input_tokens)),
                count(usage.pointer("/cache_creation/ephemeral_1h_input_tokens"))
            );
        });
    }
}
