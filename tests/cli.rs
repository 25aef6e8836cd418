//! The command line as an operator uses it: groups, accounts and keys with `--json`, clear
//! errors for bad input, secrets read from stdin and stored sealed.

mod common;

use aicarpool::config::Config;
use aicarpool::manage::{Ctx, accounts::account_secret, keys::hash_key};
use common::{Data, all_bytes, contains};

const SECRET: &str = "sk-ant-api03-test-secret-value-0123456789";
const PROXY_PASSWORD: &str = "proxy-pass-word-xyz";

fn setup() -> Data {
    let data = Data::new();
    data.ok(
        &["group", "create", "team-a", "--description", "first team"],
        "",
    );
    data
}

#[test]
fn groups_are_created_listed_and_unique() {
    let data = setup();
    let g = data.json(&["group", "create", "team-b"], "");
    assert_eq!(g["name"], "team-b");
    assert!(g["id"].as_i64().unwrap() > 0);
    let list = data.json(&["group", "list"], "");
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["team-a", "team-b"]);
    let err = data.fails(&["group", "create", "TEAM-A"], "", 2);
    assert!(err.contains("already exists"), "{err}");
    let err = data.fails(&["group", "create", "  "], "", 2);
    assert!(err.contains("must not be empty"), "{err}");
}

#[test]
fn accounts_are_created_listed_updated_and_change_status() {
    let data = setup();
    let a = data.json(
        &[
            "account",
            "create",
            "--name",
            "main",
            "--platform",
            "anthropic",
            "--priority",
            "10",
            "--weight",
            "3",
            "--group",
            "team-a",
            "--models",
            "claude-sonnet-4,claude-opus-4",
        ],
        &format!("{SECRET}\n"),
    );
    let id = a["id"].as_i64().unwrap();
    assert_eq!(a["status"], "ACTIVE");
    assert_eq!(a["groups"][0]["group"], "team-a");
    assert_eq!(
        a["supported_models"],
        serde_json::json!(["claude-sonnet-4", "claude-opus-4"])
    );

    let list = data.json(&["account", "list"], "");
    let first = &list[0];
    for field in [
        "id",
        "name",
        "platform",
        "status",
        "priority",
        "weight",
        "status_reason",
        "status_until",
    ] {
        assert!(
            first.get(field).is_some(),
            "account list lacks {field}: {first}"
        );
    }
    assert_eq!(first["priority"], 10);
    assert_eq!(first["weight"], 3);
    assert!(
        !list.to_string().contains(SECRET),
        "list must not reveal the secret"
    );

    data.ok(&["group", "create", "team-b"], "");
    let id_s = id.to_string();
    let u = data.json(
        &[
            "account",
            "update",
            &id_s,
            "--priority",
            "5",
            "--group",
            "team-b",
            "--base-url",
            "https://relay.example.com/anthropic/",
        ],
        "",
    );
    assert_eq!(u["priority"], 5);
    assert_eq!(u["weight"], 3, "fields not given stay as they were");
    assert_eq!(u["base_url"], "https://relay.example.com/anthropic");
    assert_eq!(u["groups"].as_array().unwrap().len(), 1);
    assert_eq!(u["groups"][0]["group"], "team-b");

    let d = data.json(&["account", "disable", &id_s], "");
    assert_eq!(d["status"], "DISABLED");
    assert_eq!(d["status_reason"], "disabled by admin");
    let err = data.fails(&["account", "recover", &id_s], "", 2);
    assert!(err.contains("account enable"), "{err}");
    assert_eq!(
        data.json(&["account", "maintenance", &id_s], "")["status"],
        "MAINTENANCE"
    );
    assert_eq!(
        data.json(&["account", "enable", &id_s], "")["status"],
        "ACTIVE"
    );
    let shown = data.json(&["account", "show", &id_s], "");
    let to: Vec<&str> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["to"].as_str().unwrap())
        .collect();
    assert_eq!(to, ["ACTIVE", "MAINTENANCE", "DISABLED", "ACTIVE"]);
}

#[test]
fn bad_account_input_gets_clear_errors() {
    let data = setup();
    let base = [
        "account",
        "create",
        "--name",
        "x",
        "--platform",
        "anthropic",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let run = |args: Vec<String>, stdin: &str, code| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        data.fails(&args, stdin, code)
    };
    assert!(run(with(&["--group", "nope"]), "k\n", 2).contains("no group named \"nope\""));
    assert!(run(with(&["--base-url", "ftp://x"]), "k\n", 2).contains("http:// or https://"));
    assert!(run(with(&[]), "", 2).contains("stdin"));
    assert!(run(with(&[]), "\n", 2).contains("stdin"));
    assert!(
        run(with(&["--proxy", "socks5://u:pw@127.0.0.1:1080"]), "k\n", 2).contains("process list")
    );
    assert!(
        data.fails(
            &["account", "create", "--name", "x", "--platform", "azure"],
            "k\n",
            2
        )
        .contains("azure")
    );
    assert!(
        data.fails(
            &[
                "account",
                "create",
                "--name",
                "r",
                "--platform",
                "claude-console"
            ],
            "k\n",
            2
        )
        .contains("--base-url")
    );
    data.ok(
        &with(&[]).iter().map(String::as_str).collect::<Vec<_>>(),
        "k\n",
    );
    assert!(run(with(&[]), "k\n", 2).contains("already exists"));
    assert!(
        data.fails(&["account", "disable", "999"], "", 2)
            .contains("no account with id 999")
    );
    // Nothing half-made: the failed creations left no accounts behind.
    assert_eq!(
        data.json(&["account", "list"], "")
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_sealed_at_rest_and_open_with_the_right_key_only() {
    let data = setup();
    let a = data.json(
        &[
            "account",
            "create",
            "--name",
            "relay",
            "--platform",
            "claude-console",
            "--base-url",
            "https://relay.example.com",
            "--proxy",
            "socks5h://bob@127.0.0.1:1080",
            "--proxy-password-stdin",
            "--group",
            "team-a",
        ],
        &format!("{SECRET}\n{PROXY_PASSWORD}\n"),
    );
    assert_eq!(a["proxy"]["username"], "bob");
    assert!(!a.to_string().contains(PROXY_PASSWORD));
    let bytes = all_bytes(&data.path());
    assert!(
        !contains(&bytes, SECRET),
        "the upstream secret is stored in plaintext"
    );
    assert!(
        !contains(&bytes, PROXY_PASSWORD),
        "the proxy password is stored in plaintext"
    );

    let (ctx, _) = Ctx::open(Config::with_data_dir(data.path())).await.unwrap();
    let id = a["id"].as_i64().unwrap();
    assert_eq!(account_secret(&ctx, id).await.unwrap(), SECRET);
    drop(ctx);

    // A different key file is refused outright: no plaintext fallback, no silent new key.
    let other = data.dir.path().join("other.key");
    let out = data.run_env(
        &["account", "list"],
        "",
        &[("AICARPOOL_SECRET_KEY_FILE", other.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("secret.key is not the key"), "{err}");

    // Rotating the secret by stdin replaces the sealed value.
    data.ok(
        &["account", "update", &id.to_string(), "--secret-stdin"],
        "sk-new-secret\n",
    );
    let (ctx, _) = Ctx::open(Config::with_data_dir(data.path())).await.unwrap();
    assert_eq!(account_secret(&ctx, id).await.unwrap(), "sk-new-secret");
}

#[test]
fn keys_are_shown_once_stored_hashed_and_carry_limits() {
    let data = setup();
    let k = data.json(
        &[
            "key",
            "create",
            "--group",
            "team-a",
            "--name",
            "alice",
            "--requests",
            "100",
            "--window-minutes",
            "1",
            "--concurrency",
            "4",
            "--queue",
            "2",
            "--daily-cost",
            "5.50",
            "--models",
            "claude-sonnet-4,claude-haiku*",
            "--clients",
            "claude-code,codex",
            "--expires-at",
            "2999-01-31",
        ],
        "",
    );
    let key = k["key"].as_str().unwrap().to_owned();
    let id = k["id"].as_i64().unwrap();
    assert!(key.starts_with("acp_") && key.len() >= 36, "{key}");
    assert_eq!(k["limits"]["daily_cost_usd"], 5.5);
    assert_eq!(k["limits"]["concurrency"], 4);

    let bytes = all_bytes(&data.path());
    assert!(!contains(&bytes, &key), "the key is stored in plaintext");
    assert!(
        contains(&bytes, &hash_key(&key)),
        "the key's SHA-256 is what is stored"
    );
    let list = data.json(&["key", "list"], "");
    assert!(!list.to_string().contains(&key), "key list reveals the key");
    assert_eq!(list[0]["prefix"], &key[..12]);
    assert_eq!(list[0]["limits"]["rate_requests"], 100);
    assert_eq!(
        list[0]["limits"]["clients"],
        serde_json::json!(["claude-code", "codex"])
    );

    let id_s = id.to_string();
    let u = data.json(
        &[
            "key",
            "update",
            &id_s,
            "--concurrency",
            "none",
            "--queue",
            "none",
            "--total-tokens",
            "1000000",
            "--clients",
            "",
        ],
        "",
    );
    assert!(u["limits"]["concurrency"].is_null());
    assert_eq!(u["limits"]["total_tokens"], 1_000_000);
    assert_eq!(u["limits"]["rate_requests"], 100, "untouched limits stay");
    assert_eq!(u["limits"]["clients"], serde_json::json!([]));

    assert_eq!(
        data.json(&["key", "revoke", &id_s], "")["status"],
        "revoked"
    );

    let err = data.fails(&["key", "create", "--group", "nope", "--name", "x"], "", 2);
    assert!(err.contains("no group named"), "{err}");
    for (extra, expected) in [
        (&["--name", "alice"][..], "already has a key named"),
        (&["--name", "y", "--requests", "5"], "a window in minutes"),
        (
            &["--name", "y", "--expires-at", "2001-01-01"],
            "in the past",
        ),
        (&["--name", "y", "--daily-cost", "lots"], "lots"),
        (&["--name", "y", "--clients", "netscape"], "unknown client"),
    ] {
        let mut args = vec!["key", "create", "--group", "team-a"];
        args.extend_from_slice(extra);
        let err = data.fails(&args, "", 2);
        assert!(err.contains(expected), "{extra:?}: {err}");
    }
    assert_eq!(
        data.json(&["key", "list"], "").as_array().unwrap().len(),
        1,
        "refused keys leave nothing behind"
    );
}

#[test]
fn admin_password_comes_from_stdin_and_is_hashed() {
    let data = setup();
    let password = "a long enough password";
    let out = data.json(
        &["admin", "set-password", "--username", "ops"],
        &format!("{password}\n"),
    );
    assert_eq!(out["created"], true);
    let out = data.json(
        &["admin", "set-password", "--username", "ops"],
        "another good password\n",
    );
    assert_eq!(out["created"], false);
    let err = data.fails(
        &["admin", "set-password", "--username", "ops"],
        "short\n",
        2,
    );
    assert!(err.contains("at least 10"), "{err}");
    assert!(!contains(&all_bytes(&data.path()), password));
    let c = rusqlite::Connection::open(data.db()).unwrap();
    let hash: String = c
        .query_row(
            "SELECT password_hash FROM users WHERE username = 'ops'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let audited: i64 = c
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action LIKE 'admin.%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audited, 2);
}

#[test]
fn usage_reports_totals_in_json() {
    let data = setup();
    let u = data.json(&["usage", "--since", "24h"], "");
    for field in [
        "requests",
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "cost_usd",
    ] {
        assert_eq!(u[field].as_f64(), Some(0.0), "{field}");
    }
    // Rows written straight into the log are summed and broken down.
    let c = rusqlite::Connection::open(data.db()).unwrap();
    c.execute_batch(
        "INSERT INTO api_key_request_log (request_id, protocol, endpoint, model, status_code, outcome,
             input_tokens, output_tokens, cache_read_input_tokens, cost_nanos, started_at)
         VALUES ('a', 'anthropic', '/v1/messages', 'claude-sonnet-4', 200, 'ok', 10, 20, 5, 1500000000,
                 CAST(unixepoch('subsec') * 1000 AS INTEGER)),
                ('b', 'openai', '/v1/chat/completions', 'gpt-4o', 200, 'ok', 1, 2, 0, 500000000,
                 CAST(unixepoch('subsec') * 1000 AS INTEGER)),
                ('old', 'openai', '/v1/chat/completions', 'gpt-4o', 200, 'ok', 1000, 0, 0, 0, 0);",
    )
    .unwrap();
    let u = data.json(&["usage", "--since", "7d", "--by", "model"], "");
    assert_eq!(u["requests"], 2);
    assert_eq!(u["input_tokens"], 11);
    assert_eq!(u["output_tokens"], 22);
    assert_eq!(u["cache_read_input_tokens"], 5);
    assert_eq!(u["cost_usd"], 2.0);
    assert_eq!(u["rows"][0]["label"], "claude-sonnet-4");
    assert_eq!(data.json(&["usage"], "")["requests"], 3);
    assert!(
        data.fails(&["usage", "--since", "yesterday"], "", 2)
            .contains("duration")
    );
}

#[test]
fn prices_are_listed_set_and_removed() {
    let data = setup();
    let list = data.json(&["price", "list"], "");
    let sonnet = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model"] == "claude-sonnet-4-5")
        .expect("Claude prices are seeded");
    assert_eq!(sonnet["input_usd_per_mtok"], "3.00");
    assert_eq!(sonnet["cache_write_1h_usd_per_mtok"], "6.00");
    let set = data.json(
        &[
            "price",
            "set",
            "kimi-k2",
            "--input",
            "0.6",
            "--output",
            "2.5",
            "--cache-read",
            "0.15",
        ],
        "",
    );
    assert_eq!(set[0]["output_usd_per_mtok"], "2.50");
    assert_eq!(
        set[0]["cache_write_usd_per_mtok"], "0.75",
        "default 1.25 × input"
    );
    assert_eq!(set[0]["cache_read_usd_per_mtok"], "0.15");
    let err = data.fails(
        &["price", "set", "x", "--input", "0.0001", "--output", "1"],
        "",
        2,
    );
    assert!(err.contains("finer than"), "{err}");
    data.ok(&["price", "remove", "kimi-k2"], "");
    let err = data.fails(&["price", "remove", "kimi-k2"], "", 2);
    assert!(err.contains("no price"), "{err}");
}

#[test]
fn the_database_and_its_wal_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;
    let data = setup();
    let dir = data.path();
    let mut checked = 0;
    for name in [
        "aicarpool.db",
        "aicarpool.db-wal",
        "aicarpool.db-shm",
        "secret.key",
    ] {
        let Ok(meta) = std::fs::metadata(dir.join(name)) else {
            continue;
        };
        assert_eq!(
            meta.permissions().mode() & 0o077,
            0,
            "{name} is readable by others"
        );
        checked += 1;
    }
    assert!(checked >= 2, "the database and key exist");
}

#[test]
fn group_budgets_are_set_changed_and_removed() {
    let data = setup();
    let g = data.json(
        &[
            "group",
            "create",
            "team-b",
            "--daily-cost",
            "25",
            "--monthly-tokens",
            "1000000",
        ],
        "",
    );
    assert_eq!(g["budgets"]["daily_cost_usd"], 25.0);
    assert_eq!(g["budgets"]["monthly_tokens"], 1_000_000);
    assert_eq!(g["budgets"]["warning_percent"], 80);
    let g = data.json(
        &[
            "group",
            "update",
            "team-b",
            "--daily-cost",
            "none",
            "--warn-percent",
            "90",
        ],
        "",
    );
    assert!(g["budgets"]["daily_cost_usd"].is_null());
    assert_eq!(
        g["budgets"]["monthly_tokens"], 1_000_000,
        "untouched budgets stay"
    );
    assert_eq!(g["budgets"]["warning_percent"], 90);
    let text = data.ok(&["group", "list"], "");
    assert!(
        text.contains("1000000 tokens/month (warn at 90%)"),
        "{text}"
    );
    let err = data.fails(&["group", "update", "team-b", "--warn-percent", "0"], "", 2);
    assert!(err.contains("1 to 100"), "{err}");
    let err = data.fails(&["group", "update", "nope", "--daily-tokens", "5"], "", 2);
    assert!(err.contains("no group"), "{err}");
    let err = data.fails(&["group", "update", "team-b"], "", 2);
    assert!(err.contains("nothing to change"), "{err}");
}
