//! The outside review's findings, each reproduced against the real server: exact metering
//! whatever an upstream writes, no way in through an upstream, bounded under attack, less said
//! to members and more to the operator, and answers clients do not retry for minutes.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::admin::{self, Admin};
use common::env::Env;
use common::upstream::{self, Fake, Reply, Style};
use common::{eventually, post_json, request};
use serde_json::Value;

const MESSAGES: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
const CHAT: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
const RESPONSES: &str = r#"{"model":"gpt-4o","input":"hi"}"#;
const GEMINI: &str = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;

/// A team with one account of each API on one fake, and a key.
fn all_platforms(serve: &[&str]) -> (Env, Fake, common::Server, String) {
    let env = Env::new();
    let fake = Fake::start();
    env.account("claude", &fake.url(), "sk-ant", &[]);
    // The fake stands in for OpenAI's own API, which serves Responses too.
    env.account_on(
        "openai",
        "oa",
        &fake.url(),
        "sk-oa",
        &["--responses-api", "yes"],
    );
    env.account_on("gemini", "gm", &fake.url(), "gk", &[]);
    let key = env.key("alice");
    let server = env.serve(serve);
    (env, fake, server, key)
}

fn stream(body: &str) -> String {
    body.replacen('{', r#"{"stream":true,"#, 1)
}

#[test]
fn usage_is_exact_whatever_spacing_the_upstream_writes_json_and_streams() {
    let (env, fake, server, key) = all_platforms(&[]);
    let bearer = format!("Bearer {key}");
    let anthropic = [("x-api-key", key.as_str())];
    let openai = [("authorization", bearer.as_str())];
    let gemini = [("x-goog-api-key", key.as_str())];
    let full = (
        upstream::INPUT,
        upstream::OUTPUT,
        upstream::CACHE_WRITE,
        upstream::CACHE_READ,
    );
    let openai_usage = (upstream::INPUT, upstream::OUTPUT, 0, upstream::CACHE_READ);
    type Tokens = (i64, i64, i64, i64);
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let cases: Vec<(&str, String, Headers, Tokens)> = vec![
        ("/v1/messages", MESSAGES.into(), &anthropic, full),
        ("/v1/messages", stream(MESSAGES), &anthropic, full),
        ("/v1/chat/completions", CHAT.into(), &openai, openai_usage),
        ("/v1/chat/completions", stream(CHAT), &openai, openai_usage),
        ("/v1/responses", RESPONSES.into(), &openai, openai_usage),
        ("/v1/responses", stream(RESPONSES), &openai, openai_usage),
        (
            "/v1beta/models/gemini-2.5-pro:generateContent",
            GEMINI.into(),
            &gemini,
            openai_usage,
        ),
        (
            "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
            GEMINI.into(),
            &gemini,
            openai_usage,
        ),
    ];
    fake.set(Reply::Auto);
    let mut rows = 0;
    for style in [Style::Compact, Style::Spaced, Style::Pretty] {
        fake.set_style(style);
        for (path, body, headers, want) in &cases {
            let r = post_json(&server, path, headers, body);
            assert_eq!(r.status, 200, "{style:?} {path}: {}", r.body);
            if path.contains("chat") && body.contains("stream") {
                // The usage chunk the gateway asked for is not passed on, however it was split.
                assert!(!r.body.contains("prompt_tokens"), "{style:?}: {}", r.body);
                assert!(r.body.contains("[DONE]"));
            }
            rows += 1;
            let row = env.rows(rows).pop().unwrap();
            let got = (
                row["input_tokens"].as_i64().unwrap(),
                row["output_tokens"].as_i64().unwrap(),
                row["cache_creation_input_tokens"].as_i64().unwrap(),
                row["cache_read_input_tokens"].as_i64().unwrap(),
            );
            assert_eq!(got, *want, "{style:?} {path} stream={}", row["stream"]);
            assert_eq!(row["outcome"], "ok", "{style:?} {path}");
        }
    }
}

#[test]
fn a_stream_whose_body_no_whole_parse_takes_is_still_metered_and_limited() {
    let env = Env::new();
    let fake = Fake::start();
    env.account_on("openai", "oa", &fake.url(), "sk-oa", &[]);
    let (_, key) = env.key_with("capped", &["--daily-tokens", "50"]);
    let server = env.serve(&[]);
    let bearer = format!("Bearer {key}");
    // A lone surrogate escape and nesting deeper than a tree parser allows, in fields the
    // gateway skips: valid JSON to the upstream, and usage must still be asked for.
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let body = format!(
        r#"{{"model":"gpt-4o","stream":true,"messages":[{{"role":"user","content":"\ud800"}}],"metadata_x":{deep},"stream_options":{{"keep":1}}}}"#
    );
    let send = || {
        post_json(
            &server,
            "/v1/chat/completions",
            &[("authorization", &bearer)],
            &body,
        )
    };
    let r = send();
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = fake.seen().pop().unwrap();
    let sent_text = String::from_utf8(sent.body.clone()).unwrap();
    assert!(
        sent_text.contains(r#""stream_options":{"include_usage":true,"keep":1}"#),
        "{sent_text}"
    );
    assert!(
        sent_text.contains(r"\ud800") && sent_text.contains(&deep),
        "the rest is as sent"
    );
    let row = env.rows(1).pop().unwrap();
    assert_eq!(row["output_tokens"], upstream::OUTPUT);
    // 36 tokens a request against 50 a day: the second is let in, the third refused.
    assert_eq!(send().status, 200);
    eventually(
        "the second request is counted",
        Duration::from_secs(10),
        || (env.log().len() >= 2).then_some(()),
    );
    let third = send();
    assert_eq!(third.status, 429, "{}", third.body);
    assert_eq!(
        fake.count(),
        2,
        "the refused stream never reached the upstream"
    );
}

#[test]
fn a_model_without_a_price_is_refused_under_a_cost_limit_and_shown_as_unpriced() {
    let env = Env::new();
    let fake = Fake::start();
    env.account_on("openai", "oa", &fake.url(), "sk-oa", &[]);
    let (_, limited) = env.key_with("limited", &["--daily-cost", "0.01"]);
    let free = env.key("free");
    let server = env.serve(&[]);
    let r = post_json(
        &server,
        "/v1/chat/completions",
        &[("authorization", &format!("Bearer {limited}"))],
        CHAT,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("gpt-4o") && message.contains("aicarpool price set"),
        "{message}"
    );
    assert_eq!(fake.count(), 0);
    // Without a cost limit it is served, logged as unpriced, and shown so — never as $0.00.
    let r = post_json(
        &server,
        "/v1/chat/completions",
        &[("authorization", &format!("Bearer {free}"))],
        CHAT,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let row = env.rows(2).pop().unwrap();
    assert_eq!(row["unpriced"], true);
    let text = env
        .data
        .ok(&["usage", "--since", "1d", "--by", "model"], "");
    let line = text.lines().find(|l| l.starts_with("gpt-4o")).expect(&text);
    // Two requests: the refused one cost nothing, the served one is unpriced.
    assert!(line.contains("0.00 + 1 unpriced"), "{text}");
    // Priced, the same key is served.
    env.data.ok(
        &["price", "set", "gpt-4o", "--input", "2.5", "--output", "10"],
        "",
    );
    eventually(
        "the price reaches the gateway",
        Duration::from_secs(5),
        || {
            let r = post_json(
                &server,
                "/v1/chat/completions",
                &[("authorization", &format!("Bearer {limited}"))],
                CHAT,
            );
            (r.status == 200).then_some(())
        },
    );
}

#[test]
fn absurd_upstream_numbers_are_clamped_and_the_gateway_restarts_cleanly() {
    let env = Env::new();
    let fake = Fake::start();
    env.account("main", &fake.url(), "sk", &[]);
    let key = env.key("alice");
    let server = env.serve(&[]);
    let body = format!(
        r#"{{"id":"m","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"usage":{{"input_tokens":{},"output_tokens":18446744073709551615,"cache_read_input_tokens":-7}}}}"#,
        i64::MAX
    );
    fake.set(Reply::Raw(
        200,
        vec![("content-type", "application/json".into())],
        body.into(),
    ));
    let r = post_json(&server, "/v1/messages", &[("x-api-key", &key)], MESSAGES);
    assert_eq!(r.status, 200, "{}", r.body);
    let row = env.rows(1).pop().unwrap();
    assert_eq!(row["input_tokens"], 1_000_000_000);
    assert_eq!(row["output_tokens"], 1_000_000_000);
    assert_eq!(row["cache_read_input_tokens"], 0);
    assert!(row["cost_nanos"].as_i64().unwrap() > 0, "{row}");
    drop(server);
    let again = env.serve(&[]);
    assert_eq!(common::http(again.addr, "GET", "/healthz").status, 200);
}

#[test]
fn an_upstream_page_cannot_run_on_the_gateways_origin() {
    let (env, fake, server, key) = Env::one_account(&[]);
    fake.set(Reply::Raw(
        200,
        vec![("content-type", "text/html".into())],
        "<html><script>fetch('/api/admin/session')</script></html>".into(),
    ));
    let r = post_json(&server, "/v1/messages", &[("x-api-key", &key)], MESSAGES);
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(!r.body.contains("<script>"), "{}", r.body);
    assert_eq!(
        r.header("content-security-policy"),
        Some("sandbox; default-src 'none'")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        env.account_json(1)["error_count"],
        1,
        "held against the account"
    );
    // A good answer carries the same headers.
    fake.set(Reply::Message);
    let ok = post_json(&server, "/v1/messages", &[("x-api-key", &key)], MESSAGES);
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.header("content-security-policy"),
        Some("sandbox; default-src 'none'")
    );
    // What a cross-site form can send is refused, and a key in the URL only works for Gemini.
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let r = request(
            server.addr,
            "POST",
            "/v1/messages",
            &[("content-type", ct), ("x-api-key", &key)],
            MESSAGES.as_bytes(),
        );
        assert_eq!(r.status, 415, "{ct}: {}", r.body);
        assert!(r.body.contains("application/json"), "{}", r.body);
    }
    let r = post_json(&server, &format!("/v1/messages?key={key}"), &[], MESSAGES);
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(fake.count(), 2, "neither reached the upstream");
}

#[test]
fn a_burst_of_sign_ins_is_throttled_exactly_and_stays_small() {
    let data = common::Data::new();
    admin::make_admin(&data, admin::USER);
    // A process of its own: the test reads its peak memory.
    let server = data.spawn_serve(&[]);
    let addr = server.addr;
    let threads: Vec<_> = (0..64)
        .map(|_| std::thread::spawn(move || admin::login(addr, admin::USER, "wrong").status))
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((wrong, throttled), (5, 59), "{statuses:?}");
    // Two argon2 checks at a time (~19 MiB each): the burst cannot take gigabytes.
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(peak_kb < 400 * 1024, "peak RSS {peak_kb} kB");
    // A name no admin can have is refused before it reaches the throttle.
    let long = "x".repeat(100_000);
    assert_eq!(admin::login(addr, &long, "x").status, 413);
    assert_eq!(admin::login(addr, &"y".repeat(65), "x").status, 400);
}

#[test]
fn silent_and_slow_connections_are_cut_and_cannot_lock_others_out() {
    let (_env, fake, server, key) = Env::one_account(&[
        "--header-read-timeout-secs",
        "1",
        "--body-read-timeout-secs",
        "1",
        "--max-connections",
        "8",
    ]);
    // Twenty connections that never send a byte: more than the cap.
    let mut silent: Vec<TcpStream> = (0..20)
        .filter_map(|_| TcpStream::connect(server.addr).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // A real client still gets in: the idle ones give way.
    let started = Instant::now();
    let r = common::http(server.addr, "GET", "/healthz");
    assert_eq!(r.status, 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    // Each silent connection is closed by the server, counted from accept.
    for s in &mut silent {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "closed without an answer");
    }
    // A kept-alive connection is held to the same time for each next head, counted from the
    // end of its last answer: a head that stops halfway is cut, the answer before it whole.
    let head = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let (status, took) = half_head_cut_after(server.addr, head);
    assert_eq!(status, 200);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // Also when the answer before took longer than that time: the wait for the next head
    // starts when the answer ends, not at the next look after it.
    fake.set_delay(Duration::from_millis(1200));
    let post = format!(
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{MESSAGES}",
        MESSAGES.len()
    );
    let (status, took) = half_head_cut_after(server.addr, &post);
    fake.set_delay(Duration::ZERO);
    assert_eq!(status, 200);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // A body that stops arriving gets a 408 once its deadline passes.
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        slow,
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"model\":"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = slow.read_to_end(&mut raw);
    let resp = common::parse_response(&raw);
    assert_eq!(resp.status, 408, "{}", resp.body);
}

/// Sends `request` on a new kept-alive connection and reads its answer whole, then starts a
/// next head and stops halfway: the answer's status and how long the server took to cut it.
fn half_head_cut_after(addr: std::net::SocketAddr, request: &str) -> (u16, Duration) {
    let mut kept = TcpStream::connect(addr).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    kept.write_all(request.as_bytes()).unwrap();
    let status = common::read_response(&mut kept).status;
    let started = Instant::now();
    write!(kept, "GET /healthz HTTP/1.1\r\nHo").unwrap();
    let mut buf = [0u8; 64];
    let n = kept.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    (status, started.elapsed())
}

#[test]
fn client_strings_and_limit_values_are_bounded() {
    let (env, fake, server, key) = Env::one_account(&[]);
    let long = "m".repeat(300);
    let body = MESSAGES.replace("claude-sonnet-4-5", &long);
    let r = post_json(&server, "/v1/messages", &[("x-api-key", &key)], &body);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.len() < 400 && !r.body.contains(&long), "{}", r.body);
    let r = post_json(
        &server,
        &format!("/v1/{}", "p".repeat(10_000)),
        &[("x-api-key", &key)],
        "{}",
    );
    assert_eq!(r.status, 404);
    assert!(r.body.len() < 600, "the path is not repeated whole");
    assert_eq!(fake.count(), 0);
    assert!(env.log().is_empty(), "nothing stored");
    // Limits out of range are refused by the CLI (exit 2) and the admin API (400).
    for flags in [
        &["--concurrency", "3000000000000000000"][..],
        &["--concurrency", "10", "--queue", "9999999999"],
        &["--requests", "10", "--window-minutes", "99999999999"],
        &["--daily-cost", "20000000"],
    ] {
        let mut args = vec!["key", "create", "--group", "team", "--name", "x"];
        args.extend_from_slice(flags);
        let err = env.data.fails(&args, "", 2);
        assert!(err.contains("at most"), "{flags:?}: {err}");
    }
    admin::make_admin(&env.data, admin::USER);
    let a = Admin::sign_in(server.addr);
    let r = a.send(
        "POST",
        "/keys",
        r#"{"group":"team","name":"big","concurrency":3000000000000000000}"#,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    // The key works as before: nothing on the request path broke.
    let r = post_json(&server, "/v1/messages", &[("x-api-key", &key)], MESSAGES);
    assert_eq!(r.status, 200);
}

#[test]
fn upstreams_get_an_allowlist_of_headers_and_members_an_allowlist_back() {
    let (_env, fake, server, key) = Env::one_account(&[]);
    let r = post_json(
        &server,
        "/v1/messages",
        &[
            ("x-api-key", &key),
            ("anthropic-beta", "interleaved-thinking-2025-05-14"),
            ("anthropic-version", "2023-06-01"),
            ("x-app", "cli"),
            ("x-claude-code-session-id", "s-1"),
            ("user-agent", "claude-cli/2.1.328 (external, cli)"),
            ("cf-connecting-ip", "203.0.113.9"),
            ("true-client-ip", "203.0.113.9"),
            ("x-client-ip", "203.0.113.9"),
            ("via", "1.1 corp-proxy"),
            ("x-original-forwarded-for", "10.0.0.1"),
            ("openai-organization", "org-other"),
            ("x-made-up", "1"),
        ],
        MESSAGES,
    );
    assert_eq!(r.status, 200);
    let seen = fake.seen().pop().unwrap();
    for (h, v) in [
        ("anthropic-beta", "interleaved-thinking-2025-05-14"),
        ("anthropic-version", "2023-06-01"),
        ("x-app", "cli"),
        ("x-claude-code-session-id", "s-1"),
        ("user-agent", "claude-cli/2.1.328 (external, cli)"),
    ] {
        assert_eq!(seen.header(h), Some(v), "{h} passes verbatim");
    }
    for h in [
        "cf-connecting-ip",
        "true-client-ip",
        "x-client-ip",
        "via",
        "x-original-forwarded-for",
        "openai-organization",
        "x-made-up",
    ] {
        assert_eq!(seen.header(h), None, "{h} stays behind");
    }
    fake.set(Reply::Raw(
        200,
        vec![
            ("content-type", "application/json".into()),
            ("request-id", "req_up".into()),
            ("anthropic-ratelimit-unified-5h-utilization", "0.42".into()),
            ("openai-organization", "org-account".into()),
            ("set-cookie", "s=1".into()),
            ("server", "upstream/1.0".into()),
        ],
        upstream::message_json().into(),
    ));
    let r = post_json(&server, "/v1/messages", &[("x-api-key", &key)], MESSAGES);
    assert_eq!(r.header("request-id"), Some("req_up"));
    assert_eq!(
        r.header("anthropic-ratelimit-unified-5h-utilization"),
        Some("0.42")
    );
    for h in ["openai-organization", "set-cookie", "server"] {
        assert_eq!(r.header(h), None, "{h} is the account's business");
    }
}

#[test]
fn members_get_the_kind_of_failure_and_the_operator_the_detail() {
    let (env, fake, server, key) = Env::one_account(&["--max-attempts", "1"]);
    fake.set(Reply::Status(
        500,
        vec![],
        r#"{"type":"error","error":{"type":"api_error","message":"db 10.20.30.40:5432 refused"}}"#
            .into(),
    ));
    let r = post_json(&server, "/v1/messages", &[("x-api-key", &key)], MESSAGES);
    assert_eq!(r.status, 500);
    let id = r
        .header("x-aicarpool-request-id")
        .unwrap_or_default()
        .to_owned();
    assert!(!r.body.contains("10.20.30.40"), "{}", r.body);
    let row = env.rows(1).pop().unwrap();
    assert!(
        row["error_message"]
            .as_str()
            .unwrap()
            .contains("10.20.30.40"),
        "{row}"
    );
    // The member can quote the request id (header and message) to find that row.
    assert_eq!(row["request_id"], id.as_str());
    assert!(r.body.contains(&id), "{}", r.body);
}

#[test]
fn unserved_models_are_a_404_and_accounts_out_for_now_a_503_to_retry() {
    let (env, _fake, server, key) = Env::one_account(&[]);
    let r = post_json(
        &server,
        "/v1/messages",
        &[("x-api-key", &key)],
        &MESSAGES.replace("claude-sonnet-4-5", "claude-opus-4-1"),
    );
    // The account lists nothing, so it serves any model: that goes through.
    assert_eq!(r.status, 200);
    env.data.ok(&["account", "disable", "1"], "");
    eventually(
        "the gateway sees the change",
        Duration::from_secs(5),
        || {
            let r = post_json(&server, "/v1/messages", &[("x-api-key", &key)], MESSAGES);
            (r.status == 503).then_some(r)
        },
    );
    let r = post_json(&server, "/v1/messages", &[("x-api-key", &key)], MESSAGES);
    assert!(r.header("retry-after").is_some(), "503 says when to retry");
    let g = post_json(
        &server,
        "/v1beta/models/gemini-2.5-pro:generateContent",
        &[("x-goog-api-key", &key)],
        GEMINI,
    );
    assert_eq!(g.status, 404, "{}", g.body);
    assert!(g.body.contains("gemini-2.5-pro"), "{}", g.body);
    assert!(g.header("retry-after").is_none());
}

#[test]
fn models_are_listed_from_what_the_accounts_upstreams_report() {
    let env = Env::new();
    let fake = Fake::start();
    fake.set_models(&["deepseek-chat", "deepseek-reasoner"]);
    let id = env.account_on("openai", "ds", &fake.url(), "sk-ds", &[]);
    let key = env.key("alice");
    let server = env.serve(&[]);
    let listed = eventually(
        "the upstream's list is fetched",
        Duration::from_secs(15),
        || {
            let r = request(
                server.addr,
                "GET",
                "/v1/models",
                &[("authorization", &format!("Bearer {key}"))],
                b"",
            );
            let v: Value = serde_json::from_str(&r.body).ok()?;
            let ids: Vec<String> = v["data"]
                .as_array()?
                .iter()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect();
            (!ids.is_empty()).then_some(ids)
        },
    );
    assert_eq!(listed, ["deepseek-chat", "deepseek-reasoner"]);
    let list = fake.list_requests().pop().unwrap();
    assert_eq!(
        list.path, "/v1/models",
        "a base URL without a path means /v1"
    );
    assert_eq!(list.header("authorization"), Some("Bearer sk-ds"));
    // `account test` fetches it again.
    fake.set_models(&["deepseek-chat", "deepseek-reasoner", "deepseek-v4"]);
    let t = env.data.json(&["account", "test", &id.to_string()], "");
    assert_eq!(t["upstream_models"], 3, "{t}");
}

#[test]
fn an_openai_compatible_base_url_with_a_path_is_used_as_given() {
    let env = Env::new();
    let fake = Fake::start();
    env.account_on(
        "openai",
        "glm",
        &format!("{}/api/paas/v4", fake.url()),
        "sk-glm",
        &[],
    );
    let key = env.key("alice");
    let server = env.serve(&[]);
    let r = post_json(
        &server,
        "/v1/chat/completions",
        &[("authorization", &format!("Bearer {key}"))],
        CHAT,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = fake
        .seen()
        .into_iter()
        .find(|s| s.path.contains("chat"))
        .unwrap();
    assert_eq!(sent.path, "/api/paas/v4/chat/completions");
}
