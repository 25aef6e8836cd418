//! Deleting and renaming accounts, groups and keys from the command line: what is deleted
//! leaves every list and stops serving at once, its name is free again, and its history (the
//! request log, the usage report, the audit log) stays attributed to it; a group that still
//! has keys or accounts says what deleting it would affect.

mod common;

use common::env::Env;
use common::upstream::Fake;
use common::{eventually, post_json};
use serde_json::Value;

const BODY: &str =
    r#"{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;

fn labels(v: &Value) -> Vec<String> {
    v["rows"]
        .as_array()
        .or_else(|| v.as_array())
        .unwrap_or_else(|| panic!("a report: {v}"))
        .iter()
        .map(|r| r["label"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn audit_actions(env: &Env) -> Vec<String> {
    let conn = rusqlite::Connection::open(env.data.db()).unwrap();
    let mut stmt = conn
        .prepare("SELECT action FROM audit_log ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn a_deleted_key_stops_at_once_and_its_use_stays_under_its_name() {
    let env = Env::new();
    let fake = Fake::start();
    env.account("main", &fake.url(), "sk-main", &[]);
    let (id, key) = env.key_with("alice", &[]);
    let server = env.serve(&[]);
    assert_eq!(
        post_json(&server, "/v1/messages", &[("x-api-key", &key)], BODY).status,
        200
    );
    env.rows(1);
    env.data.ok(&["key", "delete", &id.to_string()], "");
    eventually(
        "the deleted key is refused",
        std::time::Duration::from_secs(5),
        || {
            (post_json(&server, "/v1/messages", &[("x-api-key", &key)], BODY).status == 401)
                .then_some(())
        },
    );
    let keys = env.data.json(&["key", "list"], "");
    assert!(keys.as_array().unwrap().is_empty(), "{keys}");
    let by_key = labels(&env.usage(Some("key")));
    assert_eq!(by_key, [format!("team/alice (deleted #{id})")]);
    // The name is free again, for a new key.
    env.key_with("alice", &[]);
    assert!(audit_actions(&env).contains(&"key.delete".to_owned()));
    let fails = env.data.fails(&["key", "delete", &id.to_string()], "", 2);
    assert!(fails.contains("no key"), "{fails}");
}

#[test]
fn a_deleted_account_leaves_rotation_and_its_history_stays() {
    let env = Env::new();
    let fake = Fake::start();
    let id = env.account("main", &fake.url(), "sk-main", &[]);
    let key = env.key("alice");
    let server = env.serve(&[]);
    assert_eq!(
        post_json(&server, "/v1/messages", &[("x-api-key", &key)], BODY).status,
        200
    );
    env.rows(1);
    let out = env.data.ok(&["account", "delete", &id.to_string()], "");
    assert!(out.contains("history stays"), "{out}");
    let accounts = env.data.json(&["account", "list"], "");
    assert!(accounts.as_array().unwrap().is_empty(), "{accounts}");
    eventually(
        "the gateway stops using the deleted account",
        std::time::Duration::from_secs(5),
        || {
            (post_json(&server, "/v1/messages", &[("x-api-key", &key)], BODY).status != 200)
                .then_some(())
        },
    );
    let seen = fake.count();
    assert_ne!(
        post_json(&server, "/v1/messages", &[("x-api-key", &key)], BODY).status,
        200
    );
    assert_eq!(fake.count(), seen, "nothing more went to it");
    let by_account = labels(&env.usage(Some("account")));
    assert!(
        by_account.contains(&format!("main (deleted #{id})")),
        "{by_account:?}"
    );
    // The name is free for a new account; the old one's rows keep their own id.
    let again = env.account("main", &fake.url(), "sk-main-2", &[]);
    assert_ne!(again, id);
    assert!(audit_actions(&env).contains(&"account.delete".to_owned()));
}

#[test]
fn a_group_in_use_says_what_deleting_it_would_affect() {
    let env = Env::new();
    let fake = Fake::start();
    env.account("main", &fake.url(), "sk-main", &[]);
    let key = env.key("alice");
    env.key("bob");
    let server = env.serve(&[]);
    assert_eq!(
        post_json(&server, "/v1/messages", &[("x-api-key", &key)], BODY).status,
        200
    );
    env.rows(1);
    let refused = env.data.fails(&["group", "delete", "team"], "", 2);
    for name in ["2 key(s) (alice, bob)", "1 account(s) (main)"] {
        assert!(refused.contains(name), "{name}: {refused}");
    }
    assert_eq!(
        env.data
            .json(&["group", "list"], "")
            .as_array()
            .unwrap()
            .len(),
        1
    );
    env.data.ok(&["group", "delete", "team", "--force"], "");
    assert!(
        env.data
            .json(&["group", "list"], "")
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        env.data
            .json(&["key", "list"], "")
            .as_array()
            .unwrap()
            .is_empty()
    );
    let account = &env.data.json(&["account", "list"], "")[0];
    assert_eq!(
        account["groups"],
        serde_json::json!([]),
        "unbound, not deleted"
    );
    eventually(
        "the group's keys stop working",
        std::time::Duration::from_secs(5),
        || {
            (post_json(&server, "/v1/messages", &[("x-api-key", &key)], BODY).status == 401)
                .then_some(())
        },
    );
    let by_group = labels(&env.usage(Some("group")));
    assert_eq!(by_group.len(), 1);
    assert!(by_group[0].starts_with("team (deleted #"), "{by_group:?}");
    // A new group can take the name.
    env.data.ok(&["group", "create", "team"], "");
}

#[test]
fn groups_and_keys_are_renamed_and_keep_their_history() {
    let env = Env::new();
    let (id, _) = env.key_with("alice", &[]);
    env.data
        .ok(&["group", "rename", "team", "platform-team"], "");
    let k = env
        .data
        .json(&["key", "rename", &id.to_string(), "alice-laptop"], "");
    assert_eq!(k["name"], "alice-laptop");
    assert_eq!(k["group"], "platform-team");
    env.data.json(
        &["key", "create", "--group", "platform-team", "--name", "bob"],
        "",
    );
    let clash = env
        .data
        .fails(&["key", "rename", &id.to_string(), "bob"], "", 2);
    assert!(clash.contains("already has a key named"), "{clash}");
    env.data.ok(&["group", "create", "ops"], "");
    let clash = env
        .data
        .fails(&["group", "rename", "platform-team", "ops"], "", 2);
    assert!(clash.contains("already exists"), "{clash}");
    let actions = audit_actions(&env);
    assert!(
        actions.contains(&"group.rename".to_owned()) && actions.contains(&"key.rename".to_owned())
    );
}
