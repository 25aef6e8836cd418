//! Gemini streams (SSE, or the JSON array a Gemini client gets without `alt=sse`) as pivot events, and back.

use serde_json::{Value, json};

use super::gemini::{finish_of, stop_of, usage_json};
use super::{Block, Builder, Counts, Ev, Translation, Usage, sse_data, str_of};

/// Reads a Gemini SSE stream (asked for with `alt=sse`).
pub struct Reader {
    b: Builder,
    called: bool,
    usage: Usage,
}

impl Reader {
    pub fn new(t: &Translation) -> Reader {
        Reader {
            b: Builder::new(&t.id),
            called: false,
            usage: Usage::default(),
        }
    }
}

impl super::Read for Reader {
    fn event(&mut self, _name: &str, data: &[u8], out: &mut Vec<Ev>) {
        if self.b.done() {
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        if let Some(e) = v.get("error") {
            return self
                .b
                .fail(str_of(e, "message").unwrap_or("upstream error"), out);
        }
        self.b.start(str_of(&v, "responseId"), out);
        if let Some(u) = v.get("usageMetadata") {
            self.usage = Usage::from_gemini(&Counts::of(u));
        }
        let cand = crate::json::at(&v, &["candidates", "0"]).unwrap_or(&Value::Null);
        for part in crate::json::at(cand, &["content", "parts"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(text) = str_of(part, "text").filter(|t| !t.is_empty()) {
                let text = text.to_owned();
                let ev = if part.get("thought") == Some(&Value::Bool(true)) {
                    let index = self.b.block(Block::Thinking, out);
                    Ev::Thinking { index, text }
                } else {
                    let index = self.b.block(Block::Text, out);
                    Ev::Text { index, text }
                };
                out.push(ev);
            } else if let Some(f) = part.get("functionCall") {
                // Gemini sends a call whole: its block opens, takes the arguments, closes.
                self.called = true;
                let id = str_of(f, "id").map_or_else(
                    || format!("toolu_{}_{}", self.b.id, self.b.next_index()),
                    str::to_owned,
                );
                let name = str_of(f, "name").unwrap_or("").to_owned();
                let index = self.b.block(Block::Tool { id, name }, out);
                let json = f.get("args").cloned().unwrap_or(json!({})).to_string();
                out.push(Ev::Args { index, json });
                self.b.close(out);
            }
        }
        if let Some(finish) = str_of(cand, "finishReason") {
            self.b.end(stop_of(finish, self.called), self.usage, out);
        }
    }

    fn finish(&mut self, out: &mut Vec<Ev>) {
        self.b.end(stop_of("STOP", self.called), self.usage, out);
    }
}

/// Writes a Gemini stream: SSE, or one JSON array written as it goes.
pub struct Writer {
    id: String,
    model: String,
    sse: bool,
    chunks: usize,
    /// The call being streamed: its name and arguments so far (Gemini sends a call whole).
    call: Option<(String, String)>,
}

impl Writer {
    pub fn new(t: &Translation) -> Writer {
        Writer {
            id: t.id.clone(),
            model: t.model.clone(),
            sse: t.gemini_sse,
            chunks: 0,
            call: None,
        }
    }

    fn chunk(&mut self, out: &mut Vec<u8>, mut v: Value) {
        v["modelVersion"] = json!(self.model);
        v["responseId"] = json!(self.id);
        if self.sse {
            sse_data(out, &v);
        } else {
            out.extend_from_slice(if self.chunks == 0 { b"[" } else { b",\r\n" });
            out.extend_from_slice(v.to_string().as_bytes());
        }
        self.chunks += 1;
    }

    fn parts(&mut self, out: &mut Vec<u8>, parts: Value) {
        self.chunk(
            out,
            json!({ "candidates": [{ "content": { "role": "model", "parts": parts }, "index": 0 }] }),
        );
    }
}

impl super::Write for Writer {
    fn write(&mut self, ev: &Ev, out: &mut Vec<u8>) {
        match ev {
            Ev::Text { text, .. } => self.parts(out, json!([{ "text": text }])),
            Ev::Thinking { text, .. } => {
                self.parts(out, json!([{ "text": text, "thought": true }]))
            }
            Ev::Open {
                block: Block::Tool { name, .. },
                ..
            } => self.call = Some((name.clone(), String::new())),
            Ev::Args { json, .. } => {
                if let Some((_, args)) = &mut self.call {
                    args.push_str(json);
                }
            }
            Ev::Close { .. } => {
                if let Some((name, args)) = self.call.take() {
                    let args = super::args_object(&args);
                    self.parts(
                        out,
                        json!([{ "functionCall": { "name": name, "args": args } }]),
                    );
                }
            }
            Ev::End { stop, usage } => self.chunk(
                out,
                json!({
                    "candidates": [{ "content": { "role": "model", "parts": [{ "text": "" }] }, "finishReason": finish_of(stop), "index": 0 }],
                    "usageMetadata": usage_json(usage),
                }),
            ),
            Ev::Error { message } => self.chunk(
                out,
                json!({ "error": { "code": 502, "message": message, "status": "UNAVAILABLE" } }),
            ),
            Ev::Start { .. } | Ev::Open { .. } | Ev::Signature { .. } | Ev::Done => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.sse {
            out.extend_from_slice(if self.chunks == 0 { b"[]" } else { b"]" });
        }
    }
}
