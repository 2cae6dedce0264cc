//! Teams and membership. Everything a team owns carries `team_id`; a user may
//! belong to several teams and switches between them. A team always keeps at
//! least one owner: role changes and removals check it inside a transaction that
//! holds the team's row lock (see `Db::lock_team`).

mod forms;
pub mod handlers;
pub mod page;
mod store;

use serde::Serialize;

use crate::auth::{Permission, Principal, Role};
use crate::error::AppError;
use crate::storage::Db;

pub use store::{
    all_ids, create_team, find_team_by_name, insert_member as insert_member_in, is_demo, members,
    members_with_activity, pages_used, recent_changes, teams_of,
};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TeamMembership {
    pub team_id: String,
    pub team_name: String,
    pub role: Role,
    pub is_demo: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub joined_at: Option<i64>,
}

/// A member as the Team page shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberActivity {
    #[serde(flatten)]
    pub member: Member,
    /// Who invited them (null for the team's creator, or once they are gone).
    pub invited_by: Option<String>,
    /// Their latest request in this team (session or page view).
    pub last_active: Option<i64>,
    /// In the last 30 days: executions they started, pages they opened,
    /// changes they made.
    pub executions: i64,
    pub page_views: i64,
    pub changes: i64,
}

/// One entry of a member's recent changes (the audit log).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Change {
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub at: i64,
}

/// Validates a team name: 1–100 characters.
pub fn parse_team_name(text: &str) -> Result<String, AppError> {
    crate::accounts::parse_name("team", text)
}

/// Adds a user to a team; already a member is a 409.
pub async fn add_member(
    db: &Db,
    team_id: &str,
    user_id: &str,
    role: Role,
    invited_by: Option<&str>,
) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    match store::insert_member(&mut tx, team_id, user_id, role, invited_by).await {
        Ok(()) => {}
        Err(err) if crate::storage::is_unique_violation(&err) => {
            return Err(AppError::Conflict("already a member of this team".into()));
        }
        Err(err) => return Err(err.into()),
    }
    tx.commit().await?;
    Ok(())
}

/// Only owners may touch the owner role (grant it, or change/remove an owner).
fn check_may_change(actor: &Principal, from: Role, to: Option<Role>) -> Result<(), AppError> {
    actor.require(Permission::ManageMembers)?;
    if from == Role::Owner || to == Some(Role::Owner) {
        actor.require(Permission::ManageOwners)?;
    }
    Ok(())
}

const LAST_OWNER: &str = "a team must keep at least one owner";

/// Changes a member's role in the actor's team.
pub async fn change_role(
    db: &Db,
    actor: &Principal,
    user_id: &str,
    role: Role,
) -> Result<(), AppError> {
    let team_id = actor.team_id.as_str();
    let mut tx = db.begin().await?;
    db.lock_team(&mut tx, team_id).await?;
    let current = store::role_in(&mut tx, team_id, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    check_may_change(actor, current, Some(role))?;
    let demotes_owner = current == Role::Owner && role != Role::Owner;
    if demotes_owner && store::owner_count(&mut tx, team_id).await? <= 1 {
        return Err(AppError::Conflict(LAST_OWNER.into()));
    }
    store::set_role(&mut tx, actor.into(), user_id, current, role).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a member from the actor's team and ends their sessions in it.
pub async fn remove_member(db: &Db, actor: &Principal, user_id: &str) -> Result<(), AppError> {
    let team_id = actor.team_id.as_str();
    let mut tx = db.begin().await?;
    db.lock_team(&mut tx, team_id).await?;
    let current = store::role_in(&mut tx, team_id, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    check_may_change(actor, current, None)?;
    if current == Role::Owner && store::owner_count(&mut tx, team_id).await? <= 1 {
        return Err(AppError::Conflict(LAST_OWNER.into()));
    }
    store::delete_member(&mut tx, actor.into(), user_id, current, "member.removed").await?;
    tx.commit().await?;
    Ok(())
}

/// Leaves the actor's team; its last owner cannot (hand the role on first).
/// Their sessions in it and their tokens for it end.
pub async fn leave(db: &Db, actor: &Principal) -> Result<(), AppError> {
    let team_id = actor.team_id.as_str();
    let mut tx = db.begin().await?;
    db.lock_team(&mut tx, team_id).await?;
    let current = store::role_in(&mut tx, team_id, &actor.user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if current == Role::Owner && store::owner_count(&mut tx, team_id).await? <= 1 {
        return Err(AppError::Conflict(format!(
            "{LAST_OWNER}: make someone else an owner before leaving"
        )));
    }
    store::delete_member(
        &mut tx,
        actor.into(),
        &actor.user_id,
        current,
        "member.left",
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The team a user lands in at login: their oldest membership.
pub async fn default_team(db: &Db, user_id: &str) -> Result<Option<String>, sqlx::Error> {
    Ok(teams_of(db, user_id)
        .await?
        .into_iter()
        .next()
        .map(|t| t.team_id))
}
