//! The demo's own reads: whether the database is empty, who in the demo team
//! starts executions, and which demo workflows the live trickle may run.

use crate::storage::Db;

/// How many users the database holds (the demo seeds only an empty one).
pub async fn user_count(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db.read())
        .await
}

/// Members of the team who may start executions (not viewers), by id.
pub async fn actors(db: &Db, team_id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT user_id FROM team_members WHERE team_id = $1 AND role <> 'viewer' ORDER BY user_id",
    )
    .bind(team_id)
    .fetch_all(db.read())
    .await
}

/// (workflow id, team id) of every live workflow of a demo team.
pub async fn demo_workflows(db: &Db) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT w.id, w.team_id FROM workflows w JOIN teams t ON t.id = w.team_id \
         WHERE t.is_demo = $1 AND w.archived_at IS NULL",
    )
    .bind(true)
    .fetch_all(db.read())
    .await
}

/// The team's latest failed executions, newest first.
pub async fn latest_failures(
    db: &Db,
    team_id: &str,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM executions WHERE team_id = $1 AND status = 'failed' ORDER BY created_at DESC LIMIT $2",
    )
    .bind(team_id)
    .bind(limit)
    .fetch_all(db.read())
    .await
}
