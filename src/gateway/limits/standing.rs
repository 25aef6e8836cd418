//! Where a key stands against each of its limits and its group's budgets, read from the same
//! counters admission uses: used, the limit, when the period resets, and the limit holding it
//! back if one does. For the admin page and the member's own page (`/api/me`).

use serde::Serialize;

use super::{DAY_MS, Limiter};
use crate::store::groups::Group;
use crate::store::keys::ApiKey;

/// One limit or budget and its use.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LimitUse {
    /// `daily_tokens`, `total_tokens`, `daily_cost`, `weekly_cost`, `total_cost`,
    /// `window_requests`, `concurrency` (a key's); `daily_tokens`, `monthly_tokens`,
    /// `daily_cost`, `monthly_cost` (a group's).
    pub limit: &'static str,
    pub used: i64,
    pub max: i64,
    /// `tokens`, `usd_nanos`, `requests` or `in_flight`.
    pub unit: &'static str,
    /// When the period's count starts again (epoch ms); none for totals and concurrency.
    pub resets_at: Option<i64>,
}

impl LimitUse {
    fn spent(&self) -> bool {
        self.unit != "in_flight" && self.used >= self.max
    }
}

/// What holds a key back, and until when.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Blocked {
    /// The limit's name as in [`LimitUse::limit`], or `expired`.
    pub by: &'static str,
    /// Whose limit it is: `key` or `group`.
    pub of: &'static str,
    pub until: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Standing {
    pub key: Vec<LimitUse>,
    pub group: Vec<LimitUse>,
    pub blocked: Option<Blocked>,
}

impl Limiter {
    /// What `group` has used of each budget it has, at `now`.
    pub fn group_standing(&self, g: &Group, now: i64) -> Vec<LimitUse> {
        let p = self.periods(now);
        let b = &g.budgets;
        let state = self.group_state(g.id);
        let u = state.lock().expect("group usage");
        let (dt, dc) = u.day.used(p.day);
        let (mt, mc) = u.month.used(p.month);
        [
            ("daily_tokens", dt, b.daily_tokens, "tokens", p.next_day),
            (
                "monthly_tokens",
                mt,
                b.monthly_tokens,
                "tokens",
                p.next_month,
            ),
            (
                "daily_cost",
                dc,
                b.daily_cost_nanos,
                "usd_nanos",
                p.next_day,
            ),
            (
                "monthly_cost",
                mc,
                b.monthly_cost_nanos,
                "usd_nanos",
                p.next_month,
            ),
        ]
        .into_iter()
        .filter_map(|(limit, used, max, unit, resets_at)| {
            Some(LimitUse {
                limit,
                used,
                max: max?,
                unit,
                resets_at: Some(resets_at),
            })
        })
        .collect()
    }

    /// Where `key` (of `group`) stands at `now`: only the limits it has are listed.
    pub fn standing(&self, key: &ApiKey, group: Option<&Group>, now: i64) -> Standing {
        let p = self.periods(now);
        let l = &key.limits;
        let state = self.key_state(key.id);
        let mut mine = Vec::new();
        let first_used;
        {
            let mut u = state.usage.lock().expect("key usage");
            first_used = key.first_used_at.or(u.first_used_at);
            let (day_tokens, day_cost) = u.day.used(p.day);
            let (_, week_cost) = u.week.used(p.week);
            let window = l
                .rate_window_minutes
                .map(|m| m.saturating_mul(60_000))
                .unwrap_or(0);
            // Forgetting what left the window changes nothing the next admission would see.
            u.admitted.expire(now, window);
            let (in_window, reopens) = (u.admitted.count(), u.admitted.reopens(window));
            for (limit, used, max, unit, resets_at) in [
                (
                    "daily_tokens",
                    day_tokens,
                    l.daily_tokens,
                    "tokens",
                    Some(p.next_day),
                ),
                (
                    "total_tokens",
                    u.total_tokens,
                    l.total_tokens,
                    "tokens",
                    None,
                ),
                (
                    "daily_cost",
                    day_cost,
                    l.daily_cost_nanos,
                    "usd_nanos",
                    Some(p.next_day),
                ),
                (
                    "weekly_cost",
                    week_cost,
                    l.weekly_cost_nanos,
                    "usd_nanos",
                    Some(p.next_week),
                ),
                (
                    "total_cost",
                    u.total_cost,
                    l.total_cost_nanos,
                    "usd_nanos",
                    None,
                ),
                (
                    "window_requests",
                    in_window,
                    l.rate_requests,
                    "requests",
                    // The window slides: a place frees up when its oldest request leaves it.
                    reopens,
                ),
            ] {
                if let Some(max) = max {
                    mine.push(LimitUse {
                        limit,
                        used,
                        max,
                        unit,
                        resets_at,
                    });
                }
            }
        }
        if let Some(max) = l.concurrency {
            let busy = state
                .slots
                .lock()
                .expect("key slots")
                .as_ref()
                .map_or(0, |(n, s)| (*n - s.available_permits() as i64).max(0));
            mine.push(LimitUse {
                limit: "concurrency",
                used: busy,
                max,
                unit: "in_flight",
                resets_at: None,
            });
        }
        let theirs = group.map_or_else(Vec::new, |g| self.group_standing(g, now));
        let expired = l.expires_at.filter(|t| *t <= now).or_else(|| {
            let days = l.expires_days_after_first_use?;
            let end = first_used? + days * DAY_MS;
            (end <= now).then_some(end)
        });
        let blocked = if expired.is_some() {
            Some(Blocked {
                by: "expired",
                of: "key",
                until: None,
            })
        } else {
            theirs
                .iter()
                .find(|u| u.spent())
                .map(|u| (u, "group"))
                .or_else(|| mine.iter().find(|u| u.spent()).map(|u| (u, "key")))
                .map(|(u, of)| Blocked {
                    by: u.limit,
                    of,
                    until: u.resets_at,
                })
        };
        Standing {
            key: mine,
            group: theirs,
            blocked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn used_and_left_follow_what_was_charged() {
        let l = super::super::tests::limiter("UTC");
        let key = ApiKey {
            id: 3,
            group_id: 1,
            group: "team".into(),
            name: "alice".into(),
            description: None,
            prefix: "acp_x".into(),
            status: crate::domain::KeyStatus::Active,
            first_used_at: None,
            last_used_at: None,
            created_at: 0,
            limits: std::sync::Arc::new(crate::store::keys::Limits {
                daily_tokens: Some(100),
                daily_cost_nanos: Some(5_000),
                concurrency: Some(2),
                ..Default::default()
            }),
        };
        let group = Group {
            id: 1,
            name: "team".into(),
            description: None,
            status: "active".into(),
            accounts: 0,
            keys: 1,
            members: 1,
            created_at: 0,
            budgets: crate::store::groups::Budgets {
                monthly_cost_nanos: Some(1_000_000),
                warning_percent: 80,
                ..Default::default()
            },
        };
        let now = 1_796_200_000_000;
        let s = l.standing(&key, Some(&group), now);
        assert_eq!(s.key.len(), 3);
        assert!(s.key.iter().all(|u| u.used == 0));
        assert_eq!(s.blocked, None);
        l.charge(key.id, Some(&group), now, 40, 5_000);
        let held = l.admit(&key, Some(&group), now).await;
        assert!(held.is_err(), "the daily cost is spent");
        let s = l.standing(&key, Some(&group), now);
        let daily = s.key.iter().find(|u| u.limit == "daily_tokens").unwrap();
        assert_eq!((daily.used, daily.max), (40, 100));
        let b = s.blocked.unwrap();
        assert_eq!((b.by, b.of), ("daily_cost", "key"));
        assert_eq!(b.until, daily.resets_at);
        assert_eq!(s.group[0].used, 5_000);
        assert_eq!(s.group[0].limit, "monthly_cost");
    }
}
