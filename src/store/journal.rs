//! The usage journal: each finished request's record is appended to a small file before the
//! client gets its final bytes, then committed to SQLite in groups off the request path. A crash
//! (even `kill -9`) cannot lose a record the client saw complete: start-up replays whatever the
//! journal still holds. A segment file is deleted once every record in it is committed.
//!
//! One `write` per record and no fsync: a killed process loses nothing (the page cache
//! survives it), the same promise SQLite's WAL with `synchronous=NORMAL` gives. Threads write
//! to segments of their own (lanes), so two never wait for each other.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A segment is sealed and a new one started past this size or age, so committed records
/// do not pile up on disk.
const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;
const SEGMENT_AGE: Duration = Duration::from_secs(10);

/// Segments open for appending at once. A thread appends to its own lane's segment: with one
/// segment for all, the request threads at 64 concurrent requests waited for each other's
/// `write`, on its lock and then on the kernel's lock of the file (a record took 7–11 µs to
/// journal there, against about 3 µs for the `write` itself).
const LANES: usize = 4;

pub struct Journal {
    dir: PathBuf,
    /// Each lane's open segment, made at its first record.
    lanes: [Mutex<Option<Current>>; LANES],
    /// The last segment serial handed out, across lanes.
    serial: AtomicU64,
}

static NEXT_LANE: AtomicUsize = AtomicUsize::new(0);

std::thread_local! {
    /// The lane this thread appends to, given out in turn to threads as they first append.
    static LANE: usize = NEXT_LANE.fetch_add(1, Ordering::Relaxed) % LANES;
}

struct Current {
    segment: Arc<Segment>,
    opened: Instant,
    bytes: u64,
}

struct Segment {
    path: PathBuf,
    file: File,
    /// Records appended and not yet committed.
    outstanding: AtomicUsize,
    /// No more appends go here; the file goes once `outstanding` is zero.
    sealed: AtomicBool,
}

impl Segment {
    fn remove_if_done(&self) {
        if self.sealed.load(Ordering::SeqCst) && self.outstanding.load(Ordering::SeqCst) == 0 {
            // Both the last commit and the seal may get here; the loser finds no file.
            let path = self.path.clone();
            let remove = move || {
                let _ = std::fs::remove_file(path);
            };
            // Deleting a full segment took about 0.9 ms here (ext4 mounted with `discard`):
            // not on a thread that serves requests, which both callers run on.
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn_blocking(remove)),
                Err(_) => remove(),
            }
        }
    }
}

/// Proof that a record is in the journal; `committed` once SQLite holds it.
pub struct Ticket(Arc<Segment>);

impl Ticket {
    pub fn committed(self) {
        self.0.outstanding.fetch_sub(1, Ordering::SeqCst);
        self.0.remove_if_done();
    }
}

impl Journal {
    /// Opens the journal in `dir` and returns the lines left by an earlier run (to replay),
    /// with the files they came from (to delete once replayed).
    pub fn open(dir: &Path) -> Result<(Journal, Vec<String>, Vec<PathBuf>)> {
        super::create_private_dir(dir)?;
        let mut old: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        old.sort();
        let mut lines = Vec::new();
        for path in &old {
            let file = File::open(path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            // A torn last line (killed mid-write) has no newline and no closing brace: skipped
            // by the caller's parser; every complete line is kept.
            for line in BufReader::new(file).split(b'\n') {
                let line = line.map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
                if !line.is_empty() {
                    lines.push(String::from_utf8_lossy(&line).into_owned());
                }
            }
        }
        Ok((
            Journal {
                dir: dir.to_owned(),
                lanes: Default::default(),
                serial: AtomicU64::new(0),
            },
            lines,
            old,
        ))
    }

    /// Appends one record (a line without newlines) in a single write.
    pub fn append(&self, line: Vec<u8>) -> Result<Ticket> {
        debug_assert!(!line.contains(&b'\n'));
        let mut buf = line;
        buf.push(b'\n');
        let lane = &self.lanes[LANE.with(|l| *l)];
        let mut lane = lane.lock().expect("journal lock");
        let stale = lane
            .as_ref()
            .is_none_or(|c| c.bytes >= SEGMENT_BYTES || c.opened.elapsed() >= SEGMENT_AGE);
        if stale {
            let serial = self.serial.fetch_add(1, Ordering::Relaxed) + 1;
            let fresh = Current {
                segment: new_segment(&self.dir, serial)?,
                opened: Instant::now(),
                bytes: 0,
            };
            if let Some(old) = lane.replace(fresh) {
                old.segment.sealed.store(true, Ordering::SeqCst);
                old.segment.remove_if_done();
            }
        }
        let cur = lane.as_mut().expect("a segment was just opened");
        if let Err(e) = (&cur.segment.file).write_all(&buf) {
            // Part of the line may be written: the next record starts a fresh segment rather
            // than continuing a torn line (replay skips the torn one).
            cur.bytes = SEGMENT_BYTES;
            return Err(Error::io("writing the usage journal", e));
        }
        cur.bytes += buf.len() as u64;
        cur.segment.outstanding.fetch_add(1, Ordering::SeqCst);
        Ok(Ticket(cur.segment.clone()))
    }
}

fn new_segment(dir: &Path, serial: u64) -> Result<Arc<Segment>> {
    use std::os::unix::fs::OpenOptionsExt;
    let stamp = crate::store::now_ms();
    let path = dir.join(format!("usage-{stamp:013}-{serial:06}.jsonl"));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    Ok(Arc::new(Segment {
        path,
        file,
        outstanding: AtomicUsize::new(0),
        sealed: AtomicBool::new(false),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    /// Makes every open segment old enough to be sealed at its lane's next record.
    fn age(j: &Journal) {
        for lane in &j.lanes {
            if let Some(c) = lane.lock().unwrap().as_mut() {
                c.opened -= SEGMENT_AGE;
            }
        }
    }

    #[test]
    fn threads_append_to_segments_of_their_own_and_every_line_replays() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("journal");
        let (j, _, _) = Journal::open(&dir).unwrap();
        assert_eq!(
            files(&dir),
            0,
            "a segment is made at its lane's first record"
        );
        let lanes: std::collections::HashSet<usize> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..2)
                .map(|t| {
                    let j = &j;
                    s.spawn(move || {
                        for n in 0..100 {
                            let line = format!("{{\"t\":{t},\"n\":{n}}}");
                            j.append(line.into_bytes()).unwrap();
                        }
                        LANE.with(|l| *l)
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        // Two threads get two lanes unless other tests' threads took lanes in between.
        assert_eq!(files(&dir), lanes.len(), "one segment per lane used");
        drop(j);
        let (_j, mut lines, old) = Journal::open(&dir).unwrap();
        assert_eq!(old.len(), lanes.len());
        lines.sort();
        lines.dedup();
        assert_eq!(lines.len(), 200, "every line, once");
    }

    #[test]
    fn lines_survive_until_committed_and_are_replayed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("journal");
        let (j, lines, old) = Journal::open(&dir).unwrap();
        assert!(lines.is_empty() && old.is_empty());
        let a = j.append(b"{\"n\":1}".to_vec()).unwrap();
        let _b = j.append(b"{\"n\":2}".to_vec()).unwrap();
        a.committed();
        drop(j); // a crash: record 2 was never committed
        let (_j2, lines, old) = Journal::open(&dir).unwrap();
        assert_eq!(
            lines,
            vec!["{\"n\":1}", "{\"n\":2}"],
            "the whole unsealed segment is replayed"
        );
        assert_eq!(old.len(), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn inside_the_runtime_a_done_segment_is_deleted_by_a_blocking_task() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("journal");
        let (j, _, _) = Journal::open(&dir).unwrap();
        let t = j.append(b"one".to_vec()).unwrap();
        age(&j);
        let _t2 = j.append(b"two".to_vec()).unwrap();
        t.committed();
        let deadline = Instant::now() + Duration::from_secs(5);
        while files(&dir) != 1 {
            assert!(Instant::now() < deadline, "the sealed segment stays");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[test]
    fn a_sealed_segment_goes_once_its_records_are_committed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("journal");
        let (j, _, _) = Journal::open(&dir).unwrap();
        let t = j.append(b"one".to_vec()).unwrap();
        age(&j);
        let t2 = j.append(b"two".to_vec()).unwrap();
        assert_eq!(
            files(&dir),
            2,
            "rotated, old one still has an uncommitted record"
        );
        t.committed();
        assert_eq!(files(&dir), 1, "old segment removed after its last commit");
        t2.committed();
        assert_eq!(files(&dir), 1, "the open segment stays");
    }
}
