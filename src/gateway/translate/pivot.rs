//! The pivot request as typed parts borrowed from the client's body. A chat client's request
//! on its way to an Anthropic account is written from these without a tree being built: its
//! texts, ids and schemas are copied as the client escaped them. Other targets read it as a
//! `Value` ([`Request::into_value`]).

use std::borrow::Cow;

use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json, value::RawValue};

use super::{Counts, Usage, thinking_budget};
use crate::gateway::checked;
use crate::gateway::skim;
use crate::gateway::usage::Report;

mod listed;
pub use listed::Listed;

/// A JSON string: as the client wrote it (escapes and all), its text read in passing
/// (borrowed when it had no escapes), or made here.
#[derive(Debug)]
pub enum Str<'a> {
    Raw(&'a RawValue),
    Borrowed(&'a str),
    Owned(String),
}

impl<'a> From<Cow<'a, str>> for Str<'a> {
    fn from(text: Cow<'a, str>) -> Str<'a> {
        match text {
            Cow::Borrowed(s) => Str::Borrowed(s),
            Cow::Owned(s) => Str::Owned(s),
        }
    }
}

impl<'a> Str<'a> {
    /// `raw` when it is a JSON string, else an empty string (as a missing text or id reads).
    pub fn of(raw: Option<&'a RawValue>) -> Str<'a> {
        raw.and_then(Str::string)
            .unwrap_or_else(|| Str::Owned(String::new()))
    }

    /// `raw` when it is a JSON string.
    pub fn string(raw: &'a RawValue) -> Option<Str<'a>> {
        raw.get().starts_with('"').then_some(Str::Raw(raw))
    }

    /// Whether the text starts with `prefix`, which has nothing JSON escapes (for a string
    /// as written, read without unescaping it).
    pub fn starts_with(&self, prefix: &str) -> bool {
        match self {
            Str::Raw(r) => r.get()[1..].starts_with(prefix),
            Str::Borrowed(s) => s.starts_with(prefix),
            Str::Owned(s) => s.starts_with(prefix),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Str::Raw(r) => r.get() == "\"\"",
            Str::Borrowed(s) => s.is_empty(),
            Str::Owned(s) => s.is_empty(),
        }
    }

    /// The text itself, unescaped (borrowed when it has no escapes).
    pub fn text(&self) -> Cow<'a, str> {
        match self {
            Str::Raw(r) => text(r),
            Str::Borrowed(s) => Cow::Borrowed(s),
            Str::Owned(s) => Cow::Owned(s.clone()),
        }
    }
}

/// Message content (a string, or parts with texts, as chat and Responses both write it) as
/// its text: a string as written, the parts' texts joined by newlines, else empty.
pub fn content_text(content: Option<&RawValue>) -> Result<Str<'_>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Part<'a> {
        #[serde(borrow)]
        text: Option<&'a RawValue>,
    }
    match content {
        Some(raw) if raw.get().starts_with('[') => {
            let parts: Vec<Part> = serde_json::from_str(raw.get())?;
            Ok(part_texts(parts.into_iter().map(|p| p.text)))
        }
        other => Ok(Str::of(other)),
    }
}

/// Content parts' texts (those that are strings) joined by newlines.
pub fn part_texts<'a>(texts: impl Iterator<Item = Option<&'a RawValue>>) -> Str<'a> {
    join(
        texts.filter_map(|t| t.and_then(Str::string)).collect(),
        "\n",
    )
}

/// System texts as one system prompt: one is sent as the client wrote it, more are joined
/// by blank lines.
pub fn system(mut texts: Vec<Str<'_>>) -> Option<Str<'_>> {
    texts.retain(|s| !s.is_empty());
    (!texts.is_empty()).then(|| join(texts, "\n\n"))
}

/// Strings joined by `sep`: one is kept as it was written, none is empty.
pub fn join<'a>(mut parts: Vec<Str<'a>>, sep: &str) -> Str<'a> {
    match parts.len() {
        0 => Str::Owned(String::new()),
        1 => parts.pop().expect("one part"),
        _ => Str::Owned(parts.iter().map(Str::text).collect::<Vec<_>>().join(sep)),
    }
}

/// A JSON string's text (empty when it is not a string).
pub fn text<'a>(raw: &'a RawValue) -> Cow<'a, str> {
    skim::string_text(raw.get()).unwrap_or(Cow::Borrowed(""))
}

impl Serialize for Str<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Str::Raw(r) => r.serialize(s),
            Str::Borrowed(t) => s.serialize_str(t),
            Str::Owned(t) => s.serialize_str(t),
        }
    }
}

/// A JSON value kept as text: the client's own, or one made here.
pub type Json<'a> = Cow<'a, RawValue>;

/// `v` as a [`Json`].
pub fn json_of(v: &Value) -> Json<'static> {
    Cow::Owned(serde_json::value::to_raw_value(v).expect("a value serializes"))
}

/// An Anthropic Messages request.
#[derive(Serialize, Debug, Default)]
pub struct Request<'a> {
    pub model: String,
    pub messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

#[derive(Serialize, Debug)]
pub struct Message<'a> {
    pub role: &'static str,
    pub content: Vec<Block<'a>>,
}

#[derive(Serialize, Debug)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block<'a> {
    Text {
        text: Str<'a>,
    },
    Image {
        source: Source<'a>,
    },
    ToolUse {
        id: Str<'a>,
        name: Str<'a>,
        input: Json<'a>,
    },
    ToolResult {
        tool_use_id: Str<'a>,
        content: ToolContent<'a>,
    },
    Thinking {
        thinking: String,
        signature: String,
    },
}

#[derive(Serialize, Debug)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Source<'a> {
    Base64 {
        media_type: Cow<'a, str>,
        data: Cow<'a, str>,
    },
    Url {
        url: Cow<'a, str>,
    },
}

#[derive(Serialize, Debug)]
#[serde(untagged)]
pub enum ToolContent<'a> {
    Text(Str<'a>),
    Blocks(Vec<Block<'a>>),
}

/// A tool: the client's own (with its schema), or one of Anthropic's server tools (a kind).
#[derive(Serialize, Debug)]
pub struct Tool<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub name: Str<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Json<'a>>,
}

impl Tool<'_> {
    /// Anthropic's live web search.
    pub fn web_search() -> Tool<'static> {
        Tool {
            kind: Some("web_search_20250305"),
            name: Str::Owned("web_search".into()),
            description: None,
            input_schema: None,
        }
    }
}

impl<'a> Block<'a> {
    /// An image block from a URL (`data:` URLs become base64 sources).
    pub fn image(url: Cow<'a, str>) -> Block<'a> {
        let source = match url {
            Cow::Borrowed(u) => match data_url(u) {
                Some((media, data)) => Source::Base64 {
                    media_type: Cow::Borrowed(media),
                    data: Cow::Borrowed(data),
                },
                None => Source::Url { url },
            },
            Cow::Owned(u) => match data_url(&u) {
                Some((media, data)) => Source::Base64 {
                    media_type: Cow::Owned(media.to_owned()),
                    data: Cow::Owned(data.to_owned()),
                },
                None => Source::Url { url: Cow::Owned(u) },
            },
        };
        Block::Image { source }
    }
}

/// A `data:` URL's media type and base64 data.
fn data_url(url: &str) -> Option<(&str, &str)> {
    url.strip_prefix("data:")?.split_once(";base64,")
}

/// A tool call's arguments as its input object. They are JSON text in a string; text that
/// is not a JSON object is kept under `_raw` so nothing the model wrote is lost. Arguments
/// sent as an object already (as some clients do) are taken as they are.
pub fn tool_input(arguments: Option<&RawValue>) -> Json<'_> {
    let Some(raw) = arguments else {
        return Cow::Owned(RawValue::from_string("{}".into()).expect("valid JSON"));
    };
    if raw.get().starts_with('{') {
        return Cow::Borrowed(raw);
    }
    let text = text(raw);
    let text = text.trim();
    if text.is_empty() {
        return Cow::Owned(RawValue::from_string("{}".into()).expect("valid JSON"));
    }
    // Checked by the skimmer and copied as it is (serde_json's own check costs more).
    let object = match skim::note(text.as_bytes()) {
        Ok((skim::Top::Object, _)) => checked::raw_value(text).ok().map(RawValue::to_owned),
        _ => None,
    };
    match object {
        Some(raw) => Cow::Owned(raw),
        None => json_of(&json!({ "_raw": text })),
    }
}

impl Request<'_> {
    /// Sets `thinking` with `budget`, kept below the answer's length, and drops the sampling
    /// settings Anthropic refuses with thinking on.
    pub fn set_thinking(&mut self, budget: i64) {
        if let Some(budget) = thinking_budget(self.max_tokens, budget) {
            self.thinking = Some(json!({ "type": "enabled", "budget_tokens": budget }));
            self.temperature = None;
            self.top_p = None;
        }
    }

    /// With thinking on, Anthropic wants an assistant turn that calls a tool to open with its
    /// thinking block, which a client may not have kept (chat has nowhere to put it): such a
    /// request goes without thinking rather than being refused upstream.
    pub fn keep_thinking_valid(&mut self) {
        let broken = self.messages.iter().any(|m| {
            let calls = m.content.iter().any(|b| matches!(b, Block::ToolUse { .. }));
            let opens = matches!(m.content.first(), Some(Block::Thinking { .. }));
            m.role == "assistant" && calls && !opens
        });
        if broken {
            self.thinking = None;
        }
    }

    /// The request as a tree, for a target written against one.
    pub fn into_value(self) -> Value {
        serde_json::to_value(&self).expect("a request serializes")
    }
}

/// A whole Anthropic answer, read from its text or from a tree another format's answer was
/// turned into; its texts borrow from either.
#[derive(Deserialize, Debug)]
pub struct Answer<'a> {
    #[serde(borrow, default)]
    pub content: Vec<AnswerBlock<'a>>,
    #[serde(borrow)]
    pub stop_reason: Option<Cow<'a, str>>,
    /// Read as counts, never as a tree; present (`Some`) whatever its value, as the usage
    /// report of an untranslated answer takes it.
    #[serde(default, deserialize_with = "present")]
    pub usage: Option<Counts>,
    /// For the request's report: `type`, `model` and `modelVersion` when they are strings
    /// (any other value is no name, and no reason to refuse the answer).
    #[serde(borrow, default, rename = "type")]
    pub kind: Name<'a>,
    #[serde(borrow, default)]
    pub model: Name<'a>,
    #[serde(borrow, default, rename = "modelVersion")]
    pub model_version: Name<'a>,
}

/// A field read as present (`Some`) whatever its value, `null` included; `None` (its
/// default) only when it is not there.
pub fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A field that names something: `Present(Some(text))` when it is a string, `Present(None)`
/// for any other value, `Absent` when the field is not there.
#[derive(Debug, Default, PartialEq)]
pub enum Name<'a> {
    #[default]
    Absent,
    Present(Option<Cow<'a, str>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Name<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Name<'a>, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = Option<Cow<'de, str>>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Some(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Some(Cow::Owned(s.to_owned())))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(None)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(None)
            }
        }
        d.deserialize_any(Text).map(Name::Present)
    }
}

impl<'a> Name<'a> {
    pub fn text(&self) -> Option<&str> {
        match self {
            Name::Present(Some(t)) => Some(t),
            _ => None,
        }
    }

    /// This name's text, or `other`'s when this field is not there (a model named by
    /// `model`, else by `modelVersion`, as an answer's report takes it).
    pub fn or<'s>(&'s self, other: &'s Name) -> Option<&'s str> {
        match self {
            Name::Absent => other.text(),
            present => present.text(),
        }
    }

    pub fn into_text(self) -> Option<Cow<'a, str>> {
        match self {
            Name::Present(t) => t,
            Name::Absent => None,
        }
    }
}

/// One block of an answer (the fields of every kind the clients' formats carry).
#[derive(Deserialize, Debug)]
pub struct AnswerBlock<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Cow<'a, str>,
    #[serde(borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub thinking: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub signature: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub name: Option<Cow<'a, str>>,
    pub input: Option<Value>,
}

impl<'a> Answer<'a> {
    pub fn usage(&self) -> Usage {
        let mut u = Usage::default();
        if let Some(counts) = &self.usage {
            u.merge_anthropic(counts);
        }
        u
    }

    /// What the answer says about itself, as [`Report::from_json`] reads it from the text.
    pub fn report(&self) -> Report {
        Report {
            usage: self.usage(),
            model: self.model.or(&self.model_version).map(str::to_owned),
            complete: self.kind.text() == Some("message"),
            usage_final: self.usage.is_some(),
            error: None,
        }
    }

    /// The texts of the blocks of `kind`, joined (borrowed when there is one).
    pub fn joined<'s>(
        &'s self,
        kind: &str,
        text: fn(&'s AnswerBlock<'a>) -> Option<&'s str>,
    ) -> Cow<'s, str> {
        let mut parts = self
            .content
            .iter()
            .filter(|b| b.kind == kind)
            .filter_map(text);
        match (parts.next(), parts.next()) {
            (None, _) => Cow::Borrowed(""),
            (Some(one), None) => Cow::Borrowed(one),
            (Some(a), Some(b)) => {
                let mut s = format!("{a}{b}");
                parts.for_each(|p| s.push_str(p));
                Cow::Owned(s)
            }
        }
    }
}
