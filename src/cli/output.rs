//! Printing command results: aligned text tables for people, JSON for scripts (`--json`).

use serde::Serialize;
use serde_json::json;

use crate::domain::format_usd;
use crate::manage::usage::Report;
use crate::store::accounts::{Account, StatusChange};
use crate::store::groups::Group;
use crate::store::keys::ApiKey;
use crate::store::migrate::{Prepared, State, Status};

pub struct Out {
    pub json: bool,
}

/// Epoch milliseconds as an RFC 3339 UTC time.
fn time(ms: Option<i64>) -> String {
    ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "-".into())
}

fn table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
}

impl Out {
    fn print_json(&self, value: &impl Serialize) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("output serializes")
        );
    }

    pub fn message(&self, text: &str, value: &serde_json::Value) {
        if self.json {
            self.print_json(value);
        } else {
            println!("{text}");
        }
    }

    pub fn migrations(&self, statuses: &[Status]) {
        if self.json {
            return self.print_json(&statuses);
        }
        table(
            &["VERSION", "NAME", "STATE", "APPLIED"],
            statuses
                .iter()
                .map(|s| {
                    let state = match s.state {
                        State::Applied => "applied",
                        State::Pending => "pending",
                        State::Modified => "MODIFIED after apply",
                        State::Unknown => "UNKNOWN to this binary",
                    };
                    vec![
                        s.version.to_string(),
                        s.name.clone(),
                        state.into(),
                        s.applied_on.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect(),
        );
    }

    pub fn migrated(&self, p: &Prepared) {
        if self.json {
            return self.print_json(&json!({ "applied": p.applied, "backup": p.backup }));
        }
        if let Some(b) = &p.backup {
            println!("backed up the database to {}", b.display());
        }
        if p.applied.is_empty() {
            println!("schema is up to date");
        }
        for m in &p.applied {
            println!("applied V{}__{}", m.version, m.name);
        }
    }

    pub fn group(&self, g: &Group) {
        if self.json {
            return self.print_json(g);
        }
        println!("group {} created (id {})", g.name, g.id);
    }

    pub fn prices(&self, rows: &[crate::manage::prices::PriceRow]) {
        if self.json {
            return self.print_json(&rows);
        }
        table(
            &[
                "MODEL",
                "INPUT",
                "OUTPUT",
                "CACHE WRITE",
                "CACHE WRITE 1H",
                "CACHE READ",
            ],
            rows.iter()
                .map(|r| {
                    vec![
                        r.model.clone(),
                        r.input_usd_per_mtok.clone(),
                        r.output_usd_per_mtok.clone(),
                        r.cache_write_usd_per_mtok.clone(),
                        r.cache_write_1h_usd_per_mtok.clone(),
                        r.cache_read_usd_per_mtok.clone(),
                    ]
                })
                .collect(),
        );
        println!("(USD per million tokens)");
    }

    pub fn groups(&self, groups: &[Group]) {
        if self.json {
            return self.print_json(&groups);
        }
        table(
            &["ID", "NAME", "ACCOUNTS", "KEYS", "BUDGETS", "DESCRIPTION"],
            groups
                .iter()
                .map(|g| {
                    vec![
                        g.id.to_string(),
                        g.name.clone(),
                        g.accounts.to_string(),
                        g.keys.to_string(),
                        describe_budgets(&g.budgets),
                        g.description.clone().unwrap_or_default(),
                    ]
                })
                .collect(),
        );
    }

    pub fn account(&self, a: &Account) {
        if self.json {
            return self.print_json(a);
        }
        self.accounts(std::slice::from_ref(a));
    }

    pub fn accounts(&self, accounts: &[Account]) {
        if self.json {
            return self.print_json(&accounts);
        }
        table(
            &[
                "ID", "NAME", "PLATFORM", "STATUS", "PRIO", "WEIGHT", "GROUPS", "5H / 7D", "UNTIL",
                "REASON",
            ],
            accounts
                .iter()
                .map(|a| {
                    vec![
                        a.id.to_string(),
                        a.name.clone(),
                        a.platform.to_string(),
                        a.status.to_string(),
                        a.priority.to_string(),
                        a.weight.to_string(),
                        a.groups
                            .iter()
                            .map(|b| b.group.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                        windows_short(a),
                        time(a.status_until),
                        a.status_reason
                            .clone()
                            .or_else(|| refresh_failing(a))
                            .unwrap_or_default(),
                    ]
                })
                .collect(),
        );
    }

    pub fn account_detail(&self, a: &Account, history: &[StatusChange]) {
        if self.json {
            return self.print_json(&json!({ "account": a, "history": history }));
        }
        let base = a
            .base_url
            .clone()
            .or_else(|| {
                a.platform
                    .default_base_url()
                    .map(|u| format!("{u} (default)"))
            })
            .unwrap_or_default();
        let models = if a.supported_models.is_empty() {
            "all".to_string()
        } else {
            a.supported_models.join(",")
        };
        for (k, v) in [
            ("id", a.id.to_string()),
            ("name", a.name.clone()),
            ("platform", a.platform.to_string()),
            ("base url", base),
            ("status", a.status.to_string()),
            ("reason", a.status_reason.clone().unwrap_or_default()),
            ("until", time(a.status_until)),
            ("5h window", window_line(a, "5h")),
            ("7d window", window_line(a, "7d")),
            ("daily quota", window_line(a, "1d")),
            (
                "upstream account",
                a.workspace.clone().unwrap_or_else(|| "-".into()),
            ),
            ("tokens", refresh_failing(a).unwrap_or_else(|| "-".into())),
            ("priority", a.priority.to_string()),
            ("weight", a.weight.to_string()),
            ("models", models),
            (
                "proxy",
                a.proxy
                    .as_ref()
                    .map(|p| p.display_url())
                    .unwrap_or_else(|| "-".into()),
            ),
            (
                "secret",
                if a.credentials.is_some() {
                    "set (encrypted)"
                } else {
                    "not set"
                }
                .into(),
            ),
        ] {
            println!("{k:<10} {v}");
        }
        println!();
        table(
            &["AT", "FROM", "TO", "BY", "REASON"],
            history
                .iter()
                .map(|h| {
                    vec![
                        time(Some(h.at)),
                        h.from.clone().unwrap_or_else(|| "-".into()),
                        h.to.clone(),
                        h.actor.clone(),
                        h.reason.clone().unwrap_or_default(),
                    ]
                })
                .collect(),
        );
    }

    pub fn new_key(&self, k: &ApiKey, plaintext: &str) {
        if self.json {
            return self.print_json(&json!({
                "id": k.id, "key": plaintext, "prefix": k.prefix, "group": k.group,
                "name": k.name, "limits": k.limits,
            }));
        }
        println!("key {} for group {} (id {}):", k.name, k.group, k.id);
        println!();
        println!("    {plaintext}");
        println!();
        println!(
            "It is shown only now; store it safely. Only its prefix {} is kept.",
            k.prefix
        );
    }

    pub fn key(&self, k: &ApiKey) {
        if self.json {
            return self.print_json(k);
        }
        self.keys(std::slice::from_ref(k));
    }

    pub fn keys(&self, keys: &[ApiKey]) {
        if self.json {
            return self.print_json(&keys);
        }
        table(
            &[
                "ID",
                "GROUP",
                "NAME",
                "PREFIX",
                "STATUS",
                "LAST USED",
                "LIMITS",
            ],
            keys.iter()
                .map(|k| {
                    vec![
                        k.id.to_string(),
                        k.group.clone(),
                        k.name.clone(),
                        k.prefix.clone(),
                        k.status.to_string(),
                        time(k.last_used_at),
                        describe_limits(k),
                    ]
                })
                .collect(),
        );
    }

    pub fn usage(&self, r: &Report) {
        if self.json {
            return self.print_json(r);
        }
        let row = |label: String, t: &crate::store::usage::Totals| {
            vec![
                label,
                t.requests.to_string(),
                t.input_tokens.to_string(),
                t.output_tokens.to_string(),
                t.cache_creation_input_tokens.to_string(),
                t.cache_read_input_tokens.to_string(),
                cost_cell(t.cost_nanos, t.unpriced_requests, t.requests),
            ]
        };
        let mut rows: Vec<Vec<String>> = r
            .rows
            .iter()
            .map(|t| row(t.label.clone().unwrap_or_default(), t))
            .collect();
        rows.push(row("TOTAL".into(), &r.total));
        table(
            &[
                r.by.unwrap_or(""),
                "REQUESTS",
                "INPUT",
                "OUTPUT",
                "CACHE WRITE",
                "CACHE READ",
                "COST USD",
            ],
            rows,
        );
        if r.total.unpriced_requests > 0 {
            println!(
                "{} request(s) used a model without a price and are not in COST USD \
                 (see `aicarpool price set`).",
                r.total.unpriced_requests
            );
        }
    }
}

/// A cost as shown to people: requests without a price are said to be unpriced, never
/// counted as $0.00.
fn cost_cell(nanos: i64, unpriced: i64, requests: i64) -> String {
    match unpriced {
        0 => format_usd(nanos),
        n if n >= requests => "unpriced".into(),
        n => format!("{} + {n} unpriced", format_usd(nanos)),
    }
}

/// A one-line summary of a group's budgets.
fn describe_budgets(b: &crate::store::groups::Budgets) -> String {
    let mut parts = Vec::new();
    for (label, tokens) in [("day", b.daily_tokens), ("month", b.monthly_tokens)] {
        if let Some(n) = tokens {
            parts.push(format!("{n} tokens/{label}"));
        }
    }
    for (label, cost) in [("day", b.daily_cost_nanos), ("month", b.monthly_cost_nanos)] {
        if let Some(n) = cost {
            parts.push(format!("${}/{label}", format_usd(n)));
        }
    }
    if parts.is_empty() {
        return "-".into();
    }
    format!("{} (warn at {}%)", parts.join(", "), b.warning_percent)
}

/// A one-line summary of a key's limits.
fn describe_limits(k: &ApiKey) -> String {
    let l = &k.limits;
    let mut parts = Vec::new();
    if let Some(t) = l.expires_at {
        parts.push(format!("expires {}", time(Some(t))));
    }
    if let Some(d) = l.expires_days_after_first_use {
        parts.push(format!("expires {d}d after first use"));
    }
    if let (Some(n), Some(m)) = (l.rate_requests, l.rate_window_minutes) {
        parts.push(format!("{n} req/{m}min"));
    }
    if let Some(c) = l.concurrency {
        parts.push(format!(
            "concurrency {c}{}",
            l.queue.map(|q| format!(" queue {q}")).unwrap_or_default()
        ));
    }
    if let Some(t) = l.daily_tokens {
        parts.push(format!("{t} tokens/day"));
    }
    if let Some(t) = l.total_tokens {
        parts.push(format!("{t} tokens total"));
    }
    for (label, v) in [
        ("/day", l.daily_cost_nanos),
        ("/week", l.weekly_cost_nanos),
        (" total", l.total_cost_nanos),
    ] {
        if let Some(n) = v {
            parts.push(format!("${}{label}", format_usd(n)));
        }
    }
    for (label, list) in [
        ("models", &l.models),
        ("clients", &l.clients),
        ("platforms", &l.platforms),
    ] {
        if !list.is_empty() {
            parts.push(format!("{label} {}", list.join(",")));
        }
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join("; ")
    }
}

/// A window's utilization as a percentage, `-` when unknown.
fn window_percent(a: &Account, window: &str) -> Option<f64> {
    a.windows
        .as_ref()?
        .get(window)?
        .get("utilization")?
        .as_f64()
        .map(|u| u * 100.0)
}

/// `42% / 7%` for the list.
fn windows_short(a: &Account) -> String {
    let p = |w| window_percent(a, w).map_or("-".to_owned(), |p| format!("{p:.0}%"));
    if a.windows.is_none() {
        return "-".into();
    }
    // Code Assist reports one daily quota instead.
    if a.windows.as_ref().is_some_and(|w| w.get("1d").is_some()) {
        return format!("day {}", p("1d"));
    }
    format!("{} / {}", p("5h"), p("7d"))
}

/// `42% used, allowed, resets 2026-12-01 15:00` for the detail view.
fn window_line(a: &Account, window: &str) -> String {
    let Some(w) = a.windows.as_ref().and_then(|w| w.get(window)) else {
        return "-".into();
    };
    let used = window_percent(a, window).map_or("?".to_owned(), |p| format!("{p:.0}% used"));
    let status = w
        .get("status")
        .and_then(|s| s.as_str())
        .unwrap_or("unknown");
    let resets = w.get("resets_at").and_then(|r| r.as_i64());
    format!("{used}, {status}, resets {}", time(resets))
}

/// "token refresh failing since …, last error …", when it is.
fn refresh_failing(a: &Account) -> Option<String> {
    let since = a.refresh_failing_since?;
    Some(format!(
        "token refresh failing since {}, last error: {}",
        time(Some(since)),
        a.refresh_error.as_deref().unwrap_or("unknown")
    ))
}
