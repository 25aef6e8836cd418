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
        (SELECT count(*) FROM api_keys k WHERE k.group_id = g.id AND k.status = 'active'),
        (SELECT count(*) FROM group_members m WHERE m.group_id = g.id)
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
    })
}

pub fn list(conn: &Connection) -> Result<Vec<Group>> {
    let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY g.name"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn find_by_id(conn: &Connection, id: i64) -> Result<Option<Group>> {
    Ok(conn
        .query_row(&format!("{SELECT} WHERE g.id = ?1"), [id], from_row)
        .optional()?)
}

/// Id of the group named `name` (case-insensitive).
pub fn find_id_by_name(conn: &Connection, name: &str) -> Result<Option<i64>> {
    Ok(conn
        .query_row("SELECT id FROM groups WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?)
}
