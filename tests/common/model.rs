//! A scripted model behind the fake upstream, for tool loops through real clients: offered
//! the tool it was told to call and shown no result yet, it calls the tool; shown a result, it
//! answers with text quoting it. It answers in each upstream's own wire format (Anthropic
//! Messages, OpenAI chat and Responses, Gemini; JSON and SSE), with the fields real servers
//! add, and its streams send each event in two chunks cut at a varying place. Its Responses
//! answers open with a reasoning item sealed in `encrypted_content`, as ChatGPT's Codex backend
//! sends them when asked to include it.

use serde_json::{Value, json};

use super::upstream::{CACHE_READ, INPUT, Kind, OUTPUT};

/// What the model says this turn.
#[derive(Clone, Debug, PartialEq)]
pub enum Turn {
    Text(String),
    Call { name: String, args: Value },
}

/// The text the model answers with when there is nothing to quote.
pub const HELLO: &str = "Hello from the model";

/// The turn for `req` (a request of `kind`), `tool` being the call to make when offered.
pub fn turn(kind: Kind, req: &Value, tool: Option<&(String, Value)>) -> Turn {
    if let Some(result) = tool_result(kind, req) {
        let quoted: String = result.chars().take(300).collect();
        return Turn::Text(format!("The tool said: {quoted}"));
    }
    match tool {
        Some((name, args)) if offered(kind, req).iter().any(|t| t == name) => Turn::Call {
            name: name.clone(),
            args: args.clone(),
        },
        _ => Turn::Text(HELLO.into()),
    }
}

fn list<'a>(v: &'a Value, k: &str) -> impl Iterator<Item = &'a Value> {
    v.get(k).and_then(Value::as_array).into_iter().flatten()
}

/// The tool names a request offers.
fn offered(kind: Kind, req: &Value) -> Vec<String> {
    let name = |v: &Value| v.get("name").and_then(Value::as_str).map(str::to_owned);
    match kind {
        Kind::Chat => list(req, "tools")
            .filter_map(|t| t.get("function").and_then(name))
            .collect(),
        Kind::Gemini => list(req, "tools")
            .flat_map(|t| list(t, "functionDeclarations"))
            .filter_map(name)
            .collect(),
        // Responses tools are flat (`{type, name, parameters}`), as Anthropic's are.
        _ => list(req, "tools").filter_map(name).collect(),
    }
}

/// The sealed reasoning the model sends, and wants back.
pub const SEALED: &str = "gAAAA-sealed-reasoning-1";

/// The text of the last tool result in the conversation, if any.
fn tool_result(kind: Kind, req: &Value) -> Option<String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        other => other.to_string(),
    };
    let field = match kind {
        Kind::Gemini => "contents",
        Kind::Responses => "input",
        _ => "messages",
    };
    let last = list(req, field).last()?;
    match kind {
        Kind::Responses => (last["type"] == "function_call_output").then(|| text(&last["output"])),
        Kind::Chat => (last["role"] == "tool").then(|| text(&last["content"])),
        Kind::Gemini => list(last, "parts")
            .find_map(|p| p.get("functionResponse"))
            .map(|f| f["response"].to_string()),
        _ => list(last, "content")
            .find(|b| b["type"] == "tool_result")
            .map(|b| text(&b["content"])),
    }
}

/// A prompt's size and how much of it the upstream's cache served.
#[derive(Clone, Copy, Debug)]
pub struct Prompt {
    pub tokens: i64,
    pub cached: i64,
}

impl Default for Prompt {
    fn default() -> Prompt {
        Prompt {
            tokens: INPUT + CACHE_READ,
            cached: CACHE_READ,
        }
    }
}

/// A prefix cache as OpenAI-compatible vendors keep one: a prompt's tokens are served from
/// cache as far as its bytes match an earlier prompt's from the start, in 64-token units (one
/// token taken as four bytes).
pub fn prefix_cached(earlier: &[Vec<u8>], body: &[u8]) -> Prompt {
    let common = earlier
        .iter()
        .map(|e| e.iter().zip(body).take_while(|(a, b)| a == b).count())
        .max()
        .unwrap_or(0);
    Prompt {
        tokens: (body.len() / 4) as i64,
        cached: (common / 4 / 64 * 64) as i64,
    }
}

/// A whole answer in `kind`'s format.
pub fn json(kind: Kind, turn: &Turn, p: Prompt) -> String {
    let prompt = p.tokens;
    let (input, cache_read) = (p.tokens - p.cached, p.cached);
    let v = match (kind, turn) {
        (Kind::Chat, t) => {
            let (content, calls, finish) = match t {
                Turn::Text(s) => (json!(s), Value::Null, "stop"),
                Turn::Call { name, args } => (
                    Value::Null,
                    json!([{ "id": "call_model_1", "type": "function", "function": { "name": name, "arguments": args.to_string() } }]),
                    "tool_calls",
                ),
            };
            let mut message = json!({ "role": "assistant", "content": content });
            if !calls.is_null() {
                message["tool_calls"] = calls;
            }
            json!({
                "id": "chatcmpl-model", "object": "chat.completion", "created": 1,
                "model": "deepseek-chat", "system_fingerprint": "fp_model",
                "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish }],
                "usage": { "prompt_tokens": prompt, "completion_tokens": OUTPUT, "total_tokens": prompt + OUTPUT,
                           "prompt_tokens_details": { "cached_tokens": cache_read },
                           "prompt_cache_hit_tokens": cache_read, "prompt_cache_miss_tokens": input },
            })
        }
        (Kind::Responses, t) => json!({
            "id": "resp_model", "object": "response", "created_at": 1, "status": "completed",
            "model": "gpt-5.1-codex", "output": responses_output(t),
            "usage": { "input_tokens": prompt, "input_tokens_details": { "cached_tokens": cache_read },
                       "output_tokens": OUTPUT, "output_tokens_details": { "reasoning_tokens": 2 },
                       "total_tokens": prompt + OUTPUT },
        }),
        (Kind::Gemini, t) => json!({
            "candidates": [{ "content": { "role": "model", "parts": [gemini_part(t)] }, "finishReason": "STOP", "index": 0 }],
            "usageMetadata": { "promptTokenCount": prompt, "candidatesTokenCount": OUTPUT,
                               "totalTokenCount": prompt + OUTPUT, "cachedContentTokenCount": cache_read },
            "modelVersion": "gemini-2.5-pro", "responseId": "gem-model",
        }),
        (_, t) => {
            let (block, stop) = match t {
                Turn::Text(s) => (json!({ "type": "text", "text": s }), "end_turn"),
                Turn::Call { name, args } => (
                    json!({ "type": "tool_use", "id": "toolu_model_1", "name": name, "input": args }),
                    "tool_use",
                ),
            };
            json!({
                "id": "msg_model", "type": "message", "role": "assistant", "model": super::upstream::MODEL,
                "content": [block], "stop_reason": stop, "stop_sequence": null,
                "usage": { "input_tokens": input, "cache_read_input_tokens": cache_read,
                           "cache_creation_input_tokens": 0, "output_tokens": OUTPUT },
            })
        }
    };
    v.to_string()
}

/// A Responses answer's items: the sealed reasoning, then the message or the call.
fn responses_output(t: &Turn) -> Value {
    let reasoning = json!({ "type": "reasoning", "id": "rs_model", "summary": [{ "type": "summary_text", "text": "Thinking it over" }], "encrypted_content": SEALED });
    let item = match t {
        Turn::Text(s) => {
            json!({ "type": "message", "id": "msg_model", "status": "completed", "role": "assistant",
                                 "content": [{ "type": "output_text", "text": s, "annotations": [] }] })
        }
        Turn::Call { name, args } => {
            json!({ "type": "function_call", "id": "fc_model", "status": "completed",
                                             "call_id": "call_model_1", "name": name, "arguments": args.to_string() })
        }
    };
    json!([reasoning, item])
}

fn gemini_part(t: &Turn) -> Value {
    match t {
        Turn::Text(s) => json!({ "text": s }),
        Turn::Call { name, args } => json!({ "functionCall": { "name": name, "args": args } }),
    }
}

/// The text in two pieces, so every stream has more than one delta.
fn halves(s: &str) -> (String, String) {
    let mid = s
        .char_indices()
        .nth(s.chars().count() / 2)
        .map_or(s.len(), |(i, _)| i);
    (s[..mid].to_owned(), s[mid..].to_owned())
}

/// A streamed answer in `kind`'s format, one string per SSE event.
pub fn events(kind: Kind, turn: &Turn, include_usage: bool) -> Vec<String> {
    let prompt = INPUT + CACHE_READ;
    let data = |v: Value| format!("data: {v}\n\n");
    let named = |name: &str, v: Value| format!("event: {name}\ndata: {v}\n\n");
    match kind {
        Kind::Chat => {
            let chunk = |delta: Value, finish: Value| {
                data(
                    json!({ "id": "chatcmpl-model", "object": "chat.completion.chunk", "created": 1,
                    "model": "deepseek-chat", "system_fingerprint": "fp_model",
                    "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }] }),
                )
            };
            let mut out = vec![chunk(
                json!({ "role": "assistant", "content": "" }),
                Value::Null,
            )];
            let finish = match turn {
                Turn::Text(s) => {
                    let (a, b) = halves(s);
                    out.push(chunk(json!({ "content": a }), Value::Null));
                    out.push(chunk(json!({ "content": b }), Value::Null));
                    "stop"
                }
                Turn::Call { name, args } => {
                    let (a, b) = halves(&args.to_string());
                    out.push(chunk(json!({ "tool_calls": [{ "index": 0, "id": "call_model_1", "type": "function", "function": { "name": name, "arguments": "" } }] }), Value::Null));
                    out.push(chunk(
                        json!({ "tool_calls": [{ "index": 0, "function": { "arguments": a } }] }),
                        Value::Null,
                    ));
                    out.push(chunk(
                        json!({ "tool_calls": [{ "index": 0, "function": { "arguments": b } }] }),
                        Value::Null,
                    ));
                    "tool_calls"
                }
            };
            out.push(chunk(json!({}), json!(finish)));
            if include_usage {
                out.push(data(json!({ "id": "chatcmpl-model", "object": "chat.completion.chunk", "created": 1,
                    "model": "deepseek-chat", "choices": [],
                    "usage": { "prompt_tokens": prompt, "completion_tokens": OUTPUT, "total_tokens": prompt + OUTPUT,
                               "prompt_tokens_details": { "cached_tokens": CACHE_READ } } })));
            }
            out.push("data: [DONE]\n\n".into());
            out
        }
        Kind::Responses => {
            let mut n = 0;
            let mut ev = |name: &str, mut v: Value| {
                v["type"] = json!(name);
                v["sequence_number"] = json!(n);
                n += 1;
                named(name, v)
            };
            let done = json!(responses_output(turn));
            let mut out = vec![ev(
                "response.created",
                json!({ "response": { "id": "resp_model", "object": "response", "status": "in_progress", "output": [] } }),
            )];
            out.push(ev("response.output_item.added", json!({ "output_index": 0, "item": { "type": "reasoning", "id": "rs_model", "summary": [] } })));
            out.push(ev("response.reasoning_summary_part.added", json!({ "item_id": "rs_model", "output_index": 0, "summary_index": 0, "part": { "type": "summary_text", "text": "" } })));
            out.push(ev("response.reasoning_summary_text.delta", json!({ "item_id": "rs_model", "output_index": 0, "summary_index": 0, "delta": "Thinking it over" })));
            out.push(ev(
                "response.output_item.done",
                json!({ "output_index": 0, "item": done[0] }),
            ));
            match turn {
                Turn::Text(s) => {
                    let (a, b) = halves(s);
                    out.push(ev("response.output_item.added", json!({ "output_index": 1, "item": { "type": "message", "id": "msg_model", "status": "in_progress", "role": "assistant", "content": [] } })));
                    for d in [a, b] {
                        out.push(ev("response.output_text.delta", json!({ "item_id": "msg_model", "output_index": 1, "content_index": 0, "delta": d, "logprobs": [] })));
                    }
                }
                Turn::Call { name, args } => {
                    let (a, b) = halves(&args.to_string());
                    out.push(ev("response.output_item.added", json!({ "output_index": 1, "item": { "type": "function_call", "id": "fc_model", "status": "in_progress", "call_id": "call_model_1", "name": name, "arguments": "" } })));
                    for d in [a, b] {
                        out.push(ev(
                            "response.function_call_arguments.delta",
                            json!({ "item_id": "fc_model", "output_index": 1, "delta": d }),
                        ));
                    }
                }
            }
            out.push(ev(
                "response.output_item.done",
                json!({ "output_index": 1, "item": done[1] }),
            ));
            let whole: Value =
                serde_json::from_str(&json(Kind::Responses, turn, Prompt::default())).unwrap();
            out.push(ev("response.completed", json!({ "response": whole })));
            out
        }
        Kind::Gemini => {
            let usage = json!({ "promptTokenCount": prompt, "candidatesTokenCount": OUTPUT,
                                "totalTokenCount": prompt + OUTPUT, "cachedContentTokenCount": CACHE_READ });
            let chunk = |part: Value, last: bool| {
                let mut c = json!({ "content": { "role": "model", "parts": [part] }, "index": 0 });
                let mut v = json!({ "modelVersion": "gemini-2.5-pro", "responseId": "gem-model" });
                if last {
                    c["finishReason"] = json!("STOP");
                    v["usageMetadata"] = usage.clone();
                }
                v["candidates"] = json!([c]);
                format!("data: {v}\r\n\r\n")
            };
            match turn {
                Turn::Text(s) => {
                    let (a, b) = halves(s);
                    vec![
                        chunk(json!({ "text": a }), false),
                        chunk(json!({ "text": b }), true),
                    ]
                }
                call => vec![chunk(gemini_part(call), true)],
            }
        }
        _ => {
            let mut out = vec![named(
                "message_start",
                json!({ "type": "message_start", "message": {
                "id": "msg_model", "type": "message", "role": "assistant", "model": super::upstream::MODEL,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": { "input_tokens": INPUT, "cache_read_input_tokens": CACHE_READ, "cache_creation_input_tokens": 0, "output_tokens": 1 } } }),
            )];
            out.push(named("ping", json!({ "type": "ping" })));
            let delta = |d: Value| {
                named(
                    "content_block_delta",
                    json!({ "type": "content_block_delta", "index": 0, "delta": d }),
                )
            };
            let stop = match turn {
                Turn::Text(s) => {
                    let (a, b) = halves(s);
                    out.push(named("content_block_start", json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } })));
                    out.push(delta(json!({ "type": "text_delta", "text": a })));
                    out.push(delta(json!({ "type": "text_delta", "text": b })));
                    "end_turn"
                }
                Turn::Call { name, args } => {
                    let (a, b) = halves(&args.to_string());
                    out.push(named("content_block_start", json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "tool_use", "id": "toolu_model_1", "name": name, "input": {} } })));
                    out.push(delta(
                        json!({ "type": "input_json_delta", "partial_json": a }),
                    ));
                    out.push(delta(
                        json!({ "type": "input_json_delta", "partial_json": b }),
                    ));
                    "tool_use"
                }
            };
            out.push(named(
                "content_block_stop",
                json!({ "type": "content_block_stop", "index": 0 }),
            ));
            out.push(named("message_delta", json!({ "type": "message_delta", "delta": { "stop_reason": stop, "stop_sequence": null }, "usage": { "output_tokens": OUTPUT } })));
            out.push(named("message_stop", json!({ "type": "message_stop" })));
            out
        }
    }
}
