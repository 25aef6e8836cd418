//! SQLite storage: opening connections with the right pragmas, the async wrapper that keeps
//! SQLite off the async threads, and one file per table with the SQL next to it.

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
pub mod settings;
pub mod usage;

pub use db::{Db, now_ms, open_connection};
