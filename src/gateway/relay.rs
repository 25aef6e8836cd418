//! Forwarding one request: try the candidates in order with failover before the first byte,
//! then deliver the answer — a whole JSON body, or an SSE stream passed through as it arrives —
//! and log it once its usage is known. The row is durable before the client gets the last byte.

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
use super::endpoint::{Endpoint, take_events_without_usage_chunk};
use super::health::Failure;
use super::limits::{Admission, Limiter};
use super::protocol::{Kind, Protocol, error_response, stream_error};
use super::provider;
use super::select::{self, NoCandidate};
use super::snapshot::{Secret, Snapshot, Upstream};
use super::usage::{Report, SseScanner};
use crate::domain::{ClientKind, Outcome, Platform};
use crate::http::{Body, channel_body, full};
use crate::store::groups::Group;
use crate::store::keys::ApiKey;
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
/// Chunks buffered between the upstream reader and a slow client.
const STREAM_BUFFER: usize = 16;

/// One client request, parsed and authenticated.
pub struct Call {
    pub key: Arc<ApiKey>,
    pub protocol: Protocol,
    pub endpoint: Endpoint,
    /// The client's query string, minus any member key.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub model: String,
    pub stream: bool,
    /// Conversation key for sticky routing.
    pub session: Option<u64>,
    /// Drop the usage-only chat chunk the gateway asked for on the client's behalf.
    pub strip_usage_chunk: bool,
    pub client: ClientKind,
    pub user_agent: Option<String>,
    pub request_id: String,
    pub started: Instant,
    pub started_at: i64,
    /// Account platforms this request may go to (the protocol's, narrowed by the key).
    pub platforms: Vec<Platform>,
    /// The group, for its budgets.
    pub group: Option<Arc<Group>>,
    /// The key's concurrency slot, held until the request ends.
    pub admission: Admission,
    /// The calendar day of `started_at` in the configured zone, for the rollup.
    pub day: String,
    /// Time spent waiting on upstreams, left out of the gateway's own time in `Server-Timing`.
    pub upstream_wait: Duration,
}

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
        let mut candidates =
            match select::candidates(routes, &call.platforms, &call.model, sticky, now_ms()) {
                Ok(c) => c,
                Err(none) => return Box::pin(self.no_candidate(&call, none)).await,
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
            let waited = Instant::now();
            let mut outcome = self.attempt(&call, account).await;
            // A subscription's token may have expired early: refresh once, try again.
            if provider::of(account.platform).refreshes_tokens()
                && matches!(
                    &outcome,
                    Attempt::Failed {
                        failure: Failure::Auth(_),
                        ..
                    }
                )
                && let Ok(token) =
                    Box::pin(self.oauth.refresh(account.id, Some(&account.secret.0))).await
            {
                let mut fresh = (**account).clone();
                fresh.secret = Secret(token);
                outcome = self.attempt(&call, &fresh).await;
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
                    return Box::pin(self.deliver(call, snap, account, attempts, resp, outcome))
                        .await;
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
                    }
                    last = Some((Some(account.id), unreachable));
                }
            }
        }
        let attempts = candidates.len().min(max) as u32;
        let (account_id, failure) = last.expect("at least one candidate was tried");
        Box::pin(self.exhausted(&call, account_id, attempts, failure)).await
    }

    /// Sends the request to one account and waits for the response head.
    async fn attempt(&self, call: &Call, account: &Upstream) -> Attempt {
        let req = match provider::request(
            &call.endpoint,
            account,
            &call.model,
            call.query.as_deref(),
            &call.headers,
            &call.body,
        ) {
            Ok(r) => r,
            Err(message) => {
                return Attempt::Unreachable {
                    kind: Kind::UpstreamFailed,
                    message,
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
        let status = resp.status();
        let p = provider::of(account.platform);
        let policy = &self.config.upstream;
        // Classified on the status first: only a failure's body is read here.
        if p.classify(status, resp.headers(), "", 0, policy).is_none() {
            return Attempt::Answer(resp);
        }
        let headers = resp.headers().clone();
        let message = read_error_message(resp.into_body(), policy.idle_timeout).await;
        let failure = p
            .classify(status, &headers, &message, now_ms(), policy)
            .expect("classified as a failure above");
        Attempt::Failed {
            status,
            message,
            failure,
        }
    }

    /// Passes a response on: a stream as it arrives, anything else read whole and metered.
    async fn deliver(
        self: &Arc<Self>,
        call: Call,
        snap: Arc<Snapshot>,
        account: Arc<Upstream>,
        attempts: u32,
        resp: Response<Incoming>,
        outcome: Outcome,
    ) -> Response<Body> {
        let first_byte_ms = call.started.elapsed().as_millis() as i64;
        let (parts, body) = resp.into_parts();
        let media = Media::of(&parts.headers);
        let streaming = media == Media::EventStream;
        let status = parts.status;
        let mut builder = Response::builder().status(status);
        for (name, value) in &parts.headers {
            if keep_response_header(name) {
                builder = builder.header(name, value);
            }
        }
        // The type is the gateway's to say: only JSON and SSE are relayed as what they are.
        builder = builder
            .header(
                header::CONTENT_TYPE,
                if streaming {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            )
            .header("x-aicarpool-request-id", call.request_id.as_str());
        if streaming {
            builder = builder.header("server-timing", server_timing(&call));
        }
        let mut record = Pending {
            gw: self.clone(),
            snap,
            upstream_model: account.upstream_model(&call.model).to_owned(),
            call,
            account: account.id,
            attempts,
            status,
            first_byte_ms,
        };
        let encoding = match decode::encoding(&parts.headers) {
            Ok(e) => e,
            Err(message) => return Box::pin(self.unreadable(record, &account, message)).await,
        };
        if streaming {
            let (tx, rx) = mpsc::channel(STREAM_BUFFER);
            let idle = self.config.upstream.idle_timeout;
            let decoder = decode::StreamDecoder::new(encoding);
            let producer = pump(body, decoder, tx, record, account, idle);
            return builder
                .body(channel_body(rx, producer))
                .expect("relayed head is valid");
        }
        let reading = Instant::now();
        let read = read_body(body, MAX_RESPONSE_BYTES, self.config.upstream.idle_timeout)
            .await
            .and_then(|b| decode::decode_all(encoding, b, MAX_RESPONSE_BYTES));
        record.call.upstream_wait += reading.elapsed();
        let bytes = match read {
            Ok(b) => b,
            Err(message) => return Box::pin(self.unreadable(record, &account, message)).await,
        };
        // An answer that is not JSON (an HTML page, plain text) is never passed on as it is:
        // in the member's browser it would run on the gateway's origin.
        let json = match media {
            Media::Json => true,
            Media::Missing => super::pick::pick(&bytes, &[]).is_ok(),
            _ => false,
        };
        if !json {
            let message = format!(
                "upstream answered {status} with content type {}, not JSON: {}",
                media.name(&parts.headers),
                extract_message(&bytes)
            );
            if outcome == Outcome::Ok {
                return Box::pin(self.unreadable(record, &account, message)).await;
            }
            record
                .finish(outcome, &Report::default(), Some(message))
                .await;
            let mut resp = error_response(
                Some(record.call.protocol),
                Kind::InvalidRequest,
                &format!(
                    "the upstream refused this request ({status}); request id {}",
                    record.call.request_id
                ),
            );
            *resp.status_mut() = status;
            return resp;
        }
        if outcome == Outcome::Ok {
            self.health.succeeded(&account).await;
        }
        // count_tokens answers carry no usage to charge; only Messages are metered.
        let report = if outcome == Outcome::Ok && record.call.endpoint.billed() {
            Report::from_json(record.call.endpoint.wire(), &bytes)
        } else {
            Report::default()
        };
        let error = (outcome != Outcome::Ok).then(|| extract_message(&bytes));
        record.finish(outcome, &report, error).await;
        builder = builder.header("server-timing", server_timing(&record.call));
        builder.body(full(bytes)).expect("relayed head is valid")
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
                Failure::Server(_) => {
                    let kind = if status.as_u16() == 529 { Kind::Overloaded } else { Kind::UpstreamFailed };
                    (
                        status,
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
        if let Some(until) = f.retry_after {
            let secs = ((until - now_ms()).max(0) + 999) / 1000;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
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

/// `Server-Timing`: the time spent inside the gateway so far (without upstream waits), and the
/// upstream wait, in milliseconds.
fn server_timing(call: &Call) -> String {
    let total = call.started.elapsed();
    let gateway = total.saturating_sub(call.upstream_wait);
    format!(
        "gateway;dur={:.3}, upstream;dur={:.3}",
        gateway.as_secs_f64() * 1000.0,
        call.upstream_wait.as_secs_f64() * 1000.0
    )
}

/// A response whose log row is written when it ends.
struct Pending {
    gw: Arc<Gateway>,
    snap: Arc<Snapshot>,
    call: Call,
    account: i64,
    /// The model name sent to the account.
    upstream_model: String,
    attempts: u32,
    status: StatusCode,
    first_byte_ms: i64,
}

impl Pending {
    /// Prices the usage and writes the row; returns once it is committed.
    async fn finish(&self, outcome: Outcome, report: &Report, error: Option<String>) {
        // Priced as what was actually served: the upstream's own name for it when it gave one,
        // else the name the account's mapping sent.
        let model = report.model.as_deref().unwrap_or(&self.upstream_model);
        let cost = if !self.call.endpoint.billed() {
            Some(0)
        } else {
            let mut price = self.snap.price(model);
            // Under a cost limit an answer naming an unpriced model is priced as the model
            // sent (which was checked to have a price), not let through for nothing.
            if price.is_none() && Limiter::cost_limited(&self.call.key, self.call.group.as_deref())
            {
                price = self.snap.price(&self.upstream_model);
            }
            price.map(|p| p.cost(&report.usage))
        };
        let mut rec = self.call.record(
            Some(self.account),
            self.attempts,
            self.status,
            outcome,
            report,
            cost,
            error,
            Some(self.first_byte_ms),
        );
        if model != self.call.model {
            rec.upstream_model = Some(model.to_owned());
        }
        let tokens = report.usage.total();
        let call = &self.call;
        self.gw.limiter.charge(
            call.key.id,
            call.group.as_deref(),
            call.started_at,
            tokens,
            cost.unwrap_or(0),
        );
        self.gw.meter.record(rec).await;
    }
}

impl Call {
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        account: Option<i64>,
        attempts: u32,
        status: StatusCode,
        outcome: Outcome,
        report: &Report,
        cost: Option<i64>,
        error: Option<String>,
        first_byte_ms: Option<i64>,
    ) -> usage::Record {
        let u = &report.usage;
        usage::Record {
            request_id: self.request_id.clone(),
            api_key_id: self.key.id,
            group_id: self.key.group_id,
            account_id: account,
            protocol: self.protocol.as_str().to_owned(),
            endpoint: self.endpoint.log_name().to_owned(),
            model: Some(self.model.clone()),
            upstream_model: None,
            stream: self.stream,
            status_code: status.as_u16(),
            outcome,
            error_message: error,
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cache_creation_input_tokens: u.cache_creation_input_tokens,
            cache_read_input_tokens: u.cache_read_input_tokens,
            cost_nanos: cost,
            attempts,
            client: self.client.as_str().to_owned(),
            user_agent: self.user_agent.clone(),
            started_at: self.started_at,
            duration_ms: self.started.elapsed().as_millis() as i64,
            first_byte_ms,
            day: self.day.clone(),
        }
    }
}

/// Reads an SSE stream from the upstream and hands each chunk to the client at once, reading
/// usage as it passes. The chunk that ends the stream is held until the log row is committed.
impl Gateway {
    /// An answer the gateway could not read whole (broken, too large, undecodable): the
    /// account takes a server error and the client gets a 502 in its protocol's shape.
    async fn unreadable(
        &self,
        mut record: Pending,
        account: &Upstream,
        message: String,
    ) -> Response<Body> {
        self.health
            .failed(account, Failure::Server(message.clone()))
            .await;
        record.status = StatusCode::BAD_GATEWAY;
        record
            .finish(
                Outcome::UpstreamError,
                &Report::default(),
                Some(message.clone()),
            )
            .await;
        error_response(
            Some(record.call.protocol),
            Kind::UpstreamFailed,
            &format!(
                "the upstream's answer could not be read; request id {}",
                record.call.request_id
            ),
        )
    }
}

/// A client that leaves does not stop the reading: the upstream is drained (bounded) so the
/// request is charged for what it produced.
async fn pump(
    mut body: Incoming,
    mut decoder: Option<decode::StreamDecoder>,
    tx: mpsc::Sender<Bytes>,
    mut pending: Pending,
    account: Arc<Upstream>,
    idle: Duration,
) {
    let wire = pending.call.endpoint.wire();
    let mut scanner = SseScanner::new(wire);
    let mut reframe = pending.call.strip_usage_chunk.then(Vec::new);
    let mut client_gone = false;
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    let mut broke: Option<String> = None;
    let mut logged = false;
    loop {
        let wait = match drain_deadline {
            Some(d) => idle.min(d.saturating_duration_since(tokio::time::Instant::now())),
            None => idle,
        };
        let frame = match tokio::time::timeout(wait, body.frame()).await {
            Ok(Some(Ok(f))) => f,
            Ok(None) => {
                // An event the upstream left without its blank line still counts.
                scanner.finish();
                break;
            }
            Ok(Some(Err(_))) => {
                broke = Some("upstream connection broke mid-stream".into());
                break;
            }
            Err(_) => {
                if drain_deadline.is_none() || !client_gone {
                    broke = Some(format!("upstream stream idle for {}s", idle.as_secs()));
                }
                break;
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let data = match decoder.as_mut().map(|d| d.feed(&data)) {
            None => data,
            Some(Ok(plain)) => plain,
            Some(Err(message)) => {
                broke = Some(message);
                break;
            }
        };
        let last = scanner.feed(&data);
        if last && !logged {
            // Durable first, then the bytes that tell the client it is complete.
            let outcome = if client_gone {
                Outcome::Aborted
            } else {
                Outcome::Ok
            };
            pending
                .finish(outcome, &scanner.report, scanner.report.error.clone())
                .await;
            logged = true;
        }
        // When the gateway asked for a usage chunk the client did not, events are passed whole
        // so that one can be left out.
        let data = match reframe.as_mut() {
            Some(buf) => {
                buf.extend_from_slice(&data);
                Bytes::from(take_events_without_usage_chunk(buf))
            }
            None => data,
        };
        if !client_gone && !data.is_empty() && tx.send(data).await.is_err() {
            client_gone = true;
            // The member's slot is free again; draining for usage is the gateway's business.
            pending.call.admission.release();
            drain_deadline = Some(tokio::time::Instant::now() + DISCONNECT_DRAIN);
            debug!(request = %pending.call.request_id, "client left mid-stream; draining upstream for usage");
        }
        if client_gone && (scanner.report.usage_final || logged) {
            break;
        }
    }
    if let Some(rest) = reframe.filter(|r| !r.is_empty())
        && !client_gone
    {
        let _ = tx.send(Bytes::from(rest)).await;
    }
    if let Some(msg) = &broke {
        pending
            .gw
            .health
            .failed(&account, Failure::Server(msg.clone()))
            .await;
    } else if scanner.report.complete && scanner.report.error.is_none() {
        pending.gw.health.succeeded(&account).await;
    } else if let Some(msg) = &scanner.report.error {
        pending
            .gw
            .health
            .failed(
                &account,
                Failure::Server(format!("error event mid-stream: {msg}")),
            )
            .await;
    }
    if !logged {
        let outcome = if client_gone {
            Outcome::Aborted
        } else if scanner.report.complete {
            Outcome::Ok
        } else {
            Outcome::UpstreamError
        };
        let error = broke
            .clone()
            .or_else(|| scanner.report.error.clone())
            .or_else(|| {
                (outcome == Outcome::UpstreamError)
                    .then(|| "stream ended before message_stop".to_owned())
            })
            .or_else(|| client_gone.then(|| "client disconnected mid-stream".to_owned()));
        pending.finish(outcome, &scanner.report, error).await;
    }
    if broke.is_some() && !client_gone {
        let public = format!(
            "the upstream stream broke off; request id {}",
            pending.call.request_id
        );
        let _ = tx
            .send(stream_error(wire, Kind::UpstreamFailed, &public))
            .await;
    }
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

/// Reads a whole body, bounded in size and in silence between frames.
async fn read_body(mut body: Incoming, max: usize, idle: Duration) -> Result<Bytes, String> {
    let mut buf = Vec::new();
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(format!("upstream response idle for {}s", idle.as_secs())),
            Ok(None) => return Ok(Bytes::from(buf)),
            Ok(Some(Err(_))) => {
                return Err("upstream connection broke while sending the response".into());
            }
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > max {
                        return Err(format!("upstream response larger than {max} bytes"));
                    }
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
}

/// The message of an upstream error body, bounded, for logs and account reasons.
pub(super) async fn read_error_message(body: Incoming, idle: Duration) -> String {
    match read_body(body, MAX_ERROR_BYTES, idle.min(Duration::from_secs(10))).await {
        Ok(b) => extract_message(&b),
        Err(e) => e,
    }
}

fn extract_message(body: &[u8]) -> String {
    let text = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("message"))
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let text: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    if text.is_empty() {
        "(no message)".into()
    } else {
        text
    }
}

/// Upstream headers a member gets: request ids to quote to the operator, rate-limit state
/// (Claude Code's status line reads `anthropic-ratelimit-*`) and retry advice. Everything else
/// (cookies, the account's organization, the upstream's own type and encoding) stays behind.
fn keep_response_header(name: &HeaderName) -> bool {
    let name = name.as_str();
    matches!(
        name,
        "request-id" | "x-request-id" | "retry-after" | "x-should-retry" | "cache-control"
    ) || name.starts_with("anthropic-ratelimit-")
        || name.starts_with("x-ratelimit-")
}

/// What an upstream said its answer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Media {
    Json,
    EventStream,
    /// No `Content-Type` at all: taken as JSON when it parses as JSON.
    Missing,
    Other,
}

impl Media {
    fn of(headers: &HeaderMap) -> Media {
        let Some(essence) = super::protocol::media_type(headers) else {
            return Media::Missing;
        };
        match essence.as_str() {
            "text/event-stream" => Media::EventStream,
            "application/json" => Media::Json,
            e if e.starts_with("application/") && e.ends_with("+json") => Media::Json,
            _ => Media::Other,
        }
    }

    /// The type for a log line, bounded.
    fn name(self, headers: &HeaderMap) -> String {
        match headers.get(header::CONTENT_TYPE) {
            Some(v) => String::from_utf8_lossy(v.as_bytes())
                .chars()
                .take(80)
                .collect(),
            None => "(none)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_get_an_allowlist_of_upstream_headers() {
        for h in [
            "set-cookie",
            "openai-organization",
            "anthropic-organization-id",
            "content-type",
            "content-encoding",
            "server",
        ] {
            assert!(!keep_response_header(&HeaderName::from_static(h)), "{h}");
        }
        for h in [
            "request-id",
            "anthropic-ratelimit-unified-5h-utilization",
            "x-ratelimit-remaining-requests",
            "retry-after",
        ] {
            assert!(keep_response_header(&HeaderName::from_static(h)), "{h}");
        }
    }

    #[test]
    fn error_messages_are_taken_from_json_or_text_and_bounded() {
        assert_eq!(
            extract_message(
                br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            ),
            "Overloaded"
        );
        assert_eq!(
            extract_message(b"<html>Bad Gateway</html>"),
            "<html>Bad Gateway</html>"
        );
        assert_eq!(extract_message(&[b'x'; 1000]).len(), 300);
        assert_eq!(extract_message(b""), "(no message)");
    }
}
