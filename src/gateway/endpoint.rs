//! The relayed endpoints of the three protocols: what each reads from a request (model, stream,
//! conversation), where it goes upstream, and which account platforms serve it.

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;

use super::pick::{PickError, pick_text, set_field};
use super::protocol::{CLAUDE_CODE_SESSION, CODEX_SESSION, Protocol};
use super::skim::Notes;
use super::usage::Wire;
use crate::domain::Platform;

/// Gemini methods under `/v1beta/models/{model}:{method}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeminiMethod {
    Generate,
    Stream,
    CountTokens,
}

impl GeminiMethod {
    pub fn parse(name: &str) -> Option<GeminiMethod> {
        match name {
            "generateContent" => Some(GeminiMethod::Generate),
            "streamGenerateContent" => Some(GeminiMethod::Stream),
            "countTokens" => Some(GeminiMethod::CountTokens),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            GeminiMethod::Generate => "generateContent",
            GeminiMethod::Stream => "streamGenerateContent",
            GeminiMethod::CountTokens => "countTokens",
        }
    }
}

/// The Gemini API version a client used, kept for the upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeminiVersion {
    V1,
    V1beta,
}

/// One relayed endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Messages,
    CountTokens,
    ChatCompletions,
    Responses,
    /// Codex's remote compaction of a conversation (`/v1/responses/compact`), relayed as it is.
    ResponsesCompact,
    /// The model comes from the path; `v1beta` (Google's SDKs' default) or `v1`.
    Gemini {
        model: String,
        method: GeminiMethod,
        version: GeminiVersion,
    },
}

pub const ALL_PLATFORMS: &[Platform] = &[
    Platform::Anthropic,
    Platform::ClaudeConsole,
    Platform::ClaudeOauth,
    Platform::Openai,
    Platform::Gemini,
    Platform::CodexOauth,
    Platform::GeminiOauth,
];

/// What a compaction can go to: the Responses platforms themselves.
const COMPACTING: &[Platform] = &[Platform::Openai, Platform::CodexOauth];

impl Endpoint {
    /// Recognises a relayed path (`/v1beta/models/gemini-2.5-pro:generateContent` included).
    pub fn from_path(path: &str) -> Option<Endpoint> {
        match path {
            "/v1/messages" => Some(Endpoint::Messages),
            "/v1/messages/count_tokens" => Some(Endpoint::CountTokens),
            "/v1/chat/completions" => Some(Endpoint::ChatCompletions),
            "/v1/responses" => Some(Endpoint::Responses),
            "/v1/responses/compact" => Some(Endpoint::ResponsesCompact),
            _ => {
                let (version, rest) = match path.strip_prefix("/v1beta/models/") {
                    Some(rest) => (GeminiVersion::V1beta, rest),
                    None => (GeminiVersion::V1, path.strip_prefix("/v1/models/")?),
                };
                let (model, method) = rest.rsplit_once(':')?;
                if model.is_empty() || model.contains('/') {
                    return None;
                }
                Some(Endpoint::Gemini {
                    model: model.to_owned(),
                    method: GeminiMethod::parse(method)?,
                    version,
                })
            }
        }
    }

    pub fn protocol(&self) -> Protocol {
        match self {
            Endpoint::Messages | Endpoint::CountTokens => Protocol::Anthropic,
            Endpoint::ChatCompletions | Endpoint::Responses | Endpoint::ResponsesCompact => {
                Protocol::Openai
            }
            Endpoint::Gemini { .. } => Protocol::Gemini,
        }
    }

    pub fn wire(&self) -> Wire {
        match self {
            Endpoint::Messages | Endpoint::CountTokens => Wire::Anthropic,
            Endpoint::ChatCompletions => Wire::OpenaiChat,
            Endpoint::Responses | Endpoint::ResponsesCompact => Wire::OpenaiResponses,
            Endpoint::Gemini { .. } => Wire::Gemini,
        }
    }

    /// The platforms that can serve the endpoint: its own directly and the rest through
    /// translation; a compaction only the Responses platforms, as it is.
    pub fn platforms(&self) -> &'static [Platform] {
        match self {
            Endpoint::ResponsesCompact => COMPACTING,
            _ => ALL_PLATFORMS,
        }
    }

    /// Whether answers are charged (token counting is free upstream, and here).
    pub fn billed(&self) -> bool {
        !matches!(
            self,
            Endpoint::CountTokens
                | Endpoint::Gemini {
                    method: GeminiMethod::CountTokens,
                    ..
                }
        )
    }

    /// The name in the request log.
    pub fn log_name(&self) -> &'static str {
        match self {
            Endpoint::Messages => "/v1/messages",
            Endpoint::CountTokens => "/v1/messages/count_tokens",
            Endpoint::ChatCompletions => "/v1/chat/completions",
            Endpoint::Responses => "/v1/responses",
            Endpoint::ResponsesCompact => "/v1/responses/compact",
            Endpoint::Gemini { method, .. } => match method {
                GeminiMethod::Generate => "/v1beta/models:generateContent",
                GeminiMethod::Stream => "/v1beta/models:streamGenerateContent",
                GeminiMethod::CountTokens => "/v1beta/models:countTokens",
            },
        }
    }

    /// The path and query after the account's base URL, for `model` (after any mapping).
    /// Anthropic bases are given without `/v1` (a trailing one is dropped), OpenAI bases with
    /// it (as `https://api.openai.com/v1`), Gemini bases without a version.
    pub fn upstream_path(&self, model: &str, query: Option<&str>) -> String {
        let path = match self {
            Endpoint::Messages => "/v1/messages".to_owned(),
            Endpoint::CountTokens => "/v1/messages/count_tokens".to_owned(),
            Endpoint::ChatCompletions => "/chat/completions".to_owned(),
            Endpoint::Responses => "/responses".to_owned(),
            Endpoint::ResponsesCompact => "/responses/compact".to_owned(),
            Endpoint::Gemini {
                method, version, ..
            } => {
                let v = match version {
                    GeminiVersion::V1 => "v1",
                    GeminiVersion::V1beta => "v1beta",
                };
                format!("/{v}/models/{model}:{}", method.name())
            }
        };
        match query {
            Some(q) if !q.is_empty() => format!("{path}?{q}"),
            _ => path,
        }
    }

    /// The base URL to append [`Self::upstream_path`] to. An OpenAI-compatible base with no
    /// path (`https://api.deepseek.com`) means its `/v1`, as every such vendor documents; a
    /// base with a path (`https://open.bigmodel.cn/api/paas/v4`) is used as given.
    pub fn base<'a>(&self, base: &'a str) -> std::borrow::Cow<'a, str> {
        let base = base.strip_suffix('/').unwrap_or(base);
        match self.protocol() {
            Protocol::Anthropic => base.strip_suffix("/v1").unwrap_or(base).into(),
            Protocol::Openai if !has_path(base) => format!("{base}/v1").into(),
            Protocol::Openai | Protocol::Gemini => base.into(),
        }
    }
}

/// Whether a URL names a path after its host (`https://host/x`), not just the host.
fn has_path(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').is_some_and(|i| rest.len() > i + 1)
}

/// What the gateway reads from a request body.
#[derive(Debug, Default)]
pub struct Parsed {
    pub model: Option<String>,
    pub stream: bool,
    /// The conversation, for sticky routing.
    pub session: Option<String>,
    /// A streamed chat request that did not ask for usage: its `stream_options` as sent (null
    /// when absent), which [`with_usage_option`] completes so the stream can be metered.
    pub stream_options: Option<Value>,
    /// The gateway asks the upstream for a usage chunk the client did not ask for, and drops it.
    pub strip_usage_chunk: bool,
    /// Where the body's long strings lie, for a translator's second reading.
    pub notes: Notes,
}

/// Reads the fields routing needs from `body`, which must be a JSON object. The rest of the
/// body (the conversation, often most of it) is checked and skipped, not parsed into a tree.
pub fn parse(endpoint: &Endpoint, headers: &HeaderMap, body: &str) -> Result<Parsed, PickError> {
    let fields = [
        "model",
        "stream",
        "metadata",
        "prompt_cache_key",
        "user",
        "stream_options",
    ];
    let (picked, notes) = pick_text(body, &fields)?;
    let v = &Value::Object(picked);
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut p = Parsed {
        model: text(v, "model"),
        stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
        notes,
        ..Parsed::default()
    };
    match endpoint {
        Endpoint::Messages | Endpoint::CountTokens => {
            let header = headers
                .get(&CLAUDE_CODE_SESSION)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned);
            let user = crate::json::at(v, &["metadata", "user_id"])
                .and_then(Value::as_str)
                .map(|u| u.rsplit_once("_session_").map_or(u, |(_, s)| s).to_owned());
            p.session = header.or(user).filter(|s| !s.is_empty());
        }
        Endpoint::ChatCompletions | Endpoint::Responses | Endpoint::ResponsesCompact => {
            // Codex sends a per-conversation `prompt_cache_key` and a session header.
            let header = CODEX_SESSION
                .iter()
                .find_map(|name| headers.get(name))
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned);
            p.session = text(v, "prompt_cache_key")
                .or(header)
                .or_else(|| text(v, "user"))
                .filter(|s| !s.is_empty());
            if *endpoint == Endpoint::ChatCompletions && p.stream {
                let asked = crate::json::at(v, &["stream_options", "include_usage"])
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                // Added after the key's limits admit the request (`with_usage_option`).
                if !asked {
                    p.stream_options =
                        Some(v.get("stream_options").cloned().unwrap_or(Value::Null));
                    p.strip_usage_chunk = true;
                }
            }
        }
        Endpoint::Gemini { model, method, .. } => {
            p.model = Some(model.clone());
            p.stream = *method == GeminiMethod::Stream;
        }
    }
    Ok(p)
}

/// The body with its `model` field renamed for an account's model mapping (changed as text).
pub fn with_model(body: &Bytes, model: &str) -> Bytes {
    let name = serde_json::to_string(model).expect("a string serializes");
    Bytes::from(set_field(body, "model", &name))
}

/// The body with `stream_options.include_usage` set, so a streamed chat answer reports its
/// usage. Only `stream_options` is rewritten, as text: a body the gateway could not parse
/// whole is metered like any other. `None` when `stream_options` is not an object.
pub fn with_usage_option(body: &str, stream_options: &Value) -> Option<String> {
    let mut opts = match stream_options {
        Value::Null => serde_json::Map::new(),
        Value::Object(o) => o.clone(),
        _ => return None,
    };
    opts.insert("include_usage".into(), Value::Bool(true));
    let value = Value::Object(opts).to_string();
    // Spliced at a token's edges, so text stays text.
    String::from_utf8(set_field(body.as_bytes(), "stream_options", &value)).ok()
}

/// Whether a raw SSE event is the usage-only chat chunk the gateway asked for on the client's
/// behalf: no choices, a usage object.
pub fn is_usage_only_chunk(event: &[u8]) -> bool {
    // Most chunks carry text, not usage: only a chunk with a usage object is parsed.
    if !super::sse::key_then_object(event, b"usage") {
        return false;
    }
    let data = super::frame::parse(event).data;
    let Ok(v) = serde_json::from_slice::<Value>(data.trim_ascii()) else {
        return false;
    };
    v.get("choices")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
        && v.get("usage").is_some_and(Value::is_object)
}

/// The events `chunk` completes, without the usage-only chunk; an unfinished event stays in
/// `framer`.
pub fn events_without_usage_chunk(framer: &mut super::frame::Framer, chunk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunk.len() + framer.buffered());
    framer.push(chunk, |event| {
        if !is_usage_only_chunk(event) {
            out.extend_from_slice(event);
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_endpoints() {
        assert_eq!(
            Endpoint::from_path("/v1/responses"),
            Some(Endpoint::Responses)
        );
        assert_eq!(
            Endpoint::from_path("/v1beta/models/gemini-2.5-pro:streamGenerateContent"),
            Some(Endpoint::Gemini {
                model: "gemini-2.5-pro".into(),
                method: GeminiMethod::Stream,
                version: GeminiVersion::V1beta,
            })
        );
        assert_eq!(
            Endpoint::from_path("/v1beta/models/x:deleteEverything"),
            None
        );
        assert_eq!(Endpoint::from_path("/v1beta/models/:generateContent"), None);
        let g = Endpoint::from_path("/v1beta/models/gemini-2.5-flash:generateContent").unwrap();
        assert_eq!(
            g.upstream_path("gemini-2.5-pro", Some("alt=sse")),
            "/v1beta/models/gemini-2.5-pro:generateContent?alt=sse"
        );
        assert_eq!(
            Endpoint::Messages.base("https://relay/api/v1"),
            "https://relay/api"
        );
        assert_eq!(
            Endpoint::ChatCompletions.base("https://api.openai.com/v1"),
            "https://api.openai.com/v1"
        );
        // No path means the vendor's /v1; a path is kept as given.
        for (base, want) in [
            ("https://api.deepseek.com", "https://api.deepseek.com/v1"),
            ("https://api.deepseek.com/", "https://api.deepseek.com/v1"),
            ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1"),
            (
                "https://open.bigmodel.cn/api/paas/v4",
                "https://open.bigmodel.cn/api/paas/v4",
            ),
            (
                "https://relay.example/openai/",
                "https://relay.example/openai",
            ),
        ] {
            assert_eq!(Endpoint::Responses.base(base), want, "{base}");
        }
    }

    #[test]
    fn a_streaming_chat_request_is_given_usage_and_the_extra_chunk_recognised() {
        let v = r#"{"model":"gpt-4o","stream":true,"messages":[]}"#;
        let p = parse(&Endpoint::ChatCompletions, &HeaderMap::new(), v).unwrap();
        assert!(p.strip_usage_chunk);
        let sent = with_usage_option(v, &p.stream_options.unwrap()).unwrap();
        let sent: Value = serde_json::from_str(&sent).unwrap();
        assert_eq!(sent["stream_options"]["include_usage"], true);
        // Other options are kept; a body no whole parse takes is still given the option.
        let odd = r#"{"model":"gpt-4o","stream":true,"stream_options":{"x":1},"messages":[{"content":"\ud800"}]}"#;
        let p = parse(&Endpoint::ChatCompletions, &HeaderMap::new(), odd).unwrap();
        let sent = with_usage_option(odd, &p.stream_options.unwrap()).unwrap();
        assert_eq!(
            sent,
            r#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true,"x":1},"messages":[{"content":"\ud800"}]}"#
        );
        assert!(with_usage_option(odd, &Value::from("x")).is_none());
        let asked = r#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}"#;
        let p = parse(&Endpoint::ChatCompletions, &HeaderMap::new(), asked).unwrap();
        assert!(
            !p.strip_usage_chunk && p.stream_options.is_none(),
            "a client that asked gets it as sent"
        );
        assert!(is_usage_only_chunk(
            br#"data: {"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#
        ));
        assert!(!is_usage_only_chunk(
            br#"data: {"id":"c","choices":[{"delta":{"content":"x"}}],"usage":null}"#
        ));
    }

    #[test]
    fn reframing_drops_only_the_usage_chunk_and_keeps_partial_events() {
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n\
data: [DONE]\n\n";
        let expected = stream.replace(
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n",
            "",
        );
        for split in 1..stream.len() {
            let mut framer = super::super::frame::Framer::default();
            let mut out = Vec::new();
            for part in [&stream[..split], &stream[split..]] {
                out.extend(events_without_usage_chunk(&mut framer, part.as_bytes()));
            }
            assert_eq!(framer.buffered(), 0, "split {split}");
            assert_eq!(String::from_utf8(out).unwrap(), expected, "split {split}");
        }
    }

    #[test]
    fn sessions_come_from_each_protocols_conversation_marker() {
        let mut h = HeaderMap::new();
        let v = r#"{"model":"m","metadata":{"user_id":"user_a_account_b_session_s1"}}"#;
        assert_eq!(
            parse(&Endpoint::Messages, &h, v)
                .unwrap()
                .session
                .as_deref(),
            Some("s1")
        );
        let v = r#"{"model":"m","prompt_cache_key":"conv-9"}"#;
        assert_eq!(
            parse(&Endpoint::Responses, &h, v)
                .unwrap()
                .session
                .as_deref(),
            Some("conv-9")
        );
        h.insert("x-claude-code-session-id", "hdr".parse().unwrap());
        let v = r#"{"model":"m"}"#;
        assert_eq!(
            parse(&Endpoint::Messages, &h, v)
                .unwrap()
                .session
                .as_deref(),
            Some("hdr")
        );
    }
}
