//! Google accounts (`gemini-oauth`) through Code Assist, as Gemini CLI 0.61.0 uses it:
//! `cloudcode-pa.googleapis.com/v1internal:{method}` with the Gemini request wrapped as
//! `{model, project, request}` and answered as `{response}`; the account's project found by
//! `loadCodeAssist` (or `onboardUser`); its quota from `retrieveUserQuota`, kept as a daily
//! window.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::endpoint::{Endpoint, GeminiMethod};
use super::failure::UpstreamError;
use super::frame::{self, Framer};
use super::protocol::Protocol;
use super::provider::{Provider, bearer, keeps_header};
use super::snapshot::Upstream;
use super::windows::{Window, Windows};
use crate::upstream::client::Clients;

/// The API version Gemini CLI speaks to Code Assist.
const VERSION: &str = "v1internal";
/// Who the gateway says it is in setup calls, as Gemini CLI does.
const CLIENT_METADATA: &str =
    r#"{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED","pluginType":"GEMINI"}"#;
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// How long onboarding (a long-running operation) is waited for.
const ONBOARD_POLLS: u32 = 6;
const ONBOARD_POLL_EVERY: Duration = Duration::from_secs(5);

pub struct CodeAssist;

impl Provider for CodeAssist {
    fn protocol(&self) -> Protocol {
        Protocol::Gemini
    }

    fn authorize(&self, headers: &mut HeaderMap, account: &Upstream) -> Result<(), UpstreamError> {
        headers.insert(header::AUTHORIZATION, bearer(account)?);
        Ok(())
    }

    fn refreshes_tokens(&self) -> bool {
        true
    }

    /// Every method sits at the version's root; streams are always SSE.
    fn url(&self, account: &Upstream, endpoint: &Endpoint, _: &str, _: Option<&str>) -> String {
        let method = match endpoint {
            Endpoint::Gemini { method, .. } => *method,
            _ => GeminiMethod::Generate,
        };
        let base = &account.base_url;
        match method {
            GeminiMethod::Generate => format!("{base}/{VERSION}:generateContent"),
            GeminiMethod::Stream => format!("{base}/{VERSION}:streamGenerateContent?alt=sse"),
            GeminiMethod::CountTokens => format!("{base}/{VERSION}:countTokens"),
        }
    }

    fn forwards(&self, name: &http::HeaderName) -> bool {
        keeps_header(name, Protocol::Gemini)
    }

    /// The Gemini request inside Code Assist's envelope, naming the model and the account's
    /// project; a token count names the model inside its request instead.
    fn body(
        &self,
        account: &Upstream,
        endpoint: &Endpoint,
        body: &Bytes,
        _: &str,
        sent: &str,
    ) -> Bytes {
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return body.clone();
        };
        let counting = matches!(
            endpoint,
            Endpoint::Gemini {
                method: GeminiMethod::CountTokens,
                ..
            }
        );
        let wrapped = if counting {
            json!({ "request": {
                "model": format!("models/{sent}"),
                "contents": request.get("contents").cloned().unwrap_or(json!([])),
            } })
        } else {
            let mut v = json!({ "model": sent, "request": request });
            if let Some(p) = &account.workspace {
                v["project"] = Value::from(p.as_str());
            }
            v
        };
        Bytes::from(wrapped.to_string())
    }

    fn envelope(&self) -> bool {
        true
    }

    fn models_url(&self, _: &Upstream) -> Option<String> {
        None
    }

    /// A Gemini request, as an API-key account's test (the envelope is added on the way).
    fn probe(&self, model: Option<&str>) -> (Endpoint, String, Value) {
        super::provider::Gemini.probe(model)
    }
}

/// A whole answer out of its envelope (`{"response": {...}, "traceId": ..}`); anything else
/// (an error, a token count) as it is.
pub fn unwrap_json(body: &[u8]) -> Bytes {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut m)) if m.get("response").is_some_and(Value::is_object) => {
            Bytes::from(m.remove("response").expect("checked").to_string())
        }
        _ => Bytes::copy_from_slice(body),
    }
}

/// A stream's events out of their envelopes, whole events at a time (the rest of an event
/// split across chunks waits for its end).
#[derive(Default)]
pub struct Unwrap {
    framer: Framer,
}

impl Unwrap {
    pub fn feed(&mut self, chunk: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(chunk.len());
        self.framer.push(chunk, |raw| unwrap_event(raw, &mut out));
        Bytes::from(out)
    }

    /// The stream ended: an event left without its blank line.
    pub fn finish(&mut self) -> Bytes {
        let mut out = Vec::new();
        if let Some(rest) = self.framer.finish() {
            unwrap_event(&rest, &mut out);
        }
        Bytes::from(out)
    }
}

fn unwrap_event(raw: &[u8], out: &mut Vec<u8>) {
    let ev = frame::parse(raw);
    match serde_json::from_slice::<Value>(&ev.data) {
        Ok(Value::Object(mut m)) if m.get("response").is_some_and(Value::is_object) => {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(
                m.remove("response")
                    .expect("checked")
                    .to_string()
                    .as_bytes(),
            );
            out.extend_from_slice(b"\n\n");
        }
        _ => out.extend_from_slice(raw),
    }
}

/// Why a Code Assist setup call failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Request(#[from] UpstreamError),
    #[error("could not reach Code Assist: {0}")]
    Unreachable(String),
    #[error("Code Assist answered {0} to {1}")]
    Status(http::StatusCode, &'static str),
    #[error("Code Assist's answer to {0} could not be read")]
    Unreadable(&'static str),
    #[error(
        "Code Assist assigns this Google account no project: give one with --project (a Google Cloud project with the Gemini for Google Cloud API enabled)"
    )]
    NoProject,
}

/// POSTs `body` to `method` of `account` and reads the JSON answer.
async fn call(
    clients: &Clients,
    account: &Upstream,
    method: &'static str,
    body: Value,
) -> Result<Value, SetupError> {
    let mut builder = http::Request::post(format!("{}/{VERSION}:{method}", account.base_url))
        .header(header::CONTENT_TYPE, "application/json");
    CodeAssist.authorize(builder.headers_mut().expect("fresh builder"), account)?;
    let req = builder
        .body(http_body_util::Full::new(Bytes::from(body.to_string())))
        .map_err(|_| UpstreamError::Misconfigured {
            account: account.id,
            what: "a base URL that does not form a valid URL",
        })?;
    let client = clients.get(account.proxy.as_ref());
    let resp = tokio::time::timeout(CALL_TIMEOUT, client.request(req))
        .await
        .map_err(|_| SetupError::Unreachable("timed out".into()))?
        .map_err(|e| SetupError::Unreachable(super::relay::root_cause(&e)))?;
    if !resp.status().is_success() {
        return Err(SetupError::Status(resp.status(), method));
    }
    let bytes = tokio::time::timeout(
        CALL_TIMEOUT,
        http_body_util::Limited::new(resp.into_body(), 256 * 1024).collect(),
    )
    .await
    .map_err(|_| SetupError::Unreadable(method))?
    .map_err(|_| SetupError::Unreadable(method))?
    .to_bytes();
    serde_json::from_slice(&bytes).map_err(|_| SetupError::Unreadable(method))
}

/// The project the account's requests name: the one Code Assist has for the account
/// (`loadCodeAssist`), else the one onboarding to its default tier gives (`onboardUser`, a
/// long-running operation). A project the operator gave is passed along and kept.
pub async fn discover_project(clients: &Clients, account: &Upstream) -> Result<String, SetupError> {
    let metadata: Value = serde_json::from_str(CLIENT_METADATA).expect("constant JSON");
    let given = account.workspace.clone();
    let mut load_meta = metadata.clone();
    if let Some(p) = &given {
        load_meta["duetProject"] = Value::from(p.as_str());
    }
    let loaded = call(
        clients,
        account,
        "loadCodeAssist",
        json!({ "cloudaicompanionProject": given, "metadata": load_meta }),
    )
    .await?;
    let text = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
    if loaded.get("currentTier").is_some() {
        return text(&loaded, "/cloudaicompanionProject")
            .or(given)
            .ok_or(SetupError::NoProject);
    }
    let tier = loaded
        .get("allowedTiers")
        .and_then(Value::as_array)
        .and_then(|t| t.iter().find(|t| t["isDefault"] == true).cloned())
        .and_then(|t| text(&t, "/id"))
        .unwrap_or_else(|| "legacy-tier".into());
    // The free tier brings its own project; the others need the operator's.
    let onboard = if tier == "free-tier" {
        json!({ "tierId": tier, "metadata": metadata })
    } else {
        json!({ "tierId": tier, "cloudaicompanionProject": given, "metadata": load_meta })
    };
    let mut op = call(clients, account, "onboardUser", onboard.clone()).await?;
    for _ in 0..ONBOARD_POLLS {
        if op["done"] == true {
            break;
        }
        tokio::time::sleep(ONBOARD_POLL_EVERY).await;
        op = call(clients, account, "onboardUser", onboard.clone()).await?;
    }
    text(&op, "/response/cloudaicompanionProject/id")
        .or(given)
        .ok_or(SetupError::NoProject)
}

/// The account's quota as a daily window: the most used of its per-model buckets
/// (`remainingFraction`, `resetTime`).
pub async fn quota(clients: &Clients, account: &Upstream, now: i64) -> Result<Windows, SetupError> {
    let v = call(
        clients,
        account,
        "retrieveUserQuota",
        json!({ "project": account.workspace }),
    )
    .await?;
    windows_from_quota(&v, now).ok_or(SetupError::Unreadable("retrieveUserQuota"))
}

fn windows_from_quota(v: &Value, now: i64) -> Option<Windows> {
    let tightest = v
        .get("buckets")?
        .as_array()?
        .iter()
        .filter_map(|b| {
            let left = b.get("remainingFraction")?.as_f64()?.clamp(0.0, 1.0);
            let reset = b
                .get("resetTime")
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map(|t| t.as_millisecond());
            Some((1.0 - left, reset))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    let (used, resets_at) = tightest;
    Some(Windows {
        day: Some(Window {
            utilization: used,
            status: Some(if used >= 1.0 { "rejected" } else { "allowed" }.into()),
            resets_at,
        }),
        updated_at: now,
        ..Windows::default()
    })
}

#[cfg(test)]
mod tests {
    use super::super::endpoint::GeminiVersion;
    use super::*;
    use crate::domain::Platform;

    fn account() -> Upstream {
        let mut a = super::super::provider::tests::account(Platform::GeminiOauth, "https://ca");
        a.workspace = Some("proj-1".into());
        a
    }

    #[test]
    fn requests_are_wrapped_with_the_model_and_project() {
        let body = Bytes::from_static(br#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#);
        let stream = Endpoint::Gemini {
            model: "gemini-2.5-pro".into(),
            method: GeminiMethod::Stream,
            version: GeminiVersion::V1beta,
        };
        let a = account();
        assert_eq!(
            CodeAssist.url(&a, &stream, "x", Some("alt=sse")),
            "https://ca/v1internal:streamGenerateContent?alt=sse"
        );
        let v: Value =
            serde_json::from_slice(&CodeAssist.body(&a, &stream, &body, "x", "gemini-2.5-pro"))
                .unwrap();
        assert_eq!(v["model"], "gemini-2.5-pro");
        assert_eq!(v["project"], "proj-1");
        assert_eq!(v["request"]["contents"][0]["parts"][0]["text"], "hi");
        let count = Endpoint::Gemini {
            model: "m".into(),
            method: GeminiMethod::CountTokens,
            version: GeminiVersion::V1beta,
        };
        let v: Value =
            serde_json::from_slice(&CodeAssist.body(&a, &count, &body, "m", "m")).unwrap();
        assert_eq!(v["request"]["model"], "models/m");
        assert_eq!(v["request"]["contents"][0]["role"], "user");
    }

    #[test]
    fn answers_come_out_of_their_envelope_however_split() {
        let whole = br#"{"response": {"candidates": [], "usageMetadata": {"promptTokenCount": 3}}, "traceId": "t"}"#;
        let v: Value = serde_json::from_slice(&unwrap_json(whole)).unwrap();
        assert_eq!(v["usageMetadata"]["promptTokenCount"], 3);
        let err = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(&unwrap_json(err)[..], &err[..]);
        let stream = "data: {\"response\": {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"a\"}]}}]}, \"traceId\": \"t\"}\r\n\r\ndata: {\"response\":{\"usageMetadata\":{\"candidatesTokenCount\":2}}}";
        for cut in 1..stream.len() {
            let mut u = Unwrap::default();
            let mut out = u.feed(&stream.as_bytes()[..cut]).to_vec();
            out.extend_from_slice(&u.feed(&stream.as_bytes()[cut..]));
            out.extend_from_slice(&u.finish());
            let text = String::from_utf8(out).unwrap();
            assert!(text.starts_with("data: {\"candidates\":"), "{cut}: {text}");
            assert!(
                text.contains("data: {\"usageMetadata\":{\"candidatesTokenCount\":2}}\n\n"),
                "{cut}"
            );
            assert!(!text.contains("traceId"));
        }
    }

    #[test]
    fn the_quota_is_its_most_used_bucket() {
        let v = json!({ "buckets": [
            { "modelId": "gemini-2.5-flash", "remainingFraction": 0.9, "resetTime": "2026-12-03T00:00:00Z", "tokenType": "REQUESTS" },
            { "modelId": "gemini-2.5-pro", "remainingAmount": "10", "remainingFraction": 0.25, "resetTime": "2026-12-02T20:00:00Z" },
            { "modelId": "odd" }
        ]});
        let w = windows_from_quota(&v, 1).unwrap();
        let day = w.day.unwrap();
        assert_eq!(day.utilization, 0.75);
        assert_eq!(day.resets_at, Some(1_796_241_600_000));
        assert!(windows_from_quota(&json!({}), 1).is_none());
    }
}
