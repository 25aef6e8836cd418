//! The relay end to end: the real server against fake Anthropic upstreams — byte-exact relaying,
//! credentials, failover, account states and their recovery, weights, sticky sessions, exact
//! usage, CLI changes picked up while serving, and the protocol's error shapes.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::env::Env;
use common::upstream::{self, Fake, Reply};
use common::{Resp, Server, eventually, post_json, request, send};
use serde_json::Value;

const BODY: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}],"system":[{"type":"text","text":"be brief","cache_control":{"type":"ephemeral"}}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"thinking":{"type":"enabled","budget_tokens":1024}}"#;
const STREAM_BODY: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

fn messages(server: &Server, key: &str, body: &str) -> Resp {
    messages_with(server, key, body, &[])
}

fn messages_with(server: &Server, key: &str, body: &str, extra: &[(&str, &str)]) -> Resp {
    let mut headers = vec![("x-api-key", key), ("anthropic-version", "2023-06-01")];
    headers.extend_from_slice(extra);
    post_json(server, "/v1/messages", &headers, body)
}

fn error_type(resp: &Resp) -> String {
    let v: Value = serde_json::from_str(&resp.body)
        .unwrap_or_else(|e| panic!("error body is JSON ({e}): {}", resp.body));
    assert_eq!(v["type"], "error", "Anthropic error shape: {}", resp.body);
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    v["error"]["type"].as_str().unwrap().to_owned()
}

#[test]
fn non_stream_and_stream_are_relayed_byte_exact_with_the_account_credential() {
    let env = Env::new();
    let fake = Fake::start();
    let account = env.account("main", &fake.url(), "sk-ant-upstream-secret", &[]);
    let key = env.key("alice");
    let server = env.serve(&[]);

    let resp = messages_with(
        &server,
        &key,
        BODY,
        &[
            ("anthropic-beta", "prompt-caching-2024-07-31"),
            ("cookie", "session=member"),
            ("user-agent", "claude-cli/2.0.14 (external, cli)"),
        ],
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(
        resp.body,
        upstream::message_json(),
        "body relayed byte for byte"
    );
    assert_eq!(resp.header("request-id"), Some("req_fake"));
    assert_eq!(
        resp.header("set-cookie"),
        None,
        "upstream cookies stay behind"
    );
    assert!(resp.header("x-aicarpool-request-id").is_some());
    let timing = resp.header("server-timing").expect("Server-Timing header");
    assert!(
        timing.starts_with("gateway;dur=") && timing.contains(", upstream;dur="),
        "{timing}"
    );

    let seen = &fake.seen()[0];
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(
        seen.body,
        BODY.as_bytes(),
        "request body went upstream unchanged"
    );
    assert_eq!(seen.header("x-api-key"), Some("sk-ant-upstream-secret"));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        seen.header("anthropic-beta"),
        Some("prompt-caching-2024-07-31")
    );
    assert_eq!(seen.header("cookie"), None);
    assert_eq!(seen.header("authorization"), None);
    for (_, v) in &seen.headers {
        assert!(!v.contains(&key), "the member key reached the upstream");
    }

    fake.set(Reply::Stream {
        pace: Duration::from_millis(1),
    });
    let resp = request(
        server.addr,
        "POST",
        "/v1/messages?beta=true",
        &[
            ("authorization", &format!("Bearer {key}")),
            ("content-type", "application/json"),
        ],
        STREAM_BODY.as_bytes(),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        resp.body,
        upstream::stream_bytes(),
        "stream relayed byte for byte"
    );
    assert_eq!(fake.seen()[1].path, "/v1/messages?beta=true");

    let log = env.rows(2);
    assert_eq!(log.len(), 2);
    for (row, stream) in log.iter().zip([false, true]) {
        assert_eq!(row["stream"], stream);
        assert_eq!(row["outcome"], "ok");
        assert_eq!(row["account_id"], account);
        assert_eq!(
            row["model"], "claude-sonnet-4-5",
            "the name the client asked for"
        );
        assert_eq!(
            row["upstream_model"],
            upstream::MODEL,
            "and the one that answered"
        );
        assert_eq!(row["input_tokens"], upstream::INPUT);
        assert_eq!(row["output_tokens"], upstream::OUTPUT);
        assert_eq!(row["cache_creation_input_tokens"], upstream::CACHE_WRITE);
        assert_eq!(row["cache_read_input_tokens"], upstream::CACHE_READ);
        assert_eq!(row["cost_nanos"], upstream::COST_NANOS);
        assert_eq!(row["unpriced"], false);
    }
    assert_eq!(log[0]["client"], "claude-code");
    let acct = env.account_json(account);
    assert_eq!(acct["total_requests"], 2);
    let tokens =
        2 * (upstream::INPUT + upstream::OUTPUT + upstream::CACHE_WRITE + upstream::CACHE_READ);
    assert_eq!(acct["total_tokens"], tokens);
    assert!(acct["last_used_at"].as_i64().is_some());
    let keys = env.data.json(&["key", "list"], "");
    assert!(keys[0]["last_used_at"].as_i64().is_some(), "{keys}");
    let total = env.usage(None);
    assert_eq!(total["requests"], 2);
    assert_eq!(total["output_tokens"], 2 * upstream::OUTPUT);
    let cost = total["cost_usd"].as_f64().unwrap();
    assert!(
        (cost - 2.0 * upstream::COST_NANOS as f64 / 1e9).abs() < 1e-12,
        "{cost}"
    );
}

#[test]
fn failover_reaches_the_next_account_on_500_hang_and_refused_connection() {
    let env = Env::new();
    let bad = Fake::start();
    let good = Fake::start();
    let first = env.account("first", &bad.url(), "sk-first", &["--priority", "1"]);
    let refused = format!("http://{}", upstream::refused_addr());
    let dead = env.account("dead", &refused, "sk-dead", &["--priority", "2"]);
    let second = env.account("second", &good.url(), "sk-second", &["--priority", "3"]);
    let key = env.key("alice");
    let server = env.serve(&[
        "--upstream-first-byte-timeout-secs",
        "1",
        "--error-threshold",
        "100",
        "--max-attempts",
        "3",
    ]);

    bad.set(Reply::Status(
        500,
        vec![],
        r#"{"type":"error","error":{"type":"api_error","message":"boom"}}"#.into(),
    ));
    let r = messages(&server, &key, BODY);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, upstream::message_json());

    bad.set(Reply::Hang);
    let r = messages(&server, &key, BODY);
    assert_eq!(r.status, 200, "{}", r.body);

    let log = env.rows(2);
    for row in &log {
        assert_eq!(row["account_id"], second);
        assert_eq!(
            row["attempts"], 3,
            "first (failing), dead (refused), second"
        );
        assert_eq!(row["outcome"], "ok");
    }
    // Each failed attempt is logged with its account, status and why, in order.
    let tried: String = rusqlite::Connection::open(env.data.db())
        .unwrap()
        .query_row(
            "SELECT tried FROM api_key_request_log ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let tried: serde_json::Value = serde_json::from_str(&tried).unwrap();
    assert_eq!(tried[0]["account_id"], first);
    assert_eq!(tried[0]["status"], 500);
    assert!(
        tried[0]["error"].as_str().unwrap().contains("boom"),
        "{tried}"
    );
    assert_eq!(tried[1]["account_id"], dead);
    assert!(tried[1]["status"].is_null(), "{tried}");
    assert!(
        tried[1]["error"].as_str().unwrap().contains("connect"),
        "{tried}"
    );
    assert_eq!(
        tried.as_array().unwrap().len(),
        2,
        "the one that answered is not a failure"
    );
    assert_eq!(good.count(), 2);
    assert_eq!(env.account_json(first)["error_count"], 2);
    assert_eq!(env.account_json(dead)["error_count"], 2);

    // Client errors are the request's fault: passed on, never retried.
    bad.set(Reply::Status(400, vec![], r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too large"}}"#.into()));
    let before = good.count();
    let r = messages(&server, &key, BODY);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("max_tokens: too large"));
    assert_eq!(good.count(), before, "a 400 is not retried elsewhere");
    assert_eq!(env.rows(3).last().unwrap()["outcome"], "client_error");
}

#[test]
fn all_attempts_failing_gives_the_upstream_error_in_anthropic_shape() {
    let env = Env::new();
    let fake = Fake::start();
    env.account("only", &fake.url(), "sk-only", &[]);
    let key = env.key("alice");
    let server = env.serve(&["--error-threshold", "100"]);
    fake.set(Reply::Status(
        529,
        vec![],
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.into(),
    ));
    let r = messages(&server, &key, BODY);
    assert_eq!(r.status, 529);
    assert_eq!(error_type(&r), "overloaded_error");
    // The member gets the kind of failure and the request id; the upstream's own words go
    // to the operator's log.
    assert!(!r.body.contains("Overloaded"), "{}", r.body);
    assert!(r.body.contains("request id"), "{}", r.body);
    let row = env.rows(1).pop().unwrap();
    assert_eq!(row["outcome"], "upstream_error");
    assert_eq!(row["status_code"], 529);
    assert!(
        row["error_message"]
            .as_str()
            .unwrap()
            .contains("Overloaded"),
        "{row}"
    );
}

#[test]
fn temp_error_after_the_third_server_error_then_recovery_by_the_timer() {
    let env = Env::new();
    let flaky = Fake::start();
    let backup = Fake::start();
    let a = env.account("flaky", &flaky.url(), "sk-flaky", &["--priority", "1"]);
    env.account("backup", &backup.url(), "sk-backup", &["--priority", "2"]);
    let key = env.key("alice");
    let server = env.serve(&[
        "--temp-error-cooldown-secs",
        "2",
        "--recovery-interval-secs",
        "1",
    ]);
    flaky.set(Reply::Status(
        503,
        vec![],
        "<html>Service Unavailable</html>".into(),
    ));
    for n in 1..=2 {
        assert_eq!(messages(&server, &key, BODY).status, 200);
        assert_eq!(env.status(a), "ACTIVE", "still active after {n} errors");
        assert_eq!(env.account_json(a)["error_count"], n);
    }
    assert_eq!(messages(&server, &key, BODY).status, 200);
    let acct = env.account_json(a);
    assert_eq!(acct["status"], "TEMP_ERROR", "{acct}");
    assert!(
        acct["status_reason"]
            .as_str()
            .unwrap()
            .contains("Service Unavailable"),
        "{acct}"
    );
    assert!(acct["status_until"].as_i64().is_some());

    // Out of rotation: the next request goes straight to the backup.
    let before = flaky.count();
    assert_eq!(messages(&server, &key, BODY).status, 200);
    assert_eq!(flaky.count(), before);

    flaky.set(Reply::Message);
    env.wait_status(a, "ACTIVE", Duration::from_secs(10));
    assert_eq!(env.account_json(a)["error_count"], 0);
    let history = env.data.json(&["account", "show", &a.to_string()], "");
    let text = history.to_string();
    assert!(
        text.contains("TEMP_ERROR") && text.contains("recovered"),
        "{text}"
    );
    let before = flaky.count();
    assert_eq!(messages(&server, &key, BODY).status, 200);
    assert_eq!(flaky.count(), before + 1, "back in rotation");
}

#[test]
fn a_temp_error_account_is_the_last_resort_and_success_brings_it_back() {
    let env = Env::new();
    let fake = Fake::start();
    let a = env.account("only", &fake.url(), "sk-only", &[]);
    let key = env.key("alice");
    let server = env.serve(&["--error-threshold", "1", "--max-attempts", "1"]);
    fake.set(Reply::Status(500, vec![], "{}".into()));
    assert_eq!(messages(&server, &key, BODY).status, 500);
    assert_eq!(env.status(a), "TEMP_ERROR");
    fake.set(Reply::Message);
    let r = messages(&server, &key, BODY);
    assert_eq!(
        r.status, 200,
        "TEMP_ERROR is tried when nothing else is left: {}",
        r.body
    );
    assert_eq!(env.status(a), "ACTIVE");
}

#[test]
fn unauthorized_upstream_puts_the_account_in_error_and_the_timer_leaves_it() {
    let env = Env::new();
    let revoked = Fake::start();
    let backup = Fake::start();
    let a = env.account(
        "revoked",
        &revoked.url(),
        "sk-revoked",
        &["--priority", "1"],
    );
    env.account("backup", &backup.url(), "sk-backup", &["--priority", "2"]);
    let key = env.key("alice");
    let server = env.serve(&[
        "--temp-error-cooldown-secs",
        "0",
        "--recovery-interval-secs",
        "1",
    ]);
    revoked.set(Reply::Status(
        401,
        vec![],
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#
            .into(),
    ));
    let r = messages(&server, &key, BODY);
    assert_eq!(r.status, 200, "the member does not notice: {}", r.body);
    let acct = env.account_json(a);
    assert_eq!(acct["status"], "ERROR");
    assert!(
        acct["status_reason"]
            .as_str()
            .unwrap()
            .contains("invalid x-api-key"),
        "{acct}"
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(env.status(a), "ERROR", "ERROR waits for an operator");
    env.data.ok(&["account", "recover", &a.to_string()], "");
    revoked.set(Reply::Message);
    env.wait_status(a, "ACTIVE", Duration::from_secs(1));
}

#[test]
fn rate_limited_until_the_reset_then_back() {
    let env = Env::new();
    let fake = Fake::start();
    let a = env.account("limited", &fake.url(), "sk-limited", &[]);
    let key = env.key("alice");
    let server = env.serve(&["--recovery-interval-secs", "1"]);
    fake.set(Reply::Status(
        429,
        vec![("retry-after", "2".into())],
        r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#.into(),
    ));
    let r = messages(&server, &key, BODY);
    assert_eq!(r.status, 429);
    assert_eq!(error_type(&r), "rate_limit_error");
    assert!(r.header("retry-after").is_some());
    let acct = env.account_json(a);
    assert_eq!(acct["status"], "RATE_LIMITED");
    let until = acct["status_until"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (now..now + 2_500).contains(&until),
        "until {until}, now {now}"
    );

    // While limited, the gateway answers 429 itself without calling the upstream.
    let calls = fake.count();
    let r = messages(&server, &key, BODY);
    assert_eq!(r.status, 429);
    assert!(r.body.contains("rate limited"), "{}", r.body);
    assert_eq!(fake.count(), calls);

    fake.set(Reply::Message);
    env.wait_status(a, "ACTIVE", Duration::from_secs(10));
    assert_eq!(messages(&server, &key, BODY).status, 200);
}

#[test]
fn weights_share_traffic_and_sticky_sessions_stick() {
    let env = Env::new();
    let light = Fake::start();
    let heavy = Fake::start();
    env.account("light", &light.url(), "sk-light", &["--weight", "1"]);
    env.account("heavy", &heavy.url(), "sk-heavy", &["--weight", "3"]);
    let key = env.key("alice");
    let server = env.serve(&[]);
    let n = 240;
    for _ in 0..n {
        assert_eq!(messages(&server, &key, BODY).status, 200);
    }
    // Expected 180 of 240 on the heavy account; ±30 is over four standard deviations.
    let share = heavy.count();
    assert_eq!(share + light.count(), n);
    assert!((150..=210).contains(&share), "heavy served {share} of {n}");

    for conversation in ["conv-a", "conv-b", "conv-c", "conv-d"] {
        let body = format!(
            r#"{{"model":"claude-sonnet-4-5","max_tokens":8,"metadata":{{"user_id":"user_1_account_2_session_{conversation}"}},"messages":[{{"role":"user","content":"hi"}}]}}"#
        );
        let (l0, h0) = (light.count(), heavy.count());
        for _ in 0..12 {
            assert_eq!(messages(&server, &key, &body).status, 200);
        }
        let (l, h) = (light.count() - l0, heavy.count() - h0);
        assert!(
            l == 12 || h == 12,
            "{conversation} split {l}/{h} across accounts"
        );
    }
}

/// How long a test waits for what a request whose client left still does.
const WAIT_ROW: Duration = Duration::from_secs(15);

#[test]
fn a_client_that_leaves_mid_stream_is_still_charged() {
    let (env, fake, server, key) = Env::one_account(&[]);
    fake.set(Reply::Stream {
        pace: Duration::from_millis(150),
    });
    let mut s = send(
        server.addr,
        "POST",
        "/v1/messages",
        &[("x-api-key", &key), ("content-type", "application/json")],
        STREAM_BODY.as_bytes(),
    );
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).contains("200"),
        "stream started"
    );
    drop(s);
    let row = eventually("no row for the abandoned stream", WAIT_ROW, || {
        env.log().pop()
    });
    assert_eq!(row["outcome"], "aborted");
    assert_eq!(
        row["output_tokens"],
        upstream::OUTPUT,
        "charged for everything produced"
    );
    assert_eq!(row["input_tokens"], upstream::INPUT);
    assert_eq!(row["cost_nanos"], upstream::COST_NANOS);
}

#[test]
fn a_client_that_leaves_before_a_whole_answer_is_still_charged() {
    let (env, fake, server, key) = Env::one_account(&[]);
    fake.set_delay(Duration::from_secs(3));
    let s = send(
        server.addr,
        "POST",
        "/v1/messages",
        &[("x-api-key", &key), ("content-type", "application/json")],
        BODY.as_bytes(),
    );
    // Gone while the upstream is still working on the answer (it takes 3 s).
    eventually("the request reached the upstream", WAIT_ROW, || {
        (fake.count() == 1).then_some(())
    });
    s.shutdown(std::net::Shutdown::Both).unwrap();
    drop(s);
    let row = eventually("no row for the request whose client left", WAIT_ROW, || {
        env.log().pop()
    });
    assert_eq!(row["status_code"], 200, "{row}");
    assert_eq!(
        row["output_tokens"],
        upstream::OUTPUT,
        "charged for the answer"
    );
    assert_eq!(row["input_tokens"], upstream::INPUT);
    assert_eq!(row["cost_nanos"], upstream::COST_NANOS);
}

#[test]
fn a_key_made_by_the_cli_works_within_two_seconds() {
    let env = Env::new();
    let fake = Fake::start();
    env.account("main", &fake.url(), "sk-main", &[]);
    let server = env.serve(&[]);
    let key = env.key("late");
    let made = Instant::now();
    loop {
        let r = messages(&server, &key, BODY);
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 401);
        assert!(
            made.elapsed() < Duration::from_secs(2),
            "the new key was not picked up within 2 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Revocation is picked up the same way.
    let id = env.data.json(&["key", "list"], "")[0]["id"]
        .as_i64()
        .unwrap();
    env.data.ok(&["key", "revoke", &id.to_string()], "");
    let revoked = Instant::now();
    loop {
        let r = messages(&server, &key, BODY);
        if r.status == 401 {
            assert!(r.body.contains("revoked"), "{}", r.body);
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(2),
            "revocation not picked up within 2 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_requests_get_errors_in_anthropic_shape() {
    let env = Env::new();
    let fake = Fake::start();
    env.account(
        "main",
        &fake.url(),
        "sk-main",
        &["--models", "claude-sonnet-4-5"],
    );
    let key = env.key("alice");
    let server = env.serve(&["--max-body-bytes", "4096"]);

    let r = request(
        server.addr,
        "POST",
        "/v1/messages",
        &[("content-type", "application/json")],
        BODY.as_bytes(),
    );
    assert_eq!(
        (r.status, error_type(&r).as_str()),
        (401, "authentication_error")
    );
    let r = messages(&server, "acp_not_a_real_key", BODY);
    assert_eq!(
        (r.status, error_type(&r).as_str()),
        (401, "authentication_error")
    );
    let r = messages(&server, &key, "{not json");
    assert_eq!(
        (r.status, error_type(&r).as_str()),
        (400, "invalid_request_error")
    );
    let r = messages(&server, &key, r#"{"messages":[]}"#);
    assert_eq!(
        (r.status, error_type(&r).as_str()),
        (400, "invalid_request_error")
    );
    let big = format!(
        r#"{{"model":"claude-sonnet-4-5","pad":"{}"}}"#,
        "x".repeat(5000)
    );
    let r = messages(&server, &key, &big);
    assert_eq!(
        (r.status, error_type(&r).as_str()),
        (413, "request_too_large")
    );
    let r = request(
        server.addr,
        "GET",
        "/v1/messages",
        &[("x-api-key", &key)],
        b"",
    );
    assert_eq!(
        (r.status, error_type(&r).as_str()),
        (405, "invalid_request_error")
    );
    let r = request(
        server.addr,
        "POST",
        "/v1/nothing",
        &[("x-api-key", &key)],
        b"{}",
    );
    assert_eq!(
        (r.status, error_type(&r).as_str()),
        (404, "not_found_error")
    );
    let other = BODY.replace("claude-sonnet-4-5", "claude-opus-4-1");
    let r = messages(&server, &key, &other);
    // No account offers the model: a 404 (clients do not retry it), naming the model.
    assert_eq!(r.status, 404);
    assert!(
        r.body.contains("claude-opus-4-1") && r.body.contains("not served"),
        "{}",
        r.body
    );
    assert_eq!(fake.count(), 0, "nothing bad reached the upstream");

    let r = request(
        server.addr,
        "GET",
        "/v1/models",
        &[("x-api-key", &key)],
        b"",
    );
    assert_eq!(r.status, 200);
    let models: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(models["data"][0]["id"], "claude-sonnet-4-5");

    fake.set(Reply::Status(200, vec![], r#"{"input_tokens":42}"#.into()));
    let r = request(
        server.addr,
        "POST",
        "/v1/messages/count_tokens",
        &[("x-api-key", &key), ("content-type", "application/json")],
        br#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, r#"{"input_tokens":42}"#);
    assert_eq!(fake.seen()[0].path, "/v1/messages/count_tokens");
    let row = env.rows(2).pop().unwrap();
    assert_eq!(
        (row["cost_nanos"].as_i64(), row["unpriced"].as_bool()),
        (Some(0), Some(false))
    );
}

#[test]
fn a_mapped_model_goes_upstream_renamed_is_logged_under_both_names_and_unpriced() {
    let env = Env::new();
    let fake = Fake::start();
    env.account(
        "kimi",
        &fake.url(),
        "sk-kimi",
        &[
            "--model-map",
            "claude-sonnet-4-5=kimi-k2-unlisted",
            "--models",
            "claude-opus-4-1",
        ],
    );
    let key = env.key("alice");
    let server = env.serve(&[]);
    let body = upstream::message_json().replace(upstream::MODEL, "kimi-k2-unlisted");
    fake.set(Reply::Status(200, vec![], body));
    assert_eq!(
        messages(&server, &key, BODY).status,
        200,
        "a mapped model is served"
    );
    let sent: Value = serde_json::from_slice(&fake.seen()[0].body).unwrap();
    assert_eq!(sent["model"], "kimi-k2-unlisted");
    assert_eq!(
        sent["thinking"]["budget_tokens"], 1024,
        "the rest of the body is kept"
    );
    let row = env.rows(1).pop().unwrap();
    assert_eq!(row["model"], "claude-sonnet-4-5");
    assert_eq!(row["upstream_model"], "kimi-k2-unlisted");
    assert_eq!(
        row["unpriced"], true,
        "no price for the model that answered: unknown, not $0"
    );
    assert_eq!(row["output_tokens"], upstream::OUTPUT);
    let haiku = BODY.replace("claude-sonnet-4-5", "claude-haiku-4-5");
    assert_eq!(
        messages(&server, &key, &haiku).status,
        404,
        "neither listed nor mapped"
    );
}

#[test]
fn an_upstream_that_dies_mid_stream_ends_in_an_error_event_and_is_charged_for_what_it_sent() {
    let (env, fake, server, key) = Env::one_account(&[]);
    let a = 1; // `main`, the only account
    fake.set(Reply::Truncated { events: 3 });
    let r = messages(&server, &key, STREAM_BODY);
    assert_eq!(r.status, 200);
    let sent: String = upstream::stream_events().into_iter().take(3).collect();
    assert!(
        r.body.starts_with(&sent),
        "what the upstream sent reached the client: {}",
        r.body
    );
    let tail = &r.body[sent.len()..];
    assert!(
        tail.starts_with("event: error\ndata: "),
        "then an error event: {tail}"
    );
    let event: Value =
        serde_json::from_str(tail.trim_start_matches("event: error\ndata: ").trim()).unwrap();
    assert_eq!(event["type"], "error");
    assert_eq!(event["error"]["type"], "api_error");
    let row = env.rows(1).pop().unwrap();
    assert_eq!(row["outcome"], "upstream_error");
    assert_eq!(
        row["input_tokens"],
        upstream::INPUT,
        "input was spent upstream"
    );
    assert!(
        row["error_message"]
            .as_str()
            .unwrap()
            .contains("mid-stream")
    );
    assert_eq!(
        env.account_json(a)["error_count"],
        1,
        "counts as a server error of the account"
    );
}

#[test]
fn a_claude_console_relay_gets_its_own_url_user_agent_and_model_list() {
    let env = Env::new();
    let fake = Fake::start();
    let url = format!("{}/api/v1", fake.url());
    let secret = "relay-secret-1";
    env.account_on(
        "claude-console",
        "relay",
        &url,
        secret,
        &[
            "--user-agent",
            "claude-cli/9.9.9 (relay)",
            "--models",
            "claude-sonnet-4-5",
        ],
    );
    let key = env.key("alice");
    let server = env.serve(&[]);
    let r = messages_with(
        &server,
        &key,
        BODY,
        &[("user-agent", "Anthropic/Python 2.0")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = &fake.seen()[0];
    assert_eq!(
        seen.path, "/api/v1/messages",
        "a base URL ending in /v1 is not doubled"
    );
    assert_eq!(seen.header("x-api-key"), Some(secret));
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {secret}").as_str())
    );
    assert_eq!(seen.header("user-agent"), Some("claude-cli/9.9.9 (relay)"));
    let other = BODY.replace("claude-sonnet-4-5", "claude-haiku-4-5");
    assert_eq!(
        messages(&server, &key, &other).status,
        404,
        "the relay's model list holds"
    );
}

#[test]
fn upstreams_are_reached_over_tls_with_http2_and_an_untrusted_certificate_is_refused() {
    let env = Env::new();
    let (ca, cert, key) = common::ca_signed_cert(env.data.dir.path());
    let fake = Fake::start_tls(&cert, &key);
    let a = env.account("tls", &fake.https_url(), "sk-tls", &[]);
    let member = env.key("alice");

    // Without the CA the certificate is not trusted: a connect failure, not a silent downgrade.
    let server = env.serve(&["--error-threshold", "100"]);
    let r = messages(&server, &member, BODY);
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(
        !r.body.contains("certificate") && r.body.contains("could not be reached"),
        "the member gets the kind of failure: {}",
        r.body
    );
    let row = env.rows(1).pop().unwrap();
    assert!(
        row["error_message"]
            .as_str()
            .unwrap()
            .contains("certificate"),
        "the operator's log has the reason: {row}"
    );
    assert_eq!(fake.count(), 0);
    assert_eq!(env.account_json(a)["error_count"], 1);
    drop(server);

    let server = env.serve(&["--upstream-ca-file", ca.to_str().unwrap()]);
    let r = messages(&server, &member, BODY);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, upstream::message_json());
    fake.set(Reply::Stream {
        pace: Duration::from_millis(1),
    });
    let r = messages(&server, &member, STREAM_BODY);
    assert_eq!(r.body, upstream::stream_bytes());
    let seen = fake.seen();
    assert!(
        seen.iter().all(|s| s.version == "HTTP/2.0"),
        "ALPN chose HTTP/2: {seen:?}"
    );
    assert_eq!(seen[0].header("x-api-key"), Some("sk-tls"));
}

#[test]
fn stream_events_reach_the_client_as_the_upstream_sends_them() {
    let (_env, fake, server, key) = Env::one_account(&[]);
    fake.set(Reply::Stream {
        pace: Duration::from_millis(200),
    });
    let mut s = send(
        server.addr,
        "POST",
        "/v1/messages",
        &[("x-api-key", &key), ("content-type", "application/json")],
        STREAM_BODY.as_bytes(),
    );
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while !String::from_utf8_lossy(&got).contains("event: message_start") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "stream ended before its first event");
        got.extend_from_slice(&buf[..n]);
    }
    let total = upstream::stream_events().len();
    let sent = fake.events_sent();
    assert!(
        sent < total / 2,
        "the first event arrived only after {sent} of {total} were sent upstream: buffered"
    );
}
