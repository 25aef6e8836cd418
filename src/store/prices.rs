//! SQL for `model_prices`: list prices in nano-dollars per token.

use rusqlite::Connection;

use crate::error::Result;
use crate::gateway::usage::Price;

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
