//! The audit log: who did what, in which team, to what. Written in the same
//! request as the change it records.

use crate::storage::{Db, new_id, now_ms};

pub struct Entry<'a> {
    pub team_id: Option<&'a str>,
    pub actor: Option<&'a str>,
    /// Dotted verb, e.g. `member.role_changed`.
    pub action: &'a str,
    /// (type, id) of what was acted on.
    pub target: Option<(&'a str, &'a str)>,
    pub detail: Option<serde_json::Value>,
}

pub async fn record(db: &Db, entry: Entry<'_>) -> Result<(), sqlx::Error> {
    record_with(db.write(), entry).await
}

/// Records inside a caller's transaction or on a given executor.
pub async fn record_with<'e, E>(executor: E, entry: Entry<'_>) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
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
    .bind(entry.detail.map(|detail| detail.to_string()))
    .bind(now_ms())
    .execute(executor)
    .await?;
    Ok(())
}

/// Records what a signed-in user did to an object of their current team.
pub async fn by_principal(
    db: &Db,
    principal: &crate::auth::Principal,
    action: &str,
    target: (&str, &str),
    detail: Option<serde_json::Value>,
) -> Result<(), sqlx::Error> {
    record(
        db,
        Entry {
            team_id: Some(&principal.team_id),
            actor: Some(&principal.user_id),
            action,
            target: Some(target),
            detail,
        },
    )
    .await
}
