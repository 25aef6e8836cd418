//! Admin API handlers that change things: accounts, groups, keys, prices and settings. Each
//! turns JSON into the `manage` call the CLI makes for the same change.

use http::Response;
use serde::{Deserialize, Deserializer};
use serde_json::json;
use tracing::warn;

use super::{Call, ok};
use crate::domain::{Platform, parse_usd};
use crate::error::{Error, Result};
use crate::http::Body;
use crate::manage;
use crate::manage::accounts::{AccountChanges, BindingSpec, NewAccount, StatusAction};
use crate::manage::groups::BudgetChanges;
use crate::manage::keys::LimitChanges;
use crate::manage::prices::PriceInput;
use crate::store::{accounts as store_accounts, now_ms, usage};

mod keys;
pub use keys::*;

/// `Some(value)` when a field is present, even as `null` (which then means "clear it").
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A USD amount given as a string ("12.50") or number, read exactly into nano-dollars.
#[derive(Clone, Copy, Debug)]
struct Usd(i64);

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            other => return Err(serde::de::Error::custom(format!("{other} is not USD"))),
        };
        parse_usd(&text).map(Usd).map_err(serde::de::Error::custom)
    }
}

fn nanos(v: Option<Option<Usd>>) -> Option<Option<i64>> {
    v.map(|o| o.map(|u| u.0))
}

/// Asks the gateway to pick up a change now rather than at its next poll.
async fn reload(c: &Call<'_>) {
    if let Err(e) = c.state.gateway.snapshots.refresh().await {
        warn!(error = %e, "reloading the gateway after an admin change failed");
    }
}

// ---- accounts ----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AccountInput {
    name: String,
    platform: Option<Platform>,
    description: Option<String>,
    base_url: Option<String>,
    #[serde(default)]
    secret: String,
    priority: Option<i64>,
    weight: Option<i64>,
    #[serde(default)]
    groups: Vec<BindingSpec>,
    proxy: Option<String>,
    proxy_password: Option<String>,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    model_map: Vec<String>,
    user_agent: Option<String>,
    refresh_token: Option<String>,
    #[serde(default)]
    allow_overage: bool,
    max_concurrency: Option<i64>,
    /// openai: serves the Responses API too; absent or null: decided by the host.
    responses_api: Option<bool>,
    /// gemini-oauth: the Google Cloud project.
    project: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl From<AccountInput> for NewAccount {
    fn from(a: AccountInput) -> NewAccount {
        NewAccount {
            name: a.name,
            platform: a.platform,
            description: non_empty(a.description),
            base_url: non_empty(a.base_url),
            secret: a.secret,
            priority: a.priority,
            weight: a.weight,
            groups: a.groups,
            proxy: non_empty(a.proxy),
            proxy_password: non_empty(a.proxy_password),
            models: a.models,
            model_map: a.model_map,
            user_agent: non_empty(a.user_agent),
            refresh_token: non_empty(a.refresh_token),
            expires_at: None,
            allow_overage: a.allow_overage,
            max_concurrency: a.max_concurrency,
            workspace: non_empty(a.project),
            responses_api: a.responses_api,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountPatch {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    base_url: Option<Option<String>>,
    /// Write-only: a new secret replaces the old; absent or empty keeps it.
    secret: Option<String>,
    priority: Option<i64>,
    weight: Option<i64>,
    groups: Option<Vec<BindingSpec>>,
    #[serde(default, deserialize_with = "present")]
    proxy: Option<Option<String>>,
    proxy_password: Option<String>,
    models: Option<Vec<String>>,
    model_map: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    user_agent: Option<Option<String>>,
    allow_overage: Option<bool>,
    /// A cap, or null to remove it.
    #[serde(default, deserialize_with = "present")]
    max_concurrency: Option<Option<i64>>,
    /// true or false, or null to leave it to the host.
    #[serde(default, deserialize_with = "present")]
    responses_api: Option<Option<bool>>,
}

pub async fn accounts(c: Call<'_>) -> Result<Response<Body>> {
    let list = manage::accounts::list_accounts(&c.state.ctx).await?;
    let gw = &c.state.gateway;
    ok(&json!(list.iter().map(|a| live(gw, a)).collect::<Vec<_>>()))
}

/// An account as the console shows it: what is stored, with the serving gateway's fresher
/// usage windows and its requests in flight.
fn live(gw: &crate::gateway::Gateway, a: &crate::store::accounts::Account) -> serde_json::Value {
    let mut v = json!(a);
    if let Some(w) = gw.windows.get(a.id) {
        v["windows"] = json!(w);
    }
    v["in_flight"] = json!(gw.inflight.count(a.id));
    v
}

/// One account with its status history and its most recent failed requests.
pub async fn account(c: Call<'_>) -> Result<Response<Body>> {
    let id = c.id()?;
    let account = manage::accounts::get_account(&c.state.ctx, id).await?;
    let (history, errors) = c
        .state
        .ctx
        .db
        .read(move |conn| {
            let history = store_accounts::history(conn, id, 50)?;
            let errors = usage::log_page(
                conn,
                &usage::LogFilter {
                    account_id: Some(id),
                    status: Some("error".into()),
                    limit: 20,
                    ..Default::default()
                },
            )?;
            Ok((history, errors))
        })
        .await?;
    let account = live(&c.state.gateway, &account);
    ok(&json!({ "account": account, "history": history, "errors": errors }))
}

pub async fn create_account(c: Call<'_>) -> Result<Response<Body>> {
    let input: AccountInput = c.json()?;
    let a = manage::accounts::create_account(&c.state.ctx, &c.actor(), input.into()).await?;
    let a = set_up(&c, a).await?;
    reload(&c).await;
    ok(&json!(a))
}

pub async fn update_account(c: Call<'_>) -> Result<Response<Body>> {
    let p: AccountPatch = c.json()?;
    let changes = AccountChanges {
        name: p.name,
        description: p.description.map(non_empty),
        base_url: p.base_url.map(non_empty),
        secret: non_empty(p.secret),
        priority: p.priority,
        weight: p.weight,
        groups: p.groups,
        proxy: p.proxy.map(non_empty),
        proxy_password: non_empty(p.proxy_password),
        models: p.models,
        model_map: p.model_map,
        user_agent: p.user_agent.map(non_empty),
        allow_overage: p.allow_overage,
        max_concurrency: p.max_concurrency,
        responses_api: p.responses_api,
    };
    let a = manage::accounts::update_account(&c.state.ctx, &c.actor(), c.id()?, changes).await?;
    reload(&c).await;
    ok(&json!(a))
}

#[derive(Deserialize)]
struct StatusInput {
    action: String,
}

pub async fn account_status(c: Call<'_>) -> Result<Response<Body>> {
    let input: StatusInput = c.json()?;
    let action = match input.action.as_str() {
        "enable" => StatusAction::Enable,
        "disable" => StatusAction::Disable,
        "maintenance" => StatusAction::Maintenance,
        "recover" => StatusAction::Recover,
        other => {
            return Err(Error::Invalid(format!(
                "unknown action {other:?} (enable, disable, maintenance or recover)"
            )));
        }
    };
    let a = manage::accounts::change_status(&c.state.ctx, &c.actor(), c.id()?, action).await?;
    reload(&c).await;
    ok(&json!(a))
}

pub async fn test_account(c: Call<'_>) -> Result<Response<Body>> {
    let r = crate::gateway::probe::test_account(&c.state.ctx, c.id()?).await?;
    reload(&c).await;
    ok(&json!(r))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartInput {
    platform: Option<Platform>,
    #[serde(default)]
    console: bool,
}

/// A new Google account's Code Assist project, found now (a failure shows on its page and
/// in `account test`, not as the creation's).
async fn set_up(
    c: &Call<'_>,
    a: crate::store::accounts::Account,
) -> Result<crate::store::accounts::Account> {
    if a.platform != Platform::GeminiOauth || a.workspace.is_some() {
        return Ok(a);
    }
    if let Some(e) = crate::gateway::probe::set_up(&c.state.ctx, a.id).await? {
        warn!(account = a.id, error = %e, "the Code Assist project could not be found");
    }
    manage::accounts::get_account(&c.state.ctx, a.id).await
}

pub async fn oauth_start(c: Call<'_>) -> Result<Response<Body>> {
    let input: StartInput = c.json()?;
    let platform = input.platform.unwrap_or(Platform::ClaudeOauth);
    ok(&json!(
        manage::oauth::start(&c.state.ctx, platform, input.console).await?
    ))
}

#[derive(Deserialize)]
struct ExchangeInput {
    code: String,
    account: AccountInput,
}

pub async fn oauth_exchange(c: Call<'_>) -> Result<Response<Body>> {
    let input: ExchangeInput = c.json()?;
    let new: NewAccount = input.account.into();
    let a = manage::oauth::exchange(&c.state.ctx, &c.actor(), &input.code, new).await?;
    let a = set_up(&c, a).await?;
    reload(&c).await;
    ok(&json!(a))
}

// ---- groups ----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GroupInput {
    #[serde(default)]
    name: String,
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    daily_tokens: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    monthly_tokens: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    daily_cost_usd: Option<Option<Usd>>,
    #[serde(default, deserialize_with = "present")]
    monthly_cost_usd: Option<Option<Usd>>,
    warning_percent: Option<i64>,
}

impl GroupInput {
    fn budgets(&mut self) -> BudgetChanges {
        BudgetChanges {
            daily_tokens: self.daily_tokens.take(),
            monthly_tokens: self.monthly_tokens.take(),
            daily_cost_nanos: nanos(self.daily_cost_usd.take()),
            monthly_cost_nanos: nanos(self.monthly_cost_usd.take()),
            warning_percent: self.warning_percent.take(),
        }
    }
}

pub async fn groups(c: Call<'_>) -> Result<Response<Body>> {
    let groups = manage::groups::list_groups(&c.state.ctx).await?;
    let gw = &c.state.gateway;
    let snap = gw.snapshots.get();
    let now = crate::store::now_ms();
    // Each group with its members' standing in the fair share of its subscriptions.
    let out: Vec<serde_json::Value> = groups
        .iter()
        .map(|g| {
            let mut v = json!(g);
            v["fair_share"] = json!(gw.fair.standings(&snap, &gw.windows, g.id, now));
            v["budget_use"] = json!(gw.group_standing(g, now));
            v
        })
        .collect();
    ok(&json!(out))
}

pub async fn create_group(c: Call<'_>) -> Result<Response<Body>> {
    let mut g: GroupInput = c.json()?;
    let budgets = g.budgets();
    let group = manage::groups::create_group(
        &c.state.ctx,
        &c.actor(),
        &g.name,
        non_empty(g.description),
        budgets,
    )
    .await?;
    reload(&c).await;
    ok(&json!(group))
}

pub async fn update_group(c: Call<'_>) -> Result<Response<Body>> {
    let mut g: GroupInput = c.json()?;
    let id = c.id()?;
    let name = c
        .state
        .ctx
        .db
        .read(move |conn| crate::store::groups::find_by_id(conn, id))
        .await?
        .map(|g| g.name)
        .ok_or_else(|| Error::NotFound(format!("no group with id {id}")))?;
    let group = manage::groups::update_group(&c.state.ctx, &c.actor(), &name, g.budgets()).await?;
    reload(&c).await;
    ok(&json!(group))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameInput {
    name: String,
}

/// The name of group `id`, which the group commands go by.
async fn group_name(c: &Call<'_>, id: i64) -> Result<String> {
    c.state
        .ctx
        .db
        .read(move |conn| crate::store::groups::find_by_id(conn, id))
        .await?
        .map(|g| g.name)
        .ok_or_else(|| Error::NotFound(format!("no group with id {id}")))
}

pub async fn rename_group(c: Call<'_>) -> Result<Response<Body>> {
    let input: RenameInput = c.json()?;
    let name = group_name(&c, c.id()?).await?;
    let group = manage::groups::rename_group(&c.state.ctx, &c.actor(), &name, &input.name).await?;
    reload(&c).await;
    ok(&json!(group))
}

/// `DELETE /groups/{id}` (`?force=true` when it still has keys or accounts: the refusal
/// without it says what would be affected).
pub async fn delete_group(c: Call<'_>) -> Result<Response<Body>> {
    let name = group_name(&c, c.id()?).await?;
    let force = c.query("force") == Some("true");
    manage::groups::delete_group(&c.state.ctx, &c.actor(), &name, force).await?;
    reload(&c).await;
    ok(&json!({ "deleted": name }))
}

/// `POST /accounts/{id}/models`: asks the upstream for its model list now, stores it, and
/// returns it (the edit form fills the account's model list from it).
pub async fn fetch_models(c: Call<'_>) -> Result<Response<Body>> {
    let id = c.id()?;
    let ctx = &c.state.ctx;
    let clients = crate::upstream::client::Clients::new(&ctx.config.upstream)?;
    crate::gateway::models::refresh(ctx, &clients, id)
        .await
        .map_err(|e| Error::Upstream(format!("the model list could not be fetched: {e}")))?;
    reload(&c).await;
    let a = manage::accounts::get_account(ctx, id).await?;
    ok(&json!({ "models": a.upstream_models.unwrap_or_default() }))
}

pub async fn delete_account(c: Call<'_>) -> Result<Response<Body>> {
    let id = c.id()?;
    manage::accounts::delete_account(&c.state.ctx, &c.actor(), id).await?;
    reload(&c).await;
    ok(&json!({ "deleted": id }))
}

// ---- prices ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceBody {
    input: String,
    output: String,
    cache_write: Option<String>,
    cache_write_1h: Option<String>,
    cache_read: Option<String>,
}

pub async fn prices(c: Call<'_>) -> Result<Response<Body>> {
    ok(&json!(manage::prices::list_prices(&c.state.ctx).await?))
}

pub async fn set_price(c: Call<'_>) -> Result<Response<Body>> {
    let p: PriceBody = c.json()?;
    let input = PriceInput {
        input: p.input,
        output: p.output,
        cache_write: non_empty(p.cache_write),
        cache_write_1h: non_empty(p.cache_write_1h),
        cache_read: non_empty(p.cache_read),
    };
    let row = manage::prices::set_price(&c.state.ctx, &c.actor(), &c.params[0], input).await?;
    reload(&c).await;
    ok(&json!(row))
}

pub async fn remove_price(c: Call<'_>) -> Result<Response<Body>> {
    manage::prices::remove_price(&c.state.ctx, &c.actor(), &c.params[0]).await?;
    reload(&c).await;
    ok(&json!({ "removed": c.params[0] }))
}

// ---- settings ----

/// Replaces the account-policy override; the gateway applies it at once.
pub async fn set_policy(c: Call<'_>) -> Result<Response<Body>> {
    let o: manage::settings::PolicyOverride = c.json()?;
    let policy = manage::settings::set_policy_override(&c.state.ctx, &c.actor(), o).await?;
    c.state.gateway.health.set_policy(policy);
    ok(&json!({ "saved": true }))
}
