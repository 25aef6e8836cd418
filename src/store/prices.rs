//! SQL for `model_prices`: list prices in nano-dollars per token.

use rusqlite::Connection;

use crate::domain::Price;
use crate::error::Result;

pub fn list(conn: &Connection) -> Result<Vec<(String, Price)>> {
    let mut stmt = conn.prepare(
        "SELECT model, input_nanos, output_nanos, cache_write_nanos, cache_write_1h_nanos,
            cache_read_nanos FROM model_prices ORDER BY model",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            Price {
                input: r.get(1)?,
                output: r.get(2)?,
                cache_write: r.get(3)?,
                cache_write_1h: r.get(4)?,
                cache_read: r.get(5)?,
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Adds or replaces the price of `model`.
pub fn set(conn: &Connection, model: &str, p: &Price) -> Result<()> {
    conn.execute(
        "INSERT INTO model_prices (model, input_nanos, output_nanos, cache_write_nanos,
            cache_write_1h_nanos, cache_read_nanos, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (model) DO UPDATE SET input_nanos = excluded.input_nanos,
            output_nanos = excluded.output_nanos, cache_write_nanos = excluded.cache_write_nanos,
            cache_write_1h_nanos = excluded.cache_write_1h_nanos,
            cache_read_nanos = excluded.cache_read_nanos, updated_at = excluded.updated_at",
        rusqlite::params![
            model,
            p.input,
            p.output,
            p.cache_write,
            p.cache_write_1h,
            p.cache_read,
            super::now_ms()
        ],
    )?;
    Ok(())
}

/// Removes the price of `model`; false when it had none.
pub fn remove(conn: &Connection, model: &str) -> Result<bool> {
    Ok(conn.execute("DELETE FROM model_prices WHERE model = ?1", [model])? > 0)
}
