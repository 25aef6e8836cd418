//! A serde deserializer for a JSON text the skimmer has already checked: it reads the text
//! again without checking it, and jumps over each long string (a conversation's texts), and
//! each large container it is not asked to read, to where the skimmer noted it ends.
//!
//! Hand-written because it is measured to matter: a translated request is read twice, once
//! for routing and once typed, and the typed reading with serde_json scanned the
//! conversation's escaped text a second time, about a quarter of what translating a chat
//! request cost (`benches/instructions.sh --form chat`). Only what serde_json does better
//! than a copy would is left to it: unescaping strings and reading numbers.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::value::RawValue;

use super::skim::{self, ESCAPED, Notes};

type Error = serde_json::Error;

/// The name serde_json's `RawValue` asks a deserializer for; the value is then handed to it
/// as a map of this one key to the value's text as written. Any deserializer can speak it.
const RAW_VALUE: &str = "$serde_json::private::RawValue";

/// The name a reader asks for to have a string handed over as it is written (quotes and
/// escapes) instead of decoded: a text copied from one protocol's body into another's is
/// then never unescaped and escaped again. It comes as an enum's one variant holding the
/// text, which no JSON value can pose as (a map could: any key is a client's to write).
/// Other values, and other deserializers, go on as `deserialize_any` would.
pub const RAW_STRING: &str = "$aicarpool::raw_string";

/// Containers a tree may nest, as serde_json allows (its recursion limit).
const MAX_DEPTH: usize = 127;

/// `T` read from `text`, which [`super::skim::fields`] checked, noting `notes`.
pub fn from_checked<'a, T: de::Deserialize<'a>>(text: &'a str, notes: &Notes) -> Result<T, Error> {
    let mut d = Checked {
        text,
        b: text.as_bytes(),
        i: 0,
        notes: &notes.0,
        next: 0,
        depth: 0,
    };
    let value = T::deserialize(&mut d)?;
    d.ws();
    if d.i != d.b.len() || d.next != d.notes.len() {
        return Err(mismatch());
    }
    Ok(value)
}

/// What reading a text the skimmer did not check, or with another text's notes, meets.
fn mismatch() -> Error {
    de::Error::custom("the text does not match what was checked")
}

struct Checked<'a, 'n> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    notes: &'n [(u32, u32)],
    /// The note of the next long string to come.
    next: usize,
    depth: usize,
}

impl<'a> Checked<'a, '_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), Error> {
        self.ws();
        if self.peek() != Some(c) {
            return Err(mismatch());
        }
        self.i += 1;
        Ok(())
    }

    /// The string at the current quote, with its quotes, and whether it holds an escape;
    /// moves past it. A long one's end is in the notes; a short one is scanned.
    fn string(&mut self) -> Result<(&'a str, bool), Error> {
        let (end, escaped) = match self.notes.get(self.next) {
            Some(&(open, close)) if open as usize == self.i => {
                self.next += 1;
                ((close & !ESCAPED) as usize, close & ESCAPED != 0)
            }
            _ => self.short_string()?,
        };
        if end <= self.i || self.b.get(end) != Some(&b'"') {
            return Err(mismatch());
        }
        let quoted = self.text.get(self.i..=end).ok_or_else(mismatch)?;
        self.i = end + 1;
        Ok((quoted, escaped))
    }

    /// Where the string at the current quote ends, and whether it holds an escape (the
    /// skimmer's search, eight bytes at a time).
    fn short_string(&self) -> Result<(usize, bool), Error> {
        let (mut at, mut escaped) = (self.i + 1, false);
        loop {
            at += self
                .b
                .get(at..)
                .and_then(skim::next_special)
                .ok_or_else(mismatch)?;
            if self.b[at] != b'\\' {
                return Ok((at, escaped));
            }
            escaped = true;
            at += 2;
        }
    }

    /// Where the container opening at the current bracket closes, when the skimmer noted it
    /// (then the note is passed).
    fn container_end(&mut self) -> Result<Option<usize>, Error> {
        let Some(&(at, close)) = self.notes.get(self.next) else {
            return Ok(None);
        };
        let (at, close) = (at as usize, close as usize);
        if at != self.i {
            return Ok(None);
        }
        let bracket = if self.b[at] == b'{' { b'}' } else { b']' };
        if close <= at || self.b.get(close) != Some(&bracket) {
            return Err(mismatch());
        }
        self.next += 1;
        Ok(Some(close))
    }

    /// A number or a literal: up to the next separator.
    fn scalar(&mut self) -> &'a str {
        let start = self.i;
        while let Some(c) = self.peek() {
            if matches!(c, b',' | b'}' | b']' | b':' | b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            self.i += 1;
        }
        &self.text[start..self.i]
    }

    /// Moves past one whole value without reading it; returns its text.
    fn skip(&mut self) -> Result<&'a str, Error> {
        self.ws();
        let start = self.i;
        match self.peek().ok_or_else(mismatch)? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut open = 0usize;
                loop {
                    match self.peek().ok_or_else(mismatch)? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => match self.container_end()? {
                            // A large one is jumped over, with the notes of what it holds.
                            Some(close) => {
                                self.i = close + 1;
                                self.next += self.notes[self.next..]
                                    .partition_point(|&(at, _)| (at as usize) < close);
                                if open == 0 {
                                    break;
                                }
                                continue;
                            }
                            None => open += 1,
                        },
                        b'}' | b']' => {
                            open -= 1;
                            if open == 0 {
                                self.i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                self.scalar();
            }
        }
        Ok(&self.text[start..self.i])
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(de::Error::custom("recursion limit exceeded"));
        }
        self.i += 1;
        Ok(())
    }
}

impl<'a> de::Deserializer<'a> for &mut Checked<'a, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        self.ws();
        match self.peek().ok_or_else(mismatch)? {
            b'"' => match self.string()? {
                (quoted, false) => v.visit_borrowed_str(&quoted[1..quoted.len() - 1]),
                (quoted, true) => v.visit_string(serde_json::from_str(quoted)?),
            },
            open @ (b'{' | b'[') => {
                self.container_end()?;
                self.enter()?;
                let mut items = Items {
                    d: self,
                    close: if open == b'{' { b'}' } else { b']' },
                    first: true,
                };
                let value = if open == b'{' {
                    v.visit_map(&mut items)?
                } else {
                    v.visit_seq(&mut items)?
                };
                // A visitor may stop at the last item without asking for more; one that
                // stopped before it is refused, as serde_json refuses it.
                if items.next()? {
                    return Err(de::Error::custom("a container was left unread"));
                }
                self.depth -= 1;
                Ok(value)
            }
            b't' | b'f' | b'n' => match self.scalar() {
                "true" => v.visit_bool(true),
                "false" => v.visit_bool(false),
                "null" => v.visit_unit(),
                _ => Err(mismatch()),
            },
            // serde_json reads numbers, so that they come out exactly as it would have them
            // (`-0`, integers past 64 bits, exponents out of range).
            _ => de::Deserializer::deserialize_any(
                &mut serde_json::Deserializer::from_str(self.scalar()),
                v,
            ),
        }
    }

    fn deserialize_option<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        self.ws();
        if self.peek() == Some(b'n') {
            self.scalar();
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        if name == RAW_VALUE {
            let text = self.skip()?;
            v.visit_map(Raw(Some(text)))
        } else if name == RAW_STRING {
            self.ws();
            if self.peek() != Some(b'"') {
                return self.deserialize_any(v);
            }
            let (quoted, _) = self.string()?;
            v.visit_enum(Written(quoted))
        } else {
            v.visit_newtype_struct(self)
        }
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, v: V) -> Result<V::Value, Error> {
        self.skip()?;
        v.visit_unit()
    }

    forward_to_deserialize_any! {
        <W: Visitor<'a>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct enum identifier
    }
}

/// A container's fields or items, from just past its opening bracket.
struct Items<'d, 'a, 'n> {
    d: &'d mut Checked<'a, 'n>,
    /// The closing bracket to look for; zero once it was passed.
    close: u8,
    first: bool,
}

impl Items<'_, '_, '_> {
    /// Moves to the next field or item: `false` past the closing bracket.
    fn next(&mut self) -> Result<bool, Error> {
        if self.close == 0 {
            return Ok(false);
        }
        self.d.ws();
        if self.d.peek() == Some(self.close) {
            self.d.i += 1;
            self.close = 0;
            return Ok(false);
        }
        if !std::mem::take(&mut self.first) {
            self.d.expect(b',')?;
        }
        Ok(true)
    }
}

impl<'a> MapAccess<'a> for Items<'_, 'a, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if !self.next()? {
            return Ok(None);
        }
        let key = seed.deserialize(&mut *self.d)?;
        self.d.expect(b':')?;
        Ok(Some(key))
    }

    fn next_value_seed<S: DeserializeSeed<'a>>(&mut self, seed: S) -> Result<S::Value, Error> {
        seed.deserialize(&mut *self.d)
    }
}

impl<'a> SeqAccess<'a> for Items<'_, 'a, '_> {
    type Error = Error;

    fn next_element_seed<S: DeserializeSeed<'a>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Error> {
        if !self.next()? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.d).map(Some)
    }
}

/// `text`, a JSON value already checked, as a `RawValue`, handed over as serde_json's own
/// deserializer hands one (serde_json would check it again).
pub fn raw_value(text: &str) -> Result<&RawValue, Error> {
    de::Deserialize::deserialize(RawText(text))
}

/// A deserializer that only hands its text to `RawValue`.
struct RawText<'a>(&'a str);

impl<'a> de::Deserializer<'a> for RawText<'a> {
    type Error = Error;

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        if name != RAW_VALUE {
            return Err(mismatch());
        }
        v.visit_map(Raw(Some(self.0)))
    }

    fn deserialize_any<V: Visitor<'a>>(self, _: V) -> Result<V::Value, Error> {
        Err(mismatch())
    }

    forward_to_deserialize_any! {
        <W: Visitor<'a>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// A string handed over as written ([`RAW_STRING`]): the variant is named so, and holds the
/// text.
struct Written<'a>(&'a str);

impl<'a> de::EnumAccess<'a> for Written<'a> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'a>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        Ok((
            seed.deserialize(BorrowedStrDeserializer::new(RAW_STRING))?,
            self,
        ))
    }
}

impl<'a> de::VariantAccess<'a> for Written<'a> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Err(mismatch())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(BorrowedStrDeserializer::new(self.0))
    }

    fn tuple_variant<V: Visitor<'a>>(self, _: usize, _: V) -> Result<V::Value, Error> {
        Err(mismatch())
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Error> {
        Err(mismatch())
    }
}

/// A value handed to serde_json's `RawValue` as the text it was written as.
struct Raw<'a>(Option<&'a str>);

impl<'a> MapAccess<'a> for Raw<'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.0.is_none() {
            return Ok(None);
        }
        seed.deserialize(BorrowedStrDeserializer::new(RAW_VALUE))
            .map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'a>>(&mut self, seed: S) -> Result<S::Value, Error> {
        let text = self.0.take().ok_or_else(mismatch)?;
        seed.deserialize(BorrowedStrDeserializer::new(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::skim::note;
    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::Value;
    use serde_json::value::RawValue;
    use std::borrow::Cow;

    fn read<'a, T: de::Deserialize<'a>>(text: &'a str, notes: &Notes) -> Result<T, Error> {
        from_checked(text, notes)
    }

    fn notes(text: &str) -> Notes {
        note(text.as_bytes()).expect("valid JSON").1
    }

    #[derive(Deserialize, Debug)]
    struct Typed<'a> {
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(borrow)]
        raw: Option<&'a RawValue>,
        n: Option<i64>,
        list: Vec<Value>,
        #[serde(borrow)]
        nested: Option<Box<Typed<'a>>>,
    }

    #[test]
    fn typed_parts_borrow_the_text_and_raw_values_are_as_written() {
        let text = r#" { "skip" : {"a": ["]", "}\"", {"b": [1, 2e3]}]}, "name":"plain",
            "raw": { "x" : "y\n\"z\"" , "n": [ -0.5 ] } ,"n": 7, "list": [null, true, "a\u00e9", -0, 1.5],
            "nested": {"name": "esc\\aped", "raw": "s", "list": [], "nested": null}, "tail": "\"" } "#;
        let noted = notes(text);
        let t: Typed = read(text, &noted).unwrap();
        assert!(matches!(t.name, Cow::Borrowed("plain")));
        assert_eq!(
            t.raw.unwrap().get(),
            r#"{ "x" : "y\n\"z\"" , "n": [ -0.5 ] }"#
        );
        assert_eq!(t.n, Some(7));
        assert_eq!(
            t.list,
            serde_json::from_str::<Vec<Value>>(r#"[null, true, "aé", -0, 1.5]"#).unwrap()
        );
        let judge: Typed = serde_json::from_str(text).unwrap();
        assert_eq!(t.list, judge.list);
        let nested = t.nested.unwrap();
        assert_eq!(nested.name, "esc\\aped");
        assert_eq!(nested.raw.unwrap().get(), "\"s\"");
        assert_eq!(nested.name, judge.nested.unwrap().name);
    }

    #[test]
    fn wrong_types_and_another_texts_notes_are_errors_not_panics() {
        let text = r#"{"name": 5, "list": []}"#;
        let e = read::<Typed>(text, &notes(text)).unwrap_err();
        assert!(e.to_string().contains("invalid type"), "{e}");
        // Notes of another text: refused, never a panic or a slice out of the text.
        let other = notes(r#"{"a":"a text long enough to be noted"}"#);
        assert!(read::<Value>(r#"{"abcd":"e"}"#, &other).is_err());
        assert!(read::<Value>(r#"{"a":"a text long enough to"}"#, &other).is_err());
        // serde_json's depth limit holds for trees.
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        assert!(read::<Value>(&deep, &notes(&deep)).is_err());
        // A lone surrogate kept as text is refused as serde_json refuses it.
        let lone = r#"{"name": "\ud800", "list": []}"#;
        assert!(read::<Typed>(lone, &notes(lone)).is_err());
        assert!(read::<Value>(r#"[1e400]"#, &notes("[1e400]")).is_err());
        // A visitor that stops before a map's end is refused, as serde_json refuses it.
        struct FirstKey;
        impl<'de> de::Deserialize<'de> for FirstKey {
            fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<FirstKey, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = FirstKey;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("a map")
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<FirstKey, A::Error> {
                        m.next_entry::<de::IgnoredAny, de::IgnoredAny>()?;
                        Ok(FirstKey)
                    }
                }
                d.deserialize_map(V)
            }
        }
        let two = r#"{"a":1,"b":2}"#;
        assert!(serde_json::from_str::<FirstKey>(two).is_err());
        assert!(read::<FirstKey>(two, &notes(two)).is_err());
        let one = r#"{"a":1} "#;
        assert!(serde_json::from_str::<FirstKey>(one).is_ok());
        assert!(read::<FirstKey>(one, &notes(one)).is_ok());
    }

    /// Valid JSON texts, compact or spaced.
    fn json_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| n.into()),
            any::<u64>().prop_map(|n| n.into()),
            (-1e9f64..1e9).prop_map(|n| n.into()),
            "[ -~\\x00-\\x1f\u{e9}\u{1F600}]{0,40}".prop_map(Value::String),
        ];
        let value = leaf.prop_recursive(6, 60, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-z\"\\\\{}]{0,4}|[a-z\"\\\\{} ]{20,30}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        });
        (value, any::<bool>()).prop_map(|(v, pretty)| {
            if pretty {
                serde_json::to_string_pretty(&v).unwrap()
            } else {
                serde_json::to_string(&v).unwrap()
            }
        })
    }

    proptest! {
        /// A checked text reads as serde_json reads it, as a tree and as raw values.
        #[test]
        fn reads_as_serde_json_does(text in json_text()) {
            let noted = notes(&text);
            let tree: Value = read(&text, &noted).unwrap();
            prop_assert_eq!(&tree, &serde_json::from_str::<Value>(&text).unwrap());
            let raw: &RawValue = read(&text, &noted).unwrap();
            prop_assert_eq!(raw.get(), text.trim());
            if let Value::Object(_) = tree {
                let ours: std::collections::BTreeMap<String, &RawValue> = read(&text, &noted).unwrap();
                let judge: std::collections::BTreeMap<String, &RawValue> = serde_json::from_str(&text).unwrap();
                prop_assert_eq!(
                    ours.iter().map(|(k, v)| (k, v.get())).collect::<Vec<_>>(),
                    judge.iter().map(|(k, v)| (k, v.get())).collect::<Vec<_>>()
                );
            }
        }
    }
}
