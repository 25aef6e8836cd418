//! SQL for `audit_log`: who changed what, written in the same transaction as the change.

use rusqlite::{Connection, params};

use super::now_ms;
use crate::error::Result;

/// Records one change. `detail` must never contain a secret.
pub fn insert(
    conn: &Connection,
    actor: &str,
    action: &str,
    target: Option<(&str, i64)>,
    detail: Option<&serde_json::Value>,
) -> Result<()> {
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, target_type, target_id, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            now_ms(),
            actor,
            action,
            target.map(|t| t.0),
            target.map(|t| t.1),
            detail.map(|d| d.to_string()),
        ],
    )?;
    Ok(())
}
