//! OpenAI Responses to and from the pivot, for a Responses client (Codex CLI) served by an
//! account of another protocol: requests, whole answers and streams. (Responses as the
//! upstream side, for ChatGPT's Codex backend, is `responses_up`.)
//!
//! Freeform (`custom`) tools become tools taking one string `input`; reasoning comes back as
//! a reasoning item whose `encrypted_content` carries the thinking and its signature, so the
//! next turn can hand it back as Anthropic requires in a tool loop.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::{
    Format, Refusal, Translation, Usage, blocks_of, budget_for, image_block, merge_turns,
    prompt_tokens, set_thinking, str_of, text_of, usage_of,
};

/// What marks reasoning the gateway packed into `encrypted_content`.
const PACKED: &str = "aicarpool.thinking.v1:";

/// The names of a request's freeform tools, whose calls carry a string, not JSON.
pub fn custom_tool_names(v: &Value) -> Vec<String> {
    v.get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| str_of(t, "type") == Some("custom"))
        .filter_map(|t| str_of(t, "name").map(str::to_owned))
        .collect()
}

/// A Responses request as an Anthropic one.
pub fn to_anthropic(v: &Value) -> Result<Value, Refusal> {
    let refuse = |what: String| Err(Refusal::new(what, Format::Anthropic));
    if v.get("previous_response_id").is_some_and(|x| !x.is_null()) {
        return refuse("`previous_response_id` (a conversation stored upstream)".into());
    }
    if let Some(f) = v.pointer("/text/format")
        && str_of(f, "type").is_some_and(|t| t != "text")
    {
        return refuse("`text.format` (JSON output)".into());
    }
    let mut system = Vec::new();
    if let Some(i) = str_of(v, "instructions").filter(|i| !i.is_empty()) {
        system.push(i.to_owned());
    }
    let mut turns: Vec<(String, Vec<Value>)> = Vec::new();
    let items = match v.get("input") {
        Some(Value::String(s)) => vec![json!({ "type": "message", "role": "user", "content": s })],
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    for item in &items {
        let kind = str_of(item, "type").unwrap_or("message");
        match kind {
            "message" => {
                let content = item.get("content").unwrap_or(&Value::Null);
                match str_of(item, "role").unwrap_or("user") {
                    "system" | "developer" => system.push(text_of(content)),
                    role => {
                        let role = if role == "assistant" {
                            "assistant"
                        } else {
                            "user"
                        };
                        turns.push((role.into(), content_blocks(content)?));
                    }
                }
            }
            "function_call" => turns.push((
                "assistant".into(),
                vec![json!({
                    "type": "tool_use",
                    "id": str_of(item, "call_id").unwrap_or(""),
                    "name": str_of(item, "name").unwrap_or(""),
                    "input": super::args_object(str_of(item, "arguments").unwrap_or("")),
                })],
            )),
            "custom_tool_call" => turns.push((
                "assistant".into(),
                vec![json!({
                    "type": "tool_use",
                    "id": str_of(item, "call_id").unwrap_or(""),
                    "name": str_of(item, "name").unwrap_or(""),
                    "input": { "input": str_of(item, "input").unwrap_or("") },
                })],
            )),
            "function_call_output" | "custom_tool_call_output" => {
                let output = item.get("output").unwrap_or(&Value::Null);
                let content = match output {
                    Value::Array(_) => Value::Array(content_blocks(output)?),
                    other => Value::String(text_of(other)),
                };
                turns.push((
                    "user".into(),
                    vec![json!({
                        "type": "tool_result",
                        "tool_use_id": str_of(item, "call_id").unwrap_or(""),
                        "content": content,
                    })],
                ));
            }
            "reasoning" => {
                // Only reasoning the gateway packed can go back; anything else is another
                // vendor's sealed state.
                if let Some(block) = str_of(item, "encrypted_content").and_then(unpack) {
                    turns.push(("assistant".into(), vec![block]));
                }
            }
            // A search the upstream ran earlier: its findings are in the answer's text.
            "web_search_call" => {}
            other => return refuse(format!("a {other:?} input item")),
        }
    }
    let mut p = Map::new();
    p.insert("messages".into(), Value::Array(merge_turns(turns)));
    let system = system.join("\n\n");
    if !system.is_empty() {
        p.insert("system".into(), json!(system));
    }
    if let Some(n) = v.get("max_output_tokens").and_then(Value::as_i64) {
        p.insert("max_tokens".into(), json!(n));
    }
    if let Some(t) = v.get("temperature").and_then(Value::as_f64) {
        p.insert("temperature".into(), json!(t.min(1.0)));
    }
    if let Some(t) = v.get("top_p").filter(|t| t.is_number()) {
        p.insert("top_p".into(), t.clone());
    }
    let tools = tools(v)?;
    if !tools.is_empty() {
        p.insert("tools".into(), Value::Array(tools));
        let mut choice = match v.get("tool_choice") {
            Some(Value::String(s)) if s == "none" => json!({ "type": "none" }),
            Some(Value::String(s)) if s == "required" => json!({ "type": "any" }),
            Some(Value::Object(o)) if o.get("name").is_some() => {
                json!({ "type": "tool", "name": o["name"] })
            }
            _ => json!({ "type": "auto" }),
        };
        if v.get("parallel_tool_calls") == Some(&Value::Bool(false))
            && str_of(&choice, "type") != Some("none")
        {
            choice["disable_parallel_tool_use"] = json!(true);
        }
        p.insert("tool_choice".into(), choice);
    }
    if let Some(budget) = v
        .pointer("/reasoning/effort")
        .and_then(Value::as_str)
        .and_then(budget_for)
    {
        set_thinking(&mut p, budget);
    }
    if let Some(user) = str_of(v, "user").or_else(|| str_of(v, "safety_identifier")) {
        p.insert("metadata".into(), json!({ "user_id": user }));
    }
    Ok(Value::Object(p))
}

/// A Responses tool list as Anthropic tools: functions, freeform tools (one string input)
/// and the functions inside namespaces.
fn tools(v: &Value) -> Result<Vec<Value>, Refusal> {
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = v
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .rev()
        .collect();
    while let Some(t) = stack.pop() {
        let name = str_of(t, "name").unwrap_or("");
        let described = |schema: Value| {
            let mut tool = json!({ "name": name, "input_schema": schema });
            if let Some(d) = str_of(t, "description") {
                tool["description"] = json!(d);
            }
            tool
        };
        match str_of(t, "type").unwrap_or("") {
            "function" => out.push(described(
                t.get("parameters")
                    .cloned()
                    .unwrap_or(json!({ "type": "object", "properties": {} })),
            )),
            "custom" => out.push(described(json!({
                "type": "object",
                "properties": { "input": { "type": "string" } },
                "required": ["input"],
            }))),
            "namespace" => stack.extend(
                t.get("tools")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .rev(),
            ),
            // Codex offers its cached search (no live web access) on every request: an
            // offer the model may ignore, left out rather than refusing every Codex turn.
            "web_search" | "web_search_preview"
                if t.get("external_web_access") == Some(&Value::Bool(false)) => {}
            "web_search" | "web_search_preview" => out.push(json!({
                "type": "web_search_20250305",
                "name": "web_search",
            })),
            other => {
                return Err(Refusal::new(
                    format!("the {other:?} tool"),
                    Format::Anthropic,
                ));
            }
        }
    }
    Ok(out)
}

/// Responses content parts (or a string) as Anthropic blocks.
fn content_blocks(content: &Value) -> Result<Vec<Value>, Refusal> {
    let Value::Array(parts) = content else {
        return Ok(blocks_of(&Value::String(text_of(content))));
    };
    let mut out = Vec::new();
    for part in parts {
        match str_of(part, "type").unwrap_or("") {
            "input_text" | "output_text" | "text" => {
                out.push(json!({ "type": "text", "text": str_of(part, "text").unwrap_or("") }))
            }
            "refusal" => {
                out.push(json!({ "type": "text", "text": str_of(part, "refusal").unwrap_or("") }))
            }
            "input_image" => match str_of(part, "image_url") {
                Some(url) => out.push(image_block(url)),
                None => {
                    return Err(Refusal::new("an image by file id", Format::Anthropic));
                }
            },
            other => {
                return Err(Refusal::new(
                    format!("a {other:?} content part"),
                    Format::Anthropic,
                ));
            }
        }
    }
    Ok(out)
}

/// Thinking and its signature, packed for `encrypted_content`.
fn pack(thinking: &str, signature: &str) -> Option<String> {
    if signature.is_empty() {
        return None;
    }
    let inner = json!({ "thinking": thinking, "signature": signature }).to_string();
    let b64 = base64::engine::general_purpose::STANDARD.encode(inner);
    Some(format!("{PACKED}{b64}"))
}

fn unpack(sealed: &str) -> Option<Value> {
    let b64 = sealed.strip_prefix(PACKED)?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    Some(
        json!({ "type": "thinking", "thinking": str_of(&v, "thinking")?, "signature": str_of(&v, "signature")? }),
    )
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

/// An Anthropic message as a Responses answer.
pub fn response_from_anthropic(m: &Value, t: &Translation) -> Value {
    let output = blocks_of(m.get("content").unwrap_or(&Value::Null))
        .iter()
        .enumerate()
        .filter_map(|(n, b)| item(t, n, b))
        .collect();
    let status = status_of(str_of(m, "stop_reason").unwrap_or("end_turn"));
    response(t, status, output, Some(&usage_of(m)))
}
