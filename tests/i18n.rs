//! The console's Chinese table covers the page's own words: every string the page writes
//! with values in it (`t("…")`) and every label, heading, button and message it writes
//! through `h()` has an entry, and every entry keeps the `{placeholders}` of its English.

#[path = "common/source.rs"]
mod source;

use std::collections::BTreeSet;

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

/// The entries of the table `const NAME = {…};` in i18n.js.
fn table_named(name: &str) -> Vec<(String, String)> {
    let src = std::fs::read_to_string("static/assets/i18n.js").unwrap();
    let start = src.find(&format!("const {name} = {{")).unwrap();
    let body = &src[start..start + src[start..].find("\n};").unwrap()];
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

fn table() -> Vec<(String, String)> {
    table_named("ZH")
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
    let files = source::files("static/assets", "js");
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

/// Every message of the server's that the page can show: the first string of each domain
/// error and admin error answer in the admin-facing modules, and the member key's refusals,
/// with `\`-continued lines joined and every `{…}` written `{}`.
fn server_messages() -> BTreeSet<String> {
    let mut files = Vec::new();
    for dir in ["src/manage", "src/admin", "src/store", "src/upstream"] {
        files.extend(source::files(dir, "rs"));
    }
    for f in [
        "src/domain.rs",
        "src/config.rs",
        "src/lifecycle.rs",
        "src/gateway/member.rs",
    ] {
        files.push(f.into());
    }
    let starts = [
        "Error::Invalid(",
        "Error::NotFound(",
        "Error::Conflict(",
        "Error::Upstream(",
        "on_unique(||",
        "StatusCode::", // `error(StatusCode::X, "…")`
        "ok_or(",
        "Err(",
    ];
    let mut out = BTreeSet::new();
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        for start in starts {
            let mut rest = src.as_str();
            while let Some(i) = rest.find(start) {
                rest = &rest[i + start.len()..];
                // The literal must come next, perhaps inside `format!(` or after `, &`.
                let t = rest.trim_start_matches(|c: char| c.is_ascii_uppercase() || c == '_');
                let t = t.trim_start();
                let t = t.strip_prefix(',').unwrap_or(t).trim_start();
                let t = t.strip_prefix('&').unwrap_or(t);
                let t = t.strip_prefix("format!(").unwrap_or(t).trim_start();
                let Some(body) = t.strip_prefix('"') else {
                    continue;
                };
                let Some(end) = body.find('"') else { continue };
                let lit = &body[..end];
                if lit.contains('\\') && !lit.contains("\\\n") {
                    continue; // escapes: not a sentence
                }
                let joined: String = lit
                    .split("\\\n")
                    .map(str::trim_start)
                    .collect::<Vec<_>>()
                    .join("");
                out.insert(normalise(&joined));
            }
        }
    }
    // Words that are not messages: SQL, names of things, header values.
    out.retain(|m| m.contains(' ') && !m.starts_with(char::is_uppercase) && !m.contains("SELECT"));
    out
}

/// `{name:?}`, `{}` and `{0}` all as `{}`.
fn normalise(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let j = rest[i..].find('}').map_or(rest.len(), |j| i + j + 1);
        out.push_str("{}");
        rest = &rest[j..];
    }
    out.push_str(rest);
    out
}

#[test]
fn every_message_the_server_sends_has_its_chinese() {
    let server = table_named("ZH_SERVER");
    let keys: BTreeSet<&str> = server.iter().map(|(k, _)| k.as_str()).collect();
    for (en, cn) in &server {
        // The Chinese names each value of the English once, as {1}, {2}, …
        let n = en.matches("{}").count();
        let want: BTreeSet<String> = (1..=n).map(|i| i.to_string()).collect();
        assert_eq!(placeholders(cn), want, "{en:?} → {cn:?}");
    }
    let messages = server_messages();
    assert!(messages.len() > 60, "read only {} messages", messages.len());
    for probe in [
        "no account with id {}",
        "wrong username or password",
        "invalid API key",
        // Written over two lines with a `\` continuation.
        "this setup link is wrong or has expired; restart the service for a new one, or set a password with the command aicarpool admin set-password",
    ] {
        assert!(messages.contains(probe), "the reader missed {probe:?}");
    }
    let missing: Vec<&String> = messages
        .iter()
        .filter(|m| !keys.contains(m.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "no Chinese for the server's:\n{missing:#?}"
    );
}
