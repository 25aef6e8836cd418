//! OpenAI Chat Completions to and from the pivot: requests, whole answers and streams.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::pivot::Answer;

use super::{
    Format, Refusal, Translation, Usage, args_object, custom_tools, effort_for, image_url,
    into_text, into_vec, obj, openai_finish, prompt_tokens, stop_from_openai, str_of, take,
    text_of,
};

/// A string field taken out (an empty string when absent).
fn take_str(v: &mut Value, k: &str) -> Value {
    match take(v, k) {
        s @ Value::String(_) => s,
        _ => Value::String(String::new()),
    }
}

/// An Anthropic request as a chat one, taken apart as it goes.
pub fn from_anthropic(mut p: Value, t: &Translation) -> Result<Value, Refusal> {
    let mut messages = Vec::new();
    let system = into_text(take(&mut p, "system"));
    if !system.is_empty() {
        messages.push(obj([
            ("role", json!("system")),
            ("content", Value::String(system)),
        ]));
    }
    let tools: Vec<Value> = custom_tools(&p, Format::Chat)?
        .into_iter()
        .map(|t| {
            let mut f = json!({
                "name": str_of(t, "name").unwrap_or(""),
                "parameters": t.get("input_schema").cloned().unwrap_or(json!({ "type": "object" })),
            });
            if let Some(d) = str_of(t, "description") {
                f["description"] = json!(d);
            }
            obj([("type", json!("function")), ("function", f)])
        })
        .collect();
    for mut m in into_vec(take(&mut p, "messages")) {
        let blocks = match take(&mut m, "content") {
            Value::String(s) => vec![obj([("type", json!("text")), ("text", Value::String(s))])],
            other => into_vec(other),
        };
        if str_of(&m, "role") == Some("assistant") {
            messages.push(assistant_message(blocks)?);
            continue;
        }
        let mut parts = Vec::new();
        for mut b in blocks {
            match str_of(&b, "type").unwrap_or("") {
                "tool_result" => {
                    let content = take(&mut b, "content");
                    // Images a tool returned follow as the user's (a tool message is text).
                    if let Value::Array(items) = &content {
                        for img in items.iter().filter(|c| str_of(c, "type") == Some("image")) {
                            if let Some(url) = image_url(img) {
                                parts.push(
                                    json!({ "type": "image_url", "image_url": { "url": url } }),
                                );
                            }
                        }
                    }
                    let mut text = into_text(content);
                    if b.get("is_error") == Some(&Value::Bool(true)) && !text.starts_with("Error") {
                        text = format!("Error: {text}");
                    }
                    messages.push(obj([
                        ("role", json!("tool")),
                        ("tool_call_id", take_str(&mut b, "tool_use_id")),
                        ("content", Value::String(text)),
                    ]));
                }
                "text" => parts.push(obj([
                    ("type", json!("text")),
                    ("text", take_str(&mut b, "text")),
                ])),
                "image" => match image_url(&b) {
                    Some(url) => {
                        parts.push(json!({ "type": "image_url", "image_url": { "url": url } }))
                    }
                    None => {
                        return Err(Refusal::new("an image of an unknown source", Format::Chat));
                    }
                },
                other => {
                    return Err(Refusal::new(
                        format!("a {other:?} content block"),
                        Format::Chat,
                    ));
                }
            }
        }
        if parts.is_empty() {
            continue;
        }
        // Text alone goes as a string: some compatible vendors take no part arrays.
        let content = if parts.iter().all(|x| str_of(x, "type") == Some("text")) {
            let texts: Vec<String> = parts
                .into_iter()
                .map(|mut x| into_text(take(&mut x, "text")))
                .collect();
            Value::String(texts.join("\n"))
        } else {
            Value::Array(parts)
        };
        messages.push(obj([("role", json!("user")), ("content", content)]));
    }
    let mut out = Map::new();
    out.insert("model".into(), take(&mut p, "model"));
    out.insert("messages".into(), Value::Array(messages));
    if let Some(n) = p.get("max_tokens") {
        out.insert("max_tokens".into(), n.clone());
    }
    for k in ["temperature", "top_p"] {
        if let Some(x) = p.get(k) {
            out.insert(k.into(), x.clone());
        }
    }
    if let Some(s) = p.get("stop_sequences") {
        out.insert("stop".into(), s.clone());
    }
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        if let Some(c) = p.get("tool_choice") {
            let choice = match str_of(c, "type").unwrap_or("auto") {
                "any" => json!("required"),
                "none" => json!("none"),
                "tool" => {
                    json!({ "type": "function", "function": { "name": str_of(c, "name").unwrap_or("") } })
                }
                _ => json!("auto"),
            };
            out.insert("tool_choice".into(), choice);
            if c.get("disable_parallel_tool_use") == Some(&Value::Bool(true)) {
                out.insert("parallel_tool_calls".into(), json!(false));
            }
        }
    }
    if let Some(th) = p.get("thinking")
        && str_of(th, "type") == Some("enabled")
    {
        let budget = th.get("budget_tokens").and_then(Value::as_i64).unwrap_or(0);
        out.insert("reasoning_effort".into(), json!(effort_for(budget)));
    }
    if t.stream {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    if let Some(s) = &t.session {
        out.insert("prompt_cache_key".into(), json!(s));
    }
    Ok(Value::Object(out))
}

/// An Anthropic assistant turn as a chat assistant message.
fn assistant_message(blocks: Vec<Value>) -> Result<Value, Refusal> {
    let mut text = String::new();
    let mut calls = Vec::new();
    for mut b in blocks {
        match str_of(&b, "type").unwrap_or("") {
            "text" => text.push_str(str_of(&b, "text").unwrap_or("")),
            "tool_use" => {
                let arguments = b
                    .get("input")
                    .map(Value::to_string)
                    .unwrap_or_else(|| "{}".into());
                calls.push(obj([
                    ("id", take_str(&mut b, "id")),
                    ("type", json!("function")),
                    (
                        "function",
                        obj([
                            ("name", take_str(&mut b, "name")),
                            ("arguments", Value::String(arguments)),
                        ]),
                    ),
                ]))
            }
            // Earlier reasoning is the model's own; chat models do not take it back.
            "thinking" | "redacted_thinking" => {}
            other => {
                return Err(Refusal::new(
                    format!("a {other:?} content block"),
                    Format::Chat,
                ));
            }
        }
    }
    let content = if text.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    };
    let mut m = obj([("role", json!("assistant")), ("content", content)]);
    if !calls.is_empty() {
        m["tool_calls"] = Value::Array(calls);
    }
    Ok(m)
}

/// A chat completion as an Anthropic message.
pub fn response_to_anthropic(v: &Value, t: &Translation) -> Value {
    let choice = v.pointer("/choices/0").unwrap_or(&Value::Null);
    let msg = choice.get("message").unwrap_or(&Value::Null);
    let mut content = Vec::new();
    if let Some(r) = reasoning(msg).filter(|r| !r.is_empty()) {
        content.push(json!({ "type": "thinking", "thinking": r, "signature": "" }));
    }
    let text = text_of(msg.get("content").unwrap_or(&Value::Null));
    if !text.is_empty() {
        content.push(json!({ "type": "text", "text": text }));
    }
    if let Some(r) = str_of(msg, "refusal") {
        content.push(json!({ "type": "text", "text": r }));
    }
    for tc in msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = tc.get("function").unwrap_or(&Value::Null);
        content.push(json!({
            "type": "tool_use",
            "id": str_of(tc, "id").map_or_else(|| format!("call_{}", t.id), str::to_owned),
            "name": str_of(f, "name").unwrap_or(""),
            "input": args_object(str_of(f, "arguments").unwrap_or("")),
        }));
    }
    let usage = v
        .get("usage")
        .filter(|u| u.is_object())
        .map(Usage::from_openai)
        .unwrap_or_default();
    let stop = stop_from_openai(str_of(choice, "finish_reason").unwrap_or("stop"));
    super::anthropic_message(str_of(v, "id"), t, content, stop, &usage)
}

/// Reasoning text as DeepSeek and others return it beside the answer.
pub(super) fn reasoning(msg: &Value) -> Option<&str> {
    str_of(msg, "reasoning_content").or_else(|| str_of(msg, "reasoning"))
}

/// A chat completion, written from an answer's borrowed parts.
#[derive(Serialize)]
pub struct Completion<'a> {
    id: String,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: ChatUsage,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: AnswerMessage<'a>,
    finish_reason: &'static str,
    logprobs: Option<()>,
}

#[derive(Serialize)]
struct AnswerMessage<'a> {
    role: &'static str,
    content: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<Call<'a>>,
}

#[derive(Serialize)]
struct Call<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: CallFunction<'a>,
}

#[derive(Serialize)]
struct CallFunction<'a> {
    name: &'a str,
    arguments: String,
}

/// An Anthropic message as a chat completion.
pub fn response_from_anthropic<'a>(m: &'a Answer, t: &'a Translation) -> Completion<'a> {
    let text = m.joined("text", |b| b.text.as_deref());
    let thinking = m.joined("thinking", |b| b.thinking.as_deref());
    let tool_calls: Vec<Call> = m
        .content
        .iter()
        .filter(|b| b.kind == "tool_use")
        .map(|b| Call {
            id: b.id.as_deref().unwrap_or(""),
            kind: "function",
            function: CallFunction {
                name: b.name.as_deref().unwrap_or(""),
                arguments: b
                    .input
                    .as_ref()
                    .map_or_else(|| "{}".into(), Value::to_string),
            },
        })
        .collect();
    let content = if text.is_empty() && !tool_calls.is_empty() {
        None
    } else {
        Some(text)
    };
    let message = AnswerMessage {
        role: "assistant",
        content,
        reasoning_content: (!thinking.is_empty()).then_some(thinking),
        tool_calls,
    };
    Completion {
        id: format!("chatcmpl-{}", t.id),
        object: "chat.completion",
        created: t.created,
        model: &t.model,
        choices: [Choice {
            index: 0,
            message,
            finish_reason: openai_finish(m.stop_reason.as_deref().unwrap_or("end_turn")),
            logprobs: None,
        }],
        usage: usage_json(&m.usage()),
    }
}

/// Chat usage.
#[derive(Serialize)]
pub(super) struct ChatUsage {
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
    prompt_tokens_details: Cached,
}

#[derive(Serialize)]
struct Cached {
    cached_tokens: i64,
}

pub(super) fn usage_json(u: &Usage) -> ChatUsage {
    let prompt = prompt_tokens(u);
    ChatUsage {
        prompt_tokens: prompt,
        completion_tokens: u.output_tokens,
        total_tokens: prompt.saturating_add(u.output_tokens),
        prompt_tokens_details: Cached {
            cached_tokens: u.cache_read_input_tokens,
        },
    }
}
