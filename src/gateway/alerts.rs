//! Webhook alerts for account state changes and group budget warnings. Events are read from
//! the database (status history, audit log), so changes made by the gateway, the admin page
//! and the CLI all count; each is sent once (a cursor in `settings` survives restarts),
//! retried with backoff, on a task of its own that no request ever waits for.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::Full;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::crypto::Secret;
use crate::error::Result;
use crate::store::{Db, now_ms, settings};
use crate::tasks::{self, Shutdown};
use crate::upstream::client::HttpClient;

const CURSOR_KEY: &str = "webhook_cursor";
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Waits between attempts at one event; after the last, it is dropped (and logged).
const BACKOFF: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(4),
    Duration::from_secs(16),
];
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The same account entering the same state again within this long is not announced again
/// (an account flapping between ACTIVE and TEMP_ERROR would otherwise flood the channel).
const REPEAT_QUIET_MS: i64 = 10 * 60 * 1000;

/// How far the events have been sent: the last status-history and audit-log ids.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Cursor {
    history: i64,
    audit: i64,
}

/// One event to announce: where it sits in its table, and its JSON body.
#[derive(Debug)]
struct Event {
    /// When it happened (epoch ms): events of both tables go out in this order.
    at: i64,
    cursor: Cursor,
    /// `(account id, new status)` for account changes, for the repeat filter.
    repeat_key: Option<(i64, String)>,
    body: Value,
}

/// Where delivery stands: the saved cursor (loaded on the first turn) and when each account's
/// state was last announced, for the repeat filter.
#[derive(Default)]
struct Progress {
    cursor: Option<Cursor>,
    last_sent: HashMap<(i64, String), i64>,
}

/// Starts the alert loop when a webhook URL is configured; it ends at `shutdown`.
pub fn start(db: Db, client: HttpClient, url: Option<Secret>, shutdown: Shutdown) {
    let Some(url) = url else { return };
    let progress = Arc::new(tokio::sync::Mutex::new(Progress::default()));
    tasks::every(
        "webhooks",
        || POLL_EVERY,
        shutdown,
        move || {
            let (db, client, url, progress) =
                (db.clone(), client.clone(), url.clone(), progress.clone());
            async move {
                // One turn at a time: the lock is held across deliveries, and turns never overlap.
                let mut p = progress.lock().await;
                let from = match p.cursor {
                    Some(c) => c,
                    None => db
                        .write(load_or_init_cursor)
                        .await
                        .map_err(|e| format!("webhook alerts could not start: {e}"))?,
                };
                p.cursor = Some(from);
                let events = db
                    .read(move |c| pending(c, from))
                    .await
                    .map_err(|e| format!("reading events for webhooks failed: {e}"))?;
                for event in events {
                    let quiet = event.repeat_key.as_ref().is_some_and(|k| {
                        p.last_sent
                            .get(k)
                            .is_some_and(|at| now_ms() - at < REPEAT_QUIET_MS)
                    });
                    // A null body only moves the cursor past rows that are not events.
                    if !quiet && !event.body.is_null() {
                        deliver(&client, &url, &event.body).await;
                        if let Some(k) = event.repeat_key {
                            p.last_sent.insert(k, now_ms());
                        }
                    }
                    p.cursor = Some(event.cursor);
                    let c = event.cursor;
                    if let Err(e) = db.write(move |conn| save_cursor(conn, c)).await {
                        warn!(error = %e, "could not save the webhook cursor");
                    }
                }
                Ok(())
            }
        },
    );
}

/// POSTs `body`, retrying on failure; gives up after the last backoff.
async fn deliver(client: &HttpClient, url: &Secret, body: &Value) {
    let bytes = Bytes::from(body.to_string());
    for (attempt, wait) in std::iter::once(Duration::ZERO).chain(BACKOFF).enumerate() {
        tokio::time::sleep(wait).await;
        let req = Request::post(url.0.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                concat!("aicarpool/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(bytes.clone()));
        let req = match req {
            Ok(r) => r,
            // The URL itself is never logged: it often carries a token.
            Err(_) => return warn!("AICARPOOL_WEBHOOK_URL is not a usable URL"),
        };
        let outcome = match tokio::time::timeout(SEND_TIMEOUT, client.request(req)).await {
            Ok(Ok(resp)) if resp.status().is_success() => return,
            Ok(Ok(resp)) => format!("answered {}", resp.status()),
            Ok(Err(e)) => format!("could not connect: {}", super::relay::root_cause(&e)),
            Err(_) => "timed out".to_owned(),
        };
        warn!(attempt = attempt + 1, %outcome, event = %body["event"], "webhook delivery failed");
    }
    warn!(event = %body["event"], "webhook delivery given up after retries");
}

/// The saved cursor; on first use, the current ends of both tables, so history from before
/// alerts were turned on is not replayed.
fn load_or_init_cursor(conn: &Connection) -> Result<Cursor> {
    if let Some(text) = settings::get(conn, CURSOR_KEY)?
        && let Ok(c) = serde_json::from_str(&text)
    {
        return Ok(c);
    }
    let c = Cursor {
        history: conn.query_row(
            "SELECT coalesce(max(id), 0) FROM account_status_history",
            [],
            |r| r.get(0),
        )?,
        audit: conn.query_row("SELECT coalesce(max(id), 0) FROM audit_log", [], |r| {
            r.get(0)
        })?,
    };
    save_cursor(conn, c)?;
    info!("webhook alerts on; announcing changes from now on");
    Ok(c)
}

fn save_cursor(conn: &Connection, c: Cursor) -> Result<()> {
    settings::set(
        conn,
        CURSOR_KEY,
        &serde_json::to_string(&c).expect("cursor serializes"),
    )
}

/// Events after `from`, in the order they happened.
fn pending(conn: &Connection, from: Cursor) -> Result<Vec<Event>> {
    // One snapshot for every query: otherwise a warning written between reading the warnings
    // and reading the audit log's end would be skipped by the cursor without being sent.
    let snapshot = conn.unchecked_transaction()?;
    let events = pending_in(&snapshot, from)?;
    snapshot.finish()?;
    Ok(events)
}

fn pending_in(conn: &Connection, from: Cursor) -> Result<Vec<Event>> {
    let mut events = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT h.id, h.account_id, coalesce(a.name, '(deleted)'), h.from_status, h.to_status,
            h.reason, h.actor, h.at, a.status_until
         FROM account_status_history h LEFT JOIN ai_service_accounts a ON a.id = h.account_id
         WHERE h.id > ?1 ORDER BY h.id LIMIT 100",
    )?;
    let rows = stmt.query_map(params![from.history], |r| {
        let (id, account, name): (i64, i64, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let (was, now): (Option<String>, String) = (r.get(3)?, r.get(4)?);
        let (reason, actor, at): (Option<String>, String, i64) = (r.get(5)?, r.get(6)?, r.get(7)?);
        let until: Option<i64> = r.get(8)?;
        let text = format!(
            "aicarpool: account {name} is now {now}{}{}",
            was.as_deref()
                .map(|w| format!(" (was {w})"))
                .unwrap_or_default(),
            reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default(),
        );
        Ok(Event {
            at,
            cursor: Cursor {
                history: id,
                audit: from.audit,
            },
            repeat_key: Some((account, now.clone())),
            body: json!({
                "event": "account.status_changed", "text": text,
                "account": { "id": account, "name": name },
                "from": was, "to": now, "reason": reason, "by": actor, "at": at,
                "until": if now == "TEMP_ERROR" || now == "RATE_LIMITED" { until } else { None },
            }),
        })
    })?;
    for e in rows {
        events.push(e?);
    }
    let mut stmt = conn.prepare(
        "SELECT l.id, l.target_id, coalesce(g.name, '(deleted)'), l.detail, l.at
         FROM audit_log l LEFT JOIN groups g ON g.id = l.target_id
         WHERE l.id > ?1 AND l.action = 'budget.warning' ORDER BY l.id LIMIT 100",
    )?;
    let rows = stmt.query_map(params![from.audit], |r| {
        let (id, group, name): (i64, Option<i64>, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let detail: Value = r
            .get::<_, Option<String>>(3)?
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or(Value::Null);
        let at: i64 = r.get(4)?;
        let text = format!(
            "aicarpool: group {name} has used {} of its {} budget ({})",
            detail["used"], detail["budget"], detail["limit"]
        );
        Ok(Event {
            at,
            cursor: Cursor {
                history: from.history,
                audit: id,
            },
            repeat_key: None,
            body: json!({
                "event": "budget.warning", "text": text,
                "group": { "id": group, "name": name }, "detail": detail, "at": at,
            }),
        })
    })?;
    let mut warnings = 0;
    for e in rows {
        events.push(e?);
        warnings += 1;
    }
    // The audit log mostly holds admin changes: once every warning after the cursor has been
    // read (the LIMIT was not hit), move it past the other rows too, so polls stay short.
    if warnings < 100 {
        let newest_audit: i64 = conn.query_row(
            "SELECT coalesce(max(id), ?1) FROM (SELECT id FROM audit_log WHERE id > ?1
                ORDER BY id LIMIT 1000)",
            params![from.audit],
            |r| r.get(0),
        )?;
        let read_up_to = events
            .iter()
            .map(|e| e.cursor.audit)
            .max()
            .unwrap_or(from.audit);
        if newest_audit > read_up_to {
            events.push(Event {
                at: i64::MAX,
                cursor: Cursor {
                    history: from.history,
                    audit: newest_audit,
                },
                repeat_key: None,
                body: Value::Null,
            });
        }
    }
    // In the order they happened; each event's cursor then covers everything before it.
    events.sort_by_key(|e| e.at);
    let mut running = from;
    for e in &mut events {
        running.history = running.history.max(e.cursor.history);
        running.audit = running.audit.max(e.cursor.audit);
        e.cursor = running;
    }
    Ok(events)
}
