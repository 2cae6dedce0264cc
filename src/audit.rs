//! The audit log and its store: who did what, in which team, to what. An entry
//! is written in the transaction of the change it records ([`record_in`], called
//! by each feature's store), so a change never commits without its entry, nor an
//! entry without its change. `tests/audit.rs` makes the entry's insert fail and
//! checks the change is not made.

use crate::storage::{Tx, new_id, now_ms};

/// Who makes a change, and in which team: what a store's write function needs
/// to record it.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub team_id: &'a str,
    /// None for changes the system makes on its own (the demo seeder, a worker).
    pub user_id: Option<&'a str>,
}

impl<'a> Actor<'a> {
    pub fn user(team_id: &'a str, user_id: &'a str) -> Actor<'a> {
        Actor {
            team_id,
            user_id: Some(user_id),
        }
    }
}

impl<'a> From<&'a crate::auth::Principal> for Actor<'a> {
    fn from(principal: &'a crate::auth::Principal) -> Actor<'a> {
        Actor::user(&principal.team_id, &principal.user_id)
    }
}

/// Records what `actor` did to `target` inside the change's transaction.
pub async fn record_in(
    tx: &mut Tx,
    actor: Actor<'_>,
    action: &str,
    target: (&str, &str),
    detail: Option<serde_json::Value>,
) -> Result<(), sqlx::Error> {
    record_with(
        &mut **tx,
        Entry {
            team_id: Some(actor.team_id),
            actor: actor.user_id,
            action,
            target: Some(target),
            detail,
        },
    )
    .await
}

pub struct Entry<'a> {
    pub team_id: Option<&'a str>,
    pub actor: Option<&'a str>,
    /// Dotted verb, e.g. `member.role_changed`.
    pub action: &'a str,
    /// (type, id) of what was acted on.
    pub target: Option<(&'a str, &'a str)>,
    pub detail: Option<serde_json::Value>,
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
