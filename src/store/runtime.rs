//! `account_runtime`: what serving learns about an account (a subscription's usage windows, a
//! failing token refresh), written without touching the account's configuration.

use rusqlite::{Connection, params};

use crate::error::Result;

/// Stores the windows (JSON) an account last reported, at `at`.
pub fn set_windows(conn: &Connection, account: i64, windows: &str, at: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO account_runtime (account_id, windows, windows_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (account_id) DO UPDATE SET windows = excluded.windows,
            windows_at = excluded.windows_at",
        params![account, windows, at],
    )?;
    Ok(())
}

/// Every account's stored windows, for the gateway's start.
pub fn all_windows(conn: &Connection) -> Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare(
        "SELECT r.account_id, r.windows FROM account_runtime r
         JOIN ai_service_accounts a ON a.id = r.account_id
         WHERE r.windows IS NOT NULL AND a.deleted_at IS NULL",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A refresh failed for a reason that may pass: the first failure's time is kept.
pub fn refresh_failed(conn: &Connection, account: i64, at: i64, error: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO account_runtime (account_id, refresh_failing_since, refresh_error)
         VALUES (?1, ?2, ?3)
         ON CONFLICT (account_id) DO UPDATE SET
            refresh_failing_since = coalesce(refresh_failing_since, excluded.refresh_failing_since),
            refresh_error = excluded.refresh_error",
        params![account, at, error],
    )?;
    Ok(())
}

/// A refresh worked (or the account was signed in afresh): nothing is failing.
pub fn refresh_ok(conn: &Connection, account: i64) -> Result<()> {
    conn.execute(
        "UPDATE account_runtime SET refresh_failing_since = NULL, refresh_error = NULL
         WHERE account_id = ?1",
        [account],
    )?;
    Ok(())
}
