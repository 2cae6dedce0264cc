//! Telemetry's SQL outside the bulk writer (`ingest` writes through
//! `storage::bulk`): ingestion keys, a component's recent metrics, retention.

use serde::Serialize;
use serde_json::json;

use super::keys::{IngestKey, KeyInfo};
use crate::audit::Actor;
use crate::storage::{Db, decode_json, now_ms};

#[derive(sqlx::FromRow)]
struct LiveKeyRow {
    id: String,
    team_id: String,
    allowed_origins: String,
}

/// The live key with this digest, if any.
pub async fn live_key(db: &Db, digest: &str) -> Result<Option<IngestKey>, sqlx::Error> {
    let row: Option<LiveKeyRow> = sqlx::query_as(
        "SELECT id, team_id, allowed_origins FROM ingestion_keys WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(digest)
    .fetch_optional(db.read())
    .await?;
    row.map(|row| {
        Ok(IngestKey {
            id: row.id,
            team_id: row.team_id,
            allowed_origins: decode_json("ingestion_keys.allowed_origins", &row.allowed_origins)?,
        })
    })
    .transpose()
}

/// Notes that a key was used now.
pub async fn touch_key(db: &Db, digest: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE ingestion_keys SET last_used_at = $1 WHERE key_hash = $2")
        .bind(now_ms())
        .bind(digest)
        .execute(db.write())
        .await?;
    Ok(())
}

/// Saves a new key (its digest only) with the audit entry.
pub async fn insert_key(
    db: &Db,
    actor: Actor<'_>,
    info: &KeyInfo,
    digest: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO ingestion_keys (id, team_id, name, key_hash, prefix, allowed_origins, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&info.id)
    .bind(actor.team_id)
    .bind(&info.name)
    .bind(digest)
    .bind(&info.prefix)
    .bind(json!(info.allowed_origins).to_string())
    .bind(actor.user_id)
    .bind(info.created_at)
    .execute(&mut *tx)
    .await?;
    let detail = json!({"name": info.name});
    let target = ("ingestion_key", info.id.as_str());
    crate::audit::record_in(
        &mut tx,
        actor,
        "ingestion_key.created",
        target,
        Some(detail),
    )
    .await?;
    tx.commit().await
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    name: String,
    prefix: String,
    allowed_origins: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

/// The team's live keys, newest first.
pub async fn list_keys(db: &Db, team_id: &str) -> Result<Vec<KeyInfo>, sqlx::Error> {
    let rows: Vec<KeyRow> = sqlx::query_as(
        "SELECT id, name, prefix, allowed_origins, created_at, last_used_at FROM ingestion_keys \
         WHERE team_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC",
    )
    .bind(team_id)
    .fetch_all(db.read())
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(KeyInfo {
                allowed_origins: decode_json(
                    "ingestion_keys.allowed_origins",
                    &row.allowed_origins,
                )?,
                id: row.id,
                name: row.name,
                prefix: row.prefix,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
            })
        })
        .collect()
}

/// Revokes a live key of the actor's team with the audit entry; false when
/// there is none.
pub async fn revoke_key(db: &Db, actor: Actor<'_>, key_id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let result = sqlx::query(
        "UPDATE ingestion_keys SET revoked_at = $1 WHERE id = $2 AND team_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(key_id)
    .bind(actor.team_id)
    .execute(&mut *tx)
    .await?;
    if result.rows_affected() == 0 {
        return Ok(false);
    }
    let target = ("ingestion_key", key_id);
    crate::audit::record_in(&mut tx, actor, "ingestion_key.revoked", target, None).await?;
    tx.commit().await?;
    Ok(true)
}

#[derive(Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MetricSample {
    pub metric_name: String,
    pub value: f64,
    pub timestamp: i64,
}

/// A component's metrics of the team since a moment, newest first (at most 1,000).
pub async fn metric_samples(
    db: &Db,
    team_id: &str,
    component_id: &str,
    since: i64,
) -> Result<Vec<MetricSample>, sqlx::Error> {
    sqlx::query_as(
        "SELECT metric_name, value, timestamp FROM component_metrics \
         WHERE component_id = $1 AND team_id = $2 AND timestamp >= $3 ORDER BY timestamp DESC LIMIT 1000",
    )
    .bind(component_id)
    .bind(team_id)
    .bind(since)
    .fetch_all(db.read())
    .await
}

/// Deletes events and metrics older than the retention, a bounded batch per
/// table; returns how many rows went. Called repeatedly by the retention worker.
pub async fn prune(db: &Db, retention_days: u32, batch: i64) -> Result<u64, sqlx::Error> {
    let cutoff = now_ms() - i64::from(retention_days) * 86_400_000;
    let mut removed = 0;
    for table in ["user_actions", "component_metrics"] {
        let result = sqlx::query(&format!(
            "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE timestamp < $1 LIMIT $2)"
        ))
        .bind(cutoff)
        .bind(batch)
        .execute(db.write())
        .await?;
        removed += result.rows_affected();
    }
    Ok(removed)
}
