//! The listening side: accept loop, optional TLS (rustls), HTTP/1.1 and HTTP/2 through hyper,
//! connection limits, and graceful shutdown that drains in-flight requests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::admin::session::SETUP_TTL;
use crate::admin::{AppState, Auth};
use crate::config::{Config, HttpLimits, TlsFiles};
use crate::connections::{Activity, Connections, default_max_connections, tracked};
use crate::error::{Error, Result};
use crate::gateway::Gateway;
use crate::lanes::Lanes;
use crate::manage::Ctx;
use crate::router::route;
use crate::store::admins;

/// HTTP/2 streams one connection may have open at once.
const MAX_H2_STREAMS: u32 = 256;
/// The shortest wait between looks at a busy connection's deadlines (timeouts of zero).
const LOOK_AGAIN_AT_LEAST: Duration = Duration::from_millis(10);

/// Accept failures (usually the descriptor limit): each waits longer, up to a second, and
/// they are logged at most every ten seconds with a count, not once each.
#[derive(Default)]
struct AcceptErrors {
    streak: u32,
    suppressed: u64,
    last_log: Option<std::time::Instant>,
}

impl AcceptErrors {
    fn failed(&mut self, e: &std::io::Error) -> Duration {
        self.streak = self.streak.saturating_add(1);
        let now = std::time::Instant::now();
        if self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10))
        {
            warn!(error = %e, suppressed = self.suppressed, "accept failed; backing off");
            self.last_log = Some(now);
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
        Duration::from_millis(10u64 << self.streak.min(7)).min(Duration::from_secs(1))
    }

    fn reset(&mut self) {
        self.streak = 0;
    }
}

/// Opens the data directory (migrating it), then serves on `listener` until `shutdown`
/// resolves; then stops accepting, lets in-flight requests finish (up to the configured drain
/// time) and returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    // Start-up builds the snapshot and the limits' state and frees their scaffolding: returned
    // to the system at once (see `memory::Eager`), until the gateway starts accepting.
    let starting = crate::memory::Eager::hold();
    let tls = config.tls.as_ref().map(load_tls).transpose()?;
    let drain = config.shutdown_drain;
    let (ctx, prepared) = Ctx::open(config).await?;
    if let Some(backup) = &prepared.backup {
        info!(backup = %backup.display(), "backed up the database before migrating");
    }
    for m in &prepared.applied {
        info!(version = m.version, name = %m.name, "applied migration");
    }
    let builder = http_builder(&ctx.config);
    let (stop_tasks, tasks) = crate::tasks::shutdown();
    let gateway = Gateway::start(&ctx, tasks.clone()).await?;
    crate::upkeep::start(&ctx.config, ctx.db.clone(), tasks);
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the listen address", e))?;
    let auth = Auth::new(tls.is_some());
    if ctx.db.read(admins::count).await? == 0 {
        // The token sits in the fragment, which browsers never send: it stays out of any
        // proxy's access log.
        let scheme = if tls.is_some() { "https" } else { "http" };
        let setup_url = format!("{scheme}://{addr}/#/setup/{}", auth.issue_setup_token()?);
        warn!(
            %setup_url,
            valid_minutes = SETUP_TTL.as_secs() / 60,
            "no admin exists yet: open this one-time link to choose the first admin's password \
             (or run `aicarpool admin set-password --username <name>`)"
        );
    }
    let state = Arc::new(AppState {
        ctx,
        gateway: gateway.clone(),
        auth,
    });
    let graceful = GracefulShutdown::new();
    let limits = state.ctx.config.http.clone();
    let max_connections = limits
        .max_connections
        .unwrap_or_else(default_max_connections);
    let connections = Arc::new(Connections::new(max_connections));
    let lanes = Lanes::start(state.ctx.config.lanes)
        .map_err(|e| Error::io("starting the request threads", e))?;
    let workers = lanes.len();
    info!(%addr, tls = tls.is_some(), max_connections, workers, "listening");
    let mut accept_errors = AcceptErrors::default();
    // This thread built the gateway (the snapshot, the limits' rebuild) and from here on only
    // accepts: what start-up freed on it is handed back now, or it would be kept for good.
    crate::memory::tidy();
    drop(starting);

    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    accept_errors.reset();
                    a
                }
                Err(e) => {
                    // Usually EMFILE: back off (longer each time) instead of spinning.
                    tokio::time::sleep(accept_errors.failed(&e)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(registered) = connections.open() else {
            debug!(%peer, "connection refused: every connection is busy");
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Moved to its lane as a plain socket, registered there with that lane's runtime.
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                debug!(%peer, error = %e, "could not hand the connection to a request thread");
                continue;
            }
        };
        let (state, builder, tls, watcher, limits) = (
            state.clone(),
            builder.clone(),
            tls.clone(),
            graceful.watcher(),
            limits.clone(),
        );
        // On its lane the connection runs as a task of its own, polled only for its own I/O;
        // the task handed to the lane, idle, keeps its deadlines and ends it when they pass
        // (and counts it open on that lane meanwhile). Polling the deadline's timer
        // and the eviction notice alongside the connection cost about 2 % of a request's
        // instructions, every time the connection woke.
        let activity = registered.activity.clone();
        let service = service_fn(move |req: hyper::Request<_>| {
            let state = state.clone();
            let in_flight = activity.begin(req.version() == hyper::Version::HTTP_2);
            async move {
                let resp = route(&state, req, peer).await;
                Ok::<_, std::convert::Infallible>(tracked(resp, in_flight))
            }
        });
        lanes.hand(async move {
            let stream = match TcpStream::from_std(stream) {
                Ok(s) => s,
                Err(e) => return debug!(%peer, error = %e, "could not register the connection"),
            };
            let served = tokio::spawn(async move {
                match tls {
                    None => {
                        let conn = builder.serve_connection(TokioIo::new(stream), service);
                        watcher.watch(conn.into_owned()).await
                    }
                    Some(acceptor) => {
                        // The handshake is part of the head's time, which runs from accept.
                        let tls_stream = match acceptor.accept(stream).await {
                            Ok(s) => s,
                            Err(e) => return Err(Box::new(e) as _),
                        };
                        let conn = builder.serve_connection(TokioIo::new(tls_stream), service);
                        watcher.watch(conn.into_owned()).await
                    }
                }
            });
            let result = keep_deadlines(served, &registered.activity, &limits).await;
            // Only now, with the connection gone, does its place among the open ones free up.
            drop(registered);
            match result {
                Ok(true) => debug!(%peer, "closed a silent, idle or evicted connection"),
                Ok(false) => {}
                Err(e) => debug!(%peer, error = %e, "connection ended with an error"),
            }
        });
    }

    drop(listener);
    info!(
        in_flight = graceful.count(),
        "shutting down: draining connections"
    );
    tokio::select! {
        () = graceful.shutdown() => info!("drained"),
        () = tokio::time::sleep(drain) => warn!(?drain, "drain time over; closing remaining connections"),
    }
    gateway.meter.flush().await;
    stop_tasks.stop();
    drop(lanes);
    Ok(())
}

type ServeError = Box<dyn std::error::Error + Send + Sync>;
type Served = std::result::Result<(), ServeError>;

/// Waits for the connection to end, cutting it when its first head has not arrived in time,
/// when it has been idle too long, or when it must give way to a new one at the cap. `true`
/// when it was cut.
async fn keep_deadlines(
    mut served: tokio::task::JoinHandle<Served>,
    activity: &Activity,
    limits: &HttpLimits,
) -> std::result::Result<bool, ServeError> {
    // While a request is in flight no deadline runs. Once it ends, the next one falls no
    // sooner than the shorter time after that: looking again after that long never lets one
    // pass unseen, and costs a busy connection one timer per timeout, none per request.
    let busy_wait = limits
        .header_read_timeout
        .min(limits.idle_timeout)
        .max(LOOK_AGAIN_AT_LEAST);
    loop {
        let deadline = activity.deadline(limits.header_read_timeout, limits.idle_timeout);
        let wake = deadline.unwrap_or_else(|| std::time::Instant::now() + busy_wait);
        let cut = tokio::select! {
            r = &mut served => return match r {
                Ok(served) => served.map(|()| false),
                Err(gone) => Err(Box::new(gone)),
            },
            () = tokio::time::sleep_until(wake.into()) => {
                deadline.is_some()
                    && activity
                        .deadline(limits.header_read_timeout, limits.idle_timeout)
                        .is_some_and(|d| d <= std::time::Instant::now())
            }
            // A request may have begun since it was picked: that one finishes.
            () = activity.evict.notified() => !activity.busy(),
        };
        if cut {
            served.abort();
            // Dropped once the abort lands: the socket closes with it.
            let _ = served.await;
            return Ok(true);
        }
    }
}

fn http_builder(config: &Config) -> auto::Builder<TokioExecutor> {
    let limits = &config.http;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // No `header_read_timeout`: the connection's own deadlines hold each head to it
        // (`Activity::deadline`), where hyper's armed a timer for every request.
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_H2_STREAMS)
        .max_header_list_size(limits.max_header_bytes as u32)
        .max_pending_accept_reset_streams(64)
        .keep_alive_interval(Duration::from_secs(30));
    builder
}

/// Loads the certificate chain and key for `--tls-cert/--tls-key`, offering h2 and http/1.1.
fn load_tls(files: &TlsFiles) -> Result<TlsAcceptor> {
    let bad = |what: &str, path: &std::path::Path, e: String| {
        Error::Invalid(format!("{what} {}: {e}", path.display()))
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| bad("TLS certificate", &files.cert, e.to_string()))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad("TLS certificate", &files.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(
            "TLS certificate",
            &files.cert,
            "no certificate found".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| bad("TLS key", &files.key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Invalid(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Invalid(format!("TLS certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
