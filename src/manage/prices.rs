//! Model prices: the operator's list of what each model costs, in USD per million tokens at the
//! edges and exact nano-dollars per token inside.

use serde::Serialize;

use super::Ctx;
use crate::domain::Price;
use crate::domain::{format_usd, parse_usd};
use crate::error::{Error, Result};
use crate::store::{audit, prices};

/// A price as given on the command line or in the admin page: USD per million tokens. Omitted
/// cache prices follow Anthropic's ratios to the input price (write 1.25×, one-hour write 2×,
/// read 0.1×).
#[derive(Clone, Debug, Default)]
pub struct PriceInput {
    pub input: String,
    pub output: String,
    pub cache_write: Option<String>,
    pub cache_write_1h: Option<String>,
    pub cache_read: Option<String>,
}

/// One model's price for display, in USD per million tokens.
#[derive(Clone, Debug, Serialize)]
pub struct PriceRow {
    pub model: String,
    pub input_usd_per_mtok: String,
    pub output_usd_per_mtok: String,
    pub cache_write_usd_per_mtok: String,
    pub cache_write_1h_usd_per_mtok: String,
    pub cache_read_usd_per_mtok: String,
}

impl PriceRow {
    fn new(model: String, p: &Price) -> PriceRow {
        let m = |n: i64| format_usd(n * 1_000_000);
        PriceRow {
            model,
            input_usd_per_mtok: m(p.input),
            output_usd_per_mtok: m(p.output),
            cache_write_usd_per_mtok: m(p.cache_write),
            cache_write_1h_usd_per_mtok: m(p.cache_write_1h),
            cache_read_usd_per_mtok: m(p.cache_read),
        }
    }
}

/// USD per million tokens → nano-dollars per token, exactly (to $0.001 per million).
fn per_token(what: &str, usd_per_mtok: &str) -> Result<i64> {
    let nanos = parse_usd(usd_per_mtok).map_err(|e| Error::Invalid(format!("{what}: {e}")))?;
    if nanos % 1_000_000 != 0 {
        return Err(Error::Invalid(format!(
            "{what}: {usd_per_mtok} per million tokens is finer than $0.001"
        )));
    }
    Ok(nanos / 1_000_000)
}

fn price_of(p: &PriceInput) -> Result<Price> {
    let input = per_token("--input", &p.input)?;
    let or = |v: &Option<String>, what: &str, default: i64| match v {
        Some(t) => per_token(what, t),
        None => Ok(default),
    };
    Ok(Price {
        input,
        output: per_token("--output", &p.output)?,
        cache_write: or(&p.cache_write, "--cache-write", input * 5 / 4)?,
        cache_write_1h: or(&p.cache_write_1h, "--cache-write-1h", input * 2)?,
        cache_read: or(&p.cache_read, "--cache-read", input / 10)?,
    })
}

pub async fn set_price(ctx: &Ctx, actor: &str, model: &str, input: PriceInput) -> Result<PriceRow> {
    let model = model.trim().to_owned();
    if model.is_empty() || model.len() > 200 || model.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "model name must be 1–200 printable characters".into(),
        ));
    }
    let price = price_of(&input)?;
    let row = PriceRow::new(model.clone(), &price);
    let actor = actor.to_owned();
    let detail = serde_json::to_value(&row).expect("price row serializes");
    ctx.db
        .write(move |conn| {
            prices::set(conn, &model, &price)?;
            audit::insert(conn, &actor, "price.set", None, Some(&detail))
        })
        .await?;
    Ok(row)
}

pub async fn remove_price(ctx: &Ctx, actor: &str, model: &str) -> Result<()> {
    let model = model.trim().to_owned();
    let actor = actor.to_owned();
    ctx.db
        .write(move |conn| {
            if !prices::remove(conn, &model)? {
                return Err(Error::NotFound(format!("no price for model {model:?}")));
            }
            audit::insert(
                conn,
                &actor,
                "price.remove",
                None,
                Some(&serde_json::json!({ "model": model })),
            )
        })
        .await
}

pub async fn list_prices(ctx: &Ctx) -> Result<Vec<PriceRow>> {
    let rows = ctx.db.read(prices::list).await?;
    Ok(rows
        .into_iter()
        .map(|(m, p)| PriceRow::new(m, &p))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_per_million_become_exact_nanos_per_token() {
        let p = price_of(&PriceInput {
            input: "3".into(),
            output: "15".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            p,
            Price {
                input: 3000,
                output: 15000,
                cache_write: 3750,
                cache_write_1h: 6000,
                cache_read: 300
            }
        );
        let p = price_of(&PriceInput {
            input: "0.25".into(),
            output: "1.25".into(),
            cache_read: Some("0.03".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((p.input, p.output, p.cache_read), (250, 1250, 30));
        assert!(
            price_of(&PriceInput {
                input: "0.0001".into(),
                output: "1".into(),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            price_of(&PriceInput {
                input: "-1".into(),
                output: "1".into(),
                ..Default::default()
            })
            .is_err()
        );
        assert_eq!(
            PriceRow::new("m".into(), &p).input_usd_per_mtok,
            format_usd(250_000_000)
        );
    }
}
