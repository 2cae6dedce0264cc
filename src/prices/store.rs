//! The price overrides' SQL (`model_prices`): a team's overrides, the price in
//! effect at a moment, and saving an override with its audit entry.

use serde_json::json;

use super::{ListedPrice, Override, Price, default_price};
use crate::audit::Actor;
use crate::storage::{Db, new_id, now_ms};

#[derive(sqlx::FromRow)]
struct OverrideRow {
    provider: String,
    model: String,
    input_micros_per_mtok: i64,
    output_micros_per_mtok: i64,
    cached_micros_per_mtok: i64,
    effective_from: i64,
    note: Option<String>,
}

#[derive(sqlx::FromRow)]
struct PriceRow {
    input_micros_per_mtok: i64,
    output_micros_per_mtok: i64,
    cached_micros_per_mtok: i64,
}

impl From<PriceRow> for Price {
    fn from(row: PriceRow) -> Price {
        Price {
            input_micros_per_mtok: row.input_micros_per_mtok,
            output_micros_per_mtok: row.output_micros_per_mtok,
            cached_micros_per_mtok: row.cached_micros_per_mtok,
        }
    }
}

/// The team's price overrides, newest first.
pub async fn overrides(db: &Db, team_id: &str) -> Result<Vec<ListedPrice>, sqlx::Error> {
    let rows: Vec<OverrideRow> = sqlx::query_as(
        "SELECT provider, model, input_micros_per_mtok, output_micros_per_mtok, cached_micros_per_mtok, \
         effective_from, note FROM model_prices WHERE team_id = $1 ORDER BY effective_from DESC",
    )
    .bind(team_id)
    .fetch_all(db.read())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ListedPrice {
            provider: row.provider,
            model: row.model,
            price: Price {
                input_micros_per_mtok: row.input_micros_per_mtok,
                output_micros_per_mtok: row.output_micros_per_mtok,
                cached_micros_per_mtok: row.cached_micros_per_mtok,
            },
            effective_from: Some(row.effective_from),
            source: row.note.unwrap_or_else(|| "set by an admin".into()),
        })
        .collect())
}

/// The team's price for a model at a moment: its latest override in effect then,
/// else the default.
pub async fn price_at(
    db: &Db,
    team_id: &str,
    provider: &str,
    model: &str,
    at_ms: i64,
) -> Result<Option<Price>, sqlx::Error> {
    let row: Option<PriceRow> = sqlx::query_as(
        "SELECT input_micros_per_mtok, output_micros_per_mtok, cached_micros_per_mtok FROM model_prices \
         WHERE team_id = $1 AND provider = $2 AND model = $3 AND effective_from <= $4 \
         ORDER BY effective_from DESC LIMIT 1",
    )
    .bind(team_id)
    .bind(provider)
    .bind(model)
    .bind(at_ms)
    .fetch_optional(db.read())
    .await?;
    Ok(row.map(Price::from).or_else(|| default_price(model)))
}

/// Saves an override in the actor's team, audited in the same transaction.
pub(super) async fn insert_override(
    db: &Db,
    actor: Actor<'_>,
    entry: &Override<'_>,
) -> Result<(), sqlx::Error> {
    let id = new_id();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO model_prices (id, team_id, provider, model, input_micros_per_mtok, output_micros_per_mtok, \
         cached_micros_per_mtok, effective_from, note, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(actor.team_id)
    .bind(entry.provider.as_str())
    .bind(entry.model)
    .bind(entry.price.input_micros_per_mtok)
    .bind(entry.price.output_micros_per_mtok)
    .bind(entry.price.cached_micros_per_mtok)
    .bind(entry.effective_from)
    .bind(entry.note)
    .bind(actor.user_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let detail = json!({"provider": entry.provider.as_str(), "model": entry.model,
                        "effective_from": entry.effective_from});
    crate::audit::record_in(
        &mut tx,
        actor,
        "price.set",
        ("model_price", &id),
        Some(detail),
    )
    .await?;
    tx.commit().await
}
