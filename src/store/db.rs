//! The async face of the database: reads on a small pool of connections in `spawn_blocking`,
//! writes through the single writer thread.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::writer::Writer;
use crate::error::{Error, Result};

/// How long a connection waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle read connections kept for reuse.
const MAX_IDLE_READERS: usize = 8;

/// Opens a connection with the pragmas every connection of the product uses.
pub fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // journal_mode answers with a row, so it is read rather than executed.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Internal(format!(
            "{} cannot use WAL journaling (got {mode})",
            path.display()
        )));
    }
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    Ok(conn)
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    writer: Writer,
}

impl Db {
    /// Opens the database at `path` and starts its writer thread. The schema must already be
    /// current (see [`super::migrate::prepare`]).
    pub fn open(path: &Path) -> Result<Db> {
        let conn = open_connection(path)?;
        // The writer gets a larger page cache than the readers' default, so the pages the
        // request log's inserts touch (the right edges of its indexes) stay in memory. No
        // memory map: mapped pages of a growing database would count as the process's own
        // memory, and the inserts, time-ordered, need few pages (measured in the benchmark).
        //
        // Temporary files in memory: every job runs in a savepoint, and a batch of usage rows
        // outgrows the savepoint journal's in-memory spill limit, which opened, wrote and
        // deleted a temporary file per batch (seen at 70 a second under load).
        conn.execute_batch("PRAGMA cache_size = -8192; PRAGMA temp_store = MEMORY;")?;
        let writer = Writer::start(conn)?;
        Ok(Db {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                readers: Mutex::new(Vec::new()),
                writer,
            }),
        })
    }

    /// Runs `f` on a read connection without blocking the async threads.
    pub async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().expect("reader pool").pop();
            let conn = match pooled {
                Some(c) => c,
                None => {
                    let c = open_connection(&inner.path)?;
                    c.execute_batch("PRAGMA query_only = ON")?;
                    c
                }
            };
            let result = f(&conn);
            // An idle reader keeps no pages: a scan (the snapshot's keys, a chart's rows)
            // would otherwise leave each pooled connection holding up to its 2 MB cache for
            // good. The next read takes its pages from the OS's file cache.
            let _ = conn.execute_batch("PRAGMA shrink_memory");
            {
                let mut pool = inner.readers.lock().expect("reader pool");
                if pool.len() < MAX_IDLE_READERS {
                    pool.push(conn);
                }
            }
            // At most every few seconds per thread: a member's status line may poll
            // `/api/me` often, and each forced walk returns pages the others reuse.
            crate::memory::idle();
            result
        })
        .await
        .map_err(|e| Error::Internal(format!("database task failed: {e}")))?
    }

    /// Runs `f` inside a write transaction on the writer thread; its changes are committed
    /// (possibly together with other writes) before this returns.
    pub async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        self.inner.writer.submit(f).await
    }

    /// [`Db::write`] for a batch of usage rows, which the journal already holds: the writer
    /// may run it at the idle CPU class, where it does not delay requests' threads.
    pub async fn write_background<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        self.inner.writer.submit_background(f).await
    }
}

/// Milliseconds since the Unix epoch, the time unit of every column.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
