//! Where request records go: into the journal at once (so the response may finish), then into
//! SQLite with group commit, off the request path (DESIGN.md §6). Start-up replays the journal.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use tracing::{debug, error, info, warn};

use crate::error::Result;
use crate::metrics::Metrics;
use crate::store::journal::{Journal, Ticket};
use crate::store::{Db, usage};
use crate::tasks::{self, Shutdown};

/// How long the committer waits for more records before committing a batch. The journal
/// already holds them, so waiting costs no durability; it turns a commit per request into a
/// commit per batch. Measured at 64 concurrent requests: going from 2 to 20 ms took the
/// writer thread from about 21 % to 16 % of the gateway's CPU. Limits count in memory, so
/// nothing the gateway enforces waits for the rows.
const BATCH_DELAY: Duration = Duration::from_millis(20);
/// Most records committed in one transaction.
const MAX_BATCH: usize = 4096;

pub struct Meter {
    db: Db,
    journal: Journal,
    shared: Arc<Shared>,
    pub metrics: Arc<Metrics>,
}

struct Shared {
    /// Journaled records waiting for the committer.
    queue: Mutex<Vec<(usage::Record, Ticket)>>,
    /// Why usage cannot be stored right now (disk full, I/O error); new requests are refused
    /// while it is set, so nothing is served that cannot be metered.
    fault: Mutex<Option<String>>,
    /// Whether `fault` is set: read on every request without taking the lock.
    faulted: std::sync::atomic::AtomicBool,
    /// Records that could be neither journaled nor committed, and journaled ones whose commit
    /// failed for lack of storage: retried until storage works again.
    stranded: Mutex<Vec<(usage::Record, Option<Ticket>)>>,
    /// Records journaled and not yet committed (queued or in a batch being committed).
    in_flight: AtomicUsize,
    work: Notify,
    idle: Notify,
}

impl Meter {
    /// Opens the journal in `dir`, commits whatever an earlier run left in it, deletes it, and
    /// starts the committer.
    pub async fn open(
        db: Db,
        dir: &Path,
        metrics: Arc<Metrics>,
        shutdown: Shutdown,
    ) -> Result<Meter> {
        let (journal, lines, old_files) = Journal::open(dir)?;
        if !lines.is_empty() {
            let records: Vec<usage::Record> = lines
                .iter()
                .filter_map(|l| match serde_json::from_str(l) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        // Only a line torn by a crash mid-write can fail here.
                        warn!(error = %e, "skipping an unreadable usage journal line");
                        None
                    }
                })
                .collect();
            let total = records.len();
            // Request ids make this idempotent: rows already committed are skipped. A record
            // the database refuses never stops the start: it is set aside, the rest replays.
            let records = Arc::new(records);
            let all = records.clone();
            if let Err(e) = db.write(move |c| usage::insert(c, &all)).await {
                if is_storage_fault(&e) {
                    return Err(e);
                }
                warn!(error = %e, "replaying the usage journal failed; replaying it record by record");
                for i in 0..records.len() {
                    let rs = records.clone();
                    match db
                        .write(move |c| usage::insert(c, std::slice::from_ref(&rs[i])))
                        .await
                    {
                        Ok(()) => {}
                        Err(e) if is_storage_fault(&e) => return Err(e),
                        Err(e) => quarantine(dir, &metrics, &records[i], &e),
                    }
                }
            }
            info!(records = total, "replayed the usage journal");
        }
        for f in old_files {
            let _ = std::fs::remove_file(f);
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(Vec::new()),
            fault: Mutex::new(None),
            faulted: std::sync::atomic::AtomicBool::new(false),
            stranded: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            work: Notify::new(),
            idle: Notify::new(),
        });
        tokio::spawn(committer(
            db.clone(),
            shared.clone(),
            metrics.clone(),
            dir.to_owned(),
        ));
        start_recovery(db.clone(), dir.to_owned(), shared.clone(), shutdown);
        Ok(Meter {
            db,
            journal,
            shared,
            metrics,
        })
    }

    /// Makes `rec` durable before returning, then leaves it to the committer. Should the
    /// journal be unwritable, the record is committed before returning instead.
    pub async fn record(&self, rec: usage::Record) {
        debug!(
            request = %rec.request_id,
            key = rec.api_key_id,
            account = ?rec.account_id,
            model = ?rec.model,
            status = rec.status_code,
            outcome = %rec.outcome,
            ms = rec.duration_ms,
            "request finished"
        );
        self.metrics.request(&rec);
        match self.journal.append(rec.journal_line()) {
            Ok(ticket) => {
                self.shared.in_flight.fetch_add(1, Ordering::SeqCst);
                let first = {
                    let mut q = self.shared.queue.lock().expect("meter queue");
                    q.push((rec, ticket));
                    q.len() == 1
                };
                if first {
                    self.shared.work.notify_one();
                }
            }
            Err(e) => {
                self.metrics
                    .journal_failures
                    .fetch_add(1, Ordering::Relaxed);
                warn!(error = %e, "usage journal unwritable; committing the record directly");
                let kept = rec.clone();
                // Boxed: a rare path, kept out of every request's future.
                let direct = Box::pin(
                    self.db
                        .write(move |c| usage::insert(c, std::slice::from_ref(&rec))),
                );
                if let Err(e) = direct.await {
                    // Neither place takes it: keep it in memory, stop taking new requests,
                    // and retry until storage works again.
                    self.shared.strand(kept, None, &e);
                }
            }
        }
    }

    /// Why usage cannot be stored now, if it cannot: the gateway refuses requests meanwhile.
    pub fn fault(&self) -> Option<String> {
        if !self.shared.faulted.load(Ordering::Acquire) {
            return None;
        }
        self.shared.fault.lock().expect("meter fault").clone()
    }

    /// Records journaled and not yet committed.
    pub fn pending(&self) -> usize {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    /// Waits until every record handed over so far has been committed (or failed to be, and
    /// stays journaled).
    pub async fn flush(&self) {
        loop {
            // Registered before the check, so a wake-up between the two is not missed.
            let idle = self.shared.idle.notified();
            if self.shared.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            self.shared.work.notify_one();
            idle.await;
        }
    }
}

/// Commits queued records in batches, one transaction each, for as long as the process runs.
async fn committer(db: Db, shared: Arc<Shared>, metrics: Arc<Metrics>, dir: std::path::PathBuf) {
    loop {
        shared.work.notified().await;
        tokio::time::sleep(BATCH_DELAY).await;
        loop {
            let began = tokio::time::Instant::now();
            let batch: Vec<(usage::Record, Ticket)> = {
                let mut q = shared.queue.lock().expect("meter queue");
                let n = q.len().min(MAX_BATCH);
                q.drain(..n).collect()
            };
            if batch.is_empty() {
                break;
            }
            let n = batch.len();
            let (records, tickets): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let records = Arc::new(records);
            let all = records.clone();
            let started = std::time::Instant::now();
            let insert = move |c: &rusqlite::Connection| usage::insert(c, &all);
            // A full batch means a backlog: committed at normal CPU class.
            let done = if n < MAX_BATCH {
                db.write_background(insert).await
            } else {
                db.write(insert).await
            };
            metrics
                .commits
                .observe_micros(started.elapsed().as_micros() as u64);
            match done {
                Ok(()) => {
                    metrics
                        .rows_committed
                        .fetch_add(n as u64, Ordering::Relaxed);
                    tickets.into_iter().for_each(Ticket::committed)
                }
                Err(e) => {
                    metrics.commit_failures.fetch_add(1, Ordering::Relaxed);
                    // One bad record must not hold back the others: commit them one by one.
                    warn!(error = %e, records = n, "a batch of request records failed; retrying them one by one");
                    for (i, ticket) in tickets.into_iter().enumerate() {
                        let rs = records.clone();
                        match db
                            .write(move |c| usage::insert(c, std::slice::from_ref(&rs[i])))
                            .await
                        {
                            Ok(()) => {
                                metrics.rows_committed.fetch_add(1, Ordering::Relaxed);
                                ticket.committed()
                            }
                            Err(e) if is_storage_fault(&e) => {
                                shared.strand(records[i].clone(), Some(ticket), &e);
                            }
                            // A record the database refuses would fail again at every
                            // start: it is set aside for the operator instead.
                            Err(e) => {
                                quarantine(&dir, &metrics, &records[i], &e);
                                ticket.committed()
                            }
                        }
                    }
                }
            }
            if shared.in_flight.fetch_sub(n, Ordering::SeqCst) == n {
                shared.idle.notify_waiters();
            }
            // Under load, records keep arriving while a batch commits. Taken at once, each
            // batch would only be what one commit's time gathers (about a hundred rows at
            // c=64), and every commit rewrites the last page of the table, of each of its
            // indexes and of the day's rollups: so the next batch waits out the delay too.
            // A full batch means a backlog, committed at once. An empty queue goes back to
            // waiting; a record queued after this look notifies.
            if shared.queue.lock().expect("meter queue").is_empty() {
                break;
            }
            if n < MAX_BATCH {
                tokio::time::sleep_until(began + BATCH_DELAY).await;
            }
        }
    }
}

/// The file in the journal directory where refused records are kept (not replayed: the
/// journal reads only `*.jsonl`).
pub const QUARANTINE_FILE: &str = "quarantine.log";

/// Sets aside a record SQLite refused (a CHECK it fails, say): one JSON line with the reason
/// in `<journal>/quarantine.log` (0600), a log line and a metric. Nothing else waits on it.
fn quarantine(dir: &Path, metrics: &Metrics, rec: &usage::Record, why: &crate::error::Error) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    metrics.quarantined.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(QUARANTINE_FILE);
    let line = serde_json::json!({ "error": why.to_string(), "record": rec });
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{line}"));
    error!(
        request = %rec.request_id,
        error = %why,
        file = %path.display(),
        kept = written.is_ok(),
        "the database refused a usage record; it was set aside in the quarantine file"
    );
}

impl Shared {
    /// Keeps a record that could not be stored, and marks storage as failing.
    fn strand(&self, rec: usage::Record, ticket: Option<Ticket>, why: &crate::error::Error) {
        self.stranded
            .lock()
            .expect("stranded records")
            .push((rec, ticket));
        let mut fault = self.fault.lock().expect("meter fault");
        if fault.is_none() {
            error!(error = %why, "usage cannot be stored: refusing new requests until it can");
        }
        *fault = Some(format!("usage cannot be stored: {why}"));
        self.faulted.store(true, Ordering::Release);
    }
}

/// Whether an error means the storage (disk, file system) failed rather than the record.
fn is_storage_fault(e: &crate::error::Error) -> bool {
    use rusqlite::ErrorCode::*;
    match e {
        crate::error::Error::Database(rusqlite::Error::SqliteFailure(f, _)) => matches!(
            f.code,
            DiskFull | SystemIoFailure | ReadOnly | CannotOpen | DatabaseBusy | DatabaseLocked
        ),
        crate::error::Error::Io { .. } | crate::error::Error::WriterGone => true,
        _ => false,
    }
}

/// While storage is failing: every second, checks the journal directory takes a write and
/// commits the stranded records; when both work, lifts the fault. (The committer already
/// counted them as done, so `flush` does not wait for them; journaled ones also replay at the
/// next start.)
fn start_recovery(db: Db, dir: std::path::PathBuf, shared: Arc<Shared>, shutdown: Shutdown) {
    let probe = dir.join(".probe");
    tasks::every(
        "storage recovery",
        || Duration::from_secs(1),
        shutdown,
        move || {
            let (db, probe, shared) = (db.clone(), probe.clone(), shared.clone());
            async move {
                recover_once(&db, &probe, &shared).await;
                Ok(())
            }
        },
    );
}

/// One check: when storage was failing and takes a write again, the stranded records are
/// committed and the fault lifted.
async fn recover_once(db: &Db, probe: &Path, shared: &Arc<Shared>) {
    if !shared.faulted.load(Ordering::Acquire) {
        return;
    }
    let writable = std::fs::write(probe, [0u8; 4096]).is_ok();
    let _ = std::fs::remove_file(probe);
    if !writable {
        return;
    }
    let batch: Vec<(usage::Record, Option<Ticket>)> =
        std::mem::take(&mut *shared.stranded.lock().expect("stranded records"));
    let records: Vec<usage::Record> = batch.iter().map(|(r, _)| r.clone()).collect();
    let n = records.len();
    match db.write(move |c| usage::insert(c, &records)).await {
        Ok(()) => {
            batch.into_iter().for_each(|(_, t)| {
                if let Some(t) = t {
                    t.committed();
                }
            });
            *shared.fault.lock().expect("meter fault") = None;
            shared.faulted.store(false, Ordering::Release);
            info!(
                records = n,
                "usage storage works again; requests are accepted"
            );
        }
        Err(e) => {
            debug!(error = %e, "usage storage still failing");
            let mut stranded = shared.stranded.lock().expect("stranded records");
            let newer = std::mem::replace(&mut *stranded, batch);
            stranded.extend(newer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> usage::Record {
        usage::Record::sample(id)
    }

    /// A migrated database with a group and a key, and an empty journal directory.
    async fn setup() -> (tempfile::TempDir, Db, std::path::PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let db_path = tmp.path().join("t.db");
        crate::store::migrate::prepare(&db_path, &tmp.path().join("b")).unwrap();
        let db = Db::open(&db_path).unwrap();
        db.write(|c| Ok(usage::seed_sample_key(c)?)).await.unwrap();
        let dir = tmp.path().join("journal");
        std::fs::create_dir_all(&dir).unwrap();
        (tmp, db, dir)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_journal_left_by_a_crash_is_replayed_once() {
        let (_tmp, db, dir) = setup().await;
        let mut text = String::new();
        for id in ["a", "b", "a"] {
            text.push_str(&serde_json::to_string(&record(id)).unwrap());
            text.push('\n');
        }
        text.push_str("{\"request_id\":\"torn"); // killed mid-write
        std::fs::write(dir.join("usage-0000000000001-000000.jsonl"), text).unwrap();

        let meter = Meter::open(db.clone(), &dir, Default::default(), Shutdown::never())
            .await
            .unwrap();
        let count = |db: Db| async move {
            db.read(|c| {
                Ok(c.query_row(
                    "SELECT count(*), (SELECT requests FROM usage_daily),
                        (SELECT input_tokens + output_tokens FROM usage_daily)
                     FROM api_key_request_log",
                    [],
                    |r| {
                        let tokens: i64 = r.get(2)?;
                        let rows: i64 = r.get(0)?;
                        // The rollup adds up exactly the rows logged (30 tokens each).
                        assert_eq!(tokens, rows * 30);
                        Ok((rows, r.get::<_, i64>(1)?))
                    },
                )?)
            })
            .await
            .unwrap()
        };
        assert_eq!(
            count(db.clone()).await,
            (2, 2),
            "two requests, each counted once"
        );
        meter.record(record("c")).await;
        meter.flush().await;
        assert_eq!(count(db.clone()).await, (3, 3));
        drop(meter);
        let _again = Meter::open(db.clone(), &dir, Default::default(), Shutdown::never())
            .await
            .unwrap();
        assert_eq!(
            count(db).await,
            (3, 3),
            "replaying committed records changes nothing"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn under_steady_load_batches_commit_once_a_delay_not_once_a_commit() {
        let (_tmp, db, dir) = setup().await;
        let metrics = Arc::new(Metrics::default());
        let meter = Meter::open(db.clone(), &dir, metrics.clone(), Shutdown::never())
            .await
            .unwrap();
        // A record every 200 µs for 300 ms: a commit of a few rows takes about a
        // millisecond, so committing whatever arrived during the last commit would commit
        // about once a millisecond. (A blocking sleep: tokio's timer ticks in milliseconds;
        // the committer runs on the runtime's other thread.)
        let started = std::time::Instant::now();
        let mut sent = 0;
        while started.elapsed() < Duration::from_millis(300) {
            meter.record(record(&format!("r{sent}"))).await;
            sent += 1;
            std::thread::sleep(Duration::from_micros(200));
        }
        let most = started.elapsed().as_millis() / BATCH_DELAY.as_millis() + 2;
        meter.flush().await;
        let commits = metrics.commits.count();
        assert!(
            commits as u128 <= most,
            "{commits} commits for {sent} records; at most {most} expected"
        );
        let rows: i64 = db
            .read(
                |c| Ok(c.query_row("SELECT count(*) FROM api_key_request_log", [], |r| r.get(0))?),
            )
            .await
            .unwrap();
        assert_eq!(rows, sent, "every record committed");
    }

    /// A full batch means a backlog: the next one follows at once instead of waiting out the
    /// delay. Timed on tokio's paused clock, which moves only for the committer's waits (the
    /// storage-recovery loop, the one other timer, is stopped first).
    #[tokio::test(start_paused = true)]
    async fn a_backlog_is_committed_without_waiting_between_full_batches() {
        let (_tmp, db, dir) = setup().await;
        let metrics = Arc::new(Metrics::default());
        let (stop, stopped) = tasks::shutdown();
        drop(stop);
        let meter = Meter::open(db.clone(), &dir, metrics.clone(), stopped)
            .await
            .unwrap();
        let sent = 2 * MAX_BATCH + 10;
        for i in 0..sent {
            meter.record(record(&format!("r{i}"))).await;
        }
        let started = tokio::time::Instant::now();
        meter.flush().await;
        assert_eq!(
            started.elapsed(),
            BATCH_DELAY,
            "one delay before the first batch, none after a full one"
        );
        assert_eq!(metrics.commits.count(), 3);
        let rows: i64 = db
            .read(
                |c| Ok(c.query_row("SELECT count(*) FROM api_key_request_log", [], |r| r.get(0))?),
            )
            .await
            .unwrap();
        assert_eq!(rows, sent as i64);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_record_the_database_refuses_is_quarantined_and_never_stops_a_start() {
        let (_tmp, db, dir) = setup().await;
        // What an older version journaled for an upstream claiming i64::MAX tokens: a cost
        // that wrapped negative, which the table's CHECK refuses.
        let mut bad = record("bad");
        bad.cost_nanos = Some(-42);
        let text = [record("good1"), bad, record("good2")]
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect::<String>();
        std::fs::write(dir.join("usage-0000000000001-000000.jsonl"), text).unwrap();
        let metrics = Arc::new(Metrics::default());
        let meter = Meter::open(db.clone(), &dir, metrics.clone(), Shutdown::never())
            .await
            .expect("a refused record does not stop the start");
        let ids: Vec<String> = db
            .read(|c| {
                let mut st = c.prepare("SELECT request_id FROM api_key_request_log ORDER BY id")?;
                let ids = st
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                Ok(ids)
            })
            .await
            .unwrap();
        assert_eq!(ids, ["good1", "good2"]);
        assert_eq!(metrics.quarantined.load(Ordering::Relaxed), 1);
        let kept = std::fs::read_to_string(dir.join(QUARANTINE_FILE)).unwrap();
        let line: serde_json::Value = serde_json::from_str(kept.trim()).unwrap();
        assert_eq!(line["record"]["request_id"], "bad");
        assert!(line["error"].as_str().unwrap().contains("CHECK"), "{line}");
        // A live record refused the same way goes there too, and the next start is clean.
        let mut live = record("live-bad");
        live.input_tokens = -1;
        meter.record(live).await;
        meter.flush().await;
        assert_eq!(metrics.quarantined.load(Ordering::Relaxed), 2);
        drop(meter);
        Meter::open(db.clone(), &dir, Default::default(), Shutdown::never())
            .await
            .expect("restart");
    }
}
