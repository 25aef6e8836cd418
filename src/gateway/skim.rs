//! Walks a JSON text checking its grammar without building or decoding it: where each
//! top-level field's value lies, at the speed of a byte search over the strings.
//!
//! Hand-written because it is measured to matter: every relayed request's body is read once
//! for its routing fields, and a long coding session sends hundreds of kB whose text has an
//! escape every few dozen bytes. Skipping such a body with serde_json ran at about 1.0 GB/s,
//! this at 1.4 GB/s (`cargo test --release --lib pick_cost -- --ignored --nocapture`); only
//! the few fields a caller wants are handed to serde_json.

use std::borrow::Cow;

/// Why a text is not JSON, and where (a byte offset).
#[derive(Debug, PartialEq)]
pub struct SkimError {
    pub what: String,
    pub at: usize,
}

impl std::fmt::Display for SkimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

/// Where the long strings and the large containers of a text [`fields`] checked lie, in the
/// order they open: the offsets of each one's opening and closing quote or bracket, with
/// [`ESCAPED`] set on a string's closing one when it holds an escape. What lets a second
/// reading of the same text ([`super::checked`]) jump over a conversation's texts, and over the
/// values it keeps as written (tool schemas, content), instead of scanning them again. Strings
/// shorter than [`LONG`] bytes (keys, roles, ids) and containers shorter than [`LARGE`] are
/// left out, which keeps the notes a small part of the body: about a tenth of a long coding
/// session made of small turns (the `pick_cost` test's), where noting every string took 70 %.
#[derive(Debug, Default, Clone)]
pub struct Notes(pub(super) Vec<(u32, u32)>);

/// Strings at least this long, quotes included, are noted.
pub const LONG: usize = 24;

/// Containers at least this long, brackets included, are noted: scanning a shorter one again
/// costs about what noting it does.
pub const LARGE: usize = 128;

/// Set on a [`Notes`] closing offset whose string holds an escape.
pub const ESCAPED: u32 = 1 << 31;

/// Texts up to this long are noted (the offsets fit the notes' 31 bits); a longer one, past
/// any body limit in use, is read again without notes.
const NOTED_UP_TO: usize = ESCAPED as usize;

/// What [`fields`] found at the top of the text.
#[derive(Debug, PartialEq)]
pub enum Top {
    Object,
    /// Valid JSON, but not an object.
    Other,
}

/// Calls `each(raw_key, value_start, value_end)` for every field of the top-level object of
/// `b`, in order, where `raw_key` is the key as written between its quotes (escapes
/// undecoded), and notes where its long strings lie. Checks the whole text's grammar, except
/// that strings are taken as UTF-8 without checking it (callers check the whole body at once)
/// and `\u` escapes are not checked for paired surrogates (as serde_json's skipping does not).
pub fn fields(
    b: &[u8],
    mut each: impl FnMut(&[u8], usize, usize) -> Result<(), SkimError>,
) -> Result<(Top, Notes), SkimError> {
    let mut s = Skim {
        b,
        i: 0,
        // About what a coding session's conversation needs, so the notes are seldom moved
        // as they grow; nothing for a small request.
        notes: Vec::with_capacity(b.len() / 512),
        noting: b.len() <= NOTED_UP_TO,
    };
    s.ws();
    if s.peek() != Some(b'{') {
        s.value()?;
        s.end()?;
        return Ok((Top::Other, Notes(s.notes)));
    }
    s.i += 1;
    s.ws();
    if s.peek() == Some(b'}') {
        s.i += 1;
    } else {
        loop {
            let key = s.key()?;
            s.ws();
            let start = s.i;
            s.value()?;
            each(&b[key.0..key.1], start, s.i)?;
            s.ws();
            match s.peek() {
                Some(b',') => {
                    s.i += 1;
                    s.ws();
                }
                Some(b'}') => {
                    s.i += 1;
                    break;
                }
                _ => return Err(s.error("expected `,` or `}`")),
            }
        }
    }
    s.end()?;
    Ok((Top::Object, Notes(s.notes)))
}

/// The text of a JSON string as written, quotes included: borrowed when it holds no escape,
/// decoded when it does; `None` when it is not a string, or an escape does not decode (a lone
/// surrogate). Asking serde_json for a borrowed `&str` first would build and format an error
/// for every escaped string.
pub fn string_text(json: &str) -> Option<Cow<'_, str>> {
    let inner = json.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    unescape(inner)
        .or_else(|| serde_json::from_str(json).ok())
        .map(Cow::Owned)
}

/// The text of a string's inside holding only the one-letter escapes (`\n`, `\"`, …), which
/// are most of what a tool call's arguments hold: a quote at every key. `None` for anything
/// else (a `\u` escape, a raw control character or quote), which serde_json then decodes or
/// refuses. Measured under callgrind: serde_json took about 1 600 instructions for a
/// 40-byte argument string, through its scratch buffer and a second UTF-8 check.
fn unescape(inner: &str) -> Option<String> {
    let b = inner.as_bytes();
    let mut out = String::with_capacity(inner.len());
    let mut at = 0;
    loop {
        let special = at + next_special(&b[at..]).unwrap_or(b.len() - at);
        out.push_str(&inner[at..special]);
        let Some(&c) = b.get(special) else {
            return Some(out);
        };
        if c != b'\\' {
            return None;
        }
        out.push(match b.get(special + 1)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            _ => return None,
        });
        at = special + 2;
    }
}

/// Checks `b` whole and notes its long strings ([`fields`] without looking at the fields).
pub fn note(b: &[u8]) -> Result<(Top, Notes), SkimError> {
    fields(b, |_, _, _| Ok(()))
}

/// Where the first `"`, `\\` or control character of `rest` is. Eight bytes are tested at a
/// time, reading on past the string's end (the rest of the body is there): strings in a
/// request are short and broken by escapes every few dozen bytes, so what a search costs to
/// start and stop matters more than its speed on long runs, which is why this is not `memchr`
/// (measured under callgrind: `pick` took a quarter more instructions with `memchr2` and a
/// separate check for control characters).
pub(super) fn next_special(rest: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::MAX / 255;
    let mut at = 0;
    while let Some(chunk) = rest.get(at..at + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // A byte's high bit is set below where it is zero (in `x - ONES`); the lowest flagged
        // byte is exact, which is the only one read.
        let control = x.wrapping_sub(ONES * 0x20) & !x;
        let q = x ^ (ONES * u64::from(b'"'));
        let quote = q.wrapping_sub(ONES) & !q;
        let e = x ^ (ONES * u64::from(b'\\'));
        let escape = e.wrapping_sub(ONES) & !e;
        let found = (control | quote | escape) & (ONES << 7);
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    rest[at..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| at + p)
}

/// The containers a value is inside, innermost last: whether each is an object, and where
/// its note is in the notes. The first 64 levels are kept in place, so that skimming a
/// request's values allocates nothing for them.
struct Open {
    objects: u64,
    depth: usize,
    notes_at: [usize; 64],
    deeper: Vec<(bool, usize)>,
}

impl Open {
    fn new() -> Open {
        Open {
            objects: 0,
            depth: 0,
            notes_at: [0; 64],
            deeper: Vec::new(),
        }
    }

    fn push(&mut self, object: bool, note_at: usize) {
        if self.depth < 64 {
            let bit = 1 << self.depth;
            self.objects = (self.objects & !bit) | if object { bit } else { 0 };
            self.notes_at[self.depth] = note_at;
        } else {
            self.deeper.push((object, note_at));
        }
        self.depth += 1;
    }

    fn last(&self) -> Option<bool> {
        match self.depth {
            0 => None,
            d if d <= 64 => Some(self.objects >> (d - 1) & 1 == 1),
            _ => self.deeper.last().map(|&(object, _)| object),
        }
    }

    /// Leaves the innermost container; where its note is.
    fn pop(&mut self) -> usize {
        self.depth -= 1;
        if self.depth >= 64 {
            self.deeper.pop().expect("a container is open").1
        } else {
            self.notes_at[self.depth]
        }
    }
}

struct Skim<'a> {
    b: &'a [u8],
    i: usize,
    /// Where the long strings and large containers passed so far lie (see [`Notes`]).
    notes: Vec<(u32, u32)>,
    noting: bool,
}

impl Skim<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn error(&self, what: &'static str) -> SkimError {
        let what = if self.i >= self.b.len() {
            "unexpected end of input"
        } else {
            what
        };
        SkimError {
            what: what.to_owned(),
            at: self.i,
        }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    fn end(&mut self) -> Result<(), SkimError> {
        self.ws();
        if self.i == self.b.len() {
            Ok(())
        } else {
            Err(self.error("trailing characters"))
        }
    }

    /// An object's key and its colon; returns the key's span inside its quotes.
    fn key(&mut self) -> Result<(usize, usize), SkimError> {
        if self.peek() != Some(b'"') {
            return Err(self.error("expected a field name"));
        }
        let start = self.i + 1;
        self.string()?;
        let end = self.i - 1;
        self.ws();
        if self.peek() != Some(b':') {
            return Err(self.error("expected `:`"));
        }
        self.i += 1;
        Ok((start, end))
    }

    /// From an opening quote to just past the closing one.
    fn string(&mut self) -> Result<(), SkimError> {
        let open = self.i;
        self.i += 1;
        let mut escaped = 0;
        loop {
            let Some(n) = next_special(&self.b[self.i..]) else {
                self.i = self.b.len();
                return Err(self.error("unterminated string"));
            };
            self.i += n;
            match self.b[self.i] {
                b'"' => {
                    if self.noting && self.i + 1 - open >= LONG {
                        self.notes.push((open as u32, self.i as u32 | escaped));
                    }
                    self.i += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.i += 1;
                    escaped = ESCAPED;
                }
                _ => return Err(self.error("control character in a string")),
            }
            match self.peek() {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                Some(b'u') => {
                    let hex = self.b.get(self.i + 1..self.i + 5);
                    if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                        return Err(self.error("invalid \\u escape"));
                    }
                    self.i += 5;
                }
                _ => return Err(self.error("invalid escape")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<(), SkimError> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        Ok(())
    }

    /// One scalar, or the start of a container; `true` when a container was opened (and
    /// is not empty), with it pushed on `open`.
    fn scalar_or_open(&mut self, open: &mut Open) -> Result<bool, SkimError> {
        match self.peek() {
            Some(c @ (b'{' | b'[')) => {
                let at = self.i;
                self.i += 1;
                self.ws();
                let close = if c == b'{' { b'}' } else { b']' };
                if self.peek() == Some(close) {
                    self.i += 1;
                    return Ok(false);
                }
                // Noted at once, so the notes stay in the order things open; its end is
                // filled in when it closes, or the note taken back if it was short.
                open.push(c == b'{', self.notes.len());
                if self.noting {
                    self.notes.push((at as u32, 0));
                }
                if c == b'{' {
                    self.key()?;
                    self.ws();
                }
                Ok(true)
            }
            Some(b'"') => self.string().map(|()| false),
            Some(b'-' | b'0'..=b'9') => self.number().map(|()| false),
            Some(c @ (b't' | b'f' | b'n')) => {
                let word: &[u8] = match c {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                if !self.b[self.i..].starts_with(word) {
                    return Err(self.error("expected a value"));
                }
                self.i += word.len();
                Ok(false)
            }
            _ => Err(self.error("expected a value")),
        }
    }

    /// Past the closing bracket at the current byte, noting the container if it is large.
    fn close(&mut self, open: &mut Open) {
        let note = open.pop();
        if !self.noting {
            // Nothing was noted.
        } else if self.i + 1 - self.notes[note].0 as usize >= LARGE {
            self.notes[note].1 = self.i as u32;
        } else if note + 1 == self.notes.len() {
            self.notes.pop();
        } else {
            // Only the notes of its own few long strings come after it.
            self.notes.remove(note);
        }
        self.i += 1;
    }

    /// One whole value, from its first byte to just past its last. Nesting is kept on a
    /// stack, not recursed into, so no depth exhausts the thread's stack.
    fn value(&mut self) -> Result<(), SkimError> {
        let mut open = Open::new();
        loop {
            if self.scalar_or_open(&mut open)? {
                continue;
            }
            // After a value: close what ends here, or go on to the next element.
            loop {
                let Some(object) = open.last() else {
                    return Ok(());
                };
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        self.ws();
                        if object {
                            self.key()?;
                            self.ws();
                        }
                        break;
                    }
                    Some(b'}') if object => self.close(&mut open),
                    Some(b']') if !object => self.close(&mut open),
                    _ => return Err(self.error("expected `,` or a closing bracket")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
