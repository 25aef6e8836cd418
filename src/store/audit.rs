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

/// One audit entry as the admin page shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Entry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<i64>,
    pub detail: Option<serde_json::Value>,
}

/// A page of the audit log, newest first; `before_id` continues from the previous page.
pub fn page(conn: &Connection, before_id: Option<i64>, limit: i64) -> Result<Vec<Entry>> {
    let mut stmt = conn.prepare(
        "SELECT id, at, actor, action, target_type, target_id, detail FROM audit_log
         WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(
        params![before_id.unwrap_or(i64::MAX), limit.clamp(1, 500)],
        |r| {
            let detail: Option<String> = r.get(6)?;
            Ok(Entry {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                target_type: r.get(4)?,
                target_id: r.get(5)?,
                detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
            })
        },
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
