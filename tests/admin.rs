//! The admin JSON API over HTTP: the setup link, sign-in, throttling, sessions, CSRF on every
//! route of the route table, and the API doing what the CLI does.

mod common;

use aicarpool::admin::ROUTES;
use common::admin::{Admin, PASSWORD, USER, call, login, make_admin, session_cookie};
use common::env::Env;
use common::upstream::{Fake, Reply};
use common::{Data, eventually, post_json};
use serde_json::{Value, json};
use std::time::Duration;

fn with_admin() -> Data {
    let data = Data::new();
    make_admin(&data, USER);
    data
}

fn audit_rows(data: &Data) -> i64 {
    let c = rusqlite::Connection::open(data.db()).unwrap();
    c.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
        .unwrap()
}

/// A concrete path for a route pattern.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1").replace("{model}", "some-model")
}

#[test]
fn setup_link_creates_the_first_admin_once() {
    let data = Data::new();
    let server = data.serve();
    let url = server
        .setup_url
        .clone()
        .expect("serve printed a setup link");
    let token = url.rsplit('/').next().unwrap();
    assert!(url.starts_with(&format!("http://{}/#/setup/", server.addr)));
    assert!(token.len() >= 32);

    let s: Value =
        serde_json::from_str(&call(server.addr, "GET", "/session", "", "", "").body).unwrap();
    assert_eq!(s["setup_required"], true);
    assert_eq!(s["authenticated"], false);

    let body = |token: &str| {
        json!({ "token": token, "username": "first", "password": PASSWORD }).to_string()
    };
    let wrong = call(server.addr, "POST", "/setup", "", "", &body("0badc0de"));
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    let short = call(
        server.addr,
        "POST",
        "/setup",
        "",
        "",
        &json!({ "token": token, "username": "first", "password": "short" }).to_string(),
    );
    assert_eq!(
        short.status, 400,
        "a weak password is refused: {}",
        short.body
    );

    let made = call(server.addr, "POST", "/setup", "", "", &body(token));
    assert_eq!(made.status, 200, "{}", made.body);
    let cookie = session_cookie(&made);
    let me = call(server.addr, "GET", "/session", &cookie, "", "");
    let me: Value = serde_json::from_str(&me.body).unwrap();
    assert_eq!(me["authenticated"], true);
    assert_eq!(me["username"], "first");

    let again = call(server.addr, "POST", "/setup", "", "", &body(token));
    assert_eq!(again.status, 409, "the link works once: {}", again.body);
    assert_eq!(login(server.addr, "first", PASSWORD).status, 200);
    drop(server);

    // With an admin, serve prints no link.
    let server = data.serve();
    assert!(server.setup_url.is_none());
}

#[test]
fn every_admin_route_refuses_without_a_session_and_changes_need_the_csrf_token() {
    let data = with_admin();
    let server = data.serve();
    let admin = Admin::sign_in(server.addr);
    let before = audit_rows(&data);
    let mut checked = 0;
    for route in ROUTES {
        let path = concrete(route.path);
        let method = route.method.as_str();
        let body = r#"{"name":"x","group":"x","action":"disable","input":"1","output":"1","username":"x","password":"xxxxxxxxxxxx","code":"a#b","account":{"name":"x"}}"#;
        if route.public {
            continue;
        }
        let anon = call(server.addr, method, &path, "", "", body);
        assert_eq!(
            anon.status, 401,
            "{method} {path} without a session: {}",
            anon.body
        );
        let forged = call(
            server.addr,
            method,
            &path,
            "aicarpool_session=".to_owned().as_str(),
            "",
            body,
        );
        assert_eq!(forged.status, 401, "{method} {path} with an empty cookie");
        let bogus = format!("aicarpool_session={}", "ab".repeat(32));
        assert_eq!(
            call(server.addr, method, &path, &bogus, "", body).status,
            401,
            "{method} {path} with a made-up session"
        );
        if method != "GET" {
            let no_csrf = call(server.addr, method, &path, &admin.cookie, "", body);
            assert_eq!(
                no_csrf.status, 403,
                "{method} {path} without CSRF: {}",
                no_csrf.body
            );
            let wrong = call(server.addr, method, &path, &admin.cookie, "deadbeef", body);
            assert_eq!(wrong.status, 403, "{method} {path} with a wrong CSRF token");
        } else {
            let resp = admin.send(method, &path, "");
            assert!(
                resp.status != 401 && resp.status != 403,
                "{method} {path} with a session: {} {}",
                resp.status,
                resp.body
            );
        }
        checked += 1;
    }
    assert_eq!(checked, ROUTES.iter().filter(|r| !r.public).count());
    assert!(checked >= 25, "only {checked} routes");
    assert_eq!(
        audit_rows(&data),
        before,
        "a refused call changed something"
    );

    // Unknown admin paths and wrong methods are JSON errors, not the page.
    let nope = admin.send("GET", "/nope", "");
    assert_eq!(nope.status, 404);
    assert_eq!(admin.send("DELETE", "/accounts", "").status, 405);
    // A form post (no JSON content type) is refused even with session and token.
    let form = common::request(
        server.addr,
        "POST",
        "/api/admin/groups",
        &[
            ("cookie", &admin.cookie),
            ("x-csrf-token", &admin.csrf),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        b"name=x",
    );
    assert_eq!(form.status, 415);
}

#[test]
fn wrong_passwords_are_refused_then_throttled() {
    let data = with_admin();
    let server = data.serve();
    for _ in 0..5 {
        let r = login(server.addr, USER, "not the password at all");
        assert_eq!(r.status, 401, "{}", r.body);
        assert!(r.header("set-cookie").is_none());
    }
    let r = login(server.addr, USER, PASSWORD);
    assert_eq!(
        r.status, 429,
        "the right password is throttled too: {}",
        r.body
    );
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(wait > 0 && wait <= 15 * 60);
    // An unknown user gets the same answer as a wrong password.
    let r = login(server.addr, "nobody", PASSWORD);
    assert_eq!(r.status, 401);
    assert!(r.body.contains("wrong username or password"));
}

#[test]
fn sessions_rotate_on_sign_in_and_end_on_logout() {
    let data = with_admin();
    let server = data.serve();
    let first = login(server.addr, USER, PASSWORD);
    let cookie = first.header("set-cookie").unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(!cookie.contains("Secure"), "no Secure flag without TLS");
    let a = session_cookie(&first);
    // Signing in again while presenting the old cookie gives a new one and ends the old.
    let second = call(
        server.addr,
        "POST",
        "/login",
        &a,
        "",
        &json!({ "username": USER, "password": PASSWORD }).to_string(),
    );
    let b = session_cookie(&second);
    assert_ne!(a, b);
    assert_eq!(
        call(server.addr, "GET", "/accounts", &a, "", "").status,
        401
    );
    let csrf = serde_json::from_str::<Value>(&second.body).unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        call(server.addr, "GET", "/accounts", &b, "", "").status,
        200
    );
    let out = call(server.addr, "POST", "/logout", &b, &csrf, "{}");
    assert_eq!(out.status, 200);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(
        call(server.addr, "GET", "/accounts", &b, "", "").status,
        401,
        "the logged-out cookie still works"
    );
    // The database keeps only the token's hash.
    let c = rusqlite::Connection::open(data.db()).unwrap();
    let token = b.split('=').nth(1).unwrap();
    let hits: i64 = c
        .query_row(
            "SELECT count(*) FROM admin_sessions WHERE token_hash = ?1",
            [token],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(hits, 0);
}

#[test]
fn the_api_manages_accounts_groups_keys_and_shows_the_traffic() {
    let env = Env::new();
    make_admin(&env.data, USER);
    let fake = Fake::start();
    let server = env.serve(&["--error-threshold", "2"]);
    let admin = Admin::sign_in(server.addr);

    let group = admin.ok(
        "POST",
        "/groups",
        json!({ "name": "ml", "daily_cost_usd": "12.50" }),
    );
    assert_eq!(group["budgets"]["daily_cost_usd"], 12.5);
    let gid = group["id"].as_i64().unwrap();
    let edited = admin.ok(
        "PATCH",
        &format!("/groups/{gid}"),
        json!({ "daily_cost_usd": null, "monthly_tokens": 1000000 }),
    );
    assert!(
        edited["budgets"]["daily_cost_usd"].is_null(),
        "null removes a budget"
    );
    assert_eq!(edited["budgets"]["monthly_tokens"], 1000000);
    assert_eq!(
        admin
            .send("PATCH", "/groups/999", r#"{"daily_tokens":5}"#)
            .status,
        404
    );
    let account = admin.ok(
        "POST",
        "/accounts",
        json!({
            "name": "primary", "platform": "anthropic", "base_url": fake.url(),
            "secret": "sk-ant-very-secret", "groups": [{ "group": "ml", "priority": 5, "weight": 3 }],
        }),
    );
    let id = account["id"].as_i64().unwrap();
    assert_eq!(account["groups"][0]["priority"], 5);
    assert_eq!(account["groups"][0]["weight"], 3);
    let created = admin.ok(
        "POST",
        "/keys",
        json!({ "group": "ml", "name": "bob", "daily_cost_usd": "3" }),
    );
    let plaintext = created["plaintext"].as_str().unwrap().to_owned();
    let key_id = created["key"]["id"].as_i64().unwrap();
    // The plaintext is never shown again, nor the account's secret.
    let keys = admin.send("GET", "/keys", "");
    assert!(!keys.body.contains(&plaintext));
    let detail = admin.send("GET", &format!("/accounts/{id}"), "");
    assert!(!detail.body.contains("sk-ant-very-secret"));

    let resp = post_json(
        &server,
        "/v1/messages",
        &[("x-api-key", &plaintext)],
        r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(
        fake.seen()[0].header("x-api-key"),
        Some("sk-ant-very-secret")
    );

    // The request appears in the log (filtered by key) and on the dashboard.
    let rows = eventually("no log row", Duration::from_secs(5), || {
        let page = admin.get(&format!("/requests?key={key_id}"));
        Some(page["rows"].clone()).filter(|r| !r.as_array().unwrap().is_empty())
    });
    assert_eq!(rows[0]["account"], "primary");
    assert_eq!(rows[0]["status_code"], 200);
    assert!(rows[0]["cost_nanos"].as_i64().unwrap() > 0);
    let other = admin.get(&format!("/requests?key={}", key_id + 100));
    assert!(other["rows"].as_array().unwrap().is_empty());
    let dash = admin.get("/dashboard?range=24h");
    assert_eq!(dash["series"].as_array().unwrap().len(), 24);
    assert_eq!(dash["total"]["requests"], 1);
    assert_eq!(dash["top_keys"][0]["label"], "ml/bob");
    assert_eq!(dash["accounts_by_status"]["ACTIVE"], 1);
    for range in ["7d", "30d"] {
        let d = admin.get(&format!("/dashboard?range={range}"));
        let series = d["series"].as_array().unwrap();
        assert_eq!(series.len(), if range == "7d" { 7 } else { 30 });
        assert_eq!(series.last().unwrap()["requests"], 1, "{range}: {series:?}");
    }

    // Two failures take the account out of rotation; the detail page says why.
    fake.set(Reply::Status(
        500,
        vec![],
        r#"{"type":"error","error":{"type":"api_error","message":"boom"}}"#.into(),
    ));
    for _ in 0..2 {
        post_json(
            &server,
            "/v1/messages",
            &[("x-api-key", &plaintext)],
            r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#,
        );
    }
    let detail = eventually("no failed request logged", Duration::from_secs(5), || {
        let d = admin.get(&format!("/accounts/{id}"));
        Some(d).filter(|d| !d["errors"].as_array().unwrap().is_empty())
    });
    assert_eq!(detail["errors"][0]["status_code"], 500);
    assert_eq!(detail["account"]["status"], "TEMP_ERROR");
    assert!(detail["account"]["status_until"].as_i64().is_some());
    assert_eq!(detail["history"][0]["to"], "TEMP_ERROR");
    let back = admin.ok(
        "POST",
        &format!("/accounts/{id}/status"),
        json!({ "action": "recover" }),
    );
    assert_eq!(back["status"], "ACTIVE");

    // Revoking the key locks it out of the gateway.
    admin.ok("POST", &format!("/keys/{key_id}/revoke"), json!({}));
    eventually(
        "the revoked key still works",
        Duration::from_secs(3),
        || {
            let r = post_json(&server, "/v1/messages", &[("x-api-key", &plaintext)], "{}");
            (r.status == 401).then_some(())
        },
    );

    // Every change is in the audit log under the admin's name.
    let audit = admin.get("/audit");
    let actions: Vec<&str> = audit["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["actor"] == "admin:ops")
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for want in ["group.create", "account.create", "key.create", "key.revoke"] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    let bad = admin.send(
        "POST",
        "/keys",
        &json!({ "group": "ml", "name": "x", "daily_cost_usd": "lots" }).to_string(),
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("not an amount in USD"), "{}", bad.body);
}

#[test]
fn idle_and_expired_sessions_end() {
    let data = with_admin();
    let server = data.serve();
    let admin = Admin::sign_in(server.addr);
    let c = rusqlite::Connection::open(data.db()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // Used within the hour: still good.
    c.execute(
        "UPDATE admin_sessions SET last_seen_at = ?1",
        [now - 50 * 60 * 1000],
    )
    .unwrap();
    assert_eq!(admin.send("GET", "/accounts", "").status, 200);
    // An hour idle: over, and the row is gone.
    c.execute(
        "UPDATE admin_sessions SET last_seen_at = ?1",
        [now - 61 * 60 * 1000],
    )
    .unwrap();
    assert_eq!(admin.send("GET", "/accounts", "").status, 401);
    let left: i64 = c
        .query_row("SELECT count(*) FROM admin_sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
    // Past its absolute end, however busy.
    let admin = Admin::sign_in(server.addr);
    c.execute("UPDATE admin_sessions SET expires_at = ?1", [now - 1])
        .unwrap();
    assert_eq!(admin.send("GET", "/accounts", "").status, 401);
}

#[test]
fn the_request_log_is_read_a_page_at_a_time_with_filters() {
    let env = Env::new();
    make_admin(&env.data, USER);
    let (key, _) = env.key_with("pager", &[]);
    let (other, _) = env.key_with("other", &[]);
    let t0 = 1_790_000_000_000_i64;
    for i in 0..120 {
        env.seed(key, t0 + i * 1000, 10, 5);
    }
    env.seed(other, t0 + 500, 10, 5);
    let server = env.serve(&[]);
    let admin = Admin::sign_in(server.addr);

    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    let mut pages = 0;
    loop {
        let q = match before {
            Some(b) => format!("/requests?key={key}&limit=50&before={b}"),
            None => format!("/requests?key={key}&limit=50"),
        };
        let page = admin.get(&q);
        let rows = page["rows"].as_array().unwrap();
        assert!(rows.len() <= 50);
        seen.extend(rows.iter().map(|r| r["started_at"].as_i64().unwrap()));
        pages += 1;
        match page["next_before"].as_i64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 120, "every row once");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first");
    // Time window and status filters.
    let window = admin.get(&format!(
        "/requests?from={}&to={}",
        t0 + 10_000,
        t0 + 20_000
    ));
    assert_eq!(window["rows"].as_array().unwrap().len(), 10);
    let errors = admin.get("/requests?status=error");
    assert!(errors["rows"].as_array().unwrap().is_empty());
    let oks = admin.get(&format!("/requests?status=200&key={other}"));
    assert_eq!(oks["rows"].as_array().unwrap().len(), 1);
    assert_eq!(admin.send("GET", "/requests?key=abc", "").status, 400);
}

#[test]
fn edits_keep_write_only_secrets_and_prices_change_costs() {
    let env = Env::new();
    make_admin(&env.data, USER);
    let fake = Fake::start();
    let id = env.account("edited", &fake.url(), "sk-original", &[]);
    let key = env.key("k");
    let server = env.serve(&[]);
    let admin = Admin::sign_in(server.addr);

    // A rename leaves the stored secret alone; an explicit new one replaces it.
    let a = admin.ok(
        "PATCH",
        &format!("/accounts/{id}"),
        json!({ "name": "renamed", "description": "edited in the browser" }),
    );
    assert_eq!(a["name"], "renamed");
    let send = || {
        post_json(
            &server,
            "/v1/messages",
            &[("x-api-key", &key)],
            r#"{"model":"my-model","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#,
        )
    };
    assert_eq!(send().status, 200);
    assert_eq!(fake.seen()[0].header("x-api-key"), Some("sk-original"));
    admin.ok(
        "PATCH",
        &format!("/accounts/{id}"),
        json!({ "secret": "sk-rotated" }),
    );
    assert_eq!(send().status, 200);
    assert_eq!(fake.seen()[1].header("x-api-key"), Some("sk-rotated"));
    let unknown = admin.send("PATCH", &format!("/accounts/{id}"), r#"{"api_key":"x"}"#);
    assert_eq!(
        unknown.status, 400,
        "unknown fields are refused: {}",
        unknown.body
    );

    // Prices: set (cache prices follow the input price), listed, removed once.
    let p = admin.ok(
        "PUT",
        "/prices/my-model",
        json!({ "input": "1", "output": "2" }),
    );
    assert_eq!(p["cache_read_usd_per_mtok"], "0.10");
    assert!(
        admin
            .get("/prices")
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["model"] == "my-model")
    );
    admin.ok("DELETE", "/prices/my-model", json!({}));
    assert_eq!(admin.send("DELETE", "/prices/my-model", "{}").status, 404);
}

#[test]
fn the_account_policy_changes_while_serving_and_outlives_a_restart() {
    let env = Env::new();
    make_admin(&env.data, USER);
    let fake = Fake::start();
    let id = env.account("flaky", &fake.url(), "sk-x", &[]);
    let key = env.key("k");
    let server = env.serve(&[]);
    let admin = Admin::sign_in(server.addr);
    let s = admin.get("/settings");
    assert_eq!(s["accounts"]["error_threshold"], 3);
    let bad = admin.send(
        "PUT",
        "/settings/account-policy",
        r#"{"error_threshold":0}"#,
    );
    assert_eq!(bad.status, 400);
    admin.ok(
        "PUT",
        "/settings/account-policy",
        json!({ "error_threshold": 1 }),
    );
    let s = admin.get("/settings");
    assert_eq!(s["accounts"]["error_threshold"], 1);
    assert_eq!(s["accounts_environment"]["error_threshold"], 3);
    // One server error is now enough.
    fake.set(Reply::Status(500, vec![], "{}".into()));
    post_json(
        &server,
        "/v1/messages",
        &[("x-api-key", &key)],
        r#"{"model":"m","max_tokens":8,"messages":[]}"#,
    );
    env.wait_status(id, "TEMP_ERROR", std::time::Duration::from_secs(5));
    drop(server);
    let server = env.serve(&[]);
    let admin = Admin::sign_in(server.addr);
    assert_eq!(admin.get("/settings")["accounts"]["error_threshold"], 1);
    admin.ok("PUT", "/settings/account-policy", json!({}));
    assert_eq!(admin.get("/settings")["accounts"]["error_threshold"], 3);
}
