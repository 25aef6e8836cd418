//! The checks that need no counters: allowed models, clients and platforms, and whether a
//! cost limit applies (then an unpriced model is refused). Pure, tested without a database.

use super::{Limiter, Refusal};
use crate::domain::{ClientKind, Platform};
use crate::store::groups::Group;
use crate::store::keys::ApiKey;

impl Limiter {
    /// The checks that need no counters: allowed models and clients.
    pub fn check_access(key: &ApiKey, client: ClientKind, model: &str) -> Result<(), Refusal> {
        let l = &key.limits;
        if !l.models.is_empty() && !l.models.iter().any(|m| model_matches(m, model)) {
            return Err(Refusal::forbidden(format!(
                "this key may not use model {model:?} (allowed: {})",
                l.models.join(", ")
            )));
        }
        if !l.clients.is_empty() && !l.clients.iter().any(|c| c == client.as_str()) {
            return Err(Refusal::forbidden(format!(
                "this key is limited to the clients {}; this request came from {client}",
                l.clients.join(", ")
            )));
        }
        Ok(())
    }

    /// Whether a cost limit or budget applies to this key's requests: then a request whose
    /// model has no price cannot be allowed, since its cost would count as nothing.
    pub fn cost_limited(key: &ApiKey, group: Option<&Group>) -> bool {
        let l = &key.limits;
        l.daily_cost_nanos.is_some()
            || l.weekly_cost_nanos.is_some()
            || l.total_cost_nanos.is_some()
            || group.is_some_and(|g| {
                g.budgets.daily_cost_nanos.is_some() || g.budgets.monthly_cost_nanos.is_some()
            })
    }

    /// The refusal for a model without a price under a cost limit.
    pub fn unpriced(model: &str) -> Refusal {
        Refusal::forbidden(format!(
            "model {model:?} has no price, and this key has a cost limit it could not count              against; an operator can set one with `aicarpool price set`"
        ))
    }

    /// The platforms of `offered` this key may use; a refusal when none.
    pub fn allowed_platforms(key: &ApiKey, offered: &[Platform]) -> Result<Vec<Platform>, Refusal> {
        let allowed = &key.limits.platforms;
        let ok: Vec<Platform> = offered
            .iter()
            .copied()
            .filter(|p| allowed.is_empty() || allowed.iter().any(|a| a == p.as_str()))
            .collect();
        if ok.is_empty() {
            return Err(Refusal::forbidden(format!(
                "this key may only use the platforms {}, which do not serve this endpoint",
                allowed.join(", ")
            )));
        }
        Ok(ok)
    }
}

/// `claude-sonnet-4-5` matches itself; `claude-*` matches every name it begins.
pub fn model_matches(pattern: &str, model: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => model.starts_with(prefix),
        None => pattern == model,
    }
}
