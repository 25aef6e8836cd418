//! Account states driven by upstream answers (DESIGN.md §4): the in-memory sliding window of
//! server errors, the events the relay reports (decided by [`crate::lifecycle`], written by
//! `store::accounts::advance`), and the recovery timer that brings accounts back.

use std::collections::VecDeque;

use foldhash::{HashMap, HashMapExt};
use std::sync::{Arc, Mutex};

use http::HeaderMap;
use tracing::{info, warn};

use super::snapshot::{Snapshots, Upstream};
use crate::config::{AccountPolicy, UpstreamPolicy};
use crate::domain::AccountStatus;
use crate::lifecycle::{Event, Next};
use crate::store::{self, Db, now_ms};
use crate::tasks::{self, Shutdown};

/// How an attempt on an account failed.
#[derive(Clone, Debug)]
pub enum Failure {
    /// 5xx, 529, connect failure or timeout: counts toward TEMP_ERROR.
    Server(String),
    /// 401/403: the account's credentials were refused.
    Auth(String),
    /// 429, out until `until` (epoch ms).
    RateLimited { until: i64, reason: String },
    /// 529: the upstream as a whole is overloaded, not the account at fault. It is set aside
    /// for a short cooldown that counts toward nothing.
    Overloaded(String),
}

pub struct Health {
    db: Db,
    /// Accounts set aside after a 529, until (epoch ms).
    cooling: Mutex<HashMap<i64, i64>>,
    overload_cooldown: std::time::Duration,
    snapshots: Arc<Snapshots>,
    /// The admin page can change it while serving.
    policy: std::sync::RwLock<AccountPolicy>,
    /// Times (epoch ms) of each account's server errors inside the window.
    windows: Mutex<HashMap<i64, VecDeque<i64>>>,
}

impl Health {
    pub fn new(
        db: Db,
        snapshots: Arc<Snapshots>,
        policy: AccountPolicy,
        overload_cooldown: std::time::Duration,
    ) -> Health {
        Health {
            db,
            cooling: Mutex::new(HashMap::new()),
            overload_cooldown,
            snapshots,
            policy: std::sync::RwLock::new(policy),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the account is set aside after a 529 at `now`.
    pub fn cooling(&self, account: i64, now: i64) -> bool {
        let mut map = self.cooling.lock().expect("cooling");
        match map.get(&account) {
            Some(&until) if until > now => true,
            Some(_) => {
                map.remove(&account);
                false
            }
            None => false,
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
        let now = now_ms();
        let (event, count) = match failure {
            Failure::Overloaded(reason) => {
                let until = now + self.overload_cooldown.as_millis() as i64;
                self.cooling
                    .lock()
                    .expect("cooling")
                    .insert(account.id, until);
                tracing::debug!(account = account.id, %reason, "upstream overloaded; account set aside briefly");
                return;
            }
            Failure::Server(reason) => {
                let count = self.count_error(account, now);
                let errors = u32::try_from(count).unwrap_or(u32::MAX);
                (Event::ServerError { errors, reason }, Some(count))
            }
            Failure::Auth(reason) => (Event::Refused { reason }, None),
            Failure::RateLimited { until, reason } => (Event::RateLimited { until, reason }, None),
        };
        let mark = store::accounts::ErrorMark { count, at: now };
        // Only failures that say the account is at fault stamp its last error.
        let mark = (!matches!(event, Event::RateLimited { .. })).then_some(mark);
        self.advance(account.id, event, mark).await;
    }

    /// Adds a server error to the account's sliding window and returns how many it holds. Errors
    /// from before the window last started afresh (a recovery, an operator's recover) do not
    /// count, wherever that happened.
    fn count_error(&self, account: &Upstream, now: i64) -> i64 {
        let window_ms = self.policy().error_window.as_millis() as i64;
        let floor = (now - window_ms).max(account.errors_reset_at.unwrap_or(0));
        let mut windows = self.windows.lock().expect("error windows");
        let w = windows.entry(account.id).or_default();
        w.push_back(now);
        while w.front().is_some_and(|&t| t <= floor) {
            w.pop_front();
        }
        w.len() as i64
    }

    /// Records a successful answer: the error window starts afresh, and an account that was
    /// tried out of TEMP_ERROR or after its rate-limit reset is ACTIVE again at once.
    pub async fn succeeded(&self, account: &Upstream) {
        let had_errors = self
            .windows
            .lock()
            .expect("error windows")
            .remove(&account.id)
            .is_some_and(|w| !w.is_empty());
        use AccountStatus::*;
        // Most answers change nothing: the database is written only when there is news.
        if had_errors || matches!(account.status, TempError | RateLimited) {
            self.advance(account.id, Event::Succeeded, None).await;
        }
    }

    /// Applies `event` to account `id` through the state machine, on its stored status, and
    /// keeps the in-memory window in agreement. A change reaches the routing snapshot in the
    /// background: the request that caused it does not wait for the reload.
    async fn advance(&self, id: i64, event: Event, mark: Option<store::accounts::ErrorMark>) {
        let policy = self.policy();
        let decided = self
            .db
            .write(move |c| store::accounts::advance(c, id, &event, &policy, mark, "system"))
            .await;
        match decided {
            Ok(Some((from, next))) => self.settle(id, from, &next),
            Ok(None) => {}
            Err(e) => warn!(account = id, error = %e, "recording an account's state failed"),
        }
    }

    /// What follows a decision in memory: a cleared window, and a snapshot reload when the
    /// status or its return time changed.
    fn settle(&self, id: i64, from: AccountStatus, next: &Next) {
        let (clears, reload) = match next {
            Next::Same | Next::Refuse(_) => (false, false),
            Next::Clear => (true, false),
            Next::Extend { .. } => (false, true),
            Next::Move {
                to,
                reason,
                clears_errors,
                ..
            } => {
                info!(account = id, from = %from, to = %to, %reason, "account status changed");
                (*clears_errors, true)
            }
        };
        if clears {
            self.windows.lock().expect("error windows").remove(&id);
        }
        if reload {
            let snapshots = self.snapshots.clone();
            tokio::spawn(async move {
                if let Err(e) = snapshots.refresh().await {
                    warn!(error = %e, "reloading the snapshot failed");
                }
            });
        }
    }

    /// Starts the recovery loop: every `recovery_interval` (as the Settings page last set it),
    /// brings back the accounts whose cooldown or rate-limit reset has passed.
    pub fn start_recovery(self: &Arc<Self>, shutdown: Shutdown) {
        let (health, interval) = (self.clone(), self.clone());
        tasks::every(
            "recovery",
            move || interval.policy().recovery_interval,
            shutdown,
            move || {
                let health = health.clone();
                async move { health.recover_due().await.map_err(|e| e.to_string()) }
            },
        );
    }

    /// One pass of the recovery loop.
    async fn recover_due(&self) -> crate::error::Result<()> {
        let policy = self.policy();
        let decided = self
            .db
            .write(move |c| {
                let mut out = Vec::new();
                for id in store::accounts::out_for_now(c)? {
                    if let Some(d) =
                        store::accounts::advance(c, id, &Event::Tick, &policy, None, "system")?
                    {
                        out.push((id, d));
                    }
                }
                Ok(out)
            })
            .await?;
        for (id, (from, next)) in decided {
            self.settle(id, from, &next);
        }
        Ok(())
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
    // A subscription's rejected window says exactly when it reopens.
    super::windows::rejected_reset(headers)
        .filter(|&t| t > now)
        .or(retry_after)
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
