//! The request log read over time for the charts: hourly and daily buckets, tokens per model
//! or key, and one key's days and models.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::By;
use crate::error::Result;

/// One bucket of a dashboard chart.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Bucket {
    /// The bucket's start: epoch ms for hours, `YYYY-MM-DD` for days.
    pub at: String,
    pub requests: i64,
    pub errors: i64,
    pub tokens: i64,
    pub cost_nanos: i64,
    /// Requests the model had no price for: `cost_nanos` leaves them out.
    pub unpriced_requests: i64,
}

/// Hourly buckets of requests started at or after `since` (from the request log).
pub fn hourly(conn: &Connection, since: i64) -> Result<Vec<Bucket>> {
    buckets(
        conn,
        "SELECT CAST((started_at / 3600000) * 3600000 AS TEXT) AS hour, count(*),
            sum(outcome <> 'ok'),
            sum(input_tokens + output_tokens + cache_creation_input_tokens + cache_read_input_tokens),
            sum(cost_nanos), sum(unpriced)
         FROM api_key_request_log WHERE started_at >= ?1 GROUP BY hour ORDER BY hour",
        [since],
    )
}

/// Tokens per bucket and per model or key: (bucket, label, tokens) rows, hourly from the
/// request log since `since`, or daily from the rollup from `first_day` on.
pub fn tokens_by(
    conn: &Connection,
    by: By,
    hourly: bool,
    since: i64,
    first_day: &str,
) -> Result<Vec<(String, String, i64)>> {
    let label = match by {
        By::Key => "coalesce(g.name || '/' || k.name, '(deleted key)')",
        _ => "coalesce(nullif(u.model, ''), '(none)')",
    };
    let tokens = "sum(u.input_tokens + u.output_tokens + u.cache_creation_input_tokens
        + u.cache_read_input_tokens)";
    let joins =
        "LEFT JOIN api_keys k ON k.id = u.api_key_id LEFT JOIN groups g ON g.id = k.group_id";
    let (sql, from): (String, rusqlite::types::Value) = if hourly {
        (
            format!(
                "SELECT CAST((u.started_at / 3600000) * 3600000 AS TEXT) AS b, {label} AS l,
                    {tokens} FROM api_key_request_log u {joins}
                 WHERE u.started_at >= ?1 GROUP BY b, l"
            ),
            since.into(),
        )
    } else {
        (
            format!(
                "SELECT u.day AS b, {label} AS l, {tokens} FROM usage_daily u {joins}
                 WHERE u.day >= ?1 GROUP BY b, l"
            ),
            first_day.to_owned().into(),
        )
    };
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([from], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get::<_, Option<i64>>(2)?.unwrap_or(0),
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Daily buckets from `first_day` on (from the daily rollup, which outlives pruned log rows).
pub fn daily(conn: &Connection, first_day: &str) -> Result<Vec<Bucket>> {
    buckets(
        conn,
        "SELECT day, sum(requests), sum(error_requests),
            sum(input_tokens + output_tokens + cache_creation_input_tokens + cache_read_input_tokens),
            sum(cost_nanos), sum(unpriced_requests)
         FROM usage_daily WHERE day >= ?1 GROUP BY day ORDER BY day",
        [first_day],
    )
}

/// One key's daily buckets from `first_day` on (the member's own page).
/// One key's daily buckets from `first_day` on (its page and the member's own page).
pub fn key_days(conn: &Connection, key_id: i64, first_day: &str) -> Result<Vec<Bucket>> {
    buckets(
        conn,
        "SELECT day, sum(requests), sum(error_requests),
            sum(input_tokens + output_tokens + cache_creation_input_tokens + cache_read_input_tokens),
            sum(cost_nanos), sum(unpriced_requests)
         FROM usage_daily WHERE api_key_id = ?1 AND day >= ?2 GROUP BY day ORDER BY day",
        params![key_id, first_day],
    )
}

/// When the key's newest logged request started.
pub fn key_last_used(conn: &Connection, key_id: i64) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT max(started_at) FROM api_key_request_log WHERE api_key_id = ?1")?
        .query_row([key_id], |r| r.get(0))?)
}

/// One model's use by one key.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ModelUse {
    pub model: String,
    pub requests: i64,
    pub tokens: i64,
    pub cost_nanos: i64,
    /// Requests the model had no price for: `cost_nanos` leaves them out.
    pub unpriced_requests: i64,
}

/// One key's use per model since `since` (epoch ms), most requested first.
pub fn key_models(conn: &Connection, key_id: i64, since: i64) -> Result<Vec<ModelUse>> {
    let mut stmt = conn.prepare_cached(
        "SELECT coalesce(model, ''), count(*),
            coalesce(sum(input_tokens + output_tokens + cache_creation_input_tokens
                + cache_read_input_tokens), 0),
            coalesce(sum(cost_nanos), 0), coalesce(sum(unpriced), 0)
         FROM api_key_request_log WHERE api_key_id = ?1 AND started_at >= ?2
         GROUP BY model ORDER BY count(*) DESC, model",
    )?;
    let rows = stmt.query_map(params![key_id, since], |r| {
        Ok(ModelUse {
            model: r.get(0)?,
            requests: r.get(1)?,
            tokens: r.get(2)?,
            cost_nanos: r.get(3)?,
            unpriced_requests: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Runs a query whose rows are (label, requests, errors, tokens, cost).
fn buckets(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<Vec<Bucket>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(args, |r| {
        Ok(Bucket {
            at: r.get(0)?,
            requests: r.get(1)?,
            errors: r.get(2)?,
            tokens: r.get(3)?,
            cost_nanos: r.get(4)?,
            unpriced_requests: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
