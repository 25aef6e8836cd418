//! The providers' requests, headers and classifications, per platform.

use super::*;
use crate::domain::AccountStatus;
use crate::gateway::snapshot::Secret;

pub(in crate::gateway) fn account(platform: Platform, base: &str) -> Upstream {
    Upstream {
        id: 7,
        platform,
        base_url: base.into(),
        secret: Secret("sk-secret".into()),
        user_agent: Some("relay-agent/1".into()),
        models: vec![],
        offered: None,
        mapping: [("claude-sonnet-4-5".to_owned(), "glm-4.6".to_owned())].into(),
        proxy: None,
        status: AccountStatus::Active,
        status_until: None,
        last_error_at: None,
        errors_reset_at: None,
        allow_overage: false,
        max_concurrency: None,
        workspace: Some("ws-1".into()),
        openai: crate::gateway::translate::OpenaiApis::ChatOnly,
    }
}

#[test]
fn each_platform_sends_its_credential_where_it_reads_it() {
    let mut client = HeaderMap::new();
    client.insert("anthropic-beta", HeaderValue::from_static("a,b"));
    client.insert("x-api-key", HeaderValue::from_static("acp_member"));
    client.insert("cf-connecting-ip", HeaderValue::from_static("203.0.113.1"));
    let body = Bytes::from_static(br#"{"model":"claude-sonnet-4-5","messages":[]}"#);
    let cases = [
        (Platform::Anthropic, "x-api-key", "sk-secret"),
        (Platform::ClaudeConsole, "authorization", "Bearer sk-secret"),
        (Platform::ClaudeOauth, "authorization", "Bearer sk-secret"),
        (Platform::Openai, "authorization", "Bearer sk-secret"),
        (Platform::Gemini, "x-goog-api-key", "sk-secret"),
    ];
    for (platform, header, value) in cases {
        let a = account(platform, "https://up.example");
        let endpoint = match of(platform).protocol() {
            Protocol::Anthropic => Endpoint::Messages,
            Protocol::Openai => Endpoint::ChatCompletions,
            Protocol::Gemini => of(platform).probe(None).0,
        };
        let req = untranslated(&endpoint, &a, "claude-sonnet-4-5", &client, &body);
        let h = req.headers();
        assert_eq!(h[header], value, "{platform}");
        assert!(h[header].is_sensitive());
        assert_ne!(
            h.get("x-api-key").map(|v| v.as_bytes()),
            Some(&b"acp_member"[..])
        );
        assert!(h.get("cf-connecting-ip").is_none());
        assert_eq!(h["accept-encoding"], "identity");
    }
    let oauth = account(Platform::ClaudeOauth, "https://up.example");
    let req = untranslated(&Endpoint::Messages, &oauth, "x", &client, &body);
    assert_eq!(req.headers()["anthropic-beta"], "oauth-2025-04-20,a,b");
    assert_eq!(
        req.headers()["anthropic-version"],
        DEFAULT_ANTHROPIC_VERSION
    );
    let relay = account(Platform::ClaudeConsole, "https://relay.example/api/v1");
    let req = untranslated(
        &Endpoint::Messages,
        &relay,
        "claude-sonnet-4-5",
        &client,
        &body,
    );
    assert_eq!(req.uri(), "https://relay.example/api/v1/messages");
    assert_eq!(req.headers()["user-agent"], "relay-agent/1");
    assert!(of(Platform::ClaudeOauth).refreshes_tokens());
    assert!(!of(Platform::Anthropic).refreshes_tokens());
}

/// The request for an untranslated body, without a query.
fn untranslated(
    endpoint: &Endpoint,
    account: &Upstream,
    model: &str,
    client: &HeaderMap,
    body: &Bytes,
) -> Request<Full<Bytes>> {
    request(endpoint, account, model, None, client, body, false).unwrap()
}

#[tokio::test]
async fn a_mapped_model_is_renamed_once_and_a_translation_is_sent_as_written() {
    use http_body_util::BodyExt;
    let a = account(Platform::Anthropic, "https://up.example");
    let sent = async |body: &'static str, translated| {
        let body = Bytes::from_static(body.as_bytes());
        let (model, headers) = ("claude-sonnet-4-5", HeaderMap::new());
        let req = request(
            &Endpoint::Messages,
            &a,
            model,
            None,
            &headers,
            &body,
            translated,
        );
        let bytes = req.unwrap().into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    // The client's own body names the model it asked for: the account's name goes in.
    let own = r#"{"model":"claude-sonnet-4-5","messages":[]}"#;
    assert_eq!(
        sent(own, false).await,
        r#"{"model":"glm-4.6","messages":[]}"#
    );
    // A translation goes as the translator wrote it (it named the account's model
    // itself, or left it out where the target takes none): not scanned a second time.
    let translated = r#"{"messages":[]}"#;
    assert_eq!(sent(translated, true).await, translated);
}

#[test]
fn only_each_protocols_own_headers_go_upstream() {
    let keep = |h: &'static str, p| keeps_header(&HeaderName::from_static(h), p);
    for h in [
        "x-api-key",
        "authorization",
        "cookie",
        "host",
        "connection",
        "accept-encoding",
        "x-forwarded-for",
        "cf-connecting-ip",
        "true-client-ip",
        "x-client-ip",
        "via",
        "x-original-forwarded-for",
        "openai-organization",
        "openai-project",
        "x-goog-user-project",
        "x-made-up",
    ] {
        for p in [Protocol::Anthropic, Protocol::Openai, Protocol::Gemini] {
            assert!(!keep(h, p), "{h} {p:?}");
        }
    }
    // What Claude Code 2.1.197 sent to a local listener (`claude -p hi`), host, length,
    // connection, accept-encoding and its key aside: all of it passes verbatim.
    for h in [
        "anthropic-version",
        "anthropic-beta",
        "anthropic-dangerous-direct-browser-access",
        "x-app",
        "x-claude-code-session-id",
        "user-agent",
        "content-type",
        "accept",
        "x-stainless-lang",
        "x-stainless-os",
        "x-stainless-arch",
        "x-stainless-runtime",
        "x-stainless-runtime-version",
        "x-stainless-package-version",
        "x-stainless-retry-count",
        "x-stainless-timeout",
    ] {
        assert!(keep(h, Protocol::Anthropic), "{h}");
    }
    // What Codex CLI 0.171.0 sent (`codex exec hello`, a custom responses provider).
    for h in [
        "session-id",
        "thread-id",
        "originator",
        "x-client-request-id",
        "x-codex-window-id",
        "x-codex-turn-metadata",
        "x-codex-beta-features",
        "user-agent",
        "content-type",
        "accept",
    ] {
        assert!(keep(h, Protocol::Openai), "{h}");
    }
    assert!(!keep("anthropic-beta", Protocol::Openai));
    assert!(keep("x-goog-api-client", Protocol::Gemini));
}

#[test]
fn failures_are_classified_and_the_request_s_own_faults_passed_on() {
    let policy = crate::config::Config::with_data_dir("x").upstream;
    let p = of(Platform::Anthropic);
    let status = |code| StatusCode::from_u16(code).unwrap();
    let c = |code| p.classify(status(code), &HeaderMap::new(), "m", 0, &policy);
    assert!(matches!(c(429), Failure::RateLimited { .. }));
    assert!(matches!(c(401), Failure::Auth(_)));
    assert!(matches!(c(529), Failure::Overloaded(_)));
    assert!(matches!(c(503), Failure::Server(_)));
    for passed_on in [200, 400, 404, 413, 422] {
        assert!(!p.fails(status(passed_on)), "{passed_on}");
    }
    for failing in [401, 403, 429, 500, 529] {
        assert!(p.fails(status(failing)), "{failing}");
    }
}

#[test]
fn model_lists_sit_beside_each_protocols_endpoints() {
    let url = |platform, base| of(platform).models_url(&account(platform, base)).unwrap();
    assert_eq!(
        url(Platform::Anthropic, "https://relay/api/v1"),
        "https://relay/api/v1/models?limit=1000"
    );
    assert_eq!(
        url(Platform::Openai, "https://api.deepseek.com"),
        "https://api.deepseek.com/v1/models"
    );
    assert_eq!(
        url(Platform::Openai, "https://open.bigmodel.cn/api/paas/v4"),
        "https://open.bigmodel.cn/api/paas/v4/models"
    );
    assert_eq!(
        url(Platform::Gemini, "https://g"),
        "https://g/v1beta/models?pageSize=1000"
    );
}
