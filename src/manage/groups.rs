//! Creating, listing and budgeting groups (teams that share accounts).

use super::{Ctx, check_name};
use crate::error::{Error, Result};
use crate::store::groups::{Budgets, Group};
use crate::store::{audit, groups};

/// Changes to a group's budgets: `None` leaves one alone, `Some(None)` removes it.
#[derive(Clone, Debug, Default)]
pub struct BudgetChanges {
    pub daily_tokens: Option<Option<i64>>,
    pub monthly_tokens: Option<Option<i64>>,
    pub daily_cost_nanos: Option<Option<i64>>,
    pub monthly_cost_nanos: Option<Option<i64>>,
    pub warning_percent: Option<i64>,
}

impl BudgetChanges {
    fn apply(self, b: &mut Budgets) -> Result<()> {
        for (field, change, flag) in [
            (&mut b.daily_tokens, self.daily_tokens, "the daily tokens"),
            (
                &mut b.monthly_tokens,
                self.monthly_tokens,
                "the monthly tokens",
            ),
            (
                &mut b.daily_cost_nanos,
                self.daily_cost_nanos,
                "the daily cost",
            ),
            (
                &mut b.monthly_cost_nanos,
                self.monthly_cost_nanos,
                "the monthly cost",
            ),
        ] {
            if let Some(v) = change {
                if v.is_some_and(|n| n <= 0) {
                    return Err(Error::Invalid(format!(
                        "{flag} must be greater than zero (leave it empty, or none, for no budget)"
                    )));
                }
                let max = if flag.ends_with(" cost") {
                    crate::domain::limits_max::MAX_LIMIT_NANOS
                } else {
                    crate::domain::limits_max::MAX_LIMIT_TOKENS
                };
                if v.is_some_and(|n| n > max) {
                    return Err(Error::Invalid(format!(
                        "{flag} is above the largest budget"
                    )));
                }
                *field = v;
            }
        }
        if let Some(p) = self.warning_percent {
            if !(1..=100).contains(&p) {
                return Err(Error::Invalid(
                    "the warning percent must be 1 to 100".into(),
                ));
            }
            b.warning_percent = p;
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.daily_tokens.is_none()
            && self.monthly_tokens.is_none()
            && self.daily_cost_nanos.is_none()
            && self.monthly_cost_nanos.is_none()
            && self.warning_percent.is_none()
    }
}

pub async fn create_group(
    ctx: &Ctx,
    actor: &str,
    name: &str,
    description: Option<String>,
    budgets: BudgetChanges,
) -> Result<Group> {
    let name = check_name("group", name)?;
    let mut b = Budgets {
        warning_percent: 80,
        ..Budgets::default()
    };
    budgets.apply(&mut b)?;
    let actor = actor.to_owned();
    ctx.db
        .write(move |conn| {
            let id = groups::insert(conn, &name, description.as_deref())
                .map_err(|e| e.on_unique(|| format!("a group named {name:?} already exists")))?;
            groups::set_budgets(conn, id, &b)?;
            audit::insert(
                conn,
                &actor,
                "group.create",
                Some(("group", id)),
                Some(&serde_json::json!({ "name": name, "budgets": b })),
            )?;
            groups::find_by_id(conn, id)?.ok_or_else(|| Error::NotFound("group vanished".into()))
        })
        .await
}

/// Changes the budgets of the group named `name`.
pub async fn update_group(
    ctx: &Ctx,
    actor: &str,
    name: &str,
    changes: BudgetChanges,
) -> Result<Group> {
    if changes.is_empty() {
        return Err(Error::Invalid(
            "nothing to change: give a budget flag".into(),
        ));
    }
    let (name, actor) = (name.to_owned(), actor.to_owned());
    ctx.db
        .write(move |conn| {
            let id = group_id(conn, &name)?;
            let group = groups::find_by_id(conn, id)?
                .ok_or_else(|| Error::NotFound("group vanished".into()))?;
            let mut b = group.budgets.clone();
            changes.apply(&mut b)?;
            groups::set_budgets(conn, id, &b)?;
            audit::insert(
                conn,
                &actor,
                "group.update",
                Some(("group", id)),
                Some(&serde_json::json!({ "budgets": b })),
            )?;
            groups::find_by_id(conn, id)?.ok_or_else(|| Error::NotFound("group vanished".into()))
        })
        .await
}

pub async fn list_groups(ctx: &Ctx) -> Result<Vec<Group>> {
    ctx.db.read(groups::list).await
}

/// The id of a group by name, or a NotFound error naming it.
pub(crate) fn group_id(conn: &rusqlite::Connection, name: &str) -> Result<i64> {
    groups::find_id_by_name(conn, name.trim())?
        .ok_or_else(|| Error::NotFound(format!("no group named {:?}", name.trim())))
}
