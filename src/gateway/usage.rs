//! Where an answer's usage is, by wire format, and what a whole JSON answer says about itself;
//! streams are read by [`super::sse::SseScanner`].

use std::borrow::Cow;

use super::pick::find;
use super::skim;

pub use super::sse::{MAX_LINE, SseScanner};
pub use crate::domain::{Counts, MAX_TOKENS, Price, Usage};

/// The response format a body or stream is in, which decides where its usage is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Wire {
    /// Anthropic Messages: `usage`; streams `message_start` / `message_delta` / `message_stop`.
    #[default]
    Anthropic,
    /// OpenAI Chat Completions: `usage`; streams a final chunk with `usage`, then `[DONE]`.
    OpenaiChat,
    /// OpenAI Responses: `usage`; streams `response.completed` carrying the whole response.
    OpenaiResponses,
    /// Gemini `generateContent`: `usageMetadata`, in every streamed chunk (cumulative).
    Gemini,
}

/// What a finished Anthropic response said about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub usage: Usage,
    /// The model that actually answered, when the upstream named it.
    pub model: Option<String>,
    /// The stream reached `message_stop` (or the body was a complete message).
    pub complete: bool,
    /// `message_delta` arrived, so the output count is final.
    pub usage_final: bool,
    /// An `error` event inside a stream.
    pub error: Option<String>,
}

impl Report {
    /// Reads a whole non-streaming JSON body. Only the fields that matter are read: the
    /// skimmer checks the body and finds them, the usage's counts are read without building a
    /// tree, and the answer's content (the bulk of it) is neither copied nor decoded.
    pub fn from_json(wire: Wire, body: &[u8]) -> Report {
        const FIELDS: [&str; 8] = [
            "type",
            "status",
            "model",
            "modelVersion",
            "usage",
            "usageMetadata",
            "choices",
            "candidates",
        ];
        let mut r = Report::default();
        // The skimmer does not decode strings; a body that is not text says nothing.
        let Ok(text) = std::str::from_utf8(body) else {
            return r;
        };
        let mut at = [None; FIELDS.len()];
        let top = skim::fields(body, |key, start, end| {
            if let Some(i) = find(&FIELDS, key) {
                // Values start and end at ASCII bytes, so the span is a `str` slice.
                at[i] = Some(&text[start..end]);
            }
            Ok(())
        });
        if !matches!(top, Ok((skim::Top::Object, _))) {
            return r;
        }
        let [
            kind,
            status,
            model,
            model_version,
            usage,
            usage_metadata,
            choices,
            candidates,
        ] = at;
        match wire {
            Wire::Anthropic => {
                if let Some(u) = usage {
                    r.usage.merge_anthropic(&Counts::from_json(u.as_bytes()));
                    r.usage_final = true;
                }
                r.complete = kind.and_then(skim::string_text).as_deref() == Some("message");
            }
            Wire::OpenaiChat | Wire::OpenaiResponses => {
                if let Some(u) = usage.filter(|u| u.starts_with('{')) {
                    r.usage = Usage::from_openai(&Counts::from_json(u.as_bytes()));
                    r.usage_final = true;
                }
                r.complete = match wire {
                    Wire::OpenaiChat => choices.is_some(),
                    _ => status.and_then(skim::string_text).as_deref() == Some("completed"),
                };
            }
            Wire::Gemini => {
                if let Some(u) = usage_metadata {
                    r.usage = Usage::from_gemini(&Counts::from_json(u.as_bytes()));
                    r.usage_final = true;
                }
                r.complete = candidates.is_some();
            }
        }
        r.model = model
            .or(model_version)
            .and_then(skim::string_text)
            .map(Cow::into_owned);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::sse::tests::{expected, openai_expected};
    use crate::gateway::test_style::Style;

    #[test]
    fn json_body_usage_and_cost_are_exact() {
        let body = br#"{"id":"msg_1","type":"message","model":"claude-sonnet-4-5","content":[],
            "usage":{"input_tokens":1000,"output_tokens":2000,"cache_creation_input_tokens":300,
            "cache_read_input_tokens":400,"cache_creation":{"ephemeral_1h_input_tokens":100}}}"#;
        let r = Report::from_json(Wire::Anthropic, body);
        assert!(r.complete && r.usage_final);
        let price = Price {
            input: 3000,
            output: 15000,
            cache_write: 3750,
            cache_write_1h: 6000,
            cache_read: 300,
        };
        // 1000×3000 + 2000×15000 + 200×3750 + 100×6000 + 400×300
        assert_eq!(
            price.cost(&r.usage),
            3_000_000 + 30_000_000 + 750_000 + 600_000 + 120_000
        );
    }

    #[test]
    fn every_json_body_is_read_compact_spaced_and_pretty() {
        let anthropic = r#"{"id":"m","type":"message","model":"claude-sonnet-4-5","content":[{"type":"text","text":"\"usage\":{"}],"usage":{"input_tokens":25,"cache_creation_input_tokens":100,"cache_read_input_tokens":7,"cache_creation":{"ephemeral_1h_input_tokens":40},"output_tokens":15}}"#;
        let chat = r#"{"id":"c","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":22,"prompt_tokens_details":{"cached_tokens":3}}}"#;
        let responses = r#"{"id":"r","object":"response","status":"completed","model":"gpt-5","output":[],"usage":{"input_tokens":14,"input_tokens_details":{"cached_tokens":3},"output_tokens":22}}"#;
        let gemini = r#"{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":14,"cachedContentTokenCount":3,"candidatesTokenCount":20,"thoughtsTokenCount":2},"modelVersion":"gemini-2.5-pro"}"#;
        let cases = [
            (Wire::Anthropic, anthropic, expected()),
            (Wire::OpenaiChat, chat, openai_expected()),
            (Wire::OpenaiResponses, responses, openai_expected()),
            (Wire::Gemini, gemini, openai_expected()),
        ];
        for (wire, body, want) in cases {
            for text in [Style::Compact, Style::Spaced, Style::Pretty].map(|s| s.json(body)) {
                let r = Report::from_json(wire, text.as_bytes());
                assert_eq!(r.usage, want, "{wire:?}: {text}");
                assert!(r.complete && r.usage_final, "{wire:?}");
            }
        }
    }

    #[test]
    fn upstream_numbers_are_clamped_and_costs_never_wrap() {
        let body = format!(
            r#"{{"type":"message","usage":{{"input_tokens":{},"output_tokens":18446744073709551615,"cache_read_input_tokens":-5,"cache_creation_input_tokens":1e300}}}}"#,
            i64::MAX
        );
        let r = Report::from_json(Wire::Anthropic, body.as_bytes());
        assert_eq!(r.usage.input_tokens, MAX_TOKENS);
        assert_eq!(r.usage.output_tokens, MAX_TOKENS);
        assert_eq!(r.usage.cache_read_input_tokens, 0);
        assert_eq!(r.usage.cache_creation_input_tokens, MAX_TOKENS);
        let price = Price {
            input: i64::MAX,
            output: 15_000,
            cache_write: 3_750,
            cache_write_1h: 6_000,
            cache_read: 300,
        };
        assert_eq!(price.cost(&r.usage), i64::MAX, "saturates, never negative");
        assert!(r.usage.total() > 0);
    }

    #[test]
    fn names_are_read_through_escapes_and_what_is_not_an_object_says_nothing() {
        let escaped = br#"{"t\u0079pe":"mess\u0061ge","model":"claude-\u0073onnet","usage":{"output_tokens":4}}"#;
        let r = Report::from_json(Wire::Anthropic, escaped);
        assert!(r.complete);
        assert_eq!(r.model.as_deref(), Some("claude-sonnet"));
        assert_eq!(r.usage.output_tokens, 4);
        // A present `model` that is no string hides `modelVersion`, as it always has.
        let r = Report::from_json(
            Wire::Gemini,
            br#"{"model":7,"modelVersion":"g","usageMetadata":{}}"#,
        );
        assert_eq!(r.model, None);
        assert!(r.usage_final);
        // Chat usage must be an object to count; Anthropic's is read whatever it is.
        let r = Report::from_json(Wire::OpenaiChat, br#"{"choices":[],"usage":null}"#);
        assert!(r.complete && !r.usage_final);
        for bad in [
            &b"[1]"[..],
            b"{\"usage\":{\"output_tokens\":4}",
            b"{\"usage\":{\"output_tokens\":4},\"x\":\"\xff\"}",
        ] {
            assert_eq!(
                Report::from_json(Wire::Anthropic, bad),
                Report::default(),
                "{bad:?}"
            );
        }
    }
}
