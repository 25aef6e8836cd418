//! The one account state machine, as every caller applies it: after an operator's recover the
//! serving gateway's error window starts afresh, and `account test` follows the policy set on
//! the Settings page.

mod common;

use std::time::Duration;

use common::admin::{self, Admin};
use common::env::Env;
use common::post_json;
use common::upstream::{Fake, Reply};
use serde_json::json;

const BODY: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;

/// Far more than the change watcher's poll (500 ms) takes: the two seconds DESIGN.md allows
/// are held by `a_key_made_by_the_cli_works_within_two_seconds`; here, only that it happened.
const RELOAD: Duration = Duration::from_secs(10);

fn failing(fake: &Fake) {
    fake.set(Reply::Status(
        500,
        vec![],
        r#"{"type":"error","error":{"type":"api_error","message":"boom"}}"#.into(),
    ));
}

#[test]
fn after_a_recover_the_error_window_starts_afresh_in_the_serving_gateway() {
    let env = Env::new();
    let fake = Fake::start();
    let id = env.account("main", &fake.url(), "sk", &[]);
    let key = env.key("alice");
    admin::make_admin(&env.data, admin::USER);
    let server = env.serve(&["--max-attempts", "1"]);
    failing(&fake);
    let send = || post_json(&server, "/v1/messages", &[("x-api-key", &key)], BODY).status;
    for _ in 0..3 {
        assert_eq!(send(), 500);
    }
    assert_eq!(env.status(id), "TEMP_ERROR");

    // Recovered by the CLI (another process): one error afterwards is one error, not four.
    env.data.ok(&["account", "recover", &id.to_string()], "");
    // The change watcher names the configuration version it loaded: the CLI's or a later one.
    let version: i64 = rusqlite::Connection::open(env.data.db())
        .unwrap()
        .query_row("SELECT version FROM config_version", [], |r| r.get(0))
        .unwrap();
    common::eventually("the gateway reloads the CLI's change", RELOAD, || {
        let logs = server.logs.lock().unwrap();
        logs.iter()
            .filter(|l| l.contains("snapshot reloaded"))
            .filter_map(|l| l.split("version=").nth(1)?.trim().parse::<i64>().ok())
            .any(|loaded| loaded >= version)
            .then_some(())
    });
    assert_eq!(send(), 500);
    assert_eq!(env.status(id), "ACTIVE", "one error after a recover");
    assert_eq!(env.account_json(id)["error_count"], 1);

    // The same through the admin page, in the serving process.
    assert_eq!(send(), 500);
    assert_eq!(send(), 500);
    assert_eq!(env.status(id), "TEMP_ERROR");
    let a = Admin::sign_in(server.addr);
    a.ok(
        "POST",
        &format!("/accounts/{id}/status"),
        json!({ "action": "recover" }),
    );
    assert_eq!(send(), 500);
    assert_eq!(env.status(id), "ACTIVE");
    assert_eq!(env.account_json(id)["error_count"], 1);
}

#[test]
fn account_test_follows_the_policy_set_on_the_settings_page() {
    let env = Env::new();
    let fake = Fake::start();
    let id = env.account("main", &fake.url(), "sk", &[]);
    admin::make_admin(&env.data, admin::USER);
    let server = env.serve(&[]);
    let a = Admin::sign_in(server.addr);
    a.ok(
        "PUT",
        "/settings/account-policy",
        json!({ "error_threshold": 1 }),
    );
    failing(&fake);
    // One failed test is enough under a threshold of one (the environment's default is 3).
    env.data.fails(&["account", "test", &id.to_string()], "", 1);
    assert_eq!(env.status(id), "TEMP_ERROR");
    let history = env.data.json(&["account", "show", &id.to_string()], "");
    let reason = history.to_string();
    assert!(reason.contains("1 server errors"), "{reason}");
}
