//! ChatGPT (`codex-oauth`) and Google (`gemini-oauth`) subscriptions through the running
//! gateway, against fakes that follow the real services: sign-in as Codex CLI 0.171.0 and
//! Gemini CLI 0.61.0 do it (the links' parameters, a form token call, the ChatGPT account named
//! by the ID token, the redirect address or a bare code pasted back), ChatGPT's Codex backend
//! (streamed and unstored only, `chatgpt-account-id`, `x-codex-*` windows and turn state), Code
//! Assist's envelope, project discovery and quota, refresh on a 401 made once for many
//! requests, and a rejected window keeping its account out until that window's reset.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::env::Env;
use common::oauth::{CHATGPT_ACCOUNT, FakeOauth};
use common::upstream::{CodeAssistState, Fake, Reply};
use common::{Resp, Server, eventually, request};
use serde_json::Value;

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn vars<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// `oauth-url --platform platform`: the link's query, after checking it goes to the fake.
fn link(env: &Env, oauth: &FakeOauth, platform: &str) -> HashMap<String, String> {
    let e = oauth.env_for(platform);
    let out = env.data.run_env(
        &["--json", "account", "oauth-url", "--platform", platform],
        "",
        &vars(&e),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(link["platform"], platform);
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("http://{}/authorize?", oauth.addr)),
        "{url}"
    );
    let q: HashMap<String, String> =
        form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["response_type"], "code");
    oauth.expect(&q["code_challenge"], "c0de-1");
    q
}

/// `oauth-exchange` with `pasted` on stdin; the new account.
fn exchange(env: &Env, oauth: &FakeOauth, platform: &str, base: &str, pasted: &str) -> Value {
    let e = oauth.env_for(platform);
    let args = [
        "--json",
        "account",
        "oauth-exchange",
        "--name",
        platform,
        "--group",
        "team",
        "--base-url",
        base,
    ];
    let out = env.data.run_env(&args, &format!("{pasted}\n"), &vars(&e));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A ChatGPT subscription signed in as Codex CLI does, on a fake Codex backend.
fn codex_account(env: &Env, oauth: &FakeOauth, backend: &Fake) -> i64 {
    let q = link(env, oauth, "codex-oauth");
    // Codex CLI 0.171.0's client and redirect, and what it adds to the link.
    assert_eq!(q["client_id"], "app_EMoamEEZ73f0CkXaXp7hrann");
    assert_eq!(q["redirect_uri"], "http://localhost:1455/auth/callback");
    assert_eq!(q["scope"], "openid profile email offline_access");
    assert_eq!(q["codex_cli_simplified_flow"], "true");
    assert_eq!(q["id_token_add_organizations"], "true");
    // The browser lands on a localhost page that does not load; its address is pasted.
    let pasted = format!(
        "http://localhost:1455/auth/callback?code=c0de-1&scope=openid+profile+email+offline_access&state={}",
        q["state"]
    );
    let a = exchange(
        env,
        oauth,
        "codex-oauth",
        &format!("{}/backend-api/codex", backend.url()),
        &pasted,
    );
    assert_eq!(a["platform"], "codex-oauth");
    assert_eq!(a["workspace"], CHATGPT_ACCOUNT, "named by the ID token");
    let token_call = &oauth.requests()[0];
    assert_eq!(
        token_call["_content_type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(token_call["grant_type"], "authorization_code");
    assert_eq!(token_call["client_id"], "app_EMoamEEZ73f0CkXaXp7hrann");
    assert_eq!(
        token_call["redirect_uri"],
        "http://localhost:1455/auth/callback"
    );
    a["id"].as_i64().unwrap()
}

fn responses(server: &Server, key: &str, body: &str, headers: &[(&str, &str)]) -> Resp {
    let mut h = vec![
        ("authorization", format!("Bearer {key}")),
        ("content-type", "application/json".to_owned()),
    ];
    h.extend(headers.iter().map(|(k, v)| (*k, v.to_string())));
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    request(server.addr, "POST", "/v1/responses", &h, body.as_bytes())
}

const ASK: &str = r#"{"model":"gpt-5-codex","input":"hello","stream":false}"#;

fn codex_windows(primary: f64, secondary: f64, reset: i64) -> Vec<(&'static str, String)> {
    vec![
        ("x-codex-primary-used-percent", primary.to_string()),
        ("x-codex-primary-window-minutes", "300".into()),
        ("x-codex-primary-reset-at", reset.to_string()),
        ("x-codex-secondary-used-percent", secondary.to_string()),
        ("x-codex-secondary-window-minutes", "10080".into()),
        (
            "x-codex-secondary-reset-at",
            (reset + 5 * 86_400).to_string(),
        ),
    ]
}

#[test]
fn a_chatgpt_subscription_serves_responses_clients_streamed_or_not_with_its_windows() {
    let env = Env::new();
    let oauth = FakeOauth::start();
    let backend = Fake::start();
    backend.codex();
    backend.set(Reply::Auto);
    let reset = now_s() + 3_600;
    let mut headers = codex_windows(42.0, 7.5, reset);
    headers.push(("x-codex-turn-state", "ts-9f".into()));
    backend.set_headers(
        &headers
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect::<Vec<_>>(),
    );
    let id = codex_account(&env, &oauth, &backend);
    // Named, so that clients of other formats may be translated to it.
    env.data.ok(
        &[
            "account",
            "update",
            &id.to_string(),
            "--models",
            "gpt-5-codex",
        ],
        "",
    );
    let key = env.key("member");
    let server = env.data.serve_env(&[], &oauth.env_for("codex-oauth"));

    // The OpenAI SDK's default: not streamed, stored. The backend refuses both; the gateway
    // asks as it accepts and gathers the stream into one answer.
    let r = responses(&server, &key, ASK, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["status"], "completed");
    assert_eq!(
        v["output"][0]["content"][0]["text"],
        "Hello from the fake upstream"
    );
    assert_eq!(v["usage"]["output_tokens"], common::upstream::OUTPUT);
    let seen = backend.seen().pop().unwrap();
    assert_eq!(seen.path, "/backend-api/codex/responses");
    assert_eq!(seen.header("authorization"), Some("Bearer acc-0"));
    assert_eq!(seen.header("chatgpt-account-id"), Some(CHATGPT_ACCOUNT));
    assert_eq!(seen.header("originator"), Some("codex_cli_rs"));
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(
        (sent["stream"].clone(), sent["store"].clone()),
        (Value::Bool(true), Value::Bool(false))
    );
    // The turn state comes back tied to its account.
    let issued = r.header("x-codex-turn-state").unwrap().to_owned();
    assert_eq!(issued, format!("{id}.ts-9f"));
    assert_eq!(r.header("x-codex-primary-used-percent"), Some("42"));

    // Streamed, echoing the turn state: the account gets its own value back.
    let stream = ASK.replace(r#""stream":false"#, r#""stream":true"#);
    let r = responses(
        &server,
        &key,
        &stream,
        &[("x-codex-turn-state", &issued), ("session-id", "s-1")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("event: response.completed"), "{}", r.body);
    let seen = backend.seen().pop().unwrap();
    assert_eq!(seen.header("x-codex-turn-state"), Some("ts-9f"));
    assert_eq!(seen.header("session-id"), Some("s-1"));

    // Both metered exactly, the stream from its events.
    let rows = env.rows(2);
    for row in &rows {
        assert_eq!(row["outcome"], "ok", "{row}");
        assert_eq!(row["output_tokens"], common::upstream::OUTPUT, "{row}");
        assert_eq!(
            row["cache_read_input_tokens"],
            common::upstream::CACHE_READ,
            "{row}"
        );
    }
    // The windows, as `account list --json` shows them.
    let w = eventually("windows persisted", Duration::from_secs(10), || {
        let a = env.account_json(id);
        a["windows"]
            .get("5h")
            .is_some()
            .then(|| a["windows"].clone())
    });
    assert_eq!(w["5h"]["utilization"], 0.42);
    assert_eq!(w["5h"]["resets_at"], reset * 1000);
    assert_eq!(w["7d"]["utilization"], 0.075);

    // Codex's remote compaction is relayed as it is, answered whole.
    let r = request(
        server.addr,
        "POST",
        "/v1/responses/compact",
        &[
            ("authorization", &format!("Bearer {key}")),
            ("content-type", "application/json"),
        ],
        br#"{"model":"gpt-5-codex","input":[{"type":"message","role":"user","content":"hi"}]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = backend.seen().pop().unwrap();
    assert_eq!(seen.path, "/backend-api/codex/responses/compact");
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    assert!(sent.get("stream").is_none(), "{sent}");

    // A chat client reaches the backend translated into Responses, and gets chat back.
    let chat = request(
        server.addr,
        "POST",
        "/v1/chat/completions",
        &[("authorization", &format!("Bearer {key}")), ("content-type", "application/json")],
        br#"{"model":"gpt-5-codex","max_tokens":50,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(chat.status, 200, "{}", chat.body);
    let v: Value = serde_json::from_str(&chat.body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello from the fake upstream"
    );
    let seen = backend.seen().pop().unwrap();
    assert_eq!(seen.path, "/backend-api/codex/responses");
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(sent["instructions"], "be brief");
    assert_eq!(sent["input"][0]["content"][0]["type"], "input_text");
    assert!(sent.get("max_output_tokens").is_none(), "{sent}");
    assert_eq!(
        env.rows(4)
            .iter()
            .filter(|r| r["translated"] == true)
            .count(),
        1
    );
}

#[test]
fn a_turn_state_never_reaches_another_account_and_a_spent_window_holds_its_account_out() {
    let env = Env::new();
    let oauth = FakeOauth::start();
    let (a, b) = (Fake::start(), Fake::start());
    for f in [&a, &b] {
        f.codex();
        f.set(Reply::Auto);
    }
    let ia = codex_account(&env, &oauth, &a);
    let key = env.key("member");
    // A second subscription, its tokens pasted as Codex CLI keeps them.
    let claims = serde_json::json!({ "exp": now_s() + 3_600,
        "https://api.openai.com/auth": { "chatgpt_account_id": "acct-other" } });
    let access = common::oauth::jwt(&claims);
    let ib = env.data.json(
        &[
            "account",
            "create",
            "--platform",
            "codex-oauth",
            "--name",
            "second",
            "--group",
            "team",
            "--base-url",
            &format!("{}/backend-api/codex", b.url()),
            "--refresh-token-stdin",
            "--priority",
            "90",
        ],
        &format!("{access}\nref-b\n"),
    )["id"]
        .as_i64()
        .unwrap();
    assert_eq!(env.account_json(ib)["workspace"], "acct-other");
    let server = env.data.serve_env(&[], &oauth.env_for("codex-oauth"));
    // The first account has spent its five-hour window (which resets within the hour the
    // gateway trusts a reset for: AICARPOOL_RATE_LIMIT_CAP_SECS).
    let reset = now_s() + 2_400;
    a.set(Reply::Status(
        429,
        codex_windows(100.0, 30.0, reset),
        r#"{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached","resets_in_seconds":7200}}"#.into(),
    ));
    let state = format!("{ia}.ts-a");
    let r = responses(&server, &key, ASK, &[("x-codex-turn-state", &state)]);
    assert_eq!(r.status, 200, "{}", r.body);
    // The first account (priority 50) got its own turn state and refused; the second never saw
    // the first one's.
    assert_eq!(a.seen()[0].header("x-codex-turn-state"), Some("ts-a"));
    let seen = b.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-codex-turn-state"), None);
    assert_eq!(seen[0].header("chatgpt-account-id"), Some("acct-other"));
    let first = env.account_json(ia);
    assert_eq!(first["status"], "RATE_LIMITED");
    assert_eq!(
        first["status_until"],
        reset * 1000,
        "out until that window resets"
    );
    // The next request goes straight to the second account.
    let r = responses(&server, &key, ASK, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!((a.seen().len(), b.seen().len()), (1, 2));
}

#[test]
fn a_refused_chatgpt_token_is_refreshed_once_for_many_requests() {
    let env = Env::new();
    let oauth = FakeOauth::start();
    let backend = Fake::start();
    backend.codex();
    backend.set(Reply::Auto);
    codex_account(&env, &oauth, &backend);
    let key = env.key("member");
    let server = env.data.serve_env(&[], &oauth.env_for("codex-oauth"));
    // The access token is revoked upstream; the refresh is slow, so requests pile up on it.
    backend.require_bearer("acc-1");
    oauth.slow_refresh(Duration::from_millis(300));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let (addr, key) = (server.addr, key.clone());
            std::thread::spawn(move || {
                let h = [
                    ("authorization", format!("Bearer {key}")),
                    ("content-type", "application/json".into()),
                ];
                let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
                request(addr, "POST", "/v1/responses", &h, ASK.as_bytes()).status
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    assert_eq!(oauth.refreshes(), 1, "one refresh served every request");
    let refresh = oauth
        .requests()
        .into_iter()
        .find(|r| r["grant_type"] == "refresh_token")
        .unwrap();
    assert_eq!(
        refresh["_content_type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(refresh["refresh_token"], "ref-0");
    assert_eq!(refresh["client_id"], "app_EMoamEEZ73f0CkXaXp7hrann");
}

/// A Google account signed in as Gemini CLI's no-browser flow does, on a fake Code Assist.
fn google_account(env: &Env, oauth: &FakeOauth, ca: &Fake) -> Value {
    let q = link(env, oauth, "gemini-oauth");
    assert_eq!(
        q["client_id"],
        "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com"
    );
    assert_eq!(q["redirect_uri"], "https://codeassist.google.com/authcode");
    assert_eq!(q["access_type"], "offline");
    assert_eq!(
        q["scope"],
        "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile"
    );
    // Google's page shows the code alone.
    let a = exchange(env, oauth, "gemini-oauth", &ca.url(), "c0de-1");
    let token_call = &oauth.requests()[0];
    assert_eq!(
        token_call["_content_type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        token_call["client_secret"],
        "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"
    );
    assert_eq!(
        token_call["redirect_uri"],
        "https://codeassist.google.com/authcode"
    );
    a
}

fn gemini(server: &Server, key: &str, path: &str, body: &str) -> Resp {
    request(
        server.addr,
        "POST",
        path,
        &[
            ("x-goog-api-key", key),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    )
}

const CONTENTS: &str = r#"{"contents":[{"role":"user","parts":[{"text":"hello"}]}]}"#;

#[test]
fn a_google_account_serves_gemini_clients_through_code_assist() {
    let env = Env::new();
    let oauth = FakeOauth::start();
    let ca = Fake::start();
    ca.set(Reply::Auto);
    // Not onboarded yet: onboarding gives the project.
    ca.code_assist(CodeAssistState {
        project: None,
        onboarded_project: "wise-fox-123".into(),
        remaining: 0.25,
    });
    let a = google_account(&env, &oauth, &ca);
    let id = a["id"].as_i64().unwrap();
    assert_eq!(a["platform"], "gemini-oauth");
    assert_eq!(a["workspace"], "wise-fox-123", "found at creation");
    let key = env.key("member");
    let server = env.data.serve_env(&[], &oauth.env_for("gemini-oauth"));

    let r = gemini(
        &server,
        &key,
        "/v1beta/models/gemini-2.5-pro:generateContent",
        CONTENTS,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        "Hello from the fake upstream"
    );
    assert!(
        v.get("response").is_none() && v.get("traceId").is_none(),
        "{v}"
    );
    let seen = ca.seen().pop().unwrap();
    assert_eq!(seen.path, "/v1internal:generateContent");
    assert_eq!(seen.header("authorization"), Some("Bearer acc-0"));
    assert_eq!(seen.header("x-goog-api-key"), None);
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(sent["model"], "gemini-2.5-pro");
    assert_eq!(sent["project"], "wise-fox-123");
    assert_eq!(sent["request"]["contents"][0]["parts"][0]["text"], "hello");

    let r = gemini(
        &server,
        &key,
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
        CONTENTS,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.starts_with("data: {"), "{}", r.body);
    assert!(
        !r.body.contains("traceId") && !r.body.contains("\"response\""),
        "{}",
        r.body
    );
    assert_eq!(
        ca.seen().pop().unwrap().path,
        "/v1internal:streamGenerateContent?alt=sse"
    );

    let r = gemini(
        &server,
        &key,
        "/v1beta/models/gemini-2.5-pro:countTokens",
        CONTENTS,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let sent: Value = serde_json::from_slice(&ca.seen().pop().unwrap().body).unwrap();
    assert_eq!(sent["request"]["model"], "models/gemini-2.5-pro");

    // Metered from usageMetadata, out of its envelope, whole and streamed.
    let rows = env.rows(3);
    let billed: Vec<&Value> = rows
        .iter()
        .filter(|r| r["endpoint"] != "/v1beta/models:countTokens")
        .collect();
    assert_eq!(billed.len(), 2, "{rows:?}");
    for row in billed {
        assert_eq!(row["outcome"], "ok", "{row}");
        assert_eq!(row["input_tokens"], common::upstream::INPUT, "{row}");
        assert!(row["output_tokens"].as_i64().unwrap() > 0, "{row}");
    }

    // `account test` asks the quota: a daily window, its most used model's.
    let t = env.data.json(&["account", "test", &id.to_string()], "");
    assert_eq!(t["ok"], true, "{t}");
    let w = env.account_json(id)["windows"].clone();
    assert_eq!(w["1d"]["utilization"], 0.75, "{w}");
}

#[test]
fn claude_code_s_protocol_reaches_a_google_account_through_translation() {
    let env = Env::new();
    let ca = Fake::start();
    ca.set(Reply::Auto);
    ca.code_assist(CodeAssistState {
        project: Some("p-7".into()),
        ..Default::default()
    });
    env.data.json(
        &[
            "account",
            "create",
            "--platform",
            "gemini-oauth",
            "--name",
            "g",
            "--group",
            "team",
            "--base-url",
            &ca.url(),
            "--refresh-token-stdin",
            "--model-map",
            "claude-sonnet-4-5=gemini-2.5-pro",
        ],
        "ya29.a\n1//r\n",
    );
    let key = env.key("member");
    let server = env.serve(&[]);
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = request(
        server.addr,
        "POST",
        "/v1/messages",
        &[
            ("x-api-key", &key),
            ("content-type", "application/json"),
            ("anthropic-version", "2023-06-01"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("event: message_stop"), "{}", r.body);
    assert!(r.body.contains("Hello"), "{}", r.body);
    let seen = ca.seen().pop().unwrap();
    assert_eq!(seen.path, "/v1internal:streamGenerateContent?alt=sse");
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(sent["model"], "gemini-2.5-pro");
    assert_eq!(sent["project"], "p-7");
    assert!(sent["request"]["contents"].is_array(), "{sent}");
    let row = &env.rows(1)[0];
    assert_eq!(row["translated"], true, "{row}");
    assert_eq!(row["input_tokens"], common::upstream::INPUT, "{row}");
}

#[test]
fn a_google_account_already_set_up_keeps_its_project_and_refreshes_with_its_secret() {
    let env = Env::new();
    let oauth = FakeOauth::start();
    let ca = Fake::start();
    ca.set(Reply::Auto);
    ca.code_assist(CodeAssistState {
        project: Some("known-proj-9".into()),
        onboarded_project: "never-used".into(),
        remaining: 1.0,
    });
    let a = google_account(&env, &oauth, &ca);
    assert_eq!(a["workspace"], "known-proj-9");
    let key = env.key("member");
    let server = env.data.serve_env(&[], &oauth.env_for("gemini-oauth"));
    ca.require_bearer("acc-1");
    let r = gemini(
        &server,
        &key,
        "/v1beta/models/gemini-2.5-flash:generateContent",
        CONTENTS,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let refresh = oauth
        .requests()
        .into_iter()
        .find(|r| r["grant_type"] == "refresh_token")
        .unwrap();
    assert_eq!(
        refresh["client_secret"],
        "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"
    );
    assert_eq!(refresh["refresh_token"], "ref-0");
}

#[test]
fn sign_in_refuses_what_it_cannot_do() {
    let env = Env::new();
    // Tokens that name no ChatGPT account cannot make a usable account.
    let err = env.data.fails(
        &[
            "account",
            "create",
            "--platform",
            "codex-oauth",
            "--name",
            "c",
            "--refresh-token-stdin",
        ],
        "not-a-jwt\nrt\n",
        2,
    );
    assert!(err.contains("ChatGPT account id"), "{err}");
    let oauth = FakeOauth::start();
    let e = oauth.env_for("codex-oauth");
    let out = env.data.run_env(
        &["account", "oauth-url", "--platform", "openai"],
        "",
        &vars(&e),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no sign-in"));
    let out = env.data.run_env(
        &[
            "account",
            "oauth-url",
            "--platform",
            "codex-oauth",
            "--console",
        ],
        "",
        &vars(&e),
    );
    assert_eq!(out.status.code(), Some(2));
    // A bare code with two links waiting cannot be matched to one.
    link(&env, &oauth, "gemini-oauth");
    link(&env, &oauth, "gemini-oauth");
    let out = env.data.run_env(
        &[
            "account",
            "oauth-exchange",
            "--name",
            "g",
            "--group",
            "team",
        ],
        "c0de-1\n",
        &vars(&oauth.env_for("gemini-oauth")),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("whole address"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn chatgpt_and_google_tokens_about_to_expire_are_refreshed_before_use() {
    let env = Env::new();
    let oauth = FakeOauth::start();
    let (backend, ca) = (Fake::start(), Fake::start());
    backend.codex();
    backend.set(Reply::Auto);
    ca.set(Reply::Auto);
    ca.code_assist(CodeAssistState {
        project: Some("p".into()),
        ..Default::default()
    });
    oauth.expires_in(60); // inside the five-minute refresh window
    codex_account(&env, &oauth, &backend);
    let q = link(&env, &oauth, "gemini-oauth");
    assert!(q.contains_key("state"));
    exchange(&env, &oauth, "gemini-oauth", &ca.url(), "c0de-1");
    let mut vars = oauth.env_for("codex-oauth");
    vars.extend(oauth.env_for("gemini-oauth"));
    let _server = env.data.serve_env(&[], &vars);
    eventually(
        "both refreshed by the timer",
        Duration::from_secs(10),
        || (oauth.refreshes() >= 2).then_some(()),
    );
    let refreshed: Vec<Value> = oauth
        .requests()
        .into_iter()
        .filter(|r| r["grant_type"] == "refresh_token")
        .collect();
    let clients: Vec<&str> = refreshed
        .iter()
        .map(|r| r["client_id"].as_str().unwrap())
        .collect();
    assert!(
        clients.contains(&"app_EMoamEEZ73f0CkXaXp7hrann"),
        "{clients:?}"
    );
    assert!(
        clients
            .contains(&"681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com"),
        "{clients:?}"
    );
}
