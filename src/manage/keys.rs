//! Member API keys: issuing (the plaintext is returned once), limits, revocation.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::groups::group_id;
use super::{Ctx, check_name};
use crate::crypto::hex_encode;
use crate::domain::{ClientKind, KeyStatus, Platform};
use crate::error::{Error, Result};
use crate::store::keys::{self, ApiKey, Limits};
use crate::store::{audit, now_ms};

/// Every issued key starts with this, so leaked keys are easy to recognise and scan for.
pub const KEY_PREFIX: &str = "acp_";
/// 24 bytes = 192 bits from the OS CSPRNG.
const KEY_RANDOM_BYTES: usize = 24;
/// Characters of the key kept for display.
const DISPLAY_PREFIX_LEN: usize = 12;

/// Changes to a key's limits: `None` leaves a limit alone, `Some(None)` removes it; a list
/// set to empty means "any".
#[derive(Clone, Debug, Default)]
pub struct LimitChanges {
    pub expires_at: Option<Option<i64>>,
    pub expires_days_after_first_use: Option<Option<i64>>,
    pub rate_requests: Option<Option<i64>>,
    pub rate_window_minutes: Option<Option<i64>>,
    pub concurrency: Option<Option<i64>>,
    pub queue: Option<Option<i64>>,
    pub daily_tokens: Option<Option<i64>>,
    pub total_tokens: Option<Option<i64>>,
    pub daily_cost_nanos: Option<Option<i64>>,
    pub weekly_cost_nanos: Option<Option<i64>>,
    pub total_cost_nanos: Option<Option<i64>>,
    pub models: Option<Vec<String>>,
    pub clients: Option<Vec<String>>,
    pub platforms: Option<Vec<String>>,
    pub share: Option<Option<i64>>,
}

impl LimitChanges {
    /// Applies the changes and checks the result is a coherent set of limits.
    pub fn apply(self, l: &mut Limits) -> Result<()> {
        fn set<T>(field: &mut Option<T>, change: Option<Option<T>>) {
            if let Some(v) = change {
                *field = v;
            }
        }
        set(&mut l.expires_at, self.expires_at);
        set(
            &mut l.expires_days_after_first_use,
            self.expires_days_after_first_use,
        );
        set(&mut l.rate_requests, self.rate_requests);
        set(&mut l.rate_window_minutes, self.rate_window_minutes);
        set(&mut l.concurrency, self.concurrency);
        set(&mut l.share, self.share);
        set(&mut l.queue, self.queue);
        set(&mut l.daily_tokens, self.daily_tokens);
        set(&mut l.total_tokens, self.total_tokens);
        set(&mut l.daily_cost_nanos, self.daily_cost_nanos);
        set(&mut l.weekly_cost_nanos, self.weekly_cost_nanos);
        set(&mut l.total_cost_nanos, self.total_cost_nanos);
        if let Some(m) = self.models {
            l.models = clean_list(m);
        }
        if let Some(c) = self.clients {
            l.clients = clean_list(c);
        }
        if let Some(p) = self.platforms {
            l.platforms = clean_list(p);
        }
        check_limits(l)
    }
}

fn clean_list(items: Vec<String>) -> Box<[String]> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        let i = i.trim();
        if !i.is_empty() && !out.iter().any(|x| x == i) {
            out.push(i.to_owned());
        }
    }
    out.into()
}

fn check_limits(l: &Limits) -> Result<()> {
    use crate::domain::limits_max::*;
    let positive = [
        (
            "the days to expiry after first use",
            l.expires_days_after_first_use,
        ),
        ("the requests per window", l.rate_requests),
        ("the window (minutes)", l.rate_window_minutes),
        ("the concurrency", l.concurrency),
        ("the daily tokens", l.daily_tokens),
        ("the total tokens", l.total_tokens),
        ("the daily cost", l.daily_cost_nanos),
        ("the weekly cost", l.weekly_cost_nanos),
        ("the total cost", l.total_cost_nanos),
    ];
    for (flag, v) in positive {
        if matches!(v, Some(n) if n <= 0) {
            return Err(Error::Invalid(format!(
                "{flag} must be greater than zero (leave it empty, or none, for no limit)"
            )));
        }
    }
    let ceilings = [
        (
            "the days to expiry after first use",
            l.expires_days_after_first_use,
            MAX_DAYS,
        ),
        ("the requests per window", l.rate_requests, MAX_REQUESTS),
        (
            "the window (minutes)",
            l.rate_window_minutes,
            MAX_WINDOW_MINUTES,
        ),
        ("the concurrency", l.concurrency, MAX_CONCURRENCY),
        ("the fair share", l.share, MAX_SHARE),
        ("the queue", l.queue, MAX_QUEUE),
        ("the daily tokens", l.daily_tokens, MAX_LIMIT_TOKENS),
        ("the total tokens", l.total_tokens, MAX_LIMIT_TOKENS),
        ("the daily cost", l.daily_cost_nanos, MAX_LIMIT_NANOS),
        ("the weekly cost", l.weekly_cost_nanos, MAX_LIMIT_NANOS),
        ("the total cost", l.total_cost_nanos, MAX_LIMIT_NANOS),
    ];
    for (flag, v, max) in ceilings {
        if let Some(n) = v
            && n > max
        {
            let shown = if flag.ends_with(" cost") {
                crate::domain::format_usd(max)
            } else {
                max.to_string()
            };
            return Err(Error::Invalid(format!("{flag} is at most {shown}")));
        }
    }
    if l.rate_requests.is_some() != l.rate_window_minutes.is_some() {
        return Err(Error::Invalid(
            "a request limit needs both a number of requests and a window in minutes".into(),
        ));
    }
    if matches!(l.queue, Some(q) if q < 0) {
        return Err(Error::Invalid("--queue must not be negative".into()));
    }
    if l.queue.is_some_and(|q| q > 0) && l.concurrency.is_none() {
        return Err(Error::Invalid("--queue needs --concurrency".into()));
    }
    for c in &l.clients {
        c.parse::<ClientKind>().map_err(Error::Invalid)?;
    }
    for p in &l.platforms {
        p.parse::<Platform>().map_err(Error::Invalid)?;
    }
    for m in &l.models {
        if m.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(Error::Invalid(format!("{m:?} is not a model name")));
        }
    }
    Ok(())
}

/// The SHA-256 (hex) under which a key is stored and looked up.
pub fn hash_key(plaintext: &str) -> String {
    hex_encode(&Sha256::digest(plaintext.as_bytes()))
}

fn generate_key() -> Result<String> {
    let mut bytes = [0u8; KEY_RANDOM_BYTES];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::Secret(format!("OS random: {e}")))?;
    Ok(format!("{KEY_PREFIX}{}", hex_encode(&bytes)))
}

/// Issues a key for `group`; returns it with its plaintext, which is never stored or shown again.
pub async fn create_key(
    ctx: &Ctx,
    actor: &str,
    group: &str,
    name: &str,
    limits: LimitChanges,
) -> Result<(ApiKey, String)> {
    let name = check_name("key", name)?;
    let mut l = Limits::default();
    limits.apply(&mut l)?;
    if l.expires_at.is_some_and(|t| t <= now_ms()) {
        return Err(Error::Invalid("--expires-at is in the past".into()));
    }
    let plaintext = generate_key()?;
    let hash = hash_key(&plaintext);
    let prefix = plaintext[..DISPLAY_PREFIX_LEN].to_owned();
    let (group, actor) = (group.to_owned(), actor.to_owned());
    let key = ctx
        .db
        .write(move |conn| {
            let gid = group_id(conn, &group)?;
            let id = keys::insert(conn, gid, &name, &hash, &prefix, &l).map_err(|e| {
                e.on_unique(|| format!("group {group:?} already has a key named {name:?}"))
            })?;
            audit::insert(
                conn,
                &actor,
                "key.create",
                Some(("key", id)),
                Some(&json!({ "name": name, "group": group, "prefix": prefix })),
            )?;
            found(keys::find_by_id(conn, id)?, id)
        })
        .await?;
    Ok((key, plaintext))
}

pub async fn update_key(ctx: &Ctx, actor: &str, id: i64, changes: LimitChanges) -> Result<ApiKey> {
    let actor = actor.to_owned();
    ctx.db
        .write(move |conn| {
            let mut key = found(keys::find_by_id(conn, id)?, id)?;
            let before = key.limits.clone();
            changes.apply(std::sync::Arc::make_mut(&mut key.limits))?;
            keys::update_limits(conn, id, &key.limits)?;
            audit::insert(
                conn,
                &actor,
                "key.update",
                Some(("key", id)),
                Some(&json!({ "before": before, "after": key.limits })),
            )?;
            found(keys::find_by_id(conn, id)?, id)
        })
        .await
}

pub async fn revoke_key(ctx: &Ctx, actor: &str, id: i64) -> Result<ApiKey> {
    let actor = actor.to_owned();
    ctx.db
        .write(move |conn| {
            let key = found(keys::find_by_id(conn, id)?, id)?;
            if key.status != KeyStatus::Revoked {
                keys::set_status(conn, id, KeyStatus::Revoked)?;
                audit::insert(conn, &actor, "key.revoke", Some(("key", id)), None)?;
            }
            found(keys::find_by_id(conn, id)?, id)
        })
        .await
}

/// Renames key `id` (names are unique within a group).
pub async fn rename_key(ctx: &Ctx, actor: &str, id: i64, new: &str) -> Result<ApiKey> {
    let new = check_name("key", new)?;
    let actor = actor.to_owned();
    ctx.db
        .write(move |conn| {
            let key = found(keys::find_by_id(conn, id)?, id)?;
            keys::rename(conn, id, &new).map_err(|e| {
                e.on_unique(|| format!("group {:?} already has a key named {new:?}", key.group))
            })?;
            audit::insert(
                conn,
                &actor,
                "key.rename",
                Some(("key", id)),
                Some(&json!({ "from": key.name, "to": new })),
            )?;
            found(keys::find_by_id(conn, id)?, id)
        })
        .await
}

/// Deletes key `id`: it stops working at once; its request log, rollups and audit entries stay.
pub async fn delete_key(ctx: &Ctx, actor: &str, id: i64) -> Result<()> {
    let actor = actor.to_owned();
    ctx.db
        .write(move |conn| {
            let key = found(keys::find_by_id(conn, id)?, id)?;
            keys::mark_deleted(conn, id)?;
            audit::insert(
                conn,
                &actor,
                "key.delete",
                Some(("key", id)),
                Some(&json!({ "name": key.name, "group": key.group })),
            )?;
            Ok(())
        })
        .await
}

pub async fn list_keys(ctx: &Ctx) -> Result<Vec<ApiKey>> {
    ctx.db.read(keys::list).await
}

fn found(k: Option<ApiKey>, id: i64) -> Result<ApiKey> {
    k.ok_or_else(|| Error::NotFound(format!("no key with id {id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_prefixed() {
        let a = generate_key().unwrap();
        let b = generate_key().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(a.len(), KEY_PREFIX.len() + 2 * KEY_RANDOM_BYTES);
        assert_eq!(hash_key(&a).len(), 64);
    }

    #[test]
    fn incoherent_limits_are_refused() {
        let mut l = Limits::default();
        let only_requests = LimitChanges {
            rate_requests: Some(Some(10)),
            ..Default::default()
        };
        assert!(only_requests.apply(&mut l).is_err());
        let mut l = Limits::default();
        let queue_alone = LimitChanges {
            queue: Some(Some(3)),
            ..Default::default()
        };
        assert!(queue_alone.apply(&mut l).is_err());
        let mut l = Limits::default();
        let bad_client = LimitChanges {
            clients: Some(vec!["netscape".into()]),
            ..Default::default()
        };
        assert!(bad_client.apply(&mut l).is_err());
        let mut l = Limits::default();
        let ok = LimitChanges {
            rate_requests: Some(Some(10)),
            rate_window_minutes: Some(Some(1)),
            clients: Some(vec!["claude-code".into(), "claude-code".into()]),
            ..Default::default()
        };
        ok.apply(&mut l).unwrap();
        assert_eq!(*l.clients, ["claude-code"]);
    }
}
