//! A Responses client's request (Codex CLI's) as the pivot, read into typed parts that borrow
//! the body: the conversation's texts, ids and tool schemas are never unescaped or copied
//! into a tree.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Value, json, value::RawValue};

use super::pivot::{self, Block, Json, Listed, Message, Request, Str, ToolContent};
use super::{Format, Refusal, budget_for, merged};
use crate::gateway::checked::from_checked;
use crate::gateway::skim::Notes;

#[derive(Deserialize)]
struct ResponsesRequest<'a> {
    previous_response_id: Option<Value>,
    text: Option<Value>,
    #[serde(borrow)]
    instructions: Option<&'a RawValue>,
    #[serde(borrow)]
    input: Option<Listed<'a, Item<'a>>>,
    max_output_tokens: Option<Value>,
    temperature: Option<Value>,
    top_p: Option<Value>,
    #[serde(borrow)]
    tools: Option<Vec<ToolIn<'a>>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<Value>,
    reasoning: Option<Value>,
    user: Option<Value>,
    safety_identifier: Option<Value>,
}

#[derive(Deserialize, Default)]
struct Item<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow)]
    content: Option<Listed<'a, PartIn<'a>>>,
    #[serde(borrow)]
    call_id: Option<&'a RawValue>,
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow)]
    arguments: Option<&'a RawValue>,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
    #[serde(borrow)]
    output: Option<&'a RawValue>,
    #[serde(borrow)]
    encrypted_content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ToolIn<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow)]
    description: Option<&'a RawValue>,
    #[serde(borrow)]
    parameters: Option<&'a RawValue>,
    #[serde(borrow)]
    tools: Option<Vec<ToolIn<'a>>>,
    external_web_access: Option<Value>,
}

#[derive(Deserialize)]
struct PartIn<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    text: Option<&'a RawValue>,
    #[serde(borrow)]
    refusal: Option<&'a RawValue>,
    #[serde(borrow)]
    image_url: Option<Cow<'a, str>>,
}

/// What reading a Responses request found: the pivot, and the names of its freeform tools
/// (whose calls go back as `custom_tool_call`s).
pub struct Read<'a> {
    pub request: Request<'a>,
    pub custom_tools: Vec<String>,
}

fn refuse<T>(what: String) -> Result<T, Refusal> {
    Err(Refusal::new(what, Format::Anthropic))
}

fn invalid(e: serde_json::Error) -> Refusal {
    Refusal::unreadable("Responses", e)
}

/// A Responses request (the body's text) as an Anthropic one.
pub fn to_pivot<'a>(body: &'a str, notes: &Notes) -> Result<Read<'a>, Refusal> {
    let v: ResponsesRequest = from_checked(body, notes).map_err(invalid)?;
    if v.previous_response_id.is_some() {
        return refuse("`previous_response_id` (a conversation stored upstream)".into());
    }
    if let Some(kind) = v
        .text
        .as_ref()
        .and_then(|t| crate::json::at(t, &["format", "type"]))
        && kind.as_str().is_some_and(|t| t != "text")
    {
        return refuse("`text.format` (JSON output)".into());
    }
    let mut system: Vec<Str> = v.instructions.and_then(Str::string).into_iter().collect();
    let mut turns: Vec<(&'static str, Vec<Block>)> = Vec::new();
    let items: Vec<Item> = match v.input {
        Some(Listed::Items(items)) => items,
        Some(Listed::Text(text)) => vec![Item {
            content: Some(Listed::Text(text)),
            ..Item::default()
        }],
        _ => Vec::new(),
    };
    for item in items {
        match item.kind.as_deref().unwrap_or("message") {
            "message" => match item.role.as_deref().unwrap_or("user") {
                "system" | "developer" => system.push(content_text(item.content)),
                "assistant" => turns.push(("assistant", content_blocks(item.content)?)),
                _ => turns.push(("user", content_blocks(item.content)?)),
            },
            "function_call" => turns.push((
                "assistant",
                vec![Block::ToolUse {
                    id: Str::of(item.call_id),
                    name: Str::of(item.name),
                    input: pivot::tool_input(item.arguments),
                }],
            )),
            "custom_tool_call" => {
                let text = match item.input {
                    Some(raw) if raw.get().starts_with('"') => raw.get(),
                    _ => "\"\"",
                };
                let input = RawValue::from_string(format!("{{\"input\":{text}}}"))
                    .expect("a string wrapped in an object");
                turns.push((
                    "assistant",
                    vec![Block::ToolUse {
                        id: Str::of(item.call_id),
                        name: Str::of(item.name),
                        input: Json::Owned(input),
                    }],
                ));
            }
            "function_call_output" | "custom_tool_call_output" => {
                let content = match item.output {
                    Some(raw) if raw.get().starts_with('[') => {
                        ToolContent::Blocks(part_blocks(parts(raw)?)?)
                    }
                    other => ToolContent::Text(Str::of(other)),
                };
                turns.push((
                    "user",
                    vec![Block::ToolResult {
                        tool_use_id: Str::of(item.call_id),
                        content,
                    }],
                ));
            }
            "reasoning" => {
                // Only reasoning the gateway packed can go back; anything else is another
                // vendor's sealed state.
                if let Some((thinking, signature)) = item
                    .encrypted_content
                    .as_deref()
                    .and_then(super::responses::unpack)
                {
                    turns.push((
                        "assistant",
                        vec![Block::Thinking {
                            thinking,
                            signature,
                        }],
                    ));
                }
            }
            // A search the upstream ran earlier: its findings are in the answer's text.
            "web_search_call" => {}
            other => return refuse(format!("a {other:?} input item")),
        }
    }
    let mut p = Request {
        messages: merged(turns)
            .into_iter()
            .map(|(role, content)| Message { role, content })
            .collect(),
        system: pivot::system(system),
        max_tokens: v.max_output_tokens.as_ref().and_then(Value::as_i64),
        // OpenAI's range is 0–2, Anthropic's 0–1.
        temperature: v.temperature.and_then(|t| t.as_f64()).map(|t| t.min(1.0)),
        top_p: v.top_p.filter(Value::is_number),
        ..Request::default()
    };
    let tools = v.tools.unwrap_or_default();
    let custom_tools = tools
        .iter()
        .filter(|t| t.kind.as_deref() == Some("custom"))
        .filter_map(|t| t.name.and_then(Str::string))
        .map(|n| n.text().into_owned())
        .collect();
    add_tools(tools, &mut p.tools)?;
    if !p.tools.is_empty() {
        let mut choice = match &v.tool_choice {
            Some(Value::String(s)) if s == "none" => json!({ "type": "none" }),
            Some(Value::String(s)) if s == "required" => json!({ "type": "any" }),
            Some(Value::Object(o)) if o.get("name").is_some() => {
                json!({ "type": "tool", "name": o["name"] })
            }
            _ => json!({ "type": "auto" }),
        };
        if v.parallel_tool_calls == Some(Value::Bool(false)) && choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = json!(true);
        }
        p.tool_choice = Some(choice);
    }
    if let Some(budget) = v
        .reasoning
        .as_ref()
        .and_then(|r| r.get("effort"))
        .and_then(Value::as_str)
        .and_then(budget_for)
    {
        p.set_thinking(budget);
    }
    if let Some(Value::String(user)) = v.user.or(v.safety_identifier) {
        p.metadata = Some(json!({ "user_id": user }));
    }
    Ok(Read {
        request: p,
        custom_tools,
    })
}

/// A Responses tool list as Anthropic tools: functions, freeform tools (one string input)
/// and the functions inside namespaces.
fn add_tools<'a>(tools: Vec<ToolIn<'a>>, out: &mut Vec<pivot::Tool<'a>>) -> Result<(), Refusal> {
    for t in tools {
        let input_schema = match t.kind.as_deref().unwrap_or("") {
            "function" => match t.parameters {
                Some(s) => Json::Borrowed(s),
                None => pivot::json_of(&json!({ "type": "object", "properties": {} })),
            },
            "custom" => pivot::json_of(&json!({
                "type": "object",
                "properties": { "input": { "type": "string" } },
                "required": ["input"],
            })),
            "namespace" => {
                add_tools(t.tools.unwrap_or_default(), out)?;
                continue;
            }
            // Codex offers its cached search (no live web access) on every request: an
            // offer the model may ignore, left out rather than refusing every Codex turn.
            "web_search" | "web_search_preview"
                if t.external_web_access == Some(Value::Bool(false)) =>
            {
                continue;
            }
            "web_search" | "web_search_preview" => {
                out.push(pivot::Tool::web_search());
                continue;
            }
            other => return refuse(format!("the {other:?} tool")),
        };
        out.push(pivot::Tool {
            kind: None,
            name: Str::of(t.name),
            description: t.description.and_then(Str::string),
            input_schema: Some(input_schema),
        });
    }
    Ok(())
}

/// Content parts, read from their raw array.
fn parts(raw: &RawValue) -> Result<Vec<PartIn<'_>>, Refusal> {
    serde_json::from_str(raw.get()).map_err(invalid)
}

/// A system or developer message's content as its text: a string as it is, the parts'
/// texts joined by newlines.
fn content_text<'a>(content: Option<Listed<'a, PartIn<'a>>>) -> Str<'a> {
    match content {
        Some(Listed::Items(parts)) => pivot::part_texts(parts.into_iter().map(|p| p.text)),
        Some(Listed::Text(text)) => text,
        _ => Str::Owned(String::new()),
    }
}

/// Responses content (parts, or a string) as Anthropic blocks.
fn content_blocks<'a>(content: Option<Listed<'a, PartIn<'a>>>) -> Result<Vec<Block<'a>>, Refusal> {
    match content {
        Some(Listed::Items(parts)) => part_blocks(parts),
        Some(Listed::Text(text)) => Ok(vec![Block::Text { text }]),
        _ => Ok(vec![Block::Text {
            text: Str::Owned(String::new()),
        }]),
    }
}

/// Content parts as Anthropic blocks.
fn part_blocks(parts: Vec<PartIn<'_>>) -> Result<Vec<Block<'_>>, Refusal> {
    let mut out = Vec::new();
    for part in parts {
        match part.kind.as_deref().unwrap_or("") {
            "input_text" | "output_text" | "text" => out.push(Block::Text {
                text: Str::of(part.text),
            }),
            "refusal" => out.push(Block::Text {
                text: Str::of(part.refusal),
            }),
            "input_image" => match part.image_url {
                Some(url) => out.push(Block::image(url)),
                None => return refuse("an image by file id".into()),
            },
            other => return refuse(format!("a {other:?} content part")),
        }
    }
    Ok(out)
}
