//! Responses streams written from pivot events: each block an output item, opened, streamed
//! and closed, then `response.completed` with the whole response.

use serde_json::{Value, json};

use super::responses::{item, response, status_of};
use super::{Block, Ev, Translation, Usage, sse, str_of};

/// Writes a Responses stream: each block an output item, opened, streamed and closed.
pub struct Writer {
    t: Translation,
    seq: u64,
    /// The block being streamed, as the Anthropic block it will be.
    open: Option<(usize, Value)>,
    output: Vec<Value>,
    stop: String,
    usage: Usage,
}

impl Writer {
    pub fn new(t: &Translation) -> Writer {
        Writer {
            t: t.clone(),
            seq: 0,
            open: None,
            output: Vec::new(),
            stop: "end_turn".into(),
            usage: Usage::default(),
        }
    }

    fn emit(&mut self, out: &mut Vec<u8>, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        sse(out, kind, &data);
    }

    /// The output item of the open block, as it stands.
    fn current(&self) -> Option<(usize, Value)> {
        let (n, block) = self.open.as_ref()?;
        Some((self.output.len(), item(&self.t, *n, block)?))
    }
}

impl super::Write for Writer {
    fn write(&mut self, ev: &Ev, out: &mut Vec<u8>) {
        match ev {
            Ev::Start { .. } => {
                let r = json!({ "response": response::<Value>(&self.t, "in_progress", Vec::new(), None) });
                self.emit(out, "response.created", r.clone());
                self.emit(out, "response.in_progress", r);
            }
            Ev::Open { index, block } => {
                let b = match block {
                    Block::Text => json!({ "type": "text", "text": "" }),
                    Block::Thinking => {
                        json!({ "type": "thinking", "thinking": "", "signature": "" })
                    }
                    Block::Tool { id, name } => {
                        json!({ "type": "tool_use", "id": id, "name": name, "input": {}, "args": "" })
                    }
                };
                self.open = Some((*index, b));
                let Some((at, mut it)) = self.current() else {
                    return;
                };
                it["status"] = json!("in_progress");
                if let Some(a) = it.get_mut("arguments") {
                    *a = json!("");
                }
                if it.get("input").is_some_and(Value::is_string) {
                    it["input"] = json!("");
                }
                let id = it["id"].clone();
                if let Some(c) = it.get_mut("content") {
                    *c = json!([]);
                }
                if let Some(s) = it.get_mut("summary") {
                    *s = json!([]);
                }
                self.emit(
                    out,
                    "response.output_item.added",
                    json!({ "output_index": at, "item": it }),
                );
                match block {
                    Block::Text => self.emit(
                        out,
                        "response.content_part.added",
                        json!({
                            "item_id": id, "output_index": at, "content_index": 0,
                            "part": { "type": "output_text", "text": "", "annotations": [] },
                        }),
                    ),
                    Block::Thinking => self.emit(
                        out,
                        "response.reasoning_summary_part.added",
                        json!({
                            "item_id": id, "output_index": at, "summary_index": 0,
                            "part": { "type": "summary_text", "text": "" },
                        }),
                    ),
                    Block::Tool { .. } => {}
                }
            }
            Ev::Text { text, .. } | Ev::Thinking { text, .. } | Ev::Args { json: text, .. } => {
                let Some((_, b)) = self.open.as_mut() else {
                    return;
                };
                let field = match str_of(b, "type") {
                    Some("text") => "text",
                    Some("thinking") => "thinking",
                    _ => "args",
                };
                let mut s = str_of(b, field).unwrap_or("").to_owned();
                s.push_str(text);
                b[field] = json!(s);
                let Some((at, it)) = self.current() else {
                    return;
                };
                let id = it["id"].clone();
                match field {
                    "text" => self.emit(
                        out,
                        "response.output_text.delta",
                        json!({
                            "item_id": id, "output_index": at, "content_index": 0, "delta": text,
                        }),
                    ),
                    "thinking" => self.emit(
                        out,
                        "response.reasoning_summary_text.delta",
                        json!({
                            "item_id": id, "output_index": at, "summary_index": 0, "delta": text,
                        }),
                    ),
                    // A freeform call's input is a string inside the JSON: sent whole at the end.
                    _ if it["type"] == "custom_tool_call" => {}
                    _ => self.emit(
                        out,
                        "response.function_call_arguments.delta",
                        json!({
                            "item_id": id, "output_index": at, "delta": text,
                        }),
                    ),
                }
            }
            Ev::Signature { signature, .. } => {
                if let Some((_, b)) = self.open.as_mut() {
                    let mut s = str_of(b, "signature").unwrap_or("").to_owned();
                    s.push_str(signature);
                    b["signature"] = json!(s);
                }
            }
            Ev::Close { .. } => {
                if let Some((_, b)) = self.open.as_mut()
                    && let Some(args) = str_of(b, "args").map(str::to_owned)
                {
                    b["input"] = super::args_object(&args);
                }
                let Some((at, it)) = self.current() else {
                    self.open = None;
                    return;
                };
                let id = it["id"].clone();
                match str_of(&it, "type").unwrap_or("") {
                    "message" => {
                        let text = crate::json::at(&it, &["content", "0", "text"])
                            .cloned()
                            .unwrap_or(json!(""));
                        self.emit(
                            out,
                            "response.output_text.done",
                            json!({
                                "item_id": id, "output_index": at, "content_index": 0, "text": text,
                            }),
                        );
                        self.emit(
                            out,
                            "response.content_part.done",
                            json!({
                                "item_id": id, "output_index": at, "content_index": 0,
                                "part": it["content"][0].clone(),
                            }),
                        );
                    }
                    "reasoning" => {
                        let text = crate::json::at(&it, &["summary", "0", "text"])
                            .cloned()
                            .unwrap_or(json!(""));
                        self.emit(
                            out,
                            "response.reasoning_summary_text.done",
                            json!({
                                "item_id": id, "output_index": at, "summary_index": 0, "text": text,
                            }),
                        );
                        self.emit(
                            out,
                            "response.reasoning_summary_part.done",
                            json!({
                                "item_id": id, "output_index": at, "summary_index": 0,
                                "part": it["summary"][0].clone(),
                            }),
                        );
                    }
                    "function_call" => self.emit(
                        out,
                        "response.function_call_arguments.done",
                        json!({
                            "item_id": id, "output_index": at, "arguments": it["arguments"].clone(),
                        }),
                    ),
                    "custom_tool_call" => {
                        self.emit(
                            out,
                            "response.custom_tool_call_input.delta",
                            json!({
                                "item_id": id, "output_index": at, "delta": it["input"].clone(),
                            }),
                        );
                        self.emit(
                            out,
                            "response.custom_tool_call_input.done",
                            json!({
                                "item_id": id, "output_index": at, "input": it["input"].clone(),
                            }),
                        );
                    }
                    _ => {}
                }
                self.emit(
                    out,
                    "response.output_item.done",
                    json!({ "output_index": at, "item": it.clone() }),
                );
                self.output.push(it);
                self.open = None;
            }
            Ev::End { stop, usage } => {
                self.stop = stop.clone();
                self.usage = *usage;
            }
            Ev::Done => {
                let status = status_of(&self.stop);
                let r = response(&self.t, status, self.output.clone(), Some(&self.usage));
                let kind = if status == "incomplete" {
                    "response.incomplete"
                } else {
                    "response.completed"
                };
                self.emit(out, kind, json!({ "response": r }));
            }
            Ev::Error { message } => self.emit(
                out,
                "error",
                json!({ "code": "upstream_error", "message": message, "param": null }),
            ),
        }
    }
}
