//! Reads chosen top-level fields of a JSON object without building the rest: a request's or an
//! answer's bulk (conversation, content) is checked and skipped, never copied into a tree.

use serde_json::{Map, Value};

use super::skim::{Notes, SkimError, Top, fields};

/// The fields of the JSON object `body` named in `fields`, as an object holding just those
/// (the last one wins when a name repeats, as in a full parse). Fails on anything that is not
/// a JSON object, or not valid JSON, or not UTF-8 (including inside skipped strings).
pub fn pick(body: &[u8], wanted: &[&str]) -> Result<Map<String, Value>, PickError> {
    pick_noting(body, wanted).map(|(picked, _)| picked)
}

/// [`pick`], and where the body's long strings lie, for reading it again with
/// [`super::checked`].
pub fn pick_noting(body: &[u8], wanted: &[&str]) -> Result<(Map<String, Value>, Notes), PickError> {
    // The skimmer does not decode strings; a body that is not text is refused here, at once.
    match std::str::from_utf8(body) {
        Ok(text) => pick_text(text, wanted),
        Err(e) => Err(PickError::Syntax(format!(
            "invalid UTF-8 at byte {}",
            e.valid_up_to()
        ))),
    }
}

/// [`pick_noting`] of a body already known to be text.
pub fn pick_text(text: &str, wanted: &[&str]) -> Result<(Map<String, Value>, Notes), PickError> {
    let body = text.as_bytes();
    let mut out = Map::new();
    let top = fields(body, |key, start, end| {
        let Some(name) = find(wanted, key).map(|i| wanted[i]) else {
            return Ok(());
        };
        let value = value_of(&body[start..end]).map_err(|e| {
            // Its position is within the value; the skimmer's is within the body.
            let e = e.to_string();
            let why = e.split(" at line ").next().unwrap_or(&e);
            SkimError {
                what: format!("invalid `{name}` ({why})"),
                at: start,
            }
        })?;
        out.insert(name.to_owned(), value);
        Ok(())
    });
    match top {
        Ok((Top::Object, notes)) => Ok((out, notes)),
        Ok((Top::Other, _)) => Err(PickError::NotObject),
        Err(e) => Err(PickError::Syntax(e.to_string())),
    }
}

/// Which of the wanted names a key as written between its quotes is, if any (escapes decoded
/// only when there are any, which keys almost never have).
pub(super) fn find(wanted: &[&str], raw: &[u8]) -> Option<usize> {
    // Wanted names hold no escapes: a key equal to one as written is it, and only a key
    // written with an escape can be one without being equal.
    if let Some(i) = wanted.iter().position(|n| n.as_bytes() == raw) {
        return Some(i);
    }
    if !raw.contains(&b'\\') {
        return None;
    }
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    let key: String = serde_json::from_slice(&quoted).ok()?;
    wanted.iter().position(|n| *n == key)
}

/// A value the skimmer found whole. The usual routing values (a plain string, a literal) are
/// taken as they are; the rest is parsed, with serde_json's depth limit and its check of `\u`
/// escapes.
fn value_of(v: &[u8]) -> serde_json::Result<Value> {
    match v {
        b"true" => Ok(Value::Bool(true)),
        b"false" => Ok(Value::Bool(false)),
        b"null" => Ok(Value::Null),
        [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') => {
            Ok(Value::String(String::from_utf8_lossy(inner).into_owned()))
        }
        _ => serde_json::from_slice(v),
    }
}

#[derive(Debug, PartialEq)]
pub enum PickError {
    /// Valid JSON, but not an object.
    NotObject,
    /// Not JSON; where and why.
    Syntax(String),
}

/// `body` with its top-level field `key` set to `value` (JSON text), changed as text: the rest
/// of the body is copied byte for byte, never parsed into a tree, so a body any parser takes
/// (deep nesting, lone surrogate escapes, huge conversations) is rewritten as reliably as a
/// small one. The last repeat of the key is the one replaced (the one [`pick`] read); a body
/// without the key gets it first. `body` must be a JSON object that [`pick`] accepted.
pub fn set_field(body: &[u8], key: &str, value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + key.len() + value.len() + 4);
    match field_span(body, key) {
        Some((start, end)) => {
            out.extend_from_slice(&body[..start]);
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(&body[end..]);
        }
        None => {
            let open = body.iter().position(|&b| b == b'{').unwrap_or(0);
            let rest = &body[open + 1..];
            let empty = rest.trim_ascii_start().first() == Some(&b'}');
            out.extend_from_slice(&body[..=open]);
            let name = serde_json::to_string(key).expect("a key serializes");
            out.extend_from_slice(format!("{name}:{value}").as_bytes());
            if !empty {
                out.push(b',');
            }
            out.extend_from_slice(rest);
        }
    }
    out
}

/// The byte range of the value of the last top-level `key` in the JSON object `body`.
fn field_span(body: &[u8], key: &str) -> Option<(usize, usize)> {
    let mut found = None;
    fields(body, |raw, start, end| {
        if find(&[key], raw).is_some() {
            found = Some((start, end));
        }
        Ok(())
    })
    .ok()?;
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[&str] = &["model", "choices"];

    #[test]
    fn only_the_named_fields_are_kept_and_the_last_repeat_wins() {
        let m = pick(
            br#"{"messages":[{"content":"long"}],"model":"a","choices":null,"mod\u0065l":"b"}"#,
            FIELDS,
        )
        .unwrap();
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"model":"b","choices":null})
        );
    }

    #[test]
    fn anything_but_a_json_object_is_refused_with_the_reason() {
        assert_eq!(pick(b"null", FIELDS), Err(PickError::NotObject));
        assert_eq!(pick(b"[1]", FIELDS), Err(PickError::NotObject));
        for bad in [
            &b"{\"model\":"[..],
            b"{\"x\": \"\xc3\x28\"}",
            b"{} trailing",
            b"{\"model\":\"a\",}",
        ] {
            assert!(
                matches!(pick(bad, FIELDS), Err(PickError::Syntax(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Skipping is not recursive: deep nesting in a skipped field cannot exhaust the stack.
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(pick(deep.as_bytes(), FIELDS).is_ok());
        // A kept field is parsed whole, with its escapes checked, and the parser's depth limit.
        assert!(matches!(
            pick(br#"{"model":"\ud800"}"#, FIELDS),
            Err(PickError::Syntax(e)) if e == "invalid `model` (unexpected end of hex escape) at byte 9"
        ));
        assert!(pick(br#"{"other":"\ud800"}"#, FIELDS).is_ok());
        let deep = format!("{{\"model\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            pick(deep.as_bytes(), FIELDS),
            Err(PickError::Syntax(_))
        ));
    }

    #[test]
    fn a_field_is_set_as_text_whatever_the_rest_of_the_body_holds() {
        let set = |body: &str, key: &str, value: &str| {
            assert!(pick(body.as_bytes(), FIELDS).is_ok(), "valid input: {body}");
            let out = String::from_utf8(set_field(body.as_bytes(), key, value)).unwrap();
            assert!(pick(out.as_bytes(), FIELDS).is_ok(), "valid output: {out}");
            out
        };
        assert_eq!(set("{}", "model", "\"b\""), r#"{"model":"b"}"#);
        assert_eq!(set(" { } ", "model", "\"b\""), r#" {"model":"b" } "#);
        assert_eq!(
            set(
                r#"{"x":[1,{"model":"in"}],"model" : "a" ,"y":"}"}"#,
                "model",
                "\"b\""
            ),
            r#"{"x":[1,{"model":"in"}],"model" : "b" ,"y":"}"}"#
        );
        // The last repeat is the one read, so the one replaced; escaped names are matched.
        assert_eq!(
            set(r#"{"model":"a","mod\u0065l":"c"}"#, "model", "\"b\""),
            r#"{"model":"a","mod\u0065l":"b"}"#
        );
        assert_eq!(
            set(
                r#"{"stream_options":{"x":1},"s":"\ud800"}"#,
                "stream_options",
                r#"{"include_usage":true}"#
            ),
            r#"{"stream_options":{"include_usage":true},"s":"\ud800"}"#
        );
        assert_eq!(
            set(r#"{"stream":true,"n":-1.5e3}"#, "stream_options", "null"),
            r#"{"stream_options":null,"stream":true,"n":-1.5e3}"#
        );
        let deep = format!(
            "{{\"x\":{}{},\"model\":1}}",
            "[".repeat(1000),
            "]".repeat(1000)
        );
        assert!(set(&deep, "model", "2").ends_with(r#""model":2}"#));
    }
}

/// What reading a long session's request costs: `cargo test --release --lib pick_cost --
/// --ignored --nocapture`. Measured 2026-12-06: 483 µs for 500 kB (about 1 GB/s) when
/// serde_json skipped the body, 351 µs (1.4 GB/s) with the skimmer, of which the UTF-8 check is
/// 27 µs; finding where strings end is most of the rest, since code in a conversation has an
/// escape every few dozen bytes.
#[cfg(test)]
mod cost {
    #[test]
    #[ignore = "a measurement, not a check"]
    fn pick_cost_on_a_long_session() {
        // A coding session's turns: text with line breaks and quotes, and tool calls.
        let turn = r#"{"role":"user","content":[{"type":"text","text":"Here is the file:\n\nfn main() {\n    println!(\"hello, world\");\n    let x = vec![1, 2, 3];\n}\n\nPlease make it read the \"config\" first. Ünïcødé ✓"}]},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_01","name":"Read","input":{"file_path":"/src/main.rs","limit":200}}]},"#;
        let mut body = String::from(
            r#"{"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,"messages":["#,
        );
        while body.len() < 500_000 {
            body.push_str(turn);
        }
        body.push_str(r#"{"role":"user","content":"go"}]}"#);
        let (b, fields) = (body.as_bytes(), ["model", "stream"]);
        let time = |f: &dyn Fn()| {
            (0..20).for_each(|_| f());
            let t = std::time::Instant::now();
            (0..200).for_each(|_| f());
            t.elapsed() / 200
        };
        let pick = time(&|| {
            std::hint::black_box(super::pick(std::hint::black_box(b), &fields).unwrap());
        });
        let utf8 = time(&|| {
            std::hint::black_box(std::str::from_utf8(std::hint::black_box(b)).unwrap());
        });
        eprintln!(
            "{} bytes: pick {pick:?} ({:.2} GB/s), of which UTF-8 {utf8:?}",
            b.len(),
            b.len() as f64 / pick.as_secs_f64() / 1e9
        );
    }
}
