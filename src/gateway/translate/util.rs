//! What the converters share: Anthropic JSON pieces (usage, images, content blocks, tools),
//! taking values apart without copying them, and the mappings of stop reasons and efforts.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{Counts, DEFAULT_MAX_TOKENS, Format, Refusal, Usage};

/// Anthropic usage JSON.
pub fn anthropic_usage(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cache_creation_input_tokens": u.cache_creation_input_tokens,
        "cache_read_input_tokens": u.cache_read_input_tokens,
    })
}

/// The usage of an Anthropic message.
pub fn usage_of(message: &Value) -> Usage {
    let mut u = Usage::default();
    if let Some(v) = message.get("usage") {
        u.merge_anthropic(&Counts::of(v));
    }
    u
}

/// The prompt as OpenAI counts it: input, cache reads and cache writes together.
pub fn prompt_tokens(u: &Usage) -> i64 {
    u.input_tokens
        .saturating_add(u.cache_read_input_tokens)
        .saturating_add(u.cache_creation_input_tokens)
}

/// A content value (a string, or blocks) as its text parts joined.
pub fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// An object of `pairs`, moving each value in (`json!` copies a value it is handed, which
/// for a conversation's text is most of the work).
pub fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Takes field `k` out of `v` (null when absent).
pub fn take(v: &mut Value, k: &str) -> Value {
    v.get_mut(k).map(Value::take).unwrap_or(Value::Null)
}

/// An array's elements, moved out (none when it is not an array).
pub fn into_vec(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        _ => Vec::new(),
    }
}

/// A content value as text, moved when it is a string, else its parts' texts joined.
pub fn into_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => text_of(&other),
    }
}

/// A string field.
pub fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// An Anthropic image block's source as a URL (a `data:` URL for base64).
pub fn image_url(block: &Value) -> Option<String> {
    let src = block.get("source")?;
    match str_of(src, "type")? {
        "base64" => Some(format!(
            "data:{};base64,{}",
            str_of(src, "media_type").unwrap_or("image/png"),
            str_of(src, "data")?
        )),
        "url" => str_of(src, "url").map(str::to_owned),
        _ => None,
    }
}

/// An Anthropic image block from a URL (`data:` URLs become base64 sources).
pub fn image_block(url: &str) -> Value {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((media, data)) = rest.split_once(";base64,")
    {
        return json!({ "type": "image", "source": { "type": "base64", "media_type": media, "data": data } });
    }
    json!({ "type": "image", "source": { "type": "url", "url": url } })
}

/// A tool call's arguments (JSON text) as an object; text that is not a JSON object is kept
/// under `_raw` so nothing the model wrote is lost.
pub fn args_object(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "_raw": arguments }),
    }
}

/// A thinking budget for an effort level, and back.
pub fn budget_for(effort: &str) -> Option<i64> {
    match effort {
        "minimal" | "low" => Some(2048),
        "medium" => Some(8192),
        "high" | "xhigh" => Some(24576),
        _ => None,
    }
}

pub fn effort_for(budget: i64) -> &'static str {
    match budget {
        ..=4096 => "low",
        4097..=16384 => "medium",
        _ => "high",
    }
}

/// Sets Anthropic `thinking` with `budget`, keeping it below the answer's length, and drops
/// sampling settings Anthropic refuses with thinking on.
pub fn set_thinking(p: &mut Map<String, Value>, budget: i64) {
    let Some(budget) = thinking_budget(p.get("max_tokens").and_then(Value::as_i64), budget) else {
        return;
    };
    p.insert(
        "thinking".into(),
        json!({ "type": "enabled", "budget_tokens": budget }),
    );
    p.remove("temperature");
    p.remove("top_p");
    p.remove("top_k");
}

/// The thinking budget sent for `budget` with an answer of at most `max_tokens`: below half
/// of it, and none under Anthropic's least (1024).
pub fn thinking_budget(max_tokens: Option<i64>, budget: i64) -> Option<i64> {
    let budget = budget.min(max_tokens.unwrap_or(DEFAULT_MAX_TOKENS) / 2);
    (budget >= 1024).then_some(budget)
}

/// The Anthropic stop reason for an OpenAI finish reason, and back.
pub fn stop_from_openai(finish: &str) -> &'static str {
    match finish {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

pub fn openai_finish(stop: &str) -> &'static str {
    match stop {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// Merges consecutive messages of one role (Anthropic wants user and assistant turns to
/// alternate; tool results arrive as their own messages elsewhere).
pub fn merge_turns(messages: Vec<(String, Vec<Value>)>) -> Vec<Value> {
    merged(messages)
        .into_iter()
        .map(|(role, content)| {
            obj([
                ("role", Value::String(role)),
                ("content", Value::Array(content)),
            ])
        })
        .collect()
}

/// Consecutive turns of one role as one, turns without blocks left out.
pub fn merged<R: PartialEq, B>(turns: Vec<(R, Vec<B>)>) -> Vec<(R, Vec<B>)> {
    let mut out: Vec<(R, Vec<B>)> = Vec::with_capacity(turns.len());
    for (role, blocks) in turns {
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((r, b)) if *r == role => b.extend(blocks),
            _ => out.push((role, blocks)),
        }
    }
    out
}

/// An Anthropic message's content as blocks (a string is one text block).
pub fn blocks_of(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![json!({ "type": "text", "text": s })],
        Value::Array(a) => a.clone(),
        _ => Vec::new(),
    }
}

/// The tools of an Anthropic request, refusing server tools (which run at Anthropic).
pub fn custom_tools(pivot: &Value, target: Format) -> Result<Vec<&Value>, Refusal> {
    let mut out = Vec::new();
    for t in pivot
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match str_of(t, "type") {
            None | Some("custom") => out.push(t),
            Some(kind) => {
                return Err(Refusal::new(format!("the server tool {kind:?}"), target));
            }
        }
    }
    Ok(out)
}

/// A whole answer as an Anthropic message, written as it is (no tree in between).
#[derive(Serialize)]
pub struct Message<'a, B> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<B>,
    stop_reason: &'a str,
    stop_sequence: Option<()>,
    usage: Value,
}

/// A whole answer as an Anthropic message: the upstream's id (or the request's), the model
/// the client asked for, its blocks, stop reason and usage.
pub fn anthropic_message<'a, B: Serialize>(
    upstream_id: Option<&str>,
    t: &'a super::Translation,
    content: Vec<B>,
    stop: &'a str,
    usage: &Usage,
) -> Message<'a, B> {
    Message {
        id: format!("msg_{}", upstream_id.unwrap_or(&t.id)),
        kind: "message",
        role: "assistant",
        model: &t.model,
        content,
        stop_reason: stop,
        stop_sequence: None,
        usage: anthropic_usage(usage),
    }
}
