//! Housekeeping the server does by itself: pruning old request-log rows (daily rollups stay)
//! and daily backups of the database with a retention count.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tracing::{info, warn};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::{self, Db, migrate, now_ms, usage};
use crate::tasks::{self, Shutdown};

/// How often pruning runs.
const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);
/// Rows deleted per write transaction, so pruning never holds the writer for long.
const PRUNE_BATCH: i64 = 5_000;
const BACKUP_EVERY: Duration = Duration::from_secs(24 * 60 * 60);
const BACKUP_PREFIX: &str = "scheduled-";

/// Starts the pruning and backup loops, which end at `shutdown`.
pub fn start(config: &Config, db: Db, shutdown: Shutdown) {
    if let Some(keep) = config.upkeep.log_retention {
        let db = db.clone();
        tasks::every(
            "pruning",
            || PRUNE_EVERY,
            shutdown.clone(),
            move || {
                let db = db.clone();
                async move {
                    match prune(&db, keep).await {
                        Ok(0) => {}
                        Ok(n) => info!(rows = n, "pruned old request-log rows"),
                        Err(e) => return Err(format!("pruning the request log failed: {e}")),
                    }
                    Ok(())
                }
            },
        );
    }
    if config.upkeep.backup_keep > 0 {
        let (dir, db_path, keep) = (
            config.backups_dir(),
            config.db_path(),
            config.upkeep.backup_keep as usize,
        );
        let until_due = dir.clone();
        tasks::every(
            "backups",
            // A restart does not make an extra copy: the next one is due a day after the last.
            move || next_backup_due(&until_due).unwrap_or(BACKUP_EVERY),
            shutdown,
            move || {
                let (dir, db_path) = (dir.clone(), db_path.clone());
                async move {
                    if next_backup_due(&dir).is_some() {
                        return Ok(());
                    }
                    let file = backup(&db_path, &dir, keep)
                        .await
                        .map_err(|e| format!("the scheduled backup failed: {e}"))?;
                    info!(file = %file.display(), "scheduled backup written");
                    Ok(())
                }
            },
        );
    }
}

/// Deletes request-log rows started more than `keep` ago, in batches; returns how many.
pub async fn prune(db: &Db, keep: Duration) -> Result<usize> {
    let before = now_ms() - keep.as_millis() as i64;
    let mut total = 0;
    loop {
        let n = db
            .write(move |c| usage::prune_log(c, before, PRUNE_BATCH))
            .await?;
        total += n;
        if (n as i64) < PRUNE_BATCH {
            return Ok(total);
        }
    }
}

/// Scheduled backups in `dir`, oldest first.
fn scheduled(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(BACKUP_PREFIX) && n.ends_with(".db"))
                })
                .collect()
        })
        .unwrap_or_default();
    // The names carry a UTC timestamp, so they sort by age.
    files.sort();
    files
}

/// How long until the next backup is due, or `None` when it is due now.
fn next_backup_due(dir: &Path) -> Option<Duration> {
    let newest = scheduled(dir).pop()?;
    let age = std::fs::metadata(&newest)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())?;
    BACKUP_EVERY.checked_sub(age).filter(|w| !w.is_zero())
}

/// Writes a consistent copy of the database into `dir` and deletes all but the newest `keep`
/// scheduled copies. Backups made before migrations are left alone.
pub async fn backup(db_path: &Path, dir: &Path, keep: usize) -> Result<PathBuf> {
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let file = dir.join(format!("{BACKUP_PREFIX}{stamp}.db"));
    let (db_path, target) = (db_path.to_owned(), file.clone());
    tokio::task::spawn_blocking(move || {
        migrate::backup_to(&store::open_connection(&db_path)?, &target)
    })
    .await
    .map_err(|e| Error::Internal(format!("backup task failed: {e}")))??;
    let all = scheduled(dir);
    for old in &all[..all.len().saturating_sub(keep)] {
        if let Err(e) = std::fs::remove_file(old) {
            warn!(file = %old.display(), error = %e, "could not delete an old backup");
        }
    }
    Ok(file)
}
