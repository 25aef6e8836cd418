//! A message's content, a string or an array, read in one pass: the array's items typed, the
//! string as it is written.

use serde::Deserialize;
use serde::de::{EnumAccess, IgnoredAny, MapAccess, SeqAccess, VariantAccess, Visitor};

use super::Str;
use crate::gateway::checked;

/// A field that is a string or an array (a message's content), read in the same pass as the
/// rest of the body: an array's items typed as they come, a string as it is written (through
/// the checked reader; decoded through any other). Capturing the field raw instead and reading
/// an array again would scan its bytes twice, and a scan of a conversation's escaped text is
/// most of what reading a request costs; decoding a string only to escape it again for the
/// upstream cost about 1 500 instructions for each of Claude Code's prompts
/// (`benches/instructions.sh --form to-chat`).
#[derive(Debug)]
pub enum Listed<'a, T> {
    Text(Str<'a>),
    Items(Vec<T>),
    /// Null, or anything else a client sent there: read as nothing.
    Other,
}

impl<'de: 'a, 'a, T: Deserialize<'de>> Deserialize<'de> for Listed<'a, T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_newtype_struct(checked::RAW_STRING, ListedVisitor(std::marker::PhantomData))
    }
}

struct ListedVisitor<'a, T>(std::marker::PhantomData<(&'a (), T)>);

impl<'de: 'a, 'a, T: Deserialize<'de>> Visitor<'de> for ListedVisitor<'a, T> {
    type Value = Listed<'a, T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string or an array")
    }

    /// A deserializer that does not hand strings over as written.
    fn visit_newtype_struct<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Listed::Text(Str::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Listed::Text(Str::Owned(s.to_owned())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Listed::Items(items))
    }

    /// A string handed over as written, by the checked reader: its one variant is named
    /// [`checked::RAW_STRING`], which no other reader would hand over.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        let (name, written) = data.variant::<&'de str>()?;
        if name != checked::RAW_STRING {
            return Err(serde::de::Error::custom(format!(
                "expected a string as written, got the variant {name}"
            )));
        }
        let written: &'de str = written.newtype_variant()?;
        let raw = checked::raw_value(written).map_err(serde::de::Error::custom)?;
        Ok(Listed::Text(Str::Raw(raw)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Listed::Other)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Listed::Other)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Listed::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Listed::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Listed::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Listed::Other)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde::de::value::{
        BorrowedStrDeserializer, EnumAccessDeserializer, MapAccessDeserializer, MapDeserializer,
    };

    use super::Listed;

    /// Only the checked reader's variant is taken as a string written out: another reader's
    /// newtype variant holding JSON text is refused, not copied into the upstream body.
    #[test]
    fn a_variant_not_named_by_the_checked_reader_is_refused() {
        let enum_of = |name: &'static str| {
            let entry = (
                BorrowedStrDeserializer::<serde::de::value::Error>::new(name),
                BorrowedStrDeserializer::new("\"hello\""),
            );
            EnumAccessDeserializer::new(MapAccessDeserializer::new(MapDeserializer::new(
                std::iter::once(entry),
            )))
        };
        let other = Listed::<serde_json::Value>::deserialize(enum_of("elsewhere"));
        assert!(other.is_err(), "{other:?}");
        let checked =
            Listed::<serde_json::Value>::deserialize(enum_of(crate::gateway::checked::RAW_STRING));
        assert!(matches!(checked, Ok(Listed::Text(_))), "{checked:?}");
    }
}
