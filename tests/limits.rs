//! Member key limits and group budgets against the real server: each limit refuses exactly at
//! its boundary, in the protocol's error shape, without reaching an upstream; windows reopen;
//! counters survive restarts; concurrency holds under parallel streams and slots come back.

mod common;

use std::time::{Duration, Instant};

use common::env::Env;
use common::upstream::{self, Fake, Reply};
use common::{Resp, Server, post_json, request};
use serde_json::Value;

/// Every answer of the fake uses this many tokens and costs COST_NANOS.
const TOKENS: i64 =
    upstream::INPUT + upstream::OUTPUT + upstream::CACHE_WRITE + upstream::CACHE_READ;

fn body(n: usize, stream: bool) -> String {
    format!(
        r#"{{"model":"claude-sonnet-4-5","max_tokens":{n},"stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
    )
}

fn post(server: &Server, key: &str, extra: &[(&str, &str)]) -> Resp {
    post_body(server, key, &body(1, false), extra)
}

fn post_body(server: &Server, key: &str, body: &str, extra: &[(&str, &str)]) -> Resp {
    let mut headers = vec![("x-api-key", key)];
    headers.extend_from_slice(extra);
    post_json(server, "/v1/messages", &headers, body)
}

fn error(resp: &Resp) -> (String, String) {
    let v: Value =
        serde_json::from_str(&resp.body).unwrap_or_else(|_| panic!("JSON: {}", resp.body));
    assert_eq!(v["type"], "error", "{}", resp.body);
    (
        v["error"]["type"].as_str().unwrap().to_owned(),
        v["error"]["message"].as_str().unwrap().to_owned(),
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `allowed` requests pass, then the next is refused with a 429 naming `limit`.
fn passes_then_refused(env: &Env, server: &Server, key: &str, allowed: usize, limit: &str) -> Resp {
    for i in 0..allowed {
        let r = post(server, key, &[]);
        assert_eq!(
            r.status,
            200,
            "request {} of {allowed} under {limit}: {}",
            i + 1,
            r.body
        );
    }
    let r = post(server, key, &[]);
    assert_eq!(
        r.status,
        429,
        "request {} should hit the {limit}: {}",
        allowed + 1,
        r.body
    );
    let (kind, message) = error(&r);
    assert_eq!(kind, "rate_limit_error");
    assert!(message.contains(limit), "{message:?} names the {limit}");
    let _ = env;
    r
}

#[test]
fn token_and_cost_limits_refuse_exactly_at_their_boundary() {
    let env = Env::new();
    let fake = Fake::start();
    env.account("main", &fake.url(), "sk-main", &[]);
    let two = (2 * TOKENS).to_string();
    let just_over_two = (2 * TOKENS + 1).to_string();
    // Two requests' cost in USD: 2 × 382 650 nano-dollars.
    let two_usd = "0.0007653";
    let (_, daily) = env.key_with("daily", &["--daily-tokens", &two]);
    let (_, daily_over) = env.key_with("daily-over", &["--daily-tokens", &just_over_two]);
    let (_, total) = env.key_with("total", &["--total-tokens", &two]);
    let (_, daily_cost) = env.key_with("daily-cost", &["--daily-cost", two_usd]);
    let (_, weekly_cost) = env.key_with("weekly-cost", &["--weekly-cost", two_usd]);
    let (_, total_cost) = env.key_with("total-cost", &["--total-cost", two_usd]);
    let server = env.serve(&[]);

    let r = passes_then_refused(&env, &server, &daily, 2, "daily token limit");
    let retry: i64 = r
        .header("retry-after")
        .expect("a day reopens")
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");
    passes_then_refused(&env, &server, &daily_over, 3, "daily token limit");
    let r = passes_then_refused(&env, &server, &total, 2, "total token limit");
    assert_eq!(r.header("retry-after"), None, "a total never reopens");
    passes_then_refused(&env, &server, &daily_cost, 2, "daily cost limit");
    passes_then_refused(&env, &server, &weekly_cost, 2, "weekly cost limit");
    passes_then_refused(&env, &server, &total_cost, 2, "total cost limit");

    assert_eq!(
        fake.count(),
        2 + 3 + 2 + 2 + 2 + 2,
        "refused requests never reach the upstream"
    );
    let rows = env.rows(19);
    let refused: Vec<&Value> = rows.iter().filter(|r| r["outcome"] == "refused").collect();
    assert_eq!(refused.len(), 6);
    assert!(
        refused
            .iter()
            .all(|r| r["status_code"] == 429 && r["account_id"].is_null())
    );
}

#[test]
fn the_request_window_refuses_at_its_boundary_counts_earlier_use_and_reopens() {
    let env = Env::new();
    let fake = Fake::start();
    env.account("main", &fake.url(), "sk-main", &[]);
    let (id, key) = env.key_with("windowed", &["--requests", "3", "--window-minutes", "1"]);
    // Two requests from before this start, leaving the window 3 s from now.
    let seeded_at = now_ms() - 60_000 + 3_000;
    env.seed(id, seeded_at, 0, 0);
    env.seed(id, seeded_at + 1, 0, 0);
    let server = env.serve(&[]);
    assert_eq!(post(&server, &key, &[]).status, 200);
    let r = post(&server, &key, &[]);
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(
        error(&r).1.contains("3 requests per 1 minute"),
        "{}",
        r.body
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=3).contains(&retry),
        "the window reopens within 3 s, said {retry}"
    );
    let reopens = Instant::now() + Duration::from_secs(retry);
    while Instant::now() < reopens {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(post(&server, &key, &[]).status, 200, "the window reopened");
    assert_eq!(
        post(&server, &key, &[]).status,
        200,
        "both seeded requests left it"
    );
    assert_eq!(post(&server, &key, &[]).status, 429);
}

#[test]
fn model_client_and_platform_allow_lists_refuse_with_403() {
    let env = Env::new();
    let fake = Fake::start();
    env.account("main", &fake.url(), "sk-main", &[]);
    let (_, haiku_only) = env.key_with("haiku", &["--models", "claude-haiku*"]);
    let (_, cc_only) = env.key_with("cc", &["--clients", "claude-code"]);
    let (_, openai_only) = env.key_with("oai", &["--platforms", "openai"]);
    let server = env.serve(&[]);

    let r = post(&server, &haiku_only, &[]);
    assert_eq!((r.status, error(&r).0.as_str()), (403, "permission_error"));
    assert!(error(&r).1.contains("claude-haiku*"), "{}", r.body);
    let haiku = body(1, false).replace("claude-sonnet-4-5", "claude-haiku-4-5");
    assert_eq!(post_body(&server, &haiku_only, &haiku, &[]).status, 200);

    let r = post(&server, &cc_only, &[("user-agent", "curl/8.5.0")]);
    assert_eq!((r.status, error(&r).0.as_str()), (403, "permission_error"));
    let cc = [("user-agent", "claude-cli/2.1.0 (external, cli)")];
    assert_eq!(post(&server, &cc_only, &cc).status, 200);

    // A platform list limits the accounts, whatever the protocol: no OpenAI account here
    // names this Claude model, so none serves it (one that did would, translated).
    let r = post(&server, &openai_only, &[]);
    assert_eq!((r.status, error(&r).0.as_str()), (404, "not_found_error"));
    assert_eq!(fake.count(), 2);
}

/// Starts `n` streaming requests at once; their statuses.
fn parallel_streams(server: &Server, key: &str, n: usize, gap: Duration) -> Vec<Resp> {
    let addr = server.addr;
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let key = key.to_owned();
            std::thread::sleep(gap);
            std::thread::spawn(move || {
                request(
                    addr,
                    "POST",
                    "/v1/messages",
                    &[("x-api-key", &key), ("content-type", "application/json")],
                    body(i, true).as_bytes(),
                )
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn concurrency_holds_under_parallel_streams_and_slots_come_back() {
    let env = Env::new();
    let fake = Fake::start();
    env.account("main", &fake.url(), "sk-main", &[]);
    let (_, key) = env.key_with("two", &["--concurrency", "2"]);
    let server = env.serve(&["--error-threshold", "100"]);
    fake.set(Reply::Stream {
        pace: Duration::from_millis(100),
    });
    let results = parallel_streams(&server, &key, 8, Duration::ZERO);
    let ok = results.iter().filter(|r| r.status == 200).count();
    let refused: Vec<&Resp> = results.iter().filter(|r| r.status == 429).collect();
    assert_eq!(ok + refused.len(), 8);
    assert!(ok >= 2, "both slots were used");
    assert!(!refused.is_empty(), "the rest were refused at once");
    assert!(
        error(refused[0]).1.contains("2 concurrent"),
        "{}",
        refused[0].body
    );
    assert!(
        fake.max_active() <= 2,
        "{} streams in flight at once",
        fake.max_active()
    );

    // A client that leaves mid-stream gives its slot back.
    let mut left = Vec::new();
    for _ in 0..2 {
        let mut s = common::send(
            server.addr,
            "POST",
            "/v1/messages",
            &[("x-api-key", &key), ("content-type", "application/json")],
            body(0, true).as_bytes(),
        );
        let mut buf = [0u8; 512];
        let n = std::io::Read::read(&mut s, &mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).contains("200"));
        left.push(s);
    }
    drop(left);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = parallel_streams(&server, &key, 2, Duration::ZERO);
        if r.iter().all(|r| r.status == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "slots were not given back after the clients left"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The abandoned streams were drained upstream for their usage, outside the member's
    // slots; wait for them to end before counting in-flight streams again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.active() > 0 {
        assert!(Instant::now() < deadline, "drained streams did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
    fake.reset_max_active();

    // An upstream failure gives its slot back too.
    fake.set(Reply::Status(500, vec![], "{}".into()));
    for _ in 0..3 {
        assert_eq!(post(&server, &key, &[]).status, 500);
    }
    fake.set(Reply::Stream {
        pace: Duration::from_millis(20),
    });
    let r = parallel_streams(&server, &key, 2, Duration::ZERO);
    assert!(
        r.iter().all(|r| r.status == 200),
        "after upstream errors: {:?}",
        r.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(fake.max_active() <= 2);
}

#[test]
fn the_queue_admits_waiting_requests_in_order() {
    let env = Env::new();
    let fake = Fake::start();
    env.account("main", &fake.url(), "sk-main", &[]);
    let (_, key) = env.key_with("queued", &["--concurrency", "1", "--queue", "3"]);
    let server = env.serve(&[]);
    fake.set(Reply::Stream {
        pace: Duration::from_millis(40),
    });
    // One runs, three wait, the fifth finds the queue full.
    let results = parallel_streams(&server, &key, 5, Duration::from_millis(60));
    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 200, 200, 200, 429], "{statuses:?}");
    assert!(error(&results[4]).1.contains("1 concurrent"));
    assert_eq!(fake.max_active(), 1);
    let order: Vec<u64> = fake
        .seen()
        .iter()
        .map(|s| {
            serde_json::from_slice::<Value>(&s.body).unwrap()["max_tokens"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(order, vec![0, 1, 2, 3], "admitted in arrival order");
    for r in &results[..4] {
        assert_eq!(r.body, upstream::stream_bytes());
    }
}

#[test]
fn days_begin_at_midnight_in_the_configured_zone_and_counters_survive_restarts() {
    let env = Env::new();
    let fake = Fake::start();
    env.account("main", &fake.url(), "sk-main", &[]);
    let (id, key) = env.key_with("daily", &["--daily-tokens", &(3 * TOKENS).to_string()]);
    let tz = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
    let midnight = jiff::Timestamp::now()
        .to_zoned(tz)
        .start_of_day()
        .unwrap()
        .timestamp()
        .as_millisecond();
    env.seed(id, midnight - 1, TOKENS, 0); // yesterday in Tokyo: does not count today
    env.seed(id, midnight + 1, TOKENS, 0); // today in Tokyo: counts
    let tokyo = ["--time-zone", "Asia/Tokyo"];
    let server = env.serve(&tokyo);
    assert_eq!(post(&server, &key, &[]).status, 200);
    drop(server);
    let server = env.serve(&tokyo);
    passes_then_refused(&env, &server, &key, 1, "daily token limit");
    let rows = env.rows(5);
    let today: Vec<&Value> = rows.iter().filter(|r| r["outcome"] == "ok").collect();
    assert_eq!(today.len(), 4, "two seeded, two served");
}

#[test]
fn expiry_counts_from_the_first_use() {
    let env = Env::new();
    let fake = Fake::start();
    env.account("main", &fake.url(), "sk-main", &[]);
    let (id, key) = env.key_with("trial", &["--expires-days-after-first-use", "1"]);
    let server = env.serve(&[]);
    let first_used = || env.data.json(&["key", "list"], "")[0]["first_used_at"].as_i64();
    assert_eq!(first_used(), None, "not used yet");
    let before = now_ms();
    assert_eq!(post(&server, &key, &[]).status, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    let at = loop {
        if let Some(t) = first_used() {
            break t;
        }
        assert!(Instant::now() < deadline, "first use was not recorded");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        at >= before && at <= now_ms(),
        "first use is the request's time"
    );
    // Move the first use back a day; the running gateway picks it up and the key has expired.
    // Only the gateway writes first uses, so it does not watch them: the test marks the
    // configuration changed itself.
    let conn = rusqlite::Connection::open(env.data.db()).unwrap();
    conn.execute(
        "UPDATE api_keys SET first_used_at = ?1 WHERE id = ?2",
        rusqlite::params![now_ms() - 86_400_000 - 1_000, id],
    )
    .unwrap();
    conn.execute("UPDATE config_version SET version = version + 1", [])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let r = post(&server, &key, &[]);
        if r.status == 401 {
            assert!(error(&r).1.contains("after its first use"), "{}", r.body);
            break;
        }
        assert!(Instant::now() < deadline, "expiry not applied: {}", r.body);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_group_budget_stops_every_key_of_the_group_and_warns_first() {
    let env = Env::new();
    let fake = Fake::start();
    env.account("main", &fake.url(), "sk-main", &[]);
    let g = env.data.json(
        &[
            "group",
            "update",
            "team",
            "--daily-tokens",
            &(2 * TOKENS).to_string(),
            "--warn-percent",
            "50",
        ],
        "",
    );
    assert_eq!(g["budgets"]["daily_tokens"], 2 * TOKENS);
    let (_, a) = env.key_with("a", &[]);
    let (_, b) = env.key_with("b", &[]);
    let server = env.serve(&[]);
    assert_eq!(post(&server, &a, &[]).status, 200);
    assert_eq!(post(&server, &b, &[]).status, 200);
    let r = post(&server, &a, &[]);
    assert_eq!(r.status, 429);
    assert!(
        error(&r)
            .1
            .contains("group \"team\" has used its daily token budget"),
        "{}",
        r.body
    );
    assert!(r.header("retry-after").is_some());
    assert_eq!(post(&server, &b, &[]).status, 429);
    let conn = rusqlite::Connection::open(env.data.db()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let warnings: i64 = conn
            .query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'budget.warning'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if warnings >= 1 {
            assert_eq!(warnings, 1, "one warning per budget and day");
            break;
        }
        assert!(Instant::now() < deadline, "no budget warning was recorded");
        std::thread::sleep(Duration::from_millis(50));
    }
}
