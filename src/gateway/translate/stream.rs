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
