//! Every endpoint the server answers, in one table:
//!
//! | method | path                                   | handler                  |
//! |--------|----------------------------------------|--------------------------|
//! | GET    | `/healthz`                             | [`healthz`]              |
//! | GET    | `/metrics`                             | [`metrics`] (admin session or metrics token) |
//! | POST   | `/v1/messages`                         | [`Gateway::relay_endpoint`] |
//! | POST   | `/v1/messages/count_tokens`            | [`Gateway::relay_endpoint`] |
//! | POST   | `/v1/chat/completions`                 | [`Gateway::relay_endpoint`] |
//! | POST   | `/v1/responses`                        | [`Gateway::relay_endpoint`] |
//! | POST   | `/v1beta/models/{model}:generateContent`, `:streamGenerateContent`, `:countTokens` (also under `/v1/models/`) | [`Gateway::relay_endpoint`] |
//! | GET    | `/v1/models`                           | [`Gateway::models`]      |
//! | GET    | `/`                                    | [`static_asset`] (admin page) |
//! | GET    | `/assets/*`                            | [`static_asset`]         |
//! | any    | `/api/admin/*`                         | [`admin::handle`] (its own table: [`admin::ROUTES`]) |
//!
//! [`Endpoint::from_path`] recognises the relayed paths.
//!
//! Anything else is 404, a known path with another method 405 — in the error shape of the
//! protocol the client most likely speaks.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use serde_json::json;
use tokio::sync::mpsc;

use crate::admin::{self, Auth};
use crate::assets;
use crate::gateway::protocol::{Kind, Protocol, error_response};
use crate::gateway::{Endpoint, Gateway};
use crate::manage::Ctx;

/// The body of every response.
pub type Body = BoxBody<Bytes, Infallible>;

/// State the handlers share.
pub struct AppState {
    pub ctx: Ctx,
    pub gateway: Arc<Gateway>,
    pub auth: Auth,
}

pub async fn route(state: &AppState, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path();
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    if let Some(endpoint) = Endpoint::from_path(path) {
        return with_api_headers(if post {
            state.gateway.clone().relay_endpoint(endpoint, req).await
        } else {
            not_allowed(&req)
        });
    }
    if path.starts_with(admin::PREFIX) && path[admin::PREFIX.len()..].starts_with('/') {
        return with_page_headers(admin::handle(state, req).await);
    }
    if get && (path == "/" || path.starts_with("/assets/")) {
        return static_asset(path, req.headers());
    }
    with_api_headers(match path {
        "/healthz" if get => healthz(state),
        "/metrics" if get => metrics(state, &req).await,
        "/v1/models" if get => state.gateway.models(&req),
        "/healthz" | "/metrics" | "/v1/models" | "/" => not_allowed(&req),
        p if p.starts_with("/assets/") => not_allowed(&req),
        p => error_response(
            Protocol::guess(p, req.headers()),
            Kind::NotFound,
            &format!(
                "no such endpoint: {} {}",
                req.method(),
                p.chars().take(200).collect::<String>()
            ),
        ),
    })
}

/// Everything but the admin page is data, never a document: whatever an upstream put in an
/// answer, a browser that opens it runs nothing, loads nothing and guesses no other type.
fn with_api_headers(resp: Response<Body>) -> Response<Body> {
    with_policy(resp, "sandbox; default-src 'none'")
}

/// Sets the content security policy and forbids type sniffing.
fn with_policy(mut resp: Response<Body>, csp: &'static str) -> Response<Body> {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    resp
}

fn not_allowed(req: &Request<Incoming>) -> Response<Body> {
    let path = req.uri().path();
    let mut resp = error_response(
        Protocol::guess(path, req.headers()),
        Kind::MethodNotAllowed,
        &format!(
            "{} is not allowed on {}",
            req.method(),
            path.chars().take(200).collect::<String>()
        ),
    );
    let allow = if Endpoint::from_path(path).is_some() {
        "POST"
    } else {
        "GET, HEAD"
    };
    resp.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    resp
}

/// `ok`, or 503 `degraded` with the reason while usage cannot be stored (so a load balancer
/// sends traffic elsewhere).
fn healthz(state: &AppState) -> Response<Body> {
    match state.gateway.meter.fault() {
        None => json_response(
            StatusCode::OK,
            &json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
        ),
        Some(reason) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "status": "degraded", "reason": reason, "version": env!("CARGO_PKG_VERSION") }),
        ),
    }
}

/// Prometheus metrics, for a signed-in admin or a scraper holding `AICARPOOL_METRICS_TOKEN`.
async fn metrics(state: &AppState, req: &Request<Incoming>) -> Response<Body> {
    let token_ok = state
        .ctx
        .config
        .upkeep
        .metrics_token
        .as_ref()
        .is_some_and(|t| {
            req.headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|given| crate::crypto::ct_eq(given.as_bytes(), t.0.as_bytes()))
        });
    let allowed = token_ok
        || matches!(
            admin::session::current(&state.ctx, req.headers()).await,
            Ok(Some(_))
        );
    if !allowed {
        let mut resp = admin::error(
            StatusCode::UNAUTHORIZED,
            "metrics need an admin session or the metrics token (Authorization: Bearer)",
        );
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return resp;
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )
        .header(header::CACHE_CONTROL, "no-store")
        .body(full(Bytes::from(state.gateway.metrics_text())))
        .expect("metrics response is valid")
}

fn static_asset(path: &str, headers: &http::HeaderMap) -> Response<Body> {
    match assets::find(path) {
        Some(a) => {
            let fresh = headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|t| t.trim() == a.etag));
            let (status, body) = if fresh {
                (StatusCode::NOT_MODIFIED, Bytes::new())
            } else {
                (StatusCode::OK, Bytes::from_static(a.body))
            };
            with_page_headers(
                Response::builder()
                    .status(status)
                    .header(header::CONTENT_TYPE, a.content_type)
                    .header(header::CACHE_CONTROL, a.cache_control)
                    .header(header::ETAG, a.etag)
                    .body(full(body))
                    .expect("static response is valid"),
            )
        }
        None => error_response(None, Kind::NotFound, "no such file"),
    }
}

/// The admin page and its API load nothing from elsewhere, run no inline script and are
/// never framed.
fn with_page_headers(resp: Response<Body>) -> Response<Body> {
    let mut resp = with_policy(
        resp,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    let h = resp.headers_mut();
    h.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    resp
}

pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(full(Bytes::from(value.to_string())))
        .expect("json response is valid")
}

/// A body that is already complete.
pub fn full(bytes: Bytes) -> Body {
    Full::new(bytes).boxed()
}

/// A body fed chunk by chunk through a channel by `producer`, which the body drives itself
/// while the client reads: producer and response share one task, so a chunk passes without
/// waking another thread (measured: a separate task cost a cross-thread wake-up per SSE event).
/// If the client leaves first, the producer is moved to a task of its own and runs to its end
/// (it sees the channel closed); the body ends when the producer drops its sender.
pub fn channel_body(
    rx: mpsc::Receiver<Bytes>,
    producer: impl Future<Output = ()> + Send + 'static,
) -> Body {
    ChannelBody {
        rx,
        producer: std::sync::Mutex::new(Some(Box::pin(producer))),
    }
    .boxed()
}

struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
    /// In a mutex only so the body is `Sync` as hyper's boxed body requires; it is reached
    /// through `&mut` alone (`get_mut`), so never locked.
    producer: std::sync::Mutex<Option<Producer>>,
}

type Producer = Pin<Box<dyn Future<Output = ()> + Send>>;

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let chunk = |c: Option<Bytes>| Poll::Ready(c.map(|b| Ok(Frame::data(b))));
        loop {
            match self.rx.try_recv() {
                Ok(b) => return chunk(Some(b)),
                Err(mpsc::error::TryRecvError::Disconnected) => return chunk(None),
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            let slot = self.producer.get_mut().expect("producer slot");
            let Some(producer) = slot.as_mut() else {
                return match self.rx.poll_recv(cx) {
                    Poll::Ready(c) => chunk(c),
                    Poll::Pending => Poll::Pending,
                };
            };
            match producer.as_mut().poll(cx) {
                // Finished: its sender is gone; what it sent is still read above.
                Poll::Ready(()) => *slot = None,
                // Waiting on its source (which will wake this task): pass on what it sent.
                Poll::Pending => {
                    return match self.rx.try_recv() {
                        Ok(b) => chunk(Some(b)),
                        Err(mpsc::error::TryRecvError::Disconnected) => chunk(None),
                        Err(mpsc::error::TryRecvError::Empty) => Poll::Pending,
                    };
                }
            }
        }
    }
}

impl Drop for ChannelBody {
    fn drop(&mut self) {
        if let Some(producer) = self.producer.get_mut().ok().and_then(Option::take)
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(producer);
        }
    }
}
