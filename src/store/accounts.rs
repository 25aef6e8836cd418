//! SQL for `ai_service_accounts` (upstream accounts), their `group_accounts` bindings and the
//! `account_status_history` every status change writes.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::now_ms;
use crate::config::AccountPolicy;
use crate::domain::{AccountStatus, Platform};
use crate::error::{Error, Result};
use crate::lifecycle::{self, Current, Event, Next};

/// Outbound proxy of an account; the password is sealed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Proxy {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    #[serde(skip)]
    pub password: Option<Vec<u8>>,
}

impl Proxy {
    /// The proxy as a URL for display: never with its password.
    pub fn display_url(&self) -> String {
        let user = match &self.username {
            Some(u) if self.password.is_some() => format!("{u}:***@"),
            Some(u) => format!("{u}@"),
            None => String::new(),
        };
        format!("{}://{user}{}:{}", self.scheme, self.host, self.port)
    }
}

/// A group an account serves, with the group's own priority/weight overrides.
#[derive(Clone, Debug, Serialize)]
pub struct Binding {
    pub group_id: i64,
    pub group: String,
    pub priority: Option<i64>,
    pub weight: Option<i64>,
}

/// One upstream account. Sealed secrets are never serialized.
#[derive(Clone, Debug, Serialize)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub platform: Platform,
    /// The configured base URL; `None` uses the platform's official endpoint.
    pub base_url: Option<String>,
    #[serde(skip)]
    pub credentials: Option<Vec<u8>>,
    pub status: AccountStatus,
    pub status_reason: Option<String>,
    pub status_until: Option<i64>,
    pub last_error_at: Option<i64>,
    pub error_count: i64,
    pub priority: i64,
    pub weight: i64,
    pub supported_models: Vec<String>,
    pub model_mapping: serde_json::Map<String, serde_json::Value>,
    pub user_agent: Option<String>,
    pub proxy: Option<Proxy>,
    pub groups: Vec<Binding>,
    pub total_requests: i64,
    pub total_tokens: i64,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// A Claude subscription's sealed access and refresh tokens, and when the access expires.
    #[serde(skip)]
    pub oauth_access: Option<Vec<u8>>,
    #[serde(skip)]
    pub oauth_refresh: Option<Vec<u8>>,
    pub oauth_expires_at: Option<i64>,
    /// The models the upstream itself lists (fetched after creation and on `account test`);
    /// `None` until fetched.
    pub upstream_models: Option<Vec<String>>,
    /// When the error window last started afresh (errors before it no longer count).
    pub errors_reset_at: Option<i64>,
    /// A subscription's usage windows as last reported (`{"5h": {..}, "7d": {..}, ..}`).
    pub windows: Option<serde_json::Value>,
    /// Since when refreshing the subscription's token fails, and the last error.
    pub refresh_failing_since: Option<i64>,
    pub refresh_error: Option<String>,
    /// A subscription may draw on paid extra usage.
    pub allow_overage: bool,
    /// Requests in flight at once, at most (none: no cap).
    pub max_concurrency: Option<i64>,
    /// The upstream's own account a subscription's requests name: the ChatGPT account id
    /// (codex-oauth) or the Google Cloud project (gemini-oauth).
    pub workspace: Option<String>,
    /// An OpenAI-compatible account serves the Responses API too; `None`: by its host
    /// ([`crate::domain::speaks_responses`]).
    pub responses_api: Option<bool>,
}

const SELECT: &str = "SELECT id, name, description, platform, base_url, credentials, status,
        status_reason, status_until, last_error_at, error_count, priority, weight,
        supported_models, model_mapping, claude_console_user_agent,
        proxy_type, proxy_host, proxy_port, proxy_username, proxy_password,
        total_requests + coalesce((SELECT sum(d.requests) FROM usage_daily d
            WHERE d.account_id = ai_service_accounts.id), 0),
        total_tokens + coalesce((SELECT sum(d.input_tokens + d.output_tokens
            + d.cache_creation_input_tokens + d.cache_read_input_tokens) FROM usage_daily d
            WHERE d.account_id = ai_service_accounts.id), 0),
        coalesce((SELECT max(l.started_at) FROM api_key_request_log l
            WHERE l.account_id = ai_service_accounts.id), last_used_at),
        created_at, updated_at, oauth_access_token, oauth_refresh_token, oauth_expires_at,
        upstream_models, errors_reset_at,
        (SELECT r.windows FROM account_runtime r WHERE r.account_id = ai_service_accounts.id),
        (SELECT r.refresh_failing_since FROM account_runtime r
            WHERE r.account_id = ai_service_accounts.id),
        (SELECT r.refresh_error FROM account_runtime r WHERE r.account_id = ai_service_accounts.id),
        allow_overage, max_concurrency, workspace, responses_api
    FROM ai_service_accounts";

fn parse_text<T: std::str::FromStr<Err = String>>(idx: usize, s: String) -> rusqlite::Result<T> {
    s.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, e.into())
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(idx: usize, s: String) -> rusqlite::Result<T> {
    serde_json::from_str(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, e.into())
    })
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    let proxy_scheme: Option<String> = r.get(16)?;
    let proxy = match proxy_scheme {
        Some(scheme) => Some(Proxy {
            scheme,
            host: r.get(17)?,
            port: r.get(18)?,
            username: r.get(19)?,
            password: r.get(20)?,
        }),
        None => None,
    };
    Ok(Account {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        platform: parse_text(3, r.get(3)?)?,
        base_url: r.get(4)?,
        credentials: r.get(5)?,
        status: parse_text(6, r.get(6)?)?,
        status_reason: r.get(7)?,
        status_until: r.get(8)?,
        last_error_at: r.get(9)?,
        error_count: r.get(10)?,
        priority: r.get(11)?,
        weight: r.get(12)?,
        supported_models: parse_json(13, r.get(13)?)?,
        model_mapping: parse_json(14, r.get(14)?)?,
        user_agent: r.get(15)?,
        proxy,
        groups: Vec::new(),
        total_requests: r.get(21)?,
        total_tokens: r.get(22)?,
        last_used_at: r.get(23)?,
        created_at: r.get(24)?,
        updated_at: r.get(25)?,
        oauth_access: r.get(26)?,
        oauth_refresh: r.get(27)?,
        oauth_expires_at: r.get(28)?,
        upstream_models: match r.get::<_, Option<String>>(29)? {
            Some(text) => Some(parse_json(29, text)?),
            None => None,
        },
        errors_reset_at: r.get(30)?,
        windows: match r.get::<_, Option<String>>(31)? {
            Some(text) => Some(parse_json(31, text)?),
            None => None,
        },
        refresh_failing_since: r.get(32)?,
        refresh_error: r.get(33)?,
        allow_overage: r.get(34)?,
        max_concurrency: r.get(35)?,
        workspace: r.get(36)?,
        responses_api: r.get(37)?,
    })
}

fn bindings(conn: &Connection, account_id: i64) -> Result<Vec<Binding>> {
    let mut stmt = conn.prepare_cached(
        "SELECT b.group_id, g.name, b.priority, b.weight FROM group_accounts b
         JOIN groups g ON g.id = b.group_id WHERE b.account_id = ?1 ORDER BY g.name",
    )?;
    let rows = stmt.query_map([account_id], |r| {
        Ok(Binding {
            group_id: r.get(0)?,
            group: r.get(1)?,
            priority: r.get(2)?,
            weight: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn list(conn: &Connection) -> Result<Vec<Account>> {
    let mut stmt = conn.prepare(&format!(
        "{SELECT} WHERE deleted_at IS NULL ORDER BY priority, id"
    ))?;
    let mut accounts: Vec<Account> = stmt
        .query_map([], from_row)?
        .collect::<rusqlite::Result<_>>()?;
    for a in &mut accounts {
        a.groups = bindings(conn, a.id)?;
    }
    Ok(accounts)
}

pub fn find_by_id(conn: &Connection, id: i64) -> Result<Option<Account>> {
    let account = conn
        .query_row(
            &format!("{SELECT} WHERE id = ?1 AND deleted_at IS NULL"),
            [id],
            from_row,
        )
        .optional()?;
    match account {
        Some(mut a) => {
            a.groups = bindings(conn, a.id)?;
            Ok(Some(a))
        }
        None => Ok(None),
    }
}

fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("plain values serialize")
}

/// Inserts `a` (its id is ignored) with its status history's first row; returns the new id.
pub fn insert(conn: &Connection, a: &Account, actor: &str) -> Result<i64> {
    let now = now_ms();
    let p = a.proxy.as_ref();
    conn.execute(
        "INSERT INTO ai_service_accounts (name, description, platform, base_url, credentials,
            status, priority, weight, supported_models, model_mapping, claude_console_user_agent,
            proxy_type, proxy_host, proxy_port, proxy_username, proxy_password,
            auth_type, created_at, updated_at, oauth_access_token, oauth_refresh_token,
            oauth_expires_at, allow_overage, max_concurrency, workspace, responses_api)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?18,
            ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
        params![
            a.name,
            a.description,
            a.platform.as_str(),
            a.base_url,
            a.credentials,
            a.status.as_str(),
            a.priority,
            a.weight,
            json(&a.supported_models),
            json(&a.model_mapping),
            a.user_agent,
            p.map(|p| &p.scheme),
            p.map(|p| &p.host),
            p.map(|p| p.port),
            p.and_then(|p| p.username.as_ref()),
            p.and_then(|p| p.password.as_ref()),
            if a.platform.is_subscription() { "oauth" } else { "api_key" },
            now,
            a.oauth_access,
            a.oauth_refresh,
            a.oauth_expires_at,
            a.allow_overage,
            a.max_concurrency,
            a.workspace,
            a.responses_api,
        ],
    )?;
    let id = conn.last_insert_rowid();
    record_status(conn, id, None, a.status, Some("created"), actor, now)?;
    Ok(id)
}

/// Writes the editable fields of `a` back (not its status: see [`advance`]).
pub fn update(conn: &Connection, a: &Account) -> Result<()> {
    let p = a.proxy.as_ref();
    let n = conn.execute(
        "UPDATE ai_service_accounts SET name = ?2, description = ?3, base_url = ?4,
            credentials = ?5, priority = ?6, weight = ?7, supported_models = ?8,
            model_mapping = ?9, claude_console_user_agent = ?10, proxy_type = ?11,
            proxy_host = ?12, proxy_port = ?13, proxy_username = ?14, proxy_password = ?15,
            updated_at = ?16, allow_overage = ?17, max_concurrency = ?18, responses_api = ?19
         WHERE id = ?1",
        params![
            a.id,
            a.name,
            a.description,
            a.base_url,
            a.credentials,
            a.priority,
            a.weight,
            json(&a.supported_models),
            json(&a.model_mapping),
            a.user_agent,
            p.map(|p| &p.scheme),
            p.map(|p| &p.host),
            p.map(|p| p.port),
            p.and_then(|p| p.username.as_ref()),
            p.and_then(|p| p.password.as_ref()),
            now_ms(),
            a.allow_overage,
            a.max_concurrency,
            a.responses_api,
        ],
    )?;
    if n == 0 {
        return Err(Error::NotFound(format!("no account with id {}", a.id)));
    }
    Ok(())
}

/// Replaces the account's group bindings with `groups` (group id, priority, weight overrides).
pub fn set_bindings(
    conn: &Connection,
    account_id: i64,
    groups: &[(i64, Option<i64>, Option<i64>)],
) -> Result<()> {
    conn.execute(
        "DELETE FROM group_accounts WHERE account_id = ?1",
        [account_id],
    )?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO group_accounts (group_id, account_id, priority, weight, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let now = now_ms();
    for (group_id, priority, weight) in groups {
        stmt.execute(params![group_id, account_id, priority, weight, now])?;
    }
    Ok(())
}

fn record_status(
    conn: &Connection,
    id: i64,
    from: Option<AccountStatus>,
    to: AccountStatus,
    reason: Option<&str>,
    actor: &str,
    at: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO account_status_history (account_id, from_status, to_status, reason, actor, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, from.map(|s| s.as_str()), to.as_str(), reason, actor, at],
    )?;
    Ok(())
}

#[derive(Clone, Debug, Serialize)]
pub struct StatusChange {
    pub from: Option<String>,
    pub to: String,
    pub reason: Option<String>,
    pub actor: String,
    pub at: i64,
}

/// The account's status changes, newest first.
pub fn history(conn: &Connection, id: i64, limit: i64) -> Result<Vec<StatusChange>> {
    let mut stmt = conn.prepare(
        "SELECT from_status, to_status, reason, actor, at FROM account_status_history
         WHERE account_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![id, limit], |r| {
        Ok(StatusChange {
            from: r.get(0)?,
            to: r.get(1)?,
            reason: r.get(2)?,
            actor: r.get(3)?,
            at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The account as the state machine sees it.
pub fn current(conn: &Connection, id: i64) -> Result<Option<Current>> {
    let row: Option<(String, Option<i64>, Option<i64>)> = conn
        .prepare_cached(
            "SELECT status, status_until, last_error_at FROM ai_service_accounts WHERE id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    row.map(|(status, status_until, last_error_at)| {
        Ok(Current {
            status: status.parse().map_err(Error::Internal)?,
            status_until,
            last_error_at,
        })
    })
    .transpose()
}

/// A server error or refusal to record beside a decision: the window's size after it (when it
/// counts toward TEMP_ERROR) and when it happened.
#[derive(Clone, Copy, Debug)]
pub struct ErrorMark {
    pub count: Option<i64>,
    pub at: i64,
}

/// Decides what `event` does to account `id` (the state machine, on the stored status) and
/// writes it in the caller's transaction: a new status with its reason in the history (by
/// `actor`), a TEMP_ERROR's later return, or an error window started afresh; `error` is stored
/// unless the window was just cleared. Returns the status before and the decision; `None` when
/// the account does not exist.
pub fn advance(
    conn: &Connection,
    id: i64,
    event: &Event,
    policy: &AccountPolicy,
    error: Option<ErrorMark>,
    actor: &str,
) -> Result<Option<(AccountStatus, Next)>> {
    let Some(cur) = current(conn, id)? else {
        return Ok(None);
    };
    let now = now_ms();
    let next = lifecycle::next(cur, event, policy, now);
    let cleared = match &next {
        Next::Same | Next::Refuse(_) => false,
        Next::Extend { until } => {
            conn.prepare_cached(
                "UPDATE ai_service_accounts SET status_until = ?2
                 WHERE id = ?1 AND status = 'TEMP_ERROR'",
            )?
            .execute(params![id, until])?;
            false
        }
        Next::Clear => {
            conn.prepare_cached(
                "UPDATE ai_service_accounts SET error_count = 0, errors_reset_at = ?2
                 WHERE id = ?1 AND (error_count <> 0 OR errors_reset_at IS NULL)",
            )?
            .execute(params![id, now])?;
            true
        }
        Next::Move {
            to,
            reason,
            until,
            clears_errors,
        } => {
            conn.prepare_cached(
                "UPDATE ai_service_accounts SET status = ?2, status_reason = ?3, status_until = ?4,
                    error_count = CASE WHEN ?5 THEN 0 ELSE error_count END,
                    errors_reset_at = CASE WHEN ?5 THEN ?6 ELSE errors_reset_at END,
                    updated_at = ?6
                 WHERE id = ?1",
            )?
            .execute(params![id, to.as_str(), reason, until, clears_errors, now])?;
            record_status(conn, id, Some(cur.status), *to, Some(reason), actor, now)?;
            *clears_errors
        }
    };
    if let Some(mark) = error.filter(|_| !cleared) {
        conn.prepare_cached(
            "UPDATE ai_service_accounts SET error_count = coalesce(?2, error_count),
                last_error_at = ?3 WHERE id = ?1",
        )?
        .execute(params![id, mark.count, mark.at])?;
    }
    Ok(Some((cur.status, next)))
}

/// Accounts the recovery timer should look at: TEMP_ERROR or RATE_LIMITED ones.
pub fn out_for_now(conn: &Connection) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM ai_service_accounts WHERE status IN ('TEMP_ERROR', 'RATE_LIMITED')
           AND deleted_at IS NULL",
    )?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Replaces a Claude subscription's tokens (sealed) after an exchange or refresh. A refresh
/// that returns no new refresh token keeps the old one.
pub fn set_oauth_tokens(
    conn: &Connection,
    id: i64,
    access: &[u8],
    refresh: Option<&[u8]>,
    expires_at: Option<i64>,
) -> Result<()> {
    conn.execute(
        "UPDATE ai_service_accounts SET oauth_access_token = ?2,
            oauth_refresh_token = coalesce(?3, oauth_refresh_token), oauth_expires_at = ?4,
            updated_at = ?5
         WHERE id = ?1",
        params![id, access, refresh, expires_at, now_ms()],
    )?;
    Ok(())
}

/// Deletes account `id`, keeping its row for history: marked deleted, renamed so its name is
/// free, unbound from every group, out of rotation.
pub fn mark_deleted(conn: &Connection, id: i64) -> Result<()> {
    let now = now_ms();
    let n = conn.execute(
        "UPDATE ai_service_accounts SET deleted_at = ?2, status = 'DISABLED',
            status_reason = 'deleted', name = name || ' (deleted #' || id || ')', updated_at = ?2
         WHERE id = ?1 AND deleted_at IS NULL",
        params![id, now],
    )?;
    if n == 0 {
        return Err(Error::NotFound(format!("no account with id {id}")));
    }
    conn.execute("DELETE FROM group_accounts WHERE account_id = ?1", [id])?;
    Ok(())
}

/// Stores the upstream account a subscription's requests name (a Code Assist project found
/// on `account test`).
pub fn set_workspace(conn: &Connection, id: i64, workspace: &str) -> Result<()> {
    conn.execute(
        "UPDATE ai_service_accounts SET workspace = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, workspace, now_ms()],
    )?;
    Ok(())
}

/// Stores the model list the account's upstream reported.
pub fn set_upstream_models(conn: &Connection, id: i64, models: &[String]) -> Result<()> {
    let text = serde_json::to_string(models).expect("strings serialize");
    conn.execute(
        "UPDATE ai_service_accounts SET upstream_models = ?2, upstream_models_at = ?3
         WHERE id = ?1",
        params![id, text, now_ms()],
    )?;
    Ok(())
}

/// Claude subscription accounts whose access token expires before `before` and that can be
/// refreshed (they have a refresh token and are not out of service).
pub fn oauth_due(conn: &Connection, before: i64) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare(
        "SELECT id FROM ai_service_accounts
         WHERE platform IN ('claude-oauth', 'codex-oauth', 'gemini-oauth')
           AND deleted_at IS NULL AND oauth_refresh_token IS NOT NULL
           AND oauth_expires_at IS NOT NULL AND oauth_expires_at < ?1
           AND status IN ('ACTIVE', 'TEMP_ERROR', 'RATE_LIMITED')",
    )?;
    let rows = stmt.query_map([before], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
