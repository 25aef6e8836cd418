//! Member key limits and group budgets, held exactly from in-memory counters: no SQLite on the
//! request path. Counters are rebuilt from the request log at start, so a restart neither
//! forgives nor double-counts, and are charged once per request with its real usage.

use foldhash::{HashMap, HashMapExt, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jiff::tz::TimeZone;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{info, warn};

mod access;
mod periods;
mod rebuild;
mod standing;
mod window;

pub use access::model_matches;
use periods::{Period, Periods};
pub use standing::{Blocked, LimitUse, Standing};

use super::protocol::Kind;
use crate::domain::format_usd;
use crate::error::Result;
use crate::store::groups::Group;
use crate::store::keys::ApiKey;
use crate::store::{self, Db};

const DAY_MS: i64 = 86_400_000;

/// Why a request may not go ahead, and when trying again makes sense.
#[derive(Debug)]
pub struct Refusal {
    pub kind: Kind,
    pub message: String,
    /// Epoch ms at which the refusing window reopens.
    pub retry_after: Option<i64>,
}

impl Refusal {
    fn limit(message: String, retry_after: Option<i64>) -> Refusal {
        Refusal {
            kind: Kind::RateLimited,
            message,
            retry_after,
        }
    }

    fn forbidden(message: String) -> Refusal {
        Refusal {
            kind: Kind::Permission,
            message,
            retry_after: None,
        }
    }
}

/// A request let through. Holds its concurrency slot; dropping it (the request ended, for any
/// reason) gives the slot back.
#[derive(Debug, Default)]
pub struct Admission {
    slot: Option<OwnedSemaphorePermit>,
}

impl Admission {
    /// Gives the slot back early (the client went away; the gateway only drains the upstream).
    pub fn release(&mut self) {
        self.slot = None;
    }
}

#[derive(Debug, Default)]
struct KeyUse {
    /// Admissions inside the rate window.
    admitted: window::Admissions,
    day: Period,
    week: Period,
    total_tokens: i64,
    total_cost: i64,
    first_used_at: Option<i64>,
}

#[derive(Debug, Default)]
struct KeyState {
    usage: Mutex<KeyUse>,
    /// The concurrency limit the semaphore was made for, and the semaphore.
    slots: Mutex<Option<(i64, Arc<Semaphore>)>>,
    waiting: AtomicI64,
}

#[derive(Debug, Default)]
struct GroupUse {
    day: Period,
    month: Period,
    /// Budget warnings already recorded, as (budget, period start).
    warned: HashSet<(&'static str, i64)>,
}

pub struct Limiter {
    tz: TimeZone,
    queue_timeout: Duration,
    db: Db,
    keys: RwLock<HashMap<i64, Arc<KeyState>>>,
    groups: RwLock<HashMap<i64, Arc<Mutex<GroupUse>>>>,
    /// The periods of the current day: every moment of a day shares its week and month.
    today: RwLock<Option<(Periods, Arc<str>)>>,
}

impl Limiter {
    pub fn new(db: Db, tz: TimeZone, queue_timeout: Duration) -> Limiter {
        Limiter {
            tz,
            queue_timeout,
            db,
            keys: RwLock::new(HashMap::new()),
            groups: RwLock::new(HashMap::new()),
            today: RwLock::new(None),
        }
    }

    fn key_state(&self, id: i64) -> Arc<KeyState> {
        if let Some(s) = self.keys.read().expect("limits lock").get(&id) {
            return s.clone();
        }
        self.keys
            .write()
            .expect("limits lock")
            .entry(id)
            .or_default()
            .clone()
    }

    fn group_state(&self, id: i64) -> Arc<Mutex<GroupUse>> {
        if let Some(s) = self.groups.read().expect("limits lock").get(&id) {
            return s.clone();
        }
        self.groups
            .write()
            .expect("limits lock")
            .entry(id)
            .or_default()
            .clone()
    }

    /// Decides whether `key` (of `group`) may start a request now; waits in the key's queue
    /// when its concurrency limit allows one.
    pub async fn admit(
        &self,
        key: &ApiKey,
        group: Option<&Group>,
        now: i64,
    ) -> Result<Admission, Refusal> {
        let state = self.key_state(key.id);
        let periods = self.periods(now);
        if let Some(days) = key.limits.expires_days_after_first_use {
            // The stored time wins once the snapshot has it (an operator may have changed it).
            let first = key
                .first_used_at
                .or(state.usage.lock().expect("key usage").first_used_at);
            if let Some(first) = first
                && now >= first + days * DAY_MS
            {
                return Err(Refusal {
                    kind: Kind::Authentication,
                    message: format!("this API key expired {days} day(s) after its first use"),
                    retry_after: None,
                });
            }
        }
        // With a concurrency limit, a request that would be refused anyway must not wait for a
        // slot first; then the checks run again, since counters may have moved meanwhile.
        let slot = if key.limits.concurrency.is_some() {
            if let Some(g) = group {
                self.check_group(g, &periods)?;
            }
            self.check_key(key, &state, &periods, now, false)?;
            self.slot(key, &state).await?
        } else {
            None
        };
        if let Some(g) = group {
            self.check_group(g, &periods)?;
        }
        self.check_key(key, &state, &periods, now, true)?;
        Ok(Admission { slot })
    }

    fn check_group(&self, g: &Group, p: &Periods) -> Result<(), Refusal> {
        let b = &g.budgets;
        if b.daily_tokens.is_none()
            && b.monthly_tokens.is_none()
            && b.daily_cost_nanos.is_none()
            && b.monthly_cost_nanos.is_none()
        {
            return Ok(());
        }
        let state = self.group_state(g.id);
        let u = state.lock().expect("group usage");
        let (day_tokens, day_cost) = u.day.used(p.day);
        let (month_tokens, month_cost) = u.month.used(p.month);
        let checks = [
            (
                b.daily_tokens,
                day_tokens,
                "daily token budget",
                p.next_day,
                false,
            ),
            (
                b.monthly_tokens,
                month_tokens,
                "monthly token budget",
                p.next_month,
                false,
            ),
            (
                b.daily_cost_nanos,
                day_cost,
                "daily cost budget",
                p.next_day,
                true,
            ),
            (
                b.monthly_cost_nanos,
                month_cost,
                "monthly cost budget",
                p.next_month,
                true,
            ),
        ];
        for (limit, used, what, reopens, money) in checks {
            if let Some(limit) = limit
                && used >= limit
            {
                return Err(Refusal::limit(
                    format!(
                        "group {:?} has used its {what} ({})",
                        g.name,
                        amount(limit, money)
                    ),
                    Some(reopens),
                ));
            }
        }
        Ok(())
    }

    /// Checks the key's budgets and window; with `admit`, counts the request in the window (and
    /// its first use) under the same lock, so concurrent requests cannot both take the last place.
    fn check_key(
        &self,
        key: &ApiKey,
        state: &KeyState,
        p: &Periods,
        now: i64,
        admit: bool,
    ) -> Result<(), Refusal> {
        let l = &key.limits;
        let mut u = state.usage.lock().expect("key usage");
        let (day_tokens, day_cost) = u.day.used(p.day);
        let (_, week_cost) = u.week.used(p.week);
        let checks = [
            (
                l.daily_tokens,
                day_tokens,
                "daily token limit",
                Some(p.next_day),
                false,
            ),
            (
                l.total_tokens,
                u.total_tokens,
                "total token limit",
                None,
                false,
            ),
            (
                l.daily_cost_nanos,
                day_cost,
                "daily cost limit",
                Some(p.next_day),
                true,
            ),
            (
                l.weekly_cost_nanos,
                week_cost,
                "weekly cost limit",
                Some(p.next_week),
                true,
            ),
            (
                l.total_cost_nanos,
                u.total_cost,
                "total cost limit",
                None,
                true,
            ),
        ];
        for (limit, used, what, reopens, money) in checks {
            if let Some(limit) = limit
                && used >= limit
            {
                return Err(Refusal::limit(
                    format!("this key has used its {what} ({})", amount(limit, money)),
                    reopens,
                ));
            }
        }
        if let (Some(n), Some(minutes)) = (l.rate_requests, l.rate_window_minutes) {
            let window = minutes.saturating_mul(60_000);
            u.admitted.expire(now, window);
            if u.admitted.count() >= n {
                let reopens = u.admitted.reopens(window);
                return Err(Refusal::limit(
                    format!("this key's rate limit is {n} requests per {minutes} minute(s)"),
                    reopens,
                ));
            }
        }
        if admit {
            if let Some(minutes) = l.rate_window_minutes.filter(|_| l.rate_requests.is_some()) {
                u.admitted.admit(now, minutes.saturating_mul(60_000));
            }
            if u.first_used_at.is_none() && key.first_used_at.is_none() {
                u.first_used_at = Some(now);
                let (db, id) = (self.db.clone(), key.id);
                tokio::spawn(async move {
                    if let Err(e) = db
                        .write(move |c| store::keys::set_first_used(c, id, now))
                        .await
                    {
                        warn!(key = id, error = %e, "could not record a key's first use");
                    }
                });
            }
        }
        Ok(())
    }

    /// Takes a concurrency slot: at once, or after waiting in the key's queue.
    async fn slot(
        &self,
        key: &ApiKey,
        state: &KeyState,
    ) -> Result<Option<OwnedSemaphorePermit>, Refusal> {
        let Some(limit) = key.limits.concurrency else {
            return Ok(None);
        };
        let sem = {
            let mut slots = state.slots.lock().expect("key slots");
            match &*slots {
                Some((l, s)) if *l == limit => s.clone(),
                _ => {
                    // Clamped: a value stored by an older version can never panic here.
                    let permits =
                        limit.clamp(1, crate::domain::limits_max::MAX_CONCURRENCY) as usize;
                    let s = Arc::new(Semaphore::new(permits));
                    *slots = Some((limit, s.clone()));
                    s
                }
            }
        };
        let busy = || {
            Refusal::limit(
                format!("this key allows {limit} concurrent request(s) and all are in use"),
                None,
            )
        };
        if let Ok(permit) = sem.clone().try_acquire_owned() {
            return Ok(Some(permit));
        }
        let queue = key.limits.queue.unwrap_or(0);
        if state.waiting.fetch_add(1, Ordering::SeqCst) >= queue {
            state.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy());
        }
        // The semaphore is fair: waiters are admitted in the order they arrived.
        let waited = tokio::time::timeout(self.queue_timeout, sem.acquire_owned()).await;
        state.waiting.fetch_sub(1, Ordering::SeqCst);
        match waited {
            Ok(Ok(permit)) => Ok(Some(permit)),
            _ => Err(busy()),
        }
    }

    /// Adds a finished request's real usage to its key's and group's counters, once.
    pub fn charge(
        &self,
        key_id: i64,
        group: Option<&Group>,
        started_at: i64,
        tokens: i64,
        cost: i64,
    ) {
        if tokens == 0 && cost == 0 {
            return;
        }
        let p = self.periods(started_at);
        {
            let state = self.key_state(key_id);
            let mut u = state.usage.lock().expect("key usage");
            u.day.add(p.day, tokens, cost);
            u.week.add(p.week, tokens, cost);
            u.total_tokens = u.total_tokens.saturating_add(tokens);
            u.total_cost = u.total_cost.saturating_add(cost);
        }
        let Some(g) = group else { return };
        let warnings = {
            let state = self.group_state(g.id);
            let mut u = state.lock().expect("group usage");
            u.day.add(p.day, tokens, cost);
            u.month.add(p.month, tokens, cost);
            let b = &g.budgets;
            let (dt, dc) = u.day.used(p.day);
            let (mt, mc) = u.month.used(p.month);
            let mut due = Vec::new();
            for (what, limit, used, start, money) in [
                ("daily_tokens", b.daily_tokens, dt, p.day, false),
                ("monthly_tokens", b.monthly_tokens, mt, p.month, false),
                ("daily_cost", b.daily_cost_nanos, dc, p.day, true),
                ("monthly_cost", b.monthly_cost_nanos, mc, p.month, true),
            ] {
                if let Some(limit) = limit
                    && used * 100 >= limit * b.warning_percent
                    && u.warned.insert((what, start))
                {
                    due.push(serde_json::json!({
                        "budget": what,
                        "period_start": start,
                        "limit": amount(limit, money),
                        "used": amount(used, money),
                        "warning_percent": b.warning_percent,
                    }));
                }
            }
            due
        };
        for detail in warnings {
            info!(group = %g.name, %detail, "group budget warning");
            let (db, id) = (self.db.clone(), g.id);
            tokio::spawn(async move {
                let r = db
                    .write(move |c| {
                        store::audit::insert(
                            c,
                            "system",
                            "budget.warning",
                            Some(("group", id)),
                            Some(&detail),
                        )
                    })
                    .await;
                if let Err(e) = r {
                    warn!(error = %e, "could not record a budget warning");
                }
            });
        }
    }
}

fn amount(n: i64, money: bool) -> String {
    if money {
        format!("${}", format_usd(n))
    } else {
        format!("{n} tokens")
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(super) fn limiter(tz: &str) -> Limiter {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(&tmp.path().join("x.db")).unwrap();
        std::mem::forget(tmp);
        Limiter::new(db, TimeZone::get(tz).unwrap(), Duration::from_secs(1))
    }

    fn at(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[tokio::test]
    async fn periods_begin_at_midnight_monday_and_the_first_in_the_zone() {
        let l = limiter("Asia/Tokyo");
        // Wednesday 2026-11-18 23:30 UTC is Thursday 08:30 in Tokyo.
        let p = l.periods(at("2026-11-18T23:30:00Z"));
        assert_eq!(p.day, at("2026-11-18T15:00:00Z"), "Thursday 00:00 JST");
        assert_eq!(p.next_day, at("2026-11-19T15:00:00Z"));
        assert_eq!(
            p.week,
            at("2026-11-15T15:00:00Z"),
            "Monday 16 Nov 00:00 JST"
        );
        assert_eq!(p.next_week, at("2026-11-22T15:00:00Z"));
        assert_eq!(p.month, at("2026-10-31T15:00:00Z"), "1 Nov 00:00 JST");
        assert_eq!(p.next_month, at("2026-11-30T15:00:00Z"));
        assert_eq!(l.day_label(at("2026-11-18T23:30:00Z")), "2026-11-19");
        let utc = limiter("UTC");
        assert_eq!(utc.day_label(at("2026-11-18T23:30:00Z")), "2026-11-18");
    }

    #[test]
    fn a_period_resets_when_a_later_one_begins_and_ignores_earlier_ones() {
        let mut p = Period::default();
        p.add(100, 5, 50);
        p.add(100, 5, 50);
        assert_eq!(p.used(100), (10, 100));
        p.add(50, 1, 1);
        assert_eq!(
            p.used(100),
            (10, 100),
            "a late charge for a past period is not today's"
        );
        p.add(200, 3, 30);
        assert_eq!((p.used(100), p.used(200)), ((0, 0), (3, 30)));
    }

    fn key(limits: crate::store::keys::Limits) -> ApiKey {
        ApiKey {
            id: 1,
            group_id: 1,
            group: "g".into(),
            name: "k".into(),
            description: None,
            prefix: "acp_".into(),
            status: crate::domain::KeyStatus::Active,
            first_used_at: Some(0),
            last_used_at: None,
            created_at: 0,
            limits: limits.into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_requests_never_take_more_than_the_windows_places() {
        let l = Arc::new(limiter("UTC"));
        let k = Arc::new(key(crate::store::keys::Limits {
            rate_requests: Some(10),
            rate_window_minutes: Some(1),
            ..Default::default()
        }));
        let now = at("2026-11-18T12:00:00Z");
        let tasks: Vec<_> = (0..400)
            .map(|_| {
                let (l, k) = (l.clone(), k.clone());
                tokio::spawn(async move { l.admit(&k, None, now).await.is_ok() })
            })
            .collect();
        let mut admitted = 0;
        for t in tasks {
            admitted += t.await.unwrap() as usize;
        }
        assert_eq!(admitted, 10);
    }

    #[test]
    fn model_patterns_are_exact_or_prefix_with_star() {
        assert!(model_matches("claude-sonnet-4-5", "claude-sonnet-4-5"));
        assert!(!model_matches(
            "claude-sonnet-4-5",
            "claude-sonnet-4-5-20250929"
        ));
        assert!(model_matches("claude-haiku*", "claude-haiku-4-5"));
        assert!(!model_matches("claude-haiku*", "claude-sonnet-4-5"));
    }
}
