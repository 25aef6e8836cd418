//! A member's own view through the running gateway: `GET /api/me` and `/api/me/requests`
//! answer for the key presented (Bearer or x-api-key) and never another's, refuse a missing,
//! wrong, revoked or expired key with 401, show each limit used / its limit and the group's
//! budgets, say which limit holds the key back, and leave out the pool's accounts and errors.

mod common;

use common::env::Env;
use common::upstream::Reply;
use common::{Resp, Server, post_json, request};
use serde_json::Value;

const BODY: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;

fn me(server: &Server, path: &str, headers: &[(&str, &str)]) -> Resp {
    request(server.addr, "GET", path, headers, b"")
}

#[test]
fn a_member_sees_their_own_use_and_what_is_left() {
    let env = Env::new();
    let fake = common::upstream::Fake::start();
    fake.set(Reply::Message);
    env.account("main", &fake.url(), "sk-main", &[]);
    env.data
        .ok(&["group", "update", "team", "--daily-tokens", "100000"], "");
    let (_, alice) = env.key_with(
        "alice",
        &[
            "--daily-tokens",
            "1000",
            "--daily-cost",
            "5",
            "--concurrency",
            "2",
        ],
    );
    let (_, bob) = env.key_with("bob", &[]);
    let server = env.serve(&[]);
    for _ in 0..2 {
        let r = post_json(&server, "/v1/messages", &[("x-api-key", &alice)], BODY);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = post_json(&server, "/v1/messages", &[("x-api-key", &bob)], BODY);
    assert_eq!(r.status, 200);
    env.rows(3);

    let bearer = format!("Bearer {alice}");
    let r = me(&server, "/api/me", &[("authorization", &bearer)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["key"]["name"], "alice");
    assert_eq!(v["key"]["group"], "team");
    let per_request = common::upstream::INPUT
        + common::upstream::OUTPUT
        + common::upstream::CACHE_WRITE
        + common::upstream::CACHE_READ;
    assert_eq!(v["usage"]["today"]["requests"], 2, "{v}");
    assert_eq!(v["usage"]["today"]["tokens"], 2 * per_request);
    assert_eq!(
        v["usage"]["30d"]["requests"], 2,
        "bob's request is not alice's"
    );
    let limit = |name: &str| {
        v["standing"]["key"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["limit"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {v}"))
    };
    assert_eq!(limit("daily_tokens")["used"], 2 * per_request);
    assert_eq!(limit("daily_tokens")["max"], 1000);
    assert_eq!(
        limit("daily_cost")["used"],
        2 * common::upstream::COST_NANOS
    );
    assert_eq!(limit("daily_cost")["max"], 5_000_000_000i64);
    assert_eq!(limit("concurrency")["used"], 0);
    assert!(limit("daily_tokens")["resets_at"].as_i64().unwrap() > 0);
    assert_eq!(v["standing"]["group"][0]["limit"], "daily_tokens");
    assert_eq!(
        v["standing"]["group"][0]["used"],
        3 * per_request,
        "the group's budget counts every member"
    );
    assert!(v["standing"]["blocked"].is_null());
    assert_eq!(v["models"][0]["model"], "claude-sonnet-4-5");
    assert_eq!(v["models"][0]["requests"], 2);

    // x-api-key works too, and the requests are the key's own, without the pool's side.
    let r = me(&server, "/api/me/requests", &[("x-api-key", &alice)]);
    assert_eq!(r.status, 200, "{}", r.body);
    let rows: Vec<Value> = serde_json::from_str(&r.body).unwrap();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row["outcome"], "ok");
        assert!(
            row.get("account").is_none() && row.get("error_message").is_none(),
            "{row}"
        );
    }
    assert!(!r.body.contains("main"), "no account name: {}", r.body);

    // A model without a price: bob's totals say one request is unpriced, not $0 for it.
    fake.set(Reply::Raw(
        200,
        vec![("content-type", "application/json".into())],
        common::upstream::message_json()
            .replace(common::upstream::MODEL, "kimi-k2-nopr")
            .into(),
    ));
    let unpriced = BODY.replace("claude-sonnet-4-5", "kimi-k2-nopr");
    let r = post_json(&server, "/v1/messages", &[("x-api-key", &bob)], &unpriced);
    assert_eq!(r.status, 200, "{}", r.body);
    env.rows(4);
    let r = me(&server, "/api/me", &[("x-api-key", &bob)]);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    for span in ["today", "7d", "30d"] {
        assert_eq!(v["usage"][span]["requests"], 2, "{span}: {v}");
        assert_eq!(v["usage"][span]["unpriced_requests"], 1, "{span}: {v}");
        assert_eq!(v["usage"][span]["cost_nanos"], common::upstream::COST_NANOS);
    }
    let today = v["days"].as_array().unwrap().last().unwrap();
    assert_eq!(today["unpriced_requests"], 1, "{today}");
}

#[test]
fn a_key_held_back_by_a_limit_says_which_and_until_when() {
    let env = Env::new();
    let fake = common::upstream::Fake::start();
    env.account("main", &fake.url(), "sk-main", &[]);
    let (_, key) = env.key_with("carol", &["--daily-tokens", "10"]);
    let server = env.serve(&[]);
    let r = post_json(&server, "/v1/messages", &[("x-api-key", &key)], BODY);
    assert_eq!(r.status, 200);
    let r = post_json(&server, "/v1/messages", &[("x-api-key", &key)], BODY);
    assert_eq!(r.status, 429, "the daily tokens are spent");
    let r = me(&server, "/api/me", &[("x-api-key", &key)]);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    let blocked = &v["standing"]["blocked"];
    assert_eq!(blocked["by"], "daily_tokens", "{v}");
    assert_eq!(blocked["of"], "key");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(blocked["until"].as_i64().unwrap() > now);
}

#[test]
fn without_a_valid_key_there_is_nothing_to_see() {
    let env = Env::new();
    let (id, key) = env.key_with("dave", &[]);
    let (erin, expired) = env.key_with("erin", &["--expires-at", "2099-01-01"]);
    // Expired since (a key cannot be made with a past expiry).
    rusqlite::Connection::open(env.data.db())
        .unwrap()
        .execute("UPDATE api_keys SET expires_at = 1 WHERE id = ?1", [erin])
        .unwrap();
    let server = env.serve(&[]);
    for headers in [
        vec![],
        vec![("authorization", "Bearer acp_not_a_key")],
        vec![("x-api-key", expired.as_str())],
    ] {
        for path in ["/api/me", "/api/me/requests"] {
            let r = me(&server, path, &headers);
            assert_eq!(r.status, 401, "{path} {headers:?}: {}", r.body);
            assert!(r.body.contains("\"error\""), "{}", r.body);
        }
    }
    assert_eq!(me(&server, "/api/me", &[("x-api-key", &key)]).status, 200);
    env.data.ok(&["key", "revoke", &id.to_string()], "");
    common::eventually(
        "the revocation reaches the gateway",
        std::time::Duration::from_secs(5),
        || (me(&server, "/api/me", &[("x-api-key", &key)]).status == 401).then_some(()),
    );
    // A key in the URL is not accepted here: a link must not spend or show it.
    let r = me(&server, &format!("/api/me?key={key}"), &[]);
    assert_eq!(r.status, 401);
    assert_eq!(
        request(
            server.addr,
            "POST",
            "/api/me",
            &[("x-api-key", &key)],
            b"{}"
        )
        .status,
        405
    );
}
