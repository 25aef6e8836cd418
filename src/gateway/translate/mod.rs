//! Translation between the four wire formats (Anthropic Messages, OpenAI Chat Completions,
//! OpenAI Responses, Gemini generateContent), through Anthropic Messages as the pivot:
//! requests and whole answers as Anthropic JSON, streams as [`Ev`] events. A format needs
//! only its way to and from the pivot, so every direction exists. A request feature the
//! target cannot express and that changes the answer is refused ([`Refusal`]); hints that
//! do not change it (cache markers, metadata) are dropped. README has the table.

mod anthropic;
mod chat;
mod chat_answer;
mod chat_request;
mod chat_stream;
mod chat_upstream;
mod gemini;
mod gemini_stream;
mod pivot;
mod responses;
mod responses_request;
mod responses_stream;
mod responses_up;
mod stream;
mod util;
mod write;

pub use stream::{Block, Builder, Ev, Stream};
use stream::{Read, Write, sse, sse_data};
use util::*;

use std::borrow::Cow;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::checked::from_checked;
use super::endpoint::{Endpoint, GeminiMethod, GeminiVersion};
use super::frame::{self, Framer};
use super::protocol::{Kind, Protocol, error_body};
use super::skim::{self, Notes};
use super::usage::{Counts, Report, Usage, Wire};

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
            Endpoint::Responses | Endpoint::ResponsesCompact => Format::Responses,
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

/// Which of OpenAI's APIs an account serves (for an account of another protocol, unused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenaiApis {
    ChatOnly,
    ResponsesOnly,
    Both,
}

/// A request feature the target format cannot express and that would change the answer.
/// The client gets a 400 naming it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

impl Refusal {
    /// A body that is JSON but not a request of its `kind` (a field of the wrong type).
    fn unreadable(kind: &str, e: serde_json::Error) -> Refusal {
        Refusal(format!(
            "the request body is not a valid {kind} request: {e}"
        ))
    }

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
    /// the account speaks the client's own protocol. An OpenAI account is spoken to in chat,
    /// in Responses when it speaks only that (ChatGPT's Codex backend), and takes a Responses
    /// client's request as it is when it serves the Responses API too.
    pub fn plan(asked: &Asked, upstream: Protocol, openai: OpenaiApis) -> Option<Translation> {
        let client = Format::of(asked.endpoint);
        let to = match upstream {
            Protocol::Anthropic => Format::Anthropic,
            Protocol::Openai if openai == OpenaiApis::ResponsesOnly => Format::Responses,
            Protocol::Openai if client == Format::Responses && openai == OpenaiApis::Both => {
                Format::Responses
            }
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
        let host = crate::domain::host_of(base_url);
        // ChatGPT's Codex backend takes one too (Codex CLI sends its session as it).
        if host != "api.openai.com" && host != "chatgpt.com" {
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

    /// [`Translation::request_text`] of a body's bytes, for tests (the gateway checks a body
    /// is text where it arrives, `gateway::body`).
    #[cfg(test)]
    pub fn request(
        &mut self,
        body: &[u8],
        upstream_model: &str,
        notes: Option<&Notes>,
    ) -> Result<Bytes, Refusal> {
        let text = std::str::from_utf8(body)
            .map_err(|e| Refusal(format!("the request body is not valid UTF-8: {e}")))?;
        self.request_text(text, upstream_model, notes)
    }

    /// The client's body as the upstream's, for `upstream_model` (after the account's
    /// mapping). `notes` are where the body's long strings lie, as the routing read noted
    /// them (`None` when it did not read this body: it is then checked and noted here).
    pub fn request_text(
        &mut self,
        text: &str,
        upstream_model: &str,
        notes: Option<&Notes>,
    ) -> Result<Bytes, Refusal> {
        let body = text.as_bytes();
        // Chat and Responses requests are read typed, and written as they were read for an
        // Anthropic or a chat account.
        let typed = match self.client {
            Format::Chat => {
                let read = chat_request::to_pivot(text, &*noted(body, notes)?)?;
                self.include_usage = read.include_usage;
                Some(read.request)
            }
            Format::Responses => {
                let read = responses_request::to_pivot(text, &*noted(body, notes)?)?;
                self.custom_tools = read.custom_tools;
                Some(read.request)
            }
            Format::Anthropic | Format::Gemini => None,
        };
        if let Some(mut p) = typed {
            p.model = upstream_model.to_owned();
            if self.counting() {
                p.max_tokens = None;
            } else {
                p.stream = Some(self.stream);
                p.max_tokens.get_or_insert(DEFAULT_MAX_TOKENS);
            }
            return match self.upstream {
                Format::Anthropic => {
                    p.keep_thinking_valid();
                    Ok(Bytes::from(write::request(&p, body.len())))
                }
                Format::Chat => {
                    let text = serde_json::to_string(&p).expect("a request serializes");
                    chat_upstream::from_anthropic(&text, None, upstream_model, self)
                }
                Format::Responses | Format::Gemini => {
                    self.upstream_body(p.into_value(), body.len())
                }
            };
        }
        if self.client == Format::Anthropic && self.upstream == Format::Chat {
            return chat_upstream::from_anthropic(text, notes, upstream_model, self);
        }
        let v: Value = from_checked(text, &*noted(body, notes)?)
            .map_err(|e| Refusal(format!("the request body is not valid JSON: {e}")))?;
        if !v.is_object() {
            return Err(Refusal("the request body must be a JSON object".into()));
        }
        let mut pivot = match self.client {
            Format::Gemini => gemini::to_anthropic(&v)?,
            _ => v,
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
        self.upstream_body(pivot, body.len())
    }

    /// The pivot request as the upstream's.
    fn upstream_body(&self, pivot: Value, size_hint: usize) -> Result<Bytes, Refusal> {
        let out = match self.upstream {
            Format::Anthropic => pivot,
            // Written from the pivot's text, as an Anthropic client's request is.
            Format::Chat => {
                let text = serde_json::to_string(&pivot).expect("a value serializes");
                let model = pivot["model"].as_str().unwrap_or("");
                return chat_upstream::from_anthropic(&text, None, model, self);
            }
            Format::Responses => responses_up::from_anthropic(pivot, self)?,
            Format::Gemini => gemini::from_anthropic(&pivot, self)?,
        };
        Ok(to_bytes(&out, size_hint))
    }

    /// An Anthropic account's whole answer to a chat or Responses client, or a chat account's
    /// to an Anthropic client, as the client's, with what the answer says about itself
    /// (usage, model), from one reading of it: the same as [`Self::response`] and
    /// [`Report::from_json`], which read it twice. `None` for other directions, and for an
    /// answer that cannot be read so.
    pub fn response_and_report(&self, body: &[u8]) -> Option<(Bytes, Report)> {
        if self.counting() {
            return None;
        }
        match (self.upstream, self.client) {
            (Format::Anthropic, Format::Chat | Format::Responses) => {
                let answer: pivot::Answer = serde_json::from_slice(body).ok()?;
                Some((self.answer_to_client(&answer, body.len()), answer.report()))
            }
            (Format::Chat, Format::Anthropic) => {
                let (parts, report) = chat_answer::read(body)?;
                let message = chat::message_of(parts, self);
                Some((to_bytes(&message, body.len()), report))
            }
            _ => None,
        }
    }

    fn answer_to_client(&self, answer: &pivot::Answer, size: usize) -> Bytes {
        if self.client == Format::Chat {
            let c = chat::response_from_anthropic(answer, self);
            Bytes::from(chat::write::completion(&c, size))
        } else {
            let a = responses::response_from_anthropic(answer, self);
            Bytes::from(responses::write::answer(&a, size))
        }
    }

    /// A whole upstream answer (a success) as the client's; `None` when it is not JSON.
    pub fn response(&self, body: &[u8]) -> Option<Bytes> {
        if self.counting() {
            let v: Value = serde_json::from_slice(body).ok()?;
            let n = v
                .get("input_tokens")
                .or_else(|| v.get("totalTokens"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            return Some(Bytes::from(count_answer(self.client, n).to_string()));
        }
        let size = body.len();
        match self.client {
            Format::Chat | Format::Responses => {
                // Read typed: from the text itself when it is Anthropic's, else from the
                // tree the upstream's answer was turned into.
                let tree;
                let answer: pivot::Answer = if self.upstream == Format::Anthropic {
                    serde_json::from_slice(body).ok()?
                } else {
                    tree = self.anthropic_answer(body)?;
                    serde::Deserialize::deserialize(&tree).ok()?
                };
                Some(self.answer_to_client(&answer, size))
            }
            // Written as the upstream's converter builds it.
            Format::Anthropic => {
                let v: Value = serde_json::from_slice(body).ok()?;
                Some(to_bytes(&self.converted(&v), size))
            }
            Format::Gemini => {
                let message = self.anthropic_answer(body)?;
                Some(to_bytes(
                    &gemini::response_from_anthropic(&message, self),
                    size,
                ))
            }
        }
    }

    /// A whole upstream answer (its tree) as an Anthropic message.
    fn converted<'a>(&'a self, v: &'a Value) -> Converted<'a> {
        match self.upstream {
            Format::Anthropic => Converted::Anthropic(v),
            Format::Chat => Converted::Chat(chat::response_to_anthropic(v, self)),
            Format::Responses => Converted::Tree(responses_up::response_to_anthropic(v, self)),
            Format::Gemini => Converted::Tree(gemini::response_to_anthropic(v, self)),
        }
    }

    /// A whole upstream answer as an Anthropic message, as a tree; `None` when it is not JSON.
    fn anthropic_answer(&self, body: &[u8]) -> Option<Value> {
        let v: Value = serde_json::from_slice(body).ok()?;
        Some(serde_json::to_value(self.converted(&v)).expect("a message serializes"))
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
            Format::Chat => Box::new(chat_stream::Reader::new(self)),
            Format::Responses => Box::new(responses_up::Reader::new(self)),
            Format::Gemini => Box::new(gemini_stream::Reader::new(self)),
        };
        let writer: Box<dyn Write> = match self.client {
            Format::Anthropic => Box::new(anthropic::Writer::new(self)),
            Format::Chat => Box::new(chat_stream::Writer::new(self)),
            Format::Responses => Box::new(responses_stream::Writer::new(self)),
            Format::Gemini => Box::new(gemini_stream::Writer::new(self)),
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

/// Where the long strings of `body` lie: `notes` when the routing read noted them, else
/// noted now (checking the body).
fn noted<'n>(body: &[u8], notes: Option<&'n Notes>) -> Result<Cow<'n, Notes>, Refusal> {
    if let Some(n) = notes {
        return Ok(Cow::Borrowed(n));
    }
    let (_, n) = skim::note(body)
        .map_err(|e| Refusal(format!("the request body is not valid JSON: {e}")))?;
    Ok(Cow::Owned(n))
}

/// `v` as JSON, written into a buffer sized for about `size_hint` bytes at once (a translated
/// body is about the size of the one it came from) rather than grown by doubling.
fn to_bytes(v: &impl serde::Serialize, size_hint: usize) -> Bytes {
    let mut out = Vec::with_capacity(size_hint + size_hint / 8 + 256);
    serde_json::to_writer(&mut out, v).expect("a value serializes");
    Bytes::from(out)
}

/// An upstream's whole answer as an Anthropic message, as its converter built it.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Converted<'a> {
    Anthropic(&'a Value),
    Chat(util::Message<'a, chat::Block<'a>>),
    Tree(util::Message<'a, Value>),
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

/// How Claude Code's attribution line starts (see [`drop_attribution`]).
const ATTRIBUTION: &str = "x-anthropic-billing-header:";

/// Claude Code opens its system prompt with a per-request attribution line
/// (`x-anthropic-billing-header: cc_version=…; cch=…`). Its hash changes every request, so
/// copied into another vendor's prompt it would defeat that vendor's prefix cache: it is left
/// out of translated prompts.
fn drop_attribution(p: &mut Map<String, Value>) {
    match p.get_mut("system") {
        Some(Value::String(s)) if s.starts_with(ATTRIBUTION) => {
            *s = s.split_once('\n').map_or("", |(_, rest)| rest).to_owned();
        }
        Some(Value::Array(blocks)) => blocks.retain(|b| {
            !b.get("text")
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with(ATTRIBUTION))
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

#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;
