//! Every endpoint the server answers, in one table:
//!
//! | method | path                                   | handler                  |
//! |--------|----------------------------------------|--------------------------|
//! | GET    | `/healthz`                             | [`healthz`]              |
//! | GET    | `/metrics`                             | [`metrics`] (admin session or metrics token) |
//! | POST   | `/v1/messages`                         | [`relay_endpoint`](crate::gateway::Gateway::relay_endpoint) |
//! | POST   | `/v1/messages/count_tokens`            | [`relay_endpoint`](crate::gateway::Gateway::relay_endpoint) |
//! | POST   | `/v1/chat/completions`                 | [`relay_endpoint`](crate::gateway::Gateway::relay_endpoint) |
//! | POST   | `/v1/responses`                        | [`relay_endpoint`](crate::gateway::Gateway::relay_endpoint) |
//! | POST   | `/v1beta/models/{model}:generateContent`, `:streamGenerateContent`, `:countTokens` (also under `/v1/models/`) | [`relay_endpoint`](crate::gateway::Gateway::relay_endpoint) |
//! | GET    | `/v1/models`                           | [`models`](crate::gateway::Gateway::models)      |
//! | GET    | `/api/me`, `/api/me/requests`          | [`me`](crate::gateway::Gateway::me), [`my_requests`](crate::gateway::Gateway::my_requests) (the member key) |
//! | GET    | `/`                                    | [`static_asset`] (admin page) |
//! | GET    | `/assets/*`                            | [`static_asset`]         |
//! | any    | `/api/admin/*`                         | [`admin::handle`] (its own table: [`admin::ROUTES`]) |
//!
//! [`Endpoint::from_path`] recognises the relayed paths.
//!
//! Anything else is 404, a known path with another method 405 — in the error shape of the
//! protocol the client most likely speaks.
//!
//! Where things happen, each one hop from here:
//! - a request is relayed (failover, delivery, the stream pump) in `gateway::relay`
//!   ([`Gateway::relay_endpoint`](crate::gateway::Gateway::relay_endpoint) authenticates,
//!   reads and admits it first);
//! - an account changes state in [`crate::store::accounts::advance`], as the pure
//!   [`crate::lifecycle::next`] decides (relay, `account test`, recovery timer, admin and CLI);
//! - a usage row is written by [`crate::gateway::meter::Meter::record`] (journal first, then
//!   group commits in `store::usage::insert`);
//! - an admin route is authorised in [`admin::handle`] (session, CSRF token, JSON body).
//!
//! Layers point one way (checked by `tests/layers.rs`): cli → server → router → {admin,
//! gateway} → manage → upstream → store → leaves (domain, error, config, crypto, http, json,
//! lifecycle).

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde_json::json;

use crate::admin::{self, AppState};
use crate::assets;
use crate::gateway::Endpoint;
use crate::gateway::protocol::{Kind, Protocol, error_response};
use crate::http::{Body, full, json_response};

pub async fn route(
    state: &AppState,
    mut req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
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
    // The rarer routes' futures are boxed: hyper moves this future (twice) on every request,
    // and inline the admin API's made it 8.7 kB; the relay's own work is boxed in
    // `relay_endpoint`.
    if path.starts_with(admin::PREFIX) && path[admin::PREFIX.len()..].starts_with('/') {
        // The admin API throttles sign-in attempts per client address. Only its requests
        // carry it: an extension costs every request three allocations.
        req.extensions_mut().insert(peer);
        return with_page_headers(Box::pin(admin::handle(state, req)).await);
    }
    if get && (path == "/" || path.starts_with("/assets/")) {
        return static_asset(path, req.headers());
    }
    with_api_headers(match path {
        "/healthz" if get => healthz(state),
        "/metrics" if get => Box::pin(metrics(state, &req)).await,
        "/v1/models" if get => state.gateway.models(&req),
        "/api/me" if get => Box::pin(state.gateway.me(&req)).await,
        "/api/me/requests" if get => Box::pin(state.gateway.my_requests(&req)).await,
        "/healthz" | "/metrics" | "/v1/models" | "/" | "/api/me" | "/api/me/requests" => {
            not_allowed(&req)
        }
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
