//! The one thread that writes. Jobs queue on a channel; the thread takes every job waiting,
//! runs each inside its own savepoint of one transaction and commits once (group commit), so
//! many small writes cost one fsync-free WAL commit between them. Usage batches run at the
//! idle CPU class when the process may ([`super::class`]).

use std::sync::Arc;
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::class::{Class, RAISE_AFTER};
use crate::error::{Error, Result};

/// Most jobs folded into one transaction.
const MAX_BATCH: usize = 512;
const QUEUE_CAPACITY: usize = 8192;

trait Job: Send {
    /// Runs the job's statements; failures roll back only this job's savepoint.
    fn run(&mut self, conn: &Connection);
    /// Reports the outcome once the batch's commit has succeeded or failed.
    fn finish(self: Box<Self>, commit: Result<(), &rusqlite::Error>);
    /// Whether only usage rows wait for it.
    fn background(&self) -> bool;
}

struct Typed<F, R> {
    work: Option<F>,
    result: Option<Result<R>>,
    reply: oneshot::Sender<Result<R>>,
    background: bool,
}

impl<F, R> Job for Typed<F, R>
where
    F: FnOnce(&Connection) -> Result<R> + Send,
    R: Send,
{
    fn run(&mut self, conn: &Connection) {
        let work = self.work.take().expect("job runs once");
        let result = conn
            .execute_batch("SAVEPOINT job")
            .map_err(Error::from)
            .and_then(|_| {
                let r = work(conn);
                let end = if r.is_ok() {
                    "RELEASE job"
                } else {
                    "ROLLBACK TO job; RELEASE job"
                };
                conn.execute_batch(end)?;
                r
            });
        self.result = Some(result);
    }

    fn finish(self: Box<Self>, commit: Result<(), &rusqlite::Error>) {
        let outcome = match (self.result, commit) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(r)), Ok(())) => Ok(r),
            (_, Err(e)) => Err(copy_error(e)),
            (None, Ok(())) => Err(Error::WriterGone),
        };
        // The caller may have gone away (client disconnected); the write stands regardless.
        let _ = self.reply.send(outcome);
    }

    fn background(&self) -> bool {
        self.background
    }
}

/// rusqlite errors are not `Clone`; a batch failure is reported to every job in it.
fn copy_error(e: &rusqlite::Error) -> Error {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => {
            Error::Database(rusqlite::Error::SqliteFailure(*code, msg.clone()))
        }
        other => Error::Internal(format!("write failed: {other}")),
    }
}

pub(super) struct Writer {
    tx: mpsc::Sender<Box<dyn Job>>,
    class: Arc<Class>,
    _thread: JoinHandle<()>,
}

impl Writer {
    pub(super) fn start(conn: Connection) -> Result<Writer> {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        // The writer logs where the code that opened the database logs (a server run
        // in-process by the tests has its own subscriber, not the global one).
        let logs = tracing::dispatcher::get_default(Clone::clone);
        let class = Arc::new(Class::new());
        let own = class.clone();
        let thread = std::thread::Builder::new()
            .name("aicarpool-db-writer".into())
            .spawn(move || {
                let _logs = tracing::dispatcher::set_default(&logs);
                own.started();
                writer_loop(conn, rx, &own)
            })
            .map_err(|e| Error::io("starting the database writer", e))?;
        Ok(Writer {
            tx,
            class,
            _thread: thread,
        })
    }

    /// Runs `work` in the next batch, at normal CPU class.
    pub(super) async fn submit<R, F>(&self, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let (job, rx) = job(work, false);
        let waiting = self.class.waiting();
        self.tx.send(job).await.map_err(|_| Error::WriterGone)?;
        waiting.sent();
        rx.await.map_err(|_| Error::WriterGone)?
    }

    /// Runs `work`, a batch of usage rows, at idle CPU class when nothing else waits for the
    /// writer; the writer is raised to normal every [`RAISE_AFTER`] until it is done (once
    /// would not do: a job that waited its first period in the queue may start idle after).
    pub(super) async fn submit_background<R, F>(&self, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let (job, mut rx) = job(work, true);
        self.tx.send(job).await.map_err(|_| Error::WriterGone)?;
        if !self.class.enabled() {
            return rx.await.map_err(|_| Error::WriterGone)?;
        }
        loop {
            match tokio::time::timeout(RAISE_AFTER, &mut rx).await {
                Ok(done) => return done.map_err(|_| Error::WriterGone)?,
                Err(_) => self.class.raise(),
            }
        }
    }
}

type Reply<R> = oneshot::Receiver<Result<R>>;

fn job<R, F>(work: F, background: bool) -> (Box<dyn Job>, Reply<R>)
where
    R: Send + 'static,
    F: FnOnce(&Connection) -> Result<R> + Send + 'static,
{
    let (reply, rx) = oneshot::channel();
    let job = Box::new(Typed {
        work: Some(work),
        result: None,
        reply,
        background,
    });
    (job, rx)
}

/// Runs until every sender is dropped, then returns after the last batch is committed.
fn writer_loop(mut conn: Connection, mut rx: mpsc::Receiver<Box<dyn Job>>, class: &Class) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let others = batch.iter().filter(|j| !j.background()).count();
        class.taken(others);
        class.enter(others == 0);
        run_batch(&mut conn, &mut batch);
    }
}

fn run_batch(conn: &mut Connection, batch: &mut Vec<Box<dyn Job>>) {
    let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            tracing::error!(error = %e, "could not begin a write transaction");
            for job in batch.drain(..) {
                job.finish(Err(&e));
            }
            return;
        }
    };
    for job in batch.iter_mut() {
        job.run(&tx);
    }
    match tx.commit() {
        Ok(()) => batch.drain(..).for_each(|job| job.finish(Ok(()))),
        Err(e) => {
            tracing::error!(error = %e, "write transaction failed to commit");
            batch.drain(..).for_each(|job| job.finish(Err(&e)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Db::open(&path).unwrap();
        db.write(|c| Ok(c.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")?))
            .await
            .unwrap();
        (dir, db)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failing_job_rolls_back_alone_while_its_batch_commits() {
        let (_dir, db) = db().await;
        let mut tasks = Vec::new();
        for i in 0..200i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.write(move |c| {
                    c.execute("INSERT INTO t (v) VALUES (?1)", [i])?;
                    if i % 10 == 0 {
                        // Half-done work of a failing job must not survive.
                        c.execute("INSERT INTO t (v) VALUES (?1)", [i + 1000])?;
                        return Err(Error::Invalid("refused".into()));
                    }
                    Ok(i)
                })
                .await
            }));
        }
        let mut failed = 0;
        for t in tasks {
            if t.await.unwrap().is_err() {
                failed += 1;
            }
        }
        assert_eq!(failed, 20);
        let (rows, stray): (i64, i64) = db
            .read(|c| {
                Ok(c.query_row(
                    "SELECT count(*), count(*) FILTER (WHERE v >= 1000) FROM t",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(rows, 180);
        assert_eq!(stray, 0);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_constraint_error_reaches_the_caller() {
        let (_dir, db) = db().await;
        db.write(|c| Ok(c.execute("INSERT INTO t (v) VALUES (1)", [])?))
            .await
            .unwrap();
        let err = db
            .write(|c| Ok(c.execute("INSERT INTO t (v) VALUES (1)", [])?))
            .await
            .unwrap_err();
        assert!(matches!(err.on_unique(|| "dup".into()), Error::Conflict(_)));
    }
}
