//! Service settings the admin page may change while the gateway runs: the account policy
//! (error threshold, window, cooldown, recovery interval). A stored override wins over the
//! environment's value; clearing it returns to the environment's.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Ctx;
use crate::config::AccountPolicy;
use crate::error::{Error, Result};
use crate::store::{audit, settings};

/// The settings key holding the override, as JSON.
const ACCOUNT_POLICY: &str = "account_policy";

/// Overrides of the environment's account policy; `None` keeps the environment's value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyOverride {
    pub error_threshold: Option<u32>,
    pub error_window_secs: Option<u64>,
    pub temp_error_cooldown_secs: Option<u64>,
    pub recovery_interval_secs: Option<u64>,
}

impl PolicyOverride {
    /// The policy in force: each override, else the configured value.
    pub fn apply(&self, base: &AccountPolicy) -> AccountPolicy {
        AccountPolicy {
            error_threshold: self.error_threshold.unwrap_or(base.error_threshold),
            error_window: self
                .error_window_secs
                .map_or(base.error_window, Duration::from_secs),
            temp_error_cooldown: self
                .temp_error_cooldown_secs
                .map_or(base.temp_error_cooldown, Duration::from_secs),
            recovery_interval: self
                .recovery_interval_secs
                .map_or(base.recovery_interval, Duration::from_secs),
        }
    }

    fn check(&self) -> Result<()> {
        let fields = [
            (
                "the error threshold",
                self.error_threshold.map(u64::from),
                1000,
            ),
            (
                "the error window in seconds",
                self.error_window_secs,
                86_400,
            ),
            (
                "the cooldown in seconds",
                self.temp_error_cooldown_secs,
                86_400,
            ),
            (
                "the recovery interval in seconds",
                self.recovery_interval_secs,
                3600,
            ),
        ];
        for (what, value, max) in fields {
            if value.is_some_and(|n| !(1..=max).contains(&n)) {
                return Err(Error::Invalid(format!("{what} must be 1 to {max}")));
            }
        }
        Ok(())
    }
}

/// The stored override (empty when none was ever set).
pub async fn policy_override(ctx: &Ctx) -> Result<PolicyOverride> {
    let text = ctx.db.read(|c| settings::get(c, ACCOUNT_POLICY)).await?;
    Ok(text
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default())
}

/// The account policy in force: the environment's, with the stored override on top.
pub async fn account_policy(ctx: &Ctx) -> Result<AccountPolicy> {
    Ok(policy_override(ctx).await?.apply(&ctx.config.accounts))
}

/// Stores a new override (replacing the old one whole) and returns the policy in force.
pub async fn set_policy_override(
    ctx: &Ctx,
    actor: &str,
    new: PolicyOverride,
) -> Result<AccountPolicy> {
    new.check()?;
    let (actor, stored) = (actor.to_owned(), new.clone());
    ctx.db
        .write(move |c| {
            let text = serde_json::to_string(&stored).expect("override serializes");
            settings::set(c, ACCOUNT_POLICY, &text)?;
            audit::insert(
                c,
                &actor,
                "settings.account_policy",
                None,
                Some(&json!(stored)),
            )
        })
        .await?;
    Ok(new.apply(&ctx.config.accounts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn overrides_win_and_absent_ones_fall_back() {
        let base = Config::with_data_dir("/tmp/x").accounts;
        let o = PolicyOverride {
            error_threshold: Some(5),
            recovery_interval_secs: Some(10),
            ..Default::default()
        };
        let p = o.apply(&base);
        assert_eq!(p.error_threshold, 5);
        assert_eq!(p.recovery_interval, Duration::from_secs(10));
        assert_eq!(p.error_window, base.error_window);
        assert!(o.check().is_ok());
        let zero = PolicyOverride {
            error_threshold: Some(0),
            ..Default::default()
        };
        assert!(zero.check().is_err());
    }
}
