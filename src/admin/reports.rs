//! Admin API handlers that only read: the dashboard, request log, usage, settings and audit log.

use std::collections::BTreeMap;

use http::Response;
use jiff::{Timestamp, ToSpan};
use serde_json::json;

use super::{Call, ok};
use crate::domain::AccountStatus;
use crate::error::{Error, Result};
use crate::http::Body;
use crate::manage;
use crate::store::usage::{self, Bucket, By, LogFilter};
use crate::store::{admins, audit, now_ms};

const HOUR_MS: i64 = 3600 * 1000;

/// Charts and league tables for the last 24 hours (hourly) or 7 or 30 days (daily, in the
/// configured time zone), plus the accounts' health.
pub async fn dashboard(c: Call<'_>) -> Result<Response<Body>> {
    let range = c.query("range").unwrap_or("24h").to_owned();
    let now = now_ms();
    let tz = c.state.ctx.config.time_zone.clone();
    let mut first_day = String::new();
    let (since, series) = match range.as_str() {
        "24h" => {
            let first = (now / HOUR_MS - 23) * HOUR_MS;
            let rows = c
                .state
                .ctx
                .db
                .read(move |conn| usage::hourly(conn, first))
                .await?;
            let hours = (0..24).map(|i| (first + i * HOUR_MS).to_string());
            (first, fill(hours, rows))
        }
        "7d" | "30d" => {
            let n: i64 = if range == "7d" { 7 } else { 30 };
            let today = Timestamp::now().to_zoned(tz.clone()).date();
            let first = today
                .checked_sub((n - 1).days())
                .map_err(|e| Error::Internal(format!("date arithmetic: {e}")))?;
            let since = first
                .to_zoned(tz.clone())
                .map_err(|e| Error::Internal(format!("time zone: {e}")))?
                .timestamp()
                .as_millisecond();
            let first_label = first.to_string();
            first_day = first_label.clone();
            let rows = c
                .state
                .ctx
                .db
                .read(move |conn| usage::daily(conn, &first_label))
                .await?;
            let days =
                (0..n).filter_map(|i| first.checked_add(i.days()).ok().map(|d| d.to_string()));
            (since, fill(days, rows))
        }
        other => {
            return Err(Error::Invalid(format!(
                "unknown range {other:?} (24h, 7d or 30d)"
            )));
        }
    };
    let (total, keys, models, groups, accounts_used) = c
        .state
        .ctx
        .db
        .read(move |conn| {
            let top = |by| -> Result<Vec<usage::Totals>> {
                Ok(usage::grouped(conn, since, by)?
                    .into_iter()
                    .take(8)
                    .collect())
            };
            Ok((
                usage::total(conn, since)?,
                top(By::Key)?,
                top(By::Model)?,
                top(By::Group)?,
                top(By::Account)?,
            ))
        })
        .await?;
    let accounts = manage::accounts::list_accounts(&c.state.ctx).await?;
    let mut by_status: BTreeMap<&str, i64> =
        AccountStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for a in &accounts {
        *by_status.entry(a.status.as_str()).or_default() += 1;
    }
    let unhealthy: Vec<_> = accounts
        .iter()
        .filter(|a| a.status != AccountStatus::Active)
        .map(|a| {
            json!({
                "id": a.id, "name": a.name, "status": a.status,
                "reason": a.status_reason, "until": a.status_until,
            })
        })
        .collect();
    // Tokens per bucket broken down by the top models or keys, when asked.
    let breakdown = match c.query("by") {
        None | Some("") => None,
        Some(b @ ("model" | "key")) => {
            let by = if b == "model" { By::Model } else { By::Key };
            let hourly = range == "24h";
            let rows = c
                .state
                .ctx
                .db
                .read(move |conn| usage::tokens_by(conn, by, hourly, since, &first_day))
                .await?;
            Some(breakdown(&series, rows))
        }
        Some(other) => {
            return Err(Error::Invalid(format!(
                "unknown breakdown {other:?} (model or key)"
            )));
        }
    };
    let errors = series.iter().map(|b| b.errors).sum::<i64>();
    let requests = series.iter().map(|b| b.requests).sum::<i64>();
    ok(&json!({
        "range": range,
        "since": since,
        "storage_fault": c.state.gateway.meter.fault(),
        "series": series,
        "total": total,
        "error_rate": if requests > 0 { errors as f64 / requests as f64 } else { 0.0 },
        "accounts_by_status": by_status,
        "unhealthy_accounts": unhealthy,
        "top_keys": keys,
        "top_models": models,
        "top_groups": groups,
        "top_accounts": accounts_used,
        "breakdown": breakdown,
    }))
}

/// How many labels a breakdown names; the rest are summed as "other".
const BREAKDOWN_TOP: usize = 5;

/// `{labels, series: [{at, values}]}`: each bucket's tokens per label, the largest labels of the
/// whole range first and the rest as "other".
fn breakdown(series: &[Bucket], rows: Vec<(String, String, i64)>) -> serde_json::Value {
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for (_, l, t) in &rows {
        *totals.entry(l.as_str()).or_default() += t;
    }
    let mut order: Vec<(&str, i64)> = totals.into_iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut labels: Vec<String> = order
        .iter()
        .take(BREAKDOWN_TOP)
        .map(|(l, _)| (*l).to_owned())
        .collect();
    let other = order.len() > BREAKDOWN_TOP;
    let mut cells: BTreeMap<(&str, usize), i64> = BTreeMap::new();
    for (b, l, t) in &rows {
        let i = labels.iter().position(|x| x == l).unwrap_or(BREAKDOWN_TOP);
        *cells.entry((b.as_str(), i)).or_default() += t;
    }
    let width = labels.len() + usize::from(other);
    let out: Vec<serde_json::Value> = series
        .iter()
        .map(|bucket| {
            let values: Vec<i64> = (0..width)
                .map(|i| {
                    let i = if i == labels.len() { BREAKDOWN_TOP } else { i };
                    cells.get(&(bucket.at.as_str(), i)).copied().unwrap_or(0)
                })
                .collect();
            json!({ "at": bucket.at, "values": values })
        })
        .collect();
    if other {
        labels.push("other".to_owned());
    }
    json!({ "labels": labels, "series": out })
}

/// One key's page: where it stands, and its use of the last 30 days by day and by model.
pub async fn key_usage(c: Call<'_>) -> Result<Response<Body>> {
    let id = c.id()?;
    let key = manage::keys::list_keys(&c.state.ctx)
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| Error::NotFound(format!("no key with id {id}")))?;
    let now = now_ms();
    let labels = c.state.gateway.last_days(now, 30);
    let first = labels.first().cloned().unwrap_or_default();
    let (days, models) = c
        .state
        .ctx
        .db
        .read(move |conn| {
            Ok((
                usage::key_days(conn, id, &first)?,
                usage::key_models(conn, id, now - 30 * 24 * HOUR_MS)?,
            ))
        })
        .await?;
    ok(&json!({
        "key": key,
        "standing": c.state.gateway.standing(&key, now),
        "days": fill(labels.into_iter(), days),
        "models": models,
    }))
}

/// One bucket per label, empty where no request fell.
fn fill(labels: impl Iterator<Item = String>, rows: Vec<Bucket>) -> Vec<Bucket> {
    let mut rows: BTreeMap<String, Bucket> = rows.into_iter().map(|b| (b.at.clone(), b)).collect();
    labels
        .map(|at| {
            rows.remove(&at).unwrap_or(Bucket {
                at,
                ..Bucket::default()
            })
        })
        .collect()
}

fn number(c: &Call<'_>, name: &str) -> Result<Option<i64>> {
    c.query(name)
        .map(|v| {
            v.parse()
                .map_err(|_| Error::Invalid(format!("{name} must be a whole number")))
        })
        .transpose()
}

/// The request-log filter a query asks for.
fn log_filter(c: &Call<'_>, limit: i64) -> Result<LogFilter> {
    Ok(LogFilter {
        key_id: number(c, "key")?,
        account_id: number(c, "account")?,
        request_id: c.query("request_id").map(|r| r.trim().to_owned()),
        model: c.query("model").map(str::to_owned),
        status: c.query("status").map(str::to_owned),
        from: number(c, "from")?,
        to: number(c, "to")?,
        before_id: number(c, "before")?,
        limit,
    })
}

/// Rows one CSV export holds at most.
const EXPORT_ROWS: i64 = 50_000;
/// Rows read per query while exporting.
const EXPORT_PAGE: i64 = 500;

/// `GET /requests/export`: the filtered rows as CSV, newest first, for a spreadsheet.
pub async fn export_requests(c: Call<'_>) -> Result<Response<Body>> {
    let mut filter = log_filter(&c, EXPORT_PAGE)?;
    let rows = c
        .state
        .ctx
        .db
        .read(move |conn| {
            let mut all = Vec::new();
            loop {
                let page = usage::log_page(conn, &filter)?;
                let done = (page.len() as i64) < EXPORT_PAGE;
                filter.before_id = page.last().map(|r| r.id);
                all.extend(page);
                if done || all.len() as i64 >= EXPORT_ROWS {
                    return Ok(all);
                }
            }
        })
        .await?;
    let mut out = String::from(
        "request_id,started_at,key,account,endpoint,stream,model,upstream_model,translated,\
         status_code,outcome,input_tokens,output_tokens,cache_creation_input_tokens,\
         cache_read_input_tokens,cost_usd,unpriced,attempts,client,duration_ms,first_byte_ms,error,\
         tried\r\n",
    );
    for r in &rows {
        let started = Timestamp::from_millisecond(r.started_at)
            .map(|t| t.to_string())
            .unwrap_or_default();
        let fields = [
            r.request_id.clone(),
            started,
            r.key.clone().unwrap_or_default(),
            r.account.clone().unwrap_or_default(),
            r.endpoint.clone(),
            r.stream.to_string(),
            r.model.clone().unwrap_or_default(),
            r.upstream_model.clone().unwrap_or_default(),
            r.translated.to_string(),
            r.status_code.to_string(),
            r.outcome.clone(),
            r.input_tokens.to_string(),
            r.output_tokens.to_string(),
            r.cache_creation_input_tokens.to_string(),
            r.cache_read_input_tokens.to_string(),
            crate::domain::format_usd(r.cost_nanos),
            r.unpriced.to_string(),
            r.attempts.to_string(),
            r.client.clone().unwrap_or_default(),
            r.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
            r.first_byte_ms.map(|d| d.to_string()).unwrap_or_default(),
            r.error_message.clone().unwrap_or_default(),
            r.tried
                .iter()
                .map(|t| {
                    let status = t.status.map_or("no answer".to_owned(), |s| s.to_string());
                    format!("account {} {status}: {}", t.account_id, t.error)
                })
                .collect::<Vec<_>>()
                .join("; "),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    Response::builder()
        .header(http::header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"aicarpool-requests.csv\"",
        )
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(crate::http::full(bytes::Bytes::from(out)))
        .map_err(|e| Error::Internal(format!("a CSV response: {e}")))
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break; a leading
/// `=`, `+`, `-` or `@` is prefixed with `'` so a spreadsheet does not run it as a formula.
fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) && v.parse::<f64>().is_err() {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// A page of the request log; `next_before` continues it.
pub async fn requests(c: Call<'_>) -> Result<Response<Body>> {
    let filter = log_filter(&c, number(&c, "limit")?.unwrap_or(50).clamp(1, 500))?;
    let limit = filter.limit;
    let rows = c
        .state
        .ctx
        .db
        .read(move |conn| usage::log_page(conn, &filter))
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    ok(&json!({ "rows": rows, "next_before": next }))
}

/// Usage totals since `since` (epoch ms, default 30 days), optionally per key, account,
/// model or group — the `aicarpool usage` report.
pub async fn usage(c: Call<'_>) -> Result<Response<Body>> {
    let since = number(&c, "since")?.unwrap_or(now_ms() - 30 * 24 * HOUR_MS);
    let by = match c.query("by") {
        None => None,
        Some("key") => Some(By::Key),
        Some("account") => Some(By::Account),
        Some("model") => Some(By::Model),
        Some("group") => Some(By::Group),
        Some(other) => {
            return Err(Error::Invalid(format!(
                "unknown grouping {other:?} (key, account, model or group)"
            )));
        }
    };
    ok(&json!(
        manage::usage::report(&c.state.ctx, since, by).await?
    ))
}

/// What the running service was configured with (environment variables and flags, and the
/// account policy as changed here), and who can sign in.
pub async fn settings(c: Call<'_>) -> Result<Response<Body>> {
    let cfg = &c.state.ctx.config;
    let admins = c.state.ctx.db.read(admins::list).await?;
    let secs = |d: std::time::Duration| d.as_secs();
    let policy = |p: &crate::config::AccountPolicy| {
        json!({
            "error_threshold": p.error_threshold,
            "error_window_secs": secs(p.error_window),
            "temp_error_cooldown_secs": secs(p.temp_error_cooldown),
            "recovery_interval_secs": secs(p.recovery_interval),
        })
    };
    ok(&json!({
        "version": env!("CARGO_PKG_VERSION"),
        "accounts": policy(&c.state.gateway.health.policy()),
        "accounts_environment": policy(&cfg.accounts),
        "accounts_override": manage::settings::policy_override(&c.state.ctx).await?,
        "upstream": {
            "connect_timeout_secs": secs(cfg.upstream.connect_timeout),
            "first_byte_timeout_secs": secs(cfg.upstream.first_byte_timeout),
            "idle_timeout_secs": secs(cfg.upstream.idle_timeout),
            "max_attempts": cfg.upstream.max_attempts,
            "sticky_ttl_secs": secs(cfg.upstream.sticky_ttl),
            "rate_limit_default_secs": secs(cfg.upstream.rate_limit_default),
            "rate_limit_cap_secs": secs(cfg.upstream.rate_limit_cap),
        },
        "http": {
            "listen": cfg.listen.to_string(),
            "tls": cfg.tls.is_some(),
            "max_body_bytes": cfg.http.max_body_bytes,
            "queue_timeout_secs": secs(cfg.queue_timeout),
            "shutdown_drain_secs": secs(cfg.shutdown_drain),
        },
        "time_zone": cfg.time_zone.iana_name().unwrap_or("UTC"),
        "data_dir": cfg.data_dir.display().to_string(),
        "admins": admins.iter().map(|(id, name, created)| json!({
            "id": id, "username": name, "created_at": created,
        })).collect::<Vec<_>>(),
    }))
}

/// A page of the audit log, newest first; `next_before` continues it.
pub async fn audit(c: Call<'_>) -> Result<Response<Body>> {
    let before = number(&c, "before")?;
    let limit = number(&c, "limit")?.unwrap_or(50).clamp(1, 500);
    let rows = c
        .state
        .ctx
        .db
        .read(move |conn| audit::page(conn, before, limit))
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    ok(&json!({ "rows": rows, "next_before": next }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_breakdown_names_the_largest_and_sums_the_rest() {
        let series: Vec<super::Bucket> = ["d1", "d2"]
            .iter()
            .map(|d| super::Bucket {
                at: (*d).into(),
                ..Default::default()
            })
            .collect();
        let mut rows = vec![("d1".to_owned(), "big".to_owned(), 100)];
        for (i, m) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
            rows.push(("d2".into(), (*m).into(), 10 + i as i64));
        }
        let v = super::breakdown(&series, rows);
        assert_eq!(
            v["labels"],
            serde_json::json!(["big", "f", "e", "d", "c", "other"])
        );
        assert_eq!(
            v["series"][0]["values"],
            serde_json::json!([100, 0, 0, 0, 0, 0])
        );
        assert_eq!(
            v["series"][1]["values"],
            serde_json::json!([0, 15, 14, 13, 12, 21])
        );
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(super::csv_field("plain"), "plain");
        assert_eq!(super::csv_field("a,b"), "\"a,b\"");
        assert_eq!(super::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(super::csv_field("-5"), "-5");
    }
}
