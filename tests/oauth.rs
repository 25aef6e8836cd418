//! Claude subscription accounts: PKCE onboarding against a fake authorization server, bearer
//! tokens with the OAuth beta flag, refresh before expiry and once on a 401 (single-flight),
//! and ERROR when the refresh token is revoked.

mod common;

use std::time::{Duration, Instant};

use common::env::Env;
use common::oauth::FakeOauth;
use common::upstream::{Fake, Reply};
use common::{Resp, Server, request};
use serde_json::Value;

const BODY: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;

fn send(server: &Server, key: &str) -> Resp {
    request(
        server.addr,
        "POST",
        "/v1/messages",
        &[
            ("x-api-key", key),
            ("content-type", "application/json"),
            ("anthropic-beta", "context-1m-2025-08-07"),
        ],
        BODY.as_bytes(),
    )
}

/// Runs the PKCE onboarding: link, then exchange of `code`; returns the new account's id.
fn onboard(env: &Env, oauth: &FakeOauth, upstream: &Fake) -> i64 {
    let vars = oauth.env();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = env
        .data
        .run_env(&["--json", "account", "oauth-url"], "", &vars);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link: Value = serde_json::from_slice(&out.stdout).unwrap();
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("http://{}/authorize?", oauth.addr)),
        "{url}"
    );
    let query: std::collections::HashMap<String, String> =
        form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["state"], link["state"].as_str().unwrap());
    oauth.expect(&query["code_challenge"], "c0de");
    let pasted = format!("c0de#{}\n", query["state"]);
    let args = [
        "--json",
        "account",
        "oauth-exchange",
        "--name",
        "subscription",
        "--group",
        "team",
        "--base-url",
        &upstream.url(),
    ];
    let out = env.data.run_env(&args, &pasted, &vars);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let account: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(account["platform"], "claude-oauth");
    // The link works once.
    let again = env.data.run_env(&args, &pasted, &vars);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("unknown or expired"));
    account["id"].as_i64().unwrap()
}

#[test]
fn pkce_onboarding_then_bearer_requests_with_the_oauth_beta() {
    let env = Env::new();
    let oauth = FakeOauth::start();
    let upstream = Fake::start();
    onboard(&env, &oauth, &upstream);
    let exchange = &oauth.requests()[0];
    assert_eq!(exchange["grant_type"], "authorization_code");
    assert_eq!(
        exchange["client_id"],
        "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
    );
    let key = env.key("alice");
    let server = env.data.serve_env(&[], &oauth.env());
    upstream.require_bearer("acc-0");
    let r = send(&server, &key);
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = &upstream.seen()[0];
    assert_eq!(seen.header("authorization"), Some("Bearer acc-0"));
    assert_eq!(seen.header("x-api-key"), None);
    assert_eq!(
        seen.header("anthropic-beta"),
        Some("oauth-2025-04-20,context-1m-2025-08-07")
    );
    assert_eq!(oauth.refreshes(), 0, "a fresh token is not refreshed");
}

#[test]
fn a_token_about_to_expire_is_refreshed_before_use() {
    let env = Env::new();
    let oauth = FakeOauth::start();
    let upstream = Fake::start();
    oauth.expires_in(60); // inside the five-minute refresh window
    onboard(&env, &oauth, &upstream);
    let key = env.key("alice");
    upstream.require_bearer("acc-1");
    let server = env.data.serve_env(&[], &oauth.env());
    let deadline = Instant::now() + Duration::from_secs(10);
    while oauth.refreshes() == 0 {
        assert!(
            Instant::now() < deadline,
            "the timer did not refresh the token"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Logged once the snapshot holds the new token.
    common::eventually(
        "the refreshed token in use",
        Duration::from_secs(10),
        || {
            let logs = server.logs.lock().unwrap();
            logs.iter()
                .any(|l| l.contains("refreshed the subscription's access token"))
                .then_some(())
        },
    );
    let r = send(&server, &key);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        upstream.count(),
        1,
        "no 401 first: the new token was already in use"
    );
    assert_eq!(oauth.requests()[1]["refresh_token"], "ref-0");
}

#[test]
fn a_401_refreshes_once_for_many_concurrent_requests_then_succeeds() {
    let env = Env::new();
    let oauth = FakeOauth::start();
    let upstream = Fake::start();
    // Tokens entered by hand: access, then refresh, on stdin.
    let vars: Vec<(&str, String)> = oauth.env();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = env.data.run_env(
        &[
            "--json",
            "account",
            "create",
            "--name",
            "manual",
            "--platform",
            "claude-oauth",
            "--base-url",
            &upstream.url(),
            "--group",
            "team",
            "--refresh-token-stdin",
        ],
        "stale-access\nref-0\n",
        &vars,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = env.key("alice");
    upstream.require_bearer("acc-1");
    upstream.set(Reply::Stream {
        pace: Duration::from_millis(5),
    });
    let server = env.data.serve_env(&[], &oauth.env());
    let addr = server.addr;
    let body = BODY.replace("\"max_tokens\":8", "\"max_tokens\":8,\"stream\":true");
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (key, body) = (key.clone(), body.clone());
            std::thread::spawn(move || {
                request(
                    addr,
                    "POST",
                    "/v1/messages",
                    &[("x-api-key", &key), ("content-type", "application/json")],
                    body.as_bytes(),
                )
            })
        })
        .collect();
    for t in threads {
        let r = t.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("message_stop"));
    }
    assert_eq!(
        oauth.refreshes(),
        1,
        "one refresh served every request that hit the 401"
    );
    let stored = env.data.json(&["account", "list"], "")[0].clone();
    assert_eq!(stored["status"], "ACTIVE", "{stored}");
    assert!(
        stored["oauth_expires_at"].as_i64().is_some(),
        "the new expiry was stored"
    );
}

#[test]
fn a_revoked_refresh_token_puts_the_account_in_error() {
    let env = Env::new();
    let oauth = FakeOauth::start();
    let upstream = Fake::start();
    let id = onboard(&env, &oauth, &upstream);
    oauth.reject_refresh();
    upstream.require_bearer("never-valid");
    let key = env.key("alice");
    let server = env.data.serve_env(&[], &oauth.env());
    let r = send(&server, &key);
    assert_eq!(r.status, 502, "{}", r.body);
    let list = env.data.json(&["account", "list"], "");
    let acct = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .unwrap();
    assert_eq!(acct["status"], "ERROR");
    assert!(
        acct["status_reason"]
            .as_str()
            .unwrap()
            .contains("Refresh token revoked"),
        "{acct}"
    );
}

/// A token endpoint that moved (404) or fails (500) is not a revoked grant: the account keeps
/// its tokens, cools down instead of going to ERROR, the operator sees the failure, and the
/// next refresh after the server heals clears it.
#[test]
fn a_failing_token_endpoint_is_retried_and_shown_not_an_error() {
    for status in [404, 500] {
        let env = Env::new();
        let oauth = FakeOauth::start();
        let upstream = Fake::start();
        let id = onboard(&env, &oauth, &upstream);
        oauth.fail_refresh(status);
        upstream.require_bearer("acc-1");
        let key = env.key("alice");
        let server = env.data.serve_env(&[], &oauth.env());
        let r = send(&server, &key);
        assert_eq!(r.status, 502, "{}", r.body);
        let acct = env.account_json(id);
        assert_ne!(acct["status"], "ERROR", "{status}: {acct}");
        assert!(acct["refresh_failing_since"].as_i64().is_some(), "{acct}");
        assert!(
            acct["refresh_error"]
                .as_str()
                .unwrap()
                .contains(&status.to_string()),
            "{acct}"
        );
        let text = env.data.run_env(&["account", "list"], "", &[]);
        assert!(
            String::from_utf8_lossy(&text.stdout).contains("token refresh failing since"),
            "{}",
            String::from_utf8_lossy(&text.stdout)
        );
        oauth.heal();
        let r = send(&server, &key);
        assert_eq!(r.status, 200, "{status}: {}", r.body);
        let acct = env.account_json(id);
        assert!(acct["refresh_failing_since"].is_null(), "{acct}");
    }
}

/// The defaults are Claude Code 2.1.328's sign-in (read from its binary): claude.ai
/// subscribers at claude.com, Console accounts at platform.claude.com with the API-key scope,
/// tokens from platform.claude.com; `serve --help` shows them.
#[test]
fn sign_in_links_follow_the_official_client() {
    let env = Env::new();
    let link = env.data.json(&["account", "oauth-url"], "");
    let url = link["url"].as_str().unwrap();
    let (base, query) = url.split_once('?').unwrap();
    assert_eq!(base, "https://claude.com/cai/oauth/authorize");
    let q: std::collections::HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(q["client_id"], "9d1c250a-e61b-44d9-88ed-5944d1962f5e");
    assert_eq!(
        q["redirect_uri"],
        "https://platform.claude.com/oauth/code/callback"
    );
    assert_eq!(
        q["scope"],
        "user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload"
    );
    let console = env.data.json(&["account", "oauth-url", "--console"], "");
    let url = console["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://platform.claude.com/oauth/authorize?"),
        "{url}"
    );
    let q: std::collections::HashMap<String, String> =
        form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    assert!(
        q["scope"].starts_with("org:create_api_key user:profile"),
        "{}",
        q["scope"]
    );
    let help = env.data.run_env(&["serve", "--help"], "", &[]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("https://platform.claude.com/v1/oauth/token"),
        "{help}"
    );
    assert!(help.contains("AICARPOOL_OAUTH_TOKEN_URL"), "{help}");
}
