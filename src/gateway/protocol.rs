//! The three client protocols and how each expects an error to look (DESIGN.md §3).

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};
use serde_json::json;

use super::usage::Wire;
use crate::http::{Body, full};

/// The wire protocol a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Anthropic,
    Openai,
    Gemini,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Anthropic => "anthropic",
            Protocol::Openai => "openai",
            Protocol::Gemini => "gemini",
        }
    }

    /// The protocol a request to an unknown endpoint most likely speaks, so even a 404 comes
    /// back in a shape its SDK can read.
    pub fn guess(path: &str, headers: &HeaderMap) -> Option<Protocol> {
        if path.starts_with("/v1beta") || headers.contains_key("x-goog-api-key") {
            Some(Protocol::Gemini)
        } else if headers.contains_key("x-api-key") || headers.contains_key("anthropic-version") {
            Some(Protocol::Anthropic)
        } else if path.starts_with("/v1/") {
            Some(Protocol::Openai)
        } else {
            None
        }
    }
}

/// Names of headers the gateway writes on every request: made once, so that writing one
/// neither parses nor copies its name (a name outside http's standard list is otherwise
/// copied into a fresh allocation each time).
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-aicarpool-request-id");
pub static SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");
pub static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
/// Names the gateway reads or sets on every request of some protocol: a lookup by a `&str`
/// parses the name first (about 330 instructions each).
pub static X_GOOG_API_KEY: HeaderName = HeaderName::from_static("x-goog-api-key");
pub static ANTHROPIC_VERSION: HeaderName = HeaderName::from_static("anthropic-version");
pub static ANTHROPIC_BETA: HeaderName = HeaderName::from_static("anthropic-beta");
pub static CLAUDE_CODE_SESSION: HeaderName = HeaderName::from_static("x-claude-code-session-id");
/// Codex's session headers: `session-id` since 0.171.0, `session_id` and `conversation_id`
/// before.
pub static CODEX_SESSION: [HeaderName; 3] = [
    HeaderName::from_static("session-id"),
    HeaderName::from_static("session_id"),
    HeaderName::from_static("conversation_id"),
];

/// The media type of a `Content-Type` header without its parameters, lower-cased
/// (`text/event-stream; charset=utf-8` → `text/event-stream`); `None` when there is none.
/// Borrowed from the header unless it needs lower-casing (it is read on every request).
pub fn media_type(headers: &HeaderMap) -> Option<Cow<'_, str>> {
    let bytes = headers.get(header::CONTENT_TYPE)?.as_bytes();
    let end = memchr::memchr(b';', bytes).unwrap_or(bytes.len());
    let essence = bytes[..end].trim_ascii();
    if essence
        .iter()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
        && let Ok(text) = std::str::from_utf8(essence)
    {
        return Some(Cow::Borrowed(text));
    }
    let text = String::from_utf8_lossy(bytes);
    Some(Cow::Owned(
        text.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    ))
}

/// What went wrong, independent of how a protocol spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    MethodNotAllowed,
    TooLarge,
    UnsupportedMediaType,
    RateLimited,
    /// Every upstream failed or none is routable.
    Unavailable,
    Overloaded,
    UpstreamFailed,
    Timeout,
    Internal,
}

impl Kind {
    pub fn status(self) -> StatusCode {
        match self {
            Kind::InvalidRequest => StatusCode::BAD_REQUEST,
            Kind::Authentication => StatusCode::UNAUTHORIZED,
            Kind::Permission => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Overloaded => StatusCode::from_u16(529).expect("529 is a valid status"),
            Kind::UpstreamFailed => StatusCode::BAD_GATEWAY,
            Kind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Anthropic's `error.type` for this kind.
    fn anthropic_type(self) -> &'static str {
        match self {
            Kind::InvalidRequest | Kind::MethodNotAllowed | Kind::UnsupportedMediaType => {
                "invalid_request_error"
            }
            Kind::Authentication => "authentication_error",
            Kind::Permission => "permission_error",
            Kind::NotFound => "not_found_error",
            Kind::TooLarge => "request_too_large",
            Kind::RateLimited => "rate_limit_error",
            Kind::Overloaded | Kind::Unavailable => "overloaded_error",
            Kind::UpstreamFailed | Kind::Timeout | Kind::Internal => "api_error",
        }
    }

    /// OpenAI's `error.type` and `error.code`.
    fn openai_type(self) -> (&'static str, &'static str) {
        match self {
            Kind::InvalidRequest => ("invalid_request_error", "invalid_request"),
            Kind::MethodNotAllowed => ("invalid_request_error", "method_not_allowed"),
            Kind::Authentication => ("invalid_request_error", "invalid_api_key"),
            Kind::Permission => ("invalid_request_error", "permission_denied"),
            Kind::NotFound => ("invalid_request_error", "not_found"),
            Kind::TooLarge => ("invalid_request_error", "request_too_large"),
            Kind::UnsupportedMediaType => ("invalid_request_error", "unsupported_media_type"),
            Kind::RateLimited => ("rate_limit_exceeded", "rate_limit_exceeded"),
            Kind::Unavailable | Kind::Overloaded => ("server_error", "service_unavailable"),
            Kind::UpstreamFailed | Kind::Timeout | Kind::Internal => {
                ("server_error", "upstream_error")
            }
        }
    }

    /// Google's canonical status name.
    fn gemini_status(self) -> &'static str {
        match self {
            Kind::InvalidRequest | Kind::TooLarge | Kind::UnsupportedMediaType => {
                "INVALID_ARGUMENT"
            }
            Kind::MethodNotAllowed => "UNIMPLEMENTED",
            Kind::Authentication => "UNAUTHENTICATED",
            Kind::Permission => "PERMISSION_DENIED",
            Kind::NotFound => "NOT_FOUND",
            Kind::RateLimited => "RESOURCE_EXHAUSTED",
            Kind::Unavailable | Kind::Overloaded | Kind::UpstreamFailed => "UNAVAILABLE",
            Kind::Timeout => "DEADLINE_EXCEEDED",
            Kind::Internal => "INTERNAL",
        }
    }
}

/// The JSON error body `protocol` uses, with HTTP status `status`.
pub fn error_body(
    protocol: Option<Protocol>,
    kind: Kind,
    status: StatusCode,
    message: &str,
) -> serde_json::Value {
    match protocol {
        Some(Protocol::Anthropic) => json!({
            "type": "error",
            "error": { "type": kind.anthropic_type(), "message": message },
        }),
        Some(Protocol::Openai) => {
            let (t, code) = kind.openai_type();
            json!({ "error": { "message": message, "type": t, "param": null, "code": code } })
        }
        Some(Protocol::Gemini) => json!({
            "error": { "code": status.as_u16(), "message": message, "status": kind.gemini_status() },
        }),
        None => json!({ "error": { "code": status.as_u16(), "message": message } }),
    }
}

/// A complete error response in the client's protocol.
pub fn error_response(protocol: Option<Protocol>, kind: Kind, message: &str) -> Response<Body> {
    let status = kind.status();
    let body = error_body(protocol, kind, status, message);
    let mut resp = Response::new(full(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if kind == Kind::MethodNotAllowed {
        h.insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    resp
}

/// One SSE event carrying an error, for failures after a stream has begun, as each wire
/// format reports them.
pub fn stream_error(wire: Wire, kind: Kind, message: &str) -> Bytes {
    let text = match wire {
        Wire::Anthropic => {
            let body = error_body(Some(Protocol::Anthropic), kind, kind.status(), message);
            format!("event: error\ndata: {body}\n\n")
        }
        Wire::OpenaiChat => {
            let body = error_body(Some(Protocol::Openai), kind, kind.status(), message);
            format!("data: {body}\n\n")
        }
        Wire::OpenaiResponses => {
            let (_, code) = kind.openai_type();
            let body = json!({ "type": "error", "code": code, "message": message, "param": null });
            format!("event: error\ndata: {body}\n\n")
        }
        Wire::Gemini => {
            let body = error_body(Some(Protocol::Gemini), kind, kind.status(), message);
            format!("data: {body}\n\n")
        }
    };
    Bytes::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_media_type_is_its_essence_lower_cased() {
        for (header, essence) in [
            ("application/json", "application/json"),
            (" Application/JSON ; charset=utf-8", "application/json"),
            ("text/event-stream;charset=utf-8", "text/event-stream"),
            ("\ttext/plain\t", "text/plain"),
            ("", ""),
            (";x", ""),
        ] {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(header).unwrap());
            let got = media_type(&h).unwrap();
            assert_eq!(got, essence, "{header:?}");
            let lower = !header.bytes().any(|b| b.is_ascii_uppercase());
            assert_eq!(matches!(got, Cow::Borrowed(_)), lower, "{header:?}");
        }
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_bytes(b"text/\xe9; x").unwrap(),
        );
        assert_eq!(media_type(&h).unwrap(), "text/\u{fffd}");
        assert_eq!(media_type(&HeaderMap::new()), None);
    }

    #[test]
    fn each_protocol_has_its_own_error_shape() {
        let a = error_body(
            Some(Protocol::Anthropic),
            Kind::Authentication,
            StatusCode::UNAUTHORIZED,
            "m",
        );
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "authentication_error");
        let o = error_body(
            Some(Protocol::Openai),
            Kind::RateLimited,
            StatusCode::TOO_MANY_REQUESTS,
            "m",
        );
        assert_eq!(o["error"]["message"], "m");
        assert_eq!(o["error"]["code"], "rate_limit_exceeded");
        let g = error_body(
            Some(Protocol::Gemini),
            Kind::NotFound,
            StatusCode::NOT_FOUND,
            "m",
        );
        assert_eq!(g["error"]["code"], 404);
        assert_eq!(g["error"]["status"], "NOT_FOUND");
    }

    #[test]
    fn protocol_is_guessed_from_path_and_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(Protocol::guess("/v1/nope", &h), Some(Protocol::Openai));
        assert_eq!(
            Protocol::guess("/v1beta/models/x:foo", &h),
            Some(Protocol::Gemini)
        );
        assert_eq!(Protocol::guess("/elsewhere", &h), None);
        h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        assert_eq!(Protocol::guess("/v1/nope", &h), Some(Protocol::Anthropic));
    }
}
