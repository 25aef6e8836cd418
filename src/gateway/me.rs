//! A member's own view, authenticated by their key alone: `GET /api/me` (the key, where it
//! stands against each limit and its group's budgets, its use today / 7 days / 30 days by day
//! and by model) and `GET /api/me/requests` (its recent requests). Small and fast: the limits
//! come from memory, the use from the daily rollup. Never another member's data, and nothing
//! of the pool's accounts or their errors.

use http::{Request, Response};
use hyper::body::Incoming;
use serde::Serialize;
use serde_json::json;

use super::Gateway;
use super::member::authenticate;
use super::protocol::{Kind, Protocol, error_response};
use crate::http::{Body, json_response};
use crate::store::{self, now_ms};

/// How many days of use the member page shows.
const DAYS: i64 = 30;
/// How many recent requests `/api/me/requests` lists.
const RECENT: i64 = 50;

/// One day's use.
#[derive(Debug, Default, Serialize)]
struct Day {
    day: String,
    requests: i64,
    tokens: i64,
    cost_nanos: i64,
    /// Requests without a price: `cost_nanos` leaves them out.
    unpriced_requests: i64,
}

/// Use over a span of days.
#[derive(Debug, Default, Serialize)]
struct Span {
    requests: i64,
    tokens: i64,
    cost_nanos: i64,
    unpriced_requests: i64,
}

impl Span {
    fn of<'a>(days: impl Iterator<Item = &'a Day>) -> Span {
        days.fold(Span::default(), |mut s, d| {
            s.requests += d.requests;
            s.tokens += d.tokens;
            s.cost_nanos += d.cost_nanos;
            s.unpriced_requests += d.unpriced_requests;
            s
        })
    }
}

/// One of the member's recent requests, without the pool's side (account, upstream errors).
#[derive(Debug, Serialize)]
struct Mine {
    request_id: String,
    started_at: i64,
    endpoint: String,
    model: Option<String>,
    stream: bool,
    status_code: i64,
    outcome: String,
    tokens: i64,
    cost_nanos: i64,
    unpriced: bool,
    client: Option<String>,
    duration_ms: Option<i64>,
}

impl Gateway {
    /// `GET /api/me`.
    pub async fn me(&self, req: &Request<Incoming>) -> Response<Body> {
        let now = now_ms();
        let snap = self.snapshots.get();
        let key = match authenticate(&snap, req.headers(), None, now) {
            Ok(k) => k,
            Err(msg) => return unauthorized(msg),
        };
        let group = snap.groups.get(&key.group_id).cloned();
        let standing = self.limiter.standing(&key, group.as_deref(), now);
        let labels = self.limiter.last_days(now, DAYS);
        let first = labels.first().cloned().unwrap_or_default();
        let today = labels.last().cloned().unwrap_or_default();
        let week_from = labels
            .get(labels.len().saturating_sub(7))
            .cloned()
            .unwrap_or_default();
        let id = key.id;
        let read = self
            .db
            .read(move |c| {
                Ok((
                    store::usage::key_days(c, id, &first)?,
                    store::usage::key_models(c, id, now - DAYS * 86_400_000)?,
                    store::usage::key_last_used(c, id)?,
                ))
            })
            .await;
        let (days, models, last_used) = match read {
            Ok(r) => r,
            Err(e) => {
                // The cause (SQL, I/O) is for the log, not for the member.
                tracing::error!(error = %e, key = id, "the member's usage could not be read");
                return error_response(
                    Some(Protocol::Openai),
                    Kind::Internal,
                    "your usage could not be read; try again shortly",
                );
            }
        };
        // Every day of the span, empty where nothing was used.
        let mut found: std::collections::HashMap<String, store::usage::Bucket> =
            days.into_iter().map(|b| (b.at.clone(), b)).collect();
        let days: Vec<Day> = labels
            .into_iter()
            .map(|day| {
                let b = found.remove(&day).unwrap_or_default();
                Day {
                    day,
                    requests: b.requests,
                    tokens: b.tokens,
                    cost_nanos: b.cost_nanos,
                    unpriced_requests: b.unpriced_requests,
                }
            })
            .collect();
        let body = json!({
            "key": {
                "id": key.id, "name": key.name, "prefix": key.prefix, "group": key.group,
                "status": key.status, "created_at": key.created_at,
                "last_used_at": last_used.or(key.last_used_at), "expires_at": key.limits.expires_at,
            },
            "standing": standing,
            "usage": {
                "today": Span::of(days.iter().filter(|d| d.day == today)),
                "7d": Span::of(days.iter().filter(|d| d.day >= week_from)),
                "30d": Span::of(days.iter()),
            },
            "days": days,
            "models": models,
        });
        json_response(http::StatusCode::OK, &body)
    }

    /// `GET /api/me/requests`: the key's newest requests.
    pub async fn my_requests(&self, req: &Request<Incoming>) -> Response<Body> {
        let now = now_ms();
        let snap = self.snapshots.get();
        let key = match authenticate(&snap, req.headers(), None, now) {
            Ok(k) => k,
            Err(msg) => return unauthorized(msg),
        };
        let id = key.id;
        let filter = store::usage::LogFilter {
            key_id: Some(id),
            limit: RECENT,
            ..Default::default()
        };
        let rows = match self
            .db
            .read(move |c| store::usage::log_page(c, &filter))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                // The cause (SQL, I/O) is for the log, not for the member.
                tracing::error!(error = %e, key = id, "the member's requests could not be read");
                return error_response(
                    Some(Protocol::Openai),
                    Kind::Internal,
                    "your requests could not be read; try again shortly",
                );
            }
        };
        let mine: Vec<Mine> = rows
            .into_iter()
            .map(|r| Mine {
                tokens: r.input_tokens
                    + r.output_tokens
                    + r.cache_creation_input_tokens
                    + r.cache_read_input_tokens,
                request_id: r.request_id,
                started_at: r.started_at,
                endpoint: r.endpoint,
                model: r.model,
                stream: r.stream,
                status_code: r.status_code,
                outcome: r.outcome,
                cost_nanos: r.cost_nanos,
                unpriced: r.unpriced,
                client: r.client,
                duration_ms: r.duration_ms,
            })
            .collect();
        json_response(http::StatusCode::OK, &json!(mine))
    }
}

fn unauthorized(msg: &str) -> Response<Body> {
    error_response(Some(Protocol::Openai), Kind::Authentication, msg)
}
