//! SQL that reads usage out of `api_key_request_log`.

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::error::Result;

/// What usage totals are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    Key,
    Account,
    Model,
    Group,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    /// The key, account, model or group name this row is for; absent for the grand total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub cost_nanos: i64,
}

const SUMS: &str = "count(*), coalesce(sum(l.input_tokens), 0), coalesce(sum(l.output_tokens), 0),
    coalesce(sum(l.cache_creation_input_tokens), 0), coalesce(sum(l.cache_read_input_tokens), 0),
    coalesce(sum(l.cost_nanos), 0)";

fn totals(label: Option<String>, r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Totals> {
    Ok(Totals {
        label,
        requests: r.get(at)?,
        input_tokens: r.get(at + 1)?,
        output_tokens: r.get(at + 2)?,
        cache_creation_input_tokens: r.get(at + 3)?,
        cache_read_input_tokens: r.get(at + 4)?,
        cost_nanos: r.get(at + 5)?,
    })
}

/// Totals over requests started at or after `since` (epoch ms).
pub fn total(conn: &Connection, since: i64) -> Result<Totals> {
    Ok(conn.query_row(
        &format!("SELECT {SUMS} FROM api_key_request_log l WHERE l.started_at >= ?1"),
        params![since],
        |r| totals(None, r, 0),
    )?)
}

/// Totals per key, account, model or group, largest cost first.
pub fn grouped(conn: &Connection, since: i64, by: By) -> Result<Vec<Totals>> {
    let (label, join) = match by {
        By::Key => (
            "coalesce(g.name || '/' || k.name, '(deleted key)')",
            "LEFT JOIN api_keys k ON k.id = l.api_key_id LEFT JOIN groups g ON g.id = k.group_id",
        ),
        By::Account => (
            "coalesce(a.name, '(none)')",
            "LEFT JOIN ai_service_accounts a ON a.id = l.account_id",
        ),
        By::Model => ("coalesce(l.model, '(none)')", ""),
        By::Group => (
            "coalesce(g.name, '(none)')",
            "LEFT JOIN groups g ON g.id = l.group_id",
        ),
    };
    let sql = format!(
        "SELECT {label} AS label, {SUMS} FROM api_key_request_log l {join}
         WHERE l.started_at >= ?1 GROUP BY label ORDER BY sum(l.cost_nanos) DESC, label"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![since], |r| totals(Some(r.get(0)?), r, 1))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
