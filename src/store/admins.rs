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

/// An admin's id and password hash, if the admin exists and is active.
pub fn find_login(conn: &Connection, username: &str) -> Result<Option<(i64, String)>> {
    Ok(conn
        .query_row(
            "SELECT id, password_hash FROM users
             WHERE username = ?1 AND role = 'admin' AND status = 'active'
               AND password_hash IS NOT NULL",
            [username],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// A signed-in admin's session as the database holds it.
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub user_id: i64,
    pub username: String,
    pub csrf_token: String,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

pub fn insert_session(
    conn: &Connection,
    token_hash: &str,
    user_id: i64,
    csrf_token: &str,
    expires_at: i64,
    user_agent: Option<&str>,
) -> Result<()> {
    let now = now_ms();
    conn.execute("DELETE FROM admin_sessions WHERE expires_at <= ?1", [now])?;
    conn.execute(
        "INSERT INTO admin_sessions (token_hash, user_id, csrf_token, created_at, last_seen_at,
            expires_at, user_agent)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
        params![token_hash, user_id, csrf_token, now, expires_at, user_agent],
    )?;
    Ok(())
}

/// The session behind a token hash, if it exists and belongs to an active admin.
pub fn find_session(conn: &Connection, token_hash: &str) -> Result<Option<SessionRow>> {
    Ok(conn
        .query_row(
            "SELECT s.user_id, u.username, s.csrf_token, s.last_seen_at, s.expires_at
             FROM admin_sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = ?1 AND u.role = 'admin' AND u.status = 'active'",
            [token_hash],
            |r| {
                Ok(SessionRow {
                    user_id: r.get(0)?,
                    username: r.get(1)?,
                    csrf_token: r.get(2)?,
                    last_seen_at: r.get(3)?,
                    expires_at: r.get(4)?,
                })
            },
        )
        .optional()?)
}

pub fn touch_session(conn: &Connection, token_hash: &str, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE admin_sessions SET last_seen_at = ?2 WHERE token_hash = ?1",
        params![token_hash, now],
    )?;
    Ok(())
}

pub fn delete_session(conn: &Connection, token_hash: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM admin_sessions WHERE token_hash = ?1",
        [token_hash],
    )?;
    Ok(())
}

/// Admins and when each last did anything, for the settings page.
pub fn list(conn: &Connection) -> Result<Vec<(i64, String, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT id, username, created_at FROM users WHERE role = 'admin' ORDER BY username",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
