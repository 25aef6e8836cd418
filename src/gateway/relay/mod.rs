//! Forwarding one request: try the candidates in order with failover before the first byte
//! (here), then deliver the answer (`deliver`: a whole JSON body, or an SSE stream through
//! `pump`) and log it once its usage is known. The row is durable before the client gets the
//! last byte.

mod call;
mod deliver;
mod pump;

pub use call::Call;

pub(super) use deliver::read_error_message;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::mpsc;
use tracing::debug;

use super::Gateway;
use super::decode;
use super::endpoint::events_without_usage_chunk;
use super::failure::UpstreamError;
use super::frame::Framer;
use super::health::Failure;
use super::limits::Limiter;
use super::oauth::RefreshError;
use super::protocol::{Kind, REQUEST_ID, error_response, stream_error};
use super::provider;
use super::select::{self, NoCandidate};
use super::snapshot::{Secret, Snapshot, Upstream};
use super::translate::{Format, Translation};
use super::usage::{Report, SseScanner};
use crate::domain::Outcome;
use crate::http::{Body, channel_body, full};
use crate::store::{now_ms, usage};

/// Largest non-streaming upstream body read into memory.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// Largest upstream error body kept to explain a failure.
const MAX_ERROR_BYTES: usize = 64 * 1024;
/// How long the gateway keeps reading a stream whose client left, to learn its usage.
const DISCONNECT_DRAIN: Duration = Duration::from_secs(600);
/// `retry-after` when every account is out of rotation (an operator or the recovery timer
/// brings one back).
const NONE_ROUTABLE_RETRY_MS: i64 = 60_000;
/// How long a request waits for a slot when every account is at its concurrency cap, and how
/// often it looks.
const BUSY_WAIT: Duration = Duration::from_secs(2);
const BUSY_POLL: Duration = Duration::from_millis(20);
/// Chunks buffered between the upstream reader and a slow client.
const STREAM_BUFFER: usize = 16;

/// Why an attempt did not produce an answer to pass on.
enum Attempt {
    Answer(Response<Incoming>),
    /// The upstream answered with a failure that moves on to the next account.
    Failed {
        status: StatusCode,
        message: String,
        failure: Failure,
    },
    /// Could not reach it or it did not answer in time.
    Unreachable {
        kind: Kind,
        message: String,
    },
    /// The request uses a feature the account's protocol cannot express.
    Untranslatable(String),
}

impl Gateway {
    pub(super) async fn relay(self: &Arc<Self>, mut call: Call) -> Response<Body> {
        let snap = self.snapshots.get();
        let routes = snap
            .routes
            .get(&call.key.group_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let sticky = call.session.and_then(|s| self.sticky.get(s));
        let pick = |now: i64| {
            let ask = select::Ask {
                platforms: &call.platforms,
                protocol: call.protocol,
                endpoint: &call.endpoint,
                model: &call.model,
                sticky,
                now_ms: now,
                reserve: self.config.upstream.window_reserve,
            };
            let live = |id: i64| select::Live {
                utilization: self.windows.tightest(id),
                cooling: self.health.cooling(id, now),
                full: snap
                    .accounts
                    .get(&id)
                    .and_then(|a| a.max_concurrency)
                    .is_some_and(|cap| self.inflight.count(id) >= cap),
            };
            select::candidates(routes, &ask, &live)
        };
        // When every account that could take it is at its cap, wait briefly for a slot.
        let busy_until = Instant::now() + BUSY_WAIT;
        let mut candidates = loop {
            match pick(now_ms()) {
                Ok(c) => break c,
                Err(NoCandidate::AllBusy) if Instant::now() < busy_until => {
                    tokio::time::sleep(BUSY_POLL).await;
                }
                Err(none) => return Box::pin(self.no_candidate(&call, none)).await,
            }
        };
        // Under a cost limit only accounts whose answer can be priced are used (a mapping
        // may send an unpriced model): an unpriced answer would cost the key nothing.
        if Limiter::cost_limited(&call.key, call.group.as_deref()) {
            candidates.retain(|a| snap.price(a.upstream_model(&call.model)).is_some());
            if candidates.is_empty() {
                let refusal = Limiter::unpriced(&call.model);
                return Box::pin(self.refuse(&call, refusal)).await;
            }
        }
        let max = self.config.upstream.max_attempts as usize;
        let mut last: Option<(Option<i64>, Attempt)> = None;
        for (i, account) in candidates.iter().take(max).enumerate() {
            let attempts = i as u32 + 1;
            let p = provider::of(account.platform);
            let apis = account.openai_apis(&call.endpoint);
            let mut translation = Translation::plan(&call.asked(), p.protocol(), apis);
            if let Some(t) = translation.as_mut() {
                t.for_account(&account.base_url);
            }
            let upstream_model = account.upstream_model(&call.model);
            let body = match translation.as_mut() {
                None => None,
                // Chat and Responses have no token count: the gateway answers with its estimate.
                Some(t)
                    if matches!(t.upstream, Format::Chat | Format::Responses)
                        && !call.endpoint.billed() =>
                {
                    return Box::pin(self.estimate(call, account.id)).await;
                }
                Some(t) => {
                    match t.request_text(call.body.text(), upstream_model, call.notes.as_ref()) {
                        Ok(b) => {
                            // The usage chunk the gateway asked for, not the client.
                            t.include_usage &= !call.strip_usage_chunk;
                            Some(b)
                        }
                        Err(refusal) => {
                            call.tried.push(usage::Tried {
                                account_id: account.id,
                                status: None,
                                error: refusal.0.clone(),
                            });
                            last = Some((Some(account.id), Attempt::Untranslatable(refusal.0)));
                            continue;
                        }
                    }
                }
            };
            let sent = Sent {
                translation: translation.as_ref(),
                body: body.as_ref(),
            };
            let slot = self.inflight.enter(account.id);
            let waited = Instant::now();
            let mut outcome = self.attempt(&call, account, sent).await;
            // A subscription's token may have expired early: refresh once, try again.
            if provider::of(account.platform).refreshes_tokens()
                && matches!(
                    &outcome,
                    Attempt::Failed {
                        failure: Failure::Auth(_),
                        ..
                    }
                )
            {
                match Box::pin(self.oauth.refresh(account.id, Some(&account.secret.0))).await {
                    Ok(token) => {
                        let mut fresh = (**account).clone();
                        fresh.secret = Secret(token);
                        outcome = self.attempt(&call, &fresh, sent).await;
                    }
                    // The token server is down or moved: the account's credentials are not
                    // known bad, so it cools down and comes back on its own.
                    Err(RefreshError::Unavailable(e)) => {
                        if let Attempt::Failed { failure, .. } = &mut outcome {
                            *failure = Failure::Server(format!(
                                "access token refused and its refresh failing: {e}"
                            ));
                        }
                    }
                    Err(_) => {}
                }
            }
            call.upstream_wait += waited.elapsed();
            match outcome {
                Attempt::Answer(resp) => {
                    // Success is recorded once the answer has been read whole (`deliver`): a
                    // 200 with a broken body is the account's failure, not its success.
                    // Anything else the upstream refused is about the request itself: passed
                    // on, not retried.
                    let outcome = if resp.status().is_success() {
                        if let Some(s) = call.session {
                            self.sticky.set(s, account.id);
                        }
                        Outcome::Ok
                    } else {
                        Outcome::ClientError
                    };
                    let account = account.clone();
                    let answer = Answer {
                        attempts,
                        resp,
                        outcome,
                        translation,
                        slot,
                    };
                    return Box::pin(self.deliver(call, snap, account, answer)).await;
                }
                failed @ Attempt::Failed { .. } => {
                    if let Attempt::Failed {
                        failure,
                        message,
                        status,
                        ..
                    } = &failed
                    {
                        debug!(account = account.id, %status, %message, "attempt failed; trying the next account");
                        Box::pin(self.health.failed(account, failure.clone())).await;
                        call.tried.push(usage::Tried {
                            account_id: account.id,
                            status: Some(status.as_u16()),
                            error: message.clone(),
                        });
                    }
                    last = Some((Some(account.id), failed));
                }
                unreachable @ Attempt::Unreachable { .. } => {
                    if let Attempt::Unreachable { message, .. } = &unreachable {
                        debug!(account = account.id, %message, "upstream unreachable; trying the next account");
                        Box::pin(
                            self.health
                                .failed(account, Failure::Server(message.clone())),
                        )
                        .await;
                        call.tried.push(usage::Tried {
                            account_id: account.id,
                            status: None,
                            error: message.clone(),
                        });
                    }
                    last = Some((Some(account.id), unreachable));
                }
                untranslatable @ Attempt::Untranslatable(_) => {
                    if let Attempt::Untranslatable(why) = &untranslatable {
                        call.tried.push(usage::Tried {
                            account_id: account.id,
                            status: None,
                            error: why.clone(),
                        });
                    }
                    last = Some((Some(account.id), untranslatable))
                }
            }
        }
        let attempts = candidates.len().min(max) as u32;
        let (account_id, failure) = last.expect("at least one candidate was tried");
        Box::pin(self.exhausted(&call, account_id, attempts, failure)).await
    }

    /// Sends the request to one account and waits for the response head.
    async fn attempt(&self, call: &Call, account: &Upstream, sent: Sent<'_>) -> Attempt {
        let (endpoint, query, body, translated) = match (sent.translation, sent.body) {
            (Some(t), Some(b)) => (&t.endpoint, t.query(), b, true),
            _ => (
                &call.endpoint,
                call.query.as_deref(),
                call.body.bytes(),
                false,
            ),
        };
        let (model, headers) = (&call.model, &call.headers);
        let req =
            match provider::request(endpoint, account, model, query, headers, body, translated) {
                Ok(r) => r,
                Err(error) => {
                    return Attempt::Unreachable {
                        kind: Kind::UpstreamFailed,
                        message: error.to_string(),
                    };
                }
            };
        let timeout = self.config.upstream.first_byte_timeout;
        let client = self.clients.get(account.proxy.as_ref());
        let resp = match tokio::time::timeout(timeout, client.request(req)).await {
            Err(_) => {
                return Attempt::Unreachable {
                    kind: Kind::Timeout,
                    message: format!("upstream sent no response within {}s", timeout.as_secs()),
                };
            }
            Ok(Err(e)) => {
                let what = if e.is_connect() {
                    "could not connect to upstream"
                } else {
                    "upstream connection failed"
                };
                return Attempt::Unreachable {
                    kind: Kind::UpstreamFailed,
                    message: format!("{what}: {}", root_cause(&e)),
                };
            }
            Ok(Ok(r)) => r,
        };
        // A subscription reports its usage windows on every answer, failures included.
        if let Some(w) = super::windows::Windows::from_headers(resp.headers(), now_ms()) {
            // Never spend extra usage by surprise: an account paid from overage takes no new
            // traffic until its window resets, unless the operator allowed it.
            if w.overage_in_use && !account.allow_overage {
                let until = w
                    .rejected_until()
                    .or_else(|| w.five_hour.as_ref().and_then(|x| x.resets_at))
                    .unwrap_or(
                        now_ms() + self.config.upstream.rate_limit_default.as_millis() as i64,
                    );
                let reason = "drawing on paid extra usage; it takes no new traffic until its \
                    window resets (allow it with `account update ID --allow-overage true`)"
                    .to_owned();
                Box::pin(
                    self.health
                        .failed(account, Failure::RateLimited { until, reason }),
                )
                .await;
            }
            self.windows.observe(account.id, w);
        }
        let status = resp.status();
        let p = provider::of(account.platform);
        let policy = &self.config.upstream;
        // Only a failure's body is read here; anything else is delivered as it streams.
        if !p.fails(status) {
            return Attempt::Answer(resp);
        }
        let headers = resp.headers().clone();
        let message = read_error_message(resp.into_body(), policy.idle_timeout).await;
        let failure = p.classify(status, &headers, &message, now_ms(), policy);
        Attempt::Failed {
            status,
            message,
            failure,
        }
    }

    /// The answer when every attempt failed.
    async fn exhausted(
        &self,
        call: &Call,
        account: Option<i64>,
        attempts: u32,
        last: Attempt,
    ) -> Response<Body> {
        // The member learns what kind of failure it was and the request id; the upstream's
        // own text (which may name internal hosts, proxies or accounts) goes to the log only.
        let (status, kind, message, public, retry_after) = match last {
            Attempt::Failed { status, message, failure } => match failure {
                Failure::RateLimited { until, .. } => (
                    status,
                    Kind::RateLimited,
                    format!("every account for this key is rate limited upstream ({message})"),
                    "every account for this key is rate limited upstream; try again after the reset".to_owned(),
                    Some(until),
                ),
                Failure::Auth(_) => (
                    StatusCode::BAD_GATEWAY,
                    Kind::UpstreamFailed,
                    format!("the upstream accounts tried refused their credentials: {message}"),
                    "the upstream accounts tried refused their credentials; an operator must fix them".to_owned(),
                    None,
                ),
                Failure::Server(_) | Failure::Overloaded(_) => {
                    let kind = if status.as_u16() == 529 { Kind::Overloaded } else { Kind::UpstreamFailed };
                    // An upstream 4xx taken as the account's trouble (a refused token whose
                    // refresh is failing) is no fault of the member's key.
                    let shown = if status.is_client_error() { StatusCode::BAD_GATEWAY } else { status };
                    (
                        shown,
                        kind,
                        format!("upstream error after {attempts} attempt(s): {message}"),
                        format!("the upstream failed ({}) after {attempts} attempt(s)", status.as_u16()),
                        None,
                    )
                }
            },
            Attempt::Unreachable { kind, message } => {
                let public = if kind == Kind::Timeout {
                    "the upstream did not answer in time"
                } else {
                    "the upstream could not be reached"
                };
                (
                    kind.status(),
                    kind,
                    format!("{message} (after {attempts} attempt(s))"),
                    format!("{public} (after {attempts} attempt(s))"),
                    None,
                )
            }
            Attempt::Untranslatable(message) => {
                let failure = Failed {
                    outcome: Outcome::ClientError,
                    account,
                    attempts,
                    status: StatusCode::BAD_REQUEST,
                    kind: Kind::InvalidRequest,
                    public: None,
                    message,
                    retry_after: None,
                };
                return self.failed(call, failure).await;
            }
            Attempt::Answer(_) => unreachable!("answers are delivered, not exhausted"),
        };
        let failure = Failed {
            outcome: Outcome::UpstreamError,
            account,
            attempts,
            status,
            kind,
            public: Some(format!("{public}; request id {}", call.request_id)),
            message,
            retry_after,
        };
        self.failed(call, failure).await
    }

    async fn no_candidate(&self, call: &Call, none: NoCandidate) -> Response<Body> {
        // Retrying makes sense only when accounts exist and are out for now; a model no
        // account serves is a 404, which clients do not retry.
        let (kind, message, retry) = match none {
            NoCandidate::NoneServes => (
                Kind::NotFound,
                format!(
                    "model {:?} is not served here: no account of this key's group offers it",
                    call.model
                ),
                None,
            ),
            NoCandidate::AllRateLimited(until) => (
                Kind::RateLimited,
                "every account of this key's group is rate limited; try again after the reset".to_owned(),
                until,
            ),
            NoCandidate::AllBusy => (
                Kind::RateLimited,
                "every account of this key's group is at its concurrency cap; try again in a moment".to_owned(),
                Some(now_ms() + 1_000),
            ),
            NoCandidate::NoneRoutable => (
                Kind::Unavailable,
                "no upstream account of this key's group is available right now (all are in error, disabled or in maintenance)".to_owned(),
                Some(now_ms() + NONE_ROUTABLE_RETRY_MS),
            ),
        };
        let status = kind.status();
        let failure = Failed {
            outcome: Outcome::UpstreamError,
            account: None,
            attempts: 0,
            status,
            kind,
            message,
            public: None,
            retry_after: retry,
        };
        self.failed(call, failure).await
    }

    /// Logs a request that got no upstream answer and tells the client why.
    pub(super) async fn failed(&self, call: &Call, f: Failed) -> Response<Body> {
        let rec = call.record(
            f.account,
            f.attempts,
            f.status,
            f.outcome,
            &Report::default(),
            Some(0),
            Some(f.message.clone()),
            None,
        );
        self.meter.record(rec).await;
        let shown = f.public.as_deref().unwrap_or(&f.message);
        let mut resp = error_response(Some(call.protocol), f.kind, shown);
        *resp.status_mut() = f.status;
        // Failures carry the id too, so a member can quote it to the operator.
        if let Ok(id) = HeaderValue::from_str(&call.request_id) {
            resp.headers_mut().insert(REQUEST_ID.clone(), id);
        }
        if let Some(until) = f.retry_after {
            let secs = ((until - now_ms()).max(0) + 999) / 1000;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
}

/// What one attempt sends when it is translated: how, and the translated body.
#[derive(Clone, Copy)]
struct Sent<'a> {
    translation: Option<&'a Translation>,
    body: Option<&'a Bytes>,
}

/// An upstream's answer to deliver.
pub(super) struct Answer {
    pub attempts: u32,
    pub resp: Response<Incoming>,
    pub outcome: Outcome,
    pub translation: Option<Translation>,
    /// The account's in-flight slot, held until the answer is delivered.
    pub slot: super::inflight::Slot,
}

/// A request that ends without an upstream answer.
pub(super) struct Failed {
    pub outcome: Outcome,
    pub account: Option<i64>,
    pub attempts: u32,
    pub status: StatusCode,
    pub kind: Kind,
    /// The whole story, for the request log.
    pub message: String,
    /// What the member is told instead, when the log's text is the operator's business.
    pub public: Option<String>,
    /// When trying again makes sense (epoch ms), for `retry-after`.
    pub retry_after: Option<i64>,
}

/// The innermost error text ("connection refused", "invalid peer certificate: UnknownIssuer"),
/// which says more than hyper's outer "client error (Connect)".
pub(super) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string().chars().take(200).collect()
}
