//! A server run in the test's own process: [`aicarpool::run`] on a runtime of its own, with
//! the `serve` command line's flags, logging into the test's [`Logs`] through a subscriber
//! only that runtime's threads use (tests of one binary run side by side in one process).

use std::io::Write;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;
use tracing_subscriber::fmt::MakeWriter;

use super::{Logs, Run, Server};

/// What the test holds to stop its in-process server.
pub struct Handle {
    /// Starts a graceful shutdown, as SIGTERM does for the binary.
    stop: Option<oneshot::Sender<()>>,
    /// Drops the server at once, in-flight requests and all, as a kill does.
    abort: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<bool>>,
}

impl Handle {
    /// Shuts down gracefully; true when `run` returned without an error.
    pub fn stop(&mut self) -> bool {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.join()
    }

    pub fn abort(&mut self) {
        if let Some(abort) = self.abort.take() {
            let _ = abort.send(());
        }
        self.join();
    }

    fn join(&mut self) -> bool {
        self.thread
            .take()
            .is_some_and(|t| t.join().expect("the server thread does not panic"))
    }
}

/// Starts `aicarpool --data-dir <data_dir> serve --listen 127.0.0.1:0 <extra>` in-process and
/// waits until it listens.
pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
    let mut args = vec![
        "aicarpool".into(),
        "--data-dir".into(),
        data_dir.as_os_str().to_owned(),
    ];
    args.extend(["serve", "--listen", "127.0.0.1:0"].map(Into::into));
    args.extend(extra.iter().map(Into::into));
    let config = aicarpool::cli::serve_config::<_, std::ffi::OsString>(args)
        .unwrap_or_else(|e| panic!("serve {extra:?}: {e}"));
    undecided_by_default();
    let logs = Logs::default();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_ansi(false)
            .with_writer(logs.clone())
            .finish(),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let (abort, aborted) = oneshot::channel::<()>();
    let kept = logs.clone();
    let thread = std::thread::Builder::new()
        .name("serve".into())
        .spawn(move || {
            let _logs = tracing::dispatcher::set_default(&dispatch);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .on_thread_start(move || {
                    // The guard would restore the previous subscriber; these threads keep
                    // this one until they end with the runtime.
                    std::mem::forget(tracing::dispatcher::set_default(&dispatch));
                })
                .build()
                .expect("a runtime for the server");
            let ok = runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(config.listen)
                    .await
                    .expect("a free loopback port");
                let shutdown = async move {
                    let _ = stopped.await;
                };
                tokio::select! {
                    ran = aicarpool::run(config, listener, shutdown) => {
                        if let Err(e) = &ran {
                            tracing::error!("error: {e}");
                        }
                        ran.is_ok()
                    }
                    _ = aborted => false,
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
            kept.close();
            ok
        })
        .expect("a thread for the server");
    let (addr, setup_url) = logs.listening();
    Server {
        run: Run::InProcess(Handle {
            stop: Some(stop),
            abort: Some(abort),
            thread: Some(thread),
        }),
        addr,
        setup_url,
        logs: logs.lines.clone(),
    }
}

/// One formatted event; its lines go to the test's log when it is dropped.
pub struct Event {
    logs: Logs,
    text: Vec<u8>,
}

impl Write for Event {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        for line in String::from_utf8_lossy(&self.text).lines() {
            self.logs.push(line.to_owned());
        }
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Event;

    fn make_writer(&'a self) -> Event {
        Event {
            logs: self.clone(),
            text: Vec::new(),
        }
    }
}

/// Makes the process's global subscriber one that lets each event's own thread decide.
///
/// tracing caches, per call site and for the whole process, whether any subscriber wants its
/// events. A call site first reached while another test was creating its subscriber can be
/// cached as wanted by none, and then its events never reach any test's log (seen once in CI:
/// a server's "listening" line lost, its test waiting 30 s for it). With this global
/// subscriber answering "sometimes", no call site is ever cached as wanted by none: each
/// event asks its thread's own subscriber.
fn undecided_by_default() {
    struct Undecided;
    impl tracing::Subscriber for Undecided {
        fn register_callsite(
            &self,
            _: &'static tracing::Metadata<'static>,
        ) -> tracing::subscriber::Interest {
            tracing::subscriber::Interest::sometimes()
        }
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            false
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, _: &tracing::Event<'_>) {}
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Only this sets the global one; setting it recomputes every call site's interest.
        let _ = tracing::subscriber::set_global_default(Undecided);
    });
}
