//! The outbound HTTP clients: hyper's pooled client over rustls (ring, Mozilla roots plus any
//! configured extra CA), HTTP/1.1 and HTTP/2 by ALPN, `TCP_NODELAY`, a connect timeout. One
//! client (and pool) goes direct; each distinct account proxy gets its own; and each request
//! lane has its own of each, so an upstream connection is driven on the lane that uses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::proxy::{Connector, ProxySettings};
use crate::config::UpstreamPolicy;
use crate::error::{Error, Result};

pub type HttpClient = Client<HttpsConnector<Connector>, Full<Bytes>>;

/// Idle upstream connections are kept this long for reuse.
const POOL_IDLE: Duration = Duration::from_secs(90);
/// Idle connections kept per upstream host: enough for steady traffic, without holding a
/// burst's thousand connections (and their buffers) for the idle time.
const POOL_MAX_IDLE_PER_HOST: usize = 128;

pub struct Clients {
    /// One for the threads outside any lane, then one per lane (`lanes::current`).
    direct: Box<[HttpClient]>,
    proxied: Mutex<HashMap<(Arc<ProxySettings>, usize), HttpClient>>,
    tls: Arc<rustls::ClientConfig>,
    policy: UpstreamPolicy,
}

impl Clients {
    /// Clients for work outside the request lanes (an account's test, a sign-in).
    pub fn new(policy: &UpstreamPolicy) -> Result<Clients> {
        Clients::for_lanes(policy, 0)
    }

    /// Clients for a gateway serving on `lanes` request lanes.
    pub fn for_lanes(policy: &UpstreamPolicy, lanes: usize) -> Result<Clients> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::Internal(format!("TLS client setup: {e}")))?
                .with_root_certificates(roots(policy.extra_roots.as_deref())?)
                .with_no_client_auth(),
        );
        Ok(Clients {
            direct: (0..=lanes)
                .map(|_| build(policy, tls.clone(), None))
                .collect(),
            proxied: Mutex::new(HashMap::new()),
            tls,
            policy: policy.clone(),
        })
    }

    /// The client for an account on the calling thread's lane: direct, or the one for its
    /// proxy.
    pub fn get(&self, proxy: Option<&Arc<ProxySettings>>) -> HttpClient {
        // A lane of another gateway in this process (tests run several) uses the shared one.
        let lane = crate::lanes::current();
        let lane = if lane < self.direct.len() { lane } else { 0 };
        let Some(proxy) = proxy else {
            return self.direct[lane].clone();
        };
        let mut map = self.proxied.lock().expect("proxy clients");
        map.entry((proxy.clone(), lane))
            .or_insert_with(|| build(&self.policy, self.tls.clone(), Some(proxy.clone())))
            .clone()
    }
}

fn build(
    policy: &UpstreamPolicy,
    tls: Arc<rustls::ClientConfig>,
    proxy: Option<Arc<ProxySettings>>,
) -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(policy.connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));
    let connector = Connector::new(http, proxy, tls.clone(), policy.connect_timeout);
    let https = HttpsConnectorBuilder::new()
        .with_tls_config((*tls).clone())
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(connector);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(https)
}

/// Mozilla's roots, plus the certificates in `extra` when given.
fn roots(extra: Option<&std::path::Path>) -> Result<RootCertStore> {
    let mut store = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = extra {
        let bad = |e: String| Error::Invalid(format!("upstream CA file {}: {e}", path.display()));
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(e.to_string()))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no certificate found".into()));
        }
        for cert in certs {
            store.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    Ok(store)
}
