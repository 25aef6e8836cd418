//! Translation through the running gateway: a client of one protocol served by an account of
//! another, JSON and streamed, with tool calls; what the upstream was sent; the request log;
//! refusals, errors and token counts in the client's shape; routing order.

mod common;

use common::env::Env;
use common::model::HELLO;
use common::upstream::{CACHE_READ, Fake, INPUT, OUTPUT, Reply, Style};
use common::{post_json, request};
use serde_json::{Value, json};

/// A group whose only account is an OpenAI-compatible one mapping Claude's name to
/// DeepSeek's, priced; returns (env, fake, server, key).
fn deepseek() -> (Env, Fake, common::Server, String) {
    let env = Env::new();
    let fake = Fake::start();
    fake.set(Reply::Model);
    env.account_on(
        "openai",
        "deepseek",
        &fake.url(),
        "sk-deepseek",
        &["--model-map", "claude-sonnet-4-5=deepseek-chat"],
    );
    env.data.ok(
        &[
            "price",
            "set",
            "deepseek-chat",
            "--input",
            "0.27",
            "--output",
            "1.1",
            "--cache-read",
            "0.07",
        ],
        "",
    );
    let key = env.key("member");
    let server = env.serve(&[]);
    (env, fake, server, key)
}

fn body(v: &Value) -> String {
    v.to_string()
}

/// Claude Code's request shape: attribution line, tools, a finished tool loop or not.
fn claude_code(stream: bool, with_result: bool) -> Value {
    let mut messages =
        vec![json!({ "role": "user", "content": [{ "type": "text", "text": "read note.txt" }] })];
    if with_result {
        messages.push(json!({ "role": "assistant", "content": [
            { "type": "tool_use", "id": "call_model_1", "name": "Read", "input": { "file_path": "/w/note.txt" } }] }));
        messages.push(json!({ "role": "user", "content": [
            { "type": "tool_result", "tool_use_id": "call_model_1", "content": "pineapple-42" }] }));
    }
    json!({
        "model": "claude-sonnet-4-5", "max_tokens": 1024, "stream": stream,
        "system": [{ "type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.abc; cc_entrypoint=sdk-cli; cch=9f3e1;" },
                   { "type": "text", "text": "You are Claude Code.", "cache_control": { "type": "ephemeral" } }],
        "messages": messages,
        "tools": [{ "name": "Read", "description": "Read a file", "input_schema": { "type": "object", "properties": { "file_path": { "type": "string" } } } }],
        "metadata": { "user_id": "user_abc_account_def_session_5e3c" }
    })
}

/// The SSE events of a body, as (name, data).
fn events(text: &str) -> Vec<(String, Value)> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("")
                .to_owned();
            let data: String = e.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
            (
                name,
                serde_json::from_str(&data).unwrap_or(Value::String(data)),
            )
        })
        .collect()
}

#[test]
fn claude_code_s_tool_loop_runs_on_an_openai_compatible_account() {
    for style in [Style::Compact, Style::Spaced, Style::Pretty] {
        let (env, fake, server, key) = deepseek();
        fake.set_style(style);
        fake.set_tool("Read", json!({ "file_path": "/w/note.txt" }));
        let h = [
            ("x-api-key", key.as_str()),
            ("anthropic-version", "2023-06-01"),
            ("x-claude-code-session-id", "5e3c"),
        ];
        // Turn one, streamed: the model calls the tool.
        let r = post_json(
            &server,
            "/v1/messages",
            &h,
            &body(&claude_code(true, false)),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("text/event-stream"));
        let ev = events(&r.body);
        let types: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            types.first(),
            Some(&"message_start"),
            "{style:?} {}",
            r.body
        );
        assert_eq!(types.last(), Some(&"message_stop"));
        let start = ev.iter().find(|(n, _)| n == "content_block_start").unwrap();
        assert_eq!(
            start.1["content_block"],
            json!({ "type": "tool_use", "id": "call_model_1", "name": "Read", "input": {} })
        );
        let args: String = ev
            .iter()
            .filter_map(|(_, d)| d.pointer("/delta/partial_json").and_then(Value::as_str))
            .collect();
        assert_eq!(
            serde_json::from_str::<Value>(&args).unwrap(),
            json!({ "file_path": "/w/note.txt" })
        );
        let delta = ev.iter().find(|(n, _)| n == "message_delta").unwrap();
        assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
        assert_eq!(delta.1["usage"]["output_tokens"], OUTPUT);

        // Turn two, whole: the model answers with the tool's result.
        let r = post_json(
            &server,
            "/v1/messages",
            &h,
            &body(&claude_code(false, true)),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let m: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(m["type"], "message");
        assert_eq!(m["model"], "claude-sonnet-4-5");
        assert_eq!(m["content"][0]["text"], "The tool said: pineapple-42");
        assert_eq!(m["stop_reason"], "end_turn");
        assert_eq!(m["usage"]["input_tokens"], INPUT);
        assert_eq!(m["usage"]["cache_read_input_tokens"], CACHE_READ);

        // What DeepSeek was sent: chat, its model name, no attribution line.
        let seen = fake.seen();
        assert_eq!(seen.len(), 2);
        for s in &seen {
            assert_eq!(s.path, "/v1/chat/completions");
            assert_eq!(s.header("authorization"), Some("Bearer sk-deepseek"));
            assert_eq!(s.header("anthropic-version"), None);
            let sent: Value = serde_json::from_slice(&s.body).unwrap();
            assert_eq!(sent["model"], "deepseek-chat");
            assert_eq!(
                sent["messages"][0],
                json!({ "role": "system", "content": "You are Claude Code." })
            );
            // A compatible vendor gets no OpenAI-only cache key (the prefix is what it caches).
            assert!(sent.get("prompt_cache_key").is_none(), "{sent}");
            assert!(!String::from_utf8_lossy(&s.body).contains("billing-header"));
        }
        let second: Value = serde_json::from_slice(&seen[1].body).unwrap();
        assert_eq!(
            second["messages"][3],
            json!({ "role": "tool", "tool_call_id": "call_model_1", "content": "pineapple-42" })
        );
        let first: Value = serde_json::from_slice(&seen[0].body).unwrap();
        assert_eq!(first["stream_options"], json!({ "include_usage": true }));

        // The log: the client's model and endpoint, the upstream's model, translated, priced.
        let rows = env.rows(2);
        for row in &rows {
            assert_eq!(row["outcome"], "ok", "{row}");
            assert_eq!(row["translated"], true);
            assert_eq!(row["endpoint"], "/v1/messages");
            assert_eq!(row["model"], "claude-sonnet-4-5");
            assert_eq!(row["upstream_model"], "deepseek-chat");
            assert_eq!(
                (row["input_tokens"].as_i64(), row["output_tokens"].as_i64()),
                (Some(INPUT), Some(OUTPUT))
            );
            assert_eq!(row["cache_read_input_tokens"], CACHE_READ);
            assert_eq!(
                row["cost_nanos"],
                INPUT * 270 + OUTPUT * 1100 + CACHE_READ * 70
            );
        }
    }
}

#[test]
fn an_openai_chat_client_is_served_by_an_anthropic_account() {
    let env = Env::new();
    let fake = Fake::start();
    fake.set(Reply::Model);
    fake.set_tool("weather", json!({ "city": "Paris" }));
    env.account(
        "claude",
        &fake.url(),
        "sk-ant",
        &["--model-map", "gpt-4o=claude-sonnet-4-5"],
    );
    let key = env.key("member");
    let server = env.serve(&[]);
    let auth = format!("Bearer {key}");
    let h = [("authorization", auth.as_str())];
    let req = json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": "weather in Paris?" }],
        "tools": [{ "type": "function", "function": { "name": "weather", "parameters": { "type": "object" } } }],
        "stream": true, "stream_options": { "include_usage": true } });
    let r = post_json(&server, "/v1/chat/completions", &h, &body(&req));
    assert_eq!(r.status, 200, "{}", r.body);
    let ev = events(&r.body);
    assert_eq!(ev.last().unwrap().1, "[DONE]");
    let call = ev
        .iter()
        .find_map(|(_, d)| d.pointer("/choices/0/delta/tool_calls/0/id"))
        .unwrap();
    assert_eq!(call, "toolu_model_1");
    let args: String = ev
        .iter()
        .filter_map(|(_, d)| {
            d.pointer("/choices/0/delta/tool_calls/0/function/arguments")
                .and_then(Value::as_str)
        })
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({ "city": "Paris" })
    );
    let finish = ev.iter().find_map(|(_, d)| {
        d.pointer("/choices/0/finish_reason")
            .and_then(Value::as_str)
    });
    assert_eq!(finish, Some("tool_calls"));
    let usage = &ev[ev.len() - 2].1["usage"];
    assert_eq!(usage["prompt_tokens"], INPUT + CACHE_READ);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], CACHE_READ);

    // The tool's result, then a whole answer, without a usage chunk nobody asked for.
    let req = json!({ "model": "gpt-4o", "messages": [
        { "role": "user", "content": "weather in Paris?" },
        { "role": "assistant", "content": null, "tool_calls": [{ "id": "toolu_model_1", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Paris\"}" } }] },
        { "role": "tool", "tool_call_id": "toolu_model_1", "content": "sunny, 21C" }] });
    let r = post_json(&server, "/v1/chat/completions", &h, &body(&req));
    let c: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(c["object"], "chat.completion");
    assert_eq!(
        c["choices"][0]["message"]["content"],
        "The tool said: sunny, 21C"
    );
    assert_eq!(c["usage"]["completion_tokens"], OUTPUT);
    let sent: Value = serde_json::from_slice(&fake.seen()[1].body).unwrap();
    assert_eq!(sent["model"], "claude-sonnet-4-5");
    assert_eq!(
        sent["max_tokens"], 8192,
        "Anthropic requires one; chat did not give one"
    );
    assert_eq!(sent["messages"][2]["content"][0]["type"], "tool_result");
    assert_eq!(fake.seen()[1].header("x-api-key"), Some("sk-ant"));

    // Its body is rewritten for the usage chunk before it is translated: read as rewritten
    // (a text long enough that the routing read noted where it lay in the body as sent).
    let text = "hi, in a \"text\" long enough to be noted";
    let plain = json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": text }], "stream": true });
    let r = post_json(&server, "/v1/chat/completions", &h, &body(&plain));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains("\"usage\""), "{}", r.body);
    assert!(r.body.contains(&HELLO[..5]));
    let sent: Value = serde_json::from_slice(&fake.seen()[2].body).unwrap();
    assert_eq!(sent["messages"][0]["content"][0]["text"], text);
    let rows = env.rows(3);
    assert!(
        rows.iter().all(|r| r["translated"] == true
            && r["outcome"] == "ok"
            && r["output_tokens"] == OUTPUT),
        "{rows:?}"
    );
}

#[test]
fn gemini_and_anthropic_clients_cross_over_both_ways() {
    let env = Env::new();
    let fake = Fake::start();
    let google = Fake::start();
    fake.set(Reply::Model);
    google.set(Reply::Model);
    env.account(
        "claude",
        &fake.url(),
        "sk-ant",
        &[
            "--models",
            "claude-sonnet-4-5",
            "--model-map",
            "gemini-2.5-pro=claude-sonnet-4-5",
        ],
    );
    env.account_on(
        "gemini",
        "gem",
        &google.url(),
        "AIza-up",
        &[
            "--models",
            "gemini-2.5-flash",
            "--model-map",
            "claude-opus-4-1=gemini-2.5-flash",
        ],
    );
    let key = env.key("member");
    let server = env.serve(&[]);
    // A Gemini client (SSE and JSON-array streams, whole answers) on the Anthropic account.
    let g = json!({ "contents": [{ "role": "user", "parts": [{ "text": "hi" }] }] });
    let h = [("x-goog-api-key", key.as_str())];
    let r = post_json(
        &server,
        "/v1beta/models/gemini-2.5-pro:generateContent",
        &h,
        &body(&g),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["candidates"][0]["content"]["parts"][0]["text"], HELLO);
    assert_eq!(v["usageMetadata"]["promptTokenCount"], INPUT + CACHE_READ);
    let path = "/v1beta/models/gemini-2.5-pro:streamGenerateContent";
    let r = post_json(&server, &format!("{path}?alt=sse"), &h, &body(&g));
    let text: String = events(&r.body)
        .iter()
        .filter_map(|(_, d)| {
            d.pointer("/candidates/0/content/parts/0/text")
                .and_then(Value::as_str)
        })
        .collect();
    assert_eq!(text, HELLO);
    let r = post_json(&server, path, &h, &body(&g));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let array: Value = serde_json::from_str(&r.body).unwrap();
    assert!(array.as_array().unwrap().len() >= 3, "{array}");
    assert_eq!(fake.count(), 3);
    assert_eq!(google.count(), 0);
    for s in fake.seen() {
        assert_eq!(s.path, "/v1/messages");
        let sent: Value = serde_json::from_slice(&s.body).unwrap();
        assert_eq!(sent["model"], "claude-sonnet-4-5");
    }

    // An Anthropic client on the Gemini account: alt=sse asked upstream, the name mapped.
    let h = [("x-api-key", key.as_str())];
    let m = json!({ "model": "claude-opus-4-1", "max_tokens": 64, "stream": true, "messages": [{ "role": "user", "content": "hi" }] });
    let r = post_json(&server, "/v1/messages", &h, &body(&m));
    let ev = events(&r.body);
    let text: String = ev
        .iter()
        .filter_map(|(_, d)| d.pointer("/delta/text").and_then(Value::as_str))
        .collect();
    assert_eq!(text, HELLO);
    let last = google.seen().pop().unwrap();
    assert_eq!(
        last.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(last.header("x-goog-api-key"), Some("AIza-up"));
    let rows = env.rows(4);
    assert!(
        rows.iter().all(|r| r["translated"] == true
            && r["outcome"] == "ok"
            && r["output_tokens"] == OUTPUT),
        "{rows:?}"
    );
}

#[test]
fn what_cannot_be_translated_is_refused_naming_it_and_errors_keep_their_status() {
    let (env, fake, server, key) = deepseek();
    let h = [("x-api-key", key.as_str())];
    let mut req = claude_code(false, false);
    req["tools"] = json!([{ "type": "web_search_20250305", "name": "web_search", "max_uses": 3 }]);
    let r = post_json(&server, "/v1/messages", &h, &body(&req));
    assert_eq!(r.status, 400, "{}", r.body);
    let e: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("web_search_20250305"),
        "{e}"
    );
    assert_eq!(fake.count(), 0, "nothing was sent upstream");

    // The upstream's own refusal reaches the client in Anthropic's shape, status kept.
    fake.set(Reply::Status(
        422,
        vec![],
        r#"{"error":{"message":"context too long","type":"invalid_request_error","code":null}}"#
            .into(),
    ));
    let r = post_json(
        &server,
        "/v1/messages",
        &h,
        &body(&claude_code(false, false)),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let e: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        e,
        json!({ "type": "error", "error": { "type": "invalid_request_error", "message": "context too long" } })
    );
    let rows = env.rows(2);
    assert_eq!(rows[0]["status_code"], 400);
    assert_eq!(rows[1]["status_code"], 422);
}

#[test]
fn token_counts_come_from_the_upstream_or_an_estimate() {
    let (_env, fake, server, key) = deepseek();
    let h = [("x-api-key", key.as_str())];
    let count = json!({ "model": "claude-sonnet-4-5", "messages": [{ "role": "user", "content": "x".repeat(400) }] });
    let r = post_json(&server, "/v1/messages/count_tokens", &h, &body(&count));
    assert_eq!(r.status, 200, "{}", r.body);
    let n = serde_json::from_str::<Value>(&r.body).unwrap()["input_tokens"]
        .as_i64()
        .unwrap();
    assert!(
        (100..200).contains(&n),
        "an estimate near a token per four bytes: {n}"
    );
    assert_eq!(fake.count(), 0, "chat has no count endpoint");

    let env = Env::new();
    let gem = Fake::start();
    env.account_on(
        "gemini",
        "gem",
        &gem.url(),
        "AIza",
        &["--model-map", "claude-sonnet-4-5=gemini-2.5-flash"],
    );
    let key = env.key("m");
    let server = env.serve(&[]);
    let r = post_json(
        &server,
        "/v1/messages/count_tokens",
        &[("x-api-key", &key)],
        &body(&count),
    );
    assert_eq!(r.body, r#"{"input_tokens":14}"#);
    let seen = gem.seen();
    assert_eq!(seen[0].path, "/v1beta/models/gemini-2.5-flash:countTokens");
    let sent: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(
        sent["generateContentRequest"]["model"],
        "models/gemini-2.5-flash"
    );
}

#[test]
fn the_own_protocol_comes_first_and_translation_takes_over_when_it_fails() {
    let env = Env::new();
    let own = Fake::start();
    let other = Fake::start();
    other.set(Reply::Model);
    env.account("claude", &own.url(), "sk-ant", &[]);
    env.account_on(
        "openai",
        "deepseek",
        &other.url(),
        "sk-ds",
        &[
            "--model-map",
            "claude-sonnet-4-5=deepseek-chat",
            "--weight",
            "100",
        ],
    );
    let key = env.key("member");
    let server = env.serve(&[]);
    let h = [("x-api-key", key.as_str())];
    for _ in 0..5 {
        let r = post_json(
            &server,
            "/v1/messages",
            &h,
            &body(&claude_code(false, false)),
        );
        assert_eq!(r.status, 200);
    }
    assert_eq!((own.count(), other.count()), (5, 0));
    own.set(Reply::Status(
        529,
        vec![],
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.into(),
    ));
    let r = post_json(
        &server,
        "/v1/messages",
        &h,
        &body(&claude_code(false, false)),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(HELLO), "{}", r.body);
    assert_eq!(other.count(), 1);
    let row = env.rows(6).pop().unwrap();
    assert_eq!(
        (row["attempts"].as_i64(), row["translated"].as_bool()),
        (Some(2), Some(true))
    );
}

#[test]
fn the_model_list_shows_what_accounts_of_other_protocols_serve() {
    let (_env, _fake, server, key) = deepseek();
    let models = request(
        server.addr,
        "GET",
        "/v1/models",
        &[("x-api-key", &key)],
        b"",
    );
    let v: Value = serde_json::from_str(&models.body).unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"claude-sonnet-4-5"), "{ids:?}");
    assert!(
        !ids.contains(&"claude-opus-4-1"),
        "only what the account names: {ids:?}"
    );
}

/// A Claude Code conversation of `turns` turns, as its `n`th request: each turn adds the
/// model's answer and the next question, and every request carries a fresh attribution hash.
fn conversation_turn(n: usize) -> Value {
    let mut req = claude_code(false, false);
    req["system"][1]["text"] = json!("You are Claude Code. ".repeat(200));
    req["system"][0]["text"] = json!(format!(
        "x-anthropic-billing-header: cc_version=2.1.197.abc; cc_entrypoint=cli; cch={:05x};",
        n * 7919
    ));
    let messages = req["messages"].as_array_mut().unwrap();
    for turn in 1..=n {
        messages.push(json!({ "role": "assistant", "content": [{ "type": "text", "text": format!("answer {turn}: {}", "done. ".repeat(40)) }] }));
        messages.push(json!({ "role": "user", "content": [{ "type": "text", "text": format!("question {turn}") }] }));
    }
    req
}

#[test]
fn prompt_caches_keep_hitting_across_a_translated_conversation() {
    let (env, fake, server, key) = deepseek();
    fake.use_prefix_cache();
    let h = [
        ("x-api-key", key.as_str()),
        ("x-claude-code-session-id", "conv-1"),
    ];
    let turns = 6;
    for n in 0..turns {
        let r = post_json(&server, "/v1/messages", &h, &body(&conversation_turn(n)));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let rows = env.rows(turns);
    let share = |r: &Value| {
        let cached = r["cache_read_input_tokens"].as_f64().unwrap();
        cached / (cached + r["input_tokens"].as_f64().unwrap())
    };
    let shares: Vec<f64> = rows.iter().map(share).collect();
    // What the same conversation would have shared had the attribution line been copied into
    // the system message, as translators that keep it do: the bodies part at the hash.
    let raw: Vec<Vec<u8>> = fake
        .seen()
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let mut sent: Value = serde_json::from_slice(&s.body).unwrap();
            let line = conversation_turn(n)["system"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned();
            let system = sent["messages"][0]["content"].as_str().unwrap().to_owned();
            sent["messages"][0]["content"] = json!(format!("{line}\n\n{system}"));
            body(&sent).into_bytes()
        })
        .collect();
    let copied: Vec<f64> = (1..turns)
        .map(|n| {
            let p = common::model::prefix_cached(&raw[..n], &raw[n]);
            p.cached as f64 / p.tokens as f64
        })
        .collect();
    println!(
        "cached share per turn, translated: {shares:.2?}; with the attribution line copied: {copied:.2?}"
    );
    assert_eq!(shares[0], 0.0);
    for s in &shares[1..] {
        assert!(*s > 0.8, "{shares:?}");
    }
    assert!(copied.iter().all(|s| *s < 0.05), "{copied:?}");
}

/// Codex CLI speaks only Responses; DeepSeek, GLM, Kimi and Qwen serve only chat completions.
/// An OpenAI-compatible account whose host is not OpenAI's is spoken to in chat, the
/// Responses client answered in its own shape; `--responses-api yes` passes it through.
#[test]
fn a_responses_client_is_translated_to_chat_for_a_chat_only_account() {
    let (env, fake, server, key) = deepseek();
    fake.set_tool("read_file", json!({ "path": "/work/a.rs" }));
    let auth = format!("Bearer {key}");
    let h = [("authorization", auth.as_str())];
    let ask = |stream: bool| {
        json!({ "model": "claude-sonnet-4-5", "instructions": "You are a coding agent.",
            "input": [{ "type": "message", "role": "user",
                "content": [{ "type": "input_text", "text": "read a.rs" }] }],
            "tools": [{ "type": "function", "name": "read_file",
                "parameters": { "type": "object", "properties": { "path": { "type": "string" } } } }],
            "stream": stream, "store": false })
    };
    let r = post_json(&server, "/v1/responses", &h, &body(&ask(false)));
    assert_eq!(r.status, 200, "{}", r.body);
    let answer: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(answer["object"], "response");
    let call = answer["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "function_call")
        .expect("the tool call, as a Responses function_call");
    assert_eq!(call["name"], "read_file");
    assert_eq!(
        serde_json::from_str::<Value>(call["arguments"].as_str().unwrap()).unwrap(),
        json!({ "path": "/work/a.rs" })
    );
    // What the account was sent (its model list is fetched on the side).
    let posts = || -> Vec<common::upstream::Seen> {
        fake.seen()
            .into_iter()
            .filter(|s| s.path != "/v1/models")
            .collect()
    };
    let sent = &posts()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    let sent: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(sent["model"], "deepseek-chat");
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(sent["tools"][0]["function"]["name"], "read_file");

    // Streamed: Responses events, from chat chunks.
    let r = post_json(&server, "/v1/responses", &h, &body(&ask(true)));
    assert_eq!(r.status, 200, "{}", r.body);
    let names: Vec<String> = events(&r.body).into_iter().map(|(e, _)| e).collect();
    assert_eq!(names.first().map(String::as_str), Some("response.created"));
    assert!(
        names
            .iter()
            .any(|e| e == "response.function_call_arguments.delta"),
        "{names:?}"
    );
    assert_eq!(names.last().map(String::as_str), Some("response.completed"));
    assert_eq!(posts()[1].path, "/v1/chat/completions");
    let rows = env.rows(2);
    assert!(rows.iter().all(|r| r["translated"] == true), "{rows:?}");
    // A compaction is Codex's own endpoint: relayed as it is, never turned into chat.
    let compact = json!({ "model": "claude-sonnet-4-5", "instructions": "x", "input": [] });
    post_json(&server, "/v1/responses/compact", &h, &body(&compact));
    assert_eq!(posts().last().unwrap().path, "/v1/responses/compact");

    // The operator says this vendor serves Responses: it gets them as they are.
    let list = env.data.json(&["account", "list"], "");
    let id = list.as_array().unwrap()[0]["id"].as_i64().unwrap();
    env.data.ok(
        &[
            "account",
            "update",
            &id.to_string(),
            "--responses-api",
            "yes",
        ],
        "",
    );
    assert_eq!(env.account_json(id)["responses_api"], true);
    common::eventually(
        "the setting did not reach the running gateway",
        std::time::Duration::from_secs(10),
        || {
            let before = posts().len();
            post_json(&server, "/v1/responses", &h, &body(&ask(false)));
            let seen = posts();
            (seen.len() > before && seen.last().unwrap().path == "/v1/responses").then_some(())
        },
    );
    // And an account of another platform has no such setting.
    let err = env.data.fails(
        &[
            "account",
            "create",
            "--platform",
            "anthropic",
            "--name",
            "c",
            "--responses-api",
            "no",
        ],
        "sk-x\n",
        2,
    );
    assert!(
        err.contains("only an openai account has a Responses API setting"),
        "{err}"
    );
}
