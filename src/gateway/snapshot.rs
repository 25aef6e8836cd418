//! The in-memory copy of everything the request path reads — keys, groups, accounts with their
//! decrypted credentials, bindings, prices — swapped atomically when the database changes.

use foldhash::{HashMap, HashMapExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rusqlite::Connection;
use tracing::{info, warn};

use super::endpoint::Endpoint;
use super::translate::OpenaiApis;
use super::usage::Price;
use crate::crypto::{Purpose, SecretKey};
use crate::domain::{AccountStatus, Platform};
use crate::error::Result;
use crate::store::groups::Group;
use crate::store::keys::ApiKey;
use crate::store::{self, Db};
use crate::tasks::{self, Shutdown};
use crate::upstream::proxy::{ProxyScheme, ProxySettings};

pub use crate::crypto::Secret;

/// An upstream account as the router needs it.
#[derive(Clone, Debug)]
pub struct Upstream {
    pub id: i64,
    pub platform: Platform,
    /// Without a trailing slash.
    pub base_url: String,
    pub secret: Secret,
    pub user_agent: Option<String>,
    /// Empty means every model.
    pub models: Vec<String>,
    /// What the upstream itself lists, for `GET /v1/models` when `models` is empty; `None`
    /// until the list has been fetched.
    pub offered: Option<Vec<String>>,
    /// Requested model → the name this upstream knows it by.
    pub mapping: std::collections::HashMap<String, String>,
    /// The account's outbound proxy, password opened.
    pub proxy: Option<Arc<ProxySettings>>,
    pub status: AccountStatus,
    pub status_until: Option<i64>,
    pub last_error_at: Option<i64>,
    /// When the error window last started afresh: errors before it no longer count.
    pub errors_reset_at: Option<i64>,
    /// A subscription may draw on paid extra usage.
    pub allow_overage: bool,
    /// Requests in flight at once, at most.
    pub max_concurrency: Option<usize>,
    /// The ChatGPT account id or Code Assist project the subscription's requests name.
    pub workspace: Option<String>,
    /// Which of OpenAI's APIs it serves (the account's setting, or its host's when it has
    /// none), resolved at load; `ChatOnly` for an account of another protocol.
    pub openai: OpenaiApis,
}

impl Upstream {
    /// Which of OpenAI's APIs the account serves for a request to `endpoint`. A compaction is
    /// Codex's own endpoint: relayed as it is, never turned into chat.
    pub fn openai_apis(&self, endpoint: &Endpoint) -> OpenaiApis {
        match (endpoint, self.openai) {
            (Endpoint::ResponsesCompact, OpenaiApis::ChatOnly) => OpenaiApis::Both,
            (_, apis) => apis,
        }
    }

    /// Whether the account serves `model`: it lists it, maps it, or lists nothing.
    pub fn serves(&self, model: &str) -> bool {
        self.models.is_empty()
            || self.models.iter().any(|m| m == model)
            || self.mapping.contains_key(model)
    }

    /// Whether the account names `model` itself: in its model list, its mapping or its
    /// upstream's list (what an account of another protocol must do to serve it).
    pub fn names(&self, model: &str) -> bool {
        self.models.iter().any(|m| m == model)
            || self.mapping.contains_key(model)
            || self
                .offered
                .as_ref()
                .is_some_and(|o| o.iter().any(|m| m == model))
    }

    /// The name to send upstream for `model`.
    pub fn upstream_model<'a>(&'a self, model: &'a str) -> &'a str {
        self.mapping.get(model).map_or(model, String::as_str)
    }
}

/// An account bound to a group, with the group's priority and weight for it.
#[derive(Clone, Debug)]
pub struct Route {
    pub account: Arc<Upstream>,
    pub priority: i64,
    pub weight: i64,
}

/// A member key's SHA-256.
pub type KeyDigest = [u8; 32];

/// The digest a stored hex hash stands for (the schema checks its length; anything else is
/// no key anyone can present).
fn key_digest(hex: &str) -> Option<KeyDigest> {
    crate::crypto::hex_decode(hex)?.try_into().ok()
}

#[derive(Debug, Default)]
pub struct Snapshot {
    /// By SHA-256 of the plaintext key (as bytes: with 10 000 keys, the hex strings alone
    /// were a megabyte and an allocation each).
    pub keys: HashMap<KeyDigest, Arc<ApiKey>>,
    /// Each group's routes, lowest priority number first.
    pub routes: HashMap<i64, Vec<Route>>,
    /// Groups by id, with their budgets.
    pub groups: HashMap<i64, Arc<Group>>,
    /// Every routable account by id.
    pub accounts: HashMap<i64, Arc<Upstream>>,
    /// Each group's active keys, for the fair share of its subscriptions.
    pub members: HashMap<i64, Vec<Arc<ApiKey>>>,
    /// Longest model name first, so the first prefix match is the most specific.
    prices: Vec<(String, Price)>,
    pub version: i64,
}

impl Snapshot {
    /// Reads the snapshot in one read transaction so it is consistent.
    fn load(conn: &Connection, secrets: &SecretKey) -> Result<Snapshot> {
        let tx = conn.unchecked_transaction()?;
        let version = store::settings::config_version(&tx)?;
        let keys: HashMap<KeyDigest, Arc<ApiKey>> = store::keys::list_with_hashes(&tx)?
            .into_iter()
            .filter_map(|(hash, key)| Some((key_digest(&hash)?, Arc::new(key))))
            .collect();
        let mut members: HashMap<i64, Vec<Arc<ApiKey>>> = HashMap::new();
        for k in keys
            .values()
            .filter(|k| k.status == crate::domain::KeyStatus::Active)
        {
            members.entry(k.group_id).or_default().push(k.clone());
        }
        let mut routes: HashMap<i64, Vec<Route>> = HashMap::new();
        let mut by_id = HashMap::new();
        for a in store::accounts::list(&tx)? {
            let Some(upstream) = upstream(&a, secrets) else {
                continue;
            };
            let upstream = Arc::new(upstream);
            by_id.insert(upstream.id, upstream.clone());
            for b in &a.groups {
                routes.entry(b.group_id).or_default().push(Route {
                    account: upstream.clone(),
                    priority: b.priority.unwrap_or(a.priority),
                    weight: b.weight.unwrap_or(a.weight).max(1),
                });
            }
        }
        for list in routes.values_mut() {
            list.sort_by_key(|r| (r.priority, r.account.id));
        }
        let mut prices = store::prices::list(&tx)?;
        longest_first(&mut prices);
        let groups = store::groups::list(&tx)?
            .into_iter()
            .map(|g| (g.id, Arc::new(g)))
            .collect();
        tx.commit()?;
        Ok(Snapshot {
            keys,
            routes,
            groups,
            accounts: by_id,
            members,
            prices,
            version,
        })
    }

    /// The price of `model`: an exact entry, else the entry it is a dated or `-latest` snapshot
    /// of (`claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`, `gpt-4o-2024-08-06` → `gpt-4o`). Nothing looser: a different
    /// model sharing a prefix (`claude-sonnet-5-5` and `claude-sonnet-5`, `…-fast`) may be
    /// priced differently, and is better unpriced than wrong.
    pub fn price(&self, model: &str) -> Option<Price> {
        self.prices
            .iter()
            .find(|(name, _)| {
                model
                    .strip_prefix(name.as_str())
                    .is_some_and(|rest| rest.is_empty() || is_snapshot_suffix(rest))
            })
            .map(|(_, p)| *p)
    }

    /// Every priced model name, for `GET /v1/models` when an account serves any model.
    pub fn priced_models(&self) -> impl Iterator<Item = &str> {
        self.prices.iter().map(|(m, _)| m.as_str())
    }
}

/// `-YYYYMMDD` (Anthropic), `-YYYY-MM-DD` (OpenAI) or `-latest`.
fn is_snapshot_suffix(rest: &str) -> bool {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let Some(date) = rest.strip_prefix('-') else {
        return false;
    };
    date == "latest"
        || digits(date, 8)
        || matches!(date.split('-').collect::<Vec<_>>()[..], [y, m, d] if digits(y, 4) && digits(m, 2) && digits(d, 2))
}

fn longest_first(prices: &mut [(String, Price)]) {
    prices.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
}

/// Turns a stored account into a routable one; `None` when its credentials cannot be opened
/// (logged, and the account is skipped rather than the whole snapshot failing).
pub(crate) fn upstream(a: &store::accounts::Account, secrets: &SecretKey) -> Option<Upstream> {
    let base = a
        .base_url
        .clone()
        .or_else(|| a.platform.default_base_url().map(str::to_owned))?;
    let (sealed, purpose) = match a.platform {
        p if p.is_subscription() => (&a.oauth_access, Purpose::OauthAccessToken),
        _ => (&a.credentials, Purpose::Credentials),
    };
    let secret = match sealed {
        Some(sealed) => match secrets.open_string(purpose, sealed) {
            Ok(s) => s,
            Err(e) => {
                warn!(account = a.id, error = %e, "account credentials cannot be decrypted; not routing to it");
                return None;
            }
        },
        None => String::new(),
    };
    let proxy = match &a.proxy {
        None => None,
        Some(p) => {
            let password = match &p.password {
                Some(sealed) => match secrets.open_string(Purpose::ProxyPassword, sealed) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        warn!(account = a.id, error = %e, "proxy password cannot be decrypted; not routing to it");
                        return None;
                    }
                },
                None => None,
            };
            Some(Arc::new(ProxySettings {
                scheme: ProxyScheme::parse(&p.scheme)?,
                host: p.host.clone(),
                port: p.port,
                auth: p
                    .username
                    .clone()
                    .map(|u| (u, password.unwrap_or_default())),
            }))
        }
    };
    Some(Upstream {
        proxy,
        id: a.id,
        platform: a.platform,
        base_url: base.trim_end_matches('/').to_owned(),
        secret: Secret(secret),
        user_agent: a.user_agent.clone(),
        models: a.supported_models.clone(),
        offered: a.upstream_models.clone(),
        mapping: a
            .model_mapping
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect(),
        status: a.status,
        status_until: a.status_until,
        last_error_at: a.last_error_at,
        errors_reset_at: a.errors_reset_at,
        allow_overage: a.allow_overage,
        max_concurrency: a.max_concurrency.and_then(|m| usize::try_from(m).ok()),
        workspace: a.workspace.clone(),
        openai: if super::provider::of(a.platform).responses_only() {
            OpenaiApis::ResponsesOnly
        } else if a.platform == Platform::Openai
            && a.responses_api
                .unwrap_or_else(|| crate::domain::speaks_responses(&base))
        {
            OpenaiApis::Both
        } else {
            OpenaiApis::ChatOnly
        },
    })
}

/// The current snapshot and the means to refresh it.
pub struct Snapshots {
    current: RwLock<Arc<Snapshot>>,
    db: Db,
    secrets: SecretKey,
    /// Refresh requests made so far, and the request count the current snapshot covers.
    requested: AtomicU64,
    loaded: tokio::sync::Mutex<u64>,
}

impl Snapshots {
    pub async fn open(db: Db, secrets: SecretKey) -> Result<Arc<Snapshots>> {
        let s2 = secrets.clone();
        let first = db.read(move |c| Snapshot::load(c, &s2)).await?;
        Ok(Arc::new(Snapshots {
            current: RwLock::new(Arc::new(first)),
            db,
            secrets,
            requested: AtomicU64::new(0),
            loaded: tokio::sync::Mutex::new(0),
        }))
    }

    pub fn get(&self) -> Arc<Snapshot> {
        self.current.read().expect("snapshot lock").clone()
    }

    /// Reloads from the database after a write this process made. Concurrent callers share one
    /// reload that started after their call.
    pub async fn refresh(&self) -> Result<()> {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut loaded = self.loaded.lock().await;
        if *loaded >= ticket {
            return Ok(());
        }
        let covers = self.requested.load(Ordering::SeqCst);
        let secrets = self.secrets.clone();
        // A snapshot of many keys is built and its predecessor freed: returned to the system
        // at once, or an idle gateway keeps both's worth (see `memory::Eager`).
        let _eager = crate::memory::Eager::hold();
        let fresh = self.db.read(move |c| Snapshot::load(c, &secrets)).await?;
        // The old one is freed after the write lock is let go (10 000 keys take a while), and
        // inside the eager region, unless a request still holds it.
        let old = std::mem::replace(
            &mut *self.current.write().expect("snapshot lock"),
            Arc::new(fresh),
        );
        drop(old);
        *loaded = covers;
        Ok(())
    }

    /// Polls for writes by other processes (the CLI) and reloads when something the snapshot
    /// holds changed. `PRAGMA data_version` is per connection, so the poll keeps its own.
    pub fn watch(self: &Arc<Self>, db_path: &std::path::Path, every: Duration, shutdown: Shutdown) {
        let conn = match store::open_connection(db_path) {
            Ok(c) => Arc::new(std::sync::Mutex::new(c)),
            Err(e) => return warn!(error = %e, "cannot watch the database for changes"),
        };
        let last_data = Arc::new(std::sync::Mutex::new(None));
        let me = self.clone();
        tasks::every(
            "change watcher",
            move || every,
            shutdown,
            move || {
                let (me, conn, last_data) = (me.clone(), conn.clone(), last_data.clone());
                async move {
                    let probe = tokio::task::spawn_blocking(move || -> Result<(i64, i64)> {
                        let c = conn.lock().expect("watch connection");
                        let data: i64 = c.query_row("PRAGMA data_version", [], |r| r.get(0))?;
                        Ok((data, store::settings::config_version(&c)?))
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                    let (data, version) = probe
                        .map_err(|e| format!("checking the database for changes failed: {e}"))?;
                    if last_data.lock().expect("watch state").replace(data) == Some(data) {
                        return Ok(());
                    }
                    if version != me.get().version {
                        me.refresh()
                            .await
                            .map_err(|e| format!("reloading the snapshot failed: {e}"))?;
                        info!(version, "configuration changed; snapshot reloaded");
                    }
                    Ok(())
                }
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_model_names_take_the_price_of_their_model() {
        let p = |n| Price {
            input: n,
            ..Price::default()
        };
        let mut s = Snapshot {
            prices: vec![
                ("claude-opus-4".into(), p(1)),
                ("claude-opus-4-5".into(), p(2)),
                ("claude-opus-4-5-exact".into(), p(3)),
            ],
            ..Snapshot::default()
        };
        longest_first(&mut s.prices);
        assert_eq!(s.price("claude-opus-4-5-20251101").unwrap().input, 2);
        assert_eq!(s.price("claude-opus-4-20250514").unwrap().input, 1);
        assert_eq!(s.price("claude-opus-4-5-exact").unwrap().input, 3);
        assert_eq!(s.price("claude-opus-4-5-latest").unwrap().input, 2);
        assert_eq!(
            s.price("claude-opus-4-5-2025-11-01").unwrap().input,
            2,
            "OpenAI-style date"
        );
        assert_eq!(s.price("gpt-4o"), None);
        assert_eq!(
            s.price("claude-opus-4-5-fast"),
            None,
            "a variant is not its base model"
        );
        assert_eq!(s.price("claude-opus-4-9"), None);
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret("sk-ant-123".into())), "Secret(***)");
    }
}
