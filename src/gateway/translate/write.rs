//! The pivot request written as Anthropic Messages JSON by hand, for an Anthropic account:
//! texts, ids and schemas the client escaped are copied as they are.
//!
//! Hand-written because it is measured to matter: through serde each copied text went by way
//! of serde_json's `RawValue` protocol and each key was escaped byte by byte, about 17 000
//! instructions for a 7.5 kB chat conversation (`benches/instructions.sh --form chat`). The
//! output is serde's byte for byte (`Request`'s `Serialize`, kept for the other targets); a
//! property test holds the two together.

use serde::Serialize;

use super::pivot::{Block, Message, Request, Source, Str, Tool, ToolContent};

/// `p` as JSON, in a buffer sized for about `size_hint` bytes.
pub fn request(p: &Request, size_hint: usize) -> Vec<u8> {
    let mut w = Writer::new(size_hint);
    w.raw("{\"model\":");
    w.serde(&p.model);
    w.raw(",\"messages\":");
    w.list(&p.messages, Writer::message);
    if let Some(s) = &p.system {
        w.raw(",\"system\":");
        w.str(s);
    }
    w.field("max_tokens", &p.max_tokens);
    w.field("temperature", &p.temperature);
    w.field("top_p", &p.top_p);
    w.field("stop_sequences", &p.stop_sequences);
    if !p.tools.is_empty() {
        w.raw(",\"tools\":");
        w.list(&p.tools, Writer::tool);
    }
    w.field("tool_choice", &p.tool_choice);
    w.field("metadata", &p.metadata);
    w.field("thinking", &p.thinking);
    w.field("stream", &p.stream);
    w.raw("}");
    w.0
}

/// JSON written piece by piece; texts the client escaped go in as they are.
pub struct Writer(Vec<u8>);

impl Writer {
    /// A buffer sized for about `size_hint` bytes at once (a translated body is about the
    /// size of the one it came from) rather than grown by doubling.
    pub fn new(size_hint: usize) -> Writer {
        Writer(Vec::with_capacity(size_hint + size_hint / 8 + 256))
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub fn raw(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    /// A name of the gateway's own (a role, a tool kind) as a JSON string: such names hold
    /// nothing JSON escapes, so they are copied between quotes (serde_json looked at each
    /// byte, about 120 instructions a name).
    pub fn name(&mut self, s: &'static str) {
        debug_assert!(!s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20));
        self.0.push(b'"');
        self.raw(s);
        self.0.push(b'"');
    }

    /// `items` as a JSON array, each written by `each`.
    pub fn list<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        self.0.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.0.push(b',');
            }
            each(self, item);
        }
        self.0.push(b']');
    }

    /// Anything else (numbers, made-up values, texts of our own), as serde_json writes it.
    pub fn serde(&mut self, v: &(impl Serialize + ?Sized)) {
        serde_json::to_writer(&mut self.0, v).expect("a value serializes");
    }

    /// `,"name":value` when there is a value.
    pub fn field(&mut self, name: &str, v: &Option<impl Serialize>) {
        if let Some(v) = v {
            self.0.extend_from_slice(b",\"");
            self.raw(name);
            self.raw("\":");
            self.serde(v);
        }
    }

    pub fn str(&mut self, s: &Str) {
        match s {
            Str::Raw(r) => self.raw(r.get()),
            Str::Borrowed(t) => self.serde(*t),
            Str::Owned(t) => self.serde(t.as_str()),
        }
    }

    fn message(&mut self, m: &Message) {
        self.raw("{\"role\":");
        self.name(m.role);
        self.raw(",\"content\":");
        self.list(&m.content, Writer::block);
        self.raw("}");
    }

    fn block(&mut self, b: &Block) {
        match b {
            Block::Text { text } => {
                self.raw("{\"type\":\"text\",\"text\":");
                self.str(text);
            }
            Block::Image { source } => {
                self.raw("{\"type\":\"image\",\"source\":");
                match source {
                    Source::Base64 { media_type, data } => {
                        self.raw("{\"type\":\"base64\",\"media_type\":");
                        self.serde(media_type.as_ref());
                        self.raw(",\"data\":");
                        self.serde(data.as_ref());
                    }
                    Source::Url { url } => {
                        self.raw("{\"type\":\"url\",\"url\":");
                        self.serde(url.as_ref());
                    }
                }
                self.raw("}");
            }
            Block::ToolUse { id, name, input } => {
                self.raw("{\"type\":\"tool_use\",\"id\":");
                self.str(id);
                self.raw(",\"name\":");
                self.str(name);
                self.raw(",\"input\":");
                self.raw(input.get());
            }
            Block::ToolResult {
                tool_use_id,
                content,
            } => {
                self.raw("{\"type\":\"tool_result\",\"tool_use_id\":");
                self.str(tool_use_id);
                self.raw(",\"content\":");
                match content {
                    ToolContent::Text(text) => self.str(text),
                    ToolContent::Blocks(blocks) => self.list(blocks, Writer::block),
                }
            }
            Block::Thinking {
                thinking,
                signature,
            } => {
                self.raw("{\"type\":\"thinking\",\"thinking\":");
                self.serde(thinking.as_str());
                self.raw(",\"signature\":");
                self.serde(signature.as_str());
            }
        }
        self.raw("}");
    }

    fn tool(&mut self, t: &Tool) {
        self.raw("{");
        if let Some(kind) = t.kind {
            self.raw("\"type\":");
            self.name(kind);
            self.raw(",");
        }
        self.raw("\"name\":");
        self.str(&t.name);
        if let Some(d) = &t.description {
            self.raw(",\"description\":");
            self.str(d);
        }
        if let Some(schema) = &t.input_schema {
            self.raw(",\"input_schema\":");
            self.raw(schema.get());
        }
        self.raw("}");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{chat_request, chat_upstream, responses_request};
    use crate::gateway::endpoint::Endpoint;
    use crate::gateway::protocol::Protocol;

    /// Every kind of block and field, from a chat and a Responses request: written by hand
    /// as serde writes it.
    #[test]
    fn every_part_is_written_as_serde_writes_it() {
        let chat = json!({
            "model": "m", "max_completion_tokens": 300, "temperature": 1.5, "top_p": 0.9,
            "stop": "END", "user": "u-1", "reasoning_effort": "low", "parallel_tool_calls": false,
            "tool_choice": { "type": "function", "function": { "name": "read" } },
            "messages": [
                { "role": "system", "content": "Be \"brief\".\nAlways." },
                { "role": "developer", "content": [{ "type": "text", "text": "Dev é" }] },
                { "role": "user", "content": [
                    { "type": "text", "text": "look\tat" },
                    { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBO" } },
                    { "type": "image_url", "image_url": "https://x.test/a.png" }
                ] },
                { "role": "assistant", "content": "calling", "tool_calls": [
                    { "id": "call_1", "type": "function",
                      "function": { "name": "read", "arguments": "{\"path\": \"/a\"}" } },
                    { "id": "call_2", "type": "function",
                      "function": { "name": "read", "arguments": "not json" } }
                ] },
                { "role": "tool", "tool_call_id": "call_1", "content": "file \"a\"" },
                { "role": "tool", "tool_call_id": "call_2",
                  "content": [{ "type": "text", "text": "part" }] }
            ],
            "tools": [
                { "type": "function", "function": { "name": "read", "description": "Reads.",
                  "parameters": { "type": "object", "properties": { "path": { "type": "string" } } } } },
                { "type": "function", "function": { "name": "bare" } }
            ]
        })
        .to_string();
        let responses = json!({
            "model": "m", "instructions": "Sys\n", "max_output_tokens": 500,
            "reasoning": { "effort": "high" },
            "input": [
                { "role": "user", "content": [{ "type": "input_text", "text": "hi" }] },
                { "type": "reasoning", "summary": [], "encrypted_content": "sig" },
                { "type": "function_call", "call_id": "c1", "name": "ls", "arguments": "{}" },
                { "type": "function_call_output", "call_id": "c1", "output": "a\nb" }
            ],
            "tools": [
                { "type": "function", "name": "ls", "description": "Lists.", "parameters": {} },
                { "type": "web_search" }
            ]
        })
        .to_string();
        let mut pivots = Vec::new();
        let chat_notes = crate::gateway::skim::note(chat.as_bytes()).unwrap().1;
        pivots.push(chat_request::to_pivot(&chat, &chat_notes).unwrap().request);
        let notes = crate::gateway::skim::note(responses.as_bytes()).unwrap().1;
        pivots.push(
            responses_request::to_pivot(&responses, &notes)
                .unwrap()
                .request,
        );
        // Thinking kept from an earlier turn (Responses carries it sealed; made here).
        pivots[1].messages.push(super::Message {
            role: "assistant",
            content: vec![super::Block::Thinking {
                thinking: "I \"think\"\n".into(),
                signature: "sig".into(),
            }],
        });
        pivots[1].max_tokens = Some(20_000);
        pivots[1].set_thinking(4096);
        let wanted = [
            &[
                "\"base64\"",
                "\"url\"",
                "\"tool_use\"",
                "_raw",
                "\"tool_result\"",
                "\"metadata\"",
            ][..],
            &[
                "\"thinking\":{",
                "\"type\":\"thinking\"",
                "web_search_20250305",
                "\"input_schema\":{}",
            ],
        ];
        for (mut p, wanted) in pivots.into_iter().zip(wanted) {
            p.model = "claude-sonnet-4-5".into();
            p.stream = Some(true);
            let serde = serde_json::to_string(&p).unwrap();
            for part in wanted {
                assert!(serde.contains(part), "{part} in {serde}");
            }
            assert_eq!(String::from_utf8(super::request(&p, 0)).unwrap(), serde);
        }
    }

    /// Every kind of chat message and field an Anthropic request becomes: written by hand as
    /// serde writes it.
    #[test]
    fn every_part_of_a_chat_request_is_written_as_serde_writes_it() {
        let anthropic = json!({
            "model": "m", "max_tokens": 2048, "temperature": 0.5, "top_p": 0.9,
            "stop_sequences": ["END"], "stream": true,
            "thinking": { "type": "enabled", "budget_tokens": 1024 },
            "tool_choice": { "type": "tool", "name": "read", "disable_parallel_tool_use": true },
            "system": [
                { "type": "text", "text": "x-anthropic-billing-header: cc_version=2; cch=1" },
                { "type": "text", "text": "Be \"brief\".\n" }
            ],
            "messages": [
                { "role": "user", "content": [
                    { "type": "text", "text": "look" },
                    { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "iVBO" } },
                    { "type": "image", "source": { "type": "url", "url": "https://x.test/a.png" } }
                ] },
                { "role": "assistant", "content": [
                    { "type": "thinking", "thinking": "hm", "signature": "s" },
                    { "type": "text", "text": "calling" },
                    { "type": "tool_use", "id": "toolu_1", "name": "read", "input": { "path": "/a \"b\"" } }
                ] },
                { "role": "user", "content": [
                    { "type": "tool_result", "tool_use_id": "toolu_1", "is_error": true, "content": [
                        { "type": "text", "text": "no such file" },
                        { "type": "image", "source": { "type": "url", "url": "https://x.test/e.png" } }
                    ] },
                    { "type": "text", "text": "then?" }
                ] },
                { "role": "assistant", "content": "plain" },
                { "role": "user", "content": "Go on.\t" }
            ],
            "tools": [
                { "name": "read", "description": "Reads.", "input_schema": { "type": "object" } },
                { "type": "custom", "name": "bare" }
            ]
        })
        .to_string();
        let notes = crate::gateway::skim::note(anthropic.as_bytes()).unwrap().1;
        let asked = super::super::Asked {
            endpoint: &Endpoint::Messages,
            stream: true,
            model: "m",
            request_id: "r",
            query: None,
            session: Some("conversation-1"),
            started_at_ms: 0,
        };
        let t = super::super::Translation::plan(
            &asked,
            Protocol::Openai,
            super::super::OpenaiApis::ChatOnly,
        )
        .unwrap();
        let body = chat_upstream::read(&anthropic, &notes, "deepseek-chat", &t).unwrap();
        let serde = serde_json::to_string(&body).unwrap();
        for part in [
            "\"role\":\"system\"",
            "\"image_url\"",
            "\"tool_calls\"",
            "\"role\":\"tool\"",
            "\"content\":\"plain\"",
            "\"description\"",
            "\"tool_choice\"",
            "\"parallel_tool_calls\":false",
            "\"reasoning_effort\"",
            "\"stop\"",
            "\"stream_options\"",
            "\"prompt_cache_key\"",
        ] {
            assert!(serde.contains(part), "{part} in {serde}");
        }
        assert_eq!(
            String::from_utf8(chat_upstream::write(&body, 0)).unwrap(),
            serde
        );
    }
}
