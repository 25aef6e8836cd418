//! Migrations: every one applies from empty, the status rebuild and the request log's rewrite keep rows, `migrate
//! status` reports fresh, partial, edited and unknown databases, and edited ones stop `serve`.

mod common;

use aicarpool::store::{migrate, open_connection};
use common::Data;
use rusqlite::Connection;

const BEFORE_TEMP_ERROR: i64 = 20231206000000;
const PARTIAL: i64 = 20231204000000;

fn conn(data: &Data) -> Connection {
    std::fs::create_dir_all(data.path()).unwrap();
    open_connection(&data.db()).unwrap()
}

fn table_names(c: &Connection) -> Vec<String> {
    let mut stmt = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn every_migration_applies_from_empty_and_the_schema_is_whole() {
    let data = Data::new();
    let c = conn(&data);
    let prepared = migrate::prepare(&data.db(), &data.path().join("backups")).unwrap();
    assert!(
        prepared.backup.is_none(),
        "an empty database needs no backup"
    );
    let statuses = migrate::status(&c).unwrap();
    assert_eq!(prepared.applied.len(), statuses.len());
    assert!(statuses.iter().all(|s| s.state == migrate::State::Applied));
    let names: Vec<String> = statuses.iter().map(|s| s.name.clone()).collect();
    assert_eq!(
        &names[..8],
        [
            "init",
            "add_channel_management",
            "add_channel_management_fixed",
            "add_api_key_request_log",
            "add_channel_priority_weight",
            "remove_channel_advanced_fields",
            "add_temp_error_channel_status",
            "add_ai_account_fields"
        ]
    );
    let tables = table_names(&c);
    for t in [
        "users",
        "groups",
        "group_members",
        "ai_service_accounts",
        "group_accounts",
        "api_keys",
        "api_key_request_log",
        "usage_daily",
        "account_status_history",
        "model_prices",
        "settings",
        "admin_sessions",
        "audit_log",
    ] {
        assert!(
            tables.contains(&t.to_string()),
            "missing table {t}: {tables:?}"
        );
    }
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    // The account table carries the fields the gateway needs.
    for col in [
        "status_reason",
        "status_until",
        "last_error_at",
        "error_count",
        "priority",
        "weight",
        "credentials",
        "proxy_password",
        "oauth_refresh_token",
        "gemini_project_id",
        "claude_console_user_agent",
        "validation_status",
    ] {
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM pragma_table_info('ai_service_accounts') WHERE name = ?1",
                [col],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "ai_service_accounts.{col}");
    }
    // CHECK constraints guard the enumerations.
    let bad = c.execute(
        "INSERT INTO ai_service_accounts (name, platform, status) VALUES ('x', 'anthropic', 'BOGUS')",
        [],
    );
    assert!(bad.is_err(), "an unknown status must be refused");
    let bad = c.execute(
        "INSERT INTO ai_service_accounts (name, platform) VALUES ('x', 'azure')",
        [],
    );
    assert!(bad.is_err(), "an unknown platform must be refused");
}

#[test]
fn the_status_rebuild_keeps_every_row_and_reference() {
    let data = Data::new();
    let mut c = conn(&data);
    migrate::apply_up_to(&mut c, BEFORE_TEMP_ERROR).unwrap();
    c.execute_batch(
        "INSERT INTO groups (id, name) VALUES (7, 'team');
         INSERT INTO ai_service_accounts (id, name, platform, base_url, credentials, status,
             status_reason, supported_models, priority, weight, total_requests)
           VALUES (41, 'broken', 'anthropic', NULL, x'0102030405', 'ERROR', 'invalid key',
                   '[\"claude-sonnet-4\"]', 5, 3, 99),
                  (42, 'fine', 'openai', 'https://api.example.com/v1', x'0a0b', 'ACTIVE', NULL,
                   '[]', 50, 1, 0);
         INSERT INTO group_accounts (group_id, account_id, priority) VALUES (7, 41, 1), (7, 42, NULL);
         INSERT INTO account_status_history (account_id, from_status, to_status, reason)
           VALUES (41, 'ACTIVE', 'ERROR', 'invalid key');
         INSERT INTO api_keys (id, group_id, name, key_hash, key_prefix)
           VALUES (3, 7, 'k', printf('%064d', 1), 'acp_0000');
         INSERT INTO api_key_request_log (request_id, api_key_id, group_id, account_id, protocol,
             endpoint, status_code, outcome, input_tokens, started_at)
           VALUES ('r1', 3, 7, 41, 'anthropic', '/v1/messages', 200, 'ok', 12, 1000);",
    )
    .unwrap();
    drop(c);

    let prepared = migrate::prepare(&data.db(), &data.path().join("backups")).unwrap();
    let backup = prepared
        .backup
        .expect("a database with data is backed up first");
    assert!(backup.exists());
    let old = Connection::open(&backup).unwrap();
    let old_max: i64 = old
        .query_row(
            "SELECT max(version) FROM refinery_schema_history",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        old_max, BEFORE_TEMP_ERROR,
        "the backup is the pre-migration database"
    );

    let c = conn(&data);
    let row: (
        String,
        String,
        Vec<u8>,
        Option<String>,
        String,
        i64,
        i64,
        i64,
    ) = c
        .query_row(
            "SELECT name, status, credentials, status_reason, supported_models, priority, weight,
                    total_requests
             FROM ai_service_accounts WHERE id = 41",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        row,
        (
            "broken".into(),
            "ERROR".into(),
            vec![1, 2, 3, 4, 5],
            Some("invalid key".into()),
            "[\"claude-sonnet-4\"]".into(),
            5,
            3,
            99
        )
    );
    let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM ai_service_accounts"), 2);
    assert_eq!(
        count("SELECT count(*) FROM group_accounts WHERE account_id IN (41, 42)"),
        2
    );
    assert_eq!(
        count("SELECT count(*) FROM account_status_history WHERE account_id = 41"),
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM api_key_request_log WHERE account_id = 41"),
        1
    );
    assert_eq!(count("SELECT count(*) FROM pragma_foreign_key_check"), 0);
    // The new states are accepted now, and cascades still reach the rebuilt table.
    c.execute(
        "UPDATE ai_service_accounts SET status = 'TEMP_ERROR', status_until = 5 WHERE id = 42",
        [],
    )
    .unwrap();
    c.execute("DELETE FROM ai_service_accounts WHERE id = 41", [])
        .unwrap();
    assert_eq!(
        count("SELECT count(*) FROM group_accounts WHERE account_id = 41"),
        0
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM api_key_request_log WHERE account_id IS NULL AND request_id = 'r1'"
        ),
        1,
        "request log rows outlive their account"
    );
}

fn statuses(data: &Data) -> (Option<i32>, serde_json::Value) {
    let out = data.run(&["--json", "migrate", "status"], "");
    let json = serde_json::from_slice(&out.stdout).expect("migrate status --json prints JSON");
    (out.status.code(), json)
}

fn states(json: &serde_json::Value) -> Vec<String> {
    json.as_array()
        .unwrap()
        .iter()
        .map(|m| m["state"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn migrate_status_reports_fresh_partial_edited_and_unknown() {
    let data = Data::new();
    let (code, json) = statuses(&data);
    assert_eq!(code, Some(0));
    let n = states(&json).len();
    assert!(states(&json).iter().all(|s| s == "pending"));
    assert!(!data.db().exists(), "status must not create the database");

    let mut c = conn(&data);
    migrate::apply_up_to(&mut c, PARTIAL).unwrap();
    let (code, json) = statuses(&data);
    assert_eq!(code, Some(0));
    let s = states(&json);
    assert_eq!(&s[..4], ["applied"; 4]);
    assert!(s[4..].iter().all(|s| s == "pending"), "{s:?}");
    assert!(json[0]["applied_on"].is_string());

    c.execute(
        "UPDATE refinery_schema_history SET checksum = '12345' WHERE version = 20231203000000",
        [],
    )
    .unwrap();
    let (code, json) = statuses(&data);
    assert_eq!(code, Some(1), "an edited migration is a failure");
    assert_eq!(states(&json)[2], "modified");

    // Still edited, and now also a migration this binary does not know.
    c.execute(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
         VALUES (29990101000000, 'from_the_future', '2999-01-01T00:00:00Z', '1')",
        [],
    )
    .unwrap();
    let (code, json) = statuses(&data);
    assert_eq!(code, Some(1));
    let s = states(&json);
    assert_eq!(s.len(), n + 1);
    assert_eq!(s[2], "modified");
    assert_eq!(s.last().unwrap(), "unknown");
}

#[test]
fn serve_and_migrate_refuse_an_edited_migration() {
    let data = Data::new();
    data.ok(&["migrate"], "");
    let c = conn(&data);
    c.execute(
        "UPDATE refinery_schema_history SET checksum = '1' WHERE version = 20231201000000",
        [],
    )
    .unwrap();
    let err = data.fails(&["serve", "--listen", "127.0.0.1:0"], "", 1);
    assert!(err.contains("V20231201000000__init was edited"), "{err}");
    let err = data.fails(&["migrate"], "", 1);
    assert!(err.contains("edited"), "{err}");
}

#[test]
fn serve_refuses_a_database_newer_than_the_binary() {
    let data = Data::new();
    data.ok(&["migrate"], "");
    conn(&data)
        .execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (29990101000000, 'later', '2999-01-01T00:00:00Z', '1')",
            [],
        )
        .unwrap();
    let err = data.fails(&["serve", "--listen", "127.0.0.1:0"], "", 1);
    assert!(err.contains("newer than this aicarpool"), "{err}");
}

/// The last migration before the request log's checks were rewritten without IN lists.
const BEFORE_LOG_REWRITE: i64 = 20261206140000;

fn log_rows(c: &Connection) -> Vec<Vec<String>> {
    rows(c, "SELECT * FROM api_key_request_log ORDER BY id")
}

/// Every row of a query, each column as text.
fn rows(c: &Connection, sql: &str) -> Vec<Vec<String>> {
    let mut st = c.prepare(sql).unwrap();
    let n = st.column_count();
    st.query_map([], |r| {
        (0..n)
            .map(|i| Ok(format!("{:?}", r.get::<_, rusqlite::types::Value>(i)?)))
            .collect()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[test]
fn the_request_log_rewrite_keeps_rows_columns_and_checks_and_builds_no_index_per_row() {
    let data = Data::new();
    let mut c = conn(&data);
    migrate::apply_up_to(&mut c, BEFORE_LOG_REWRITE).unwrap();
    c.execute_batch(
        "INSERT INTO groups (id, name) VALUES (1, 'team');
         INSERT INTO api_keys (id, group_id, name, key_hash, key_prefix)
           VALUES (2, 1, 'alice', printf('%064d', 2), 'acp_a');
         INSERT INTO api_key_request_log (id, request_id, api_key_id, group_id, protocol,
             endpoint, model, stream, status_code, outcome, error_message, input_tokens,
             output_tokens, cost_nanos, unpriced, client, started_at, upstream_model,
             translated, tried)
           VALUES (5, 'r1', 2, 1, 'anthropic', '/v1/messages', 'claude-sonnet-4-5', 1, 200,
                   'ok', NULL, 10, 20, 3000, 0, 'claude-code', 1000, 'deepseek-chat', 1,
                   '[{\"account\":3,\"status\":529}]'),
                  (9, 'r2', NULL, NULL, 'gemini', '/v1beta/x', NULL, 0, 502,
                   'upstream_error', 'upstream down', 0, 0, 0, 1, NULL, 2000, NULL, 0, NULL);",
    )
    .unwrap();
    // What the table is, besides its checks: columns (name, type, not null, default, key),
    // references and indexes.
    let shape = |c: &Connection| {
        [
            "SELECT * FROM pragma_table_info('api_key_request_log')",
            "SELECT * FROM pragma_foreign_key_list('api_key_request_log')",
            "SELECT name, \"unique\", origin FROM pragma_index_list('api_key_request_log') ORDER BY name",
        ]
        .map(|q| rows(c, q))
    };
    let (before, shape_before) = (log_rows(&c), shape(&c));
    drop(c);
    migrate::prepare(&data.db(), &data.path().join("backups")).unwrap();
    let c = conn(&data);
    assert_eq!(log_rows(&c), before, "every row and column kept");
    assert_eq!(shape(&c), shape_before);
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    // (protocol, outcome, stream, unpriced, request id)
    let insert = |(protocol, outcome, stream, unpriced, id): (&str, &str, i64, i64, &str)| {
        c.execute(
            "INSERT INTO api_key_request_log (request_id, protocol, endpoint, stream,
                 status_code, outcome, unpriced, started_at)
             VALUES (?1, ?2, '/v1/messages', ?3, 200, ?4, ?5, 3000)",
            rusqlite::params![id, protocol, stream, outcome, unpriced],
        )
    };
    assert!(insert(("openai", "aborted", 0, 1, "r3")).is_ok());
    for (row, refused) in [
        (("azure", "ok", 0, 0, "r4"), "an unknown protocol"),
        (("openai", "fine", 0, 0, "r5"), "an unknown outcome"),
        (("openai", "ok", 2, 0, "r6"), "a stream other than 0 or 1"),
        (
            ("openai", "ok", 0, 7, "r7"),
            "an unpriced other than 0 or 1",
        ),
        (("openai", "ok", 0, 0, "r1"), "a request id logged already"),
    ] {
        assert!(insert(row).is_err(), "{refused} must be refused");
    }
    // The point of the rewrite: checking a row opens no temporary index (an IN list does).
    let ops: Vec<String> = c
        .prepare(
            "EXPLAIN INSERT INTO api_key_request_log (request_id, protocol, endpoint, stream,
                 status_code, outcome, unpriced, started_at, tried)
             VALUES ('r8', 'openai', '/v1/responses', 1, 200, 'ok', 0, 4000, NULL)",
        )
        .unwrap()
        .query_map([], |r| r.get(1))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        !ops.iter().any(|o| o == "OpenEphemeral"),
        "an insert builds a temporary index: {ops:?}"
    );
}

#[test]
fn a_key_s_first_use_is_no_change_of_configuration_and_its_settings_are() {
    use aicarpool::store::{keys, settings};
    let data = Data::new();
    let c = conn(&data);
    migrate::prepare(&data.db(), &data.path().join("backups")).unwrap();
    c.execute_batch(
        "INSERT INTO groups (id, name) VALUES (1, 'team');
         INSERT INTO api_keys (id, group_id, name, key_hash, key_prefix)
           VALUES (2, 1, 'alice', printf('%064d', 2), 'acp_a');",
    )
    .unwrap();
    let version = || settings::config_version(&c).unwrap();
    let before = version();
    keys::set_first_used(&c, 2, 1_000).unwrap();
    let first: Option<i64> = c
        .query_row("SELECT first_used_at FROM api_keys WHERE id = 2", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(first, Some(1_000));
    assert_eq!(version(), before, "the gateway keeps first uses itself");
    for change in [
        "UPDATE api_keys SET fair_share = 3 WHERE id = 2",
        "UPDATE api_keys SET daily_tokens = 100 WHERE id = 2",
        "UPDATE api_keys SET status = 'revoked' WHERE id = 2",
    ] {
        let was = version();
        c.execute(change, []).unwrap();
        assert_eq!(version(), was + 1, "{change}");
    }
}

#[test]
fn migrate_backs_up_an_existing_database_and_a_second_run_is_a_no_op() {
    let data = Data::new();
    let mut c = conn(&data);
    migrate::apply_up_to(&mut c, PARTIAL).unwrap();
    c.execute("INSERT INTO groups (name) VALUES ('kept')", [])
        .unwrap();
    drop(c);
    let out = data.json(&["migrate"], "");
    let backup = out["backup"].as_str().expect("backup path reported");
    let copy = Connection::open(backup).unwrap();
    let n: i64 = copy
        .query_row("SELECT count(*) FROM groups WHERE name = 'kept'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 1);
    let again = data.json(&["migrate"], "");
    assert!(again["backup"].is_null());
    assert_eq!(again["applied"].as_array().unwrap().len(), 0);
    let (code, json) = statuses(&data);
    assert_eq!(code, Some(0));
    assert!(states(&json).iter().all(|s| s == "applied"));
}

#[test]
fn a_foreign_database_is_not_migrated() {
    let data = Data::new();
    conn(&data)
        .execute("CREATE TABLE something_else (x)", [])
        .unwrap();
    let err = data.fails(&["migrate"], "", 1);
    assert!(err.contains("not an aicarpool database"), "{err}");
}
