//! OpenAI (chat and Responses) and Gemini through the same relay as Anthropic: relayed stream
//! and non-stream, usage recorded exactly, credentials swapped, member keys never forwarded,
//! errors in each protocol's shape, failover and account states shared.

mod common;

use std::time::Duration;

use common::env::Env;
use common::upstream::{self, Fake, Reply};
use common::{post_json, request};
use serde_json::Value;

const CHAT: &str = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
const CHAT_STREAM: &str =
    r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
const RESPONSES: &str = r#"{"model":"gpt-5-codex","input":"hi","prompt_cache_key":"conv-1"}"#;
const RESPONSES_STREAM: &str = r#"{"model":"gpt-5-codex","input":"hi","stream":true}"#;
const GEMINI: &str = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;

/// Prices `model` at $2.50 / $10 / $1.25 per million input / output / cached tokens.
fn set_price(env: &Env, model: &str) {
    let args = [
        "price",
        "set",
        model,
        "--input",
        "2.5",
        "--output",
        "10",
        "--cache-read",
        "1.25",
    ];
    env.data.ok(&args, "");
}

/// What 11 input, 22 output and 3 cached tokens cost at $2.50 / $10 / $1.25 per million.
const PRICED_NANOS: i64 = 11 * 2500 + 22 * 10_000 + 3 * 1250;

fn exact_usage(row: &Value) {
    assert_eq!(row["outcome"], "ok", "{row}");
    assert_eq!(row["input_tokens"], upstream::INPUT, "{row}");
    assert_eq!(row["output_tokens"], upstream::OUTPUT, "{row}");
    assert_eq!(
        row["cache_read_input_tokens"],
        upstream::CACHE_READ,
        "{row}"
    );
    assert_eq!(row["cache_creation_input_tokens"], 0, "{row}");
}

fn no_member_key(fake: &Fake, key: &str) {
    for seen in fake.seen() {
        assert!(
            !seen.path.contains(key),
            "member key in the upstream URL: {}",
            seen.path
        );
        for (name, v) in &seen.headers {
            assert!(
                !v.contains(key),
                "member key reached the upstream in {name}"
            );
        }
    }
}

#[test]
fn openai_chat_and_responses_are_relayed_with_exact_usage() {
    let env = Env::new();
    let fake = Fake::start();
    // The fake stands in for OpenAI's own API, which serves Responses too.
    env.account_on(
        "openai",
        "oai",
        &format!("{}/v1", fake.url()),
        "sk-openai-upstream",
        &["--responses-api", "yes"],
    );
    for model in ["gpt-4o", "gpt-5-codex"] {
        set_price(&env, model);
    }
    let key = env.key("alice");
    let server = env.serve(&[]);
    let bearer = format!("Bearer {key}");
    let auth = [("authorization", bearer.as_str())];

    let r = post_json(&server, "/v1/chat/completions", &auth, CHAT);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, upstream::chat_json());
    let seen = fake.seen();
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer sk-openai-upstream")
    );
    assert_eq!(
        seen[0].body,
        CHAT.as_bytes(),
        "non-stream bodies go up unchanged"
    );

    // A stream whose client did not ask for usage: the gateway asks, and keeps the chunk.
    fake.set(Reply::Stream {
        pace: Duration::from_millis(1),
    });
    let r = post_json(&server, "/v1/chat/completions", &auth, CHAT_STREAM);
    assert_eq!(r.status, 200, "{}", r.body);
    let sent: Value = serde_json::from_slice(&fake.seen()[1].body).unwrap();
    assert_eq!(sent["stream_options"]["include_usage"], true);
    let with_usage: String = upstream::chat_events(true).concat();
    let usage_chunk = &upstream::chat_events(true)[7];
    assert_eq!(
        r.body,
        with_usage.replace(usage_chunk.as_str(), ""),
        "everything but the usage chunk"
    );
    assert!(!r.body.contains("\"prompt_tokens\""));

    // A client that asked gets the stream exactly as the upstream sent it.
    let asked = CHAT_STREAM.replace(
        "\"stream\":true",
        "\"stream\":true,\"stream_options\":{\"include_usage\":true}",
    );
    let r = post_json(&server, "/v1/chat/completions", &auth, &asked);
    assert_eq!(r.body, with_usage);
    assert_eq!(fake.seen()[2].body, asked.as_bytes());

    fake.set(Reply::Message);
    let r = post_json(&server, "/v1/responses", &auth, RESPONSES);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, upstream::responses_json());
    assert_eq!(fake.seen()[3].path, "/v1/responses");
    fake.set(Reply::Stream {
        pace: Duration::from_millis(1),
    });
    let r = post_json(&server, "/v1/responses", &auth, RESPONSES_STREAM);
    assert_eq!(r.body, upstream::responses_events().concat());

    let rows = env.rows(5);
    for row in &rows {
        exact_usage(row);
        assert_eq!(row["cost_nanos"], PRICED_NANOS, "{row}");
    }
    assert_eq!(rows[0]["upstream_model"], "gpt-4o-2024-08-06");
    assert_eq!(rows[3]["model"], "gpt-5-codex");
    assert_eq!(
        rows[3]["upstream_model"],
        Value::Null,
        "same name: nothing extra"
    );
    no_member_key(&fake, &key);

    // What the OpenAI upstream itself lists (fetched by the gateway after start), in OpenAI's
    // list shape, and no Claude names.
    let ids = common::eventually(
        "the upstream's model list is served",
        Duration::from_secs(10),
        || {
            let r = request(server.addr, "GET", "/v1/models", &auth, b"");
            let models: Value = serde_json::from_str(&r.body).ok()?;
            assert_eq!(models["object"], "list", "OpenAI's list shape: {}", r.body);
            let ids: Vec<String> = models["data"]
                .as_array()?
                .iter()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect();
            (ids == ["fake-model-a", "fake-model-b"]).then_some(ids)
        },
    );
    assert!(ids.iter().all(|m| !m.starts_with("claude")));
}

#[test]
fn gemini_generate_stream_and_count_with_either_key_place() {
    let env = Env::new();
    let fake = Fake::start();
    env.account_on("gemini", "gem", &fake.url(), "AIza-upstream-key", &[]);
    set_price(&env, "gemini-2.5-pro");
    let key = env.key("alice");
    let server = env.serve(&[]);

    let r = post_json(
        &server,
        "/v1beta/models/gemini-2.5-pro:generateContent",
        &[("x-goog-api-key", &key)],
        GEMINI,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, upstream::gemini_json());
    fake.set(Reply::Stream {
        pace: Duration::from_millis(1),
    });
    let path = format!("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse&key={key}");
    let r = post_json(&server, &path, &[], GEMINI);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, upstream::gemini_events().concat());
    fake.set(Reply::Message);
    let r = post_json(
        &server,
        "/v1beta/models/gemini-2.5-pro:countTokens",
        &[("x-goog-api-key", &key)],
        GEMINI,
    );
    assert_eq!(r.body, r#"{"totalTokens":14}"#);

    let seen = fake.seen();
    assert_eq!(
        seen[0].path,
        "/v1beta/models/gemini-2.5-pro:generateContent"
    );
    assert_eq!(
        seen[1].path, "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
        "?key= stays behind"
    );
    assert!(
        seen.iter()
            .all(|s| s.header("x-goog-api-key") == Some("AIza-upstream-key"))
    );
    assert!(seen.iter().all(|s| s.body == GEMINI.as_bytes()));
    no_member_key(&fake, &key);

    let rows = env.rows(3);
    for row in &rows[..2] {
        exact_usage(row);
        assert_eq!(row["cost_nanos"], PRICED_NANOS);
    }
    assert_eq!(rows[2]["cost_nanos"], 0, "counting tokens is free");
    assert_eq!(rows[2]["input_tokens"], 0);

    let r = post_json(
        &server,
        "/v1beta/models/gemini-2.5-pro:generateContent",
        &[("x-goog-api-key", "acp_wrong")],
        GEMINI,
    );
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (r.status, v["error"]["status"].as_str()),
        (401, Some("UNAUTHENTICATED")),
        "{}",
        r.body
    );
}

#[test]
fn openai_errors_failover_and_account_states_work_as_for_anthropic() {
    let env = Env::new();
    let bad = Fake::start();
    let good = Fake::start();
    let first = env.account_on(
        "openai",
        "first",
        &bad.url(),
        "sk-first",
        &["--priority", "1"],
    );
    env.account_on(
        "openai",
        "second",
        &good.url(),
        "sk-second",
        &["--priority", "2"],
    );
    let key = env.key("alice");
    let server = env.serve(&[]);
    let bearer = format!("Bearer {key}");
    let auth = [("authorization", bearer.as_str())];

    bad.set(Reply::Status(429, vec![("retry-after", "30".into())], r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#.into()));
    let r = post_json(&server, "/v1/chat/completions", &auth, CHAT);
    assert_eq!(r.status, 200, "failed over: {}", r.body);
    assert_eq!(good.count(), 1);
    assert_eq!(env.status(first), "RATE_LIMITED");
    assert_eq!(
        good.seen()[0].path,
        "/v1/chat/completions",
        "a base URL without a path means its /v1 (https://api.deepseek.com)"
    );

    let r = post_json(
        &server,
        "/v1/chat/completions",
        &[("authorization", "Bearer acp_nope")],
        CHAT,
    );
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(
        v["error"]["code"], "invalid_api_key",
        "OpenAI's error shape: {}",
        r.body
    );
    let r = post_json(&server, "/v1/chat/completions", &auth, "{");
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (r.status, v["error"]["type"].as_str()),
        (400, Some("invalid_request_error"))
    );

    let gemini = post_json(
        &server,
        "/v1beta/models/gemini-2.5-pro:generateContent",
        &[("x-goog-api-key", &key)],
        GEMINI,
    );
    let v: Value = serde_json::from_str(&gemini.body).unwrap();
    assert_eq!(
        gemini.status, 404,
        "no gemini account in the group: {}",
        gemini.body
    );
    assert_eq!(v["error"]["status"], "NOT_FOUND");
}

#[test]
fn proxied_accounts_go_through_their_proxy_and_others_do_not() {
    let env = Env::new();
    let http_proxy = common::proxies::Proxy::http("pu", "p@ss:word");
    let socks = common::proxies::Proxy::socks5("su", "s3cret");
    let via_http = Fake::start();
    let via_socks = Fake::start();
    let direct = Fake::start();
    // Proxy passwords come on stdin after the account's secret, never in argv.
    let http_url = format!("http://pu@{}", http_proxy.addr);
    env.data.json(
        &[
            "account",
            "create",
            "--name",
            "via-http",
            "--platform",
            "anthropic",
            "--base-url",
            &via_http.url(),
            "--group",
            "team",
            "--priority",
            "1",
            "--proxy",
            &http_url,
            "--proxy-password-stdin",
        ],
        "sk-1\np@ss:word\n",
    );
    env.data.json(
        &[
            "account",
            "create",
            "--name",
            "via-socks",
            "--platform",
            "anthropic",
            "--base-url",
            &format!("http://localhost:{}", via_socks.addr.port()),
            "--group",
            "team",
            "--priority",
            "2",
            "--proxy",
            &format!("socks5h://su@{}", socks.addr),
            "--proxy-password-stdin",
        ],
        "sk-2\ns3cret\n",
    );
    env.account("direct", &direct.url(), "sk-3", &["--priority", "3"]);
    let key = env.key("alice");
    let server = env.serve(&["--error-threshold", "100"]);
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
    let send = || post_json(&server, "/v1/messages", &[("x-api-key", &key)], body);

    assert_eq!(send().status, 200);
    assert_eq!(via_http.count(), 1);
    // Every tunnel leads to the account's upstream (its model list is fetched through the
    // proxy too).
    let tunnels = http_proxy.tunnels();
    assert!(
        !tunnels.is_empty() && tunnels.iter().all(|t| *t == via_http.addr.to_string()),
        "{tunnels:?}"
    );

    // The first account fails: the next goes through SOCKS5, resolving the name at the proxy.
    via_http.set(Reply::Status(500, vec![], "{}".into()));
    assert_eq!(send().status, 200);
    assert_eq!(via_socks.count(), 1);
    let tunnels = socks.tunnels();
    let target = format!("localhost:{}", via_socks.addr.port());
    assert!(
        !tunnels.is_empty() && tunnels.iter().all(|t| *t == target),
        "{tunnels:?}"
    );

    // Both proxied accounts fail now; the direct account serves, and no proxy saw it.
    via_socks.set(Reply::Status(500, vec![], "{}".into()));
    assert_eq!(send().status, 200);
    assert_eq!(direct.count(), 1);
    assert_eq!(via_http.count(), 3, "every try of the proxied account");
    // Tunnels are connections (kept alive and reused), each to its own account's upstream.
    assert!(
        http_proxy
            .tunnels()
            .iter()
            .all(|t| *t == via_http.addr.to_string())
    );
    let socks_target = format!("localhost:{}", via_socks.addr.port());
    assert!(socks.tunnels().iter().all(|t| *t == socks_target));
    assert!(
        direct
            .seen()
            .iter()
            .all(|s| s.header("proxy-authorization").is_none())
    );
}

#[test]
fn a_proxy_refusing_the_credentials_is_a_connect_error_of_its_account() {
    let env = Env::new();
    let proxy = common::proxies::Proxy::socks5("su", "right");
    let fake = Fake::start();
    let a = env.data.json(
        &[
            "account",
            "create",
            "--name",
            "bad-proxy",
            "--platform",
            "anthropic",
            "--base-url",
            &fake.url(),
            "--group",
            "team",
            "--proxy",
            &format!("socks5://su@{}", proxy.addr),
            "--proxy-password-stdin",
        ],
        "sk-1\nwrong\n",
    )["id"]
        .as_i64()
        .unwrap();
    let key = env.key("alice");
    let server = env.serve(&["--error-threshold", "100"]);
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = post_json(&server, "/v1/messages", &[("x-api-key", &key)], body);
    assert_eq!(r.status, 502, "{}", r.body);
    // The proxy's words (which may name internal hosts) reach the operator's log, not the member.
    assert!(!r.body.contains("SOCKS5"), "{}", r.body);
    let row = env.rows(1).pop().unwrap();
    assert!(
        row["error_message"]
            .as_str()
            .unwrap()
            .contains("credentials not accepted"),
        "{row}"
    );
    assert_eq!(fake.count(), 0);
    let tunnels = proxy.tunnels();
    assert!(
        !tunnels.is_empty() && tunnels.iter().all(|t| t == "refused"),
        "{tunnels:?}"
    );
    assert_eq!(env.account_json(a)["error_count"], 1);
    assert!(
        !r.body.contains("wrong"),
        "the proxy password is not echoed"
    );
}

#[test]
fn account_test_sends_a_real_request_and_moves_the_state_like_traffic() {
    let env = Env::new();
    let fake = Fake::start();
    let gem = Fake::start();
    let a = env.account(
        "claude",
        &fake.url(),
        "sk-claude",
        &["--models", "claude-haiku-4-5"],
    );
    let g = env.account_on("gemini", "gem", &gem.url(), "AIza-k", &[]);

    let r = env.data.json(&["account", "test", &a.to_string()], "");
    assert_eq!(
        (r["ok"].as_bool(), r["status"].as_u64()),
        (Some(true), Some(200)),
        "{r}"
    );
    assert_eq!(
        r["model"], "claude-haiku-4-5",
        "the account's own first model"
    );
    let seen = &fake.seen()[0];
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.header("x-api-key"), Some("sk-claude"));
    let body: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(body["max_tokens"], 1);

    let r = env.data.json(&["account", "test", &g.to_string()], "");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        gem.seen()[0].path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(gem.seen()[0].header("x-goog-api-key"), Some("AIza-k"));

    fake.set(Reply::Status(
        401,
        vec![],
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#
            .into(),
    ));
    let err = env.data.fails(&["account", "test", &a.to_string()], "", 1);
    assert!(err.contains("failed its test"), "{err}");
    let acct = env.account_json(a);
    assert_eq!(acct["status"], "ERROR");
    assert!(
        acct["status_reason"]
            .as_str()
            .unwrap()
            .contains("invalid x-api-key"),
        "{acct}"
    );

    env.data.ok(&["account", "recover", &a.to_string()], "");
    fake.set(Reply::Status(
        429,
        vec![("retry-after", "120".into())],
        "{}".into(),
    ));
    env.data.fails(&["account", "test", &a.to_string()], "", 1);
    assert_eq!(env.status(a), "RATE_LIMITED");
    fake.set(Reply::Message);
    let r = env.data.json(&["account", "test", &a.to_string()], "");
    assert_eq!(
        r["account_status"], "ACTIVE",
        "a success brings it back: {r}"
    );
}
