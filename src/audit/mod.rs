//! The audit log: who did what, in which team, to what. An entry
//! is written in the transaction of the change it records ([`record_in`], called
//! by each feature's store; the insert itself is in `store`), so a change never commits without its entry, nor an
//! entry without its change. `tests/audit.rs` makes the entry's insert fail and
//! checks the change is not made.

mod store;

use crate::storage::Tx;

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
    let entry = Entry {
        team_id: Some(actor.team_id),
        actor: actor.user_id,
        action,
        target: Some(target),
        detail,
    };
    store::insert(tx, &entry).await
}

/// Records an entry outside any team (an account's own change) inside the
/// change's transaction.
pub async fn record_entry(tx: &mut Tx, entry: &Entry<'_>) -> Result<(), sqlx::Error> {
    store::insert(tx, entry).await
}

/// One audit entry.
pub struct Entry<'a> {
    pub team_id: Option<&'a str>,
    pub actor: Option<&'a str>,
    /// Dotted verb, e.g. `member.role_changed`.
    pub action: &'a str,
    /// (type, id) of what was acted on.
    pub target: Option<(&'a str, &'a str)>,
    pub detail: Option<serde_json::Value>,
}
