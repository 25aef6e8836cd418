//! SQL for `groups` (teams) and their `group_members`.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::now_ms;
use crate::error::Result;

#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub status: String,
    pub accounts: i64,
    pub keys: i64,
    pub members: i64,
    pub created_at: i64,
    pub budgets: Budgets,
}

/// A group's shared budgets; `None` means no budget. Costs are nano-dollars.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Budgets {
    pub daily_tokens: Option<i64>,
    pub monthly_tokens: Option<i64>,
    #[serde(rename = "daily_cost_usd", serialize_with = "super::keys::usd")]
    pub daily_cost_nanos: Option<i64>,
    #[serde(rename = "monthly_cost_usd", serialize_with = "super::keys::usd")]
    pub monthly_cost_nanos: Option<i64>,
    /// Share of a budget (1–100) at which a warning event is recorded.
    pub warning_percent: i64,
}

pub fn insert(conn: &Connection, name: &str, description: Option<&str>) -> Result<i64> {
    let now = now_ms();
    conn.execute(
        "INSERT INTO groups (name, description, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
        params![name, description, now],
    )?;
    Ok(conn.last_insert_rowid())
}

const SELECT: &str = "SELECT g.id, g.name, g.description, g.status, g.created_at,
        (SELECT count(*) FROM group_accounts b WHERE b.group_id = g.id),
        (SELECT count(*) FROM api_keys k WHERE k.group_id = g.id AND k.status = 'active'
            AND k.deleted_at IS NULL),
        (SELECT count(*) FROM group_members m WHERE m.group_id = g.id),
        g.daily_token_budget, g.monthly_token_budget, g.daily_cost_budget_nanos,
        g.monthly_cost_budget_nanos, g.budget_warning_percent
    FROM groups g";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Group> {
    Ok(Group {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        status: r.get(3)?,
        created_at: r.get(4)?,
        accounts: r.get(5)?,
        keys: r.get(6)?,
        members: r.get(7)?,
        budgets: Budgets {
            daily_tokens: r.get(8)?,
            monthly_tokens: r.get(9)?,
            daily_cost_nanos: r.get(10)?,
            monthly_cost_nanos: r.get(11)?,
            warning_percent: r.get(12)?,
        },
    })
}

pub fn set_budgets(conn: &Connection, id: i64, b: &Budgets) -> Result<()> {
    conn.execute(
        "UPDATE groups SET daily_token_budget = ?2, monthly_token_budget = ?3,
            daily_cost_budget_nanos = ?4, monthly_cost_budget_nanos = ?5,
            budget_warning_percent = ?6, updated_at = ?7
         WHERE id = ?1",
        params![
            id,
            b.daily_tokens,
            b.monthly_tokens,
            b.daily_cost_nanos,
            b.monthly_cost_nanos,
            b.warning_percent,
            now_ms()
        ],
    )?;
    Ok(())
}

pub fn list(conn: &Connection) -> Result<Vec<Group>> {
    let mut stmt = conn.prepare(&format!(
        "{SELECT} WHERE g.deleted_at IS NULL ORDER BY g.name"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn find_by_id(conn: &Connection, id: i64) -> Result<Option<Group>> {
    Ok(conn
        .query_row(
            &format!("{SELECT} WHERE g.id = ?1 AND g.deleted_at IS NULL"),
            [id],
            from_row,
        )
        .optional()?)
}

/// Id of the group named `name` (case-insensitive).
pub fn find_id_by_name(conn: &Connection, name: &str) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT id FROM groups WHERE name = ?1 AND deleted_at IS NULL",
            [name],
            |r| r.get(0),
        )
        .optional()?)
}

/// Renames group `id`.
pub fn rename(conn: &Connection, id: i64, name: &str) -> Result<()> {
    let n = conn.execute(
        "UPDATE groups SET name = ?2, updated_at = ?3 WHERE id = ?1 AND deleted_at IS NULL",
        params![id, name, now_ms()],
    )?;
    if n == 0 {
        return Err(crate::error::Error::NotFound(format!(
            "no group with id {id}"
        )));
    }
    Ok(())
}

/// Deletes group `id`, keeping its row for history (marked, renamed so the name is free);
/// its keys are deleted and its accounts unbound with it.
pub fn mark_deleted(conn: &Connection, id: i64) -> Result<()> {
    let now = now_ms();
    conn.execute(
        "UPDATE api_keys SET deleted_at = ?2, status = 'revoked',
            name = name || ' (deleted #' || id || ')', updated_at = ?2
         WHERE group_id = ?1 AND deleted_at IS NULL",
        params![id, now],
    )?;
    conn.execute("DELETE FROM group_accounts WHERE group_id = ?1", [id])?;
    let n = conn.execute(
        "UPDATE groups SET deleted_at = ?2, name = name || ' (deleted #' || id || ')',
            updated_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
        params![id, now],
    )?;
    if n == 0 {
        return Err(crate::error::Error::NotFound(format!(
            "no group with id {id}"
        )));
    }
    Ok(())
}
