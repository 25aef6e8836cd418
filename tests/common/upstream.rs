//! A fake Anthropic upstream speaking the real wire formats (JSON messages, SSE streams, error
//! bodies), switchable to fail, and recording what it was sent.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

/// Token counts every fake answer reports.
pub const INPUT: i64 = 11;
pub const OUTPUT: i64 = 22;
pub const CACHE_WRITE: i64 = 5;
pub const CACHE_READ: i64 = 3;
/// What those tokens cost on claude-sonnet-4-5 in nano-dollars:
/// 11 × 3000 + 22 × 15000 + 5 × 3750 + 3 × 300.
pub const COST_NANOS: i64 = 382_650;
pub const MODEL: &str = "claude-sonnet-4-5-20250929";

/// How the fake answers the next requests.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with a complete JSON message.
    Message,
    /// A stream when the request asks for one (`"stream": true`), else a message.
    Auto,
    /// 200 with an SSE stream, `pace` between events.
    Stream { pace: Duration },
    /// This status, extra headers and body.
    Status(u16, Vec<(&'static str, String)>, String),
    /// This status, exactly these headers and these bytes (compressed, huge, ...).
    Raw(u16, Vec<(&'static str, String)>, Bytes),
    /// Accepts the request and never answers.
    Hang,
    /// Starts an SSE stream, sends its first `events` events, then breaks the connection.
    Truncated { events: usize },
    /// Answers as the scripted model of `model.rs` does, in the format of the path asked,
    /// streamed when asked.
    Model,
}

pub use super::style::Style;

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct State {
    reply: Reply,
    /// Answer 401 unless the request carries `Authorization: Bearer <this>`.
    bearer: Option<String>,
    seen: Vec<Seen>,
    /// SSE events written so far, over all streams.
    events_sent: usize,
    /// Streams being sent now, and the most there ever were at once.
    active: usize,
    max_active: usize,
    /// Keep every request in `seen` (off for benchmarks, which send millions).
    record: bool,
    /// Wait this long before answering (a slow upstream).
    delay: Duration,
    style: Style,
    /// What `GET …/models` lists.
    models: Vec<String>,
    /// The `GET …/models` requests received.
    lists: Vec<Seen>,
    /// The tool the scripted model calls when offered, and its arguments.
    tool: Option<(String, serde_json::Value)>,
    /// Headers added to every answer (a subscription's usage windows, say).
    headers: Vec<(String, String)>,
    /// What `GET /api/oauth/usage` answers (a subscription's usage endpoint).
    usage: Option<serde_json::Value>,
    /// The scripted model's whole answers report prefix-cache hits against earlier bodies
    /// (kept here) instead of fixed counts.
    prefix_cache: Option<Vec<Vec<u8>>>,
    /// Answers as Code Assist does (Gemini CLI 0.61.0): `{response: ..}` envelopes, and
    /// `loadCodeAssist` / `onboardUser` / `retrieveUserQuota`.
    code_assist: Option<CodeAssistState>,
    /// Refuses what ChatGPT's Codex backend refuses: a turn not streamed, one stored, one
    /// without `chatgpt-account-id` (a compaction is answered whole).
    codex: bool,
}

/// What the fake Code Assist knows of its one Google account.
#[derive(Clone, Debug, Default)]
pub struct CodeAssistState {
    /// The project `loadCodeAssist` names; `None`: the account is not onboarded yet, and
    /// `onboardUser` gives this one.
    pub project: Option<String>,
    pub onboarded_project: String,
    /// `remainingFraction` of the most used bucket.
    pub remaining: f64,
}

pub struct Fake {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _runtime: tokio::runtime::Runtime,
}

impl Fake {
    pub fn start() -> Fake {
        Fake::start_on(0)
    }

    /// Listens on `127.0.0.1:port` (0 picks a free one).
    pub fn start_on(port: u16) -> Fake {
        Fake::serve(port, None)
    }

    /// Serves HTTPS with this PEM certificate and key, offering HTTP/2 and HTTP/1.1.
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Fake {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Fake::serve(0, Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
    }

    fn serve(port: u16, tls: Option<tokio_rustls::TlsAcceptor>) -> Fake {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(Mutex::new(State {
            reply: Reply::Message,
            bearer: None,
            seen: Vec::new(),
            events_sent: 0,
            active: 0,
            max_active: 0,
            record: true,
            delay: Duration::ZERO,
            style: Style::Compact,
            models: vec!["fake-model-a".into(), "fake-model-b".into()],
            lists: Vec::new(),
            tool: None,
            prefix_cache: None,
            headers: Vec::new(),
            usage: None,
            code_assist: None,
            codex: false,
        }));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                // Small SSE writes must not wait for Nagle (40 ms with delayed ACKs).
                let _ = stream.set_nodelay(true);
                let state = shared.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(state.clone(), req));
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let _ = match tls {
                        None => {
                            builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await
                        }
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(stream).await else {
                                return;
                            };
                            builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await
                        }
                    };
                });
            }
        });
        Fake {
            addr,
            state,
            _runtime: runtime,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The HTTPS URL of a TLS fake, by the name its certificate carries.
    pub fn https_url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    pub fn set(&self, reply: Reply) {
        self.state.lock().unwrap().reply = reply;
    }

    /// Accept only this bearer token (a subscription's current access token).
    pub fn require_bearer(&self, token: &str) {
        self.state.lock().unwrap().bearer = Some(token.to_owned());
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn count(&self) -> usize {
        self.state.lock().unwrap().seen.len()
    }

    pub fn events_sent(&self) -> usize {
        self.state.lock().unwrap().events_sent
    }

    /// The most streams that were ever being answered at once (since the last reset).
    pub fn max_active(&self) -> usize {
        self.state.lock().unwrap().max_active
    }

    /// Stop keeping requests (benchmarks); `count` and `seen` then stay as they are.
    pub fn quiet(&self) {
        self.state.lock().unwrap().record = false;
    }

    /// The scripted model ([`Reply::Model`]) calls `name` with `args` when it is offered.
    pub fn set_tool(&self, name: &str, args: serde_json::Value) {
        self.state.lock().unwrap().tool = Some((name.to_owned(), args));
    }

    /// What the usage endpoint answers from now on.
    pub fn set_usage(&self, usage: serde_json::Value) {
        self.state.lock().unwrap().usage = Some(usage);
    }

    /// Adds these headers to every answer from now on (replacing earlier ones).
    /// Answers as Code Assist does, for a Google account in `state`.
    pub fn code_assist(&self, state: CodeAssistState) {
        self.state.lock().unwrap().code_assist = Some(state);
    }

    /// Refuses what ChatGPT's Codex backend refuses.
    pub fn codex(&self) {
        self.state.lock().unwrap().codex = true;
    }

    pub fn set_headers(&self, headers: &[(&str, String)]) {
        self.state.lock().unwrap().headers = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
    }

    /// The scripted model's whole answers count cache hits as a prefix cache would.
    pub fn use_prefix_cache(&self) {
        self.state.lock().unwrap().prefix_cache = Some(Vec::new());
    }

    /// Write JSON bodies and SSE events in this style from now on.
    pub fn set_style(&self, style: Style) {
        self.state.lock().unwrap().style = style;
    }

    /// The model-list requests received (not in `seen`).
    pub fn list_requests(&self) -> Vec<Seen> {
        self.state.lock().unwrap().lists.clone()
    }

    /// What `GET …/models` lists from now on.
    pub fn set_models(&self, models: &[&str]) {
        self.state.lock().unwrap().models = models.iter().map(|m| m.to_string()).collect();
    }

    /// Answer every request only after `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.state.lock().unwrap().delay = delay;
    }

    /// Streams being answered now.
    pub fn active(&self) -> usize {
        self.state.lock().unwrap().active
    }

    pub fn reset_max_active(&self) {
        let mut s = self.state.lock().unwrap();
        s.max_active = s.active;
    }
}

/// An address nothing listens on: connections to it are refused.
pub fn refused_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

type Body = BoxBody<Bytes, std::io::Error>;

async fn answer(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let version = format!("{:?}", req.version());
    let get = req.method() == http::Method::GET;
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
    let json = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
    let kind = Kind::of(&path);
    let wants_stream = json
        .get("stream")
        .and_then(|s| s.as_bool())
        .unwrap_or(false)
        || path.contains(":streamGenerateContent");
    let include_usage = json
        .pointer("/stream_options/include_usage")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let listing = get && (path.ends_with("/models") || path.contains("/models?"));
    // The gateway's own background reads (a subscription's usage) are kept apart too.
    let usage_get = get && path.starts_with("/api/oauth/usage");
    // Code Assist's setup and quota calls, kept apart like the other background reads.
    let setup = [":loadCodeAssist", ":onboardUser", ":retrieveUserQuota"]
        .into_iter()
        .find(|m| path.ends_with(m));
    let gemini_list = path.starts_with("/v1beta/");
    let (reply, delay, style, (turn, prompt, extra), envelope) = {
        let mut s = state.lock().unwrap();
        let auth = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.clone());
        let seen = Seen {
            version,
            path,
            headers,
            body,
        };
        // Model-list requests (the gateway's discovery) are kept apart: tests count relayed
        // requests.
        let codex_refusal = s.codex && seen.path.ends_with("/responses") && {
            let account = seen.header("chatgpt-account-id").is_some();
            !(account && json["stream"] == true && json["store"] == false)
        };
        if listing || usage_get || setup.is_some() {
            s.lists.push(seen);
        } else if s.record {
            s.seen.push(seen);
        }
        let authorized = match &s.bearer {
            None => true,
            Some(t) => auth.as_deref() == Some(format!("Bearer {t}").as_str()),
        };
        let reply = if !authorized {
            Reply::Status(
                401,
                vec![],
                r#"{"type":"error","error":{"type":"authentication_error","message":"OAuth token has expired"}}"#.into(),
            )
        } else if codex_refusal {
            Reply::Status(
                400,
                vec![],
                r#"{"detail":"Stream must be set to true, store to false, and the account named"}"#
                    .into(),
            )
        } else if let (Some(method), Some(ca)) = (setup, &s.code_assist) {
            let body = match method {
                ":loadCodeAssist" => match &ca.project {
                    Some(p) => serde_json::json!({
                        "currentTier": { "id": "free-tier", "name": "Gemini Code Assist for individuals" },
                        "allowedTiers": [{ "id": "free-tier", "isDefault": true }],
                        "cloudaicompanionProject": p,
                        "gcpManaged": false
                    }),
                    None => serde_json::json!({
                        "allowedTiers": [{ "id": "free-tier", "name": "Gemini Code Assist for individuals", "isDefault": true }]
                    }),
                },
                ":onboardUser" => serde_json::json!({
                    "name": "operations/onboard-1", "done": true,
                    "response": { "@type": "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse",
                                  "cloudaicompanionProject": { "id": ca.onboarded_project, "name": ca.onboarded_project } }
                }),
                _ => serde_json::json!({ "buckets": [
                    { "resetTime": "2026-12-03T07:00:00Z", "tokenType": "REQUESTS", "modelId": "gemini-2.5-flash", "remainingFraction": 1.0 },
                    { "remainingAmount": "40", "remainingFraction": ca.remaining, "resetTime": "2026-12-03T07:00:00Z", "tokenType": "REQUESTS", "modelId": "gemini-2.5-pro" }
                ]}),
            };
            Reply::Status(200, vec![], body.to_string())
        } else if usage_get {
            match &s.usage {
                Some(u) => Reply::Status(200, vec![], u.to_string()),
                None => Reply::Status(
                    404,
                    vec![],
                    r#"{"type":"error","error":{"type":"not_found_error","message":"Not Found"}}"#
                        .into(),
                ),
            }
        } else if listing {
            // The models endpoint of each API: Gemini's `models[].name`, the others' `data[].id`.
            let body = if gemini_list {
                let list: Vec<_> = s
                    .models
                    .iter()
                    .map(|m| serde_json::json!({ "name": format!("models/{m}") }))
                    .collect();
                serde_json::json!({ "models": list })
            } else {
                let list: Vec<_> = s
                    .models
                    .iter()
                    .map(|m| serde_json::json!({ "id": m, "object": "model" }))
                    .collect();
                serde_json::json!({ "object": "list", "data": list })
            };
            Reply::Status(200, vec![], body.to_string())
        } else {
            match s.reply.clone() {
                Reply::Auto if wants_stream => Reply::Stream {
                    pace: Duration::from_millis(2),
                },
                Reply::Auto => Reply::Message,
                other => other,
            }
        };
        let turn = super::model::turn(kind, &json, s.tool.as_ref());
        let last = s.seen.last().map(|seen| seen.body.clone());
        let prompt = match (&mut s.prefix_cache, last) {
            (Some(earlier), Some(body)) => {
                let p = super::model::prefix_cached(earlier, &body);
                earlier.push(body);
                p
            }
            _ => super::model::Prompt::default(),
        };
        let envelope = s.code_assist.is_some() && kind != Kind::GeminiCount;
        (
            reply,
            s.delay,
            s.style,
            (turn, prompt, s.headers.clone()),
            envelope,
        )
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut resp = answer_with(
        reply,
        kind,
        Shape { style, envelope },
        turn,
        prompt,
        wants_stream,
        include_usage,
        state,
    )
    .await;
    for (k, v) in extra {
        if let (Ok(k), Ok(v)) = (
            http::header::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    Ok(resp)
}

/// How the fake writes an answer: its JSON style, and Code Assist's envelope around it.
#[derive(Clone, Copy)]
struct Shape {
    style: Style,
    envelope: bool,
}

impl Shape {
    fn json(self, json: &str) -> String {
        if self.envelope {
            self.style.json(&format!(
                r#"{{"response":{json},"traceId":"fake-trace-1"}}"#
            ))
        } else {
            self.style.json(json)
        }
    }

    /// An event with its `data:` JSON in the envelope, the trace id first this time (real
    /// servers do not promise an order).
    fn event(self, event: &str) -> String {
        if !self.envelope {
            return self.style.event(event);
        }
        let wrapped: String = event
            .split_inclusive('\n')
            .map(|line| match line.strip_prefix("data: ") {
                Some(rest) if rest.starts_with('{') => {
                    let json = rest.trim_end_matches(['\r', '\n']);
                    let end = &rest[json.len()..];
                    format!(r#"data: {{"traceId":"fake-trace-1","response":{json}}}{end}"#)
                }
                _ => line.to_owned(),
            })
            .collect();
        self.style.event(&wrapped)
    }
}

#[allow(clippy::too_many_arguments)]
async fn answer_with(
    reply: Reply,
    kind: Kind,
    style: Shape,
    turn: super::model::Turn,
    prompt: super::model::Prompt,
    wants_stream: bool,
    include_usage: bool,
    state: Arc<Mutex<State>>,
) -> Response<Body> {
    match reply {
        Reply::Message | Reply::Auto => Response::builder()
            .header("content-type", "application/json")
            .header("request-id", "req_fake")
            .header("set-cookie", "upstream=secret")
            .body(full(style.json(&kind.json())))
            .unwrap(),
        Reply::Stream { pace } => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
            {
                let mut st = state.lock().unwrap();
                st.active += 1;
                st.max_active = st.max_active.max(st.active);
            }
            tokio::spawn(async move {
                for event in kind.events(include_usage) {
                    if tx.send(Ok(Bytes::from(style.event(&event)))).await.is_err() {
                        break;
                    }
                    state.lock().unwrap().events_sent += 1;
                    tokio::time::sleep(pace).await;
                }
                state.lock().unwrap().active -= 1;
            });
            Response::builder()
                .header("content-type", "text/event-stream")
                .header("cache-control", "no-cache")
                .body(BodyExt::boxed(ChannelBody(rx)))
                .unwrap()
        }
        Reply::Status(code, extra, body) => {
            let mut b = Response::builder()
                .status(code)
                .header("content-type", "application/json");
            for (k, v) in extra {
                b = b.header(k, v);
            }
            b.body(full(body)).unwrap()
        }
        Reply::Raw(code, headers, body) => {
            let mut b = Response::builder().status(code);
            for (k, v) in headers {
                b = b.header(k, v);
            }
            b.body(full(body)).unwrap()
        }
        Reply::Truncated { events } => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
            tokio::spawn(async move {
                for event in stream_events().into_iter().take(events) {
                    let _ = tx.send(Ok(Bytes::from(event))).await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let _ = tx.send(Err(std::io::Error::other("upstream dies"))).await;
            });
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(BodyExt::boxed(ChannelBody(rx)))
                .unwrap()
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Response::new(full(String::new()))
        }
        Reply::Model if !wants_stream => Response::builder()
            .header("content-type", "application/json")
            .header("x-request-id", "req_model")
            .body(full(style.json(&super::model::json(kind, &turn, prompt))))
            .unwrap(),
        Reply::Model => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
            tokio::spawn(async move {
                for (n, event) in super::model::events(kind, &turn, include_usage)
                    .into_iter()
                    .enumerate()
                {
                    // Each event in two chunks, cut at a different place each time.
                    let bytes = Bytes::from(style.event(&event));
                    let cut = (n * 7 + 3) % bytes.len().max(1);
                    for part in [bytes.slice(..cut), bytes.slice(cut..)] {
                        if tx.send(Ok(part)).await.is_err() {
                            return;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            });
            Response::builder()
                .header("content-type", "text/event-stream; charset=utf-8")
                .body(BodyExt::boxed(ChannelBody(rx)))
                .unwrap()
        }
    }
}

fn full(s: impl Into<Bytes>) -> Body {
    BodyExt::boxed(http_body_util::Full::new(s.into()).map_err(|never| match never {}))
}

/// Which API a request was made to, by its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Anthropic,
    Chat,
    Responses,
    Gemini,
    GeminiCount,
}

impl Kind {
    pub fn of(path: &str) -> Kind {
        if path.contains("/chat/completions") {
            Kind::Chat
        } else if path.contains("/responses") {
            Kind::Responses
        } else if path.contains(":countTokens") {
            Kind::GeminiCount
        } else if path.contains("GenerateContent") || path.contains(":generateContent") {
            Kind::Gemini
        } else {
            Kind::Anthropic
        }
    }

    /// A complete non-streaming answer.
    pub fn json(self) -> String {
        match self {
            Kind::Anthropic => message_json(),
            Kind::Chat => chat_json(),
            Kind::Responses => responses_json(),
            Kind::Gemini => gemini_json(),
            Kind::GeminiCount => r#"{"totalTokens":14}"#.into(),
        }
    }

    /// A streamed answer, one string per event; chat adds the usage chunk only when asked.
    pub fn events(self, include_usage: bool) -> Vec<String> {
        match self {
            Kind::Anthropic | Kind::GeminiCount => stream_events(),
            Kind::Chat => chat_events(include_usage),
            Kind::Responses => responses_events(),
            Kind::Gemini => gemini_events(),
        }
    }
}

/// OpenAI and Gemini answers report a 14-token prompt of which 3 were cached: 11 input and 3
/// cache-read tokens, as the gateway records them, and 22 output tokens.
pub const PROMPT: i64 = INPUT + CACHE_READ;

pub fn chat_json() -> String {
    format!(
        r#"{{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06","choices":[{{"index":0,"message":{{"role":"assistant","content":"Hello from the fake upstream"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":{PROMPT},"completion_tokens":{OUTPUT},"total_tokens":{},"prompt_tokens_details":{{"cached_tokens":{CACHE_READ}}}}}}}"#,
        PROMPT + OUTPUT
    )
}

pub fn chat_events(include_usage: bool) -> Vec<String> {
    let usage_field = if include_usage {
        r#","usage":null"#
    } else {
        ""
    };
    let chunk = |delta: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]{usage_field}}}\n\n"
        )
    };
    let mut events = vec![chunk(r#"{"role":"assistant","content":""}"#, "null")];
    for word in ["Hello", " from", " the", " fake", " upstream"] {
        events.push(chunk(&format!(r#"{{"content":"{word}"}}"#), "null"));
    }
    events.push(chunk("{}", r#""stop""#));
    if include_usage {
        events.push(format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{{\"prompt_tokens\":{PROMPT},\"completion_tokens\":{OUTPUT},\"total_tokens\":{},\"prompt_tokens_details\":{{\"cached_tokens\":{CACHE_READ}}}}}}}\n\n",
            PROMPT + OUTPUT
        ));
    }
    events.push("data: [DONE]\n\n".into());
    events
}

fn responses_object(status: &str, with_output: bool) -> String {
    let output = if with_output {
        r#"[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello from the fake upstream","annotations":[]}]}]"#
    } else {
        "[]"
    };
    let usage = if status == "completed" {
        format!(
            r#"{{"input_tokens":{PROMPT},"input_tokens_details":{{"cached_tokens":{CACHE_READ}}},"output_tokens":{OUTPUT},"output_tokens_details":{{"reasoning_tokens":0}},"total_tokens":{}}}"#,
            PROMPT + OUTPUT
        )
    } else {
        "null".into()
    };
    format!(
        r#"{{"id":"resp_1","object":"response","created_at":1,"status":"{status}","model":"gpt-5-codex","output":{output},"usage":{usage}}}"#
    )
}

pub fn responses_json() -> String {
    responses_object("completed", true)
}

pub fn responses_events() -> Vec<String> {
    let ev = |name: &str, data: String| format!("event: {name}\ndata: {data}\n\n");
    let text = "Hello from the fake upstream";
    let mut events = vec![ev(
        "response.created",
        format!(
            r#"{{"type":"response.created","sequence_number":0,"response":{}}}"#,
            responses_object("in_progress", false)
        ),
    )];
    events.push(ev(
        "response.output_item.added",
        r#"{"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"type":"message","id":"msg_1","status":"in_progress","role":"assistant","content":[]}}"#.into(),
    ));
    events.push(ev(
        "response.content_part.added",
        r#"{"type":"response.content_part.added","sequence_number":2,"item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}}"#.into(),
    ));
    for (i, word) in ["Hello", " from", " the", " fake", " upstream"]
        .iter()
        .enumerate()
    {
        events.push(ev(
            "response.output_text.delta",
            format!(r#"{{"type":"response.output_text.delta","sequence_number":{},"item_id":"msg_1","output_index":0,"content_index":0,"delta":"{word}","logprobs":[]}}"#, i + 3),
        ));
    }
    events.push(ev(
        "response.output_text.done",
        format!(r#"{{"type":"response.output_text.done","sequence_number":8,"item_id":"msg_1","output_index":0,"content_index":0,"text":"{text}","logprobs":[]}}"#),
    ));
    events.push(ev(
        "response.content_part.done",
        format!(r#"{{"type":"response.content_part.done","sequence_number":9,"item_id":"msg_1","output_index":0,"content_index":0,"part":{{"type":"output_text","text":"{text}","annotations":[]}}}}"#),
    ));
    events.push(ev(
        "response.output_item.done",
        format!(r#"{{"type":"response.output_item.done","sequence_number":10,"output_index":0,"item":{{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{{"type":"output_text","text":"{text}","annotations":[]}}]}}}}"#),
    ));
    events.push(ev(
        "response.completed",
        format!(
            r#"{{"type":"response.completed","sequence_number":11,"response":{}}}"#,
            responses_object("completed", true)
        ),
    ));
    events
}

fn gemini_chunk(text: &str, finish: bool, output: i64) -> String {
    let finish = if finish {
        r#","finishReason":"STOP""#
    } else {
        ""
    };
    format!(
        r#"{{"candidates":[{{"content":{{"parts":[{{"text":"{text}"}}],"role":"model"}}{finish},"index":0}}],"usageMetadata":{{"promptTokenCount":{PROMPT},"cachedContentTokenCount":{CACHE_READ},"candidatesTokenCount":{output},"thoughtsTokenCount":2,"totalTokenCount":{}}},"modelVersion":"gemini-2.5-pro","responseId":"r1"}}"#,
        PROMPT + output + 2
    )
}

pub fn gemini_json() -> String {
    gemini_chunk("Hello from the fake upstream", true, OUTPUT - 2)
}

pub fn gemini_events() -> Vec<String> {
    let words = ["Hello", " from", " the", " fake", " upstream"];
    words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let last = i + 1 == words.len();
            let output = if last { OUTPUT - 2 } else { 4 * (i as i64 + 1) };
            format!("data: {}\r\n\r\n", gemini_chunk(w, last, output))
        })
        .collect()
}

/// The JSON body of a complete non-streaming answer.
pub fn message_json() -> String {
    format!(
        r#"{{"id":"msg_fake","type":"message","role":"assistant","model":"{MODEL}","content":[{{"type":"text","text":"Hello from the fake upstream"}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{{"input_tokens":{INPUT},"cache_creation_input_tokens":{CACHE_WRITE},"cache_read_input_tokens":{CACHE_READ},"output_tokens":{OUTPUT}}}}}"#
    )
}

/// The events of a streamed answer, one string per event.
pub fn stream_events() -> Vec<String> {
    let mut events = vec![format!(
        "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_fake\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"{MODEL}\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{{\"input_tokens\":{INPUT},\"cache_creation_input_tokens\":{CACHE_WRITE},\"cache_read_input_tokens\":{CACHE_READ},\"output_tokens\":1}}}}}}\n\n"
    )];
    events.push("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".into());
    for word in ["Hello", " from", " the", " fake", " upstream"] {
        events.push(format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{word}\"}}}}\n\n"
        ));
    }
    events.push(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n".into(),
    );
    events.push(format!(
        "event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\",\"stop_sequence\":null}},\"usage\":{{\"output_tokens\":{OUTPUT}}}}}\n\n"
    ));
    events.push("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".into());
    events
}

/// The whole streamed answer as the client should receive it.
pub fn stream_bytes() -> String {
    stream_events().concat()
}

/// A body fed from a channel, so events leave one by one with pauses between them; an error
/// item breaks the connection.
struct ChannelBody(tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx).map(|c| c.map(|r| r.map(Frame::data)))
    }
}
