//! Creating and listing groups (teams that share accounts).

use super::{Ctx, check_name};
use crate::error::{Error, Result};
use crate::store::{audit, groups, groups::Group};

pub async fn create_group(
    ctx: &Ctx,
    actor: &str,
    name: &str,
    description: Option<String>,
) -> Result<Group> {
    let name = check_name("group", name)?;
    let actor = actor.to_owned();
    ctx.db
        .write(move |conn| {
            let id = groups::insert(conn, &name, description.as_deref())
                .map_err(|e| e.on_unique(|| format!("a group named {name:?} already exists")))?;
            audit::insert(
                conn,
                &actor,
                "group.create",
                Some(("group", id)),
                Some(&serde_json::json!({ "name": name })),
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
