//! What differs per upstream platform, behind one interface: where a request goes, which
//! client headers go with it, how the account's credential is presented, how the body is
//! rewritten for the account, how its answers are read and what a failed answer means, whether
//! a refused credential is refreshed first, and the model list and test request it offers.
//! Failover, delivery, streaming and metering (`relay`) are written once against [`Provider`];
//! protocol translation plugs in here.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};

use super::endpoint::{Endpoint, GeminiMethod, GeminiVersion, with_model};
use super::failure::UpstreamError;
use super::health::{Failure, rate_limit_until};
use super::protocol::{self, Protocol, X_API_KEY, X_GOOG_API_KEY};
use super::snapshot::Upstream;
use super::usage::Wire;
use crate::config::UpstreamPolicy;
use crate::domain::Platform;

/// The beta flag Anthropic requires on requests made with a Claude subscription's token.
const OAUTH_BETA: &str = "oauth-2025-04-20";
/// The Messages API version sent when the client named none.
const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

/// One upstream platform.
pub trait Provider: Send + Sync {
    /// The API protocol the platform speaks.
    fn protocol(&self) -> Protocol;

    /// How the account's credential (and what its platform needs beside it) is sent.
    fn authorize(&self, headers: &mut HeaderMap, account: &Upstream) -> Result<(), UpstreamError>;

    /// Whether a refused credential is refreshed once before the account is failed
    /// (subscriptions, whose access tokens expire).
    fn refreshes_tokens(&self) -> bool {
        false
    }

    /// The URL of `endpoint` on `account` for `model` (after its mapping).
    fn url(
        &self,
        account: &Upstream,
        endpoint: &Endpoint,
        model: &str,
        query: Option<&str>,
    ) -> String {
        // Joined by hand: `format!` took about 700 instructions a request here.
        let (base, path) = (
            endpoint.base(&account.base_url),
            endpoint.upstream_path(model, query),
        );
        let mut url = String::with_capacity(base.len() + path.len());
        url.push_str(&base);
        url.push_str(&path);
        url
    }

    /// Whether a client header goes upstream: an allowlist, so client addresses, cookies,
    /// credentials and anything a client invents stay behind.
    fn forwards(&self, name: &HeaderName) -> bool {
        keeps_header(name, self.protocol())
    }

    /// The body for this account: the client's, with `model` renamed when the account maps it
    /// (Gemini names the model in the path instead).
    fn body(
        &self,
        _account: &Upstream,
        endpoint: &Endpoint,
        body: &Bytes,
        asked: &str,
        sent: &str,
    ) -> Bytes {
        match endpoint {
            Endpoint::Gemini { .. } => body.clone(),
            _ if asked != sent => with_model(body, sent),
            _ => body.clone(),
        }
    }

    /// Where usage is in an answer to `endpoint`.
    fn wire(&self, endpoint: &Endpoint) -> Wire {
        endpoint.wire()
    }

    /// Whether an answer with `status` moves on to the next account (the account's fault or
    /// state); otherwise it is passed on (a success, or the request's own fault).
    fn fails(&self, status: StatusCode) -> bool {
        matches!(status.as_u16(), 401 | 403 | 429) || status.is_server_error()
    }

    /// What a failing answer ([`Provider::fails`]) means for the account.
    fn classify(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        message: &str,
        now: i64,
        policy: &UpstreamPolicy,
    ) -> Failure {
        let code = status.as_u16();
        match code {
            429 => Failure::RateLimited {
                until: rate_limit_until(headers, now, policy),
                reason: format!("upstream answered 429: {message}"),
            },
            401 | 403 => Failure::Auth(format!("upstream answered {code}: {message}")),
            529 => Failure::Overloaded(format!("upstream answered 529: {message}")),
            _ => Failure::Server(format!("upstream answered {code}: {message}")),
        }
    }

    /// Whether the platform speaks only the Responses API of its protocol (ChatGPT's Codex
    /// backend): other clients reach it translated.
    fn responses_only(&self) -> bool {
        false
    }

    /// Whether the platform only streams, so that an answer a client asked for whole is
    /// gathered from the stream (ChatGPT's Codex backend).
    fn gathers_streams(&self) -> bool {
        false
    }

    /// Whether answers come inside an envelope (`{"response": ..}`) to be taken off before
    /// they are read or passed on (Code Assist).
    fn envelope(&self) -> bool {
        false
    }

    /// The URL of the platform's model list for `account`, when it has one.
    fn models_url(&self, account: &Upstream) -> Option<String>;

    /// A minimal real request for `account test`: endpoint, model and body.
    fn probe(&self, model: Option<&str>) -> (Endpoint, String, Value);
}

/// The provider of `platform`.
pub fn of(platform: Platform) -> &'static dyn Provider {
    match platform {
        Platform::Anthropic => &Anthropic(Credential::ApiKey),
        Platform::ClaudeConsole => &Anthropic(Credential::Relay),
        Platform::ClaudeOauth => &Anthropic(Credential::Subscription),
        Platform::Openai => &OpenaiCompatible,
        Platform::Gemini => &Gemini,
        Platform::CodexOauth => &super::codex::Codex,
        Platform::GeminiOauth => &super::code_assist::CodeAssist,
    }
}

/// The request for one attempt on `account`, built by its provider: URL, the client's headers
/// it forwards, the account's credential, the body as the account needs it. `translated`: the
/// body is a translation, which already names the account's model (no second rename).
pub fn request(
    endpoint: &Endpoint,
    account: &Upstream,
    model: &str,
    query: Option<&str>,
    client_headers: &HeaderMap,
    body: &Bytes,
    translated: bool,
) -> Result<Request<Full<Bytes>>, UpstreamError> {
    let p = of(account.platform);
    let sent = account.upstream_model(model);
    let asked = if translated { sent } else { model };
    let uri = p.url(account, endpoint, sent, query);
    let mut builder = Request::builder().method(Method::POST).uri(uri);
    let headers = builder.headers_mut().expect("fresh builder");
    for (name, value) in client_headers {
        if p.forwards(name) {
            headers.append(name, value.clone());
        }
    }
    // A Codex turn's state, only to the account that issued it.
    if let Some(v) = client_headers
        .get(&super::codex::TURN_STATE)
        .and_then(|v| super::codex::turn_state_for(v, account.id))
    {
        headers.insert(super::codex::TURN_STATE.clone(), v);
    }
    p.authorize(headers, account)?;
    // Usage is read from the answer's bytes: ask for them uncompressed.
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    builder
        .body(Full::new(p.body(account, endpoint, body, asked, sent)))
        .map_err(|_| UpstreamError::Misconfigured {
            account: account.id,
            what: "a base URL that does not form a valid URL",
        })
}

/// How an Anthropic-protocol account holds its credential.
#[derive(Clone, Copy)]
enum Credential {
    /// `x-api-key`.
    ApiKey,
    /// An Anthropic-compatible relay: relays differ in which header they read, so both, and
    /// the account's own user agent.
    Relay,
    /// A Claude subscription's OAuth access token, with the OAuth beta flag.
    Subscription,
}

struct Anthropic(Credential);

impl Provider for Anthropic {
    fn protocol(&self) -> Protocol {
        Protocol::Anthropic
    }

    fn authorize(&self, headers: &mut HeaderMap, account: &Upstream) -> Result<(), UpstreamError> {
        let secret = &account.secret.0;
        match self.0 {
            Credential::ApiKey => {
                headers.insert(X_API_KEY.clone(), sensitive(secret, account)?);
            }
            Credential::Relay => {
                headers.insert(X_API_KEY.clone(), sensitive(secret, account)?);
                headers.insert(
                    header::AUTHORIZATION,
                    sensitive(&format!("Bearer {secret}"), account)?,
                );
                if let Some(ua) = account
                    .user_agent
                    .as_deref()
                    .and_then(|u| HeaderValue::from_str(u).ok())
                {
                    headers.insert(header::USER_AGENT, ua);
                }
            }
            Credential::Subscription => {
                headers.insert(
                    header::AUTHORIZATION,
                    sensitive(&format!("Bearer {secret}"), account)?,
                );
                let betas: Vec<&str> = headers
                    .get_all(&protocol::ANTHROPIC_BETA)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .map(str::trim)
                    .filter(|b| !b.is_empty() && *b != OAUTH_BETA)
                    .collect();
                let merged = std::iter::once(OAUTH_BETA)
                    .chain(betas)
                    .collect::<Vec<_>>()
                    .join(",");
                // The client's own betas went into it; one it sent unreadable is dropped.
                if let Ok(v) = HeaderValue::from_str(&merged) {
                    headers.insert(protocol::ANTHROPIC_BETA.clone(), v);
                }
            }
        }
        headers
            .entry(&protocol::ANTHROPIC_VERSION)
            .or_insert(HeaderValue::from_static(DEFAULT_ANTHROPIC_VERSION));
        Ok(())
    }

    fn refreshes_tokens(&self) -> bool {
        matches!(self.0, Credential::Subscription)
    }

    fn models_url(&self, account: &Upstream) -> Option<String> {
        let base = Endpoint::Messages.base(&account.base_url);
        Some(format!("{base}/v1/models?limit=1000"))
    }

    fn probe(&self, model: Option<&str>) -> (Endpoint, String, Value) {
        let m = model.unwrap_or("claude-haiku-4-5").to_owned();
        let body = json!({ "model": m, "max_tokens": 1, "messages": [{ "role": "user", "content": "ping" }] });
        (Endpoint::Messages, m, body)
    }
}

struct OpenaiCompatible;

impl Provider for OpenaiCompatible {
    fn protocol(&self) -> Protocol {
        Protocol::Openai
    }

    fn authorize(&self, headers: &mut HeaderMap, account: &Upstream) -> Result<(), UpstreamError> {
        headers.insert(header::AUTHORIZATION, bearer(account)?);
        Ok(())
    }

    fn models_url(&self, account: &Upstream) -> Option<String> {
        let base = Endpoint::ChatCompletions.base(&account.base_url);
        Some(format!("{base}/models"))
    }

    fn probe(&self, model: Option<&str>) -> (Endpoint, String, Value) {
        let m = model.unwrap_or("gpt-4o-mini").to_owned();
        let body = json!({ "model": m, "max_tokens": 1, "messages": [{ "role": "user", "content": "ping" }] });
        (Endpoint::ChatCompletions, m, body)
    }
}

pub(super) struct Gemini;

impl Provider for Gemini {
    fn protocol(&self) -> Protocol {
        Protocol::Gemini
    }

    fn authorize(&self, headers: &mut HeaderMap, account: &Upstream) -> Result<(), UpstreamError> {
        headers.insert(
            X_GOOG_API_KEY.clone(),
            sensitive(&account.secret.0, account)?,
        );
        Ok(())
    }

    fn models_url(&self, account: &Upstream) -> Option<String> {
        Some(format!("{}/v1beta/models?pageSize=1000", account.base_url))
    }

    fn probe(&self, model: Option<&str>) -> (Endpoint, String, Value) {
        let m = model.unwrap_or("gemini-2.5-flash").to_owned();
        let body = json!({ "contents": [{ "role": "user", "parts": [{ "text": "ping" }] }],
                           "generationConfig": { "maxOutputTokens": 1 } });
        let endpoint = Endpoint::Gemini {
            model: m.clone(),
            method: GeminiMethod::Generate,
            version: GeminiVersion::V1beta,
        };
        (endpoint, m, body)
    }
}

/// The account's token as a bearer credential.
pub(super) fn bearer(account: &Upstream) -> Result<HeaderValue, UpstreamError> {
    sensitive(&format!("Bearer {}", account.secret.0), account)
}

/// A credential as a header value that HTTP/2 never compresses into its tables.
pub(super) fn sensitive(value: &str, account: &Upstream) -> Result<HeaderValue, UpstreamError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| UpstreamError::Misconfigured {
        account: account.id,
        what: "a credential that is not a valid header value",
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// Client headers that go upstream, per protocol. Claude Code's own headers pass verbatim.
pub(super) fn keeps_header(name: &HeaderName, protocol: Protocol) -> bool {
    let name = name.as_str();
    // The SDKs' `x-stainless-*` describe the client (language, version, retry count).
    if matches!(name, "content-type" | "accept" | "user-agent") || name.starts_with("x-stainless-")
    {
        return true;
    }
    match protocol {
        Protocol::Anthropic => matches!(
            name,
            "anthropic-version"
                | "anthropic-beta"
                | "anthropic-dangerous-direct-browser-access"
                | "x-app"
                | "x-claude-code-session-id"
        ),
        // Codex CLI's conversation and client headers (0.171.0 sends `session-id`,
        // `thread-id`, `originator`, `x-client-request-id` and `x-codex-*`; older ones
        // `session_id` and `conversation_id`).
        Protocol::Openai => {
            matches!(
                name,
                "openai-beta"
                    | "session-id"
                    | "session_id"
                    | "thread-id"
                    | "conversation_id"
                    | "originator"
                    | "version"
                    | "x-client-request-id"
            ) || name.starts_with("x-codex-")
        }
        Protocol::Gemini => name == "x-goog-api-client",
    }
}

#[cfg(test)]
pub(super) mod tests;
