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

/// Renames the group named `name` to `new`.
pub async fn rename_group(ctx: &Ctx, actor: &str, name: &str, new: &str) -> Result<Group> {
    let new = check_name("group", new)?;
    let (name, actor) = (name.to_owned(), actor.to_owned());
    ctx.db
        .write(move |conn| {
            let id = group_id(conn, &name)?;
            groups::rename(conn, id, &new)
                .map_err(|e| e.on_unique(|| format!("a group named {new:?} already exists")))?;
            audit::insert(
                conn,
                &actor,
                "group.rename",
                Some(("group", id)),
                Some(&serde_json::json!({ "from": name, "to": new })),
            )?;
            groups::find_by_id(conn, id)?.ok_or_else(|| Error::NotFound("group vanished".into()))
        })
        .await
}

/// Deletes the group named `name`; its request log, rollups and audit entries stay. A group
/// that still has keys or accounts is deleted only with `force` (its keys are deleted and its
/// accounts unbound with it); without, the error says what it would affect.
pub async fn delete_group(ctx: &Ctx, actor: &str, name: &str, force: bool) -> Result<()> {
    let (name, actor) = (name.to_owned(), actor.to_owned());
    ctx.db
        .write(move |conn| {
            let id = group_id(conn, &name)?;
            let names = |sql: &str| -> Result<Vec<String>> {
                let mut stmt = conn.prepare(sql)?;
                let rows = stmt.query_map([id], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            };
            let keys = names(
                "SELECT name FROM api_keys WHERE group_id = ?1 AND deleted_at IS NULL ORDER BY name",
            )?;
            let accounts = names(
                "SELECT a.name FROM group_accounts b JOIN ai_service_accounts a ON a.id = b.account_id
                 WHERE b.group_id = ?1 ORDER BY a.name",
            )?;
            let in_use = !keys.is_empty() || !accounts.is_empty();
            if in_use && !force {
                let list = |what: &str, v: &[String]| {
                    (!v.is_empty()).then(|| format!("{} {what} ({})", v.len(), v.join(", ")))
                };
                let affected: Vec<String> = [list("key(s)", &keys), list("account(s)", &accounts)]
                    .into_iter()
                    .flatten()
                    .collect();
                return Err(Error::Conflict(format!(
                    "group {name:?} still has {}; deleting it deletes its keys and unbinds its accounts: confirm to go ahead",
                    affected.join(" and ")
                )));
            }
            groups::mark_deleted(conn, id)?;
            audit::insert(
                conn,
                &actor,
                "group.delete",
                Some(("group", id)),
                Some(&serde_json::json!({ "name": name, "keys": keys, "accounts": accounts })),
            )?;
            Ok(())
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
