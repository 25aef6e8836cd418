//! Claude subscriptions' usage windows (five hours, seven days), read from the
//! `anthropic-ratelimit-unified-*` headers of every answer: kept per account in memory for
//! routing by headroom, persisted at most every few seconds for `account list` and the admin
//! page, exported as metrics.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::store::{self, Db};
use crate::tasks::{self, Shutdown};

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
    /// The windows in an answer's headers; `None` when it carries none (an API-key account).
    pub fn from_headers(h: &HeaderMap, now: i64) -> Option<Windows> {
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
            status: get("status").map(str::to_owned),
            overage_in_use: get("overage-in-use") == Some("true"),
            updated_at: now,
        };
        (w.five_hour.is_some() || w.seven_day.is_some() || w.status.is_some()).then_some(w)
    }

    /// The tighter window's utilization (0 when none is known).
    pub fn tightest(&self) -> f64 {
        [&self.five_hour, &self.seven_day]
            .into_iter()
            .flatten()
            .map(|w| w.utilization)
            .fold(0.0, f64::max)
    }

    /// When the rejected windows all reset, if any window is rejected.
    pub fn rejected_until(&self) -> Option<i64> {
        [&self.five_hour, &self.seven_day]
            .into_iter()
            .flatten()
            .filter(|w| w.status.as_deref() == Some("rejected"))
            .filter_map(|w| w.resets_at)
            .max()
    }
}

/// When a 429's account may be tried again by its windows: the rejected windows' reset.
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

    /// Every account's tighter window, for metrics.
    pub fn all(&self) -> Vec<(i64, Windows)> {
        let map = self.windows.lock().expect("windows");
        let mut all: Vec<_> = map.iter().map(|(id, w)| (*id, w.clone())).collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }

    /// Starts the loop writing changed windows to the database.
    pub fn start_persisting(self: &std::sync::Arc<Self>, db: Db, shutdown: Shutdown) {
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
}
