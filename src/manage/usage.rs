//! Usage totals for reports (`aicarpool usage`, the dashboard).

use serde::Serialize;

use super::Ctx;
use crate::error::Result;
use crate::store::usage::{self, By, Totals};

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub since: i64,
    #[serde(flatten)]
    pub total: Totals,
    pub cost_usd: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<Totals>,
}

pub async fn report(ctx: &Ctx, since: i64, by: Option<By>) -> Result<Report> {
    ctx.db
        .read(move |conn| {
            let total = usage::total(conn, since)?;
            let rows = match by {
                Some(b) => usage::grouped(conn, since, b)?,
                None => Vec::new(),
            };
            Ok(Report {
                since,
                cost_usd: total.cost_nanos as f64 / crate::domain::NANOS_PER_USD as f64,
                total,
                by: by.map(|b| match b {
                    By::Key => "key",
                    By::Account => "account",
                    By::Model => "model",
                    By::Group => "group",
                }),
                rows,
            })
        })
        .await
}
