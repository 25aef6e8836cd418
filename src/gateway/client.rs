//! The outbound HTTP client: hyper's pooled client over rustls (ring, Mozilla roots), HTTP/1.1
//! and HTTP/2 by ALPN, `TCP_NODELAY`, a connect timeout.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::config::UpstreamPolicy;
use crate::error::{Error, Result};

pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Idle upstream connections are kept this long for reuse.
const POOL_IDLE: Duration = Duration::from_secs(90);

pub fn build(policy: &UpstreamPolicy) -> Result<HttpClient> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(policy.connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let https = HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)
        .map_err(|e| Error::Internal(format!("TLS client setup: {e}")))?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(https))
}
