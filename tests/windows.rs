//! Claude subscriptions' usage windows through the running gateway: read from every answer's
//! `anthropic-ratelimit-unified-*` headers (as Claude Code 2.1.328 reads them), shown by
//! `account list --json` and `/metrics`, routing new conversations by headroom, a rejected
//! window keeping its account out until that window's reset, and 529 moving on without
//! marking the account.

mod common;

use std::time::Duration;

use common::env::Env;
use common::upstream::{Fake, Reply};
use common::{eventually, post_json, request};
use serde_json::Value;

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The headers a subscription answers with, at `five` and `seven` of its windows used.
fn windows(five: f64, seven: f64, status: &str, reset: i64) -> Vec<(&'static str, String)> {
    vec![
        ("anthropic-ratelimit-unified-status", status.to_owned()),
        ("anthropic-ratelimit-unified-5h-status", status.to_owned()),
        (
            "anthropic-ratelimit-unified-5h-utilization",
            five.to_string(),
        ),
        ("anthropic-ratelimit-unified-5h-reset", reset.to_string()),
        (
            "anthropic-ratelimit-unified-7d-status",
            "allowed".to_owned(),
        ),
        (
            "anthropic-ratelimit-unified-7d-utilization",
            seven.to_string(),
        ),
        (
            "anthropic-ratelimit-unified-7d-reset",
            (reset + 86_400).to_string(),
        ),
        (
            "anthropic-ratelimit-unified-representative-claim",
            "five_hour".to_owned(),
        ),
        (
            "anthropic-ratelimit-unified-fallback",
            "available".to_owned(),
        ),
    ]
}

/// Two subscriptions on their own fakes, equal priority and weight; returns the env, both
/// fakes, both ids, the server and a key.
fn pool() -> (Env, Fake, Fake, i64, i64, common::Server, String) {
    let env = Env::new();
    let (a, b) = (Fake::start(), Fake::start());
    let sub = |name: &str, fake: &Fake| {
        env.account_on(
            "claude-oauth",
            name,
            &fake.url(),
            &format!("sk-ant-oat01-{name}"),
            &[],
        )
    };
    let (ia, ib) = (sub("max-a", &a), sub("max-b", &b));
    let key = env.key("member");
    let server = env.data.serve_env(
        &[],
        &[(
            "AICARPOOL_METRICS_TOKEN",
            "metrics-token-0123456789".to_owned(),
        )],
    );
    (env, a, b, ia, ib, server, key)
}

fn ask(server: &common::Server, key: &str, session: &str) -> common::Resp {
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
    post_json(
        server,
        "/v1/messages",
        &[("x-api-key", key), ("x-claude-code-session-id", session)],
        body,
    )
}

#[test]
fn new_conversations_go_to_the_subscription_with_headroom_and_windows_are_shown() {
    let (env, a, b, ia, ib, server, key) = pool();
    let reset = now_s() + 3600;
    a.set_headers(&windows(0.97, 0.5, "allowed_warning", reset));
    b.set_headers(&windows(0.30, 0.2, "allowed", reset));
    // Until both have answered once, their windows are unknown.
    let mut n = 0;
    while a.count() == 0 || b.count() == 0 {
        assert_eq!(ask(&server, &key, &format!("warm-{n}")).status, 200);
        n += 1;
        assert!(n < 200, "both accounts never answered");
    }
    let before = a.count();
    for i in 0..20 {
        assert_eq!(ask(&server, &key, &format!("conversation-{i}")).status, 200);
    }
    assert_eq!(
        a.count(),
        before,
        "the account at 97 % took no new conversation"
    );

    // The windows round-trip to account list --json within the persist interval.
    let listed = eventually("windows persisted", Duration::from_secs(15), || {
        let list = env.data.json(&["account", "list"], "");
        let a = list.as_array()?.iter().find(|x| x["id"] == ia)?.clone();
        a["windows"].is_object().then_some(a)
    });
    let w = &listed["windows"];
    assert_eq!(w["5h"]["utilization"], 0.97);
    assert_eq!(w["5h"]["status"], "allowed_warning");
    assert_eq!(w["5h"]["resets_at"], reset * 1000);
    assert_eq!(w["7d"]["utilization"], 0.5);
    let text = env.data.run_env(&["account", "list"], "", &[]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("97% / 50%"));

    let m = request(
        server.addr,
        "GET",
        "/metrics",
        &[("authorization", "Bearer metrics-token-0123456789")],
        b"",
    );
    assert!(
        m.body.contains(&format!(
            "aicarpool_account_window_utilization{{account=\"{ib}\",window=\"5h\"}} 0.3"
        )),
        "{}",
        m.body
    );
}

#[test]
fn a_rejected_window_keeps_its_account_out_until_that_window_resets() {
    let (env, a, b, ia, _ib, server, key) = pool();
    let reset = now_s() + 1800;
    a.set(Reply::Status(
        429,
        vec![("retry-after", "60".to_owned())],
        r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of requests has exceeded your rate limit"}}"#.into(),
    ));
    a.set_headers(&windows(1.0, 0.4, "rejected", reset));
    b.set_headers(&windows(0.1, 0.1, "allowed", reset));
    for i in 0..12 {
        assert_eq!(
            ask(&server, &key, &format!("c{i}")).status,
            200,
            "served by the other account"
        );
        if env.status(ia) == "RATE_LIMITED" {
            break;
        }
    }
    env.wait_status(ia, "RATE_LIMITED", Duration::from_secs(5));
    let acct = env.account_json(ia);
    // The window's own reset, not retry-after's minute.
    assert_eq!(acct["status_until"], reset * 1000, "{acct}");
    assert!(b.count() > 0);
}

#[test]
fn overloaded_moves_on_without_marking_the_account() {
    let (env, a, b, ia, _ib, server, key) = pool();
    a.set(Reply::Status(
        529,
        vec![],
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.into(),
    ));
    for i in 0..10 {
        assert_eq!(ask(&server, &key, &format!("o{i}")).status, 200);
    }
    assert!(a.count() >= 1, "the overloaded account was tried");
    assert!(a.count() <= 2, "then set aside: {}", a.count());
    assert_eq!(b.count(), 10);
    let acct: Value = env.account_json(ia);
    assert_eq!(acct["status"], "ACTIVE");
    assert_eq!(acct["error_count"], 0);
}

#[test]
fn an_account_drawing_on_extra_usage_takes_no_new_traffic_unless_allowed() {
    let (env, a, b, ia, ib, server, key) = pool();
    let reset = now_s() + 900;
    let mut paid = windows(1.0, 0.6, "allowed", reset);
    paid.push((
        "anthropic-ratelimit-unified-overage-in-use",
        "true".to_owned(),
    ));
    paid.push((
        "anthropic-ratelimit-unified-overage-status",
        "allowed".to_owned(),
    ));
    a.set_headers(&paid);
    b.set_headers(&windows(0.2, 0.1, "allowed", reset));
    for i in 0..12 {
        assert_eq!(ask(&server, &key, &format!("x{i}")).status, 200);
    }
    env.wait_status(ia, "RATE_LIMITED", Duration::from_secs(5));
    let acct = env.account_json(ia);
    assert_eq!(acct["status_until"], reset * 1000, "{acct}");
    assert!(
        acct["status_reason"]
            .as_str()
            .unwrap()
            .contains("extra usage"),
        "{acct}"
    );
    assert_eq!(a.count(), 1, "one answer drew on overage, then none");

    // Allowed, the same account keeps serving while it reports overage.
    env.data.ok(&["account", "recover", &ia.to_string()], "");
    env.data.ok(
        &[
            "account",
            "update",
            &ia.to_string(),
            "--allow-overage",
            "true",
        ],
        "",
    );
    env.data.ok(&["account", "disable", &ib.to_string()], "");
    eventually(
        "the change reached the gateway",
        Duration::from_secs(5),
        || (ask(&server, &key, "after").status == 200 && a.count() >= 2).then_some(()),
    );
    assert_eq!(env.status(ia), "ACTIVE");
}

#[test]
fn an_account_at_its_concurrency_cap_is_passed_over() {
    let env = Env::new();
    let (a, b) = (Fake::start(), Fake::start());
    a.set_delay(Duration::from_millis(400));
    b.set_delay(Duration::from_millis(400));
    env.account(
        "capped",
        &a.url(),
        "sk-a",
        &["--max-concurrency", "1", "--priority", "1"],
    );
    env.account("spare", &b.url(), "sk-b", &["--priority", "2"]);
    let key = env.key("member");
    let server = env.serve(&[]);
    let addr = server.addr;
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let key = key.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30 * i));
                let body = r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
                request(addr, "POST", "/v1/messages", &[("x-api-key", &key), ("content-type", "application/json")], body.as_bytes()).status
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    // The preferred account took one at a time; the others went to the spare.
    assert_eq!((a.count(), b.count()), (1, 2));
}

#[test]
fn account_test_reads_the_usage_endpoint() {
    let env = Env::new();
    let fake = Fake::start();
    fake.set_usage(serde_json::json!({
        "five_hour": { "utilization": 42.0, "resets_at": "2026-12-01T15:00:00+00:00" },
        "seven_day": { "utilization": 7.0, "resets_at": "2026-12-05T09:00:00+00:00" },
        "seven_day_opus": null
    }));
    let id = env.account_on("claude-oauth", "max", &fake.url(), "sk-ant-oat01-x", &[]);
    let r = env.data.json(&["account", "test", &id.to_string()], "");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["windows"]["5h"]["utilization"], 0.42, "{r}");
    let listed = env.account_json(id);
    assert_eq!(listed["windows"]["5h"]["utilization"], 0.42);
    assert_eq!(listed["windows"]["7d"]["resets_at"], 1_796_461_200_000i64);
    let usage = fake
        .list_requests()
        .into_iter()
        .find(|s| s.path == "/api/oauth/usage")
        .expect("the usage endpoint was asked");
    assert_eq!(usage.header("authorization"), Some("Bearer sk-ant-oat01-x"));
    assert!(
        usage
            .header("anthropic-beta")
            .unwrap()
            .contains("oauth-2025-04-20")
    );
}

#[test]
fn members_past_their_fair_share_of_a_busy_pool_wait_and_the_others_go_on() {
    let env = Env::new();
    let fake = Fake::start();
    let reset = now_s() + 3600;
    fake.set_headers(&windows(0.80, 0.3, "allowed", reset));
    env.account_on("claude-oauth", "max", &fake.url(), "sk-ant-oat01-p", &[]);
    let heavy = env.key("heavy");
    let light = env.key("light");
    let quiet = env.key("quiet");
    let server = env.serve(&[]);
    assert_eq!(ask(&server, &heavy, "h1").status, 200);
    // The pool is now known at 80 %: heavy spent all of it, a third is their share.
    let r = ask(&server, &heavy, "h2");
    assert_eq!(r.status, 429, "{}", r.body);
    let e: Value = serde_json::from_str(&r.body).unwrap();
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("you used 80 % of the team's 5-hour window; your share is 33 %; it resets at"),
        "{msg}"
    );
    assert!(r.header("retry-after").is_some());
    assert_eq!(ask(&server, &light, "l1").status, 200);
    assert_eq!(ask(&server, &quiet, "q1").status, 200);
    assert_eq!(fake.count(), 3);
    let rows = env.rows(4);
    assert_eq!(rows.iter().filter(|r| r["outcome"] == "refused").count(), 1);
}

#[test]
fn a_refusal_naming_extra_usage_takes_the_subscription_out_too() {
    let (env, a, b, ia, _ib, server, key) = pool();
    let reset = now_s() + 600;
    a.set_headers(&windows(1.0, 0.5, "allowed", reset));
    b.set_headers(&windows(0.1, 0.1, "allowed", reset));
    a.set(Reply::Status(
        400,
        vec![],
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"Third-party apps now draw from your extra usage, not your plan limits."}}"#.into(),
    ));
    // Passed on once (it is the request's answer), then the account is out until its reset.
    let mut refused = 0;
    for i in 0..10 {
        let r = ask(&server, &key, &format!("e{i}"));
        if r.status == 400 {
            refused += 1;
        }
    }
    assert_eq!(refused, 1);
    env.wait_status(ia, "RATE_LIMITED", Duration::from_secs(5));
    assert_eq!(env.account_json(ia)["status_until"], reset * 1000);
    assert!(b.count() >= 9);
}
