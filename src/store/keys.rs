//! SQL for `api_keys`: member keys stored as SHA-256 with a display prefix, and their limits.

use std::collections::HashSet;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::now_ms;
use crate::domain::KeyStatus;
use crate::error::{Error, Result};

/// A key's limits; `None` (or an empty list) means no limit. Costs are nano-dollars.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Limits {
    pub expires_at: Option<i64>,
    pub expires_days_after_first_use: Option<i64>,
    pub rate_requests: Option<i64>,
    pub rate_window_minutes: Option<i64>,
    pub concurrency: Option<i64>,
    pub queue: Option<i64>,
    pub daily_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    #[serde(rename = "daily_cost_usd", serialize_with = "usd")]
    pub daily_cost_nanos: Option<i64>,
    #[serde(rename = "weekly_cost_usd", serialize_with = "usd")]
    pub weekly_cost_nanos: Option<i64>,
    #[serde(rename = "total_cost_usd", serialize_with = "usd")]
    pub total_cost_nanos: Option<i64>,
    // Boxed slices, not vectors: a key's limits then take 240 bytes, which with the `Arc`
    // around them fill one 256-byte allocation where 264 would take 320.
    pub models: Box<[String]>,
    pub clients: Box<[String]>,
    pub platforms: Box<[String]>,
    /// Weight in the fair share of the group's subscription windows (`None`: 1).
    pub share: Option<i64>,
}

/// Serializes nano-dollars as a USD number, for JSON readers.
pub(super) fn usd<S: serde::Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(n) => s.serialize_f64(*n as f64 / crate::domain::NANOS_PER_USD as f64),
        None => s.serialize_none(),
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ApiKey {
    pub id: i64,
    pub group_id: i64,
    pub group: String,
    pub name: String,
    pub description: Option<String>,
    /// The first characters of the key, enough to recognise it.
    pub prefix: String,
    pub status: KeyStatus,
    pub first_used_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
    /// Shared by the keys with equal limits that [`list_with_hashes`] reads: most of a large
    /// team's keys carry one of a few limit sets, and a copy each was more than half of a
    /// loaded key's memory (264 of about 490 bytes, measured with 10 000 keys).
    pub limits: Arc<Limits>,
}

/// The columns `from_row` reads, with the last use found by `last_used`.
fn select(last_used: &str) -> String {
    format!(
        "SELECT k.id, k.group_id, g.name, k.name, k.description, k.key_prefix,
            k.status, k.first_used_at, {last_used}, k.created_at,
            k.expires_at, k.expires_days_after_first_use, k.rate_requests, k.rate_window_minutes,
            k.concurrency, k.queue, k.daily_tokens, k.total_tokens, k.daily_cost_nanos,
            k.weekly_cost_nanos, k.total_cost_nanos, k.allowed_models, k.allowed_clients,
            k.allowed_platforms, k.key_hash, k.fair_share
        FROM api_keys k JOIN groups g ON g.id = k.group_id
        WHERE k.deleted_at IS NULL"
    )
}

/// A key's last use as people see it: its newest logged request.
const LAST_USED_FROM_LOG: &str = "coalesce((SELECT max(l.started_at) FROM api_key_request_log l
    WHERE l.api_key_id = k.id), k.last_used_at)";

fn list_of(idx: usize, r: &rusqlite::Row<'_>) -> rusqlite::Result<Box<[String]>> {
    let text: String = r.get(idx)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, e.into())
    })
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKey> {
    let status: String = r.get(6)?;
    Ok(ApiKey {
        id: r.get(0)?,
        group_id: r.get(1)?,
        group: r.get(2)?,
        name: r.get(3)?,
        description: r.get(4)?,
        prefix: r.get(5)?,
        status: status.parse().map_err(|e: String| {
            rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, e.into())
        })?,
        first_used_at: r.get(7)?,
        last_used_at: r.get(8)?,
        created_at: r.get(9)?,
        limits: Arc::new(Limits {
            expires_at: r.get(10)?,
            expires_days_after_first_use: r.get(11)?,
            rate_requests: r.get(12)?,
            rate_window_minutes: r.get(13)?,
            concurrency: r.get(14)?,
            queue: r.get(15)?,
            daily_tokens: r.get(16)?,
            total_tokens: r.get(17)?,
            daily_cost_nanos: r.get(18)?,
            weekly_cost_nanos: r.get(19)?,
            total_cost_nanos: r.get(20)?,
            models: list_of(21, r)?,
            clients: list_of(22, r)?,
            platforms: list_of(23, r)?,
            share: r.get(25)?,
        }),
    })
}

fn json(v: &[String]) -> String {
    serde_json::to_string(v).expect("strings serialize")
}

pub fn insert(
    conn: &Connection,
    group_id: i64,
    name: &str,
    key_hash: &str,
    prefix: &str,
    limits: &Limits,
) -> Result<i64> {
    let now = now_ms();
    conn.execute(
        "INSERT INTO api_keys (group_id, name, key_hash, key_prefix, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![group_id, name, key_hash, prefix, now],
    )?;
    let id = conn.last_insert_rowid();
    update_limits(conn, id, limits)?;
    Ok(id)
}

pub fn update_limits(conn: &Connection, id: i64, l: &Limits) -> Result<()> {
    let n = conn.execute(
        "UPDATE api_keys SET expires_at = ?2, expires_days_after_first_use = ?3,
            rate_requests = ?4, rate_window_minutes = ?5, concurrency = ?6, queue = ?7,
            daily_tokens = ?8, total_tokens = ?9, daily_cost_nanos = ?10,
            weekly_cost_nanos = ?11, total_cost_nanos = ?12, allowed_models = ?13,
            allowed_clients = ?14, allowed_platforms = ?15, updated_at = ?16, fair_share = ?17
         WHERE id = ?1",
        params![
            id,
            l.expires_at,
            l.expires_days_after_first_use,
            l.rate_requests,
            l.rate_window_minutes,
            l.concurrency,
            l.queue,
            l.daily_tokens,
            l.total_tokens,
            l.daily_cost_nanos,
            l.weekly_cost_nanos,
            l.total_cost_nanos,
            json(&l.models),
            json(&l.clients),
            json(&l.platforms),
            now_ms(),
            l.share,
        ],
    )?;
    if n == 0 {
        return Err(Error::NotFound(format!("no key with id {id}")));
    }
    Ok(())
}

pub fn list(conn: &Connection) -> Result<Vec<ApiKey>> {
    let mut stmt = conn.prepare(&format!(
        "{} ORDER BY g.name, k.name",
        select(LAST_USED_FROM_LOG)
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every key with its hex SHA-256, for the gateway's in-memory lookup table. The gateway
/// never shows a key's last use, so it is not looked up in the request log: that lookup, one
/// index search per key, made every snapshot reload read the log.
pub fn list_with_hashes(conn: &Connection) -> Result<Vec<(String, ApiKey)>> {
    let mut stmt = conn.prepare(&select("k.last_used_at"))?;
    let mut shared: HashSet<Arc<Limits>> = HashSet::new();
    let rows = stmt.query_map([], |r| {
        let mut key = from_row(r)?;
        match shared.get(&key.limits) {
            Some(same) => key.limits = same.clone(),
            None => {
                shared.insert(key.limits.clone());
            }
        }
        Ok((r.get(24)?, key))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn find_by_id(conn: &Connection, id: i64) -> Result<Option<ApiKey>> {
    Ok(conn
        .query_row(
            &format!("{} AND k.id = ?1", select(LAST_USED_FROM_LOG)),
            [id],
            from_row,
        )
        .optional()?)
}

pub fn set_status(conn: &Connection, id: i64, status: KeyStatus) -> Result<()> {
    let n = conn.execute(
        "UPDATE api_keys SET status = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, status.as_str(), now_ms()],
    )?;
    if n == 0 {
        return Err(Error::NotFound(format!("no key with id {id}")));
    }
    Ok(())
}

/// Renames key `id` (unique within its group).
pub fn rename(conn: &Connection, id: i64, name: &str) -> Result<()> {
    let n = conn.execute(
        "UPDATE api_keys SET name = ?2, updated_at = ?3 WHERE id = ?1 AND deleted_at IS NULL",
        params![id, name, now_ms()],
    )?;
    if n == 0 {
        return Err(Error::NotFound(format!("no key with id {id}")));
    }
    Ok(())
}

/// Deletes key `id`, keeping its row for history: revoked, marked deleted and renamed so its
/// name is free in its group.
pub fn mark_deleted(conn: &Connection, id: i64) -> Result<()> {
    let now = now_ms();
    let n = conn.execute(
        "UPDATE api_keys SET deleted_at = ?2, status = 'revoked',
            name = name || ' (deleted #' || id || ')', updated_at = ?2
         WHERE id = ?1 AND deleted_at IS NULL",
        params![id, now],
    )?;
    if n == 0 {
        return Err(Error::NotFound(format!("no key with id {id}")));
    }
    Ok(())
}

/// Records a key's first use, once (expiry counted from first use starts here).
pub fn set_first_used(conn: &Connection, id: i64, at: i64) -> Result<()> {
    conn.execute(
        "UPDATE api_keys SET first_used_at = ?2 WHERE id = ?1 AND first_used_at IS NULL",
        params![id, at],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_together_share_equal_limits_and_keep_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.db");
        crate::store::migrate::prepare(&path, &dir.path().join("backups")).unwrap();
        let conn = crate::store::open_connection(&path).unwrap();
        conn.execute("INSERT INTO groups (id, name) VALUES (1, 'team')", [])
            .unwrap();
        let capped = Limits {
            daily_tokens: Some(1_000),
            models: Box::new(["claude-sonnet-4-5".into()]),
            ..Default::default()
        };
        let other = Limits {
            daily_tokens: Some(2_000),
            ..capped.clone()
        };
        for (i, l) in [&capped, &other, &capped, &Limits::default()]
            .iter()
            .enumerate()
        {
            insert(&conn, 1, &format!("k{i}"), &format!("{i:064}"), "acp_", l).unwrap();
        }
        let mut keys = list_with_hashes(&conn).unwrap();
        keys.sort_by_key(|(_, k)| k.id);
        let l: Vec<&Arc<Limits>> = keys.iter().map(|(_, k)| &k.limits).collect();
        assert_eq!((&**l[0], &**l[1]), (&capped, &other));
        assert!(Arc::ptr_eq(l[0], l[2]), "equal limits are one copy");
        assert!(!Arc::ptr_eq(l[0], l[1]) && !Arc::ptr_eq(l[0], l[3]));
        assert_eq!(**l[3], Limits::default());
        // With the Arc's two counters, one key's own limits fit one 256-byte allocation.
        assert!(std::mem::size_of::<Limits>() + 16 <= 256);
    }
}
