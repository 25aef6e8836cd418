//! SQL for admin `users` (role 'admin') and their `admin_sessions`.

use rusqlite::{Connection, OptionalExtension, params};

use super::now_ms;
use crate::error::Result;

/// Creates the admin or replaces its password; returns the user id and whether it was new.
/// Existing sessions of that user end, so a reset locks out whoever had the old password.
pub fn upsert_password(conn: &Connection, username: &str, hash: &str) -> Result<(i64, bool)> {
    let now = now_ms();
    let existing: Option<i64> = conn
        .query_row(
            "SELECT id FROM users WHERE username = ?1",
            [username],
            |r| r.get(0),
        )
        .optional()?;
    match existing {
        Some(id) => {
            conn.execute(
                "UPDATE users SET password_hash = ?1, role = 'admin', status = 'active', updated_at = ?2
                 WHERE id = ?3",
                params![hash, now, id],
            )?;
            conn.execute("DELETE FROM admin_sessions WHERE user_id = ?1", [id])?;
            Ok((id, false))
        }
        None => {
            conn.execute(
                "INSERT INTO users (username, password_hash, role, created_at, updated_at)
                 VALUES (?1, ?2, 'admin', ?3, ?3)",
                params![username, hash, now],
            )?;
            Ok((conn.last_insert_rowid(), true))
        }
    }
}

pub fn count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM users WHERE role = 'admin' AND password_hash IS NOT NULL",
        [],
        |r| r.get(0),
    )?)
}
