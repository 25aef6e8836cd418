//! Schema migrations: the SQL files under `migrations/`, embedded in the binary and applied
//! with refinery, plus the checks around them — status of every migration, refusal on edited
//! or unknown ones, and a backup of the database before anything is applied to it.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::db::open_connection;
use crate::error::{Error, Result};

/// The SQL files, in the binary. Read by hand at every start (see [`up_to_date`]); refinery
/// reads them only when something is to be applied or a status is asked for.
static FILES: include_dir::Dir<'_> = include_dir::include_dir!("$CARGO_MANIFEST_DIR/migrations");

/// One embedded migration file: `V{version}__{name}.sql`.
struct Embedded {
    version: i64,
    name: &'static str,
    stem: &'static str,
    sql: &'static str,
}

/// The embedded migrations, in version order.
fn embedded() -> Vec<Embedded> {
    let mut out: Vec<Embedded> = FILES
        .files()
        .filter_map(|f| {
            let stem = f.path().to_str()?.strip_suffix(".sql")?;
            let (version, name) = stem.strip_prefix('V')?.split_once("__")?;
            Some(Embedded {
                version: version.parse().ok()?,
                name,
                stem,
                sql: f.contents_utf8()?,
            })
        })
        .collect();
    out.sort_by_key(|m| m.version);
    out
}

/// Refinery's runner over the embedded files. Its name parser is a regex that refinery keeps
/// for the rest of the process once built (about 380 kB of a 20 MB idle gateway, and the
/// regex engine's code), so `serve` builds the runner only when it has something to do.
fn runner() -> refinery::Runner {
    let migrations: Vec<refinery::Migration> = embedded()
        .iter()
        .map(|m| refinery::Migration::unapplied(m.stem, m.sql).expect("named V{version}__{name}"))
        .collect();
    refinery::Runner::new(&migrations)
}

/// The checksum refinery records for a migration (SipHash-1-3 of its name, version and SQL).
fn checksum(m: &Embedded) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = siphasher::sip::SipHasher13::new();
    m.name.hash(&mut h);
    m.version.hash(&mut h);
    m.sql.hash(&mut h);
    h.finish()
}

/// Whether the database records exactly this binary's migrations, each with its checksum:
/// nothing to apply and nothing edited or unknown. Anything else takes the full path.
fn up_to_date(conn: &Connection) -> Result<bool> {
    let recorded = recorded(conn)?;
    let embedded = embedded();
    Ok(recorded.len() == embedded.len()
        && recorded
            .iter()
            .zip(&embedded)
            .all(|(r, e)| r.0 == e.version && r.3 == checksum(e).to_string()))
}

const HISTORY_TABLE: &str = "refinery_schema_history";

/// Where one migration stands against this database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Applied,
    Pending,
    /// Applied, but the file in this binary differs from what was applied.
    Modified,
    /// Applied by a binary that had a migration this one does not know (a newer binary).
    Unknown,
}

#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub version: i64,
    pub name: String,
    pub state: State,
    /// When it was applied (RFC 3339), for applied, modified and unknown migrations.
    pub applied_on: Option<String>,
}

/// What [`prepare`] did.
#[derive(Debug, Default)]
pub struct Prepared {
    pub applied: Vec<Status>,
    pub backup: Option<PathBuf>,
}

/// The status of every migration, embedded or recorded, in version order.
pub fn status(conn: &Connection) -> Result<Vec<Status>> {
    let runner = runner();
    let recorded = recorded(conn)?;
    let mut out = Vec::new();
    for m in runner.get_migrations() {
        let version = m.version();
        let state = match recorded.iter().find(|r| r.0 == version) {
            None => (State::Pending, None),
            Some((_, _, on, checksum)) if *checksum == m.checksum().to_string() => {
                (State::Applied, Some(on.clone()))
            }
            Some((_, _, on, _)) => (State::Modified, Some(on.clone())),
        };
        out.push(Status {
            version,
            name: m.name().to_owned(),
            state: state.0,
            applied_on: state.1,
        });
    }
    for (version, name, on, _) in recorded {
        if !out.iter().any(|s| s.version == version) {
            out.push(Status {
                version,
                name,
                state: State::Unknown,
                applied_on: Some(on),
            });
        }
    }
    out.sort_by_key(|s| s.version);
    Ok(out)
}

/// Rows of refinery's history table: version, name, applied_on, checksum.
fn recorded(conn: &Connection) -> Result<Vec<(i64, String, String, String)>> {
    let exists: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [HISTORY_TABLE],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT version, name, applied_on, checksum FROM refinery_schema_history ORDER BY version",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Fails with a message naming every edited or unknown migration.
pub fn ensure_consistent(statuses: &[Status]) -> Result<()> {
    let bad: Vec<String> = statuses
        .iter()
        .filter_map(|s| match s.state {
            State::Modified => Some(format!(
                "V{}__{} was edited after it was applied",
                s.version, s.name
            )),
            State::Unknown => Some(format!(
                "V{}__{} is applied but unknown to this binary (the database is newer than this aicarpool)",
                s.version, s.name
            )),
            _ => None,
        })
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Error::Migration(format!(
            "refusing to use this database: {}",
            bad.join("; ")
        )))
    }
}

/// Brings the database at `db_path` to the current schema: refuses on edited or unknown
/// migrations, copies a database that has data into `backups_dir` first, then applies every
/// pending migration.
pub fn prepare(db_path: &Path, backups_dir: &Path) -> Result<Prepared> {
    let mut conn = open_connection(db_path)?;
    if up_to_date(&conn)? {
        return Ok(Prepared::default());
    }
    let statuses = status(&conn)?;
    ensure_consistent(&statuses)?;
    let pending: Vec<Status> = statuses
        .iter()
        .filter(|s| s.state == State::Pending)
        .cloned()
        .collect();
    if pending.is_empty() {
        return Ok(Prepared::default());
    }
    let has_history = statuses.iter().any(|s| s.state != State::Pending);
    if !has_history && has_user_tables(&conn)? {
        return Err(Error::Migration(format!(
            "{} has tables but no migration history; it is not an aicarpool database",
            db_path.display()
        )));
    }
    let backup = if has_history {
        let first = &pending[0];
        let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
        let file = backups_dir.join(format!("aicarpool-{stamp}-before-V{}.db", first.version));
        backup_to(&conn, &file)?;
        Some(file)
    } else {
        None
    };
    apply(&mut conn)?;
    let applied = pending
        .into_iter()
        .map(|s| Status {
            state: State::Applied,
            ..s
        })
        .collect();
    Ok(Prepared { applied, backup })
}

fn has_user_tables(conn: &Connection) -> Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        [],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// Applies pending migrations. Foreign keys are off while they run because a table rebuild
/// (drop + rename) would otherwise cascade into the rows that reference it; they are checked
/// afterwards instead.
fn apply(conn: &mut Connection) -> Result<()> {
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let result = runner()
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .run(conn)
        .map_err(|e| Error::Migration(e.to_string()));
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    result?;
    let violations: i64 =
        conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })?;
    if violations > 0 {
        return Err(Error::Migration(format!(
            "{violations} foreign key violations after migrating"
        )));
    }
    Ok(())
}

/// A consistent copy of the live database (safe while other connections write), mode 0600.
pub fn backup_to(conn: &Connection, file: &Path) -> Result<()> {
    if file.exists() {
        return Err(Error::Conflict(format!(
            "{} already exists",
            file.display()
        )));
    }
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    let target = file
        .to_str()
        .ok_or_else(|| Error::Invalid("backup path must be UTF-8".into()))?;
    // Created empty and private first (VACUUM INTO fills an empty file): the copy is never
    // readable by others, not even while it is being written.
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| Error::io(format!("creating {}", file.display()), e))?;
    if let Err(e) = conn.execute("VACUUM INTO ?1", [target]) {
        let _ = std::fs::remove_file(file);
        return Err(e.into());
    }
    Ok(())
}

/// Applies migrations up to and including `version` only (tests exercise intermediate schemas).
#[doc(hidden)]
pub fn apply_up_to(conn: &mut Connection, version: i64) -> Result<()> {
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let result = runner()
        .set_target(refinery::Target::Version(version))
        .run(conn)
        .map(|_| ())
        .map_err(|e| Error::Migration(e.to_string()));
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn every_file_is_read_as_refinery_reads_it() {
        let ours = embedded();
        // Refinery's own embedding looked in subfolders too; these files are read flat.
        assert_eq!(FILES.dirs().count(), 0, "migrations/ holds no folders");
        assert_eq!(
            ours.len(),
            FILES.files().count(),
            "every file is V{{version}}__{{name}}.sql"
        );
        for m in &ours {
            let theirs = refinery::Migration::unapplied(m.stem, m.sql).unwrap();
            assert_eq!((m.version, m.name), (theirs.version(), theirs.name()));
            assert_eq!(checksum(m), theirs.checksum(), "{}", m.stem);
        }
    }

    #[test]
    fn only_a_history_of_exactly_these_migrations_is_up_to_date() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        assert!(!up_to_date(&conn).unwrap(), "an empty database");
        drop(conn);
        prepare(&path, dir.path()).unwrap();
        let conn = Connection::open(&path).unwrap();
        assert!(up_to_date(&conn).unwrap());
        let edit = |sql: &str| {
            conn.execute_batch(&format!("SAVEPOINT s; {sql}")).unwrap();
            let seen = up_to_date(&conn).unwrap();
            conn.execute_batch("ROLLBACK TO s; RELEASE s").unwrap();
            seen
        };
        let last = embedded().last().unwrap().version;
        assert!(!edit(&format!(
            "UPDATE refinery_schema_history SET checksum = '1' WHERE version = {last}"
        )));
        assert!(!edit(&format!(
            "DELETE FROM refinery_schema_history WHERE version = {last}"
        )));
        assert!(!edit(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (99990101000000, 'newer', '2099-01-01T00:00:00Z', '7')"
        ));
        assert!(up_to_date(&conn).unwrap());
    }

    #[test]
    fn a_backup_is_private_from_the_moment_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("live.db")).unwrap();
        // Big enough that copying takes a while, so the file is seen while it is written.
        conn.execute_batch(
            "CREATE TABLE t (b BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
             INSERT INTO t SELECT randomblob(16384) FROM n;",
        )
        .unwrap();
        let target = dir.path().join("copy.db");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
        let (watch, modes) = (target.clone(), seen.clone());
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = done.clone();
        let watcher = std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(m) = std::fs::metadata(&watch) {
                    modes.lock().unwrap().insert(m.permissions().mode() & 0o777);
                }
            }
        });
        backup_to(&conn, &target).unwrap();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        watcher.join().unwrap();
        let modes = seen.lock().unwrap();
        assert!(!modes.is_empty());
        assert!(modes.iter().all(|m| *m == 0o600), "modes seen: {modes:?}");
        let copy = Connection::open(&target).unwrap();
        let n: i64 = copy
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3000);
    }
}
