//! The gateway: authenticate a member key from the in-memory snapshot, parse just enough of the
//! request to route it, and relay it to an upstream account (DESIGN.md §3–§6).

mod alerts;
pub mod body;
mod checked;
pub mod code_assist;
pub mod codex;
mod decode;
pub mod endpoint;
pub mod failure;
pub mod fair;
pub mod frame;
pub mod health;
pub mod inflight;
pub mod limits;
mod me;
mod member;
pub mod meter;
pub mod models;
pub mod oauth;
mod pick;
pub mod probe;
pub mod protocol;
pub mod provider;
mod relay;
pub mod select;
mod skim;
pub mod snapshot;
pub mod sse;
pub mod translate;
pub mod usage;
pub mod windows;

/// The fakes' JSON styles (compact, Python-spaced, pretty over several `data:` lines), shared
/// with the integration tests' fake upstream.
#[cfg(test)]
#[path = "../../tests/common/style.rs"]
mod test_style;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

pub use self::endpoint::Endpoint;
use self::health::Health;
use self::limits::{Admission, Limiter};
use self::member::authenticate;
#[cfg(test)]
use self::member::presented_key;
use self::protocol::{Kind, Protocol, error_response};
use self::relay::{Call, Failed};
use self::select::Sticky;
use self::snapshot::Snapshots;
use crate::config::Config;
use crate::domain::{ClientKind, Outcome};
use crate::error::Result;
use crate::http::Body;
use crate::manage::Ctx;
use crate::store::now_ms;
use crate::tasks::Shutdown;
use crate::upstream::client::Clients;

/// Longest model name taken from a client; longer ones are refused, not stored.
pub const MAX_MODEL_BYTES: usize = 256;

/// How often the database is checked for changes made by another process.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Everything the request path shares.
pub struct Gateway {
    config: Config,
    pub snapshots: Arc<Snapshots>,
    pub health: Arc<Health>,
    /// Subscriptions' usage windows, as last reported.
    pub windows: Arc<windows::Tracker>,
    /// Requests in flight per account.
    pub inflight: Arc<inflight::InFlight>,
    /// Members' spend on the group's subscriptions, for the fair share.
    pub fair: fair::FairShare,
    sticky: Sticky,
    clients: Arc<Clients>,
    oauth: Arc<oauth::Refresher>,
    pub meter: meter::Meter,
    limiter: limits::Limiter,
    /// For the member's own view (`me`): its use, from the rollup.
    db: crate::store::Db,
    started: std::time::Instant,
}

impl Gateway {
    /// Loads the snapshot and starts the background loops (change watcher, recovery, token
    /// refresh, model discovery, storage recovery), which end at `shutdown`.
    pub async fn start(ctx: &Ctx, shutdown: Shutdown) -> Result<Arc<Gateway>> {
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let journal = ctx.config.journal_dir();
        let meter = meter::Meter::open(ctx.db.clone(), &journal, metrics, shutdown.clone()).await?;
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
            crate::manage::settings::account_policy(ctx).await?,
            ctx.config.upstream.overload_cooldown,
        ));
        snapshots.watch(&ctx.config.db_path(), WATCH_INTERVAL, shutdown.clone());
        let windows = Arc::new(windows::Tracker::load(&ctx.db).await?);
        let fair = fair::FairShare::default();
        let recent = ctx
            .db
            .read(move |c| {
                crate::store::usage::recent_on_platform(
                    c,
                    "claude-oauth",
                    now_ms() - 5 * 3600 * 1000,
                )
            })
            .await?;
        for r in recent {
            fair.record(
                r.group_id,
                r.key_id,
                r.account_id,
                r.at,
                r.cost_nanos,
                r.tokens,
            );
        }
        windows.start_persisting(ctx.db.clone(), shutdown.clone());
        health.start_recovery(shutdown.clone());
        let clients = Arc::new(Clients::for_lanes(&ctx.config.upstream, ctx.config.lanes)?);
        windows::start_idle_refresh(
            windows.clone(),
            snapshots.clone(),
            clients.clone(),
            shutdown.clone(),
        );
        models::start_discovery(
            ctx.clone(),
            clients.clone(),
            snapshots.clone(),
            shutdown.clone(),
        );
        let refresher = Arc::new(oauth::Refresher::new(
            ctx.db.clone(),
            ctx.secrets.clone(),
            ctx.config.oauth.clone(),
            clients.clone(),
            Some(snapshots.clone()),
        ));
        refresher.start_timer(shutdown.clone());
        alerts::start(
            ctx.db.clone(),
            clients.get(None),
            ctx.config.upkeep.webhook_url.clone(),
            shutdown,
        );
        Ok(Arc::new(Gateway {
            config: ctx.config.clone(),
            snapshots,
            health,
            windows,
            inflight: Arc::default(),
            fair,
            sticky: Sticky::new(ctx.config.upstream.sticky_ttl),
            clients,
            oauth: refresher,
            meter,
            limiter,
            db: ctx.db.clone(),
            started: std::time::Instant::now(),
        }))
    }

    /// Where `key` stands against its limits and its group's budgets (the admin page).
    pub fn standing(&self, key: &crate::store::keys::ApiKey, now: i64) -> limits::Standing {
        let snap = self.snapshots.get();
        let group = snap.groups.get(&key.group_id).cloned();
        self.limiter.standing(key, group.as_deref(), now)
    }

    /// The `n` calendar days up to today, in the configured zone, oldest first.
    pub fn last_days(&self, now: i64, n: i64) -> Vec<String> {
        self.limiter.last_days(now, n)
    }

    /// What a group has used of its budgets (the admin page).
    pub fn group_standing(
        &self,
        group: &crate::store::groups::Group,
        now: i64,
    ) -> Vec<limits::LimitUse> {
        self.limiter.group_standing(group, now)
    }

    /// Every relayed endpoint. A client that disconnects does not cut the request short
    /// before its usage is logged: the work goes on without it (`RunToEnd`).
    pub async fn relay_endpoint(
        self: Arc<Self>,
        endpoint: Endpoint,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let protocol = endpoint.protocol();
        match crate::http::RunToEnd::new(self.prepare(endpoint, req)).await {
            Ok(resp) => resp,
            Err(crate::http::Panicked) => error_response(
                Some(protocol),
                Kind::Internal,
                "the request failed inside the gateway",
            ),
        }
    }

    /// Authenticates, reads and checks the request, applies the key's limits, then relays.
    async fn prepare(
        self: Arc<Self>,
        endpoint: Endpoint,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let protocol = endpoint.protocol();
        let p = Some(protocol);
        let started = Instant::now();
        let started_at = now_ms();
        let snap = self.snapshots.get();
        // Only Gemini's SDKs put the key in the URL; elsewhere a key in a link is refused, so
        // a page elsewhere cannot make a member's browser spend it.
        let query = if protocol == Protocol::Gemini {
            req.uri().query()
        } else {
            None
        };
        let key = match authenticate(&snap, req.headers(), query, started_at) {
            Ok(k) => k,
            Err(msg) => return error_response(p, Kind::Authentication, msg),
        };
        if let Some(refused) = form_content_type(req.headers()) {
            return refused(p);
        }
        // Fail closed: nothing is relayed that could not be metered.
        if self.meter.fault().is_some() {
            return error_response(
                p,
                Kind::Unavailable,
                "the gateway cannot record usage right now (its storage is failing); \
                 requests resume by themselves once it works again",
            );
        }
        let (parts, body) = req.into_parts();
        let body = match read_request_body(&parts.headers, body, &self.config.http).await {
            Ok(b) => b,
            Err(resp) => return resp(p),
        };
        let body = match body::RequestBody::from_bytes(body) {
            Ok(b) => b,
            Err(e) => {
                return error_response(
                    p,
                    Kind::InvalidRequest,
                    &format!("request body is not valid JSON: {e}"),
                );
            }
        };
        let parsed = match endpoint::parse(&endpoint, &parts.headers, body.text()) {
            Ok(parsed) => parsed,
            Err(pick::PickError::NotObject) => {
                return error_response(
                    p,
                    Kind::InvalidRequest,
                    "request body must be a JSON object",
                );
            }
            Err(pick::PickError::Syntax(e)) => {
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
        if model.len() > MAX_MODEL_BYTES {
            return error_response(
                p,
                Kind::InvalidRequest,
                &format!("model: a model name has at most {MAX_MODEL_BYTES} bytes"),
            );
        }
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect::<String>());
        let client = ClientKind::from_user_agent(user_agent.as_deref());
        let mut call = Call {
            client,
            group: snap.groups.get(&key.group_id).cloned(),
            session: parsed
                .session
                .as_deref()
                .map(|s| Sticky::session(key.id, s)),
            session_id: parsed.session,
            key,
            protocol,
            query: upstream_query(parts.uri.query()),
            headers: parts.headers,
            body,
            notes: Some(parsed.notes),
            strip_usage_chunk: parsed.strip_usage_chunk,
            model,
            stream: parsed.stream,
            endpoint,
            user_agent,
            request_id: request_id(),
            started,
            started_at,
            platforms: Vec::new(),
            admission: Admission::default(),
            day: self.limiter.day_label(started_at),
            upstream_wait: Duration::ZERO,
            tried: Vec::new(),
        };
        let access = Limiter::check_access(&call.key, client, &call.model)
            .and_then(|()| Limiter::allowed_platforms(&call.key, call.endpoint.platforms()));
        call.platforms = match access {
            Ok(p) => p,
            Err(r) => return Box::pin(self.refuse(&call, r)).await,
        };
        let up = &self.config.upstream;
        if let Err(r) = self.fair.check(
            &snap,
            &self.windows,
            &call.key,
            started_at,
            up.fair_share_from,
            &self.config.time_zone,
        ) {
            return Box::pin(self.refuse(&call, r)).await;
        }
        call.admission = match self
            .limiter
            .admit(&call.key, call.group.as_deref(), started_at)
            .await
        {
            Ok(a) => a,
            Err(r) => return Box::pin(self.refuse(&call, r)).await,
        };
        // Only now, with the request admitted, is the body rewritten: never relay a stream
        // that cannot be metered.
        if let Some(opts) = &parsed.stream_options {
            match endpoint::with_usage_option(call.body.text(), opts) {
                Some(b) => {
                    call.body = body::RequestBody::new(b);
                    call.notes = None;
                }
                None => {
                    return error_response(
                        p,
                        Kind::InvalidRequest,
                        "stream_options: must be an object",
                    );
                }
            }
        }
        Box::pin(self.relay(call)).await
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
            public: None,
            retry_after: r.retry_after,
        };
        self.failed(call, failure).await
    }

    /// The Prometheus text for `/metrics`.
    pub fn metrics_text(&self) -> String {
        let snap = self.snapshots.get();
        let accounts = crate::domain::AccountStatus::ALL
            .iter()
            .map(|s| {
                let n = snap.accounts.values().filter(|a| a.status == *s).count();
                (s.as_str(), n as u64)
            })
            .collect();
        self.meter.metrics.render(&crate::metrics::Gauges {
            accounts,
            usage_queue: self.meter.pending() as u64,
            uptime_secs: self.started.elapsed().as_secs(),
            storage_ok: self.meter.fault().is_none(),
            windows: self
                .windows
                .all()
                .into_iter()
                .flat_map(|(id, w)| {
                    [("5h", w.five_hour), ("7d", w.seven_day), ("1d", w.day)]
                        .into_iter()
                        .filter_map(move |(name, x)| Some((id, name, x?.utilization)))
                })
                .collect(),
        })
    }
}

/// The client's query string without its `key` parameter (a member key never goes upstream),
/// however the parameter's name is encoded.
fn upstream_query(query: Option<&str>) -> Option<String> {
    let kept: Vec<&str> = query?
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            let decoded: String = form_urlencoded::parse(name.as_bytes())
                .map(|(k, _)| k.into_owned())
                .collect();
            !pair.is_empty() && decoded != "key"
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

type ErrorFor = Box<dyn FnOnce(Option<Protocol>) -> Response<Body> + Send>;

/// A 415 for the content types an HTML form can send across sites without a preflight
/// (`text/plain`, `application/x-www-form-urlencoded`, `multipart/form-data`): the API takes
/// JSON, and refusing these keeps a page elsewhere from posting to it with a member's key.
fn form_content_type(headers: &HeaderMap) -> Option<ErrorFor> {
    let essence = protocol::media_type(headers)?;
    let form = matches!(
        &*essence,
        "text/plain" | "application/x-www-form-urlencoded" | "multipart/form-data"
    );
    form.then(|| -> ErrorFor {
        let essence = essence.into_owned();
        Box::new(move |p| {
            error_response(
                p,
                Kind::UnsupportedMediaType,
                &format!(
                    "content type {essence} is not accepted: send the body as application/json"
                ),
            )
        })
    })
}

/// Reads the request body up to `max` bytes; a declared or actual larger body gets 413 without
/// being read whole.
async fn read_request_body(
    headers: &HeaderMap,
    body: Incoming,
    limits: &crate::config::HttpLimits,
) -> std::result::Result<Bytes, ErrorFor> {
    let max = limits.max_body_bytes;
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
    let read = tokio::time::timeout(limits.body_read_timeout, Limited::new(body, max).collect());
    match read.await {
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(Box::new(too_large)),
        Ok(Err(_)) => Err(Box::new(|p| {
            error_response(p, Kind::InvalidRequest, "could not read the request body")
        })),
        Err(_) => {
            let secs = limits.body_read_timeout.as_secs();
            Err(Box::new(move |p| {
                let mut resp = error_response(
                    p,
                    Kind::InvalidRequest,
                    &format!("the request body did not arrive within {secs} s"),
                );
                *resp.status_mut() = StatusCode::REQUEST_TIMEOUT;
                resp
            }))
        }
    }
}

/// An id for the request log: 48 bits of milliseconds, then 80 random bits (32 hex digits).
/// Leading with the time keeps the log's unique index growing at its end: random ids sent
/// every insert to a different index page, and the usage writer rewrote one page per row.
fn request_id() -> String {
    let random = fastrand::u128(..) & ((1 << 80) - 1);
    let id = ((now_ms() & 0xffff_ffff_ffff) as u128) << 80 | random;
    // 32 lowercase hex digits, written here: `format!`'s padded hex took about 1 % of a
    // request's instructions.
    let digits: Vec<u8> = (0..32)
        .rev()
        .map(|i| b"0123456789abcdef"[(id >> (4 * i)) as usize & 15])
        .collect();
    String::from_utf8(digits).expect("hex digits")
}

#[cfg(test)]
mod tests;
