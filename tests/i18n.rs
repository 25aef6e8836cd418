//! The console's Chinese table covers the page's own words: every string the page writes
//! with values in it (`t("…")`) and every label, heading, button and message it writes
//! through `h()` has an entry, and every entry keeps the `{placeholders}` of its English.

use std::collections::BTreeSet;
use std::path::Path;

fn js_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            js_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "js") {
            out.push(p);
        }
    }
}

/// The double-quoted string literals of `src` that follow `prefix` (e.g. `t(`).
fn literals_after(src: &str, prefix: &str) -> Vec<String> {
    assert!(!prefix.is_empty());
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find(prefix) {
        rest = &rest[i + prefix.len()..];
        let Some(body) = rest.strip_prefix('"') else {
            continue;
        };
        let mut s = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => s.push('\n'),
                    Some(o) => s.push(o),
                    None => break,
                },
                '"' => break,
                c => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

fn table() -> Vec<(String, String)> {
    let src = std::fs::read_to_string("static/assets/i18n.js").unwrap();
    let body = &src[src.find("const ZH = {").unwrap()..src.find("\n};").unwrap()];
    // Literals alternate key, value in the table's source.
    let mut quoted = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find('"') {
        let tail = &rest[i + 1..];
        let mut end = 0;
        let bytes = tail.as_bytes();
        while end < bytes.len() && !(bytes[end] == b'"' && (end == 0 || bytes[end - 1] != b'\\')) {
            end += 1;
        }
        quoted.push(tail[..end].replace("\\n", "\n").replace("\\\"", "\""));
        rest = &tail[(end + 1).min(tail.len())..];
    }
    quoted
        .chunks(2)
        .filter(|p| p.len() == 2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

fn placeholders(s: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = s;
    while let Some(i) = rest.find('{') {
        let tail = &rest[i + 1..];
        if let Some(j) = tail.find('}') {
            out.insert(tail[..j].to_owned());
            rest = &tail[j + 1..];
        } else {
            break;
        }
    }
    out
}

#[test]
fn every_string_the_page_writes_has_its_chinese() {
    let zh = table();
    assert!(zh.len() > 300, "the table reads as {} entries", zh.len());
    let keys: BTreeSet<&str> = zh.iter().map(|(k, _)| k.as_str()).collect();
    for (en, cn) in &zh {
        assert!(!cn.is_empty(), "{en:?} has an empty translation");
        assert_eq!(placeholders(en), placeholders(cn), "{en:?} → {cn:?}");
    }
    let mut files = Vec::new();
    js_files(Path::new("static/assets"), &mut files);
    let mut missing = BTreeSet::new();
    for f in files.iter().filter(|f| !f.ends_with("i18n.js")) {
        let src = std::fs::read_to_string(f).unwrap();
        // What goes through t(), and the labels of fields, columns, headings and buttons.
        let mut wanted = literals_after(&src, "t(");
        for prefix in [
            "field(",
            "h(\"h1\", {}, ",
            "h(\"h2\", {}, ",
            "h(\"h3\", {}, ",
            "h(\"button\", { type: \"submit\", class: \"primary\" }, ",
            "notice(",
            "empty: ",
            "[",
        ] {
            wanted.extend(literals_after(&src, prefix));
        }
        for s in wanted {
            // Column ids, CSS, paths and code are not words of the page.
            let words = s.chars().any(|c| c.is_ascii_uppercase())
                && s.contains(|c: char| c.is_ascii_lowercase())
                && !s.starts_with('/')
                && !s.starts_with("AICARPOOL_")
                && !s.contains("${");
            if words && !keys.contains(s.as_str()) {
                missing.insert(format!(
                    "{}: {s:?}",
                    f.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "no Chinese for:\n{}",
        missing.into_iter().collect::<Vec<_>>().join("\n")
    );
}
