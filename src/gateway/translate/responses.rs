//! OpenAI Responses to and from the pivot, for a Responses client (Codex CLI) served by an
//! account of another protocol: whole answers and streams (its requests are read in
//! `responses_request`). Responses as the upstream side, for ChatGPT's Codex backend, is
//! `responses_up`.
//!
//! Freeform (`custom`) tools become tools taking one string `input`; reasoning comes back as
//! a reasoning item whose `encrypted_content` carries the thinking and its signature, so the
//! next turn can hand it back as Anthropic requires in a tool loop.

use std::borrow::Cow;

use base64::Engine;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Translation, Usage, pivot, prompt_tokens, str_of};

pub(super) mod write;

/// What marks reasoning the gateway packed into `encrypted_content`.
const PACKED: &str = "aicarpool.thinking.v1:";

/// Thinking and its signature, packed for `encrypted_content`.
fn pack(thinking: &str, signature: &str) -> Option<String> {
    if signature.is_empty() {
        return None;
    }
    let inner = json!({ "thinking": thinking, "signature": signature }).to_string();
    let b64 = base64::engine::general_purpose::STANDARD.encode(inner);
    Some(format!("{PACKED}{b64}"))
}

/// Thinking and its signature, unpacked from reasoning the gateway packed.
pub(super) fn unpack(sealed: &str) -> Option<(String, String)> {
    let b64 = sealed.strip_prefix(PACKED)?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    Some((
        str_of(&v, "thinking")?.to_owned(),
        str_of(&v, "signature")?.to_owned(),
    ))
}

/// The parts of an answer block an output item is made of: read from a whole answer's typed
/// block, or from a stream's block as it stands.
struct Parts<'a> {
    kind: &'a str,
    text: &'a str,
    thinking: &'a str,
    signature: &'a str,
    id: &'a str,
    name: &'a str,
    input: Option<&'a Value>,
    /// A streamed call's arguments as sent, so the deltas add up to them.
    args: Option<&'a str>,
}

/// One output item for a finished block.
fn output_item<'a>(t: &Translation, n: usize, b: Parts<'a>) -> Option<Item<'a>> {
    let id = |p: &str| format!("{p}_{}_{n}", t.id);
    Some(match b.kind {
        "text" => Item::Message {
            id: id("msg"),
            status: "completed",
            role: "assistant",
            content: [Part::OutputText {
                text: b.text,
                annotations: [],
            }],
        },
        "thinking" => Item::Reasoning {
            id: id("rs"),
            summary: [Part::SummaryText { text: b.thinking }],
            encrypted_content: pack(b.thinking, b.signature),
        },
        "tool_use" if t.custom_tools.iter().any(|c| c == b.name) => Item::CustomToolCall {
            id: id("ctc"),
            status: "completed",
            call_id: b.id,
            name: b.name,
            input: b.input.and_then(|i| str_of(i, "input")).unwrap_or(""),
        },
        "tool_use" => Item::FunctionCall {
            id: id("fc"),
            status: "completed",
            call_id: b.id,
            name: b.name,
            arguments: b.args.map_or_else(
                || b.input.map_or_else(|| "{}".into(), Value::to_string),
                str::to_owned,
            ),
        },
        _ => return None,
    })
}

/// One output item for a stream's block (an Anthropic content block as a tree).
pub(super) fn item(t: &Translation, n: usize, block: &Value) -> Option<Value> {
    let text = |k| str_of(block, k).unwrap_or("");
    let parts = Parts {
        kind: str_of(block, "type")?,
        text: text("text"),
        thinking: text("thinking"),
        signature: text("signature"),
        id: text("id"),
        name: text("name"),
        input: block.get("input"),
        args: str_of(block, "args"),
    };
    let item = output_item(t, n, parts)?;
    Some(serde_json::to_value(item).expect("an item serializes"))
}

/// The response object around `output` (usage is null until the answer is whole).
pub(super) fn response<'a, I>(
    t: &'a Translation,
    status: &'static str,
    output: Vec<I>,
    usage: Option<&Usage>,
) -> Answer<'a, I> {
    Answer {
        id: format!("resp_{}", t.id),
        object: "response",
        created_at: t.created,
        status,
        model: &t.model,
        output,
        usage: usage.map(|u| {
            let prompt = prompt_tokens(u);
            UsageOut {
                input_tokens: prompt,
                input_tokens_details: Cached {
                    cached_tokens: u.cache_read_input_tokens,
                },
                output_tokens: u.output_tokens,
                output_tokens_details: Reasoned {
                    reasoning_tokens: 0,
                },
                total_tokens: prompt.saturating_add(u.output_tokens),
            }
        }),
        incomplete_details: (status == "incomplete").then_some(Incomplete {
            reason: "max_output_tokens",
        }),
        error: None,
        parallel_tool_calls: true,
        tool_choice: "auto",
        tools: [],
    }
}

pub(super) fn status_of(stop: &str) -> &'static str {
    match stop {
        "max_tokens" | "model_context_window_exceeded" => "incomplete",
        _ => "completed",
    }
}

/// A Responses answer: whole, or as a stream's events carry it.
#[derive(Serialize)]
pub struct Answer<'a, I> {
    id: String,
    object: &'static str,
    created_at: i64,
    status: &'static str,
    model: &'a str,
    output: Vec<I>,
    usage: Option<UsageOut>,
    incomplete_details: Option<Incomplete>,
    error: Option<()>,
    parallel_tool_calls: bool,
    tool_choice: &'static str,
    tools: [(); 0],
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item<'a> {
    Message {
        id: String,
        status: &'static str,
        role: &'static str,
        content: [Part<'a>; 1],
    },
    Reasoning {
        id: String,
        summary: [Part<'a>; 1],
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
    CustomToolCall {
        id: String,
        status: &'static str,
        call_id: &'a str,
        name: &'a str,
        input: &'a str,
    },
    FunctionCall {
        id: String,
        status: &'static str,
        call_id: &'a str,
        name: &'a str,
        arguments: String,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part<'a> {
    OutputText { text: &'a str, annotations: [(); 0] },
    SummaryText { text: &'a str },
}

#[derive(Serialize)]
struct UsageOut {
    input_tokens: i64,
    input_tokens_details: Cached,
    output_tokens: i64,
    output_tokens_details: Reasoned,
    total_tokens: i64,
}

#[derive(Serialize)]
struct Cached {
    cached_tokens: i64,
}

#[derive(Serialize)]
struct Reasoned {
    reasoning_tokens: i64,
}

#[derive(Serialize)]
struct Incomplete {
    reason: &'static str,
}

/// An Anthropic message as a Responses answer.
pub fn response_from_anthropic<'a>(
    m: &'a pivot::Answer,
    t: &'a Translation,
) -> Answer<'a, Item<'a>> {
    let output = m
        .content
        .iter()
        .enumerate()
        .filter_map(|(n, b)| {
            let text = |f: &'a Option<Cow<'a, str>>| f.as_deref().unwrap_or("");
            let parts = Parts {
                kind: &b.kind,
                text: text(&b.text),
                thinking: text(&b.thinking),
                signature: text(&b.signature),
                id: text(&b.id),
                name: text(&b.name),
                input: b.input.as_ref(),
                args: None,
            };
            output_item(t, n, parts)
        })
        .collect();
    let status = status_of(m.stop_reason.as_deref().unwrap_or("end_turn"));
    response(t, status, output, Some(&m.usage()))
}
