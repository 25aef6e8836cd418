//! Streams in the pivot: Anthropic's events typed ([`Ev`]), the seams each format's stream
//! reader and writer implement, and the stream translated event by event as bytes arrive.

use bytes::Bytes;
use serde_json::Value;

use super::Usage;
use super::frame::{self, Framer};

/// One event of a response stream in the pivot: Anthropic's events, typed.
#[derive(Clone, Debug, PartialEq)]
pub enum Ev {
    Start {
        id: String,
        usage: Usage,
    },
    Open {
        index: usize,
        block: Block,
    },
    Text {
        index: usize,
        text: String,
    },
    Thinking {
        index: usize,
        text: String,
    },
    Signature {
        index: usize,
        signature: String,
    },
    Args {
        index: usize,
        json: String,
    },
    Close {
        index: usize,
    },
    /// The stop reason (Anthropic's words) and the whole response's usage.
    End {
        stop: String,
        usage: Usage,
    },
    Done,
    Error {
        message: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    Text,
    Thinking,
    Tool { id: String, name: String },
}

/// Reads one upstream format's stream events into pivot events.
pub trait Read: Send {
    /// One SSE event (its name and data).
    fn event(&mut self, name: &str, data: &[u8], out: &mut Vec<Ev>);
    /// The upstream closed the stream.
    fn finish(&mut self, out: &mut Vec<Ev>);
}

/// Writes pivot events as one client format's stream.
pub trait Write: Send {
    fn write(&mut self, ev: &Ev, out: &mut Vec<u8>);
    /// After the last event (a JSON array stream closes its array).
    fn finish(&mut self, _out: &mut Vec<u8>) {}
}

/// A stream being translated, event by event as the upstream's bytes arrive.
pub struct Stream {
    pub(super) framer: Framer,
    pub(super) reader: Box<dyn Read>,
    pub(super) writer: Box<dyn Write>,
    pub(super) events: Vec<Ev>,
}

impl Stream {
    /// The client's bytes for the next upstream chunk (empty until an event completes).
    pub fn feed(&mut self, chunk: &[u8]) -> Bytes {
        let (reader, events) = (&mut self.reader, &mut self.events);
        self.framer.push(chunk, |raw| {
            let ev = frame::parse(raw);
            reader.event(&ev.name, &ev.data, events);
        });
        self.flush()
    }

    /// The upstream ended: the rest of the client's stream.
    pub fn finish(&mut self) -> Bytes {
        if let Some(raw) = self.framer.finish() {
            let ev = frame::parse(&raw);
            self.reader.event(&ev.name, &ev.data, &mut self.events);
        }
        self.reader.finish(&mut self.events);
        let mut out = self.flush().to_vec();
        self.writer.finish(&mut out);
        Bytes::from(out)
    }

    fn flush(&mut self) -> Bytes {
        let mut out = Vec::new();
        for ev in self.events.drain(..) {
            self.writer.write(&ev, &mut out);
        }
        Bytes::from(out)
    }
}

/// An SSE event with a name.
pub fn sse(out: &mut Vec<u8>, name: &str, data: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// An SSE event of data only.
pub fn sse_data(out: &mut Vec<u8>, data: &Value) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// Builds a well-formed pivot stream for a reader whose format has no Anthropic-style
/// framing (chat, Gemini): one start, blocks opened one at a time and closed before the next,
/// one end. Text and thinking continue an open block of their kind; a tool call always opens
/// its own.
pub struct Builder {
    /// The request id, for the message id when the upstream gives none.
    pub id: String,
    started: bool,
    open: Option<(usize, bool, bool)>,
    next: usize,
    done: bool,
}

impl Builder {
    pub fn new(id: &str) -> Builder {
        Builder {
            id: id.to_owned(),
            started: false,
            open: None,
            next: 0,
            done: false,
        }
    }

    /// Whether the stream has ended (or failed): later upstream events are ignored.
    pub fn done(&self) -> bool {
        self.done
    }

    /// The index the next opened block will get.
    pub fn next_index(&self) -> usize {
        self.next
    }

    /// Emits the start once, named after the upstream's id when it has one.
    pub fn start(&mut self, upstream_id: Option<&str>, out: &mut Vec<Ev>) {
        if !self.started {
            self.started = true;
            out.push(Ev::Start {
                id: format!("msg_{}", upstream_id.unwrap_or(&self.id)),
                usage: Usage::default(),
            });
        }
    }

    /// The index of the block `block` goes in: the open one when it is text or thinking of
    /// the same kind, else a new one (closing the open one).
    pub fn block(&mut self, block: Block, out: &mut Vec<Ev>) -> usize {
        let thinking = matches!(block, Block::Thinking);
        let tool = matches!(block, Block::Tool { .. });
        if let Some((i, open_thinking, open_tool)) = self.open
            && !tool
            && !open_tool
            && open_thinking == thinking
        {
            return i;
        }
        self.close(out);
        let index = self.next;
        self.next += 1;
        out.push(Ev::Open { index, block });
        self.open = Some((index, thinking, tool));
        index
    }

    pub fn close(&mut self, out: &mut Vec<Ev>) {
        if let Some((index, _, _)) = self.open.take() {
            out.push(Ev::Close { index });
        }
    }

    /// Ends the stream with `stop` (Anthropic's words) and the whole usage.
    pub fn end(&mut self, stop: &str, usage: Usage, out: &mut Vec<Ev>) {
        if self.done {
            return;
        }
        self.done = true;
        self.start(None, out);
        self.close(out);
        out.push(Ev::End {
            stop: stop.to_owned(),
            usage,
        });
        out.push(Ev::Done);
    }

    /// Ends the stream with the upstream's error.
    pub fn fail(&mut self, message: &str, out: &mut Vec<Ev>) {
        self.done = true;
        out.push(Ev::Error {
            message: message.to_owned(),
        });
    }
}
