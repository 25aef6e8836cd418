//! SQLite storage: opening connections with the right pragmas, the async wrapper that keeps
//! SQLite off the async threads, and one file per table with the SQL next to it.

pub mod class;
mod db;
pub mod journal;
pub mod migrate;
mod writer;

pub mod accounts;
pub mod admins;
pub mod audit;
pub mod groups;
pub mod keys;
pub mod oauth_sessions;
pub mod prices;
pub mod runtime;
pub mod settings;
pub mod usage;

pub use db::{Db, now_ms, open_connection};

use crate::error::{Error, Result};

/// Creates `dir` (and its parents) 0700 unless it exists: the data directory and the usage
/// journal are the gateway's alone.
pub fn create_private_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(format!("creating data directory {}", dir.display()), e))
}
