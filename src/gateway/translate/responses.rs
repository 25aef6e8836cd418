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

/// Responses usage JSON.
fn usage_json(u: &Usage) -> Value {
    let prompt = prompt_tokens(u);
    json!({
        "input_tokens": prompt,
        "input_tokens_details": { "cached_tokens": u.cache_read_input_tokens },
        "output_tokens": u.output_tokens,
        "output_tokens_details": { "reasoning_tokens": 0 },
        "total_tokens": prompt.saturating_add(u.output_tokens),
    })
}

/// One output item for a finished block.
pub(super) fn item(t: &Translation, n: usize, block: &Value) -> Option<Value> {
    let id = |p: &str| format!("{p}_{}_{n}", t.id);
    Some(match str_of(block, "type")? {
        "text" => json!({
            "type": "message", "id": id("msg"), "status": "completed", "role": "assistant",
            "content": [{ "type": "output_text", "text": str_of(block, "text").unwrap_or(""), "annotations": [] }],
        }),
        "thinking" => {
            let thinking = str_of(block, "thinking").unwrap_or("");
            let mut item = json!({
                "type": "reasoning", "id": id("rs"),
                "summary": [{ "type": "summary_text", "text": thinking }],
            });
            if let Some(sealed) = pack(thinking, str_of(block, "signature").unwrap_or("")) {
                item["encrypted_content"] = json!(sealed);
            }
            item
        }
        "tool_use" => {
            let name = str_of(block, "name").unwrap_or("");
            let call_id = str_of(block, "id").unwrap_or("");
            let input = block.get("input").cloned().unwrap_or(json!({}));
            if t.custom_tools.iter().any(|c| c == name) {
                json!({
                    "type": "custom_tool_call", "id": id("ctc"), "status": "completed",
                    "call_id": call_id, "name": name,
                    "input": str_of(&input, "input").unwrap_or(""),
                })
            } else {
                // A streamed call keeps its arguments as sent, so the deltas add up to them.
                let arguments =
                    str_of(block, "args").map_or_else(|| input.to_string(), str::to_owned);
                json!({
                    "type": "function_call", "id": id("fc"), "status": "completed",
                    "call_id": call_id, "name": name, "arguments": arguments,
                })
            }
        }
        _ => return None,
    })
}

/// The response object around `output`.
pub(super) fn response(
    t: &Translation,
    status: &str,
    output: Vec<Value>,
    usage: Option<&Usage>,
) -> Value {
    json!({
        "id": format!("resp_{}", t.id),
        "object": "response",
        "created_at": t.created,
        "status": status,
        "model": t.model,
        "output": output,
        "usage": usage.map(usage_json),
        "incomplete_details": (status == "incomplete").then(|| json!({ "reason": "max_output_tokens" })),
        "error": null,
        "parallel_tool_calls": true,
        "tool_choice": "auto",
        "tools": [],
    })
}

pub(super) fn status_of(stop: &str) -> &'static str {
    match stop {
        "max_tokens" | "model_context_window_exceeded" => "incomplete",
        _ => "completed",
    }
}

/// A whole Responses answer, written from an Anthropic answer's borrowed parts (the same
/// fields [`response`] and [`item`] build as trees for a stream's events).
#[derive(Serialize)]
pub struct Answer<'a> {
    id: String,
    object: &'static str,
    created_at: i64,
    status: &'static str,
    model: &'a str,
    output: Vec<Item<'a>>,
    usage: UsageOut,
    incomplete_details: Option<Incomplete>,
    error: Option<()>,
    parallel_tool_calls: bool,
    tool_choice: &'static str,
    tools: [(); 0],
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Item<'a> {
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
enum Part<'a> {
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
pub fn response_from_anthropic<'a>(m: &'a pivot::Answer, t: &'a Translation) -> Answer<'a> {
    let id = |p: &str, n: usize| format!("{p}_{}_{n}", t.id);
    let output = m
        .content
        .iter()
        .enumerate()
        .filter_map(|(n, b)| {
            let text = |f: &'a Option<Cow<'a, str>>| f.as_deref().unwrap_or("");
            Some(match b.kind.as_ref() {
                "text" => Item::Message {
                    id: id("msg", n),
                    status: "completed",
                    role: "assistant",
                    content: [Part::OutputText {
                        text: text(&b.text),
                        annotations: [],
                    }],
                },
                "thinking" => Item::Reasoning {
                    id: id("rs", n),
                    summary: [Part::SummaryText {
                        text: text(&b.thinking),
                    }],
                    encrypted_content: pack(text(&b.thinking), text(&b.signature)),
                },
                "tool_use" if t.custom_tools.iter().any(|c| c == text(&b.name)) => {
                    Item::CustomToolCall {
                        id: id("ctc", n),
                        status: "completed",
                        call_id: text(&b.id),
                        name: text(&b.name),
                        input: b
                            .input
                            .as_ref()
                            .and_then(|i| str_of(i, "input"))
                            .unwrap_or(""),
                    }
                }
                "tool_use" => Item::FunctionCall {
                    id: id("fc", n),
                    status: "completed",
                    call_id: text(&b.id),
                    name: text(&b.name),
                    arguments: b
                        .input
                        .as_ref()
                        .map_or_else(|| "{}".into(), Value::to_string),
                },
                _ => return None,
            })
        })
        .collect();
    let status = status_of(m.stop_reason.as_deref().unwrap_or("end_turn"));
    let u = m.usage();
    let prompt = prompt_tokens(&u);
    Answer {
        id: format!("resp_{}", t.id),
        object: "response",
        created_at: t.created,
        status,
        model: &t.model,
        output,
        usage: UsageOut {
            input_tokens: prompt,
            input_tokens_details: Cached {
                cached_tokens: u.cache_read_input_tokens,
            },
            output_tokens: u.output_tokens,
            output_tokens_details: Reasoned {
                reasoning_tokens: 0,
            },
            total_tokens: prompt.saturating_add(u.output_tokens),
        },
        incomplete_details: (status == "incomplete").then_some(Incomplete {
            reason: "max_output_tokens",
        }),
        error: None,
        parallel_tool_calls: true,
        tool_choice: "auto",
        tools: [],
    }
}
