//! Every endpoint the server answers, in one table:
//!
//! | method | path          | handler          |
//! |--------|---------------|------------------|
//! | GET    | `/healthz`    | [`healthz`]      |
//! | GET    | `/`           | [`static_asset`] (admin page) |
//! | GET    | `/assets/*`   | [`static_asset`] |
//!
//! Anything else is 404, a known path with another method 405.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use serde_json::json;

use crate::assets;
use crate::manage::Ctx;

pub type Body = Full<Bytes>;

/// State the handlers share.
pub struct AppState {
    pub ctx: Ctx,
}

pub async fn route<B>(state: &AppState, req: Request<B>) -> Response<Body> {
    let path = req.uri().path();
    let method = req.method();
    match (method, path) {
        (&Method::GET | &Method::HEAD, "/healthz") => healthz(state),
        (&Method::GET | &Method::HEAD, p) if p == "/" || p.starts_with("/assets/") => {
            static_asset(p)
        }
        (_, "/healthz" | "/") => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        (_, p) if p.starts_with("/assets/") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => error(StatusCode::NOT_FOUND, "no such endpoint"),
    }
}

fn healthz(_state: &AppState) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
    )
}

fn static_asset(path: &str) -> Response<Body> {
    match assets::find(path) {
        Some(a) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, a.content_type)
            .header(header::CACHE_CONTROL, a.cache_control)
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header(
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            )
            .body(Full::new(Bytes::from_static(a.body)))
            .expect("static response is valid"),
        None => error(StatusCode::NOT_FOUND, "no such file"),
    }
}

pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(value.to_string())))
        .expect("json response is valid")
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({ "error": { "code": status.as_u16(), "message": message } }),
    )
}
