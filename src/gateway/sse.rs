//! Reading an SSE stream as it passes: events framed as SSE defines (multi-line data, CRLF, a
//! last event without its blank line), and only the few that carry usage, an error or the end
//! parsed, found whatever the upstream's JSON spacing.

use serde_json::Value;

use super::usage::{Counts, Report, Usage, Wire};

/// Longest SSE line kept while looking for usage; longer lines (huge text deltas) pass through
/// unread, because usage never rides on them. The same bound holds for one event's data.
pub const MAX_LINE: usize = 1 << 20;

/// Reads an SSE stream chunk by chunk without holding any of it back, picking out the events
/// that carry usage and the one that ends the stream (see [`Wire`]). Only those are parsed;
/// text deltas pass unread. An event's `data:` lines are joined as SSE defines (servers that
/// pretty-print their JSON split it over several), and the event is read at its blank line.
#[derive(Debug, Default)]
pub struct SseScanner {
    wire: Wire,
    line: Vec<u8>,
    overlong: bool,
    event: String,
    /// The current event's data lines, joined by `\n`.
    data: Vec<u8>,
    /// The current event has data lines (possibly empty ones).
    has_data: bool,
    /// The current event's data outgrew [`MAX_LINE`], or is of a kind never read.
    skip_data: bool,
    pub report: Report,
}

impl SseScanner {
    pub fn new(wire: Wire) -> SseScanner {
        SseScanner {
            wire,
            ..SseScanner::default()
        }
    }

    /// Bytes held for an unfinished line or event: never more than two lines' bound, whatever
    /// is fed.
    pub fn buffered(&self) -> usize {
        self.line.len() + self.data.len()
    }

    /// Feeds the next chunk; returns true when this chunk holds the stream's final event.
    pub fn feed(&mut self, chunk: &[u8]) -> bool {
        let was_complete = self.report.complete;
        let mut rest = chunk;
        while let Some(pos) = memchr::memchr(b'\n', rest) {
            let (head, tail) = rest.split_at(pos);
            if !self.overlong && self.line.len() + head.len() <= MAX_LINE {
                self.line.extend_from_slice(head);
                let line = std::mem::take(&mut self.line);
                self.line_done(&line);
                self.line = line;
            }
            self.line.clear();
            self.overlong = false;
            rest = &tail[1..];
        }
        if !self.overlong {
            if self.line.len() + rest.len() <= MAX_LINE {
                self.line.extend_from_slice(rest);
            } else {
                self.overlong = true;
                self.line.clear();
            }
        }
        !was_complete && self.report.complete
    }

    /// The upstream closed the stream: reads an event it left without its blank line.
    pub fn finish(&mut self) {
        if !self.overlong && !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line);
        }
        self.dispatch();
    }

    fn line_done(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            self.dispatch();
        } else if let Some(name) = line.strip_prefix(b"event:") {
            self.event = String::from_utf8_lossy(name).trim().to_owned();
            if self.event == "message_stop" {
                self.report.complete = true;
            }
            self.skip_data |= !self.event_read();
        } else if let Some(data) = line.strip_prefix(b"data:") {
            let data = data.strip_prefix(b" ").unwrap_or(data);
            // `[DONE]` ends a chat stream as soon as it is seen.
            if self.wire == Wire::OpenaiChat && !self.has_data && data.trim_ascii() == b"[DONE]" {
                self.report.complete = true;
            }
            if self.skip_data {
                return;
            }
            let sep = usize::from(self.has_data);
            if self.data.len() + sep + data.len() > MAX_LINE {
                self.skip_data = true;
                self.data = Vec::new();
                return;
            }
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(data);
            self.has_data = true;
        }
    }

    /// Whether events named as the current one can carry usage, an error or the end.
    fn event_read(&self) -> bool {
        match self.wire {
            Wire::Anthropic => matches!(
                self.event.as_str(),
                "" | "message_start" | "message_delta" | "message_stop" | "error"
            ),
            Wire::OpenaiResponses => matches!(
                self.event.as_str(),
                "" | "response.completed" | "response.incomplete" | "response.failed" | "error"
            ),
            Wire::OpenaiChat | Wire::Gemini => true,
        }
    }

    /// The event ends (a blank line): reads its data when it is of interest.
    fn dispatch(&mut self) {
        let data = std::mem::take(&mut self.data);
        if self.has_data && !self.skip_data {
            match self.wire {
                Wire::Anthropic => self.anthropic_data(&data),
                Wire::OpenaiChat => self.chat_data(&data),
                Wire::OpenaiResponses => self.responses_data(&data),
                Wire::Gemini => self.gemini_data(&data),
            }
        }
        // The buffer's allocation is kept for the next event, unless it grew large.
        if data.capacity() <= 64 * 1024 {
            self.data = data;
            self.data.clear();
        }
        self.event.clear();
        self.has_data = false;
        self.skip_data = false;
    }

    fn anthropic_data(&mut self, data: &[u8]) {
        // Only the few events that carry usage are parsed; text deltas are skipped unread.
        let interesting = match self.event.as_str() {
            "message_start" | "message_delta" | "error" => true,
            "" => contains(data, b"\"message_") || has_key(data, b"error"),
            _ => false,
        };
        if !interesting {
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        match v.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                if let Some(m) = v.get("message") {
                    if let Some(u) = m.get("usage") {
                        self.report.usage.merge_anthropic(&Counts::of(u));
                    }
                    if let Some(model) = m.get("model").and_then(Value::as_str) {
                        self.report.model = Some(model.to_owned());
                    }
                }
            }
            Some("message_delta") => {
                if let Some(u) = v.get("usage") {
                    self.report.usage.merge_anthropic(&Counts::of(u));
                    self.report.usage_final = true;
                }
            }
            Some("message_stop") => self.report.complete = true,
            Some("error") => self.error_from(&v),
            _ => {}
        }
    }

    /// Chat chunks: the one with a non-null `usage` (last before `[DONE]`) is parsed.
    fn chat_data(&mut self, data: &[u8]) {
        if data.trim_ascii() == b"[DONE]" {
            self.report.complete = true;
            return;
        }
        // Whitespace-tolerant: `"usage": {` is as common as `"usage":{`.
        if !key_then_object(data, b"usage") && !has_key(data, b"error") {
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.report.usage = Usage::from_openai(&Counts::of(u));
            self.report.usage_final = true;
        }
        if let Some(m) = v.get("model").and_then(Value::as_str) {
            self.report.model = Some(m.to_owned());
        }
        if v.get("error").is_some() {
            self.error_from(&v);
        }
    }

    /// Responses events: `response.completed` (or `.incomplete` / `.failed`) carries the usage.
    fn responses_data(&mut self, data: &[u8]) {
        let terminal = [
            &b"response.completed"[..],
            b"response.incomplete",
            b"response.failed",
        ];
        let interesting = match self.event.as_str() {
            "response.completed" | "response.incomplete" | "response.failed" | "error" => true,
            "" => terminal.iter().any(|t| contains(data, t)) || has_key(data, b"error"),
            _ => false,
        };
        if !interesting {
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
        if let Some(resp) = v.get("response") {
            if let Some(u) = resp.get("usage").filter(|u| u.is_object()) {
                self.report.usage = Usage::from_openai(&Counts::of(u));
                self.report.usage_final = true;
            }
            if let Some(m) = resp.get("model").and_then(Value::as_str) {
                self.report.model = Some(m.to_owned());
            }
        }
        match kind {
            "response.completed" | "response.incomplete" => self.report.complete = true,
            "response.failed" => {
                let msg = crate::json::at(&v, &["response", "error", "message"])
                    .and_then(Value::as_str)
                    .unwrap_or("response failed upstream");
                self.report.error = Some(msg.chars().take(500).collect());
                self.report.complete = true;
            }
            "error" => self.error_from(&v),
            _ => {}
        }
    }

    /// Gemini chunks each carry the usage so far; the one with a `finishReason` is the last.
    fn gemini_data(&mut self, data: &[u8]) {
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        if let Some(u) = v.get("usageMetadata") {
            self.report.usage = Usage::from_gemini(&Counts::of(u));
            self.report.usage_final = true;
        }
        if let Some(m) = v.get("modelVersion").and_then(Value::as_str) {
            self.report.model = Some(m.to_owned());
        }
        let finished = v
            .get("candidates")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|c| c.get("finishReason").is_some()));
        if finished {
            self.report.complete = true;
        }
        if v.get("error").is_some() {
            self.error_from(&v);
        }
    }

    fn error_from(&mut self, v: &Value) {
        let msg = crate::json::at(v, &["error", "message"])
            .or_else(|| v.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("error event from upstream");
        self.report.error = Some(msg.chars().take(500).collect());
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// Whether some `"key"` in `hay` is followed by a colon and a value `value_ok` accepts,
/// whatever whitespace JSON puts around the colon. No allocation: this runs on every chunk.
fn after_key(hay: &[u8], key: &[u8], value_ok: impl Fn(&[u8]) -> bool) -> bool {
    let mut i = 0;
    while let Some(pos) = memchr::memchr(b'"', &hay[i..]) {
        let at = i + pos + 1;
        i = at;
        let Some(rest) = hay[at..].strip_prefix(key) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix(b"\"") else {
            continue;
        };
        if let Some(value) = rest.trim_ascii_start().strip_prefix(b":")
            && value_ok(value.trim_ascii_start())
        {
            return true;
        }
    }
    false
}

/// Whether `hay` has `"key":` anywhere, with any spacing.
fn has_key(hay: &[u8], key: &[u8]) -> bool {
    after_key(hay, key, |_| true)
}

/// Whether `hay` has `"key": {` anywhere: the key with an object value.
pub(super) fn key_then_object(hay: &[u8], key: &[u8]) -> bool {
    after_key(hay, key, |v| v.first() == Some(&b'{'))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::gateway::test_style::Style;

    const STREAM: &str = "event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":7,\"cache_creation\":{\"ephemeral_5m_input_tokens\":60,\"ephemeral_1h_input_tokens\":40},\"output_tokens\":1}}}\n\n\
event: content_block_start\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello \\\"message_delta\\\"\"}}\n\n\
event: content_block_stop\n\
data: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: message_delta\n\
data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n\
event: message_stop\n\
data: {\"type\":\"message_stop\"}\n\n";

    pub(crate) fn expected() -> Usage {
        Usage {
            input_tokens: 25,
            output_tokens: 15,
            cache_creation_input_tokens: 100,
            cache_creation_1h_tokens: 40,
            cache_read_input_tokens: 7,
        }
    }

    #[test]
    fn usage_is_read_from_a_stream_split_at_every_byte() {
        let bytes = STREAM.as_bytes();
        for split in 1..bytes.len() {
            let mut s = SseScanner::new(Wire::Anthropic);
            let first = s.feed(&bytes[..split]);
            let second = s.feed(&bytes[split..]);
            assert_eq!(s.report.usage, expected(), "split at {split}");
            assert!(s.report.complete && s.report.usage_final);
            assert!(first ^ second, "exactly one chunk is final (split {split})");
            assert_eq!(
                s.report.model.as_deref(),
                Some("claude-sonnet-4-5-20250929")
            );
        }
    }

    #[test]
    fn crlf_lines_and_streams_without_event_lines_are_read() {
        let plain: String = STREAM
            .lines()
            .filter(|l| !l.starts_with("event:"))
            .map(|l| format!("{l}\r\n"))
            .collect();
        let mut s = SseScanner::new(Wire::Anthropic);
        assert!(s.feed(plain.as_bytes()));
        assert_eq!(s.report.usage, expected());
    }

    #[test]
    fn a_truncated_stream_is_not_complete_and_an_error_event_is_kept() {
        let cut = STREAM.find("event: message_delta").unwrap();
        let mut s = SseScanner::new(Wire::Anthropic);
        assert!(!s.feed(&STREAM.as_bytes()[..cut]));
        assert!(!s.report.complete && !s.report.usage_final);
        assert_eq!(s.report.usage.input_tokens, 25);
        s.feed(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n");
        assert_eq!(s.report.error.as_deref(), Some("Overloaded"));
    }

    #[test]
    fn overlong_lines_are_skipped_without_growing_memory() {
        let mut s = SseScanner::new(Wire::Anthropic);
        let big = vec![b'x'; MAX_LINE + 10];
        s.feed(b"event: content_block_delta\ndata: ");
        s.feed(&big);
        s.feed(&big);
        assert!(s.line.capacity() <= 2 * MAX_LINE + 64);
        s.feed(b"\n\n");
        s.feed(STREAM.as_bytes());
        assert_eq!(s.report.usage, expected());
    }

    fn chat_stream() -> String {
        [
            r#"{"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"usage: hi"},"finish_reason":null}],"usage":null}"#,
            r#"{"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#,
            r#"{"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":14,"completion_tokens":22,"total_tokens":36,"prompt_tokens_details":{"cached_tokens":3}}}"#,
        ]
        .iter()
        .map(|d| format!("data: {d}\n\n"))
        .chain(["data: [DONE]\n\n".to_owned()])
        .collect()
    }

    fn responses_stream() -> String {
        let ev = |name: &str, data: &str| format!("event: {name}\ndata: {data}\n\n");
        [
            ev("response.created", r#"{"type":"response.created","response":{"id":"r","status":"in_progress","model":"gpt-5","usage":null}}"#),
            ev("response.output_text.delta", r#"{"type":"response.output_text.delta","delta":"response.completed"}"#),
            ev("response.completed", r#"{"type":"response.completed","response":{"id":"r","status":"completed","model":"gpt-5","usage":{"input_tokens":14,"input_tokens_details":{"cached_tokens":3},"output_tokens":22}}}"#),
        ]
        .concat()
    }

    fn gemini_stream() -> String {
        [
            r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":14,"cachedContentTokenCount":3,"candidatesTokenCount":4},"modelVersion":"gemini-2.5-pro"}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"!"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":14,"cachedContentTokenCount":3,"candidatesTokenCount":20,"thoughtsTokenCount":2},"modelVersion":"gemini-2.5-pro"}"#,
        ]
        .iter()
        .map(|d| format!("data: {d}\r\n\r\n"))
        .collect()
    }

    /// The usage the chat, Responses and Gemini fixtures report: a 14-token prompt with 3
    /// cached, 22 output tokens.
    pub(crate) fn openai_expected() -> Usage {
        Usage {
            input_tokens: 11,
            output_tokens: 22,
            cache_read_input_tokens: 3,
            ..Usage::default()
        }
    }

    #[test]
    fn every_scanner_reads_compact_spaced_and_pretty_streams_split_anywhere() {
        let cases = [
            (Wire::Anthropic, STREAM.to_owned(), expected()),
            (Wire::OpenaiChat, chat_stream(), openai_expected()),
            (Wire::OpenaiResponses, responses_stream(), openai_expected()),
            (Wire::Gemini, gemini_stream(), openai_expected()),
        ];
        for (wire, stream, want) in cases {
            for style in [Style::Compact, Style::Spaced, Style::Pretty] {
                let name = format!("{style:?}");
                let text = style.event(&stream);
                let bytes = text.as_bytes();
                for split in (1..bytes.len()).step_by(7) {
                    let mut s = SseScanner::new(wire);
                    let first = s.feed(&bytes[..split]);
                    let second = s.feed(&bytes[split..]);
                    assert_eq!(s.report.usage, want, "{wire:?} {name} split {split}");
                    assert!(s.report.complete && s.report.usage_final, "{wire:?} {name}");
                    assert!(first ^ second, "{wire:?} {name}: one chunk is final");
                }
            }
        }
    }

    #[test]
    fn an_event_left_without_its_blank_line_is_read_when_the_stream_ends() {
        let text = chat_stream();
        let cut = text.trim_end_matches("data: [DONE]\n\n").trim_end();
        let mut s = SseScanner::new(Wire::OpenaiChat);
        s.feed(cut.as_bytes());
        assert!(!s.report.usage_final);
        s.finish();
        assert_eq!(s.report.usage, openai_expected());
    }

    #[test]
    fn key_searches_tolerate_spacing_and_ignore_text_that_only_looks_like_a_key() {
        assert!(key_then_object(br#"{"usage" :  {"a":1}}"#, b"usage"));
        assert!(key_then_object(b"{\"usage\":\n{}}", b"usage"));
        assert!(!key_then_object(br#"{"usage": null}"#, b"usage"));
        assert!(!key_then_object(br#"{"text":"usage: {"}"#, b"usage"));
        assert!(has_key(br#"{"error" : {}}"#, b"error"));
        assert!(!has_key(br#"{"text":"an error"}"#, b"error"));
    }
}
