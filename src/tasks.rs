//! The one shape of every background loop (recovery, token refresh, pruning, backups, model
//! discovery, the change watcher, storage recovery): run a step, wait the interval or stop at
//! shutdown, and log a failed step without ending the loop — the next turn tries again.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, warn};

/// Tells the loops to stop; dropped or fired, they end at their next wait.
pub struct Stop(watch::Sender<bool>);

/// What a loop waits on beside its interval.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A stop switch and the signal it gives.
pub fn shutdown() -> (Stop, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Stop(tx), Shutdown(rx))
}

impl Stop {
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    /// A signal that never fires (for a process that stops by exiting).
    pub fn never() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        // The sender lives as long as the process: the signal stays unfired.
        std::mem::forget(tx);
        Shutdown(rx)
    }

    /// Resolves once the stop switch fired or was dropped.
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }
}

/// Spawns the loop `name`: `step` now, then again after each `interval()` (read every turn, so
/// a setting changed while serving applies from the next wait), until `shutdown`.
pub fn every<S, F, I>(
    name: &'static str,
    mut interval: I,
    mut shutdown: Shutdown,
    mut step: S,
) -> tokio::task::JoinHandle<()>
where
    S: FnMut() -> F + Send + 'static,
    F: Future<Output = Result<(), String>> + Send,
    I: FnMut() -> Duration + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            if let Err(e) = step().await {
                warn!(task = name, error = %e, "a background step failed; it runs again next turn");
            }
            tokio::select! {
                () = tokio::time::sleep(interval()) => {}
                () = shutdown.wait() => break,
            }
        }
        debug!(task = name, "background task stopped");
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_loop_runs_at_once_then_every_interval_survives_failures_and_stops() {
        let runs = Arc::new(AtomicUsize::new(0));
        let (stop, signal) = shutdown();
        let counted = runs.clone();
        let task = every(
            "test",
            || Duration::from_secs(60),
            signal,
            move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 1 {
                        Err("the second turn fails".to_owned())
                    } else {
                        Ok(())
                    }
                }
            },
        );
        tokio::task::yield_now().await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "the first step runs at once"
        );
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "a failed step does not end the loop"
        );
        stop.stop();
        task.await.unwrap();
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "stopped");
    }

    #[tokio::test(start_paused = true)]
    async fn the_interval_is_read_every_turn() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let waits = Arc::new(AtomicUsize::new(10));
        let w = waits.clone();
        let (stop, signal) = shutdown();
        let _task = every(
            "test",
            move || Duration::from_secs(w.load(Ordering::SeqCst) as u64),
            signal,
            move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Ok(()) }
            },
        );
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        waits.store(1000, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "this wait was read before the change"
        );
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "the next waits 1000 s");
        drop(stop);
    }
}
