//! A group's members share its Claude subscriptions' five-hour windows fairly. Each key has a
//! share of the pool's capacity (its `--share` weight over the weights of the group's active
//! keys). While the pool is used above a threshold, a member whose part of the current window
//! is above their share is refused with a 429 saying so; members under their share go on.
//!
//! A member's part is estimated from what they spent on the pool's accounts since the window
//! began, weighted by price (the vendor counts heavier models heavier), as a fraction of what
//! the whole group spent there, times the pool's utilization the headers report.

use std::collections::VecDeque;

use foldhash::{HashMap, HashMapExt};
use std::sync::Mutex;

use super::limits::Refusal;
use super::protocol::Kind;
use super::snapshot::Snapshot;
use super::windows::Tracker;
use crate::store::keys::ApiKey;

/// The five-hour window, in ms.
const WINDOW_MS: i64 = 5 * 3600 * 1000;
/// Tokens are weighed at this many nano-dollars each when a model has no price.
const UNPRICED_WEIGHT: i64 = 3_000;

/// Spend on subscription accounts over the last five hours, per group.
#[derive(Default)]
pub struct FairShare {
    spend: Mutex<HashMap<i64, VecDeque<Spent>>>,
}

#[derive(Clone, Copy, Debug)]
struct Spent {
    at: i64,
    key: i64,
    account: i64,
    weight: i64,
}

/// One member's standing in the group's pool.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Standing {
    pub key_id: i64,
    /// Part of the pool's five-hour window they used (0–1).
    pub used: f64,
    /// Their share of it (0–1).
    pub share: f64,
}

/// The pool of a group: its subscriptions that reported a five-hour window.
struct Pool {
    accounts: Vec<i64>,
    /// Mean five-hour utilization of the pool's accounts.
    utilization: f64,
    /// When the earliest of their windows began, and when it resets.
    since: i64,
    resets_at: Option<i64>,
}

impl FairShare {
    /// Records what a request on a subscription account cost.
    pub fn record(
        &self,
        group: i64,
        key: i64,
        account: i64,
        at: i64,
        cost: Option<i64>,
        tokens: i64,
    ) {
        let weight = cost
            .unwrap_or_else(|| tokens.saturating_mul(UNPRICED_WEIGHT))
            .max(0);
        let mut map = self.spend.lock().expect("fair share");
        let q = map.entry(group).or_default();
        q.push_back(Spent {
            at,
            key,
            account,
            weight,
        });
        while q.front().is_some_and(|s| s.at < at - WINDOW_MS) {
            q.pop_front();
        }
    }

    fn pool(snap: &Snapshot, windows: &Tracker, group: i64) -> Option<Pool> {
        let mut accounts = Vec::new();
        let (mut sum, mut since, mut resets) = (0.0, i64::MAX, None::<i64>);
        for r in snap.routes.get(&group).map(Vec::as_slice).unwrap_or(&[]) {
            if !r.account.platform.is_subscription() {
                continue;
            }
            let Some((utilization, resets_at)) = windows.five_hour(r.account.id) else {
                continue;
            };
            accounts.push(r.account.id);
            sum += utilization;
            if let Some(reset) = resets_at {
                since = since.min(reset - WINDOW_MS);
                resets = Some(resets.map_or(reset, |x| x.min(reset)));
            }
        }
        (!accounts.is_empty()).then(|| Pool {
            utilization: sum / accounts.len() as f64,
            since: if since == i64::MAX { 0 } else { since },
            resets_at: resets,
            accounts,
        })
    }

    /// Each active member's standing in `group`'s pool, when it has one.
    pub fn standings(
        &self,
        snap: &Snapshot,
        windows: &Tracker,
        group: i64,
        now: i64,
    ) -> Vec<Standing> {
        let Some(pool) = Self::pool(snap, windows, group) else {
            return Vec::new();
        };
        let since = pool.since.max(now - WINDOW_MS);
        let mut by_key: HashMap<i64, i64> = HashMap::new();
        let mut total = 0i64;
        if let Some(q) = self.spend.lock().expect("fair share").get(&group) {
            for s in q
                .iter()
                .filter(|s| s.at >= since && pool.accounts.contains(&s.account))
            {
                *by_key.entry(s.key).or_default() += s.weight;
                total = total.saturating_add(s.weight);
            }
        }
        let members: Vec<&ApiKey> = snap
            .members
            .get(&group)
            .into_iter()
            .flatten()
            .map(|k| k.as_ref())
            .collect();
        let weights: i64 = members.iter().map(|k| k.limits.share.unwrap_or(1)).sum();
        let mut out: Vec<Standing> = members
            .iter()
            .map(|k| Standing {
                key_id: k.id,
                used: if total > 0 {
                    pool.utilization * by_key.get(&k.id).copied().unwrap_or(0) as f64 / total as f64
                } else {
                    0.0
                },
                share: k.limits.share.unwrap_or(1) as f64 / weights.max(1) as f64,
            })
            .collect();
        out.sort_by_key(|s| s.key_id);
        out
    }

    /// Refuses `key` when its group's pool is above `from` and the key is above its share.
    pub fn check(
        &self,
        snap: &Snapshot,
        windows: &Tracker,
        key: &ApiKey,
        now: i64,
        from: f64,
        zone: &jiff::tz::TimeZone,
    ) -> Result<(), Refusal> {
        let Some(pool) = Self::pool(snap, windows, key.group_id) else {
            return Ok(());
        };
        if pool.utilization <= from {
            return Ok(());
        }
        let Some(me) = self
            .standings(snap, windows, key.group_id, now)
            .into_iter()
            .find(|s| s.key_id == key.id)
        else {
            return Ok(());
        };
        if me.used <= me.share {
            return Ok(());
        }
        let resets = pool
            .resets_at
            .and_then(|t| jiff::Timestamp::from_millisecond(t).ok())
            .map(|t| t.to_zoned(zone.clone()).strftime("%H:%M").to_string());
        let mut message = format!(
            "you used {:.0} % of the team's 5-hour window; your share is {:.0} %",
            me.used * 100.0,
            me.share * 100.0
        );
        if let Some(r) = resets {
            message.push_str(&format!("; it resets at {r}"));
        }
        Err(Refusal {
            kind: Kind::RateLimited,
            message,
            retry_after: pool.resets_at,
        })
    }
}
