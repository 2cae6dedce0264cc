//! Teams and membership. Everything a team owns carries `team_id`; a user may
//! belong to several teams and switches between them. A team always keeps at
//! least one owner: role changes and removals check it inside a transaction that
//! holds the team's row lock (see `Db::lock_team`).

pub mod handlers;

use serde::Serialize;
use sqlx::Row;

use crate::auth::{Permission, Principal, Role};
use crate::error::AppError;
use crate::storage::{Db, Tx, new_id, now_ms};

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

/// Validates a team name: 1–100 characters.
pub fn parse_team_name(text: &str) -> Result<String, AppError> {
    crate::accounts::parse_name("team", text)
}

/// Creates a team with `owner_id` as its first owner.
pub async fn create_team(
    db: &Db,
    name: &str,
    owner_id: &str,
    is_demo: bool,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO teams (id, name, owner_id, created_at, is_demo) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(name)
    .bind(owner_id)
    .bind(now_ms())
    .bind(is_demo)
    .execute(&mut *tx)
    .await?;
    insert_member(&mut tx, &id, owner_id, Role::Owner, None).await?;
    tx.commit().await?;
    Ok(id)
}

/// Whether the team is a demo team (the simulated provider is allowed there).
pub async fn is_demo(db: &Db, team_id: &str) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT is_demo FROM teams WHERE id = $1")
        .bind(team_id)
        .fetch_optional(db.read())
        .await?;
    match row {
        Some(row) => Ok(crate::storage::flag(&row, "is_demo")?.unwrap_or(false)),
        None => Ok(false),
    }
}

pub async fn find_team_by_name(db: &Db, name: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM teams WHERE name = $1 ORDER BY created_at LIMIT 1")
        .bind(name)
        .fetch_optional(db.read())
        .await
}

async fn insert_member(
    tx: &mut Tx,
    team_id: &str,
    user_id: &str,
    role: Role,
    invited_by: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO team_members (id, team_id, user_id, role, invited_by, joined_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id())
    .bind(team_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(invited_by)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
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
    match insert_member(&mut tx, team_id, user_id, role, invited_by).await {
        Ok(()) => {}
        Err(err) if crate::storage::is_unique_violation(&err) => {
            return Err(AppError::Conflict("already a member of this team".into()));
        }
        Err(err) => return Err(err.into()),
    }
    tx.commit().await?;
    Ok(())
}

/// The teams a user belongs to, oldest membership first.
pub async fn teams_of(db: &Db, user_id: &str) -> Result<Vec<TeamMembership>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT t.id, t.name, t.is_demo, m.role FROM team_members m JOIN teams t ON t.id = m.team_id \
         WHERE m.user_id = $1 ORDER BY m.joined_at, t.name",
    )
    .bind(user_id)
    .fetch_all(db.read())
    .await?;
    let mut teams = Vec::with_capacity(rows.len());
    for row in rows {
        let Ok(role) = row.try_get::<String, _>("role")?.parse::<Role>() else {
            continue;
        };
        teams.push(TeamMembership {
            team_id: row.try_get("id")?,
            team_name: row.try_get("name")?,
            is_demo: crate::storage::flag(&row, "is_demo")?.unwrap_or(false),
            role,
        });
    }
    Ok(teams)
}

pub async fn members(db: &Db, team_id: &str) -> Result<Vec<Member>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT u.id, u.email, u.name, m.role, m.joined_at FROM team_members m JOIN users u ON u.id = m.user_id \
         WHERE m.team_id = $1 ORDER BY m.joined_at, u.email",
    )
    .bind(team_id)
    .fetch_all(db.read())
    .await?;
    let mut members = Vec::with_capacity(rows.len());
    for row in rows {
        let Ok(role) = row.try_get::<String, _>("role")?.parse::<Role>() else {
            continue;
        };
        members.push(Member {
            user_id: row.try_get("id")?,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            joined_at: row.try_get("joined_at")?,
            role,
        });
    }
    Ok(members)
}

async fn role_in(tx: &mut Tx, team_id: &str, user_id: &str) -> Result<Option<Role>, sqlx::Error> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2")
            .bind(team_id)
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(role.and_then(|role| role.parse().ok()))
}

async fn owner_count(tx: &mut Tx, team_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND role = 'owner'")
        .bind(team_id)
        .fetch_one(&mut **tx)
        .await
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
    let current = role_in(&mut tx, team_id, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    check_may_change(actor, current, Some(role))?;
    if current == Role::Owner && role != Role::Owner && owner_count(&mut tx, team_id).await? <= 1 {
        return Err(AppError::Conflict(LAST_OWNER.into()));
    }
    sqlx::query("UPDATE team_members SET role = $1 WHERE team_id = $2 AND user_id = $3")
        .bind(role.as_str())
        .bind(team_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    crate::audit::record_with(
        &mut *tx,
        crate::audit::Entry {
            team_id: Some(team_id),
            actor: Some(&actor.user_id),
            action: "member.role_changed",
            target: Some(("user", user_id)),
            detail: Some(serde_json::json!({"from": current, "to": role})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a member from the actor's team and ends their sessions in it.
pub async fn remove_member(db: &Db, actor: &Principal, user_id: &str) -> Result<(), AppError> {
    let team_id = actor.team_id.as_str();
    let mut tx = db.begin().await?;
    db.lock_team(&mut tx, team_id).await?;
    let current = role_in(&mut tx, team_id, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    check_may_change(actor, current, None)?;
    if current == Role::Owner && owner_count(&mut tx, team_id).await? <= 1 {
        return Err(AppError::Conflict(LAST_OWNER.into()));
    }
    sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
        .bind(team_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE team_id = $1 AND user_id = $2")
        .bind(team_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    crate::audit::record_with(
        &mut *tx,
        crate::audit::Entry {
            team_id: Some(team_id),
            actor: Some(&actor.user_id),
            action: "member.removed",
            target: Some(("user", user_id)),
            detail: Some(serde_json::json!({"role": current})),
        },
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
