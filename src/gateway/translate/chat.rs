//! OpenAI Chat Completions to and from the pivot: requests, whole answers and streams.

use serde_json::{Map, Value, json};

use super::{
    Format, Refusal, Translation, Usage, args_object, blocks_of, budget_for, custom_tools,
    effort_for, image_block, image_url, into_text, into_vec, merge_turns, obj, openai_finish,
    prompt_tokens, set_thinking, stop_from_openai, str_of, take, text_of, usage_of,
};

/// A chat request as an Anthropic one. The body is taken apart, not copied: a conversation's
/// text is moved into the pivot.
pub fn to_anthropic(mut v: Value) -> Result<Value, Refusal> {
    let refuse = |what: &str| Err(Refusal::new(what, Format::Anthropic));
    if v.get("n").and_then(Value::as_i64).is_some_and(|n| n > 1) {
        return refuse("`n` above 1");
    }
    if let Some(f) = v.get("response_format")
        && str_of(f, "type") != Some("text")
    {
        return refuse("`response_format` (JSON output)");
    }
    if v.get("logprobs").and_then(Value::as_bool) == Some(true) {
        return refuse("`logprobs`");
    }
    if v.get("audio").is_some_and(|a| !a.is_null()) {
        return refuse("audio output");
    }
    if v.get("web_search_options").is_some() {
        return refuse("`web_search_options`");
    }
    let mut system = Vec::new();
    let mut turns: Vec<(String, Vec<Value>)> = Vec::new();
    for mut m in into_vec(take(&mut v, "messages")) {
        let content = take(&mut m, "content");
        match str_of(&m, "role").unwrap_or("") {
            "system" | "developer" => system.push(into_text(content)),
            "user" => turns.push(("user".into(), user_blocks(content)?)),
            "assistant" => {
                let mut blocks = Vec::new();
                let text = into_text(content);
                if !text.is_empty() {
                    blocks.push(obj([
                        ("type", json!("text")),
                        ("text", Value::String(text)),
                    ]));
                }
                for mut tc in into_vec(take(&mut m, "tool_calls")) {
                    let mut f = take(&mut tc, "function");
                    let input = args_object(str_of(&f, "arguments").unwrap_or(""));
                    blocks.push(obj([
                        ("type", json!("tool_use")),
                        ("id", take_str(&mut tc, "id")),
                        ("name", take_str(&mut f, "name")),
                        ("input", input),
                    ]));
                }
                turns.push(("assistant".into(), blocks));
            }
            "tool" => turns.push((
                "user".into(),
                vec![obj([
                    ("type", json!("tool_result")),
                    ("tool_use_id", take_str(&mut m, "tool_call_id")),
                    ("content", tool_result_content(content)),
                ])],
            )),
            other => return refuse(&format!("a message of role {other:?}")),
        }
    }
    let mut p = Map::new();
    p.insert("messages".into(), Value::Array(merge_turns(turns)));
    let system = system.join("\n\n");
    if !system.is_empty() {
        p.insert("system".into(), Value::String(system));
    }
    if let Some(n) = v
        .get("max_completion_tokens")
        .or_else(|| v.get("max_tokens"))
        .and_then(Value::as_i64)
    {
        p.insert("max_tokens".into(), json!(n));
    }
    if let Some(t) = v.get("temperature").and_then(Value::as_f64) {
        // OpenAI's range is 0–2, Anthropic's 0–1.
        p.insert("temperature".into(), json!(t.min(1.0)));
    }
    if let Some(t) = v.get("top_p").filter(|t| t.is_number()) {
        p.insert("top_p".into(), t.clone());
    }
    match take(&mut v, "stop") {
        Value::String(s) => {
            p.insert(
                "stop_sequences".into(),
                Value::Array(vec![Value::String(s)]),
            );
        }
        a @ Value::Array(_) => {
            p.insert("stop_sequences".into(), a);
        }
        _ => {}
    }
    let mut tools = Vec::new();
    for mut t in into_vec(take(&mut v, "tools")) {
        if str_of(&t, "type") != Some("function") {
            return refuse(&format!(
                "the {:?} tool",
                str_of(&t, "type").unwrap_or("untyped")
            ));
        }
        let mut f = take(&mut t, "function");
        let schema = match take(&mut f, "parameters") {
            Value::Null => json!({ "type": "object", "properties": {} }),
            s => s,
        };
        let mut tool = obj([("name", take_str(&mut f, "name")), ("input_schema", schema)]);
        if let Value::String(d) = take(&mut f, "description") {
            tool["description"] = Value::String(d);
        }
        tools.push(tool);
    }
    if !tools.is_empty() {
        p.insert("tools".into(), Value::Array(tools));
    }
    let mut choice = match v.get("tool_choice") {
        Some(Value::String(s)) => match s.as_str() {
            "none" => Some(json!({ "type": "none" })),
            "required" => Some(json!({ "type": "any" })),
            _ => Some(json!({ "type": "auto" })),
        },
        Some(Value::Object(o)) => o
            .get("function")
            .and_then(|f| str_of(f, "name"))
            .map(|n| json!({ "type": "tool", "name": n })),
        _ => None,
    };
    if v.get("parallel_tool_calls") == Some(&Value::Bool(false)) && p.contains_key("tools") {
        let c = choice.get_or_insert_with(|| json!({ "type": "auto" }));
        if str_of(c, "type") != Some("none") {
            c["disable_parallel_tool_use"] = json!(true);
        }
    }
    if let Some(c) = choice.filter(|_| p.contains_key("tools")) {
        p.insert("tool_choice".into(), c);
    }
    if let Some(user) = str_of(&v, "user") {
        p.insert("metadata".into(), json!({ "user_id": user }));
    }
    if let Some(budget) = str_of(&v, "reasoning_effort").and_then(budget_for) {
        set_thinking(&mut p, budget);
    }
    Ok(Value::Object(p))
}

/// A string field taken out (an empty string when absent).
fn take_str(v: &mut Value, k: &str) -> Value {
    match take(v, k) {
        s @ Value::String(_) => s,
        _ => Value::String(String::new()),
    }
}

/// A chat user message's content as Anthropic blocks.
fn user_blocks(content: Value) -> Result<Vec<Value>, Refusal> {
    let Value::Array(parts) = content else {
        return Ok(vec![obj([
            ("type", json!("text")),
            ("text", Value::String(into_text(content))),
        ])]);
    };
    let mut out = Vec::new();
    for mut part in parts {
        match str_of(&part, "type").unwrap_or("") {
            "text" => out.push(obj([
                ("type", json!("text")),
                ("text", take_str(&mut part, "text")),
            ])),
            "image_url" => {
                let url = part
                    .get("image_url")
                    .and_then(|i| str_of(i, "url").or_else(|| i.as_str()))
                    .unwrap_or("");
                out.push(image_block(url));
            }
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

/// A tool message's content as a tool result's.
fn tool_result_content(content: Value) -> Value {
    match content {
        Value::Array(parts) => Value::Array(
            parts
                .into_iter()
                .filter_map(|mut p| match str_of(&p, "type") {
                    Some("text") => Some(obj([
                        ("type", json!("text")),
                        ("text", take_str(&mut p, "text")),
                    ])),
                    Some("image_url") => p
                        .get("image_url")
                        .and_then(|i| str_of(i, "url"))
                        .map(image_block),
                    _ => None,
                })
                .collect(),
        ),
        other => Value::String(into_text(other)),
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

/// An Anthropic message as a chat completion.
pub fn response_from_anthropic(m: &Value, t: &Translation) -> Value {
    let blocks = blocks_of(m.get("content").unwrap_or(&Value::Null));
    let mut text = String::new();
    let mut thinking = String::new();
    let mut calls = Vec::new();
    for b in &blocks {
        match str_of(b, "type").unwrap_or("") {
            "text" => text.push_str(str_of(b, "text").unwrap_or("")),
            "thinking" => thinking.push_str(str_of(b, "thinking").unwrap_or("")),
            "tool_use" => calls.push(json!({
                "id": str_of(b, "id").unwrap_or(""),
                "type": "function",
                "function": {
                    "name": str_of(b, "name").unwrap_or(""),
                    "arguments": b.get("input").map(Value::to_string).unwrap_or_else(|| "{}".into()),
                },
            })),
            _ => {}
        }
    }
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) },
    });
    if !thinking.is_empty() {
        message["reasoning_content"] = json!(thinking);
    }
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let usage = usage_of(m);
    json!({
        "id": format!("chatcmpl-{}", t.id),
        "object": "chat.completion",
        "created": t.created,
        "model": t.model,
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": openai_finish(str_of(m, "stop_reason").unwrap_or("end_turn")),
            "logprobs": null,
        }],
        "usage": usage_json(&usage),
    })
}

/// Chat usage JSON.
pub(super) fn usage_json(u: &Usage) -> Value {
    let prompt = prompt_tokens(u);
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": u.output_tokens,
        "total_tokens": prompt.saturating_add(u.output_tokens),
        "prompt_tokens_details": { "cached_tokens": u.cache_read_input_tokens },
    })
}
