//! Whole SSE events out of a byte stream split anywhere: the one framer behind the relay's
//! usage-chunk filter and stream translation. (The usage scanner reads line by line instead,
//! so it never holds a long text event back: see `sse.rs`.)

/// Bytes of a stream not yet framed into events.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
}

/// One event: its `event:` name (empty when it has none) and its `data:` lines joined by
/// `\n`, as SSE defines.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub data: Vec<u8>,
}

impl Framer {
    /// Adds `chunk` and calls `each` with every event completed by it, raw (blank line
    /// included); an unfinished event is kept for the next chunk.
    pub fn push(&mut self, chunk: &[u8], each: impl FnMut(&[u8])) {
        self.buf.extend_from_slice(chunk);
        let used = complete_events(&self.buf, each);
        self.buf.drain(..used);
    }

    /// The stream ended: what is left, as a last event when it holds anything.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let rest = std::mem::take(&mut self.buf);
        (!rest.trim_ascii().is_empty()).then_some(rest)
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// Calls `each` with every complete event at the start of `buf`; returns the bytes used.
fn complete_events(buf: &[u8], mut each: impl FnMut(&[u8])) -> usize {
    let mut start = 0;
    let mut from = 0;
    while let Some(nl) = memchr::memchr(b'\n', &buf[from..]).map(|i| from + i) {
        // An event ends at a blank line: "\n\n" or "\n\r\n".
        let end = match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\n'), _) => Some(nl + 2),
            (Some(b'\r'), Some(b'\n')) => Some(nl + 3),
            _ => None,
        };
        match end {
            Some(e) => {
                each(&buf[start..e]);
                start = e;
                from = e;
            }
            None => from = nl + 1,
        }
    }
    start
}

/// Reads one raw event's name and data.
pub fn parse(raw: &[u8]) -> Event {
    let mut ev = Event::default();
    let mut has_data = false;
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(name) = line.strip_prefix(b"event:") {
            ev.name = String::from_utf8_lossy(name).trim().to_owned();
        } else if let Some(d) = line.strip_prefix(b"data:") {
            if has_data {
                ev.data.push(b'\n');
            }
            ev.data.extend_from_slice(d.strip_prefix(b" ").unwrap_or(d));
            has_data = true;
        }
    }
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events_of(stream: &[u8], cut: &[usize]) -> Vec<Event> {
        let mut f = Framer::default();
        let mut out = Vec::new();
        let mut at = 0;
        for &c in cut.iter().chain(std::iter::once(&stream.len())) {
            f.push(&stream[at..c], |raw| out.push(parse(raw)));
            at = c;
        }
        out.extend(f.finish().map(|r| parse(&r)));
        out
    }

    #[test]
    fn events_are_the_same_wherever_the_stream_is_cut() {
        let stream =
            b"event: a\r\ndata: {\"x\":\r\ndata: 1}\r\n\r\ndata: [DONE]\n\n: comment\n\ndata: tail";
        let whole = events_of(stream, &[]);
        assert_eq!(whole.len(), 4);
        assert_eq!(whole[0].name, "a");
        assert_eq!(whole[0].data, b"{\"x\":\n1}");
        assert_eq!(whole[1].data, b"[DONE]");
        assert_eq!(whole[2].data, b"");
        assert_eq!(whole[3].data, b"tail");
        for i in 0..stream.len() {
            for j in i..stream.len() {
                assert_eq!(events_of(stream, &[i, j]), whole, "cut at {i} and {j}");
            }
        }
    }
}
