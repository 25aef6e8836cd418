//! The gateway: authenticate a member key from the in-memory snapshot, parse just enough of the
//! request to route it, and relay it to an upstream account (DESIGN.md §3–§6).

pub mod client;
pub mod health;
pub mod limits;
pub mod meter;
pub mod protocol;
mod relay;
pub mod select;
pub mod snapshot;
pub mod usage;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use self::health::Health;
use self::limits::{Admission, Limiter};
use self::protocol::{Kind, Protocol, error_response};
use self::relay::{ANTHROPIC_PLATFORMS, Call, Failed};
use self::select::Sticky;
use self::snapshot::{Snapshot, Snapshots};
use crate::config::Config;
use crate::crypto::hex_encode;
use crate::domain::{ClientKind, KeyStatus, Outcome};
use crate::error::Result;
use crate::manage::Ctx;
use crate::router::{Body, json_response};
use crate::store::keys::ApiKey;
use crate::store::now_ms;

/// How often the database is checked for changes made by another process.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Everything the request path shares.
pub struct Gateway {
    config: Config,
    pub snapshots: Arc<Snapshots>,
    health: Arc<Health>,
    sticky: Sticky,
    client: client::HttpClient,
    pub meter: meter::Meter,
    limiter: limits::Limiter,
}

/// The endpoints the gateway relays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Messages,
    CountTokens,
}

impl Gateway {
    /// Loads the snapshot and starts the change watcher and the recovery timer.
    pub async fn start(ctx: &Ctx) -> Result<Arc<Gateway>> {
        let meter = meter::Meter::open(ctx.db.clone(), &ctx.config.journal_dir()).await?;
        let snapshots = Snapshots::open(ctx.db.clone(), ctx.secrets.clone()).await?;
        let limiter = limits::Limiter::new(
            ctx.db.clone(),
            ctx.config.time_zone.clone(),
            ctx.config.queue_timeout,
        );
        limiter.rebuild(&snapshots.get(), now_ms()).await?;
        let health = Arc::new(Health::new(
            ctx.db.clone(),
            snapshots.clone(),
            ctx.config.accounts.clone(),
        ));
        tokio::spawn(
            snapshots
                .clone()
                .watch(ctx.config.db_path(), WATCH_INTERVAL),
        );
        tokio::spawn(health.clone().recovery_timer());
        Ok(Arc::new(Gateway {
            config: ctx.config.clone(),
            snapshots,
            health,
            sticky: Sticky::new(ctx.config.upstream.sticky_ttl),
            client: client::build(&ctx.config.upstream)?,
            meter,
            limiter,
        }))
    }

    /// `POST /v1/messages` and `POST /v1/messages/count_tokens`. Runs as its own task, so a
    /// client that disconnects does not cut the request short before its usage is logged.
    pub async fn anthropic(
        self: Arc<Self>,
        endpoint: Endpoint,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let gw = self.clone();
        match tokio::spawn(async move { gw.anthropic_inner(endpoint, req).await }).await {
            Ok(resp) => resp,
            Err(_) => error_response(
                Some(Protocol::Anthropic),
                Kind::Internal,
                "the request failed inside the gateway",
            ),
        }
    }

    async fn anthropic_inner(
        self: Arc<Self>,
        endpoint: Endpoint,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let p = Some(Protocol::Anthropic);
        let started = Instant::now();
        let started_at = now_ms();
        let snap = self.snapshots.get();
        let key = match authenticate(&snap, req.headers(), started_at) {
            Ok(k) => k,
            Err(msg) => return error_response(p, Kind::Authentication, msg),
        };
        let (parts, body) = req.into_parts();
        let body =
            match read_request_body(&parts.headers, body, self.config.http.max_body_bytes).await {
                Ok(b) => b,
                Err(resp) => return resp(p),
            };
        let parsed: MessagesRequest = match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return error_response(
                    p,
                    Kind::InvalidRequest,
                    &format!("request body is not valid JSON: {e}"),
                );
            }
        };
        let Some(model) = parsed.model.filter(|m| !m.is_empty()) else {
            return error_response(p, Kind::InvalidRequest, "model: field required");
        };
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect::<String>());
        let session = conversation(&parts.headers, parsed.metadata.as_ref())
            .map(|s| Sticky::session(key.id, s));
        let (endpoint_name, path) = match endpoint {
            Endpoint::Messages => ("/v1/messages", "/v1/messages"),
            Endpoint::CountTokens => ("/v1/messages/count_tokens", "/v1/messages/count_tokens"),
        };
        let upstream_path = match parts.uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        let client = ClientKind::from_user_agent(user_agent.as_deref());
        let mut call = Call {
            client,
            group: snap.groups.get(&key.group_id).cloned(),
            key,
            protocol: Protocol::Anthropic,
            endpoint: endpoint_name,
            upstream_path,
            headers: parts.headers,
            body,
            model,
            stream: parsed.stream,
            session,
            billed: endpoint == Endpoint::Messages,
            user_agent,
            request_id: request_id(),
            started,
            started_at,
            platforms: Vec::new(),
            admission: Admission::default(),
            day: self.limiter.day_label(started_at),
        };
        let access = Limiter::check_access(&call.key, client, &call.model)
            .and_then(|()| Limiter::allowed_platforms(&call.key, ANTHROPIC_PLATFORMS));
        call.platforms = match access {
            Ok(p) => p,
            Err(r) => return self.refuse(&call, r).await,
        };
        call.admission = match self
            .limiter
            .admit(&call.key, call.group.as_deref(), started_at)
            .await
        {
            Ok(a) => a,
            Err(r) => return self.refuse(&call, r).await,
        };
        self.relay(call).await
    }

    /// Logs a request the key's limits refused and answers it, without reaching an upstream.
    async fn refuse(&self, call: &Call, r: limits::Refusal) -> Response<Body> {
        let failure = Failed {
            outcome: Outcome::Refused,
            account: None,
            attempts: 0,
            status: r.kind.status(),
            kind: r.kind,
            message: r.message,
            retry_after: r.retry_after,
        };
        self.failed(call, failure).await
    }

    /// `GET /v1/models`: the models this key's group can reach, in the asking SDK's format.
    pub fn models(&self, req: &Request<Incoming>) -> Response<Body> {
        let anthropic = req.headers().contains_key("x-api-key")
            || req.headers().contains_key("anthropic-version");
        let p = Some(if anthropic {
            Protocol::Anthropic
        } else {
            Protocol::Openai
        });
        let snap = self.snapshots.get();
        let key = match authenticate(&snap, req.headers(), now_ms()) {
            Ok(k) => k,
            Err(msg) => return error_response(p, Kind::Authentication, msg),
        };
        let mut names: Vec<String> = Vec::new();
        for r in snap
            .routes
            .get(&key.group_id)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            if r.account.models.is_empty() {
                names.extend(snap.priced_models().map(str::to_owned));
            } else {
                names.extend(r.account.models.iter().cloned());
            }
        }
        if !key.limits.models.is_empty() {
            names.retain(|n| {
                key.limits
                    .models
                    .iter()
                    .any(|m| limits::model_matches(m, n))
            });
        }
        names.sort();
        names.dedup();
        let body = if anthropic {
            let data: Vec<_> = names
                .iter()
                .map(|n| json!({ "type": "model", "id": n, "display_name": n, "created_at": "1970-01-01T00:00:00Z" }))
                .collect();
            json!({ "data": data, "has_more": false, "first_id": names.first(), "last_id": names.last() })
        } else {
            let data: Vec<_> = names
                .iter()
                .map(|n| json!({ "id": n, "object": "model", "created": 0, "owned_by": "aicarpool" }))
                .collect();
            json!({ "object": "list", "data": data })
        };
        json_response(StatusCode::OK, &body)
    }
}

/// The parts of a Messages request the gateway reads; the rest goes upstream untouched.
#[derive(Deserialize)]
struct MessagesRequest {
    model: Option<String>,
    #[serde(default)]
    stream: bool,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    user_id: Option<String>,
}

/// Finds the member key in `x-api-key` or `Authorization: Bearer` and checks it is usable.
fn authenticate(
    snap: &Snapshot,
    headers: &HeaderMap,
    now: i64,
) -> std::result::Result<Arc<ApiKey>, &'static str> {
    let presented = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
        })
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or("missing API key: send it in x-api-key or Authorization: Bearer")?;
    // Looked up by hash: the comparison never touches the plaintext, so its timing says nothing.
    let hash = hex_encode(&Sha256::digest(presented.as_bytes()));
    let key = snap.keys.get(&hash).ok_or("invalid API key")?;
    if key.status != KeyStatus::Active {
        return Err("this API key has been revoked");
    }
    if key.limits.expires_at.is_some_and(|t| t <= now) {
        return Err("this API key has expired");
    }
    Ok(key.clone())
}

type ErrorFor = Box<dyn FnOnce(Option<Protocol>) -> Response<Body> + Send>;

/// Reads the request body up to `max` bytes; a declared or actual larger body gets 413 without
/// being read whole.
async fn read_request_body(
    headers: &HeaderMap,
    body: Incoming,
    max: usize,
) -> std::result::Result<Bytes, ErrorFor> {
    let too_large = move |p: Option<Protocol>| {
        error_response(
            p,
            Kind::TooLarge,
            &format!("request body is larger than {max} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(Box::new(too_large));
    }
    match Limited::new(body, max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Box::new(too_large)),
        Err(_) => Err(Box::new(|p| {
            error_response(p, Kind::InvalidRequest, "could not read the request body")
        })),
    }
}

/// The conversation a request belongs to: Claude Code's session header, or the session part of
/// `metadata.user_id` (`user_<hash>_account_<uuid>_session_<uuid>`), or the whole user id.
fn conversation<'a>(headers: &'a HeaderMap, metadata: Option<&'a Metadata>) -> Option<&'a str> {
    if let Some(h) = headers
        .get("x-claude-code-session-id")
        .and_then(|v| v.to_str().ok())
    {
        return Some(h);
    }
    let user = metadata?.user_id.as_deref()?;
    Some(user.rsplit_once("_session_").map_or(user, |(_, s)| s)).filter(|s| !s.is_empty())
}

/// A random id for the request log (128 bits, hex).
fn request_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn conversation_comes_from_the_session_header_or_the_user_id() {
        let mut h = HeaderMap::new();
        let m = Metadata {
            user_id: Some("user_abc_account_123_session_9f8e".into()),
        };
        assert_eq!(conversation(&h, Some(&m)), Some("9f8e"));
        let plain = Metadata {
            user_id: Some("alice".into()),
        };
        assert_eq!(conversation(&h, Some(&plain)), Some("alice"));
        assert_eq!(conversation(&h, None), None);
        h.insert("x-claude-code-session-id", HeaderValue::from_static("s-1"));
        assert_eq!(conversation(&h, Some(&m)), Some("s-1"));
    }

    #[test]
    fn request_ids_are_long_and_distinct() {
        let (a, b) = (request_id(), request_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
