//! OpenAI chat streams as pivot events, and back.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::chat::{reasoning, usage_json};
use super::{
    Block, Builder, Counts, Ev, Translation, Usage, openai_finish, sse_data, stop_from_openai,
    str_of,
};

/// Reads a chat stream.
pub struct Reader {
    b: Builder,
    /// Chat's tool call index → the block it opened.
    tools: HashMap<u64, usize>,
    finish: Option<String>,
    usage: Usage,
}

impl Reader {
    pub fn new(t: &Translation) -> Reader {
        Reader {
            b: Builder::new(&t.id),
            tools: HashMap::new(),
            finish: None,
            usage: Usage::default(),
        }
    }
}

impl super::Read for Reader {
    fn event(&mut self, _name: &str, data: &[u8], out: &mut Vec<Ev>) {
        if self.b.done() {
            return;
        }
        if data.trim_ascii() == b"[DONE]" {
            return self.finish(out);
        }
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        if let Some(e) = v.get("error") {
            return self
                .b
                .fail(str_of(e, "message").unwrap_or("upstream error"), out);
        }
        self.b.start(str_of(&v, "id"), out);
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.usage = Usage::from_openai(&Counts::of(u));
        }
        let Some(choice) = crate::json::at(&v, &["choices", "0"]) else {
            return;
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        if let Some(r) = reasoning(delta).filter(|r| !r.is_empty()) {
            let index = self.b.block(Block::Thinking, out);
            out.push(Ev::Thinking {
                index,
                text: r.to_owned(),
            });
        }
        if let Some(c) = str_of(delta, "content").filter(|c| !c.is_empty()) {
            let index = self.b.block(Block::Text, out);
            out.push(Ev::Text {
                index,
                text: c.to_owned(),
            });
        }
        for (n, tc) in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let key = tc.get("index").and_then(Value::as_u64).unwrap_or(n as u64);
            let f = tc.get("function").unwrap_or(&Value::Null);
            let index = match self.tools.get(&key) {
                Some(&i) => i,
                None => {
                    let id = str_of(tc, "id")
                        .map_or_else(|| format!("call_{}_{key}", self.b.id), str::to_owned);
                    let name = str_of(f, "name").unwrap_or("").to_owned();
                    let i = self.b.block(Block::Tool { id, name }, out);
                    self.tools.insert(key, i);
                    i
                }
            };
            if let Some(a) = str_of(f, "arguments").filter(|a| !a.is_empty()) {
                out.push(Ev::Args {
                    index,
                    json: a.to_owned(),
                });
            }
        }
        if let Some(f) = str_of(choice, "finish_reason") {
            self.finish = Some(f.to_owned());
        }
    }

    fn finish(&mut self, out: &mut Vec<Ev>) {
        let stop = stop_from_openai(self.finish.as_deref().unwrap_or("stop"));
        self.b.end(stop, self.usage, out);
    }
}

/// Writes a chat stream.
pub struct Writer {
    id: String,
    model: String,
    created: i64,
    include_usage: bool,
    /// A block index → its tool call's index among the answer's calls.
    tools: HashMap<usize, usize>,
}

impl Writer {
    pub fn new(t: &Translation) -> Writer {
        Writer {
            id: format!("chatcmpl-{}", t.id),
            model: t.model.clone(),
            created: t.created,
            include_usage: t.include_usage,
            tools: HashMap::new(),
        }
    }

    fn chunk(&self, out: &mut Vec<u8>, delta: Value, finish: Option<&str>) {
        sse_data(
            out,
            &json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
            }),
        );
    }
}

impl super::Write for Writer {
    fn write(&mut self, ev: &Ev, out: &mut Vec<u8>) {
        match ev {
            Ev::Start { .. } => {
                self.chunk(out, json!({ "role": "assistant", "content": "" }), None)
            }
            Ev::Open {
                index,
                block: Block::Tool { id, name },
            } => {
                let n = self.tools.len();
                self.tools.insert(*index, n);
                let call = json!({ "index": n, "id": id, "type": "function", "function": { "name": name, "arguments": "" } });
                self.chunk(out, json!({ "tool_calls": [call] }), None);
            }
            Ev::Text { text, .. } => self.chunk(out, json!({ "content": text }), None),
            Ev::Thinking { text, .. } => {
                self.chunk(out, json!({ "reasoning_content": text }), None)
            }
            Ev::Args { index, json } => {
                let n = self.tools.get(index).copied().unwrap_or(0);
                let call = json!({ "index": n, "function": { "arguments": json } });
                self.chunk(out, json!({ "tool_calls": [call] }), None);
            }
            Ev::End { stop, usage } => {
                self.chunk(out, json!({}), Some(openai_finish(stop)));
                if self.include_usage {
                    sse_data(
                        out,
                        &json!({
                            "id": self.id, "object": "chat.completion.chunk",
                            "created": self.created, "model": self.model,
                            "choices": [], "usage": usage_json(usage),
                        }),
                    );
                }
            }
            Ev::Done => out.extend_from_slice(b"data: [DONE]\n\n"),
            Ev::Error { message } => sse_data(
                out,
                &json!({ "error": { "message": message, "type": "server_error", "param": null, "code": "upstream_error" } }),
            ),
            Ev::Open { .. } | Ev::Signature { .. } | Ev::Close { .. } => {}
        }
    }
}
