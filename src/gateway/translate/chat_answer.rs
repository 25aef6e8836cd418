//! A chat account's whole answer read from its text into borrowed parts, for an Anthropic
//! client, together with what it says about itself (usage, model): one reading where the tree
//! and the usage report took two, about a quarter of what translating Claude Code's request
//! to such an account cost. An answer of an unusual shape (a field of another type, a
//! repeated key) is read as a tree instead, as before.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::chat::{CallParts, Parts};
use super::pivot::{Name, present};
use super::{Counts, Usage, text_of};
use crate::gateway::usage::Report;

#[derive(Deserialize)]
struct Completion<'a> {
    #[serde(borrow, default)]
    id: Name<'a>,
    #[serde(borrow, default)]
    model: Name<'a>,
    #[serde(borrow, default, rename = "modelVersion")]
    model_version: Name<'a>,
    /// Present (`Some`) whatever its value, as the usage report takes it.
    #[serde(borrow, default, deserialize_with = "present")]
    choices: Option<Option<Vec<Choice<'a>>>>,
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    message: Option<Message<'a>>,
    #[serde(borrow, default)]
    finish_reason: Name<'a>,
}

#[derive(Deserialize, Default)]
struct Message<'a> {
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    reasoning_content: Name<'a>,
    #[serde(borrow, default)]
    reasoning: Name<'a>,
    #[serde(borrow, default)]
    refusal: Name<'a>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<ToolCall<'a>>>,
}

#[derive(Deserialize)]
struct ToolCall<'a> {
    #[serde(borrow, default)]
    id: Name<'a>,
    #[serde(borrow, default)]
    function: Option<Function<'a>>,
}

#[derive(Deserialize, Default)]
struct Function<'a> {
    #[serde(borrow, default)]
    name: Name<'a>,
    #[serde(borrow, default)]
    arguments: Name<'a>,
}

/// The parts of a chat completion's text and its report; `None` when it is not JSON or not
/// of the usual shape.
pub fn read(body: &[u8]) -> Option<(Parts<'_>, Report)> {
    let c: Completion = serde_json::from_slice(body).ok()?;
    let usage = c.usage.filter(|u| u.get().starts_with('{'));
    let report = Report {
        usage: usage.map_or_else(Usage::default, |u| {
            Usage::from_openai(&Counts::from_json(u.get().as_bytes()))
        }),
        model: c.model.or(&c.model_version).map(str::to_owned),
        complete: c.choices.is_some(),
        usage_final: usage.is_some(),
        error: None,
    };
    let first = c.choices.flatten().and_then(|cs| cs.into_iter().next());
    let (message, finish) = match first {
        Some(choice) => (choice.message, choice.finish_reason),
        None => (None, Name::Absent),
    };
    let message = message.unwrap_or_default();
    let text = match message.content {
        Some(raw) if raw.get().starts_with('"') => super::pivot::text(raw),
        Some(raw) => Cow::Owned(text_of(&serde_json::from_str(raw.get()).ok()?)),
        None => Cow::Borrowed(""),
    };
    let parts = Parts {
        id: c.id.into_text(),
        reasoning: message
            .reasoning_content
            .into_text()
            .or_else(|| message.reasoning.into_text()),
        text,
        refusal: message.refusal.into_text(),
        calls: message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .map(|tc| {
                let f = tc.function.unwrap_or_default();
                CallParts {
                    id: tc.id.into_text(),
                    name: f.name.into_text(),
                    arguments: f.arguments.into_text(),
                }
            })
            .collect(),
        usage: report.usage,
        finish: finish.into_text(),
    };
    Some((parts, report))
}
