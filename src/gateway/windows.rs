//! Subscriptions' usage windows (five hours and seven days; a day for Code Assist), read from
//! the headers of every answer (Claude's `anthropic-ratelimit-unified-*`, ChatGPT's
//! `x-codex-*`) or asked of the platform when idle: kept per account in memory for routing by
//! headroom, persisted at most every few seconds for `account list` and the admin page,
//! exported as metrics.

use foldhash::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use http::HeaderMap;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::snapshot::Upstream;
use crate::store::{self, Db};
use crate::tasks::{self, Shutdown};
use crate::upstream::client::Clients;

/// How often changed windows are written to the database.
const PERSIST_EVERY: Duration = Duration::from_secs(5);

/// One window as last reported.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Used share, 0–1.
    pub utilization: f64,
    /// `allowed`, `allowed_warning` or `rejected`.
    pub status: Option<String>,
    /// When the window resets (epoch ms).
    pub resets_at: Option<i64>,
}

/// Everything a subscription says about its windows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Windows {
    #[serde(rename = "5h", skip_serializing_if = "Option::is_none", default)]
    pub five_hour: Option<Window>,
    #[serde(rename = "7d", skip_serializing_if = "Option::is_none", default)]
    pub seven_day: Option<Window>,
    /// Code Assist's daily quota (its most used model).
    #[serde(rename = "1d", skip_serializing_if = "Option::is_none", default)]
    pub day: Option<Window>,
    /// The overall status (`allowed`, `allowed_warning`, `rejected`).
    pub status: Option<String>,
    /// The answer was paid from extra usage.
    #[serde(default)]
    pub overage_in_use: bool,
    /// When these were read (epoch ms).
    pub updated_at: i64,
}

const PREFIX: &str = "anthropic-ratelimit-unified-";

impl Windows {
    /// The windows in an answer's headers, Claude's or ChatGPT's; `None` when it carries none
    /// (an API-key account).
    pub fn from_headers(h: &HeaderMap, now: i64) -> Option<Windows> {
        // Read on every answer: most carry none of these, which one pass over the names shows.
        let (mut claude, mut codex) = (false, false);
        for k in h.keys() {
            claude |= k.as_str().starts_with(PREFIX);
            codex |= k.as_str().starts_with("x-codex-");
        }
        if codex && !claude {
            return super::codex::windows(h, now);
        }
        if !claude {
            return None;
        }
        let get = |name: &str| {
            h.get(format!("{PREFIX}{name}"))
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let window = |w: &str| {
            let utilization = get(&format!("{w}-utilization"))?.parse::<f64>().ok()?;
            Some(Window {
                utilization: if utilization.is_finite() {
                    utilization.clamp(0.0, 1.0)
                } else {
                    0.0
                },
                status: get(&format!("{w}-status")).map(str::to_owned),
                resets_at: get(&format!("{w}-reset"))
                    .and_then(|r| r.parse::<i64>().ok())
                    .map(|s| s.saturating_mul(1000)),
            })
        };
        let w = Windows {
            five_hour: window("5h"),
            seven_day: window("7d"),
            day: None,
            status: get("status").map(str::to_owned),
            overage_in_use: get("overage-in-use") == Some("true"),
            updated_at: now,
        };
        (w.five_hour.is_some() || w.seven_day.is_some() || w.status.is_some()).then_some(w)
    }

    /// The tighter window's utilization (0 when none is known).
    pub fn tightest(&self) -> f64 {
        [&self.five_hour, &self.seven_day, &self.day]
            .into_iter()
            .flatten()
            .map(|w| w.utilization)
            .fold(0.0, f64::max)
    }

    /// When the rejected windows all reset, if any window is rejected.
    pub fn rejected_until(&self) -> Option<i64> {
        [&self.five_hour, &self.seven_day, &self.day]
            .into_iter()
            .flatten()
            .filter(|w| w.status.as_deref() == Some("rejected"))
            .filter_map(|w| w.resets_at)
            .max()
    }
}

impl Windows {
    /// The windows the usage endpoint reports (`GET /api/oauth/usage`): `five_hour` and
    /// `seven_day`, utilization in percent, resets as RFC 3339 times.
    pub fn from_usage(v: &serde_json::Value, now: i64) -> Option<Windows> {
        let window = |name: &str| {
            let w = v.get(name)?;
            let used = w.get("utilization")?.as_f64()?;
            Some(Window {
                utilization: (used / 100.0).clamp(0.0, 1.0),
                status: None,
                resets_at: w
                    .get("resets_at")
                    .and_then(|r| r.as_str())
                    .and_then(|r| r.parse::<jiff::Timestamp>().ok())
                    .map(|t| t.as_millisecond()),
            })
        };
        let w = Windows {
            five_hour: window("five_hour"),
            seven_day: window("seven_day"),
            updated_at: now,
            ..Windows::default()
        };
        (w.five_hour.is_some() || w.seven_day.is_some()).then_some(w)
    }
}

/// Why a subscription's usage could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error(transparent)]
    Request(#[from] super::failure::UpstreamError),
    #[error("could not reach the usage endpoint: {0}")]
    Unreachable(String),
    #[error("the usage endpoint answered {0}")]
    Status(http::StatusCode),
    #[error("the usage endpoint's answer holds no windows")]
    Unreadable,
}

/// What the platform says of `account`'s windows when asked: a Claude subscription's usage
/// endpoint, Code Assist's quota. (ChatGPT's come with every answer only.)
pub async fn fetch(clients: &Clients, account: &Upstream, now: i64) -> Result<Windows, UsageError> {
    match account.platform {
        crate::domain::Platform::GeminiOauth => super::code_assist::quota(clients, account, now)
            .await
            .map_err(|e| UsageError::Unreachable(e.to_string())),
        _ => claude_usage(clients, account, now).await,
    }
}

/// Whether the platform can be asked for its windows ([`fetch`]).
pub fn askable(platform: crate::domain::Platform) -> bool {
    use crate::domain::Platform;
    matches!(platform, Platform::ClaudeOauth | Platform::GeminiOauth)
}

/// The usage endpoint of `account`'s API (`GET /api/oauth/usage`, bearer token and the OAuth
/// beta, as Claude Code 2.1.328 asks it).
async fn claude_usage(
    clients: &Clients,
    account: &Upstream,
    now: i64,
) -> Result<Windows, UsageError> {
    use http_body_util::BodyExt;
    let p = super::provider::of(account.platform);
    let base = super::endpoint::Endpoint::Messages.base(&account.base_url);
    let mut builder = http::Request::get(format!("{base}/api/oauth/usage"));
    let headers = builder.headers_mut().expect("fresh builder");
    p.authorize(headers, account)?;
    let req = builder
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .map_err(|_| super::failure::UpstreamError::Misconfigured {
            account: account.id,
            what: "a base URL that does not form a valid URL",
        })?;
    let client = clients.get(account.proxy.as_ref());
    let resp = tokio::time::timeout(FETCH_TIMEOUT, client.request(req))
        .await
        .map_err(|_| UsageError::Unreachable("timed out".into()))?
        .map_err(|e| UsageError::Unreachable(super::relay::root_cause(&e)))?;
    if !resp.status().is_success() {
        return Err(UsageError::Status(resp.status()));
    }
    let body = tokio::time::timeout(
        FETCH_TIMEOUT,
        http_body_util::Limited::new(resp.into_body(), 256 * 1024).collect(),
    )
    .await
    .map_err(|_| UsageError::Unreadable)?
    .map_err(|_| UsageError::Unreadable)?
    .to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|_| UsageError::Unreadable)?;
    Windows::from_usage(&v, now).ok_or(UsageError::Unreadable)
}

/// The whole usage fetch, connect to last byte.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Subscriptions whose windows are older than this are asked the usage endpoint.
const STALE_AFTER: Duration = Duration::from_secs(600);
/// How often the idle subscriptions are looked for.
const IDLE_CHECK_EVERY: Duration = Duration::from_secs(60);

/// Starts the loop asking the usage endpoint of subscriptions with no recent answer (at most
/// every ten minutes each), so the console and routing know windows that reset while idle.
pub fn start_idle_refresh(
    tracker: Arc<Tracker>,
    snapshots: Arc<super::snapshot::Snapshots>,
    clients: Arc<Clients>,
    shutdown: Shutdown,
) {
    tasks::every(
        "usage windows refresh",
        || IDLE_CHECK_EVERY,
        shutdown,
        move || {
            let (tracker, snapshots, clients) =
                (tracker.clone(), snapshots.clone(), clients.clone());
            async move {
                let now = store::now_ms();
                let stale = STALE_AFTER.as_millis() as i64;
                let due: Vec<Arc<Upstream>> = snapshots
                    .get()
                    .accounts
                    .values()
                    .filter(|a| askable(a.platform))
                    .filter(|a| tracker.get(a.id).is_none_or(|w| now - w.updated_at > stale))
                    .cloned()
                    .collect();
                for a in due {
                    match fetch(&clients, &a, now).await {
                        Ok(w) => tracker.observe(a.id, w),
                        Err(e) => {
                            tracing::debug!(account = a.id, error = %e, "usage windows not fetched")
                        }
                    }
                }
                Ok(())
            }
        },
    );
}

/// When a 429's account may be tried again by its windows: the rejected windows' reset
/// (Claude's or ChatGPT's headers).
pub fn rejected_reset(headers: &HeaderMap) -> Option<i64> {
    Windows::from_headers(headers, 0)?.rejected_until()
}

/// The windows of every subscription account, as last reported.
#[derive(Default)]
pub struct Tracker {
    windows: Mutex<HashMap<i64, Windows>>,
    dirty: Mutex<HashSet<i64>>,
}

impl Tracker {
    /// Starts from what was persisted.
    pub async fn load(db: &Db) -> crate::error::Result<Tracker> {
        let rows = db.read(store::runtime::all_windows).await?;
        let windows = rows
            .into_iter()
            .filter_map(|(id, text)| Some((id, serde_json::from_str(&text).ok()?)))
            .collect();
        Ok(Tracker {
            windows: Mutex::new(windows),
            dirty: Mutex::default(),
        })
    }

    /// Records the windows an answer of `account` reported.
    pub fn observe(&self, account: i64, w: Windows) {
        self.windows.lock().expect("windows").insert(account, w);
        self.dirty.lock().expect("windows").insert(account);
    }

    pub fn get(&self, account: i64) -> Option<Windows> {
        self.windows.lock().expect("windows").get(&account).cloned()
    }

    /// The account's tighter window utilization, for routing (asked per candidate, so nothing
    /// is copied).
    pub fn tightest(&self, account: i64) -> Option<f64> {
        self.windows
            .lock()
            .expect("windows")
            .get(&account)
            .map(Windows::tightest)
    }

    /// The account's five-hour utilization and reset, for the fair share.
    pub fn five_hour(&self, account: i64) -> Option<(f64, Option<i64>)> {
        let map = self.windows.lock().expect("windows");
        let w = map.get(&account)?.five_hour.as_ref()?;
        Some((w.utilization, w.resets_at))
    }

    /// Every account's tighter window, for metrics.
    pub fn all(&self) -> Vec<(i64, Windows)> {
        let map = self.windows.lock().expect("windows");
        let mut all: Vec<_> = map.iter().map(|(id, w)| (*id, w.clone())).collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }

    /// Starts the loop writing changed windows to the database.
    pub fn start_persisting(self: &Arc<Self>, db: Db, shutdown: Shutdown) {
        let me = self.clone();
        tasks::every(
            "usage windows",
            || PERSIST_EVERY,
            shutdown,
            move || {
                let (me, db) = (me.clone(), db.clone());
                async move {
                    let ids: Vec<i64> = me.dirty.lock().expect("windows").drain().collect();
                    let rows: Vec<(i64, String, i64)> = ids
                        .into_iter()
                        .filter_map(|id| {
                            let w = me.get(id)?;
                            Some((id, serde_json::to_string(&w).ok()?, w.updated_at))
                        })
                        .collect();
                    if rows.is_empty() {
                        return Ok(());
                    }
                    db.write(move |c| {
                        for (id, text, at) in &rows {
                            store::runtime::set_windows(c, *id, text, *at)?;
                        }
                        Ok(())
                    })
                    .await
                    .map_err(|e| format!("could not store usage windows: {e}"))
                }
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn windows_are_read_from_the_unified_headers() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("anthropic-ratelimit-unified-status", "allowed"),
            ("anthropic-ratelimit-unified-5h-status", "allowed_warning"),
            ("anthropic-ratelimit-unified-5h-utilization", "0.42"),
            ("anthropic-ratelimit-unified-5h-reset", "1796170000"),
            ("anthropic-ratelimit-unified-7d-status", "rejected"),
            ("anthropic-ratelimit-unified-7d-utilization", "1.3"),
            ("anthropic-ratelimit-unified-7d-reset", "1796500000"),
            ("anthropic-ratelimit-unified-overage-in-use", "true"),
        ] {
            h.insert(k, HeaderValue::from_static(v));
        }
        let w = Windows::from_headers(&h, 5).unwrap();
        assert_eq!(
            w.five_hour,
            Some(Window {
                utilization: 0.42,
                status: Some("allowed_warning".into()),
                resets_at: Some(1_796_170_000_000)
            })
        );
        assert_eq!(w.seven_day.as_ref().unwrap().utilization, 1.0, "clamped");
        assert_eq!(w.tightest(), 1.0);
        assert!(w.overage_in_use);
        assert_eq!(w.rejected_until(), Some(1_796_500_000_000));
        assert_eq!(rejected_reset(&h), Some(1_796_500_000_000));
        let json = serde_json::to_value(&w).unwrap();
        assert_eq!(json["5h"]["utilization"], 0.42);
        assert_eq!(json["7d"]["status"], "rejected");
        assert!(Windows::from_headers(&HeaderMap::new(), 0).is_none());
    }

    #[test]
    fn the_usage_endpoint_reports_percent_and_times() {
        let v = serde_json::json!({
            "five_hour": { "utilization": 6.0, "resets_at": "2026-12-01T15:00:00.943648+00:00" },
            "seven_day": { "utilization": 35.0, "resets_at": null },
            "seven_day_opus": { "utilization": 0.0, "resets_at": null },
            "extra_usage": null
        });
        let w = Windows::from_usage(&v, 1).unwrap();
        assert_eq!(w.five_hour.as_ref().unwrap().utilization, 0.06);
        assert_eq!(w.five_hour.unwrap().resets_at, Some(1_796_137_200_943));
        assert_eq!(w.seven_day.unwrap().utilization, 0.35);
        assert!(Windows::from_usage(&serde_json::json!({}), 1).is_none());
    }
}
