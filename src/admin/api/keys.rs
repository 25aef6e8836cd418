//! Admin API handlers for members' keys: issuing, listing, limits, renaming, revoking.

use super::*;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct KeyInput {
    #[serde(default)]
    group: String,
    #[serde(default)]
    name: String,
    #[serde(default, deserialize_with = "present")]
    expires_at: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    expires_days_after_first_use: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    rate_requests: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    rate_window_minutes: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    concurrency: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    queue: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    share: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    daily_tokens: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    total_tokens: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    daily_cost_usd: Option<Option<Usd>>,
    #[serde(default, deserialize_with = "present")]
    weekly_cost_usd: Option<Option<Usd>>,
    #[serde(default, deserialize_with = "present")]
    total_cost_usd: Option<Option<Usd>>,
    models: Option<Vec<String>>,
    clients: Option<Vec<String>>,
    platforms: Option<Vec<String>>,
}

impl KeyInput {
    fn limits(self) -> LimitChanges {
        LimitChanges {
            expires_at: self.expires_at,
            expires_days_after_first_use: self.expires_days_after_first_use,
            rate_requests: self.rate_requests,
            rate_window_minutes: self.rate_window_minutes,
            concurrency: self.concurrency,
            queue: self.queue,
            share: self.share,
            daily_tokens: self.daily_tokens,
            total_tokens: self.total_tokens,
            daily_cost_nanos: nanos(self.daily_cost_usd),
            weekly_cost_nanos: nanos(self.weekly_cost_usd),
            total_cost_nanos: nanos(self.total_cost_usd),
            models: self.models,
            clients: self.clients,
            platforms: self.platforms,
        }
    }
}

/// Every key with its usage: all time (from the rollup) and the last 24 hours.
pub async fn keys(c: Call<'_>) -> Result<Response<Body>> {
    let keys = manage::keys::list_keys(&c.state.ctx).await?;
    let since = now_ms() - 24 * 3600 * 1000;
    let (total, day, unpriced, unpriced_day) = c
        .state
        .ctx
        .db
        .read(move |conn| {
            Ok((
                usage::key_totals(conn)?,
                usage::sums_since(conn, since, usage::Per::Key)?,
                usage::unpriced_per_key(conn, None)?,
                usage::unpriced_per_key(conn, Some(since))?,
            ))
        })
        .await?;
    let counts = |rows: Vec<(i64, i64)>| -> std::collections::HashMap<i64, i64> {
        rows.into_iter().collect()
    };
    let (unpriced, unpriced_day) = (counts(unpriced), counts(unpriced_day));
    // Indexed once: a team may have thousands of keys.
    let index = |rows: Vec<(i64, i64, i64)>| -> std::collections::HashMap<i64, (i64, i64)> {
        rows.into_iter().map(|(id, t, c)| (id, (t, c))).collect()
    };
    let (total, day) = (index(total), index(day));
    let find = |rows: &std::collections::HashMap<i64, (i64, i64)>, id: i64| {
        rows.get(&id).copied().unwrap_or((0, 0))
    };
    let now = now_ms();
    let rows: Vec<_> = keys
        .iter()
        .map(|k| {
            let (tokens, cost) = find(&total, k.id);
            let (tokens_24h, cost_24h) = find(&day, k.id);
            let mut v = json!(k);
            v["usage"] = json!({
                "tokens": tokens, "cost_nanos": cost,
                "tokens_24h": tokens_24h, "cost_nanos_24h": cost_24h,
                "unpriced_requests": unpriced.get(&k.id).copied().unwrap_or(0),
                "unpriced_requests_24h": unpriced_day.get(&k.id).copied().unwrap_or(0),
            });
            v["standing"] = json!(c.state.gateway.standing(k, now));
            v
        })
        .collect();
    ok(&json!(rows))
}

pub async fn create_key(c: Call<'_>) -> Result<Response<Body>> {
    let input: KeyInput = c.json()?;
    let (group, name) = (input.group.clone(), input.name.clone());
    let (key, plaintext) =
        manage::keys::create_key(&c.state.ctx, &c.actor(), &group, &name, input.limits()).await?;
    reload(&c).await;
    // The only time the plaintext leaves the server.
    ok(&json!({ "key": key, "plaintext": plaintext }))
}

pub async fn update_key(c: Call<'_>) -> Result<Response<Body>> {
    let input: KeyInput = c.json()?;
    let key = manage::keys::update_key(&c.state.ctx, &c.actor(), c.id()?, input.limits()).await?;
    reload(&c).await;
    ok(&json!(key))
}

pub async fn rename_key(c: Call<'_>) -> Result<Response<Body>> {
    let input: RenameInput = c.json()?;
    let key = manage::keys::rename_key(&c.state.ctx, &c.actor(), c.id()?, &input.name).await?;
    reload(&c).await;
    ok(&json!(key))
}

pub async fn delete_key(c: Call<'_>) -> Result<Response<Body>> {
    let id = c.id()?;
    manage::keys::delete_key(&c.state.ctx, &c.actor(), id).await?;
    reload(&c).await;
    ok(&json!({ "deleted": id }))
}

pub async fn revoke_key(c: Call<'_>) -> Result<Response<Body>> {
    let key = manage::keys::revoke_key(&c.state.ctx, &c.actor(), c.id()?).await?;
    reload(&c).await;
    ok(&json!(key))
}
