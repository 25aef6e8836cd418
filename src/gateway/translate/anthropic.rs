//! Anthropic Messages streams as pivot events and back (its JSON is the pivot itself).

use serde_json::{Value, json};

use super::{Block, Counts, Ev, Translation, Usage, anthropic_usage, sse, str_of};

/// Reads an Anthropic stream.
#[derive(Default)]
pub struct Reader {
    usage: Usage,
    ended: bool,
}

impl super::Read for Reader {
    fn event(&mut self, _name: &str, data: &[u8], out: &mut Vec<Ev>) {
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        match str_of(&v, "type").unwrap_or("") {
            "message_start" => {
                let m = v.get("message").unwrap_or(&Value::Null);
                if let Some(u) = m.get("usage") {
                    self.usage.merge_anthropic(&Counts::of(u));
                }
                out.push(Ev::Start {
                    id: str_of(m, "id").unwrap_or("msg").to_owned(),
                    usage: self.usage,
                });
            }
            "content_block_start" => {
                let b = v.get("content_block").unwrap_or(&Value::Null);
                let block = match str_of(b, "type").unwrap_or("") {
                    "text" => Block::Text,
                    "thinking" | "redacted_thinking" => Block::Thinking,
                    "tool_use" | "server_tool_use" => Block::Tool {
                        id: str_of(b, "id").unwrap_or("").to_owned(),
                        name: str_of(b, "name").unwrap_or("").to_owned(),
                    },
                    _ => Block::Text,
                };
                out.push(Ev::Open { index, block });
                if let Some(t) = str_of(b, "text").filter(|t| !t.is_empty()) {
                    out.push(Ev::Text {
                        index,
                        text: t.to_owned(),
                    });
                }
            }
            "content_block_delta" => {
                let d = v.get("delta").unwrap_or(&Value::Null);
                let text = |k| str_of(d, k).unwrap_or("").to_owned();
                out.push(match str_of(d, "type").unwrap_or("") {
                    "text_delta" => Ev::Text {
                        index,
                        text: text("text"),
                    },
                    "thinking_delta" => Ev::Thinking {
                        index,
                        text: text("thinking"),
                    },
                    "signature_delta" => Ev::Signature {
                        index,
                        signature: text("signature"),
                    },
                    "input_json_delta" => Ev::Args {
                        index,
                        json: text("partial_json"),
                    },
                    _ => return,
                });
            }
            "content_block_stop" => out.push(Ev::Close { index }),
            "message_delta" => {
                if let Some(u) = v.get("usage") {
                    self.usage.merge_anthropic(&Counts::of(u));
                }
                let stop = crate::json::at(&v, &["delta", "stop_reason"])
                    .and_then(Value::as_str)
                    .unwrap_or("end_turn");
                out.push(Ev::End {
                    stop: stop.to_owned(),
                    usage: self.usage,
                });
            }
            "message_stop" => {
                self.ended = true;
                out.push(Ev::Done);
            }
            "error" => {
                let message = crate::json::at(&v, &["error", "message"])
                    .and_then(Value::as_str)
                    .unwrap_or("upstream error");
                out.push(Ev::Error {
                    message: message.to_owned(),
                });
            }
            _ => {}
        }
    }

    fn finish(&mut self, _out: &mut Vec<Ev>) {}
}

/// Writes an Anthropic stream.
pub struct Writer {
    model: String,
}

impl Writer {
    pub fn new(t: &Translation) -> Writer {
        Writer {
            model: t.model.clone(),
        }
    }
}

impl super::Write for Writer {
    fn write(&mut self, ev: &Ev, out: &mut Vec<u8>) {
        match ev {
            Ev::Start { id, usage } => {
                let message = json!({
                    "id": id, "type": "message", "role": "assistant", "model": self.model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": anthropic_usage(usage),
                });
                sse(
                    out,
                    "message_start",
                    &json!({ "type": "message_start", "message": message }),
                );
            }
            Ev::Open { index, block } => {
                let content_block = match block {
                    Block::Text => json!({ "type": "text", "text": "" }),
                    Block::Thinking => {
                        json!({ "type": "thinking", "thinking": "", "signature": "" })
                    }
                    Block::Tool { id, name } => {
                        json!({ "type": "tool_use", "id": id, "name": name, "input": {} })
                    }
                };
                sse(
                    out,
                    "content_block_start",
                    &json!({ "type": "content_block_start", "index": index, "content_block": content_block }),
                );
            }
            Ev::Text { index, text } => {
                delta(out, *index, json!({ "type": "text_delta", "text": text }))
            }
            Ev::Thinking { index, text } => delta(
                out,
                *index,
                json!({ "type": "thinking_delta", "thinking": text }),
            ),
            Ev::Signature { index, signature } => delta(
                out,
                *index,
                json!({ "type": "signature_delta", "signature": signature }),
            ),
            Ev::Args { index, json } => delta(
                out,
                *index,
                json!({ "type": "input_json_delta", "partial_json": json }),
            ),
            Ev::Close { index } => sse(
                out,
                "content_block_stop",
                &json!({ "type": "content_block_stop", "index": index }),
            ),
            Ev::End { stop, usage } => sse(
                out,
                "message_delta",
                &json!({
                    "type": "message_delta",
                    "delta": { "stop_reason": stop, "stop_sequence": null },
                    "usage": anthropic_usage(usage),
                }),
            ),
            Ev::Done => sse(out, "message_stop", &json!({ "type": "message_stop" })),
            Ev::Error { message } => sse(
                out,
                "error",
                &json!({ "type": "error", "error": { "type": "api_error", "message": message } }),
            ),
        }
    }
}

fn delta(out: &mut Vec<u8>, index: usize, delta: Value) {
    sse(
        out,
        "content_block_delta",
        &json!({ "type": "content_block_delta", "index": index, "delta": delta }),
    );
}
