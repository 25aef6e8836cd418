//! An Anthropic request (Claude Code's, or the pivot another client's became) as a chat one,
//! read into typed parts that borrow the body: texts, ids, schemas and tool inputs are copied
//! as the client escaped them, and no tree is built.

use std::borrow::Cow;

use bytes::Bytes;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json, value::RawValue};

use super::pivot::{self, Json, Listed, Str};
use super::write::Writer;
use super::{ATTRIBUTION, DEFAULT_MAX_TOKENS, Format, Refusal, Translation, effort_for, noted};
use crate::gateway::checked::from_checked;
use crate::gateway::skim::Notes;

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    system: Option<&'a RawValue>,
    #[serde(borrow)]
    messages: Option<Vec<MessageIn<'a>>>,
    #[serde(borrow)]
    tools: Option<Vec<ToolIn<'a>>>,
    tool_choice: Option<Value>,
    max_tokens: Option<Value>,
    temperature: Option<Value>,
    top_p: Option<Value>,
    stop_sequences: Option<Value>,
    thinking: Option<Value>,
}

#[derive(Deserialize)]
struct MessageIn<'a> {
    #[serde(borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow)]
    content: Option<Listed<'a, BlockIn<'a>>>,
}

#[derive(Deserialize, Default)]
struct BlockIn<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    text: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
    #[serde(borrow)]
    tool_use_id: Option<&'a RawValue>,
    #[serde(borrow)]
    content: Option<&'a RawValue>,
    is_error: Option<Value>,
    #[serde(borrow)]
    source: Option<SourceIn<'a>>,
}

#[derive(Deserialize)]
struct SourceIn<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    media_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<Cow<'a, str>>,
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
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
    input_schema: Option<&'a RawValue>,
}

#[derive(Serialize)]
pub(super) struct Body<'a> {
    model: &'a str,
    messages: Vec<MessageOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_cache_key: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum MessageOut<'a> {
    System {
        content: Str<'a>,
    },
    User {
        content: UserContent<'a>,
    },
    Assistant {
        content: Option<Str<'a>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<CallOut<'a>>,
    },
    Tool {
        tool_call_id: Str<'a>,
        content: Str<'a>,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
enum UserContent<'a> {
    Text(Str<'a>),
    Parts(Vec<PartOut<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PartOut<'a> {
    Text { text: Str<'a> },
    ImageUrl { image_url: UrlOut<'a> },
}

#[derive(Serialize)]
struct UrlOut<'a> {
    url: Cow<'a, str>,
}

#[derive(Serialize)]
struct CallOut<'a> {
    id: Str<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionCall<'a>,
}

#[derive(Serialize)]
struct FunctionCall<'a> {
    name: Str<'a>,
    arguments: Arguments<'a>,
}

/// A tool call's input object, sent as the JSON text chat wants in `arguments`.
struct Arguments<'a>(Option<&'a RawValue>);

impl Serialize for Arguments<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.map_or("{}", RawValue::get))
    }
}

#[derive(Serialize)]
struct ToolOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionDecl<'a>,
}

#[derive(Serialize)]
struct FunctionDecl<'a> {
    name: Str<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<Str<'a>>,
    parameters: Json<'a>,
}

fn refuse<T>(what: String) -> Result<T, Refusal> {
    Err(Refusal::new(what, Format::Chat))
}

fn invalid(e: serde_json::Error) -> Refusal {
    Refusal::unreadable("Messages", e)
}

/// An Anthropic request (its text, and where its long strings lie when they were noted) as a
/// chat one for `model`, for the translation `t`.
pub fn from_anthropic<'a>(
    body: &'a str,
    notes: Option<&Notes>,
    model: &'a str,
    t: &'a Translation,
) -> Result<Bytes, Refusal> {
    let out = read(body, &*noted(body.as_bytes(), notes)?, model, t)?;
    Ok(Bytes::from(write(&out, body.len())))
}

/// The chat request an Anthropic one becomes.
pub(super) fn read<'a>(
    body: &'a str,
    notes: &Notes,
    model: &'a str,
    t: &'a Translation,
) -> Result<Body<'a>, Refusal> {
    let p: Request = from_checked(body, notes).map_err(invalid)?;
    let mut messages = Vec::new();
    if let Some(system) = system_prompt(p.system)?.filter(|s| !s.is_empty()) {
        messages.push(MessageOut::System { content: system });
    }
    let mut tools = Vec::new();
    for tool in p.tools.unwrap_or_default() {
        match tool.kind.as_deref() {
            None | Some("custom") => {}
            Some(kind) => return refuse(format!("the server tool {kind:?}")),
        }
        tools.push(ToolOut {
            kind: "function",
            function: FunctionDecl {
                name: Str::of(tool.name),
                description: tool.description.and_then(Str::string),
                parameters: match tool.input_schema {
                    Some(s) => Json::Borrowed(s),
                    None => pivot::json_of(&json!({ "type": "object" })),
                },
            },
        });
    }
    for m in p.messages.unwrap_or_default() {
        let assistant_turn = m.role.as_deref() == Some("assistant");
        match m.content {
            Some(Listed::Items(blocks)) if assistant_turn => messages.push(assistant(blocks)?),
            Some(Listed::Items(blocks)) => user(blocks, &mut messages)?,
            // A string is one text block.
            Some(Listed::Text(text)) if assistant_turn => {
                messages.push(MessageOut::Assistant {
                    content: (!text.is_empty()).then_some(text),
                    tool_calls: Vec::new(),
                });
            }
            Some(Listed::Text(text)) => messages.push(MessageOut::User {
                content: UserContent::Text(text),
            }),
            _ if assistant_turn => messages.push(assistant(Vec::new())?),
            _ => {}
        }
    }
    let mut out = Body {
        model,
        messages,
        max_tokens: p.max_tokens.or(Some(json!(DEFAULT_MAX_TOKENS))),
        temperature: p.temperature,
        top_p: p.top_p,
        stop: p.stop_sequences,
        tools,
        tool_choice: None,
        parallel_tool_calls: None,
        reasoning_effort: None,
        stream: None,
        stream_options: None,
        prompt_cache_key: t.session.as_deref(),
    };
    if let Some(c) = p.tool_choice.filter(|_| !out.tools.is_empty()) {
        out.tool_choice = Some(match c["type"].as_str().unwrap_or("auto") {
            "any" => json!("required"),
            "none" => json!("none"),
            "tool" => {
                json!({ "type": "function", "function": { "name": c["name"].as_str().unwrap_or("") } })
            }
            _ => json!("auto"),
        });
        if c["disable_parallel_tool_use"] == true {
            out.parallel_tool_calls = Some(false);
        }
    }
    if let Some(th) = p.thinking.filter(|th| th["type"] == "enabled") {
        out.reasoning_effort = Some(effort_for(th["budget_tokens"].as_i64().unwrap_or(0)));
    }
    if t.stream {
        out.stream = Some(true);
        out.stream_options = Some(json!({ "include_usage": true }));
    }
    Ok(out)
}

/// `b` as JSON, by hand: serde's output byte for byte (a property test holds the two
/// together), without its cost for each copied text (see [`super::write`]).
pub(super) fn write(b: &Body, size_hint: usize) -> Vec<u8> {
    let mut w = Writer::new(size_hint);
    w.raw("{\"model\":");
    w.serde(b.model);
    w.raw(",\"messages\":");
    w.list(&b.messages, message);
    w.field("max_tokens", &b.max_tokens);
    w.field("temperature", &b.temperature);
    w.field("top_p", &b.top_p);
    w.field("stop", &b.stop);
    if !b.tools.is_empty() {
        w.raw(",\"tools\":");
        w.list(&b.tools, |w, t| {
            w.raw("{\"type\":\"function\",\"function\":{\"name\":");
            w.str(&t.function.name);
            if let Some(d) = &t.function.description {
                w.raw(",\"description\":");
                w.str(d);
            }
            w.raw(",\"parameters\":");
            w.raw(t.function.parameters.get());
            w.raw("}}");
        });
    }
    w.field("tool_choice", &b.tool_choice);
    w.field("parallel_tool_calls", &b.parallel_tool_calls);
    w.field("reasoning_effort", &b.reasoning_effort);
    w.field("stream", &b.stream);
    w.field("stream_options", &b.stream_options);
    w.field("prompt_cache_key", &b.prompt_cache_key);
    w.raw("}");
    w.into_bytes()
}

/// One message of the chat request, as serde writes it.
fn message(w: &mut Writer, m: &MessageOut) {
    match m {
        MessageOut::System { content } => {
            w.raw("{\"role\":\"system\",\"content\":");
            w.str(content);
        }
        MessageOut::User { content } => {
            w.raw("{\"role\":\"user\",\"content\":");
            match content {
                UserContent::Text(text) => w.str(text),
                UserContent::Parts(parts) => w.list(parts, |w, part| match part {
                    PartOut::Text { text } => {
                        w.raw("{\"type\":\"text\",\"text\":");
                        w.str(text);
                        w.raw("}");
                    }
                    PartOut::ImageUrl { image_url } => {
                        w.raw("{\"type\":\"image_url\",\"image_url\":{\"url\":");
                        w.serde(image_url.url.as_ref());
                        w.raw("}}");
                    }
                }),
            }
        }
        MessageOut::Assistant {
            content,
            tool_calls,
        } => {
            w.raw("{\"role\":\"assistant\",\"content\":");
            match content {
                Some(text) => w.str(text),
                None => w.raw("null"),
            }
            if !tool_calls.is_empty() {
                w.raw(",\"tool_calls\":");
                w.list(tool_calls, |w, c| {
                    w.raw("{\"id\":");
                    w.str(&c.id);
                    w.raw(",\"type\":\"function\",\"function\":{\"name\":");
                    w.str(&c.function.name);
                    w.raw(",\"arguments\":");
                    w.serde(&c.function.arguments);
                    w.raw("}}");
                });
            }
        }
        MessageOut::Tool {
            tool_call_id,
            content,
        } => {
            w.raw("{\"role\":\"tool\",\"tool_call_id\":");
            w.str(tool_call_id);
            w.raw(",\"content\":");
            w.str(content);
        }
    }
    w.raw("}");
}

/// The system prompt (a string, or text blocks joined by newlines), without Claude Code's
/// attribution line: its hash changes every request and would defeat the target's prefix
/// cache.
fn system_prompt(raw: Option<&RawValue>) -> Result<Option<Str<'_>>, Refusal> {
    let Some(raw) = raw else { return Ok(None) };
    if let Some(s) = Str::string(raw) {
        if !s.starts_with(ATTRIBUTION) {
            return Ok(Some(s));
        }
        let text = s.text();
        let rest = text.split_once('\n').map_or("", |(_, r)| r);
        return Ok(Some(Str::Owned(rest.to_owned())));
    }
    let texts = blocks(Some(raw))?
        .into_iter()
        .filter_map(|b| b.text.and_then(Str::string))
        .filter(|s| !s.starts_with(ATTRIBUTION))
        .collect();
    Ok(Some(pivot::join(texts, "\n")))
}

/// A message's content as blocks (a string is one text block).
fn blocks(content: Option<&RawValue>) -> Result<Vec<BlockIn<'_>>, Refusal> {
    match content {
        Some(raw) if raw.get().starts_with('[') => serde_json::from_str(raw.get()).map_err(invalid),
        Some(raw) if raw.get().starts_with('"') => Ok(vec![BlockIn {
            kind: Some(Cow::Borrowed("text")),
            text: Some(raw),
            ..BlockIn::default()
        }]),
        _ => Ok(Vec::new()),
    }
}

/// An Anthropic assistant turn as a chat assistant message.
fn assistant(blocks: Vec<BlockIn<'_>>) -> Result<MessageOut<'_>, Refusal> {
    let mut texts = Vec::new();
    let mut tool_calls = Vec::new();
    for b in blocks {
        match b.kind.as_deref().unwrap_or("") {
            "text" => texts.extend(b.text.and_then(Str::string)),
            "tool_use" => tool_calls.push(CallOut {
                id: Str::of(b.id),
                kind: "function",
                function: FunctionCall {
                    name: Str::of(b.name),
                    arguments: Arguments(b.input),
                },
            }),
            // Earlier reasoning is the model's own; chat models do not take it back.
            "thinking" | "redacted_thinking" => {}
            other => return refuse(format!("a {other:?} content block")),
        }
    }
    let text = pivot::join(texts, "");
    Ok(MessageOut::Assistant {
        content: (!text.is_empty()).then_some(text),
        tool_calls,
    })
}

/// An Anthropic user turn as chat messages: a tool message per result, then the user's own
/// parts (text alone as a string: some compatible vendors take no part arrays).
fn user<'a>(blocks: Vec<BlockIn<'a>>, out: &mut Vec<MessageOut<'a>>) -> Result<(), Refusal> {
    let mut parts = Vec::new();
    for b in blocks {
        match b.kind.as_deref().unwrap_or("") {
            "tool_result" => {
                let mut texts = Vec::new();
                if let Some(raw) = b.content {
                    match Str::string(raw) {
                        Some(s) => texts.push(s),
                        None => {
                            for item in blocks_of_result(raw)? {
                                // Images a tool returned follow as the user's (a tool message
                                // is text).
                                if item.kind.as_deref() == Some("image") {
                                    parts.extend(image_part(&item));
                                }
                                texts.extend(item.text.and_then(Str::string));
                            }
                        }
                    }
                }
                let mut text = pivot::join(texts, "\n");
                if b.is_error == Some(Value::Bool(true)) && !text.starts_with("Error") {
                    text = Str::Owned(format!("Error: {}", text.text()));
                }
                out.push(MessageOut::Tool {
                    tool_call_id: Str::of(b.tool_use_id),
                    content: text,
                });
            }
            "text" => parts.push(PartOut::Text {
                text: Str::of(b.text),
            }),
            "image" => match image_part(&b) {
                Some(part) => parts.push(part),
                None => return refuse("an image of an unknown source".into()),
            },
            other => return refuse(format!("a {other:?} content block")),
        }
    }
    if parts.is_empty() {
        return Ok(());
    }
    let content = if parts.iter().all(|p| matches!(p, PartOut::Text { .. })) {
        let texts = parts
            .into_iter()
            .map(|p| match p {
                PartOut::Text { text } => text,
                PartOut::ImageUrl { .. } => unreachable!("all text"),
            })
            .collect();
        UserContent::Text(pivot::join(texts, "\n"))
    } else {
        UserContent::Parts(parts)
    };
    out.push(MessageOut::User { content });
    Ok(())
}

/// A tool result's content blocks.
fn blocks_of_result(raw: &RawValue) -> Result<Vec<BlockIn<'_>>, Refusal> {
    if raw.get().starts_with('[') {
        serde_json::from_str(raw.get()).map_err(invalid)
    } else {
        Ok(Vec::new())
    }
}

/// An image block as a chat image part (base64 as a `data:` URL).
fn image_part<'a>(b: &BlockIn<'a>) -> Option<PartOut<'a>> {
    let src = b.source.as_ref()?;
    let url = match src.kind.as_deref()? {
        "base64" => Cow::Owned(format!(
            "data:{};base64,{}",
            src.media_type.as_deref().unwrap_or("image/png"),
            src.data.as_deref()?
        )),
        "url" => src.url.clone()?,
        _ => return None,
    };
    Some(PartOut::ImageUrl {
        image_url: UrlOut { url },
    })
}
