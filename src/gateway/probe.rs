//! `account test`: one minimal real request through an account (and its proxy), timed, whose
//! answer moves the account's state as real traffic would: success brings a TEMP_ERROR or
//! RATE_LIMITED account back, 401/403 (after one refresh for subscriptions) is ERROR, 429 is
//! RATE_LIMITED until the reset, server errors count toward TEMP_ERROR.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Request, header};
use http_body_util::Full;
use serde::Serialize;
use serde_json::json;

use super::endpoint::Endpoint;
use super::health::rate_limit_until;
use super::oauth::Refresher;
use super::provider;
use super::relay::read_error_message;
use super::snapshot::{Secret, Upstream, upstream};
use crate::domain::Platform;
use crate::error::{Error, Result};
use crate::lifecycle::Event;
use crate::manage::Ctx;
use crate::store::{self, now_ms};
use crate::upstream::client::Clients;

#[derive(Debug, Serialize)]
pub struct ProbeResult {
    pub account: i64,
    pub ok: bool,
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub model: String,
    pub message: String,
    /// The account's status after the test.
    pub account_status: String,
    /// Models the upstream's own list holds (fetched after a successful test).
    pub upstream_models: Option<usize>,
    /// Why that list could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_models_error: Option<String>,
    /// A subscription's usage windows, from its usage endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows: Option<super::windows::Windows>,
}

/// A small real request for the account's platform; the model is its first listed one.
fn probe_request(a: &Upstream) -> (Endpoint, String, serde_json::Value) {
    provider::of(a.platform).probe(a.models.first().map(String::as_str))
}

async fn send(ctx: &Ctx, clients: &Clients, a: &Upstream) -> (Option<u16>, HeaderMap, String) {
    let (endpoint, model, body) = probe_request(a);
    let sent_model = a.upstream_model(&model).to_owned();
    let mut body = body;
    if !matches!(endpoint, Endpoint::Gemini { .. }) {
        body["model"] = json!(sent_model);
    }
    let p = provider::of(a.platform);
    let uri = p.url(a, &endpoint, &sent_model, None);
    let mut builder = Request::post(&uri).header(header::CONTENT_TYPE, "application/json");
    let headers = builder.headers_mut().expect("fresh builder");
    if let Err(e) = p.authorize(headers, a) {
        return (None, HeaderMap::new(), e.to_string());
    }
    let req = match builder.body(Full::new(Bytes::from(body.to_string()))) {
        Ok(r) => r,
        Err(_) => {
            return (
                None,
                HeaderMap::new(),
                "the base URL does not form a valid URL".into(),
            );
        }
    };
    let client = clients.get(a.proxy.as_ref());
    let timeout = ctx.config.upstream.first_byte_timeout;
    match tokio::time::timeout(timeout, client.request(req)).await {
        Err(_) => (
            None,
            HeaderMap::new(),
            format!("no response within {}s", timeout.as_secs()),
        ),
        Ok(Err(e)) => (
            None,
            HeaderMap::new(),
            format!("could not connect: {}", super::relay::root_cause(&e)),
        ),
        Ok(Ok(resp)) => {
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let message =
                read_error_message(resp.into_body(), ctx.config.upstream.idle_timeout).await;
            (Some(status), headers, message)
        }
    }
}

/// Finds a Google account's Code Assist project and stores it (a refused token refreshed
/// once); the error, when it cannot be found, for the operator.
async fn setup_project(
    ctx: &Ctx,
    clients: &Arc<Clients>,
    a: &mut Upstream,
) -> Result<std::result::Result<String, String>> {
    let id = a.id;
    let mut found = super::code_assist::discover_project(clients, a).await;
    if matches!(&found, Err(super::code_assist::SetupError::Status(s, _)) if s.as_u16() == 401) {
        let r = Refresher::new(
            ctx.db.clone(),
            ctx.secrets.clone(),
            ctx.config.oauth.clone(),
            clients.clone(),
            None,
        );
        if let Ok(token) = r.refresh(id, Some(&a.secret.0)).await {
            a.secret = Secret(token);
            found = super::code_assist::discover_project(clients, a).await;
        }
    }
    match found {
        Ok(project) => {
            if a.workspace.as_ref() != Some(&project) {
                let p = project.clone();
                ctx.db
                    .write(move |c| store::accounts::set_workspace(c, id, &p))
                    .await?;
            }
            a.workspace = Some(project.clone());
            Ok(Ok(project))
        }
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// After a Google account is added: its Code Assist project, found and stored now so its
/// first request names it. A failure is the operator's to see, not the creation's.
pub async fn set_up(ctx: &Ctx, id: i64) -> Result<Option<String>> {
    let stored = ctx
        .db
        .read(move |c| store::accounts::find_by_id(c, id))
        .await?
        .ok_or_else(|| Error::NotFound(format!("no account with id {id}")))?;
    if stored.platform != Platform::GeminiOauth {
        return Ok(None);
    }
    let mut a = upstream(&stored, &ctx.secrets)
        .ok_or_else(|| Error::Secret("the account's credentials cannot be opened".into()))?;
    let clients = Arc::new(Clients::new(&ctx.config.upstream)?);
    Ok(setup_project(ctx, &clients, &mut a).await?.err())
}

/// Tests account `id` and records what the answer means for its state.
pub async fn test_account(ctx: &Ctx, id: i64) -> Result<ProbeResult> {
    let stored = ctx
        .db
        .read(move |c| store::accounts::find_by_id(c, id))
        .await?
        .ok_or_else(|| Error::NotFound(format!("no account with id {id}")))?;
    let mut a = upstream(&stored, &ctx.secrets)
        .ok_or_else(|| Error::Secret("the account's credentials cannot be opened".into()))?;
    let clients = Arc::new(Clients::new(&ctx.config.upstream)?);
    let started = Instant::now();
    let refresher = || {
        Refresher::new(
            ctx.db.clone(),
            ctx.secrets.clone(),
            ctx.config.oauth.clone(),
            clients.clone(),
            None,
        )
    };
    // A Google account's requests name its Code Assist project: found (again) first.
    let setup_error = match a.platform {
        Platform::GeminiOauth => setup_project(ctx, &clients, &mut a).await?.err(),
        _ => None,
    };
    let (mut status, mut headers, mut message) = send(ctx, &clients, &a).await;
    if matches!(status, Some(401 | 403)) && a.platform.is_subscription() {
        match refresher().refresh(id, Some(&a.secret.0)).await {
            Ok(token) => {
                a.secret = Secret(token);
                (status, headers, message) = send(ctx, &clients, &a).await;
            }
            Err(e) => message = e.to_string(),
        }
    }
    let latency_ms = started.elapsed().as_millis() as i64;
    let ok = status.is_some_and(|s| (200..300).contains(&s));
    let now = now_ms();
    // The policy in force: the environment's, as changed on the Settings page.
    let policy = crate::manage::settings::account_policy(ctx).await?;
    let until = rate_limit_until(&headers, now, &ctx.config.upstream);
    let reason = match status {
        Some(s) => format!("account test: upstream answered {s}: {message}"),
        None => format!("account test: {message}"),
    };
    let event = match status {
        Some(200..=299) => Some(Event::Succeeded),
        Some(401 | 403) => Some(Event::Refused { reason }),
        Some(429) => Some(Event::RateLimited { until, reason }),
        Some(s) if s < 500 => None,
        _ => Some(Event::ServerError { errors: 0, reason }),
    };
    if let Some(mut event) = event {
        ctx.db
            .write(move |c| {
                let stored = store::accounts::find_by_id(c, id)?
                    .ok_or_else(|| Error::NotFound("account vanished".into()))?;
                // This process holds no error window: the stored count stands in for the
                // serving gateway's (which a recovery or recover also resets).
                let mark = match &mut event {
                    Event::ServerError { errors, .. } => {
                        let count = stored.error_count + 1;
                        *errors = u32::try_from(count).unwrap_or(u32::MAX);
                        Some(store::accounts::ErrorMark {
                            count: Some(count),
                            at: now,
                        })
                    }
                    Event::Refused { .. } => Some(store::accounts::ErrorMark {
                        count: None,
                        at: now,
                    }),
                    _ => None,
                };
                store::accounts::advance(c, id, &event, &policy, mark, "account-test")?;
                Ok(())
            })
            .await?;
    }
    let after = ctx
        .db
        .read(move |c| store::accounts::find_by_id(c, id))
        .await?
        .map(|a| a.status.to_string())
        .unwrap_or_default();
    let model = probe_request(&a).1;
    let listed = if ok {
        super::models::refresh(ctx, &clients, id)
            .await
            .map_err(|e| e.to_string())
    } else {
        Err("not fetched: the test failed".into())
    };
    // A subscription's windows, asked of its platform (or read off the test's answer) and
    // stored for the console.
    let windows = if !ok || !a.platform.is_subscription() {
        None
    } else if super::windows::askable(a.platform) {
        super::windows::fetch(&clients, &a, now_ms())
            .await
            .inspect_err(|e| tracing::debug!(account = id, error = %e, "usage windows not fetched"))
            .ok()
    } else {
        super::windows::Windows::from_headers(&headers, now_ms())
    };
    if let Some(text) = windows.as_ref().and_then(|w| serde_json::to_string(w).ok()) {
        let at = windows.as_ref().map_or(0, |w| w.updated_at);
        ctx.db
            .write(move |c| store::runtime::set_windows(c, id, &text, at))
            .await?;
    }
    if let Some(e) = setup_error
        && !ok
    {
        message = format!("{message} ({e})");
    }
    Ok(ProbeResult {
        windows,
        upstream_models: listed.as_ref().ok().copied(),
        upstream_models_error: listed.err(),
        account: id,
        ok,
        status,
        latency_ms,
        model,
        message: if ok { "ok".into() } else { message },
        account_status: after,
    })
}
