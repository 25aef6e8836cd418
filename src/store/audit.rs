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

/// Group budget warnings recorded since `since`: (group id, budget name, period start).
pub fn budget_warnings_since(conn: &Connection, since: i64) -> Result<Vec<(i64, String, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT target_id, json_extract(detail, '$.budget'), json_extract(detail, '$.period_start')
         FROM audit_log WHERE action = 'budget.warning' AND at >= ?1 AND target_id IS NOT NULL",
    )?;
    let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
