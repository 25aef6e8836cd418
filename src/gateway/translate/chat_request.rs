//! A chat client's request as the pivot, read into typed parts that borrow the body: the
//! conversation's texts, ids and tool schemas are never unescaped or copied into a tree
//! (this is the translation a 10 kB conversation pays for on every turn).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Value, json, value::RawValue};

use super::pivot::{self, Block, Json, Message, Request, Str, ToolContent};
use super::{Format, Refusal, budget_for, merged};
use crate::gateway::checked::from_checked;
use crate::gateway::skim::Notes;

#[derive(Deserialize)]
struct ChatRequest<'a> {
    #[serde(borrow)]
    messages: Option<Vec<ChatMessage<'a>>>,
    #[serde(borrow)]
    tools: Option<Vec<ChatTool<'a>>>,
    n: Option<Value>,
    response_format: Option<Value>,
    logprobs: Option<Value>,
    audio: Option<Value>,
    web_search_options: Option<Value>,
    max_completion_tokens: Option<Value>,
    max_tokens: Option<Value>,
    temperature: Option<Value>,
    top_p: Option<Value>,
    stop: Option<Value>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<Value>,
    user: Option<Value>,
    reasoning_effort: Option<Value>,
    stream_options: Option<Value>,
}

#[derive(Deserialize)]
struct ChatMessage<'a> {
    #[serde(borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow)]
    content: Option<&'a RawValue>,
    #[serde(borrow)]
    tool_calls: Option<Vec<ToolCall<'a>>>,
    #[serde(borrow)]
    tool_call_id: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ToolCall<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    function: Option<Function<'a>>,
}

#[derive(Deserialize)]
struct Function<'a> {
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow)]
    arguments: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ChatTool<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    function: Option<ToolFunction<'a>>,
}

#[derive(Deserialize, Default)]
struct ToolFunction<'a> {
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow)]
    description: Option<&'a RawValue>,
    #[serde(borrow)]
    parameters: Option<&'a RawValue>,
}

/// A content part of a user or tool message.
#[derive(Deserialize)]
struct Part<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    text: Option<&'a RawValue>,
    #[serde(borrow)]
    image_url: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ImageUrl<'a> {
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
}

/// What reading a chat request found: the pivot, and whether the client asked for the usage
/// chunk of a stream.
pub struct Read<'a> {
    pub request: Request<'a>,
    pub include_usage: bool,
}

fn refuse<T>(what: &str) -> Result<T, Refusal> {
    Err(Refusal::new(what, Format::Anthropic))
}

fn invalid(e: serde_json::Error) -> Refusal {
    Refusal::unreadable("chat", e)
}

/// A chat request (the body's text) as an Anthropic one.
pub fn to_pivot<'a>(body: &'a str, notes: &Notes) -> Result<Read<'a>, Refusal> {
    let v: ChatRequest = from_checked(body, notes).map_err(invalid)?;
    if v.n.as_ref().and_then(Value::as_i64).is_some_and(|n| n > 1) {
        return refuse("`n` above 1");
    }
    if let Some(f) = &v.response_format
        && f.get("type").and_then(Value::as_str) != Some("text")
    {
        return refuse("`response_format` (JSON output)");
    }
    if v.logprobs.as_ref().and_then(Value::as_bool) == Some(true) {
        return refuse("`logprobs`");
    }
    if v.audio.is_some() {
        return refuse("audio output");
    }
    if v.web_search_options.is_some() {
        return refuse("`web_search_options`");
    }
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Block>)> = Vec::new();
    for m in v.messages.unwrap_or_default() {
        match m.role.as_deref().unwrap_or("") {
            "system" | "developer" => system.push(pivot::content_text(m.content).map_err(invalid)?),
            "user" => turns.push(("user", user_blocks(m.content)?)),
            "assistant" => {
                let mut blocks = Vec::new();
                let text = pivot::content_text(m.content).map_err(invalid)?;
                if !text.is_empty() {
                    blocks.push(Block::Text { text });
                }
                for tc in m.tool_calls.unwrap_or_default() {
                    let (name, arguments) = match tc.function {
                        Some(f) => (f.name, f.arguments),
                        None => (None, None),
                    };
                    blocks.push(Block::ToolUse {
                        id: Str::of(tc.id),
                        name: Str::of(name),
                        input: pivot::tool_input(arguments),
                    });
                }
                turns.push(("assistant", blocks));
            }
            "tool" => turns.push((
                "user",
                vec![Block::ToolResult {
                    tool_use_id: Str::of(m.tool_call_id),
                    content: tool_result_content(m.content)?,
                }],
            )),
            other => return refuse(&format!("a message of role {other:?}")),
        }
    }
    let mut p = Request {
        messages: merged(turns)
            .into_iter()
            .map(|(role, content)| Message { role, content })
            .collect(),
        system: pivot::system(system),
        max_tokens: v
            .max_completion_tokens
            .as_ref()
            .or(v.max_tokens.as_ref())
            .and_then(Value::as_i64),
        // OpenAI's range is 0–2, Anthropic's 0–1.
        temperature: v.temperature.and_then(|t| t.as_f64()).map(|t| t.min(1.0)),
        top_p: v.top_p.filter(Value::is_number),
        stop_sequences: match v.stop {
            Some(Value::String(s)) => Some(Value::Array(vec![Value::String(s)])),
            a @ Some(Value::Array(_)) => a,
            _ => None,
        },
        ..Request::default()
    };
    for t in v.tools.unwrap_or_default() {
        if t.kind.as_deref() != Some("function") {
            return refuse(&format!(
                "the {:?} tool",
                t.kind.as_deref().unwrap_or("untyped")
            ));
        }
        let f = t.function.unwrap_or_default();
        p.tools.push(pivot::Tool {
            kind: None,
            name: Str::of(f.name),
            description: f.description.and_then(Str::string),
            input_schema: Some(match f.parameters {
                Some(s) => Json::Borrowed(s),
                None => pivot::json_of(&json!({ "type": "object", "properties": {} })),
            }),
        });
    }
    let mut choice = match &v.tool_choice {
        Some(Value::String(s)) => match s.as_str() {
            "none" => Some(json!({ "type": "none" })),
            "required" => Some(json!({ "type": "any" })),
            _ => Some(json!({ "type": "auto" })),
        },
        Some(Value::Object(o)) => o
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .map(|n| json!({ "type": "tool", "name": n })),
        _ => None,
    };
    let tools = !p.tools.is_empty();
    if v.parallel_tool_calls == Some(Value::Bool(false)) && tools {
        let c = choice.get_or_insert_with(|| json!({ "type": "auto" }));
        if c["type"] != "none" {
            c["disable_parallel_tool_use"] = json!(true);
        }
    }
    p.tool_choice = choice.filter(|_| tools);
    if let Some(Value::String(user)) = v.user {
        p.metadata = Some(json!({ "user_id": user }));
    }
    if let Some(budget) = v
        .reasoning_effort
        .as_ref()
        .and_then(Value::as_str)
        .and_then(budget_for)
    {
        p.set_thinking(budget);
    }
    let include_usage = v
        .stream_options
        .as_ref()
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Read {
        request: p,
        include_usage,
    })
}

/// Content parts, read from their raw array.
fn parts(raw: &RawValue) -> Result<Vec<Part<'_>>, Refusal> {
    serde_json::from_str(raw.get()).map_err(invalid)
}

/// An image part's URL (`image_url` is an object with `url`, or the URL itself).
fn image_url(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    let raw = raw?;
    if raw.get().starts_with('{') {
        serde_json::from_str::<ImageUrl>(raw.get()).ok()?.url
    } else {
        Str::string(raw).map(|s| s.text())
    }
}

/// A user message's content as Anthropic blocks.
fn user_blocks(content: Option<&RawValue>) -> Result<Vec<Block<'_>>, Refusal> {
    let Some(raw) = content.filter(|r| r.get().starts_with('[')) else {
        return Ok(vec![Block::Text {
            text: pivot::content_text(content).map_err(invalid)?,
        }]);
    };
    let mut out = Vec::new();
    for part in parts(raw)? {
        match part.kind.as_deref().unwrap_or("") {
            "text" => out.push(Block::Text {
                text: Str::of(part.text),
            }),
            "image_url" => out.push(Block::image(image_url(part.image_url).unwrap_or_default())),
            other => return refuse(&format!("a {other:?} content part")),
        }
    }
    Ok(out)
}

/// A tool message's content as a tool result's.
fn tool_result_content(content: Option<&RawValue>) -> Result<ToolContent<'_>, Refusal> {
    let Some(raw) = content.filter(|r| r.get().starts_with('[')) else {
        return Ok(ToolContent::Text(
            pivot::content_text(content).map_err(invalid)?,
        ));
    };
    let blocks = parts(raw)?
        .into_iter()
        .filter_map(|p| match p.kind.as_deref() {
            Some("text") => Some(Block::Text {
                text: Str::of(p.text),
            }),
            Some("image_url") => image_url(p.image_url).map(Block::image),
            _ => None,
        })
        .collect();
    Ok(ToolContent::Blocks(blocks))
}
