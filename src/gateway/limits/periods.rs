//! Days, weeks (from Monday) and months in the configured zone, and the tokens and cost a
//! key or group used inside one of them.

use std::sync::Arc;

use jiff::{Timestamp, ToSpan, Zoned};

use super::{DAY_MS, Limiter};

/// Tokens and cost inside one period (a day, week or month), named by its start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Period {
    pub(super) start: i64,
    pub(super) tokens: i64,
    pub(super) cost: i64,
}

impl Period {
    pub(super) fn add(&mut self, start: i64, tokens: i64, cost: i64) {
        if start > self.start {
            *self = Period {
                start,
                ..Period::default()
            };
        }
        if start == self.start {
            self.tokens = self.tokens.saturating_add(tokens);
            self.cost = self.cost.saturating_add(cost);
        }
    }

    /// (tokens, cost) used in the period starting at `start`.
    pub(super) fn used(&self, start: i64) -> (i64, i64) {
        if self.start == start {
            (self.tokens, self.cost)
        } else {
            (0, 0)
        }
    }
}

/// The start of the periods a moment falls in, in the configured zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Periods {
    pub(super) day: i64,
    pub(super) next_day: i64,
    pub(super) week: i64,
    pub(super) next_week: i64,
    pub(super) month: i64,
    pub(super) next_month: i64,
}

pub(super) fn ms(z: &Zoned) -> i64 {
    z.timestamp().as_millisecond()
}

impl Limiter {
    pub(super) fn periods(&self, at: i64) -> Periods {
        self.today_of(at).0
    }

    /// The periods `at` falls in and its day's label, computed once per day.
    pub(super) fn today_of(&self, at: i64) -> (Periods, Arc<str>) {
        if let Some((p, label)) = &*self.today.read().expect("periods cache")
            && (p.day..p.next_day).contains(&at)
        {
            return (*p, label.clone());
        }
        let p = self.compute_periods(at);
        let label: Arc<str> = Timestamp::from_millisecond(at)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned(self.tz.clone())
            .strftime("%Y-%m-%d")
            .to_string()
            .into();
        *self.today.write().expect("periods cache") = Some((p, label.clone()));
        (p, label)
    }

    pub(super) fn compute_periods(&self, at: i64) -> Periods {
        let z = Timestamp::from_millisecond(at)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned(self.tz.clone());
        let date = z.date();
        let start =
            |d: jiff::civil::Date| d.to_zoned(self.tz.clone()).map(|z| ms(&z)).unwrap_or(at);
        let monday = date
            .checked_sub((date.weekday().to_monday_zero_offset() as i64).days())
            .unwrap_or(date);
        let first = date.first_of_month();
        Periods {
            day: start(date),
            next_day: date.tomorrow().map(start).unwrap_or(at + DAY_MS),
            week: start(monday),
            next_week: monday
                .checked_add(7.days())
                .map(start)
                .unwrap_or(at + 7 * DAY_MS),
            month: start(first),
            next_month: first
                .checked_add(1.month())
                .map(start)
                .unwrap_or(at + 31 * DAY_MS),
        }
    }

    /// The calendar day (YYYY-MM-DD) `at` falls on, for the daily rollup.
    pub fn day_label(&self, at: i64) -> String {
        self.today_of(at).1.to_string()
    }

    /// The `n` calendar days up to and including `at`'s, oldest first.
    pub fn last_days(&self, at: i64, n: i64) -> Vec<String> {
        let Ok(t) = Timestamp::from_millisecond(at) else {
            return Vec::new();
        };
        let today = t.to_zoned(self.tz.clone()).date();
        (0..n)
            .rev()
            .filter_map(|i| today.checked_sub(i.days()).ok())
            .map(|d| d.to_string())
            .collect()
    }
}
