//! Rebuilding the in-memory counters at start from the request log, the daily rollup and the
//! audit log, so a restart neither forgives nor double-counts.

use foldhash::HashMap;

use super::{Limiter, Period};
use crate::error::Result;
use crate::gateway::snapshot::Snapshot;
use crate::store;

impl Limiter {
    /// Rebuilds every counter from the request log (and the rollup for all-time totals), so
    /// usage before a restart still counts — once.
    pub async fn rebuild(&self, snap: &Snapshot, now: i64) -> Result<()> {
        let p = self.periods(now);
        let window_ms = snap
            .keys
            .values()
            .filter_map(|k| k.limits.rate_window_minutes)
            .max()
            .unwrap_or(0)
            .saturating_mul(60_000);
        let since = p.week.min(p.month).min(p.day);
        let (week_start, month_start, day_start) = (p.week, p.month, p.day);
        let rows = self
            .db
            .read(move |c| {
                Ok((
                    store::usage::sums_since(c, day_start, store::usage::Per::Key)?,
                    store::usage::sums_since(c, week_start, store::usage::Per::Key)?,
                    store::usage::key_totals(c)?,
                    store::usage::sums_since(c, day_start, store::usage::Per::Group)?,
                    store::usage::sums_since(c, month_start, store::usage::Per::Group)?,
                    store::usage::admissions_since(c, now - window_ms)?,
                    store::audit::budget_warnings_since(c, since)?,
                ))
            })
            .await?;
        let (day, week, totals, group_day, group_month, admitted, warned) = rows;
        for (id, tokens, cost) in day {
            let s = self.key_state(id);
            s.usage.lock().expect("key usage").day = Period {
                start: p.day,
                tokens,
                cost,
            };
        }
        for (id, tokens, cost) in week {
            let s = self.key_state(id);
            s.usage.lock().expect("key usage").week = Period {
                start: p.week,
                tokens,
                cost,
            };
        }
        for (id, tokens, cost) in totals {
            let s = self.key_state(id);
            let mut u = s.usage.lock().expect("key usage");
            u.total_tokens = tokens;
            u.total_cost = cost;
        }
        for (id, tokens, cost) in group_day {
            self.group_state(id).lock().expect("group usage").day = Period {
                start: p.day,
                tokens,
                cost,
            };
        }
        for (id, tokens, cost) in group_month {
            self.group_state(id).lock().expect("group usage").month = Period {
                start: p.month,
                tokens,
                cost,
            };
        }
        // Indexed once: a lookup per key per admitted row was keys × rows.
        let windows: HashMap<i64, i64> = snap
            .keys
            .values()
            .filter_map(|k| Some((k.id, k.limits.rate_window_minutes?)))
            .collect();
        for (id, at) in admitted {
            let Some(&minutes) = windows.get(&id) else {
                continue;
            };
            if at > now - minutes.saturating_mul(60_000) {
                self.key_state(id)
                    .usage
                    .lock()
                    .expect("key usage")
                    .admitted
                    .admit(at, minutes.saturating_mul(60_000));
            }
        }
        for (group, budget, start) in warned {
            if let Some(name) = [
                "daily_tokens",
                "monthly_tokens",
                "daily_cost",
                "monthly_cost",
            ]
            .into_iter()
            .find(|n| *n == budget)
            {
                self.group_state(group)
                    .lock()
                    .expect("group usage")
                    .warned
                    .insert((name, start));
            }
        }
        Ok(())
    }
}
