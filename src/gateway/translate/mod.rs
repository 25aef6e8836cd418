//! Translation between the four wire formats (Anthropic Messages, OpenAI Chat Completions,
//! OpenAI Responses, Gemini generateContent), through Anthropic Messages as the pivot:
//! requests and whole answers as Anthropic JSON, streams as [`Ev`] events. A format needs
//! only its way to and from the pivot, so every direction exists. A request feature the
//! target cannot express and that changes the answer is refused ([`Refusal`]); hints that
//! do not change it (cache markers, metadata) are dropped. README has the table.

mod anthropic;
mod chat;
mod gemini;
mod responses;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::endpoint::{Endpoint, GeminiMethod, GeminiVersion};
use super::frame::{self, Framer};
use super::protocol::{Kind, Protocol, error_body};
use super::usage::{Usage, Wire};

/// The answer length asked of an Anthropic upstream when the client's protocol does not
/// require one (Anthropic does).
pub const DEFAULT_MAX_TOKENS: i64 = 8192;

/// One wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Anthropic,
    Chat,
    Responses,
    Gemini,
}

impl Format {
    /// The format a client endpoint speaks.
    pub fn of(endpoint: &Endpoint) -> Format {
        match endpoint {
            Endpoint::Messages | Endpoint::CountTokens => Format::Anthropic,
            Endpoint::ChatCompletions => Format::Chat,
            Endpoint::Responses => Format::Responses,
            Endpoint::Gemini { .. } => Format::Gemini,
        }
    }

    pub fn wire(self) -> Wire {
        match self {
            Format::Anthropic => Wire::Anthropic,
            Format::Chat => Wire::OpenaiChat,
            Format::Responses => Wire::OpenaiResponses,
            Format::Gemini => Wire::Gemini,
        }
    }

    fn protocol(self) -> Protocol {
        match self {
            Format::Anthropic => Protocol::Anthropic,
            Format::Chat | Format::Responses => Protocol::Openai,
            Format::Gemini => Protocol::Gemini,
        }
    }
}

/// A request feature the target format cannot express and that would change the answer.
/// The client gets a 400 naming it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

impl Refusal {
    fn new(feature: impl std::fmt::Display, target: Format) -> Refusal {
        let name = match target {
            Format::Anthropic => "an Anthropic",
            Format::Chat => "an OpenAI chat",
            Format::Responses => "an OpenAI Responses",
            Format::Gemini => "a Gemini",
        };
        Refusal(format!(
            "{feature} cannot be translated for {name} account, and leaving it out would change \
             the answer; send this request to an account of its own protocol"
        ))
    }
}

/// How one request is translated for one account: the formats on each side, the upstream
/// endpoint, and what the answer must say for the client.
#[derive(Clone, Debug)]
pub struct Translation {
    pub client: Format,
    pub upstream: Format,
    pub endpoint: Endpoint,
    pub stream: bool,
    /// The model as the client named it: answers report it.
    pub model: String,
    /// The request id, the seed of the ids the gateway makes up.
    pub id: String,
    /// A chat client that asked for the usage chunk.
    pub include_usage: bool,
    /// A Gemini client that asked for SSE (`alt=sse`) rather than a JSON array stream.
    pub gemini_sse: bool,
    /// The conversation, for the target's prompt cache key (cleared for a target without
    /// one: [`Translation::for_account`]).
    pub session: Option<String>,
    /// When the request started, in seconds.
    pub created: i64,
    /// A Responses client's freeform tools, whose calls go back as `custom_tool_call`s.
    pub custom_tools: Vec<String>,
}

/// What a translation needs from the client's request.
pub struct Asked<'a> {
    pub endpoint: &'a Endpoint,
    pub stream: bool,
    pub model: &'a str,
    pub request_id: &'a str,
    pub query: Option<&'a str>,
    pub session: Option<&'a str>,
    pub started_at_ms: i64,
}

impl Translation {
    /// The translation for sending `asked` to an account speaking `upstream`, or `None` when
    /// the account speaks the client's own protocol (an OpenAI-compatible account takes chat
    /// and Responses as they are).
    pub fn plan(asked: &Asked, upstream: Protocol) -> Option<Translation> {
        let client = Format::of(asked.endpoint);
        let to = match upstream {
            Protocol::Anthropic => Format::Anthropic,
            Protocol::Openai if client == Format::Responses => Format::Responses,
            Protocol::Openai => Format::Chat,
            Protocol::Gemini => Format::Gemini,
        };
        if to == client {
            return None;
        }
        let count = !asked.endpoint.billed();
        let endpoint = match to {
            Format::Anthropic if count => Endpoint::CountTokens,
            Format::Anthropic => Endpoint::Messages,
            Format::Chat => Endpoint::ChatCompletions,
            Format::Responses => Endpoint::Responses,
            Format::Gemini => Endpoint::Gemini {
                model: asked.model.to_owned(),
                method: if count {
                    GeminiMethod::CountTokens
                } else if asked.stream {
                    GeminiMethod::Stream
                } else {
                    GeminiMethod::Generate
                },
                version: GeminiVersion::V1beta,
            },
        };
        let query_has = |k: &str, v: &str| {
            asked.query.is_some_and(|q| {
                form_urlencoded::parse(q.as_bytes()).any(|(a, b)| a == k && b == v)
            })
        };
        Some(Translation {
            client,
            upstream: to,
            endpoint,
            stream: asked.stream,
            model: asked.model.to_owned(),
            id: asked.request_id.to_owned(),
            include_usage: false,
            gemini_sse: query_has("alt", "sse"),
            session: asked.session.map(str::to_owned),
            created: asked.started_at_ms / 1000,
            custom_tools: Vec::new(),
        })
    }

    /// Fits the translation to the account at `base_url`: OpenAI's own API takes a prompt
    /// cache key; compatible vendors do not document one, and some refuse unknown fields.
    pub fn for_account(&mut self, base_url: &str) {
        let host = base_url
            .split_once("://")
            .map_or(base_url, |(_, rest)| rest)
            .split(['/', ':'])
            .next()
            .unwrap_or("");
        if host != "api.openai.com" {
            self.session = None;
        }
    }

    /// The query string for the upstream: Gemini streams are asked for as SSE.
    pub fn query(&self) -> Option<&'static str> {
        matches!(
            self.endpoint,
            Endpoint::Gemini {
                method: GeminiMethod::Stream,
                ..
            }
        )
        .then_some("alt=sse")
    }

    /// Whether this is a token count (answered with a count, never charged).
    fn counting(&self) -> bool {
        !self.endpoint.billed()
    }

    /// The client's body as the upstream's, for `upstream_model` (after the account's
    /// mapping).
    pub fn request(&mut self, body: &[u8], upstream_model: &str) -> Result<Bytes, Refusal> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| Refusal(format!("the request body is not valid JSON: {e}")))?;
        if !v.is_object() {
            return Err(Refusal("the request body must be a JSON object".into()));
        }
        if self.client == Format::Chat {
            self.include_usage = v
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        }
        let mut pivot = match self.client {
            Format::Anthropic => v,
            Format::Chat => chat::to_anthropic(v)?,
            Format::Responses => {
                self.custom_tools = responses::custom_tool_names(&v);
                responses::to_anthropic(&v)?
            }
            Format::Gemini => gemini::to_anthropic(&v)?,
        };
        let p = pivot.as_object_mut().expect("the pivot is an object");
        p.insert("model".into(), Value::String(upstream_model.to_owned()));
        if self.counting() {
            p.remove("max_tokens");
            p.remove("stream");
        } else {
            p.insert("stream".into(), Value::Bool(self.stream));
            p.entry("max_tokens").or_insert(json!(DEFAULT_MAX_TOKENS));
        }
        if self.client == Format::Anthropic {
            drop_attribution(p);
        }
        if self.upstream == Format::Anthropic {
            keep_thinking_valid(p);
        }
        let out = match self.upstream {
            Format::Anthropic => pivot,
            // An OpenAI account is spoken to in chat (Responses reach it untranslated).
            Format::Chat | Format::Responses => chat::from_anthropic(pivot, self)?,
            Format::Gemini => gemini::from_anthropic(&pivot, self)?,
        };
        Ok(Bytes::from(
            serde_json::to_vec(&out).expect("a value serializes"),
        ))
    }

    /// A whole upstream answer (a success) as the client's; `None` when it is not JSON.
    pub fn response(&self, body: &[u8]) -> Option<Bytes> {
        let v: Value = serde_json::from_slice(body).ok()?;
        if self.counting() {
            let n = v
                .get("input_tokens")
                .or_else(|| v.get("totalTokens"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            return Some(Bytes::from(count_answer(self.client, n).to_string()));
        }
        let message = match self.upstream {
            Format::Anthropic => v,
            Format::Chat | Format::Responses => chat::response_to_anthropic(&v, self),
            Format::Gemini => gemini::response_to_anthropic(&v, self),
        };
        let out = match self.client {
            Format::Anthropic => {
                let mut m = message;
                m["model"] = Value::String(self.model.clone());
                m
            }
            Format::Chat => chat::response_from_anthropic(&message, self),
            Format::Responses => responses::response_from_anthropic(&message, self),
            Format::Gemini => gemini::response_from_anthropic(&message, self),
        };
        Some(Bytes::from(
            serde_json::to_vec(&out).expect("a value serializes"),
        ))
    }

    /// An upstream error answer (any shape) in the client's, its status kept.
    pub fn error(&self, status: StatusCode, message: &str) -> Bytes {
        let kind = match status.as_u16() {
            401 => Kind::Authentication,
            403 => Kind::Permission,
            404 => Kind::NotFound,
            413 => Kind::TooLarge,
            429 => Kind::RateLimited,
            529 => Kind::Overloaded,
            s if s >= 500 => Kind::UpstreamFailed,
            _ => Kind::InvalidRequest,
        };
        let body = error_body(Some(self.client.protocol()), kind, status, message);
        Bytes::from(body.to_string())
    }

    /// The reader and writer for a translated stream.
    pub fn stream(&self) -> Stream {
        let reader: Box<dyn Read> = match self.upstream {
            Format::Anthropic => Box::new(anthropic::Reader::default()),
            Format::Chat | Format::Responses => Box::new(chat::Reader::new(self)),
            Format::Gemini => Box::new(gemini::Reader::new(self)),
        };
        let writer: Box<dyn Write> = match self.client {
            Format::Anthropic => Box::new(anthropic::Writer::new(self)),
            Format::Chat => Box::new(chat::Writer::new(self)),
            Format::Responses => Box::new(responses::Writer::new(self)),
            Format::Gemini => Box::new(gemini::Writer::new(self)),
        };
        Stream {
            framer: Framer::default(),
            reader,
            writer,
            events: Vec::new(),
        }
    }

    /// The media type of the answer the client gets.
    pub fn content_type(&self) -> &'static str {
        if self.stream && (self.client != Format::Gemini || self.gemini_sse) {
            "text/event-stream"
        } else {
            "application/json"
        }
    }
}

/// A token count in the client's shape.
fn count_answer(client: Format, n: i64) -> Value {
    match client {
        Format::Gemini => json!({ "totalTokens": n }),
        _ => json!({ "input_tokens": n }),
    }
}

/// An estimate of a request's prompt tokens for a platform that has no count endpoint: one
/// token per four bytes of the conversation's JSON text (the ratio OpenAI documents for
/// English), at least one.
pub fn estimate_tokens(body: &[u8]) -> i64 {
    (body.len() as i64 / 4).max(1)
}

/// The estimated count answer for a client of `endpoint`.
pub fn estimated_count(endpoint: &Endpoint, body: &[u8]) -> Bytes {
    Bytes::from(count_answer(Format::of(endpoint), estimate_tokens(body)).to_string())
}

/// Claude Code opens its system prompt with a per-request attribution line
/// (`x-anthropic-billing-header: cc_version=…; cch=…`). Its hash changes every request, so
/// copied into another vendor's prompt it would defeat that vendor's prefix cache: it is left
/// out of translated prompts.
fn drop_attribution(p: &mut Map<String, Value>) {
    const MARK: &str = "x-anthropic-billing-header:";
    match p.get_mut("system") {
        Some(Value::String(s)) if s.starts_with(MARK) => {
            *s = s.split_once('\n').map_or("", |(_, rest)| rest).to_owned();
        }
        Some(Value::Array(blocks)) => blocks.retain(|b| {
            !b.get("text")
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with(MARK))
        }),
        _ => {}
    }
}

/// With thinking on, Anthropic wants an assistant turn that calls a tool to open with its
/// thinking block. A client of another protocol may not have kept it (chat has nowhere to
/// put it): such a request is sent without thinking rather than refused upstream.
fn keep_thinking_valid(p: &mut Map<String, Value>) {
    if p.get("thinking")
        .is_none_or(|t| str_of(t, "type") != Some("enabled"))
    {
        return;
    }
    let broken = p
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| str_of(m, "role") == Some("assistant"))
        .any(|m| {
            let blocks = m
                .get("content")
                .and_then(Value::as_array)
                .map(Vec::as_slice);
            let blocks = blocks.unwrap_or(&[]);
            let calls = blocks.iter().any(|b| str_of(b, "type") == Some("tool_use"));
            let first = blocks.first().and_then(|b| str_of(b, "type"));
            calls && !matches!(first, Some("thinking" | "redacted_thinking"))
        });
    if broken {
        p.remove("thinking");
    }
}

/// One event of a response stream in the pivot: Anthropic's events, typed.
#[derive(Clone, Debug, PartialEq)]
pub enum Ev {
    Start {
        id: String,
        usage: Usage,
    },
    Open {
        index: usize,
        block: Block,
    },
    Text {
        index: usize,
        text: String,
    },
    Thinking {
        index: usize,
        text: String,
    },
    Signature {
        index: usize,
        signature: String,
    },
    Args {
        index: usize,
        json: String,
    },
    Close {
        index: usize,
    },
    /// The stop reason (Anthropic's words) and the whole response's usage.
    End {
        stop: String,
        usage: Usage,
    },
    Done,
    Error {
        message: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    Text,
    Thinking,
    Tool { id: String, name: String },
}

/// Reads one upstream format's stream events into pivot events.
trait Read: Send {
    /// One SSE event (its name and data).
    fn event(&mut self, name: &str, data: &[u8], out: &mut Vec<Ev>);
    /// The upstream closed the stream.
    fn finish(&mut self, out: &mut Vec<Ev>);
}

/// Writes pivot events as one client format's stream.
trait Write: Send {
    fn write(&mut self, ev: &Ev, out: &mut Vec<u8>);
    /// After the last event (a JSON array stream closes its array).
    fn finish(&mut self, _out: &mut Vec<u8>) {}
}

/// A stream being translated, event by event as the upstream's bytes arrive.
pub struct Stream {
    framer: Framer,
    reader: Box<dyn Read>,
    writer: Box<dyn Write>,
    events: Vec<Ev>,
}

impl Stream {
    /// The client's bytes for the next upstream chunk (empty until an event completes).
    pub fn feed(&mut self, chunk: &[u8]) -> Bytes {
        let (reader, events) = (&mut self.reader, &mut self.events);
        self.framer.push(chunk, |raw| {
            let ev = frame::parse(raw);
            reader.event(&ev.name, &ev.data, events);
        });
        self.flush()
    }

    /// The upstream ended: the rest of the client's stream.
    pub fn finish(&mut self) -> Bytes {
        if let Some(raw) = self.framer.finish() {
            let ev = frame::parse(&raw);
            self.reader.event(&ev.name, &ev.data, &mut self.events);
        }
        self.reader.finish(&mut self.events);
        let mut out = self.flush().to_vec();
        self.writer.finish(&mut out);
        Bytes::from(out)
    }

    fn flush(&mut self) -> Bytes {
        let mut out = Vec::new();
        for ev in self.events.drain(..) {
            self.writer.write(&ev, &mut out);
        }
        Bytes::from(out)
    }
}

/// An SSE event with a name.
fn sse(out: &mut Vec<u8>, name: &str, data: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// An SSE event of data only.
fn sse_data(out: &mut Vec<u8>, data: &Value) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// Anthropic usage JSON.
fn anthropic_usage(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cache_creation_input_tokens": u.cache_creation_input_tokens,
        "cache_read_input_tokens": u.cache_read_input_tokens,
    })
}

/// The usage of an Anthropic message.
fn usage_of(message: &Value) -> Usage {
    let mut u = Usage::default();
    if let Some(v) = message.get("usage") {
        u.merge_anthropic(v);
    }
    u
}

/// The prompt as OpenAI counts it: input, cache reads and cache writes together.
fn prompt_tokens(u: &Usage) -> i64 {
    u.input_tokens
        .saturating_add(u.cache_read_input_tokens)
        .saturating_add(u.cache_creation_input_tokens)
}

/// A content value (a string, or blocks) as its text parts joined.
fn text_of(content: &Value) -> String {
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
fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Takes field `k` out of `v` (null when absent).
fn take(v: &mut Value, k: &str) -> Value {
    v.get_mut(k).map(Value::take).unwrap_or(Value::Null)
}

/// An array's elements, moved out (none when it is not an array).
fn into_vec(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        _ => Vec::new(),
    }
}

/// A content value as text, moved when it is a string, else its parts' texts joined.
fn into_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => text_of(&other),
    }
}

/// A string field.
fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// An Anthropic image block's source as a URL (a `data:` URL for base64).
fn image_url(block: &Value) -> Option<String> {
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
fn image_block(url: &str) -> Value {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((media, data)) = rest.split_once(";base64,")
    {
        return json!({ "type": "image", "source": { "type": "base64", "media_type": media, "data": data } });
    }
    json!({ "type": "image", "source": { "type": "url", "url": url } })
}

/// A tool call's arguments (JSON text) as an object; text that is not a JSON object is kept
/// under `_raw` so nothing the model wrote is lost.
fn args_object(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "_raw": arguments }),
    }
}

/// A thinking budget for an effort level, and back.
fn budget_for(effort: &str) -> Option<i64> {
    match effort {
        "minimal" | "low" => Some(2048),
        "medium" => Some(8192),
        "high" | "xhigh" => Some(24576),
        _ => None,
    }
}

fn effort_for(budget: i64) -> &'static str {
    match budget {
        ..=4096 => "low",
        4097..=16384 => "medium",
        _ => "high",
    }
}

/// Sets Anthropic `thinking` with `budget`, keeping it below the answer's length, and drops
/// sampling settings Anthropic refuses with thinking on.
fn set_thinking(p: &mut Map<String, Value>, budget: i64) {
    let max = p
        .get("max_tokens")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let budget = budget.min(max / 2);
    if budget < 1024 {
        return;
    }
    p.insert(
        "thinking".into(),
        json!({ "type": "enabled", "budget_tokens": budget }),
    );
    p.remove("temperature");
    p.remove("top_p");
    p.remove("top_k");
}

/// The Anthropic stop reason for an OpenAI finish reason, and back.
fn stop_from_openai(finish: &str) -> &'static str {
    match finish {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

fn openai_finish(stop: &str) -> &'static str {
    match stop {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// Merges consecutive messages of one role (Anthropic wants user and assistant turns to
/// alternate; tool results arrive as their own messages elsewhere).
fn merge_turns(messages: Vec<(String, Vec<Value>)>) -> Vec<Value> {
    let mut out: Vec<(String, Vec<Value>)> = Vec::new();
    for (role, blocks) in messages {
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((r, b)) if *r == role => b.extend(blocks),
            _ => out.push((role, blocks)),
        }
    }
    out.into_iter()
        .map(|(role, content)| {
            obj([
                ("role", Value::String(role)),
                ("content", Value::Array(content)),
            ])
        })
        .collect()
}

/// An Anthropic message's content as blocks (a string is one text block).
fn blocks_of(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![json!({ "type": "text", "text": s })],
        Value::Array(a) => a.clone(),
        _ => Vec::new(),
    }
}

/// The tools of an Anthropic request, refusing server tools (which run at Anthropic).
fn custom_tools(pivot: &Value, target: Format) -> Result<Vec<&Value>, Refusal> {
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

#[cfg(test)]
mod tests;
