//! Request lanes: the threads that serve client connections, one single-threaded runtime each,
//! so that a connection, its requests and their upstream connections all run on one thread.
//!
//! Why not one runtime whose threads share all the work: there every hand-off between a
//! request and its upstream connection could cross threads (a wake-up, a futex call, caches
//! gone cold), and it did. Measured with the benchmark, alternating the two builds: at 64
//! connections the gateway went from about 62 to 74–78 % of the bare relay's throughput, for
//! a seventh to a fifth less CPU a request (docs/performance-log.md, "Lanes"). The cost is
//! that a lane cannot lend its core: a connection stays on the lane it was handed to, which
//! is why it is handed to the lane with the fewest open.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

thread_local! {
    /// The lane this thread runs (counted from 1), or 0 on any other thread.
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}

/// The lane the calling thread runs, counted from 1; 0 when it runs none (start-up, the
/// background tasks, the command line). Upstream clients keep a pool per lane by it.
pub fn current() -> usize {
    CURRENT.get()
}

/// The running lanes; dropping this stops them, cancelling what still runs on them.
pub struct Lanes {
    lanes: Vec<Lane>,
}

struct Lane {
    runtime: Handle,
    /// Connections handed to this lane and not yet finished.
    open: Arc<AtomicUsize>,
    /// Dropped to stop the lane.
    _stop: oneshot::Sender<()>,
}

impl Lanes {
    /// Starts `n` lanes (at least one) and returns once each thread runs. Their threads log
    /// where the calling thread does, and hand their freed memory back when they run out of
    /// work, as the main runtime's do.
    pub fn start(n: usize) -> std::io::Result<Lanes> {
        let logs = tracing::dispatcher::get_default(Clone::clone);
        let (running, started) = std::sync::mpsc::channel::<()>();
        let lanes: Vec<Lane> = (1..=n.max(1))
            .map(|number| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .on_thread_park(crate::memory::idle)
                    .build()?;
                let handle = runtime.handle().clone();
                let (stop, stopped) = oneshot::channel::<()>();
                let (logs, running) = (logs.clone(), running.clone());
                // Short enough for the kernel's 15-byte thread names, whatever the number.
                std::thread::Builder::new()
                    .name(format!("lane-{number}"))
                    .spawn(move || {
                        let _logs = tracing::dispatcher::set_default(&logs);
                        CURRENT.set(number);
                        let _ = running.send(());
                        runtime.block_on(async {
                            let _ = stopped.await;
                        });
                    })?;
                Ok(Lane {
                    runtime: handle,
                    open: Arc::new(AtomicUsize::new(0)),
                    _stop: stop,
                })
            })
            .collect::<std::io::Result<_>>()?;
        // Until then a lane's thread is not yet named, nor its runtime driven: what the
        // server says is serving would not yet be.
        drop(running);
        for _ in &lanes {
            let _ = started.recv();
        }
        Ok(Lanes { lanes })
    }

    pub fn len(&self) -> usize {
        self.lanes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }

    /// Runs a connection's work on the lane with the fewest connections open (the first such
    /// lane). `serve` is first polled on that lane's thread, inside its runtime, so a socket it
    /// registers there is driven there, and what it spawns runs there too.
    pub fn hand(&self, serve: impl Future<Output = ()> + Send + 'static) {
        let lane = self
            .lanes
            .iter()
            .min_by_key(|l| l.open.load(Ordering::Relaxed))
            .expect("at least one lane");
        let open = Open::count(&lane.open);
        lane.runtime.spawn(async move {
            let _open = open;
            serve.await;
        });
    }
}

/// One connection counted open on a lane until dropped (it finished, or its lane stopped).
struct Open(Arc<AtomicUsize>);

impl Open {
    fn count(open: &Arc<AtomicUsize>) -> Open {
        open.fetch_add(1, Ordering::Relaxed);
        Open(open.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Where a handed connection's work ran: its thread's name and `current()` there.
    async fn on_lane(lanes: &Lanes, hold: Option<oneshot::Receiver<()>>) -> (String, usize) {
        let (tx, rx) = oneshot::channel();
        lanes.hand(async move {
            let here = std::thread::current().name().unwrap_or_default().to_owned();
            let _ = tx.send((here, current()));
            if let Some(hold) = hold {
                let _ = hold.await;
            }
        });
        tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .expect("the lane ran the work")
            .expect("the lane answered")
    }

    #[tokio::test]
    async fn work_runs_on_the_lane_with_the_fewest_connections_open() {
        let lanes = Lanes::start(2).unwrap();
        assert_eq!(current(), 0, "the test's own thread is on no lane");
        let (release_first, first) = oneshot::channel();
        assert_eq!(on_lane(&lanes, Some(first)).await, ("lane-1".to_owned(), 1));
        let (_hold_second, second) = oneshot::channel::<()>();
        assert_eq!(
            on_lane(&lanes, Some(second)).await,
            ("lane-2".to_owned(), 2),
            "lane 1 has a connection open"
        );
        // The first connection ends: its lane is the emptier one again.
        release_first.send(()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while lanes.lanes[0].open.load(Ordering::Relaxed) != 0 {
            assert!(std::time::Instant::now() < deadline, "lane 1 never freed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(on_lane(&lanes, None).await.1, 1);
    }

    #[tokio::test]
    async fn stopping_the_lanes_ends_what_still_runs_on_them() {
        let lanes = Lanes::start(1).unwrap();
        let (ended, dropped) = oneshot::channel::<()>();
        let (_never, held) = oneshot::channel::<()>();
        lanes.hand(async move {
            let _ended = ended;
            let _ = held.await;
        });
        drop(lanes);
        // The task's captures are dropped with it, closing the channel.
        tokio::time::timeout(Duration::from_secs(5), dropped)
            .await
            .expect("the lane's work was ended")
            .unwrap_err();
    }

    #[test]
    fn a_lane_logs_where_the_thread_that_started_it_does() {
        use std::sync::Mutex;
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let kept = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || kept.clone())
            .finish();
        let lanes = tracing::subscriber::with_default(subscriber, || Lanes::start(1).unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        lanes.hand(async move {
            tracing::warn!("said on a lane");
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("said on a lane"), "{text:?}");
    }
}
