//! SQL for `settings`, a small key/value table, and the `config_version` counter beside it.

use rusqlite::{Connection, OptionalExtension, params};

use super::now_ms;
use crate::error::Result;

/// Sealed known value that tells whether `secret.key` is the key this database was made with.
pub const SECRET_KEY_CHECK: &str = "secret_key_check";

pub fn get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

pub fn set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![key, value, now_ms()],
    )?;
    Ok(())
}

/// `config_version.version`: bumped by triggers on every change the gateway keeps in memory
/// (keys, groups, accounts, bindings, prices), so a poll can tell when to reload.
pub fn config_version(conn: &Connection) -> Result<i64> {
    Ok(
        conn.query_row("SELECT version FROM config_version WHERE id = 1", [], |r| {
            r.get(0)
        })?,
    )
}
