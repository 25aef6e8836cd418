//! Operations: Prometheus `/metrics` behind a session or token, request-log pruning that keeps
//! the daily rollups, and scheduled backups with retention.

mod common;

use std::time::Duration;

use common::admin::{Admin, USER, make_admin};
use common::env::Env;
use common::{Data, eventually, post_json, request};

const BODY: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn metrics_need_a_session_or_the_token_and_count_what_happened() {
    let env = Env::new();
    make_admin(&env.data, USER);
    let fake = common::upstream::Fake::start();
    env.account("main", &fake.url(), "sk-metrics-secret", &[]);
    let key = env.key("alice");
    let token = "metrics-token-0123456789";
    let server = env
        .data
        .serve_env(&[], &[("AICARPOOL_METRICS_TOKEN", token.to_owned())]);

    let anon = request(server.addr, "GET", "/metrics", &[], b"");
    assert_eq!(anon.status, 401);
    assert_eq!(anon.header("www-authenticate"), Some("Bearer"));
    let wrong = request(
        server.addr,
        "GET",
        "/metrics",
        &[("authorization", "Bearer metrics-token-0123456780")],
        b"",
    );
    assert_eq!(wrong.status, 401);

    assert_eq!(
        post_json(&server, "/v1/messages", &[("x-api-key", &key)], BODY).status,
        200
    );
    let bearer = format!("Bearer {token}");
    let scrape = || {
        request(
            server.addr,
            "GET",
            "/metrics",
            &[("authorization", bearer.as_str())],
            b"",
        )
    };
    let text = eventually(
        "the usage row was never committed",
        Duration::from_secs(5),
        || {
            let r = scrape();
            assert_eq!(r.status, 200);
            Some(r.body).filter(|b| b.contains("aicarpool_usage_rows_committed_total 1\n"))
        },
    );
    for line in [
        "aicarpool_requests_total{protocol=\"anthropic\",outcome=\"ok\"} 1\n",
        "aicarpool_requests_total{protocol=\"openai\",outcome=\"ok\"} 0\n",
        "aicarpool_request_duration_seconds_count{protocol=\"anthropic\"} 1\n",
        "aicarpool_accounts{status=\"ACTIVE\"} 1\n",
        "aicarpool_accounts{status=\"TEMP_ERROR\"} 0\n",
        "aicarpool_usage_queue_depth 0\n",
        "aicarpool_sqlite_commit_seconds_count 1\n",
        "# TYPE aicarpool_request_duration_seconds histogram\n",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    assert!(
        text.contains("aicarpool_tokens_total{kind=\"input\"} 11\n"),
        "{text}"
    );
    for secret in ["sk-metrics-secret", key.as_str(), token] {
        assert!(!text.contains(secret), "/metrics shows a secret");
    }
    // A signed-in admin may read them too.
    let admin = Admin::sign_in(server.addr);
    let viewed = request(
        server.addr,
        "GET",
        "/metrics",
        &[("cookie", admin.cookie.as_str())],
        b"",
    );
    assert_eq!(viewed.status, 200);
    assert!(
        viewed
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
}

#[test]
fn old_request_log_rows_are_pruned_and_daily_rollups_stay() {
    let env = Env::new();
    let (key, _) = env.key_with("old-timer", &[]);
    let day = 86_400_000;
    let now = now_ms();
    for age_days in [200, 120, 91] {
        env.seed(key, now - age_days * day, 100, 1_000);
    }
    for age_days in [89, 1] {
        env.seed(key, now - age_days * day, 100, 1_000);
    }
    let c = rusqlite::Connection::open(env.data.db()).unwrap();
    c.execute(
        "INSERT INTO usage_daily (day, api_key_id, requests, input_tokens, cost_nanos)
         VALUES ('2020-01-01', ?1, 3, 300, 3000)",
        [key],
    )
    .unwrap();
    let rollup = || -> i64 {
        c.query_row("SELECT sum(requests) FROM usage_daily", [], |r| r.get(0))
            .unwrap()
    };
    let before = rollup();

    // Too short a retention would break monthly budgets.
    let err = env
        .data
        .fails(&["serve", "--log-retention-days", "7"], "", 2);
    assert!(err.contains("monthly budgets"), "{err}");

    let _server = env.serve(&[]);
    eventually("old rows were not pruned", Duration::from_secs(10), || {
        (env.log().len() == 2).then_some(())
    });
    let oldest: i64 = c
        .query_row("SELECT min(started_at) FROM api_key_request_log", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(oldest > now - 90 * day);
    assert_eq!(rollup(), before, "the daily rollup lost rows");
    // The key's all-time totals come from the rollup, so they survive the pruning.
    let keys = env.data.json(&["key", "list"], "");
    assert_eq!(keys[0]["name"], "old-timer");
}

#[test]
fn daily_backups_are_made_and_only_the_newest_are_kept() {
    let data = Data::new();
    data.ok(&["group", "create", "backed-up"], "");
    let dir = data.path().join("backups");
    std::fs::create_dir_all(&dir).unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(3 * 86_400);
    for name in [
        "scheduled-20260101T000000Z.db",
        "scheduled-20260102T000000Z.db",
        "scheduled-20260103T000000Z.db",
        "aicarpool-before-V1.db",
    ] {
        let f = std::fs::File::create(dir.join(name)).unwrap();
        f.set_modified(old).unwrap();
    }
    let _server = data.serve_with(&["--backup-keep", "2"]);
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let names = eventually("no new backup", Duration::from_secs(10), || {
        let names = listing();
        (names.len() == 3 && !names.contains(&"scheduled-20260102T000000Z.db".to_owned()))
            .then_some(names)
    });
    assert_eq!(
        names[0], "aicarpool-before-V1.db",
        "other backups are left alone"
    );
    assert_eq!(names[1], "scheduled-20260103T000000Z.db");
    let newest = dir.join(&names[2]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&newest).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let copy = rusqlite::Connection::open(&newest).unwrap();
    let ok: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let group: String = copy
        .query_row("SELECT name FROM groups", [], |r| r.get(0))
        .unwrap();
    assert_eq!(group, "backed-up");
}

#[test]
fn webhooks_announce_state_changes_and_budget_warnings_once_with_retries() {
    use common::upstream::{Fake, Reply};
    let env = Env::new();
    env.data
        .ok(&["group", "update", "team", "--daily-tokens", "50"], "");
    let upstream = Fake::start();
    let id = env.account("flaky", &upstream.url(), "sk-flaky", &[]);
    let key = env.key("alice");
    let hook = Fake::start();
    // The receiver fails first: the alert must be retried, not lost.
    hook.set(Reply::Status(503, vec![], "busy".into()));
    let url = format!("{}/hooks/T0KEN-in-the-path", hook.url());
    let server = env.data.serve_env(
        &["--error-threshold", "1"],
        &[("AICARPOOL_WEBHOOK_URL", url)],
    );
    let hooks = |event: &str| -> Vec<serde_json::Value> {
        hook.seen()
            .iter()
            .filter(|s| s.path == "/hooks/T0KEN-in-the-path")
            .map(|s| serde_json::from_slice::<serde_json::Value>(&s.body).unwrap())
            .filter(|v| v["event"] == event)
            .collect()
    };

    // 41 tokens cross the daily budget's warning line (80% of 50); the request still works.
    assert_eq!(
        post_json(&server, "/v1/messages", &[("x-api-key", &key)], BODY).status,
        200
    );
    // One server error trips the account.
    upstream.set(Reply::Status(500, vec![], "{}".into()));
    post_json(&server, "/v1/messages", &[("x-api-key", &key)], BODY);
    env.wait_status(id, "TEMP_ERROR", Duration::from_secs(5));
    let first = eventually("no delivery was tried", Duration::from_secs(5), || {
        hook.seen().first().map(|s| s.body.clone())
    });
    hook.set(Reply::Auto);
    // Whichever event came first (the warning, recorded a moment after its request, or the
    // state change) failed once and is retried with the same body.
    eventually(
        "the failed delivery was not retried",
        Duration::from_secs(15),
        || (hook.seen().iter().filter(|s| s.body == first).count() >= 2).then_some(()),
    );
    let warning = eventually("no budget warning", Duration::from_secs(15), || {
        hooks("budget.warning").pop()
    });
    assert_eq!(warning["group"]["name"], "team");
    assert_eq!(warning["detail"]["budget"], "daily_tokens");
    let tripped = eventually("no state change alert", Duration::from_secs(15), || {
        hooks("account.status_changed").pop()
    });
    assert_eq!(tripped["account"]["name"], "flaky");
    assert_eq!(tripped["from"], "ACTIVE");
    assert_eq!(tripped["to"], "TEMP_ERROR");
    assert!(tripped["until"].as_i64().unwrap() > now_ms());
    assert!(
        tripped["text"]
            .as_str()
            .unwrap()
            .contains("flaky is now TEMP_ERROR")
    );

    // Recovered by the CLI (another process): announced too. Tripping again within ten
    // minutes is not announced a second time.
    upstream.set(Reply::Auto);
    env.data.ok(&["account", "recover", &id.to_string()], "");
    eventually(
        "the recovery was not announced",
        Duration::from_secs(10),
        || {
            hooks("account.status_changed")
                .iter()
                .any(|e| e["to"] == "ACTIVE")
                .then_some(())
        },
    );
    upstream.set(Reply::Status(500, vec![], "{}".into()));
    post_json(&server, "/v1/messages", &[("x-api-key", &key)], BODY);
    env.wait_status(id, "TEMP_ERROR", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(2500));
    // Distinct events (a retried delivery repeats the same body).
    let distinct = |event: &str| {
        let mut bodies: Vec<String> = hooks(event).iter().map(|e| e.to_string()).collect();
        bodies.sort();
        bodies.dedup();
        bodies
    };
    let trips = distinct("account.status_changed")
        .iter()
        .filter(|e| e.contains("\"to\":\"TEMP_ERROR\""))
        .count();
    assert_eq!(trips, 1, "announced once");
    assert_eq!(distinct("budget.warning").len(), 1, "one warning");

    // A restart does not replay what was already sent.
    let before = hook.count();
    drop(server);
    let _server = env.data.serve_env(
        &[],
        &[(
            "AICARPOOL_WEBHOOK_URL",
            format!("{}/hooks/T0KEN-in-the-path", hook.url()),
        )],
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(hook.count(), before);
}
