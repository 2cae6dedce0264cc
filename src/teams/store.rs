//! The teams' and memberships' SQL. Roles decode at this edge: an unknown
//! role in the database is an error naming it. Role changes and removals run in
//! the caller's transaction (which holds the team's lock) with their audit entry.

use serde_json::json;

use super::{Member, TeamMembership};
use crate::audit::Actor;
use crate::auth::Role;
use crate::storage::{Db, Tx, decode_name, new_id, now_ms};

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

pub async fn insert_member(
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

#[derive(sqlx::FromRow)]
struct MembershipRow {
    id: String,
    name: String,
    is_demo: i64,
    role: String,
}

/// The teams a user belongs to, oldest membership first.
pub async fn teams_of(db: &Db, user_id: &str) -> Result<Vec<TeamMembership>, sqlx::Error> {
    let rows: Vec<MembershipRow> = sqlx::query_as(&format!(
        "SELECT t.id, t.name, {} AS is_demo, m.role FROM team_members m JOIN teams t ON t.id = m.team_id \
         WHERE m.user_id = $1 ORDER BY m.joined_at, t.name",
        crate::storage::flag_as_integer("t.is_demo")
    ))
    .bind(user_id)
    .fetch_all(db.read())
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(TeamMembership {
                role: decode_name("role", &row.role)?,
                team_id: row.id,
                team_name: row.name,
                is_demo: row.is_demo != 0,
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    id: String,
    email: String,
    name: String,
    role: String,
    joined_at: Option<i64>,
}

/// The team's members, earliest first.
pub async fn members(db: &Db, team_id: &str) -> Result<Vec<Member>, sqlx::Error> {
    let rows: Vec<MemberRow> = sqlx::query_as(
        "SELECT u.id, u.email, u.name, m.role, m.joined_at FROM team_members m JOIN users u ON u.id = m.user_id \
         WHERE m.team_id = $1 ORDER BY m.joined_at, u.email",
    )
    .bind(team_id)
    .fetch_all(db.read())
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Member {
                role: decode_name("role", &row.role)?,
                user_id: row.id,
                email: row.email,
                name: row.name,
                joined_at: row.joined_at,
            })
        })
        .collect()
}
pub async fn role_in(
    tx: &mut Tx,
    team_id: &str,
    user_id: &str,
) -> Result<Option<Role>, sqlx::Error> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2")
            .bind(team_id)
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?;
    role.map(|role| decode_name("role", &role)).transpose()
}

pub async fn owner_count(tx: &mut Tx, team_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND role = 'owner'")
        .bind(team_id)
        .fetch_one(&mut **tx)
        .await
}

/// Sets a member's role, with the audit entry, inside the caller's transaction.
pub async fn set_role(
    tx: &mut Tx,
    actor: Actor<'_>,
    user_id: &str,
    from: Role,
    to: Role,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE team_members SET role = $1 WHERE team_id = $2 AND user_id = $3")
        .bind(to.as_str())
        .bind(actor.team_id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    let detail = json!({"from": from, "to": to});
    crate::audit::record_in(
        tx,
        actor,
        "member.role_changed",
        ("user", user_id),
        Some(detail),
    )
    .await
}

/// Removes a member, their sessions in the team and their tokens for it, with the audit entry,
/// inside the caller's transaction.
pub async fn delete_member(
    tx: &mut Tx,
    actor: Actor<'_>,
    user_id: &str,
    role: Role,
    action: &str,
) -> Result<(), sqlx::Error> {
    for statement in [
        "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2",
        "DELETE FROM sessions WHERE team_id = $1 AND user_id = $2",
    ] {
        sqlx::query(statement)
            .bind(actor.team_id)
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = $3 WHERE team_id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(actor.team_id)
    .bind(user_id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    crate::notifications::forget_team_in(tx, actor.team_id, user_id).await?;
    let detail = json!({"role": role});
    crate::audit::record_in(tx, actor, action, ("user", user_id), Some(detail)).await
}

/// Every team's id (for maintenance commands).
pub async fn all_ids(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM teams")
        .fetch_all(db.read())
        .await
}

#[derive(sqlx::FromRow)]
struct MemberActivityRow {
    id: String,
    email: String,
    name: String,
    role: String,
    joined_at: Option<i64>,
    invited_by: Option<String>,
    last_seen: Option<i64>,
    last_action: Option<i64>,
    executions: i64,
    page_views: i64,
    changes: i64,
}

/// The team's members with who invited them, when they were last active and
/// what they did since `since`: executions started, pages opened, changes made.
pub async fn members_with_activity(
    db: &Db,
    team_id: &str,
    since: i64,
) -> Result<Vec<super::MemberActivity>, sqlx::Error> {
    let rows: Vec<MemberActivityRow> = sqlx::query_as(
        "SELECT u.id, u.email, u.name, m.role, m.joined_at, i.name AS invited_by, \
         (SELECT MAX(s.last_seen_at) FROM sessions s WHERE s.user_id = u.id AND s.team_id = m.team_id) AS last_seen, \
         (SELECT MAX(a.timestamp) FROM user_actions a WHERE a.user_id = u.id AND a.team_id = m.team_id) AS last_action, \
         (SELECT COUNT(*) FROM executions e WHERE e.team_id = m.team_id AND e.user_id = u.id AND e.created_at >= $2) AS executions, \
         (SELECT COUNT(*) FROM user_actions a WHERE a.team_id = m.team_id AND a.user_id = u.id \
            AND a.action_type = 'page_view' AND a.timestamp >= $2) AS page_views, \
         (SELECT COUNT(*) FROM audit_log l WHERE l.team_id = m.team_id AND l.actor_user_id = u.id AND l.created_at >= $2) AS changes \
         FROM team_members m JOIN users u ON u.id = m.user_id LEFT JOIN users i ON i.id = m.invited_by \
         WHERE m.team_id = $1 ORDER BY m.joined_at, u.email",
    )
    .bind(team_id)
    .bind(since)
    .fetch_all(db.read())
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(super::MemberActivity {
                member: Member {
                    role: decode_name("role", &row.role)?,
                    user_id: row.id,
                    email: row.email,
                    name: row.name,
                    joined_at: row.joined_at,
                },
                invited_by: row.invited_by,
                last_active: row.last_seen.max(row.last_action),
                executions: row.executions,
                page_views: row.page_views,
                changes: row.changes,
            })
        })
        .collect()
}

/// Pages a member opened since `since`, by component, most used first.
pub async fn pages_used(
    db: &Db,
    team_id: &str,
    user_id: &str,
    since: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT component_id, COUNT(*) AS views FROM user_actions \
         WHERE team_id = $1 AND user_id = $2 AND action_type = 'page_view' AND timestamp >= $3 AND component_id IS NOT NULL \
         GROUP BY component_id ORDER BY views DESC, component_id",
    )
    .bind(team_id)
    .bind(user_id)
    .bind(since)
    .fetch_all(db.read())
    .await
}

/// A member's latest changes in the team, from the audit log.
pub async fn recent_changes(
    db: &Db,
    team_id: &str,
    user_id: &str,
    limit: i64,
) -> Result<Vec<super::Change>, sqlx::Error> {
    let rows: Vec<(String, Option<String>, Option<String>, i64)> = sqlx::query_as(
        "SELECT action, target_type, target_id, created_at FROM audit_log \
         WHERE team_id = $1 AND actor_user_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    .bind(team_id)
    .bind(user_id)
    .bind(limit)
    .fetch_all(db.read())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(action, target_type, target_id, at)| super::Change {
            action,
            target_type,
            target_id,
            at,
        })
        .collect())
}
