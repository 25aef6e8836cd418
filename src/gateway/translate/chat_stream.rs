//! OpenAI chat streams as pivot events, and back.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::chat::{reasoning, usage_json};
use super::{Block, Ev, Translation, Usage, openai_finish, sse_data, stop_from_openai, str_of};

/// Reads a chat stream.
pub struct Reader {
    id: String,
    started: bool,
    open: Option<(usize, Kind)>,
    next: usize,
    /// Chat's tool call index → the block it opened.
    tools: HashMap<u64, usize>,
    finish: Option<String>,
    usage: Usage,
    done: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Thinking,
    Tool,
}

impl Reader {
    pub fn new(t: &Translation) -> Reader {
        Reader {
            id: t.id.clone(),
            started: false,
            open: None,
            next: 0,
            tools: HashMap::new(),
            finish: None,
            usage: Usage::default(),
            done: false,
        }
    }

    fn start(&mut self, id: Option<&str>, out: &mut Vec<Ev>) {
        if !self.started {
            self.started = true;
            out.push(Ev::Start {
                id: format!("msg_{}", id.unwrap_or(&self.id)),
                usage: Usage::default(),
            });
        }
    }

    /// The open block of `kind`, opening it (and closing another) when needed.
    fn block(&mut self, kind: Kind, block: Block, out: &mut Vec<Ev>) -> usize {
        if let Some((i, k)) = self.open
            && k == kind
            && kind != Kind::Tool
        {
            return i;
        }
        self.close(out);
        let index = self.next;
        self.next += 1;
        out.push(Ev::Open { index, block });
        self.open = Some((index, kind));
        index
    }

    fn close(&mut self, out: &mut Vec<Ev>) {
        if let Some((index, _)) = self.open.take() {
            out.push(Ev::Close { index });
        }
    }
}

impl super::Read for Reader {
    fn event(&mut self, _name: &str, data: &[u8], out: &mut Vec<Ev>) {
        if self.done {
            return;
        }
        if data.trim_ascii() == b"[DONE]" {
            return self.finish(out);
        }
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        if let Some(e) = v.get("error") {
            let message = str_of(e, "message").unwrap_or("upstream error").to_owned();
            out.push(Ev::Error { message });
            self.done = true;
            return;
        }
        self.start(str_of(&v, "id"), out);
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.usage = Usage::from_openai(u);
        }
        let Some(choice) = v.pointer("/choices/0") else {
            return;
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        if let Some(r) = reasoning(delta).filter(|r| !r.is_empty()) {
            let index = self.block(Kind::Thinking, Block::Thinking, out);
            out.push(Ev::Thinking {
                index,
                text: r.to_owned(),
            });
        }
        if let Some(c) = str_of(delta, "content").filter(|c| !c.is_empty()) {
            let index = self.block(Kind::Text, Block::Text, out);
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
                        .map_or_else(|| format!("call_{}_{key}", self.id), str::to_owned);
                    let name = str_of(f, "name").unwrap_or("").to_owned();
                    let i = self.block(Kind::Tool, Block::Tool { id, name }, out);
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
        if self.done {
            return;
        }
        self.done = true;
        self.start(None, out);
        self.close(out);
        let stop = stop_from_openai(self.finish.as_deref().unwrap_or("stop"));
        out.push(Ev::End {
            stop: stop.to_owned(),
            usage: self.usage,
        });
        out.push(Ev::Done);
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
