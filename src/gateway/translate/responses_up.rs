//! OpenAI Responses as the upstream side of a translation, for an account that speaks nothing
//! else (ChatGPT's Codex backend): the pivot request as a Responses one, and its whole answers
//! and streams back as the pivot.
//!
//! Reasoning comes back as thinking whose signature is the item's `encrypted_content`, so a
//! client that hands its thinking back (Claude Code does, in a tool loop) gives the backend its
//! own sealed reasoning again; the backend keeps nothing between turns (`store: false`).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::{
    Block, Builder, Counts, Ev, Format, Refusal, Translation, Usage, args_object, custom_tools,
    effort_for, image_url, into_text, into_vec, obj, str_of, take,
};

fn refuse(what: impl std::fmt::Display) -> Refusal {
    Refusal::new(what, Format::Responses)
}

/// An Anthropic request (the pivot) as a Responses one.
pub fn from_anthropic(mut p: Value, t: &Translation) -> Result<Value, Refusal> {
    let tools: Vec<Value> = custom_tools(&p, Format::Responses)?
        .into_iter()
        .map(|tool| {
            let mut f = json!({
                "type": "function",
                "name": str_of(tool, "name").unwrap_or(""),
                "parameters": tool.get("input_schema").cloned().unwrap_or(json!({ "type": "object" })),
                "strict": false,
            });
            if let Some(d) = str_of(tool, "description") {
                f["description"] = json!(d);
            }
            f
        })
        .collect();
    let mut input = Vec::new();
    for mut m in into_vec(take(&mut p, "messages")) {
        let assistant = str_of(&m, "role") == Some("assistant");
        let blocks = match take(&mut m, "content") {
            Value::String(s) => vec![obj([("type", json!("text")), ("text", Value::String(s))])],
            other => into_vec(other),
        };
        // Consecutive text and images go in one message item; calls and results are items of
        // their own, in order.
        let mut parts = Vec::new();
        let flush = |parts: &mut Vec<Value>, input: &mut Vec<Value>| {
            if !parts.is_empty() {
                let role = if assistant { "assistant" } else { "user" };
                input.push(
                    json!({ "type": "message", "role": role, "content": std::mem::take(parts) }),
                );
            }
        };
        for mut b in blocks {
            match (str_of(&b, "type").unwrap_or(""), assistant) {
                ("text", _) => {
                    let kind = if assistant {
                        "output_text"
                    } else {
                        "input_text"
                    };
                    parts.push(obj([("type", json!(kind)), ("text", take(&mut b, "text"))]));
                }
                ("image", false) => match image_url(&b) {
                    Some(url) => parts.push(json!({ "type": "input_image", "image_url": url })),
                    None => return Err(refuse("an image of an unknown source")),
                },
                ("tool_use", true) => {
                    flush(&mut parts, &mut input);
                    let arguments = b.get("input").map_or_else(|| "{}".into(), Value::to_string);
                    input.push(json!({
                        "type": "function_call",
                        "call_id": take(&mut b, "id"),
                        "name": take(&mut b, "name"),
                        "arguments": arguments,
                    }));
                }
                ("tool_result", false) => {
                    flush(&mut parts, &mut input);
                    let mut output = into_text(take(&mut b, "content"));
                    if b.get("is_error") == Some(&Value::Bool(true)) && !output.starts_with("Error")
                    {
                        output = format!("Error: {output}");
                    }
                    input.push(json!({
                        "type": "function_call_output",
                        "call_id": take(&mut b, "tool_use_id"),
                        "output": output,
                    }));
                }
                // The backend's own sealed reasoning goes back to it; other thinking (another
                // vendor's, or none sealed) cannot.
                ("thinking", true) => {
                    if let Some(sealed) = str_of(&b, "signature").filter(|s| !s.is_empty()) {
                        flush(&mut parts, &mut input);
                        let text = str_of(&b, "thinking").unwrap_or("");
                        let summary = if text.is_empty() {
                            json!([])
                        } else {
                            json!([{ "type": "summary_text", "text": text }])
                        };
                        input.push(json!({ "type": "reasoning", "summary": summary, "encrypted_content": sealed }));
                    }
                }
                ("redacted_thinking", true) => {}
                (other, _) => return Err(refuse(format!("a {other:?} content block"))),
            }
        }
        flush(&mut parts, &mut input);
    }
    let mut out = Map::new();
    out.insert("model".into(), take(&mut p, "model"));
    let system = into_text(take(&mut p, "system"));
    out.insert("instructions".into(), Value::String(system));
    out.insert("input".into(), Value::Array(input));
    if let Some(n) = p.get("max_tokens") {
        out.insert("max_output_tokens".into(), n.clone());
    }
    for k in ["temperature", "top_p"] {
        if let Some(x) = p.get(k) {
            out.insert(k.into(), x.clone());
        }
    }
    if p.get("stop_sequences")
        .is_some_and(|s| s.as_array().is_some_and(|a| !a.is_empty()))
    {
        return Err(refuse("`stop_sequences`"));
    }
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        let c = p.get("tool_choice");
        let choice = match c.and_then(|c| str_of(c, "type")).unwrap_or("auto") {
            "any" => json!("required"),
            "none" => json!("none"),
            "tool" => {
                json!({ "type": "function", "name": c.and_then(|c| str_of(c, "name")).unwrap_or("") })
            }
            _ => json!("auto"),
        };
        out.insert("tool_choice".into(), choice);
        let serial = c.and_then(|c| c.get("disable_parallel_tool_use")) == Some(&Value::Bool(true));
        out.insert("parallel_tool_calls".into(), json!(!serial));
    }
    if let Some(th) = p.get("thinking")
        && str_of(th, "type") == Some("enabled")
    {
        let budget = th.get("budget_tokens").and_then(Value::as_i64).unwrap_or(0);
        out.insert(
            "reasoning".into(),
            json!({ "effort": effort_for(budget), "summary": "auto" }),
        );
    }
    // Reasoning comes back sealed, to be handed back next turn: nothing is stored upstream.
    out.insert("include".into(), json!(["reasoning.encrypted_content"]));
    out.insert("store".into(), json!(false));
    out.insert("stream".into(), json!(t.stream));
    if let Some(s) = &t.session {
        out.insert("prompt_cache_key".into(), json!(s));
    }
    Ok(Value::Object(out))
}

/// The text of a reasoning item's summary.
fn summary_text(item: &Value) -> String {
    item.get("summary")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| str_of(s, "text"))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The stop reason of a finished response, in Anthropic's words.
fn stop_of(response: &Value, called: bool) -> &'static str {
    if called {
        return "tool_use";
    }
    match (
        str_of(response, "status"),
        crate::json::at(response, &["incomplete_details", "reason"]).and_then(Value::as_str),
    ) {
        (Some("incomplete"), Some("max_output_tokens")) => "max_tokens",
        (Some("incomplete"), Some("content_filter")) => "refusal",
        _ => "end_turn",
    }
}

/// A whole Responses answer as an Anthropic message.
pub fn response_to_anthropic<'a>(
    v: &'a Value,
    t: &'a Translation,
) -> super::util::Message<'a, Value> {
    let mut content = Vec::new();
    let mut called = false;
    for item in v
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match str_of(item, "type").unwrap_or("") {
            "message" => {
                for c in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let text = str_of(c, "text")
                        .or_else(|| str_of(c, "refusal"))
                        .unwrap_or("");
                    if !text.is_empty() {
                        content.push(json!({ "type": "text", "text": text }));
                    }
                }
            }
            "function_call" => {
                called = true;
                content.push(json!({
                    "type": "tool_use",
                    "id": str_of(item, "call_id").unwrap_or(""),
                    "name": str_of(item, "name").unwrap_or(""),
                    "input": args_object(str_of(item, "arguments").unwrap_or("")),
                }));
            }
            "reasoning" => content.push(json!({
                "type": "thinking",
                "thinking": summary_text(item),
                "signature": str_of(item, "encrypted_content").unwrap_or(""),
            })),
            _ => {}
        }
    }
    let usage = v
        .get("usage")
        .filter(|u| u.is_object())
        .map(|u| Usage::from_openai(&Counts::of(u)))
        .unwrap_or_default();
    super::anthropic_message(str_of(v, "id"), t, content, stop_of(v, called), &usage)
}

/// Reads a Responses stream.
pub struct Reader {
    b: Builder,
    /// Output index of a function call → its block and whether its arguments streamed.
    calls: HashMap<u64, (usize, bool)>,
    /// The thinking block of the reasoning item being streamed.
    thinking: Option<usize>,
    called: bool,
}

impl Reader {
    pub fn new(t: &Translation) -> Reader {
        Reader {
            b: Builder::new(&t.id),
            calls: HashMap::new(),
            thinking: None,
            called: false,
        }
    }

    fn thinking_block(&mut self, out: &mut Vec<Ev>) -> usize {
        let index = self.b.block(Block::Thinking, out);
        self.thinking = Some(index);
        index
    }
}

impl super::Read for Reader {
    fn event(&mut self, _name: &str, data: &[u8], out: &mut Vec<Ev>) {
        if self.b.done() {
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        let index_of = |v: &Value| v.get("output_index").and_then(Value::as_u64).unwrap_or(0);
        match str_of(&v, "type").unwrap_or("") {
            "response.created" | "response.in_progress" => {
                self.b.start(
                    crate::json::at(&v, &["response", "id"]).and_then(Value::as_str),
                    out,
                );
            }
            "response.output_item.added" => {
                let item = v.get("item").unwrap_or(&Value::Null);
                if str_of(item, "type") == Some("function_call") {
                    self.b.start(None, out);
                    self.called = true;
                    let index = self.b.block(
                        Block::Tool {
                            id: str_of(item, "call_id").unwrap_or("").to_owned(),
                            name: str_of(item, "name").unwrap_or("").to_owned(),
                        },
                        out,
                    );
                    self.calls.insert(index_of(&v), (index, false));
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                let text = str_of(&v, "delta").unwrap_or("");
                if !text.is_empty() {
                    self.b.start(None, out);
                    let index = self.b.block(Block::Text, out);
                    out.push(Ev::Text {
                        index,
                        text: text.to_owned(),
                    });
                }
            }
            "response.reasoning_summary_text.delta" => {
                let text = str_of(&v, "delta").unwrap_or("");
                if !text.is_empty() {
                    self.b.start(None, out);
                    let index = self.thinking_block(out);
                    out.push(Ev::Thinking {
                        index,
                        text: text.to_owned(),
                    });
                }
            }
            "response.function_call_arguments.delta" => {
                if let Some((index, streamed)) = self.calls.get_mut(&index_of(&v)) {
                    *streamed = true;
                    let json = str_of(&v, "delta").unwrap_or("").to_owned();
                    out.push(Ev::Args {
                        index: *index,
                        json,
                    });
                }
            }
            "response.output_item.done" => {
                let item = v.get("item").unwrap_or(&Value::Null);
                match str_of(item, "type").unwrap_or("") {
                    "function_call" => {
                        if let Some((index, false)) = self.calls.get(&index_of(&v)).copied() {
                            let json = str_of(item, "arguments").unwrap_or("{}").to_owned();
                            out.push(Ev::Args { index, json });
                        }
                    }
                    "reasoning" => {
                        if let Some(sealed) = str_of(item, "encrypted_content") {
                            self.b.start(None, out);
                            let index = match self.thinking.take() {
                                Some(i) => i,
                                None => self.thinking_block(out),
                            };
                            out.push(Ev::Signature {
                                index,
                                signature: sealed.to_owned(),
                            });
                        }
                        self.thinking = None;
                    }
                    _ => {}
                }
            }
            "response.completed" | "response.incomplete" => {
                let r = v.get("response").unwrap_or(&Value::Null);
                let usage = r
                    .get("usage")
                    .filter(|u| u.is_object())
                    .map(|u| Usage::from_openai(&Counts::of(u)))
                    .unwrap_or_default();
                self.b.end(stop_of(r, self.called), usage, out);
            }
            "response.failed" => {
                let message = crate::json::at(&v, &["response", "error", "message"])
                    .and_then(Value::as_str)
                    .unwrap_or("the upstream failed the response");
                self.b.fail(message, out);
            }
            "error" => {
                let message = str_of(&v, "message")
                    .or_else(|| crate::json::at(&v, &["error", "message"]).and_then(Value::as_str))
                    .unwrap_or("upstream error");
                self.b.fail(message, out);
            }
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<Ev>) {
        if !self.b.done() {
            self.b.fail(
                "the upstream stream ended before the response completed",
                out,
            );
        }
    }
}
