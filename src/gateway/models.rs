//! `GET /v1/models`, and the models an account's upstream lists through its own
//! `GET …/models`, fetched when the account is created and on `account test`, so the list shows
//! what an account with no model list of its own really serves (not the price table).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Limited};
use serde_json::Value;

use http::{Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::limits::{self, Limiter};
use super::protocol::{Kind, Protocol, error_response};
use super::snapshot::{Upstream, upstream};
use super::{authenticate, endpoint, provider};
use crate::http::{Body, json_response};
use crate::manage::Ctx;
use crate::store;
use crate::store::now_ms;
use crate::tasks::{self, Shutdown};
use crate::upstream::client::Clients;

/// The whole fetch, connect to last byte.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest list answer read.
const MAX_LIST_BYTES: usize = 4 * 1024 * 1024;
/// Models kept from one list, and the longest name kept.
const MAX_MODELS: usize = 2000;
const MAX_NAME: usize = 256;

/// Why an account's model list could not be had. The texts go to the log and `account test`;
/// an upstream's own words are not kept.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("no account with id {0}")]
    NoAccount(i64),
    #[error("the account's credentials cannot be opened")]
    Sealed,
    #[error(transparent)]
    Store(#[from] crate::error::Error),
    #[error(transparent)]
    Request(#[from] super::failure::UpstreamError),
    #[error("no model list within {}s", FETCH_TIMEOUT.as_secs())]
    Timeout,
    #[error("the platform has no model list")]
    NoList,
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("the model list answered {0}")]
    Status(http::StatusCode),
    #[error("could not read the model list: {0}")]
    Unreadable(String),
    #[error("the model list is not JSON: {0}")]
    NotJson(serde_json::Error),
}

/// Fetches account `id`'s model list from its upstream and stores it; the number found, or
/// why there is none (the account keeps its earlier list then).
pub async fn refresh(ctx: &Ctx, clients: &Clients, id: i64) -> Result<usize, ListError> {
    let stored = ctx
        .db
        .read(move |c| store::accounts::find_by_id(c, id))
        .await?
        .ok_or(ListError::NoAccount(id))?;
    let a = upstream(&stored, &ctx.secrets).ok_or(ListError::Sealed)?;
    let models = tokio::time::timeout(FETCH_TIMEOUT, fetch(clients, &a))
        .await
        .map_err(|_| ListError::Timeout)??;
    let n = models.len();
    ctx.db
        .write(move |c| store::accounts::set_upstream_models(c, id, &models))
        .await?;
    Ok(n)
}

/// How often the gateway looks for accounts whose list was never fetched.
const DISCOVER_EVERY: Duration = Duration::from_secs(2);

/// Starts the loop that fetches the list of every account that has none yet (one created by
/// the CLI or the admin page, or before this version), once per account per run: creating an
/// account never waits on its upstream, and the list arrives within seconds.
pub fn start_discovery(
    ctx: Ctx,
    clients: Arc<Clients>,
    snapshots: Arc<super::snapshot::Snapshots>,
    shutdown: Shutdown,
) {
    let tried = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    tasks::every(
        "model discovery",
        || DISCOVER_EVERY,
        shutdown,
        move || {
            let (ctx, clients) = (ctx.clone(), clients.clone());
            let (snapshots, tried) = (snapshots.clone(), tried.clone());
            async move {
                let due: Vec<i64> = {
                    let mut tried = tried.lock().expect("discovery state");
                    snapshots
                        .get()
                        .accounts
                        .values()
                        .filter(|a| a.offered.is_none() && tried.insert(a.id))
                        .map(|a| a.id)
                        .collect()
                };
                for id in due {
                    match refresh(&ctx, &clients, id).await {
                        Ok(n) => {
                            tracing::info!(
                                account = id,
                                models = n,
                                "fetched the account's model list"
                            );
                            if let Err(e) = snapshots.refresh().await {
                                tracing::warn!(error = %e, "reloading after a model list failed");
                            }
                        }
                        Err(e) => {
                            tracing::debug!(account = id, error = %e, "the account's model list could not be fetched")
                        }
                    }
                }
                Ok(())
            }
        },
    );
}

/// The list request for the account's platform and its answer's model ids.
async fn fetch(clients: &Clients, a: &Upstream) -> Result<Vec<String>, ListError> {
    let p = provider::of(a.platform);
    let url = p.models_url(a).ok_or(ListError::NoList)?;
    let mut builder = Request::get(url);
    let headers = builder.headers_mut().expect("fresh builder");
    p.authorize(headers, a)?;
    let req = builder
        .body(http_body_util::Full::new(Bytes::new()))
        .map_err(|_| super::failure::UpstreamError::Misconfigured {
            account: a.id,
            what: "a base URL that does not form a valid URL",
        })?;
    let resp = clients
        .get(a.proxy.as_ref())
        .request(req)
        .await
        .map_err(|e| ListError::Connect(super::relay::root_cause(&e)))?;
    let status = resp.status();
    let body = Limited::new(resp.into_body(), MAX_LIST_BYTES)
        .collect()
        .await
        .map_err(|e| ListError::Unreadable(e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        return Err(ListError::Status(status));
    }
    let v: Value = serde_json::from_slice(&body).map_err(ListError::NotJson)?;
    Ok(model_ids(&v))
}

/// Ids from an OpenAI / Anthropic list (`data[].id`) or a Gemini one (`models[].name`, as
/// `models/gemini-2.5-pro`), deduplicated and bounded.
fn model_ids(v: &Value) -> Vec<String> {
    let from_data = v
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("id").and_then(Value::as_str));
    let from_models = v
        .get("models")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        // ChatGPT's Codex backend names its models by `slug`.
        .filter_map(|m| {
            m.get("name")
                .or_else(|| m.get("slug"))
                .and_then(Value::as_str)
        })
        .map(|n| n.strip_prefix("models/").unwrap_or(n));
    let mut ids: Vec<String> = from_data
        .chain(from_models)
        .filter(|id| !id.is_empty() && id.len() <= MAX_NAME)
        .filter(|id| !id.chars().any(|c| c.is_control() || c.is_whitespace()))
        .take(MAX_MODELS)
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

impl super::Gateway {
    /// `GET /v1/models`: the models this key's group can reach, in the asking SDK's format.
    pub fn models(&self, req: &Request<Incoming>) -> Response<Body> {
        let anthropic = req.headers().contains_key("x-api-key")
            || req.headers().contains_key("anthropic-version");
        let p = Some(if anthropic {
            Protocol::Anthropic
        } else {
            Protocol::Openai
        });
        let snap = self.snapshots.get();
        // The key from headers only: a key in a link is taken on Gemini paths alone.
        let key = match authenticate(&snap, req.headers(), None, now_ms()) {
            Ok(k) => k,
            Err(msg) => return error_response(p, Kind::Authentication, msg),
        };
        // Every account the key may use: those of the asking SDK's protocol with what they
        // serve, the others with the models they name (they serve those translated).
        let protocol = if anthropic {
            Protocol::Anthropic
        } else {
            Protocol::Openai
        };
        let allowed = Limiter::allowed_platforms(&key, endpoint::ALL_PLATFORMS).unwrap_or_default();
        // An account without a model list serves anything: list what its upstream reports,
        // or, until that list is fetched, the priced models of its family.
        let family = |m: &&str| m.starts_with("claude-") == anthropic && !m.starts_with("gemini-");
        let mut names: Vec<String> = Vec::new();
        for r in snap
            .routes
            .get(&key.group_id)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .filter(|r| allowed.contains(&r.account.platform))
        {
            let own = provider::of(r.account.platform).protocol() == protocol;
            if !r.account.models.is_empty() {
                names.extend(r.account.models.iter().cloned());
            } else if let Some(offered) = &r.account.offered {
                names.extend(offered.iter().cloned());
            } else if own {
                names.extend(snap.priced_models().filter(family).map(str::to_owned));
            }
            names.extend(r.account.mapping.keys().cloned());
        }
        if !key.limits.models.is_empty() {
            names.retain(|n| {
                key.limits
                    .models
                    .iter()
                    .any(|m| limits::model_matches(m, n))
            });
        }
        names.sort();
        names.dedup();
        let body = if anthropic {
            let data: Vec<_> = names
                .iter()
                .map(|n| json!({ "type": "model", "id": n, "display_name": n, "created_at": "1970-01-01T00:00:00Z" }))
                .collect();
            json!({ "data": data, "has_more": false, "first_id": names.first(), "last_id": names.last() })
        } else {
            let data: Vec<_> = names
                .iter()
                .map(|n| json!({ "id": n, "object": "model", "created": 0, "owned_by": "aicarpool" }))
                .collect();
            json!({ "object": "list", "data": data })
        };
        json_response(StatusCode::OK, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_every_list_shape_bounded() {
        let openai = serde_json::json!({"object":"list","data":[{"id":"deepseek-chat","object":"model"},{"id":"deepseek-reasoner"},{"id":"deepseek-chat"}]});
        assert_eq!(model_ids(&openai), ["deepseek-chat", "deepseek-reasoner"]);
        let gemini = serde_json::json!({"models":[{"name":"models/gemini-2.5-pro"},{"name":"models/gemini-2.5-flash"}],"nextPageToken":"x"});
        assert_eq!(model_ids(&gemini), ["gemini-2.5-flash", "gemini-2.5-pro"]);
        let hostile =
            serde_json::json!({"data":[{"id":"x".repeat(300)},{"id":"a b"},{"id":1},{"id":"ok"}]});
        assert_eq!(model_ids(&hostile), ["ok"]);
    }
}
