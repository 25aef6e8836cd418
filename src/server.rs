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
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::admin::Auth;
use crate::admin::session::SETUP_TTL;
use crate::config::{Config, TlsFiles};
use crate::error::{Error, Result};
use crate::gateway::Gateway;
use crate::manage::Ctx;
use crate::router::{AppState, route};
use crate::store::admins;

/// HTTP/2 streams one connection may have open at once.
const MAX_H2_STREAMS: u32 = 256;

/// Opens the data directory (migrating it), then serves on `listener` until `shutdown`
/// resolves; then stops accepting, lets in-flight requests finish (up to the configured drain
/// time) and returns.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
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
    let gateway = Gateway::start(&ctx).await?;
    crate::upkeep::start(&ctx.config, ctx.db.clone());
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
    info!(%addr, tls = tls.is_some(), "listening");

    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning, keep serving the rest.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (state, builder, tls, watcher) = (
            state.clone(),
            builder.clone(),
            tls.clone(),
            graceful.watcher(),
        );
        let handshake_timeout = state.ctx.config.http.header_read_timeout;
        tokio::spawn(async move {
            let service = service_fn(move |mut req: hyper::Request<_>| {
                let state = state.clone();
                // The admin API throttles sign-in attempts per client address.
                req.extensions_mut().insert(peer);
                async move { Ok::<_, std::convert::Infallible>(route(&state, req).await) }
            });
            let result = match tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    let tls_stream = match tokio::time::timeout(
                        handshake_timeout,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => return debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => return debug!(%peer, "TLS handshake timed out"),
                    };
                    let conn = builder.serve_connection(TokioIo::new(tls_stream), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                debug!(%peer, error = %e, "connection ended with an error");
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
    Ok(())
}

fn http_builder(config: &Config) -> auto::Builder<TokioExecutor> {
    let limits = &config.http;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
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
