//! SQL for `api_key_request_log` (one row per request) and its `usage_daily` rollup.

use std::borrow::Cow;

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use crate::domain::Outcome;
use crate::error::Result;

mod charts;
mod line;
pub use charts::*;

/// One request, as it is logged (and journaled as a JSON line until it is).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub request_id: String,
    pub api_key_id: i64,
    pub group_id: i64,
    pub account_id: Option<i64>,
    pub protocol: Cow<'static, str>,
    pub endpoint: Cow<'static, str>,
    /// The model the client asked for.
    pub model: Option<String>,
    /// The model the upstream was asked for or answered as, when different.
    #[serde(default)]
    pub upstream_model: Option<String>,
    pub stream: bool,
    pub status_code: u16,
    pub outcome: Outcome,
    pub error_message: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
    /// `None` when the model has no price: unknown, not free.
    pub cost_nanos: Option<i64>,
    pub attempts: u32,
    pub client: Cow<'static, str>,
    pub user_agent: Option<String>,
    pub started_at: i64,
    pub duration_ms: i64,
    pub first_byte_ms: Option<i64>,
    /// The calendar day of `started_at` the rollup row belongs to (YYYY-MM-DD).
    pub day: String,
    /// Answered by an account of another protocol, through translation.
    #[serde(default)]
    pub translated: bool,
    /// The attempts that failed before the last one, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tried: Vec<Tried>,
}

/// Group 1 and its key 1, whom [`Record::sample`] belongs to, in a migrated database.
#[cfg(test)]
pub(crate) fn seed_sample_key(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch(
        "INSERT INTO groups (id, name) VALUES (1, 'g');
         INSERT INTO api_keys (id, group_id, name, key_hash, key_prefix)
         VALUES (1, 1, 'k', printf('%064d', 0), 'acp_');",
    )
}

#[cfg(test)]
impl Record {
    /// A finished streaming Messages request of key 1 in group 1: 10 tokens in, 20 out.
    pub(crate) fn sample(request_id: &str) -> Record {
        Record {
            request_id: request_id.into(),
            api_key_id: 1,
            group_id: 1,
            account_id: None,
            protocol: "anthropic".into(),
            endpoint: "/v1/messages".into(),
            model: Some("claude-sonnet-4-5".into()),
            upstream_model: None,
            stream: true,
            status_code: 200,
            outcome: Outcome::Ok,
            error_message: None,
            input_tokens: 10,
            output_tokens: 20,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            cost_nanos: Some(330_000),
            attempts: 1,
            client: "sdk".into(),
            user_agent: None,
            started_at: 1_700_000_000_000,
            duration_ms: 5,
            first_byte_ms: Some(1),
            day: "2023-11-14".into(),
            translated: false,
            tried: Vec::new(),
        }
    }
}

/// One failed attempt of a request: the account, what it answered, why it did not serve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tried {
    pub account_id: i64,
    /// The upstream's status; none when it could not be reached or the request not translated.
    pub status: Option<u16>,
    pub error: String,
}

/// Writes the request-log rows and adds them to the daily rollup, in the caller's transaction.
/// A request id already logged is ignored, so replaying a record never counts it twice. The
/// rollup gets one upsert per (day, key, account, model) in the batch, not one per row: a
/// batch of a busy minute touches a handful of rollup rows.
pub fn insert(conn: &Connection, records: &[Record]) -> Result<()> {
    let mut inserted: Vec<&Record> = Vec::with_capacity(records.len());
    let mut chunks = records.chunks_exact(ROWS_PER_STATEMENT);
    if chunks.len() > 0 {
        // Looked up by its text (about 10 kB) only when there is a chunk for it.
        let mut many = conn.prepare_cached(&LOG_INSERT[1])?;
        for chunk in &mut chunks {
            for (i, r) in chunk.iter().enumerate() {
                bind(&mut many, i * COLUMNS, r)?;
            }
            match many.raw_execute()? {
                n if n == chunk.len() => inserted.extend(chunk),
                n => inserted.extend(newest_of(conn, chunk, n)?),
            }
            // This runs on the writer's own thread, often on the core a request's thread is
            // about to wake on: giving way after each chunk keeps that wait to one chunk
            // (about 150 µs) rather than the whole batch.
            std::thread::yield_now();
        }
    }
    let mut one = conn.prepare_cached(&LOG_INSERT[0])?;
    for r in chunks.remainder() {
        bind(&mut one, 0, r)?;
        if one.raw_execute()? == 1 {
            inserted.push(r);
        }
    }
    // Keyed by (day, key, account, model); the values are the rollup's counters. Hashed by
    // foldhash: SipHash on every row was about 1 % of the writer's time at 64 concurrent
    // requests.
    let mut rollup: foldhash::HashMap<(&str, i64, i64, &str), [i64; 8]> =
        foldhash::HashMap::default();
    for r in inserted {
        let key = (
            r.day.as_str(),
            r.api_key_id,
            r.account_id.unwrap_or(0),
            r.model.as_deref().unwrap_or(""),
        );
        let sums = rollup.entry(key).or_default();
        let add = [
            1,
            r.input_tokens,
            r.output_tokens,
            r.cache_creation_input_tokens,
            r.cache_read_input_tokens,
            r.cost_nanos.unwrap_or(0),
            r.cost_nanos.is_none() as i64,
            (r.outcome != Outcome::Ok) as i64,
        ];
        sums.iter_mut().zip(add).for_each(|(s, a)| *s += a);
    }
    let mut up = conn.prepare_cached(
        "INSERT INTO usage_daily (day, api_key_id, account_id, model, requests, input_tokens,
            output_tokens, cache_creation_input_tokens, cache_read_input_tokens, cost_nanos,
            unpriced_requests, error_requests)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (day, api_key_id, account_id, model) DO UPDATE SET
            requests = requests + excluded.requests,
            input_tokens = input_tokens + excluded.input_tokens,
            output_tokens = output_tokens + excluded.output_tokens,
            cache_creation_input_tokens = cache_creation_input_tokens + excluded.cache_creation_input_tokens,
            cache_read_input_tokens = cache_read_input_tokens + excluded.cache_read_input_tokens,
            cost_nanos = cost_nanos + excluded.cost_nanos,
            unpriced_requests = unpriced_requests + excluded.unpriced_requests,
            error_requests = error_requests + excluded.error_requests",
    )?;
    for ((day, key, account, model), s) in rollup {
        up.execute(params![
            day, key, account, model, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
        ])?;
    }
    Ok(())
}

/// The request log's columns, in the order [`bind`] binds them.
const COLUMNS: usize = 26;

/// Rows one statement inserts. Each statement opens a cursor on the table and on each of its
/// indexes and closes them again, which cost about as much as a row; 32 rows share that.
const ROWS_PER_STATEMENT: usize = 32;

/// The insert of one row, and of [`ROWS_PER_STATEMENT`] rows.
static LOG_INSERT: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
    let sql = |rows: usize| {
        let row = format!("({})", vec!["?"; COLUMNS].join(", "));
        format!(
            "INSERT INTO api_key_request_log (request_id, api_key_id, group_id, account_id,
                protocol, endpoint, model, stream, status_code, outcome, error_message,
                input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens,
                cost_nanos, unpriced, attempts, client, user_agent, started_at, duration_ms,
                first_byte_ms, upstream_model, translated, tried)
             VALUES {}
             ON CONFLICT (request_id) DO NOTHING",
            vec![row; rows].join(", ")
        )
    };
    [sql(1), sql(ROWS_PER_STATEMENT)]
});

/// Binds `r`'s row to the statement's parameters after the first `before`.
fn bind(st: &mut rusqlite::Statement<'_>, before: usize, r: &Record) -> Result<()> {
    let tried =
        (!r.tried.is_empty()).then(|| serde_json::to_string(&r.tried).expect("plain values"));
    let values: [&dyn rusqlite::ToSql; COLUMNS] = [
        &r.request_id,
        &r.api_key_id,
        &r.group_id,
        &r.account_id,
        &r.protocol,
        &r.endpoint,
        &r.model,
        &r.stream,
        &r.status_code,
        &r.outcome.as_str(),
        &r.error_message,
        &r.input_tokens,
        &r.output_tokens,
        &r.cache_creation_input_tokens,
        &r.cache_read_input_tokens,
        &r.cost_nanos.unwrap_or(0),
        &r.cost_nanos.is_none(),
        &r.attempts,
        &r.client,
        &r.user_agent,
        &r.started_at,
        &r.duration_ms,
        &r.first_byte_ms,
        &r.upstream_model,
        &r.translated,
        &tried,
    ];
    for (i, v) in values.into_iter().enumerate() {
        st.raw_bind_parameter(before + i + 1, v)?;
    }
    Ok(())
}

/// Which of `chunk`'s records its statement inserted when it inserted only `n` of them (the
/// rest were logged already: a replayed journal). The rows a statement adds take the highest
/// ids, and of a request id repeated within the chunk the first is the one inserted.
fn newest_of<'a>(conn: &Connection, chunk: &'a [Record], n: usize) -> Result<Vec<&'a Record>> {
    let mut st = conn
        .prepare_cached("SELECT request_id FROM api_key_request_log ORDER BY id DESC LIMIT ?1")?;
    let mut ids = st
        .query_map([n as i64], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<std::collections::HashSet<String>>>()?;
    Ok(chunk.iter().filter(|r| ids.remove(&r.request_id)).collect())
}

/// Whose usage [`sums_since`] adds up.
#[derive(Clone, Copy, Debug)]
pub enum Per {
    Key,
    Group,
}

/// Tokens (all four kinds) and cost per key or group of requests started at or after `since`.
pub fn sums_since(conn: &Connection, since: i64, per: Per) -> Result<Vec<(i64, i64, i64)>> {
    let column = match per {
        Per::Key => "api_key_id",
        Per::Group => "group_id",
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT {column}, sum(input_tokens + output_tokens + cache_creation_input_tokens
                + cache_read_input_tokens), sum(cost_nanos)
         FROM api_key_request_log
         WHERE started_at >= ?1 AND {column} IS NOT NULL
         GROUP BY {column}"
    ))?;
    let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// All-time tokens and cost per key, from the daily rollup (which outlives pruned log rows).
pub fn key_totals(conn: &Connection) -> Result<Vec<(i64, i64, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT api_key_id, sum(input_tokens + output_tokens + cache_creation_input_tokens
                + cache_read_input_tokens), sum(cost_nanos)
         FROM usage_daily GROUP BY api_key_id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Requests without a price per key: since `since` from the request log, or all time (from
/// the daily rollup, which outlives pruned rows) when `since` is `None`.
pub fn unpriced_per_key(conn: &Connection, since: Option<i64>) -> Result<Vec<(i64, i64)>> {
    let sql = match since {
        Some(_) => {
            "SELECT api_key_id, count(*) FROM api_key_request_log
             WHERE started_at >= ?1 AND unpriced = 1 AND api_key_id IS NOT NULL
             GROUP BY api_key_id"
        }
        None => {
            "SELECT api_key_id, sum(unpriced_requests) FROM usage_daily
             WHERE unpriced_requests > 0 AND ?1 IS NULL GROUP BY api_key_id"
        }
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// (key, start time) of every request let through since `since`, oldest first.
pub fn admissions_since(conn: &Connection, since: i64) -> Result<Vec<(i64, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT api_key_id, started_at FROM api_key_request_log
         WHERE started_at >= ?1 AND outcome <> 'refused' AND api_key_id IS NOT NULL
         ORDER BY started_at",
    )?;
    let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

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
    /// Requests whose model has no price; `cost_nanos` leaves them out.
    pub unpriced_requests: i64,
}

const SUMS: &str = "count(*), coalesce(sum(l.input_tokens), 0), coalesce(sum(l.output_tokens), 0),
    coalesce(sum(l.cache_creation_input_tokens), 0), coalesce(sum(l.cache_read_input_tokens), 0),
    coalesce(sum(l.cost_nanos), 0), coalesce(sum(l.unpriced), 0)";

fn totals(label: Option<String>, r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Totals> {
    Ok(Totals {
        label,
        requests: r.get(at)?,
        input_tokens: r.get(at + 1)?,
        output_tokens: r.get(at + 2)?,
        cache_creation_input_tokens: r.get(at + 3)?,
        cache_read_input_tokens: r.get(at + 4)?,
        cost_nanos: r.get(at + 5)?,
        unpriced_requests: r.get(at + 6)?,
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

/// Which request-log rows a page shows; every field narrows it.
#[derive(Clone, Debug, Default)]
pub struct LogFilter {
    pub key_id: Option<i64>,
    pub account_id: Option<i64>,
    /// One request, by the id its response carried (`x-aicarpool-request-id`).
    pub request_id: Option<String>,
    pub model: Option<String>,
    /// `ok`, `error` (anything else), or one HTTP status code.
    pub status: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Rows older than this id (the previous page's last id).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// One request-log row as the admin page shows it.
#[derive(Clone, Debug, Serialize)]
pub struct LogRow {
    pub id: i64,
    pub request_id: String,
    pub started_at: i64,
    pub key: Option<String>,
    pub api_key_id: Option<i64>,
    pub account: Option<String>,
    pub account_id: Option<i64>,
    pub endpoint: String,
    pub model: Option<String>,
    pub upstream_model: Option<String>,
    pub stream: bool,
    pub status_code: i64,
    pub outcome: String,
    pub error_message: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub cost_nanos: i64,
    pub unpriced: bool,
    pub attempts: i64,
    pub client: Option<String>,
    pub duration_ms: Option<i64>,
    pub first_byte_ms: Option<i64>,
    pub translated: bool,
    /// The attempts that failed first: account, status, why.
    pub tried: Vec<Tried>,
}

/// A request on an account of one platform, for the fair share's rebuild.
pub struct Recent {
    pub key_id: i64,
    pub group_id: i64,
    pub account_id: i64,
    pub at: i64,
    pub cost_nanos: Option<i64>,
    pub tokens: i64,
}

/// The requests since `since` answered by accounts of `platform`, oldest first.
pub fn recent_on_platform(conn: &Connection, platform: &str, since: i64) -> Result<Vec<Recent>> {
    let mut stmt = conn.prepare(
        "SELECT l.api_key_id, l.group_id, l.account_id, l.started_at,
            CASE WHEN l.unpriced THEN NULL ELSE l.cost_nanos END,
            l.input_tokens + l.output_tokens + l.cache_creation_input_tokens
                + l.cache_read_input_tokens
         FROM api_key_request_log l JOIN ai_service_accounts a ON a.id = l.account_id
         WHERE a.platform = ?1 AND l.started_at >= ?2 ORDER BY l.started_at",
    )?;
    let rows = stmt.query_map(params![platform, since], |r| {
        Ok(Recent {
            key_id: r.get(0)?,
            group_id: r.get(1)?,
            account_id: r.get(2)?,
            at: r.get(3)?,
            cost_nanos: r.get(4)?,
            tokens: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A page of the request log, newest first, read by id so a page never loads the whole log.
pub fn log_page(conn: &Connection, f: &LogFilter) -> Result<Vec<LogRow>> {
    let mut sql = String::from(
        "SELECT l.id, l.request_id, l.started_at, g.name || '/' || k.name, l.api_key_id, a.name,
            l.account_id, l.endpoint, l.model, l.upstream_model, l.stream, l.status_code,
            l.outcome, l.error_message, l.input_tokens, l.output_tokens,
            l.cache_creation_input_tokens, l.cache_read_input_tokens, l.cost_nanos, l.unpriced,
            l.attempts, l.client, l.duration_ms, l.first_byte_ms, l.translated, l.tried
         FROM api_key_request_log l
         LEFT JOIN api_keys k ON k.id = l.api_key_id
         LEFT JOIN groups g ON g.id = k.group_id
         LEFT JOIN ai_service_accounts a ON a.id = l.account_id
         WHERE 1 = 1",
    );
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut add = |clause: &str, v: rusqlite::types::Value| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    use rusqlite::types::Value::{Integer, Text};
    if let Some(v) = f.key_id {
        add(" AND l.api_key_id = ?", Integer(v));
    }
    if let Some(v) = f.account_id {
        add(" AND l.account_id = ?", Integer(v));
    }
    if let Some(v) = &f.request_id {
        add(" AND l.request_id = ?", Text(v.clone()));
    }
    if let Some(v) = &f.model {
        add(" AND l.model = ?", Text(v.clone()));
    }
    match f.status.as_deref() {
        Some("ok") => add(" AND l.outcome = ?", Text("ok".into())),
        Some("error") => add(" AND l.outcome <> ?", Text("ok".into())),
        Some(code) => {
            if let Ok(n) = code.parse::<i64>() {
                add(" AND l.status_code = ?", Integer(n));
            }
        }
        None => {}
    }
    if let Some(v) = f.from {
        add(" AND l.started_at >= ?", Integer(v));
    }
    if let Some(v) = f.to {
        add(" AND l.started_at < ?", Integer(v));
    }
    if let Some(v) = f.before_id {
        add(" AND l.id < ?", Integer(v));
    }
    add(
        " ORDER BY l.id DESC LIMIT ?",
        Integer(f.limit.clamp(1, 500)),
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
        Ok(LogRow {
            id: r.get(0)?,
            request_id: r.get(1)?,
            started_at: r.get(2)?,
            key: r.get(3)?,
            api_key_id: r.get(4)?,
            account: r.get(5)?,
            account_id: r.get(6)?,
            endpoint: r.get(7)?,
            model: r.get(8)?,
            upstream_model: r.get(9)?,
            stream: r.get(10)?,
            status_code: r.get(11)?,
            outcome: r.get(12)?,
            error_message: r.get(13)?,
            input_tokens: r.get(14)?,
            output_tokens: r.get(15)?,
            cache_creation_input_tokens: r.get(16)?,
            cache_read_input_tokens: r.get(17)?,
            cost_nanos: r.get(18)?,
            unpriced: r.get(19)?,
            attempts: r.get(20)?,
            client: r.get(21)?,
            duration_ms: r.get(22)?,
            first_byte_ms: r.get(23)?,
            translated: r.get(24)?,
            tried: r
                .get::<_, Option<String>>(25)?
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default(),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deletes up to `limit` request-log rows started before `before` (epoch ms), oldest first;
/// returns how many. The daily rollup keeps their totals.
pub fn prune_log(conn: &Connection, before: i64, limit: i64) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM api_key_request_log WHERE id IN (
            SELECT id FROM api_key_request_log WHERE started_at < ?1 ORDER BY started_at LIMIT ?2)",
        params![before, limit],
    )?)
}

#[cfg(test)]
mod tests;
