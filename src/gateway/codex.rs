//! ChatGPT subscriptions (`codex-oauth`) as Codex CLI 0.171.0 uses them: the Responses API at
//! `chatgpt.com/backend-api/codex`, always streamed and never stored, with the account named in
//! `chatgpt-account-id`; its `x-codex-primary-*` / `x-codex-secondary-*` windows; a turn state
//! that only the account which issued it may see again; a whole answer gathered from the stream
//! for a client that did not ask for one. Clients of other formats reach it translated
//! (`translate::responses_up`).

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::endpoint::Endpoint;
use super::failure::UpstreamError;
use super::protocol::Protocol;
use super::provider::{Provider, bearer, keeps_header, sensitive};
use super::snapshot::Upstream;
use super::windows::{Window, Windows};

/// The header Codex echoes within a turn so the backend keeps it on one server.
pub static TURN_STATE: http::HeaderName = http::HeaderName::from_static("x-codex-turn-state");
/// What the gateway says it is when the client named no originator.
const ORIGINATOR: &str = "codex_cli_rs";

pub struct Codex;

impl Provider for Codex {
    fn protocol(&self) -> Protocol {
        Protocol::Openai
    }

    fn authorize(&self, headers: &mut HeaderMap, account: &Upstream) -> Result<(), UpstreamError> {
        headers.insert(header::AUTHORIZATION, bearer(account)?);
        let Some(id) = account.workspace.as_deref() else {
            return Err(UpstreamError::Misconfigured {
                account: account.id,
                what: "a ChatGPT sign-in without its account id (sign in again)",
            });
        };
        headers.insert("chatgpt-account-id", sensitive(id, account)?);
        headers
            .entry("originator")
            .or_insert(HeaderValue::from_static(ORIGINATOR));
        Ok(())
    }

    fn refreshes_tokens(&self) -> bool {
        true
    }

    fn url(&self, account: &Upstream, endpoint: &Endpoint, _: &str, _: Option<&str>) -> String {
        let path = match endpoint {
            Endpoint::ResponsesCompact => "/responses/compact",
            _ => "/responses",
        };
        format!("{}{path}", account.base_url)
    }

    /// The turn state goes back only to the account that issued it (see [`turn_state_for`]).
    fn forwards(&self, name: &HeaderName) -> bool {
        *name != TURN_STATE && keeps_header(name, Protocol::Openai)
    }

    /// The backend serves only streamed, unstored requests: a client's `stream: false` or
    /// `store: true` (the Responses API's default) is asked as it accepts, and the stream
    /// gathered back into one answer.
    fn body(&self, _: &Upstream, endpoint: &Endpoint, body: &Bytes, _: &str, sent: &str) -> Bytes {
        let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(body) else {
            return body.clone();
        };
        map.insert("model".into(), Value::from(sent));
        if *endpoint == Endpoint::Responses {
            map.insert("stream".into(), Value::Bool(true));
            map.insert("store".into(), Value::Bool(false));
            // Codex CLI 0.171.0 sends none of these, and the backend's reasoning models take
            // no sampling settings or output cap (a translated request carries them).
            for k in ["max_output_tokens", "temperature", "top_p"] {
                map.remove(k);
            }
        }
        Bytes::from(Value::Object(map).to_string())
    }

    fn gathers_streams(&self) -> bool {
        true
    }

    fn responses_only(&self) -> bool {
        true
    }

    fn models_url(&self, account: &Upstream) -> Option<String> {
        Some(format!(
            "{}/models?client_version=0.171.0",
            account.base_url
        ))
    }

    fn probe(&self, model: Option<&str>) -> (Endpoint, String, Value) {
        let m = model.unwrap_or("gpt-5.1-codex-mini").to_owned();
        let body = json!({
            "model": m,
            "instructions": "",
            "input": [{ "type": "message", "role": "user",
                        "content": [{ "type": "input_text", "text": "ping" }] }],
            "stream": true,
            "store": false,
        });
        (Endpoint::Responses, m, body)
    }
}

/// The windows a ChatGPT subscription reports on its answers: the primary (five hours) and
/// secondary (weekly) `used-percent`, `window-minutes` and `reset-at` (epoch seconds).
pub fn windows(h: &HeaderMap, now: i64) -> Option<Windows> {
    let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let window = |which: &str| {
        let used = get(&format!("x-codex-{which}-used-percent"))?
            .parse::<f64>()
            .ok()
            .filter(|u| u.is_finite())?;
        let utilization = (used / 100.0).clamp(0.0, 1.0);
        let minutes =
            get(&format!("x-codex-{which}-window-minutes")).and_then(|m| m.parse::<i64>().ok());
        let w = Window {
            utilization,
            status: Some(if used >= 100.0 { "rejected" } else { "allowed" }.into()),
            resets_at: get(&format!("x-codex-{which}-reset-at"))
                .and_then(|r| r.parse::<i64>().ok())
                .map(|s| s.saturating_mul(1000)),
        };
        Some((minutes, w))
    };
    let mut out = Windows {
        updated_at: now,
        ..Windows::default()
    };
    for which in ["primary", "secondary"] {
        let Some((minutes, w)) = window(which) else {
            continue;
        };
        // Placed by length: a window of a day or less is the short one.
        let short = minutes.map_or(which == "primary", |m| m <= 24 * 60);
        if short {
            out.five_hour = Some(w);
        } else {
            out.seven_day = Some(w);
        }
    }
    (out.five_hour.is_some() || out.seven_day.is_some()).then_some(out)
}

/// The turn state a client sends, as the upstream issued it, when `account` issued it; `None`
/// for any other account (it would tie the turn to a server of another account).
pub fn turn_state_for(value: &HeaderValue, account: i64) -> Option<HeaderValue> {
    let (id, original) = value.to_str().ok()?.split_once('.')?;
    (id.parse::<i64>().ok()? == account)
        .then(|| HeaderValue::from_str(original).ok())
        .flatten()
}

/// The turn state an upstream issued, as the client gets it: prefixed with the account, so
/// that the next request of the turn is matched to it without the gateway keeping any state.
pub fn turn_state_from(value: &HeaderValue, account: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("{account}.{}", value.to_str().ok()?)).ok()
}

/// One whole Responses answer out of a stream: the `response` of its `response.completed`
/// (or `response.incomplete` / `response.failed`) event, with the items the stream finished
/// put back when that event left them out. `None` when the stream never ended.
pub fn gather(stream: &[u8]) -> Option<Bytes> {
    let mut items: Vec<(u64, Value)> = Vec::new();
    let mut last = None;
    let mut framer = super::frame::Framer::default();
    let mut each = |raw: &[u8]| {
        let ev = super::frame::parse(raw);
        let Ok(v) = serde_json::from_slice::<Value>(&ev.data) else {
            return;
        };
        match v.get("type").and_then(Value::as_str) {
            Some("response.output_item.done") => {
                let index = v.get("output_index").and_then(Value::as_u64).unwrap_or(0);
                if let Some(item) = v.get("item") {
                    items.push((index, item.clone()));
                }
            }
            Some("response.completed" | "response.incomplete" | "response.failed") => {
                last = v.get("response").cloned();
            }
            _ => {}
        }
    };
    framer.push(stream, &mut each);
    if let Some(rest) = framer.finish() {
        each(&rest);
    }
    let mut response = last?;
    let empty = response
        .get("output")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if empty && !items.is_empty() {
        items.sort_by_key(|(i, _)| *i);
        response["output"] = Value::Array(items.into_iter().map(|(_, v)| v).collect());
    }
    Some(Bytes::from(response.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_read_by_their_length() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-codex-primary-used-percent", "12.5"),
            ("x-codex-primary-window-minutes", "300"),
            ("x-codex-primary-reset-at", "1796190000"),
            ("x-codex-secondary-used-percent", "100"),
            ("x-codex-secondary-window-minutes", "10080"),
            ("x-codex-secondary-reset-at", "1796700000"),
        ] {
            h.insert(k, HeaderValue::from_static(v));
        }
        let w = windows(&h, 9).unwrap();
        assert_eq!(w.five_hour.as_ref().unwrap().utilization, 0.125);
        assert_eq!(
            w.five_hour.as_ref().unwrap().resets_at,
            Some(1_796_190_000_000)
        );
        assert_eq!(
            w.seven_day.as_ref().unwrap().status.as_deref(),
            Some("rejected")
        );
        assert_eq!(w.rejected_until(), Some(1_796_700_000_000));
        assert!(windows(&HeaderMap::new(), 0).is_none());
    }

    #[test]
    fn a_turn_state_goes_back_only_to_its_account() {
        let issued = HeaderValue::from_static("ts-abc.def");
        let seen = turn_state_from(&issued, 7).unwrap();
        assert_eq!(seen, "7.ts-abc.def");
        assert_eq!(turn_state_for(&seen, 7).unwrap(), "ts-abc.def");
        assert!(turn_state_for(&seen, 8).is_none());
        assert!(turn_state_for(&HeaderValue::from_static("garbage"), 7).is_none());
    }

    #[test]
    fn requests_are_streamed_and_unstored() {
        let a = Codex;
        let body = Bytes::from_static(br#"{"model":"m","stream":false,"store":true,"input":"hi"}"#);
        let acct = super::super::provider::tests::account(
            crate::domain::Platform::CodexOauth,
            "https://c",
        );
        let v: Value =
            serde_json::from_slice(&a.body(&acct, &Endpoint::Responses, &body, "m", "gpt-5"))
                .unwrap();
        assert_eq!(v["stream"], true);
        assert_eq!(v["store"], false);
        assert_eq!(v["model"], "gpt-5");
        assert_eq!(v["input"], "hi");
    }

    #[test]
    fn a_stream_is_gathered_into_its_final_response() {
        // Spaced JSON, items only in their own events, a final event split across chunks.
        let s = concat!(
            "event: response.created\ndata: {\"type\": \"response.created\", \"response\": {\"id\": \"r\"}}\n\n",
            "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":1,\"item\":{\"type\":\"message\",\"id\":\"b\"}}\n\n",
            "event: response.output_item.done\r\ndata: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"a\"}}\r\n\r\n",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"status\":\"completed\",\"output\":[],\"usage\":{\"input_tokens\":3,\"output_tokens\":2}}}",
        );
        let v: Value = serde_json::from_slice(&gather(s.as_bytes()).unwrap()).unwrap();
        assert_eq!(v["status"], "completed");
        assert_eq!(v["usage"]["output_tokens"], 2);
        assert_eq!(v["output"][0]["id"], "a");
        assert_eq!(v["output"][1]["id"], "b");
        assert!(gather(b"data: {\"type\":\"response.created\"}\n\n").is_none());
    }
}
