//! A key's admissions inside its rate window, in bounded memory.
//!
//! Every admission time was kept before, so a key allowed 100 000 requests an hour held up
//! to 100 000 timestamps (800 kB, and twice that in spare capacity) for the hour. Admissions
//! are now counted in at most [`BUCKETS`] runs per window, each expiring a window after its
//! newest admission: never more than the limit is admitted in any window, and a refused key
//! reopens at most a window / [`BUCKETS`] later than an exact log would say.

use std::collections::VecDeque;

/// Runs per window: the most a window's log holds, and how finely it expires.
pub const BUCKETS: i64 = 1000;

#[derive(Debug, Default)]
pub struct Admissions {
    /// (first admission, newest admission, count), oldest run first.
    runs: VecDeque<(i64, i64, i64)>,
    total: i64,
}

impl Admissions {
    /// Counts an admission at `at` (epoch ms) for a window of `window` ms.
    pub fn admit(&mut self, at: i64, window: i64) {
        let width = (window / BUCKETS).max(1);
        match self.runs.back_mut() {
            Some((first, newest, count)) if at - *first < width => {
                *newest = (*newest).max(at);
                *count += 1;
            }
            _ => self.runs.push_back((at, at, 1)),
        }
        self.total += 1;
    }

    /// Forgets the runs whose newest admission left the window ending at `now`.
    pub fn expire(&mut self, now: i64, window: i64) {
        while let Some(&(_, newest, count)) = self.runs.front() {
            if newest > now - window {
                break;
            }
            self.runs.pop_front();
            self.total -= count;
        }
    }

    /// Admissions still inside the window.
    pub fn count(&self) -> i64 {
        self.total
    }

    /// When the oldest run leaves the window, making room.
    pub fn reopens(&self, window: i64) -> Option<i64> {
        self.runs
            .front()
            .map(|&(_, newest, _)| newest.saturating_add(window))
    }

    #[cfg(test)]
    fn runs(&self) -> usize {
        self.runs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn a_busy_hour_is_held_in_at_most_a_thousand_runs() {
        let mut a = Admissions::default();
        // 500 000 admissions spread over the hour: one every 7.2 ms.
        for i in 0..500_000i64 {
            a.admit(i * 7 + i / 5, HOUR);
        }
        assert_eq!(a.count(), 500_000);
        assert!(a.runs() <= BUCKETS as usize + 1, "{} runs", a.runs());
    }

    #[test]
    fn never_more_than_the_limit_in_any_window_and_reopening_is_close_to_exact() {
        let window = 60_000;
        let limit = 100;
        let mut a = Admissions::default();
        let mut log: Vec<i64> = Vec::new();
        let mut now = 0;
        // Requests every 37 ms for five windows; each is admitted when under the limit.
        while now < 5 * window {
            a.expire(now, window);
            if a.count() < limit {
                a.admit(now, window);
                log.push(now);
            } else {
                // Exact: the oldest admission inside the window leaves at its time + window;
                // the runs may say up to one run's width later, never earlier.
                let inside: Vec<i64> = log.iter().copied().filter(|&t| t > now - window).collect();
                let exact = match inside.len().checked_sub(limit as usize) {
                    Some(i) => inside[i] + window,
                    None => now,
                };
                let said = a.reopens(window).unwrap();
                assert!(
                    said >= exact && said <= exact + window / BUCKETS,
                    "{said} vs {exact}"
                );
            }
            let in_window = log.iter().filter(|&&t| t > now - window).count();
            assert!(in_window <= limit as usize);
            now += 37;
        }
        // The limit was used, not starved: about limit per window over five windows.
        assert!(log.len() >= 4 * limit as usize, "{}", log.len());
    }

    #[test]
    fn expiry_forgets_whole_runs_and_their_counts() {
        let mut a = Admissions::default();
        for t in [0, 10, 20, 5_000, 5_010] {
            a.admit(t, 60_000);
        }
        assert_eq!(a.count(), 5);
        a.expire(60_020, 60_000);
        assert_eq!(a.count(), 2);
        assert_eq!(a.reopens(60_000), Some(65_010));
        a.expire(65_010, 60_000);
        assert_eq!(a.count(), 0);
        assert_eq!(a.reopens(60_000), None);
    }
}
