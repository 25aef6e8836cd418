//! SQL for `oauth_sessions`: PKCE verifiers waiting for their authorization code.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

pub fn insert(
    conn: &Connection,
    state: &str,
    verifier: &[u8],
    now: i64,
    expires_at: i64,
) -> Result<()> {
    conn.execute("DELETE FROM oauth_sessions WHERE expires_at < ?1", [now])?;
    conn.execute(
        "INSERT INTO oauth_sessions (state, verifier, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![state, verifier, now, expires_at],
    )?;
    Ok(())
}

/// Removes the session of `state` and returns its sealed verifier, if it exists and is live:
/// a link works once.
pub fn take(conn: &Connection, state: &str, now: i64) -> Result<Option<Vec<u8>>> {
    let found: Option<(Vec<u8>, i64)> = conn
        .query_row(
            "DELETE FROM oauth_sessions WHERE state = ?1 RETURNING verifier, expires_at",
            [state],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(found.filter(|(_, exp)| *exp >= now).map(|(v, _)| v))
}
