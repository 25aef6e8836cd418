//! How an upstream writes its JSON, for fakes that must vary what real servers vary. Also
//! included by the library's own scanner tests (`src/gateway/usage.rs`), so both test the
//! same shapes.
#![allow(dead_code)]

/// How the fake writes its JSON: real servers differ (Python's `json.dumps` puts a space after
/// every `:` and `,`; some relays pretty-print, splitting one SSE event over several `data:`
/// lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Compact,
    Spaced,
    Pretty,
}

impl Style {
    /// `json` (compact) written in this style.
    pub fn json(self, json: &str) -> String {
        match self {
            Style::Compact => json.to_owned(),
            Style::Spaced => spaced(json),
            Style::Pretty => {
                let v: serde_json::Value = serde_json::from_str(json).unwrap();
                serde_json::to_string_pretty(&v).unwrap()
            }
        }
    }

    /// An SSE event with each `data:` line's JSON written in this style (pretty JSON takes a
    /// `data:` line per line, as SSE allows).
    pub fn event(self, event: &str) -> String {
        let mut out = String::new();
        for line in event.split_inclusive('\n') {
            let body = line.trim_end_matches(['\r', '\n']);
            let end = &line[body.len()..];
            match body.strip_prefix("data: ") {
                Some(json) if json.starts_with('{') => {
                    for l in self.json(json).lines() {
                        out.push_str(&format!("data: {l}{end}"));
                    }
                }
                _ => out.push_str(line),
            }
        }
        out
    }
}

/// Compact JSON as Python writes it: `", "` and `": "` outside strings.
fn spaced(json: &str) -> String {
    let (mut out, mut in_str, mut escaped) = (String::new(), false, false);
    for c in json.chars() {
        out.push(c);
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
        } else if c == '"' {
            in_str = true;
        } else if c == ':' || c == ',' {
            out.push(' ');
        }
    }
    out
}
