//! Prometheus metrics: counters and histograms in atomics, updated off the hot path's locks
//! and rendered as Prometheus text for `GET /metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::domain::Outcome;
use crate::store::usage::Record;

/// Upper bounds (seconds) of the request duration histogram.
const REQUEST_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
/// Upper bounds (seconds) of the SQLite commit histogram.
const COMMIT_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

const PROTOCOLS: [&str; 3] = ["anthropic", "openai", "gemini"];

/// A histogram with fixed buckets; sums are kept in microseconds to stay integral.
pub struct Histogram<const N: usize> {
    bounds: &'static [f64; N],
    counts: [AtomicU64; N],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    const fn new(bounds: &'static [f64; N]) -> Self {
        Histogram {
            bounds,
            counts: [const { AtomicU64::new(0) }; N],
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe_micros(&self, micros: u64) {
        let secs = micros as f64 / 1e6;
        if let Some(i) = self.bounds.iter().position(|b| secs <= *b) {
            self.counts[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(micros, Relaxed);
    }

    /// How many values were observed.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.counts) {
            cumulative += n.load(Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Everything `/metrics` reports that is counted as it happens. Gauges read at render time
/// (account states, queue depth) are passed to [`Metrics::render`].
pub struct Metrics {
    /// Per protocol and outcome.
    requests: [[AtomicU64; Outcome::ALL.len()]; 3],
    durations: [Histogram<14>; 3],
    tokens_input: AtomicU64,
    tokens_output: AtomicU64,
    tokens_cache_write: AtomicU64,
    tokens_cache_read: AtomicU64,
    cost_nanos: AtomicU64,
    unpriced: AtomicU64,
    pub journal_failures: AtomicU64,
    pub commit_failures: AtomicU64,
    /// Records SQLite refused for themselves, set aside in the quarantine file.
    pub quarantined: AtomicU64,
    pub rows_committed: AtomicU64,
    pub commits: Histogram<10>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: [const { [const { AtomicU64::new(0) }; Outcome::ALL.len()] }; 3],
            durations: [const { Histogram::new(&REQUEST_BUCKETS) }; 3],
            tokens_input: AtomicU64::new(0),
            tokens_output: AtomicU64::new(0),
            tokens_cache_write: AtomicU64::new(0),
            tokens_cache_read: AtomicU64::new(0),
            cost_nanos: AtomicU64::new(0),
            unpriced: AtomicU64::new(0),
            journal_failures: AtomicU64::new(0),
            commit_failures: AtomicU64::new(0),
            quarantined: AtomicU64::new(0),
            rows_committed: AtomicU64::new(0),
            commits: Histogram::new(&COMMIT_BUCKETS),
        }
    }
}

/// Values read when `/metrics` is asked for.
pub struct Gauges {
    /// (status, number of accounts in it).
    pub accounts: Vec<(&'static str, u64)>,
    /// Usage records journaled and not yet in the database.
    pub usage_queue: u64,
    pub uptime_secs: u64,
    /// Whether usage can be stored (requests are refused while it cannot).
    pub storage_ok: bool,
    /// (account id, window, utilization 0–1) of every subscription that reported windows.
    pub windows: Vec<(i64, &'static str, f64)>,
}

impl Metrics {
    /// Counts one finished request from its usage record.
    pub fn request(&self, r: &Record) {
        let p = PROTOCOLS.iter().position(|p| *p == r.protocol).unwrap_or(0);
        let o = Outcome::ALL
            .iter()
            .position(|o| *o == r.outcome)
            .unwrap_or(0);
        self.requests[p][o].fetch_add(1, Relaxed);
        self.durations[p].observe_micros(r.duration_ms.max(0) as u64 * 1000);
        let add = |c: &AtomicU64, v: i64| c.fetch_add(v.max(0) as u64, Relaxed);
        add(&self.tokens_input, r.input_tokens);
        add(&self.tokens_output, r.output_tokens);
        add(&self.tokens_cache_write, r.cache_creation_input_tokens);
        add(&self.tokens_cache_read, r.cache_read_input_tokens);
        match r.cost_nanos {
            Some(c) => {
                add(&self.cost_nanos, c);
            }
            None => {
                self.unpriced.fetch_add(1, Relaxed);
            }
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            &mut out,
            "aicarpool_requests_total",
            "counter",
            "Relayed requests by client protocol and outcome.",
        );
        for (p, row) in PROTOCOLS.iter().zip(&self.requests) {
            for (o, n) in Outcome::ALL.iter().zip(row) {
                let _ = writeln!(
                    out,
                    "aicarpool_requests_total{{protocol=\"{p}\",outcome=\"{}\"}} {}",
                    o.as_str(),
                    n.load(Relaxed)
                );
            }
        }
        head(
            &mut out,
            "aicarpool_request_duration_seconds",
            "histogram",
            "Time from request to last byte, by client protocol.",
        );
        for (p, h) in PROTOCOLS.iter().zip(&self.durations) {
            h.render(
                &mut out,
                "aicarpool_request_duration_seconds",
                &format!("protocol=\"{p}\""),
            );
        }
        head(
            &mut out,
            "aicarpool_tokens_total",
            "counter",
            "Tokens relayed, by kind.",
        );
        for (kind, c) in [
            ("input", &self.tokens_input),
            ("output", &self.tokens_output),
            ("cache_write", &self.tokens_cache_write),
            ("cache_read", &self.tokens_cache_read),
        ] {
            let _ = writeln!(
                out,
                "aicarpool_tokens_total{{kind=\"{kind}\"}} {}",
                c.load(Relaxed)
            );
        }
        let counters = [
            (
                "aicarpool_cost_usd_total",
                "Cost of priced requests in USD.",
                None,
            ),
            (
                "aicarpool_unpriced_requests_total",
                "Requests for models without a price.",
                Some(&self.unpriced),
            ),
            (
                "aicarpool_usage_journal_failures_total",
                "Usage records that could not be journaled (committed directly instead).",
                Some(&self.journal_failures),
            ),
            (
                "aicarpool_usage_commit_failures_total",
                "Usage batches whose commit to SQLite failed (they stay in the journal).",
                Some(&self.commit_failures),
            ),
            (
                "aicarpool_usage_quarantined_total",
                "Usage records the database refused, kept in journal/quarantine.log instead.",
                Some(&self.quarantined),
            ),
            (
                "aicarpool_usage_rows_committed_total",
                "Usage records committed to SQLite.",
                Some(&self.rows_committed),
            ),
        ];
        for (name, help, counter) in counters {
            head(&mut out, name, "counter", help);
            match counter {
                Some(c) => {
                    let _ = writeln!(out, "{name} {}", c.load(Relaxed));
                }
                None => {
                    let usd = self.cost_nanos.load(Relaxed) as f64 / 1e9;
                    let _ = writeln!(out, "{name} {usd}");
                }
            }
        }
        head(
            &mut out,
            "aicarpool_sqlite_commit_seconds",
            "histogram",
            "Time to commit one batch of usage records to SQLite.",
        );
        self.commits
            .render(&mut out, "aicarpool_sqlite_commit_seconds", "");
        head(
            &mut out,
            "aicarpool_usage_queue_depth",
            "gauge",
            "Usage records journaled and waiting to be committed.",
        );
        let _ = writeln!(out, "aicarpool_usage_queue_depth {}", g.usage_queue);
        head(
            &mut out,
            "aicarpool_accounts",
            "gauge",
            "Upstream accounts by status.",
        );
        for (status, n) in &g.accounts {
            let _ = writeln!(out, "aicarpool_accounts{{status=\"{status}\"}} {n}");
        }
        head(
            &mut out,
            "aicarpool_account_window_utilization",
            "gauge",
            "Used share (0-1) of a subscription's usage window, as it last reported.",
        );
        for (account, window, used) in &g.windows {
            let _ = writeln!(
                out,
                "aicarpool_account_window_utilization{{account=\"{account}\",window=\"{window}\"}} {used}"
            );
        }
        head(
            &mut out,
            "aicarpool_storage_ok",
            "gauge",
            "1 while usage can be stored; 0 while it cannot and requests are refused.",
        );
        let _ = writeln!(out, "aicarpool_storage_ok {}", u8::from(g.storage_ok));
        head(
            &mut out,
            "aicarpool_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
        );
        let _ = writeln!(out, "aicarpool_uptime_seconds {}", g.uptime_secs);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_sum_in_seconds() {
        let h = Histogram::new(&COMMIT_BUCKETS);
        h.observe_micros(300); // 0.0003 s: first bucket
        h.observe_micros(2_000); // 0.002 s: third bucket
        h.observe_micros(5_000_000); // 5 s: beyond the last bound
        let mut out = String::new();
        h.render(&mut out, "x", "");
        assert!(out.contains("x_bucket{le=\"0.0005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.0025\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_sum 5.0023\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
    }
}
