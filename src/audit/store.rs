//! The audit log's SQL: one insert, always inside the recorded change's
//! transaction.

use super::Entry;
use crate::storage::{Tx, new_id, now_ms};

pub async fn insert(tx: &mut Tx, entry: &Entry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (id, team_id, actor_user_id, action, target_type, target_id, detail, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(entry.team_id)
    .bind(entry.actor)
    .bind(entry.action)
    .bind(entry.target.map(|(kind, _)| kind))
    .bind(entry.target.map(|(_, id)| id))
    .bind(entry.detail.as_ref().map(ToString::to_string))
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
