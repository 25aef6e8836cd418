//! Upstream accounts: creating, editing, binding to groups and moving between admin states.
//! Secrets arrive here in plaintext and leave sealed; nothing here returns them.

use serde_json::json;

use super::groups::group_id;
use super::{Ctx, check_name};
use crate::crypto::Purpose;
use crate::domain::{AccountStatus, Platform};
use crate::error::{Error, Result};
use crate::lifecycle::{Event, Next};
use crate::store::accounts::{self, Account};
use crate::store::audit;

mod checks;
pub use checks::proxy_url_has_password;
use checks::*;

/// A new account as an operator describes it.
#[derive(Clone, Debug, Default)]
pub struct NewAccount {
    pub name: String,
    pub platform: Option<Platform>,
    pub description: Option<String>,
    pub base_url: Option<String>,
    pub secret: String,
    pub priority: Option<i64>,
    pub weight: Option<i64>,
    pub groups: Vec<BindingSpec>,
    pub proxy: Option<String>,
    /// Proxy password given apart from the URL (the CLI reads it from stdin).
    pub proxy_password: Option<String>,
    pub models: Vec<String>,
    /// `FROM=TO` pairs renaming requested models for this upstream.
    pub model_map: Vec<String>,
    pub user_agent: Option<String>,
    /// A Claude subscription's refresh token (its access token is `secret`).
    pub refresh_token: Option<String>,
    /// When the access token expires (epoch ms), when known.
    pub expires_at: Option<i64>,
    /// A subscription may draw on paid extra usage.
    pub allow_overage: bool,
    /// Requests in flight at once, at most.
    pub max_concurrency: Option<i64>,
    /// codex-oauth: the ChatGPT account id (from the sign-in's ID token); gemini-oauth: the
    /// Google Cloud project (found through Code Assist when not given).
    pub workspace: Option<String>,
    /// An openai account serves the Responses API too; `None`: decided by its host.
    pub responses_api: Option<bool>,
}

/// Changes to an account; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct AccountChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub base_url: Option<Option<String>>,
    pub secret: Option<String>,
    pub priority: Option<i64>,
    pub weight: Option<i64>,
    pub groups: Option<Vec<BindingSpec>>,
    pub proxy: Option<Option<String>>,
    pub proxy_password: Option<String>,
    pub models: Option<Vec<String>>,
    pub model_map: Option<Vec<String>>,
    pub user_agent: Option<Option<String>>,
    pub allow_overage: Option<bool>,
    pub max_concurrency: Option<Option<i64>>,
    /// `Some(None)`: decided by the host again.
    pub responses_api: Option<Option<bool>>,
}

/// A group an account serves, with optional priority and weight for that group only.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct BindingSpec {
    pub group: String,
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    pub weight: Option<i64>,
}

impl From<String> for BindingSpec {
    fn from(group: String) -> Self {
        BindingSpec {
            group,
            ..BindingSpec::default()
        }
    }
}

/// What an operator can do to an account's status by hand.
pub use crate::lifecycle::StatusAction;

pub async fn create_account(ctx: &Ctx, actor: &str, new: NewAccount) -> Result<Account> {
    let platform = new
        .platform
        .ok_or_else(|| Error::Invalid("--platform is required".into()))?;
    let name = check_name("account", &new.name)?;
    let base_url = match new.base_url.as_deref() {
        Some(url) => Some(check_base_url(url)?),
        None if platform.default_base_url().is_none() => {
            return Err(Error::Invalid(format!(
                "a {platform} account needs --base-url (the relay's address)"
            )));
        }
        None => None,
    };
    let secret = check_secret(&new.secret)?;
    // A subscription's access token lives with its refresh token; other platforms' keys in
    // `credentials`.
    let oauth = platform.is_subscription();
    if new.refresh_token.is_some() && !oauth {
        return Err(Error::Invalid(
            "only subscription accounts (claude-oauth, codex-oauth, gemini-oauth) take a refresh token".into(),
        ));
    }
    if new.workspace.is_some() && !matches!(platform, Platform::CodexOauth | Platform::GeminiOauth)
    {
        return Err(Error::Invalid(
            "only gemini-oauth accounts take a Google Cloud project".into(),
        ));
    }
    let refresh = new
        .refresh_token
        .as_deref()
        .map(|t| {
            ctx.secrets
                .seal(Purpose::OauthRefreshToken, check_secret(t)?.as_bytes())
        })
        .transpose()?;
    let proxy = match new.proxy.as_deref() {
        Some(url) => Some(parse_proxy(ctx, url, new.proxy_password.as_deref())?),
        None if new.proxy_password.is_some() => {
            return Err(Error::Invalid("a proxy password needs a proxy URL".into()));
        }
        None => None,
    };
    let account = Account {
        id: 0,
        name: name.clone(),
        description: new.description,
        platform,
        base_url,
        credentials: if oauth {
            None
        } else {
            Some(ctx.secrets.seal(Purpose::Credentials, secret.as_bytes())?)
        },
        status: AccountStatus::Active,
        status_reason: None,
        status_until: None,
        last_error_at: None,
        error_count: 0,
        priority: check_priority(new.priority.unwrap_or(50))?,
        weight: check_weight(new.weight.unwrap_or(1))?,
        supported_models: check_models(new.models)?,
        model_mapping: check_model_map(&new.model_map)?,
        user_agent: new.user_agent.filter(|u| !u.trim().is_empty()),
        proxy,
        groups: Vec::new(),
        total_requests: 0,
        total_tokens: 0,
        last_used_at: None,
        created_at: 0,
        updated_at: 0,
        oauth_access: if oauth {
            Some(
                ctx.secrets
                    .seal(Purpose::OauthAccessToken, secret.as_bytes())?,
            )
        } else {
            None
        },
        oauth_refresh: refresh,
        oauth_expires_at: new.expires_at,
        upstream_models: None,
        errors_reset_at: None,
        windows: None,
        refresh_failing_since: None,
        refresh_error: None,
        allow_overage: new.allow_overage,
        max_concurrency: new.max_concurrency.map(check_concurrency).transpose()?,
        responses_api: match new.responses_api {
            Some(_) if platform != Platform::Openai => return Err(responses_api_refused()),
            r => r,
        },
        // A ChatGPT access token names its account and expiry in its claims.
        workspace: new.workspace.filter(|w| !w.trim().is_empty()).or_else(|| {
            (platform == Platform::CodexOauth)
                .then(|| crate::upstream::token::chatgpt_account_id(&secret))
                .flatten()
        }),
    };
    let mut account = account;
    if platform == Platform::CodexOauth && account.workspace.is_none() {
        return Err(Error::Invalid(
            "a codex-oauth account needs its ChatGPT account id, and this access token names none: \
             paste the access token from ~/.codex/auth.json, or sign in with oauth-url"
                .into(),
        ));
    }
    if account.oauth_expires_at.is_none() && platform == Platform::CodexOauth {
        account.oauth_expires_at = crate::upstream::token::jwt_claims(&secret)
            .and_then(|c| c.get("exp")?.as_i64())
            .map(|s| s.saturating_mul(1000));
    }
    let groups = new.groups;
    let actor = actor.to_owned();
    ctx.db
        .write(move |conn| {
            let id = accounts::insert(conn, &account, &actor)
                .map_err(|e| e.on_unique(|| format!("an account named {name:?} already exists")))?;
            bind_groups(conn, id, &groups)?;
            audit::insert(
                conn,
                &actor,
                "account.create",
                Some(("account", id)),
                Some(&json!({ "name": name, "platform": platform.as_str(), "groups": groups.iter().map(|g| &g.group).collect::<Vec<_>>() })),
            )?;
            found(accounts::find_by_id(conn, id)?, id)
        })
        .await
}

pub async fn update_account(
    ctx: &Ctx,
    actor: &str,
    id: i64,
    changes: AccountChanges,
) -> Result<Account> {
    // Validate and seal outside the writer so it never waits on this work.
    let name = changes
        .name
        .as_deref()
        .map(|n| check_name("account", n))
        .transpose()?;
    let base_url = match &changes.base_url {
        Some(Some(url)) => Some(Some(check_base_url(url)?)),
        other => other.clone(),
    };
    let credentials = match &changes.secret {
        Some(s) => Some(
            ctx.secrets
                .seal(Purpose::Credentials, check_secret(s)?.as_bytes())?,
        ),
        None => None,
    };
    let proxy = match &changes.proxy {
        Some(Some(url)) => Some(Some(parse_proxy(
            ctx,
            url,
            changes.proxy_password.as_deref(),
        )?)),
        Some(None) => Some(None),
        None if changes.proxy_password.is_some() => {
            return Err(Error::Invalid(
                "a new proxy password needs the proxy URL too".into(),
            ));
        }
        None => None,
    };
    let priority = changes.priority.map(check_priority).transpose()?;
    let weight = changes.weight.map(check_weight).transpose()?;
    let max_concurrency = changes
        .max_concurrency
        .map(|m| m.map(check_concurrency).transpose())
        .transpose()?;
    let models = changes.models.clone().map(check_models).transpose()?;
    let model_map = changes
        .model_map
        .as_deref()
        .map(check_model_map)
        .transpose()?;
    let actor = actor.to_owned();
    let secrets = ctx.secrets.clone();
    ctx.db
        .write(move |conn| {
            // The audit names which fields changed, never their values for secrets.
            let mut fields = Vec::new();
            for (set, field) in [
                (changes.name.is_some(), "name"),
                (changes.description.is_some(), "description"),
                (changes.base_url.is_some(), "base_url"),
                (changes.secret.is_some(), "secret"),
                (changes.priority.is_some(), "priority"),
                (changes.weight.is_some(), "weight"),
                (changes.groups.is_some(), "groups"),
                (changes.proxy.is_some(), "proxy"),
                (changes.models.is_some(), "models"),
                (changes.model_map.is_some(), "model_map"),
                (changes.user_agent.is_some(), "user_agent"),
                (changes.allow_overage.is_some(), "allow_overage"),
                (changes.max_concurrency.is_some(), "max_concurrency"),
                (changes.responses_api.is_some(), "responses_api"),
            ] {
                if set {
                    fields.push(field);
                }
            }
            let mut a = found(accounts::find_by_id(conn, id)?, id)?;
            if let Some(n) = name {
                a.name = n;
            }
            if let Some(d) = changes.description {
                a.description = d;
            }
            if let Some(o) = changes.allow_overage {
                a.allow_overage = o;
            }
            if let Some(m) = max_concurrency {
                a.max_concurrency = m;
            }
            if let Some(r) = changes.responses_api {
                if r.is_some() && a.platform != Platform::Openai {
                    return Err(responses_api_refused());
                }
                a.responses_api = r;
            }
            if let Some(u) = base_url {
                if u.is_none() && a.platform.default_base_url().is_none() {
                    return Err(Error::Invalid(format!(
                        "a {} account needs a base URL",
                        a.platform
                    )));
                }
                a.base_url = u;
            }
            let mut new_access = None;
            if let Some(sealed) = credentials {
                if a.platform.is_subscription() {
                    // A subscription's new secret is its access token, sealed for that purpose.
                    let plain = secrets.open(Purpose::Credentials, &sealed)?;
                    new_access = Some(secrets.seal(Purpose::OauthAccessToken, &plain)?);
                } else {
                    a.credentials = Some(sealed);
                }
            }
            if let Some(p) = priority {
                a.priority = p;
            }
            if let Some(w) = weight {
                a.weight = w;
            }
            if let Some(m) = models {
                a.supported_models = m;
            }
            if let Some(m) = model_map {
                a.model_mapping = m;
            }
            if let Some(u) = changes.user_agent {
                a.user_agent = u.filter(|u| !u.trim().is_empty());
            }
            if let Some(p) = proxy {
                a.proxy = p;
            }
            let name = a.name.clone();
            accounts::update(conn, &a)
                .map_err(|e| e.on_unique(|| format!("an account named {name:?} already exists")))?;
            if let Some(access) = new_access {
                accounts::set_oauth_tokens(conn, id, &access, None, None)?;
            }
            if let Some(groups) = &changes.groups {
                bind_groups(conn, id, groups)?;
            }
            audit::insert(
                conn,
                &actor,
                "account.update",
                Some(("account", id)),
                Some(&json!({ "fields": fields })),
            )?;
            found(accounts::find_by_id(conn, id)?, id)
        })
        .await
}

/// Deletes account `id`: out of rotation and every group at once; its request log, status
/// history and audit entries stay, under its name.
pub async fn delete_account(ctx: &Ctx, actor: &str, id: i64) -> Result<()> {
    let actor = actor.to_owned();
    ctx.db
        .write(move |conn| {
            let a = accounts::find_by_id(conn, id)?
                .ok_or_else(|| Error::NotFound(format!("no account with id {id}")))?;
            accounts::mark_deleted(conn, id)?;
            audit::insert(
                conn,
                &actor,
                "account.delete",
                Some(("account", id)),
                Some(&json!({ "name": a.name, "platform": a.platform.as_str() })),
            )?;
            Ok(())
        })
        .await
}

pub async fn list_accounts(ctx: &Ctx) -> Result<Vec<Account>> {
    ctx.db.read(accounts::list).await
}

pub async fn get_account(ctx: &Ctx, id: i64) -> Result<Account> {
    ctx.db
        .read(move |conn| found(accounts::find_by_id(conn, id)?, id))
        .await
}

/// The account's upstream secret in plaintext, for the gateway's outgoing requests only.
pub async fn account_secret(ctx: &Ctx, id: i64) -> Result<String> {
    let account = get_account(ctx, id).await?;
    let sealed = account
        .credentials
        .ok_or_else(|| Error::NotFound(format!("account {id} has no credentials")))?;
    ctx.secrets.open_string(Purpose::Credentials, &sealed)
}

/// Applies an operator's status action. `enable` leaves DISABLED/MAINTENANCE; `recover` leaves
/// the fault states (ERROR, TEMP_ERROR, RATE_LIMITED) and resets the error count.
pub async fn change_status(
    ctx: &Ctx,
    actor: &str,
    id: i64,
    action: StatusAction,
) -> Result<Account> {
    let actor = actor.to_owned();
    // The policy does not bear on an operator's action; the state machine still decides.
    let policy = crate::config::AccountPolicy::default();
    ctx.db
        .write(move |conn| {
            let event = Event::Admin(action);
            let Some((from, next)) = accounts::advance(conn, id, &event, &policy, None, &actor)?
            else {
                return Err(Error::NotFound(format!("no account with id {id}")));
            };
            match next {
                Next::Refuse(hint) => {
                    return Err(Error::Conflict(format!("account {id}: {hint}")));
                }
                Next::Move { to, .. } => audit::insert(
                    conn,
                    &actor,
                    &format!("account.{}", action.as_str()),
                    Some(("account", id)),
                    Some(&json!({ "from": from.as_str(), "to": to.as_str() })),
                )?,
                Next::Same | Next::Clear | Next::Extend { .. } => {}
            }
            found(accounts::find_by_id(conn, id)?, id)
        })
        .await
}

fn found(a: Option<Account>, id: i64) -> Result<Account> {
    a.ok_or_else(|| Error::NotFound(format!("no account with id {id}")))
}

fn bind_groups(conn: &rusqlite::Connection, account_id: i64, groups: &[BindingSpec]) -> Result<()> {
    let mut ids = Vec::with_capacity(groups.len());
    for g in groups {
        let id = group_id(conn, &g.group)?;
        g.priority.map(check_priority).transpose()?;
        g.weight.map(check_weight).transpose()?;
        if !ids.iter().any(|(i, _, _)| *i == id) {
            ids.push((id, g.priority, g.weight));
        }
    }
    accounts::set_bindings(conn, account_id, &ids)
}

fn responses_api_refused() -> Error {
    Error::Invalid("only an openai account has a Responses API setting".into())
}
