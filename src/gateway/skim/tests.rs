//! The skimmer against serde_json: the same verdicts, fields and notes, on any text.

use super::*;
use proptest::prelude::*;

fn skim(b: &[u8]) -> Result<Vec<(String, String)>, SkimError> {
    let mut out = Vec::new();
    fields(b, |k, s, e| {
        out.push((
            String::from_utf8_lossy(k).into_owned(),
            String::from_utf8_lossy(&b[s..e]).into_owned(),
        ));
        Ok(())
    })
    .map(|_| out)
}

#[test]
fn each_field_is_found_with_its_value_as_written() {
    let got = skim(br#" { "a" : [1, {"b": "}"}] , "c\"d":"x\\y\u00e9", "e":-0.5e+3,"f":{}} "#);
    assert_eq!(
        got.unwrap(),
        [
            ("a", r#"[1, {"b": "}"}]"#),
            (r#"c\"d"#, r#""x\\y\u00e9""#),
            ("e", "-0.5e+3"),
            ("f", "{}"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    let top = |b| fields(b, |_, _, _| Ok(())).map(|(top, _)| top);
    assert_eq!(top(b"[1,2]"), Ok(Top::Other));
    assert_eq!(top(b" \"s\" "), Ok(Top::Other));
}

#[test]
fn large_containers_and_long_strings_are_noted_in_the_order_they_open() {
    let long = "x".repeat(LARGE);
    let text =
        format!(r#"{{"a":[{{"t":"{long}"}},{{"s":"a short text, yet noted"}}],"b":{{"c":[]}}}}"#);
    let b = text.as_bytes();
    let (_, notes) = note(b).unwrap();
    let spans: Vec<&str> = notes
        .0
        .iter()
        .map(|&(open, close)| &text[open as usize..=(close & !ESCAPED) as usize])
        .collect();
    let array = &text[5..text.find(r#","b""#).unwrap()];
    let object = &array[1..array.find("},").unwrap() + 1];
    // The array and its first object are large; the second object and `b` are not, but
    // the long string inside the second is noted all the same.
    assert_eq!(
        spans,
        [
            array,
            object,
            &format!("\"{long}\""),
            "\"a short text, yet noted\""
        ]
    );
}

#[test]
fn what_is_not_json_is_refused_with_where() {
    for (bad, at) in [
        (&b"{\"a\":1,}"[..], 7),
        (b"{\"a\" 1}", 5),
        (b"{\"a\":01}", 6),
        (b"{\"a\":1.}", 7),
        (b"{\"a\":1e}", 7),
        (b"{\"a\":tru}", 5),
        (b"{\"a\":\"\x01\"}", 6),
        (b"{\"a\":\"\\x\"}", 7),
        (b"{\"a\":\"\\u12g4\"}", 7),
        (b"{\"a\":[1 2]}", 8),
        (b"{\"a\":[1,]}", 8),
        (b"{\"a\":{\"b\":1]}", 11),
        (b"{} {}", 3),
        (b"{\"a\":\"", 6),
        (b"{\"a\":[", 6),
        (b"", 0),
    ] {
        let e = skim(bad).expect_err(&String::from_utf8_lossy(bad));
        assert_eq!(e.at, at, "{} {e}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn nesting_of_any_depth_is_skipped_without_recursion() {
    let deep = format!(
        "{{\"x\":{}1{}}}",
        "[{\"a\":".repeat(100_000),
        "}]".repeat(100_000)
    );
    assert_eq!(skim(deep.as_bytes()).unwrap().len(), 1);
    // Each level's kind is kept, above and below the 64 held as bits.
    for depth in [31, 32, 33, 63, 64, 65, 100] {
        let close = |swap: usize| {
            (0..depth)
                .rev()
                .map(|d| {
                    if (d == swap) != (d % 2 == 0) {
                        "]"
                    } else {
                        "}"
                    }
                })
                .collect::<String>()
        };
        let open: String = (0..depth)
            .map(|d| if d % 2 == 0 { "[" } else { "{\"a\":" })
            .collect();
        let good = format!("{{\"x\":{open}1{}}}", close(usize::MAX));
        assert!(skim(good.as_bytes()).is_ok(), "depth {depth}");
        for swap in [0, depth / 2, depth - 1] {
            let bad = format!("{{\"x\":{open}1{}}}", close(swap));
            assert!(
                skim(bad.as_bytes()).is_err(),
                "depth {depth}, swapped {swap}"
            );
        }
    }
}

/// Bytes that change what a JSON text means.
const EDITS: &[u8] = b"{}[]\",:\\-.e0 tfnu\x01";

/// Texts near JSON: valid documents, then some of them cut or with a byte changed.
fn near_json() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| n.into()),
        (-1e9f64..1e9).prop_map(|n| n.into()),
        "[ -~\\x00-\\x1f\u{e9}\u{1F600}]{0,12}".prop_map(serde_json::Value::String),
    ];
    let value = leaf.prop_recursive(5, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec(("[a-z\"\\\\]{0,4}", inner), 0..6)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    });
    (value, any::<bool>(), any::<u16>(), any::<u8>(), 0u8..4).prop_map(
        |(v, pretty, at, byte, edit)| {
            let mut t = if pretty {
                serde_json::to_vec_pretty(&v).unwrap()
            } else {
                serde_json::to_vec(&v).unwrap()
            };
            let at = usize::from(at) % (t.len() + 1);
            match edit {
                0 => t.truncate(at),
                1 if at < t.len() => t[at] = EDITS[usize::from(byte) % EDITS.len()],
                2 => t.insert(at, EDITS[usize::from(byte) % EDITS.len()]),
                _ => {}
            }
            t
        },
    )
}

proptest! {
    /// serde_json is the judge of what is JSON: the skimmer agrees with it on every text,
    /// and finds the same fields.
    #[test]
    fn agrees_with_serde_json(text in near_json()) {
        let utf8 = std::str::from_utf8(&text).is_ok();
        let judge = serde_json::from_slice::<serde::de::IgnoredAny>(&text).is_ok();
        let got = fields(&text, |_, _, _| Ok(()));
        if utf8 {
            prop_assert_eq!(got.is_ok(), judge, "{}", String::from_utf8_lossy(&text));
        }
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(&text) {
            let mut last = std::collections::HashMap::new();
            for (k, v) in skim(&text).unwrap() {
                let k: String = serde_json::from_str(&format!("\"{k}\"")).unwrap();
                last.insert(k, serde_json::from_str::<serde_json::Value>(&v).unwrap());
            }
            prop_assert_eq!(last.len(), m.len());
            for (k, v) in m {
                prop_assert_eq!(Some(&v), last.get(&k));
            }
        }
    }
}

/// A string's inside as a client may write it: plain text, one-letter and `\u` escapes,
/// and what JSON forbids there (a raw quote or control character, an unknown escape, a
/// lone surrogate, a backslash at the end).
fn string_inside() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-z é😀{}:,]{0,12}",
        Just(r#"\""#.to_owned()),
        Just(r"\\".to_owned()),
        Just(r"\/".to_owned()),
        Just(r"\n".to_owned()),
        Just(r"\t".to_owned()),
        Just(r"\b\f\r".to_owned()),
        Just(r"\u00e9".to_owned()),
        Just(r"\ud83d\ude00".to_owned()),
        Just(r"\ud800".to_owned()),
        Just(r"\x".to_owned()),
        Just("\"".to_owned()),
        Just("\n".to_owned()),
        Just("\\".to_owned()),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

proptest! {
    /// A string's text is serde_json's; `None` for an escape serde_json refuses. (A raw
    /// quote or control character never reaches it: the skimmer refused the text first.)
    #[test]
    fn string_text_is_serde_json_s(inside in string_inside()) {
        let b = inside.as_bytes();
        let (mut i, mut raw_forbidden) = (0, false);
        while i < b.len() {
            match b[i] {
                b'\\' => i += 1,
                b'"' | 0..0x20 => raw_forbidden = true,
                _ => {}
            }
            i += 1;
        }
        prop_assume!(!raw_forbidden);
        let json = format!("\"{inside}\"");
        let judge = serde_json::from_str::<String>(&json).ok();
        prop_assert_eq!(string_text(&json).map(|t| t.into_owned()), judge, "{}", json);
    }

    /// Any text written by serde_json reads back as itself.
    #[test]
    fn string_text_reads_what_serde_json_writes(text in any::<String>()) {
        let json = serde_json::to_string(&text).unwrap();
        let read = string_text(&json);
        prop_assert_eq!(read.as_deref(), Some(text.as_str()));
    }
}
