//! Delivering an upstream answer: a stream handed to the pump, a whole body read, checked
//! and metered; the request-log row written before the last byte; the headers a member gets.

use super::pump::pump;
use super::*;
use crate::gateway::protocol::SERVER_TIMING;

impl Gateway {
    /// Passes a response on: a stream as it arrives, anything else read whole and metered.
    pub(super) async fn deliver(
        self: &Arc<Self>,
        call: Call,
        snap: Arc<Snapshot>,
        account: Arc<Upstream>,
        answer: Answer,
    ) -> Response<Body> {
        let Answer {
            attempts,
            resp,
            outcome,
            translation,
            slot,
        } = answer;
        let first_byte_ms = call.started.elapsed().as_millis() as i64;
        let (parts, body) = resp.into_parts();
        let provider = crate::gateway::provider::of(account.platform);
        let mut media = Media::of(&parts.headers);
        // A platform that only streams answers a client that asked for one answer whole.
        let gather = media == Media::EventStream && provider.gathers_streams() && !call.stream;
        let streaming = media == Media::EventStream && !gather;
        let status = parts.status;
        let mut builder = Response::builder().status(status);
        for (name, value) in &parts.headers {
            if *name == crate::gateway::codex::TURN_STATE {
                if let Some(v) = crate::gateway::codex::turn_state_from(value, account.id) {
                    builder = builder.header(name, v);
                }
            } else if keep_response_header(name) {
                builder = builder.header(name, value);
            }
        }
        // The type is the gateway's to say: only JSON and SSE are relayed as what they are.
        let content_type = match &translation {
            Some(t) if streaming => t.content_type(),
            _ if streaming => "text/event-stream",
            _ => "application/json",
        };
        builder = builder
            .header(header::CONTENT_TYPE, content_type)
            .header(&REQUEST_ID, call.request_id.as_str());
        if streaming {
            builder = builder.header(&SERVER_TIMING, server_timing(&call));
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
            translation,
            _slot: slot,
        };
        let encoding = match decode::encoding(&parts.headers) {
            Ok(e) => e,
            Err(message) => return Box::pin(self.unreadable(record, &account, message)).await,
        };
        if streaming {
            let (tx, rx) = mpsc::channel(STREAM_BUFFER);
            let idle = self.config.upstream.idle_timeout;
            let decoder = decode::StreamDecoder::new(encoding);
            let unwrap = provider
                .envelope()
                .then(crate::gateway::code_assist::Unwrap::default);
            let producer = pump(body, decoder, unwrap, tx, record, account, idle);
            return builder
                .body(channel_body(rx, producer))
                .expect("relayed head is valid");
        }
        let reading = Instant::now();
        let read = read_body(body, MAX_RESPONSE_BYTES, self.config.upstream.idle_timeout)
            .await
            .and_then(|b| decode::decode_all(encoding, b, MAX_RESPONSE_BYTES));
        record.call.upstream_wait += reading.elapsed();
        let mut bytes = match read {
            Ok(b) => b,
            Err(message) => return Box::pin(self.unreadable(record, &account, message)).await,
        };
        if gather {
            bytes = match crate::gateway::codex::gather(&bytes) {
                Some(b) => b,
                None => {
                    let error = UpstreamError::Broken("the stream ended before its answer".into());
                    return Box::pin(self.unreadable(record, &account, error)).await;
                }
            };
            media = Media::Json;
        }
        if provider.envelope() {
            bytes = crate::gateway::code_assist::unwrap_json(&bytes);
        }
        // An answer that is not JSON (an HTML page, plain text) is never passed on as it is:
        // in the member's browser it would run on the gateway's origin.
        let json = match media {
            Media::Json => true,
            Media::Missing => crate::gateway::pick::pick(&bytes, &[]).is_ok(),
            _ => false,
        };
        if !json {
            let message = format!(
                "upstream answered {status} with content type {}, not JSON: {}",
                media.name(&parts.headers),
                extract_message(&bytes)
            );
            if outcome == Outcome::Ok {
                let error = UpstreamError::Broken(message);
                return Box::pin(self.unreadable(record, &account, error)).await;
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
        // count_tokens answers carry no usage to charge; only Messages are metered. A
        // translated answer is read once for both its translation and its usage where it can.
        let mut translated = None;
        let report = if outcome == Outcome::Ok && record.call.endpoint.billed() {
            let both = record.translation.as_ref();
            match both.and_then(|t| t.response_and_report(&bytes)) {
                Some((answer, report)) => {
                    translated = Some(answer);
                    report
                }
                None => Report::from_json(record.wire(), &bytes),
            }
        } else {
            Report::default()
        };
        let error = (outcome != Outcome::Ok).then(|| extract_message(&bytes));
        // A subscription refusing because the request would draw on extra usage: it takes no
        // new traffic until its window resets, unless the operator allowed overage.
        if let Some(message) = &error
            && account.platform == crate::domain::Platform::ClaudeOauth
            && !account.allow_overage
            && message.to_ascii_lowercase().contains("extra usage")
        {
            let until = self
                .windows
                .get(account.id)
                .and_then(|w| w.rejected_until().or(w.five_hour?.resets_at))
                .unwrap_or(now_ms() + self.config.upstream.rate_limit_default.as_millis() as i64);
            let reason =
                format!("the subscription answered that this would draw on extra usage: {message}");
            self.health
                .failed(&account, Failure::RateLimited { until, reason })
                .await;
        }
        if let Some(t) = &record.translation {
            bytes = match (&error, translated.or_else(|| t.response(&bytes))) {
                (Some(message), _) => t.error(status, message),
                (None, Some(translated)) => translated,
                (None, None) => {
                    let error = UpstreamError::Broken(
                        "the upstream's answer could not be translated".into(),
                    );
                    return Box::pin(self.unreadable(record, &account, error)).await;
                }
            };
        }
        if outcome == Outcome::Ok {
            self.health.succeeded(&account).await;
        }
        record.finish(outcome, &report, error).await;
        builder = builder.header(&SERVER_TIMING, server_timing(&record.call));
        builder.body(full(bytes)).expect("relayed head is valid")
    }
}

impl Gateway {
    /// A token count for an account whose platform has none: the gateway's estimate,
    /// logged as free.
    pub(super) async fn estimate(&self, call: Call, account: i64) -> Response<Body> {
        let body =
            crate::gateway::translate::estimated_count(&call.endpoint, call.body.text().as_bytes());
        let report = Report::default();
        let (status, outcome) = (StatusCode::OK, Outcome::Ok);
        let mut rec = call.record(
            Some(account),
            1,
            status,
            outcome,
            &report,
            Some(0),
            None,
            Some(0),
        );
        rec.translated = true;
        self.meter.record(rec).await;
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .header(&REQUEST_ID, call.request_id.as_str())
            .body(full(body))
            .expect("a valid head")
    }

    /// An answer the gateway could not read whole (broken, too large, undecodable): the
    /// account takes a server error and the client gets a 502 in its protocol's shape.
    async fn unreadable(
        &self,
        mut record: Pending,
        account: &Upstream,
        error: UpstreamError,
    ) -> Response<Body> {
        let cause = error.to_string();
        self.health
            .failed(account, Failure::Server(cause.clone()))
            .await;
        record.status = StatusCode::BAD_GATEWAY;
        record
            .finish(Outcome::UpstreamError, &Report::default(), Some(cause))
            .await;
        error_response(
            Some(record.call.protocol),
            Kind::UpstreamFailed,
            &format!("{}; request id {}", error.public(), record.call.request_id),
        )
    }
}

/// `Server-Timing`: the time spent inside the gateway so far (without upstream waits), and the
/// upstream wait, in milliseconds.
fn server_timing(call: &Call) -> String {
    let gateway = call.started.elapsed().saturating_sub(call.upstream_wait);
    timing(gateway, call.upstream_wait)
}

/// The header's value: milliseconds to the microsecond, written from whole numbers
/// (formatting a float to exactly three places took about 1 % of the gateway's CPU per
/// request at c=64).
fn timing(gateway: Duration, upstream: Duration) -> String {
    let ms = |d: Duration| {
        let micros = d.as_nanos().saturating_add(500) / 1000;
        (micros / 1000, micros % 1000)
    };
    let mut out = String::with_capacity(48);
    for (name, d) in [("gateway;dur=", gateway), (", upstream;dur=", upstream)] {
        let (whole, frac) = ms(d);
        out.push_str(name);
        out.push_str(itoa::Buffer::new().format(whole));
        out.push('.');
        // Three digits, leading zeros kept: `format!`'s padding cost as much as the rest.
        out.push_str(&itoa::Buffer::new().format(1000 + frac)[1..]);
    }
    out
}

/// A response whose log row is written when it ends.
pub(super) struct Pending {
    pub(super) gw: Arc<Gateway>,
    pub(super) snap: Arc<Snapshot>,
    pub(super) call: Call,
    pub(super) account: i64,
    /// The model name sent to the account.
    pub(super) upstream_model: String,
    pub(super) attempts: u32,
    pub(super) status: StatusCode,
    pub(super) first_byte_ms: i64,
    pub(super) translation: Option<Translation>,
    /// The account's in-flight slot, given back when the answer ends.
    pub(super) _slot: super::super::inflight::Slot,
}

impl Pending {
    /// The format the upstream answers in, which says where its usage is.
    pub(super) fn wire(&self) -> crate::gateway::usage::Wire {
        match &self.translation {
            Some(t) => t.upstream.wire(),
            None => self.call.endpoint.wire(),
        }
    }

    /// Prices the usage and writes the row; returns once it is committed.
    pub(super) async fn finish(&self, outcome: Outcome, report: &Report, error: Option<String>) {
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
        rec.translated = self.translation.is_some();
        let tokens = report.usage.total();
        let call = &self.call;
        if self
            .snap
            .accounts
            .get(&self.account)
            .is_some_and(|a| a.platform.is_subscription())
        {
            self.gw.fair.record(
                call.key.group_id,
                call.key.id,
                self.account,
                call.started_at,
                cost,
                tokens,
            );
        }
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
    pub(super) fn record(
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
            protocol: self.protocol.as_str().into(),
            endpoint: self.endpoint.log_name().into(),
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
            client: self.client.as_str().into(),
            user_agent: self.user_agent.clone(),
            started_at: self.started_at,
            duration_ms: self.started.elapsed().as_millis() as i64,
            first_byte_ms,
            day: self.day.clone(),
            translated: false,
            tried: self.tried.clone(),
        }
    }
}

/// Reads a whole body, bounded in size and in silence between frames.
async fn read_body(mut body: Incoming, max: usize, idle: Duration) -> Result<Bytes, UpstreamError> {
    // A small answer usually comes as one frame, kept as it is; a second one starts a copy.
    let mut first: Option<Bytes> = None;
    let mut buf = Vec::new();
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => {
                let cause = format!("upstream response idle for {}s", idle.as_secs());
                return Err(UpstreamError::Broken(cause));
            }
            Ok(None) => return Ok(first.unwrap_or_else(|| Bytes::from(buf))),
            Ok(Some(Err(_))) => {
                let cause = "upstream connection broke while sending the response";
                return Err(UpstreamError::Broken(cause.into()));
            }
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    let held = first.as_ref().map_or(buf.len(), Bytes::len);
                    if held + data.len() > max {
                        let cause = format!("upstream response larger than {max} bytes");
                        return Err(UpstreamError::Broken(cause));
                    }
                    if buf.is_empty() && first.is_none() {
                        first = Some(data);
                    } else {
                        if let Some(f) = first.take() {
                            buf.extend_from_slice(&f);
                        }
                        buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

/// The message of an upstream error body, bounded, for logs and account reasons.
pub(in crate::gateway) async fn read_error_message(body: Incoming, idle: Duration) -> String {
    match read_body(body, MAX_ERROR_BYTES, idle.min(Duration::from_secs(10))).await {
        Ok(b) => extract_message(&b),
        Err(e) => e.to_string(),
    }
}

fn extract_message(body: &[u8]) -> String {
    let text = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            crate::json::at(&v, &["error", "message"])
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
        || name.starts_with("x-codex-primary-")
        || name.starts_with("x-codex-secondary-")
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
        let Some(essence) = crate::gateway::protocol::media_type(headers) else {
            return Media::Missing;
        };
        match &*essence {
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
    fn server_timing_is_milliseconds_to_the_microsecond() {
        let at = |g_nanos: u64, u_nanos: u64| {
            timing(Duration::from_nanos(g_nanos), Duration::from_nanos(u_nanos))
        };
        assert_eq!(at(0, 0), "gateway;dur=0.000, upstream;dur=0.000");
        assert_eq!(
            at(12_400, 1_234_500),
            "gateway;dur=0.012, upstream;dur=1.235"
        );
        assert_eq!(at(7_000, 0), "gateway;dur=0.007, upstream;dur=0.000");
        assert_eq!(
            at(999_600, 61_000_000_000),
            "gateway;dur=1.000, upstream;dur=61000.000"
        );
    }

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
