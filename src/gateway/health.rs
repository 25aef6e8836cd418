//! Account states driven by upstream answers (DESIGN.md §4): the sliding window of server
//! errors that trips TEMP_ERROR, 401/403 → ERROR, 429 → RATE_LIMITED until the reset, success
//! clearing the window, and the recovery timer that brings accounts back.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use http::HeaderMap;
use tracing::{info, warn};

use super::snapshot::{Snapshots, Upstream};
use crate::config::{AccountPolicy, UpstreamPolicy};
use crate::domain::AccountStatus;
use crate::store::{self, Db, now_ms};

/// How an attempt on an account failed.
#[derive(Clone, Debug)]
pub enum Failure {
    /// 5xx, 529, connect failure or timeout: counts toward TEMP_ERROR.
    Server(String),
    /// 401/403: the account's credentials were refused.
    Auth(String),
    /// 429, out until `until` (epoch ms).
    RateLimited { until: i64, reason: String },
}

pub struct Health {
    db: Db,
    snapshots: Arc<Snapshots>,
    /// The admin page can change it while serving.
    policy: std::sync::RwLock<AccountPolicy>,
    /// Times (epoch ms) of each account's server errors inside the window.
    windows: Mutex<HashMap<i64, VecDeque<i64>>>,
}

impl Health {
    pub fn new(db: Db, snapshots: Arc<Snapshots>, policy: AccountPolicy) -> Health {
        Health {
            db,
            snapshots,
            policy: std::sync::RwLock::new(policy),
            windows: Mutex::new(HashMap::new()),
        }
    }

    pub fn policy(&self) -> AccountPolicy {
        self.policy.read().expect("policy lock").clone()
    }

    /// Applies a changed policy from the next error and the next recovery tick on.
    pub fn set_policy(&self, policy: AccountPolicy) {
        *self.policy.write().expect("policy lock") = policy;
    }

    /// Records a failed attempt and moves the account out of rotation when it must.
    pub async fn failed(&self, account: &Upstream, failure: Failure) {
        use AccountStatus::*;
        let now = now_ms();
        let id = account.id;
        match failure {
            Failure::Server(reason) => {
                let policy = self.policy();
                let count = {
                    let mut windows = self.windows.lock().expect("error windows");
                    let w = windows.entry(id).or_default();
                    let window_ms = policy.error_window.as_millis() as i64;
                    w.push_back(now);
                    while w.front().is_some_and(|&t| t <= now - window_ms) {
                        w.pop_front();
                    }
                    w.len() as i64
                };
                let cooldown_ms = policy.temp_error_cooldown.as_millis() as i64;
                let trips = count >= i64::from(policy.error_threshold)
                    && matches!(account.status, Active | RateLimited);
                if trips {
                    let reason = format!(
                        "{count} server errors within {}s; last: {reason}",
                        policy.error_window.as_secs()
                    );
                    self.transition(
                        id,
                        &[Active, RateLimited],
                        TempError,
                        reason,
                        Some(now + cooldown_ms),
                        Some(count),
                        Some(now),
                    )
                    .await;
                } else {
                    // A TEMP_ERROR account tried as a last resort pushes its return back.
                    let until = (account.status == TempError).then_some(now + cooldown_ms);
                    self.write(move |c| {
                        store::accounts::record_errors(c, id, count, Some(now), until)
                    })
                    .await;
                    if until.is_some() {
                        self.refresh().await;
                    }
                }
            }
            Failure::Auth(reason) => {
                self.transition(
                    id,
                    &[Active, RateLimited, TempError],
                    Error,
                    reason,
                    None,
                    None,
                    Some(now),
                )
                .await;
            }
            Failure::RateLimited { until, reason } => {
                self.transition(
                    id,
                    &[Active, RateLimited, TempError],
                    RateLimited,
                    reason,
                    Some(until),
                    None,
                    None,
                )
                .await;
            }
        }
    }

    /// Records a successful answer: the error window starts afresh, and an account that was
    /// tried out of TEMP_ERROR or after its rate-limit reset is ACTIVE again at once.
    pub async fn succeeded(&self, account: &Upstream) {
        use AccountStatus::*;
        let id = account.id;
        let had_errors = self
            .windows
            .lock()
            .expect("error windows")
            .remove(&id)
            .is_some_and(|w| !w.is_empty());
        if matches!(account.status, TempError | RateLimited) {
            let reason = "answered successfully".to_owned();
            self.transition(
                id,
                &[TempError, RateLimited],
                Active,
                reason,
                None,
                Some(0),
                None,
            )
            .await;
        } else if had_errors {
            self.write(move |c| store::accounts::record_errors(c, id, 0, None, None))
                .await;
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn transition(
        &self,
        id: i64,
        from: &'static [AccountStatus],
        to: AccountStatus,
        reason: String,
        until: Option<i64>,
        error_count: Option<i64>,
        last_error_at: Option<i64>,
    ) {
        let log_reason = reason.clone();
        let moved = self
            .db
            .write(move |c| {
                store::accounts::transition(
                    c,
                    id,
                    from,
                    to,
                    &reason,
                    until,
                    error_count,
                    last_error_at,
                )
            })
            .await;
        match moved {
            Ok(true) => {
                info!(account = id, to = %to, reason = %log_reason, "account status changed");
                self.refresh().await;
            }
            Ok(false) => {}
            Err(e) => warn!(account = id, error = %e, "recording an account status change failed"),
        }
    }

    async fn write<F>(&self, f: F)
    where
        F: FnOnce(&rusqlite::Connection) -> crate::error::Result<()> + Send + 'static,
    {
        if let Err(e) = self.db.write(f).await {
            warn!(error = %e, "recording account errors failed");
        }
    }

    async fn refresh(&self) {
        if let Err(e) = self.snapshots.refresh().await {
            warn!(error = %e, "reloading the snapshot failed");
        }
    }

    /// Runs forever: every `recovery_interval`, brings back the accounts whose cooldown or
    /// rate-limit reset has passed.
    pub async fn recovery_timer(self: Arc<Self>) {
        loop {
            // Read each round: the interval may have been changed from the admin page.
            let policy = self.policy();
            tokio::time::sleep(policy.recovery_interval).await;
            let cooldown_ms = policy.temp_error_cooldown.as_millis() as i64;
            let back = self
                .db
                .write(move |c| store::accounts::recover_due(c, now_ms(), cooldown_ms))
                .await;
            match back {
                Ok(ids) if !ids.is_empty() => {
                    {
                        let mut windows = self.windows.lock().expect("error windows");
                        for id in &ids {
                            windows.remove(id);
                        }
                    }
                    info!(accounts = ?ids, "accounts recovered");
                    self.refresh().await;
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "the recovery timer could not run"),
            }
        }
    }
}

/// When a 429'd account may be tried again: `retry-after` (seconds or an HTTP date), else the
/// latest `anthropic-ratelimit-*-reset`, else the default; never later than the cap.
pub fn rate_limit_until(headers: &HeaderMap, now: i64, policy: &UpstreamPolicy) -> i64 {
    let cap = now + policy.rate_limit_cap.as_millis() as i64;
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let retry_after = text("retry-after").and_then(|v| {
        if let Ok(secs) = v.parse::<f64>() {
            return (secs.is_finite() && secs >= 0.0).then(|| now + (secs * 1000.0) as i64);
        }
        jiff::fmt::rfc2822::DateTimeParser::new()
            .parse_timestamp(v)
            .ok()
            .map(|t| t.as_millisecond())
    });
    let reset = || {
        headers
            .iter()
            .filter(|(name, _)| {
                let n = name.as_str();
                n.starts_with("anthropic-ratelimit-") && n.ends_with("-reset")
            })
            .filter_map(|(_, v)| {
                let v = v.to_str().ok()?.trim();
                match v.parse::<jiff::Timestamp>() {
                    Ok(t) => Some(t.as_millisecond()),
                    // The unified (subscription) reset is in epoch seconds.
                    Err(_) => v.parse::<i64>().ok().map(|s| s * 1000),
                }
            })
            .filter(|&t| t > now)
            .max()
    };
    retry_after
        .or_else(reset)
        .unwrap_or(now + policy.rate_limit_default.as_millis() as i64)
        .clamp(now, cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use http::HeaderValue;

    fn policy() -> UpstreamPolicy {
        Config::with_data_dir("x").upstream
    }

    #[test]
    fn reset_times_come_from_retry_after_then_ratelimit_headers_then_the_default() {
        let now = 1_700_000_000_000;
        let mut h = HeaderMap::new();
        assert_eq!(rate_limit_until(&h, now, &policy()), now + 60_000);
        h.insert(
            "anthropic-ratelimit-tokens-reset",
            HeaderValue::from_static("2023-11-14T22:14:00Z"),
        );
        h.insert(
            "anthropic-ratelimit-requests-reset",
            HeaderValue::from_static("2023-11-14T22:13:30Z"),
        );
        // 1_700_000_000 s is 2023-11-14T22:13:20Z: the later reset wins.
        assert_eq!(rate_limit_until(&h, now, &policy()), now + 40_000);
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(rate_limit_until(&h, now, &policy()), now + 7_000);
        h.insert(
            "retry-after",
            HeaderValue::from_static("Tue, 14 Nov 2023 22:13:25 GMT"),
        );
        assert_eq!(rate_limit_until(&h, now, &policy()), now + 5_000);
        h.insert("retry-after", HeaderValue::from_static("999999"));
        assert_eq!(
            rate_limit_until(&h, now, &policy()),
            now + 3_600_000,
            "capped"
        );
    }
}
