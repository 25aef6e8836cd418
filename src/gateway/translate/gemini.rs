//! Gemini generateContent to and from the pivot: requests, whole answers and streams (SSE,
//! or the JSON array a Gemini client gets without `alt=sse`). Gemini names a function's
//! result by the function's name, not a call id: ids are made up in order and results
//! matched to the earliest open call of their name.

use std::collections::{HashMap, VecDeque};

use serde_json::{Map, Value, json};

use super::{
    Counts, Format, Refusal, Translation, Usage, blocks_of, custom_tools, image_block, merge_turns,
    prompt_tokens, set_thinking, str_of, text_of, usage_of,
};

/// The largest thinking budget every Gemini 2.5 model takes.
const MAX_THINKING_BUDGET: i64 = 24_576;

/// A Gemini request (or a countTokens one) as an Anthropic one.
pub fn to_anthropic(v: &Value) -> Result<Value, Refusal> {
    let refuse = |what: String| Err(Refusal::new(what, Format::Anthropic));
    // countTokens may wrap the request.
    let v = v.get("generateContentRequest").unwrap_or(v);
    if v.get("cachedContent").is_some() {
        return refuse("`cachedContent` (a cache held at Google)".into());
    }
    let mut ids = Ids::default();
    let mut turns = Vec::new();
    for c in v
        .get("contents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = if str_of(c, "role") == Some("model") {
            "assistant"
        } else {
            "user"
        };
        let mut blocks = Vec::new();
        for part in c
            .get("parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = str_of(part, "text") {
                // Earlier thoughts are the model's own; they are not sent back.
                if part.get("thought") != Some(&Value::Bool(true)) && !t.is_empty() {
                    blocks.push(json!({ "type": "text", "text": t }));
                }
            } else if let Some(d) = part.get("inlineData") {
                blocks.push(media_block(
                    str_of(d, "mimeType").unwrap_or(""),
                    str_of(d, "data").unwrap_or(""),
                    None,
                )?);
            } else if let Some(d) = part.get("fileData") {
                blocks.push(media_block(
                    str_of(d, "mimeType").unwrap_or(""),
                    "",
                    str_of(d, "fileUri"),
                )?);
            } else if let Some(f) = part.get("functionCall") {
                let name = str_of(f, "name").unwrap_or("");
                blocks.push(json!({
                    "type": "tool_use",
                    "id": ids.call(name, str_of(f, "id")),
                    "name": name,
                    "input": f.get("args").cloned().unwrap_or(json!({})),
                }));
            } else if let Some(f) = part.get("functionResponse") {
                let name = str_of(f, "name").unwrap_or("");
                let response = f.get("response").unwrap_or(&Value::Null);
                let text = match response
                    .get("output")
                    .or_else(|| response.get("content"))
                    .or_else(|| response.get("result"))
                {
                    Some(Value::String(s)) => s.clone(),
                    _ => response.to_string(),
                };
                blocks.push(json!({
                    "type": "tool_result",
                    "tool_use_id": ids.result(name, str_of(f, "id")),
                    "content": text,
                    "is_error": response.get("error").is_some(),
                }));
            } else if part.get("executableCode").is_some()
                || part.get("codeExecutionResult").is_some()
            {
                return refuse("code execution parts".into());
            }
        }
        turns.push((role.to_owned(), blocks));
    }
    let mut p = Map::new();
    p.insert("messages".into(), Value::Array(merge_turns(turns)));
    let system = v
        .get("systemInstruction")
        .or_else(|| v.get("system_instruction"))
        .map(|s| text_of(s.get("parts").unwrap_or(s)))
        .unwrap_or_default();
    if !system.is_empty() {
        p.insert("system".into(), json!(system));
    }
    let mut tools = Vec::new();
    for t in v
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(decls) = t
            .get("functionDeclarations")
            .or_else(|| t.get("function_declarations"))
            .and_then(Value::as_array)
        else {
            let kind = t.as_object().and_then(|o| o.keys().next().cloned());
            return refuse(format!(
                "the {:?} tool",
                kind.unwrap_or_else(|| "unknown".into())
            ));
        };
        for d in decls {
            let schema = d
                .get("parametersJsonSchema")
                .cloned()
                .or_else(|| d.get("parameters").map(json_schema))
                .unwrap_or(json!({ "type": "object", "properties": {} }));
            let mut tool =
                json!({ "name": str_of(d, "name").unwrap_or(""), "input_schema": schema });
            if let Some(desc) = str_of(d, "description") {
                tool["description"] = json!(desc);
            }
            tools.push(tool);
        }
    }
    if !tools.is_empty() {
        p.insert("tools".into(), Value::Array(tools));
        if let Some(cfg) = crate::json::at(v, &["toolConfig", "functionCallingConfig"]) {
            let names = cfg.get("allowedFunctionNames").and_then(Value::as_array);
            let choice = match str_of(cfg, "mode").unwrap_or("AUTO") {
                "NONE" => json!({ "type": "none" }),
                "ANY" => match names.map(Vec::as_slice) {
                    Some([one]) => json!({ "type": "tool", "name": one }),
                    _ => json!({ "type": "any" }),
                },
                _ => json!({ "type": "auto" }),
            };
            p.insert("tool_choice".into(), choice);
        }
    }
    let g = v.get("generationConfig").unwrap_or(&Value::Null);
    if g.get("candidateCount")
        .and_then(Value::as_i64)
        .is_some_and(|n| n > 1)
    {
        return refuse("`candidateCount` above 1".into());
    }
    if g.get("responseSchema").is_some()
        || g.get("responseJsonSchema").is_some()
        || str_of(g, "responseMimeType").is_some_and(|m| m != "text/plain")
    {
        return refuse("a JSON response schema".into());
    }
    if g.get("responseModalities")
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|x| x != "TEXT"))
    {
        return refuse("image or audio output".into());
    }
    if let Some(n) = g.get("maxOutputTokens").and_then(Value::as_i64) {
        p.insert("max_tokens".into(), json!(n));
    }
    if let Some(t) = g.get("temperature").and_then(Value::as_f64) {
        p.insert("temperature".into(), json!(t.min(1.0)));
    }
    for (from, to) in [("topP", "top_p"), ("topK", "top_k")] {
        if let Some(x) = g.get(from).filter(|x| x.is_number()) {
            p.insert(to.into(), x.clone());
        }
    }
    if let Some(s) = g.get("stopSequences").filter(|s| s.is_array()) {
        p.insert("stop_sequences".into(), s.clone());
    }
    if let Some(b) = crate::json::at(g, &["thinkingConfig", "thinkingBudget"])
        .and_then(Value::as_i64)
        .filter(|b| *b > 0)
    {
        set_thinking(&mut p, b);
    }
    Ok(Value::Object(p))
}

/// An inline or linked media part as an Anthropic block: images, and PDFs as documents.
fn media_block(mime: &str, data: &str, uri: Option<&str>) -> Result<Value, Refusal> {
    let source = match uri {
        Some(u) => json!({ "type": "url", "url": u }),
        None => json!({ "type": "base64", "media_type": mime, "data": data }),
    };
    if mime.starts_with("image/") {
        return Ok(match uri {
            Some(u) => image_block(u),
            None => json!({ "type": "image", "source": source }),
        });
    }
    if mime == "application/pdf" {
        return Ok(json!({ "type": "document", "source": source }));
    }
    Err(Refusal::new(
        format!("a {mime:?} media part"),
        Format::Anthropic,
    ))
}

/// Gemini's OpenAPI-style schema (`"type": "OBJECT"`) as JSON Schema (`"object"`).
fn json_schema(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| match (k.as_str(), x) {
                    ("type", Value::String(t)) => (k.clone(), json!(t.to_ascii_lowercase())),
                    _ => (k.clone(), json_schema(x)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(json_schema).collect()),
        other => other.clone(),
    }
}

/// Call ids for a conversation whose calls carry none: made up in order, results matched to
/// the earliest open call of their function.
#[derive(Default)]
struct Ids {
    n: usize,
    open: HashMap<String, VecDeque<String>>,
}

impl Ids {
    fn call(&mut self, name: &str, given: Option<&str>) -> String {
        self.n += 1;
        let id = given.map_or_else(|| format!("toolu_gemini_{}", self.n), str::to_owned);
        self.open
            .entry(name.to_owned())
            .or_default()
            .push_back(id.clone());
        id
    }

    fn result(&mut self, name: &str, given: Option<&str>) -> String {
        let open = self.open.entry(name.to_owned()).or_default();
        match given {
            Some(id) => {
                open.retain(|x| x != id);
                id.to_owned()
            }
            None => open
                .pop_front()
                .unwrap_or_else(|| format!("toolu_gemini_{name}")),
        }
    }
}

/// An Anthropic request as a Gemini one (for countTokens, wrapped as it requires).
pub fn from_anthropic(p: &Value, t: &Translation) -> Result<Value, Refusal> {
    let refuse = |what: String| Err(Refusal::new(what, Format::Gemini));
    let mut names: HashMap<String, String> = HashMap::new();
    let mut contents = Vec::new();
    for m in p
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = if str_of(m, "role") == Some("assistant") {
            "model"
        } else {
            "user"
        };
        let mut parts = Vec::new();
        for b in blocks_of(m.get("content").unwrap_or(&Value::Null)) {
            match str_of(&b, "type").unwrap_or("") {
                "text" => parts.push(json!({ "text": str_of(&b, "text").unwrap_or("") })),
                "image" | "document" => parts.push(media_part(&b)?),
                "tool_use" => {
                    let name = str_of(&b, "name").unwrap_or("").to_owned();
                    names.insert(str_of(&b, "id").unwrap_or("").to_owned(), name.clone());
                    parts.push(json!({ "functionCall": { "name": name, "args": b.get("input").cloned().unwrap_or(json!({})) } }));
                }
                "tool_result" => {
                    let id = str_of(&b, "tool_use_id").unwrap_or("");
                    let content = b.get("content").unwrap_or(&Value::Null);
                    let key = if b.get("is_error") == Some(&Value::Bool(true)) {
                        "error"
                    } else {
                        "content"
                    };
                    parts.push(json!({ "functionResponse": {
                        "name": names.get(id).cloned().unwrap_or_default(),
                        "response": { key: text_of(content) },
                    } }));
                    for img in blocks_of(content)
                        .iter()
                        .filter(|c| str_of(c, "type") == Some("image"))
                    {
                        parts.push(media_part(img)?);
                    }
                }
                "thinking" | "redacted_thinking" => {}
                other => return refuse(format!("a {other:?} content block")),
            }
        }
        if !parts.is_empty() {
            contents.push(json!({ "role": role, "parts": parts }));
        }
    }
    let mut out = Map::new();
    out.insert("contents".into(), Value::Array(contents));
    let system = text_of(p.get("system").unwrap_or(&Value::Null));
    if !system.is_empty() {
        out.insert(
            "systemInstruction".into(),
            json!({ "parts": [{ "text": system }] }),
        );
    }
    let decls: Vec<Value> = custom_tools(p, Format::Gemini)?
        .into_iter()
        .map(|tool| {
            let mut d = json!({
                "name": str_of(tool, "name").unwrap_or(""),
                "parametersJsonSchema": tool.get("input_schema").cloned().unwrap_or(json!({ "type": "object" })),
            });
            if let Some(desc) = str_of(tool, "description") {
                d["description"] = json!(desc);
            }
            d
        })
        .collect();
    if !decls.is_empty() {
        out.insert("tools".into(), json!([{ "functionDeclarations": decls }]));
        if let Some(c) = p.get("tool_choice") {
            let cfg = match str_of(c, "type").unwrap_or("auto") {
                "any" => json!({ "mode": "ANY" }),
                "none" => json!({ "mode": "NONE" }),
                "tool" => {
                    json!({ "mode": "ANY", "allowedFunctionNames": [str_of(c, "name").unwrap_or("")] })
                }
                _ => json!({ "mode": "AUTO" }),
            };
            out.insert("toolConfig".into(), json!({ "functionCallingConfig": cfg }));
        }
    }
    if !t.endpoint.billed() {
        let model = format!("models/{}", str_of(p, "model").unwrap_or(""));
        out.insert("model".into(), json!(model));
        return Ok(json!({ "generateContentRequest": out }));
    }
    let mut g = Map::new();
    for (from, to) in [
        ("max_tokens", "maxOutputTokens"),
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("stop_sequences", "stopSequences"),
    ] {
        if let Some(x) = p.get(from) {
            g.insert(to.into(), x.clone());
        }
    }
    if let Some(th) = p.get("thinking")
        && str_of(th, "type") == Some("enabled")
    {
        // Gemini refuses a budget above its model's range (24 576 on Flash, 32 768 on Pro):
        // Claude Code asks for up to 31 999.
        let budget = th
            .get("budget_tokens")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .min(MAX_THINKING_BUDGET);
        g.insert(
            "thinkingConfig".into(),
            json!({ "thinkingBudget": budget, "includeThoughts": true }),
        );
    }
    out.insert("generationConfig".into(), Value::Object(g));
    Ok(Value::Object(out))
}

/// An Anthropic image or document block as a Gemini part.
fn media_part(b: &Value) -> Result<Value, Refusal> {
    let src = b.get("source").unwrap_or(&Value::Null);
    match str_of(src, "type") {
        Some("base64") => Ok(
            json!({ "inlineData": { "mimeType": str_of(src, "media_type").unwrap_or(""), "data": str_of(src, "data").unwrap_or("") } }),
        ),
        Some("url") => {
            let mime = if str_of(b, "type") == Some("document") {
                "application/pdf"
            } else {
                "image/*"
            };
            Ok(
                json!({ "fileData": { "mimeType": mime, "fileUri": str_of(src, "url").unwrap_or("") } }),
            )
        }
        _ => Err(Refusal::new(
            "a media block of an unknown source",
            Format::Gemini,
        )),
    }
}

/// Gemini's finish reason as Anthropic's stop reason.
pub(super) fn stop_of(finish: &str, called: bool) -> &'static str {
    match finish {
        "MAX_TOKENS" => "max_tokens",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            "refusal"
        }
        _ if called => "tool_use",
        _ => "end_turn",
    }
}

pub(super) fn finish_of(stop: &str) -> &'static str {
    match stop {
        "max_tokens" | "model_context_window_exceeded" => "MAX_TOKENS",
        "refusal" => "SAFETY",
        _ => "STOP",
    }
}

/// A Gemini answer as an Anthropic message.
pub fn response_to_anthropic<'a>(
    v: &'a Value,
    t: &'a Translation,
) -> super::util::Message<'a, Value> {
    let cand = crate::json::at(v, &["candidates", "0"]).unwrap_or(&Value::Null);
    let mut content = Vec::new();
    let mut called = false;
    for (n, part) in crate::json::at(cand, &["content", "parts"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(text) = str_of(part, "text") {
            if part.get("thought") == Some(&Value::Bool(true)) {
                content.push(json!({ "type": "thinking", "thinking": text, "signature": "" }));
            } else {
                content.push(json!({ "type": "text", "text": text }));
            }
        } else if let Some(f) = part.get("functionCall") {
            called = true;
            content.push(json!({
                "type": "tool_use",
                "id": str_of(f, "id").map_or_else(|| format!("toolu_{}_{n}", t.id), str::to_owned),
                "name": str_of(f, "name").unwrap_or(""),
                "input": f.get("args").cloned().unwrap_or(json!({})),
            }));
        }
    }
    let finish = str_of(cand, "finishReason").unwrap_or(
        if crate::json::at(v, &["promptFeedback", "blockReason"]).is_some() {
            "SAFETY"
        } else {
            "STOP"
        },
    );
    let usage = v
        .get("usageMetadata")
        .map(|u| Usage::from_gemini(&Counts::of(u)))
        .unwrap_or_default();
    let stop = stop_of(finish, called);
    super::anthropic_message(str_of(v, "responseId"), t, content, stop, &usage)
}

/// Gemini usage metadata.
pub(super) fn usage_json(u: &Usage) -> Value {
    let prompt = prompt_tokens(u);
    json!({
        "promptTokenCount": prompt,
        "candidatesTokenCount": u.output_tokens,
        "totalTokenCount": prompt.saturating_add(u.output_tokens),
        "cachedContentTokenCount": u.cache_read_input_tokens,
    })
}

/// An Anthropic message as a Gemini answer.
pub fn response_from_anthropic(m: &Value, t: &Translation) -> Value {
    let mut parts = Vec::new();
    for b in blocks_of(m.get("content").unwrap_or(&Value::Null)) {
        match str_of(&b, "type").unwrap_or("") {
            "text" => parts.push(json!({ "text": str_of(&b, "text").unwrap_or("") })),
            "thinking" => {
                parts.push(json!({ "text": str_of(&b, "thinking").unwrap_or(""), "thought": true }))
            }
            "tool_use" => parts.push(json!({ "functionCall": {
                "name": str_of(&b, "name").unwrap_or(""),
                "args": b.get("input").cloned().unwrap_or(json!({})),
            } })),
            _ => {}
        }
    }
    json!({
        "candidates": [{
            "content": { "role": "model", "parts": parts },
            "finishReason": finish_of(str_of(m, "stop_reason").unwrap_or("end_turn")),
            "index": 0,
        }],
        "usageMetadata": usage_json(&usage_of(m)),
        "modelVersion": t.model,
        "responseId": t.id,
    })
}
