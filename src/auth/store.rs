//! The sessions' and personal API tokens' SQL. Sessions and tokens are keyed by
//! the SHA-256 of their secret; a row joined with its user, team and membership
//! is what a request authenticates as. Issuing and revoking a token write their
//! audit entry in the same transaction.

use serde_json::json;

use super::tokens::TokenInfo;
use crate::audit::Actor;
use crate::storage::{Db, Tx, now_ms};

/// A session or token joined with who it belongs to, as `authenticate` needs it.
#[derive(sqlx::FromRow)]
pub struct CredentialRow {
    pub id: String,
    pub user_id: String,
    pub team_id: String,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
    pub email: String,
    pub name: String,
    pub team_name: String,
    pub role: String,
}

impl CredentialRow {
    /// The principal this credential's row names, with its parsed role.
    pub fn into_principal(
        self,
        role: super::Role,
        credential: super::Credential,
    ) -> super::Principal {
        super::Principal {
            user_id: self.user_id,
            email: self.email,
            name: self.name,
            team_id: self.team_id,
            team_name: self.team_name,
            role,
            credential,
        }
    }
}

/// A session to save.
pub struct SessionRow<'a> {
    pub digest: &'a str,
    pub user_id: &'a str,
    pub team_id: &'a str,
    pub expires_at: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub async fn insert_session(db: &Db, session: &SessionRow<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, team_id, created_at, last_seen_at, expires_at, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
    )
    .bind(session.digest)
    .bind(session.user_id)
    .bind(session.team_id)
    .bind(now_ms())
    .bind(session.expires_at)
    .bind(session.ip)
    .bind(session.user_agent)
    .execute(db.write())
    .await?;
    Ok(())
}

pub async fn delete_session(db: &Db, digest: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(digest)
        .execute(db.write())
        .await?;
    Ok(())
}

/// Deletes every session of a user except `keep`, inside the caller's change.
pub async fn delete_user_sessions(
    tx: &mut Tx,
    user_id: &str,
    keep: Option<&str>,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user_id)
        .bind(keep.unwrap_or(""))
        .execute(&mut **tx)
        .await?;
    Ok(result.rows_affected())
}

/// The session with this digest and who it belongs to (expired ones too).
pub async fn session(db: &Db, digest: &str) -> Result<Option<CredentialRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id, s.user_id, s.team_id, s.expires_at, CAST(NULL AS BIGINT) AS revoked_at, s.last_seen_at AS last_used_at, s.created_at, \
         u.email, u.name, t.name AS team_name, m.role \
         FROM sessions s \
         JOIN users u ON u.id = s.user_id \
         JOIN teams t ON t.id = s.team_id \
         JOIN team_members m ON m.team_id = s.team_id AND m.user_id = s.user_id \
         WHERE s.id = $1",
    )
    .bind(digest)
    .fetch_optional(db.read())
    .await
}

/// Slides a session's expiry forward.
pub async fn touch_session(db: &Db, digest: &str, expires_at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id = $3")
        .bind(now_ms())
        .bind(expires_at)
        .bind(digest)
        .execute(db.write())
        .await?;
    Ok(())
}

pub async fn set_session_team(db: &Db, digest: &str, team_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET team_id = $1 WHERE id = $2")
        .bind(team_id)
        .bind(digest)
        .execute(db.write())
        .await?;
    Ok(())
}

/// Deletes expired sessions, a bounded batch at a time; returns how many went.
pub async fn prune_sessions(db: &Db, batch: i64) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= $1 LIMIT $2)",
    )
    .bind(now_ms())
    .bind(batch)
    .execute(db.write())
    .await?;
    Ok(result.rows_affected())
}

/// Saves a token (its digest only) for the actor, with the audit entry.
pub async fn insert_token(
    db: &Db,
    actor: Actor<'_>,
    info: &TokenInfo,
    digest: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, team_id, name, token_hash, prefix, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&info.id)
    .bind(actor.user_id)
    .bind(actor.team_id)
    .bind(&info.name)
    .bind(digest)
    .bind(&info.prefix)
    .bind(info.created_at)
    .bind(info.expires_at)
    .execute(&mut *tx)
    .await?;
    let detail = json!({"name": info.name});
    let target = ("api_token", info.id.as_str());
    crate::audit::record_in(&mut tx, actor, "token.created", target, Some(detail)).await?;
    tx.commit().await
}

/// The user's live (not revoked) tokens, newest first.
pub async fn list_tokens(db: &Db, user_id: &str) -> Result<Vec<TokenInfo>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, prefix, team_id, created_at, last_used_at, expires_at FROM api_tokens \
         WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC",
    )
    .bind(user_id)
    .fetch_all(db.read())
    .await
}

/// Revokes one of the actor's tokens with the audit entry; false when there is
/// no such live token.
pub async fn revoke_token(db: &Db, actor: Actor<'_>, token_id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let result = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(token_id)
    .bind(actor.user_id)
    .execute(&mut *tx)
    .await?;
    if result.rows_affected() == 0 {
        return Ok(false);
    }
    crate::audit::record_in(
        &mut tx,
        actor,
        "token.revoked",
        ("api_token", token_id),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The token with this digest and who it belongs to (revoked and expired too).
pub async fn token(db: &Db, digest: &str) -> Result<Option<CredentialRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT k.id, k.user_id, k.team_id, k.expires_at, k.revoked_at, k.last_used_at, k.created_at, \
                u.email, u.name, t.name AS team_name, m.role \
         FROM api_tokens k \
         JOIN users u ON u.id = k.user_id \
         JOIN teams t ON t.id = k.team_id \
         JOIN team_members m ON m.team_id = k.team_id AND m.user_id = k.user_id \
         WHERE k.token_hash = $1",
    )
    .bind(digest)
    .fetch_optional(db.read())
    .await
}

pub async fn touch_token(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(db.write())
        .await?;
    Ok(())
}

/// Whether a session still signs its user in to `team_id` (exists, not
/// expired, still a member).
pub async fn session_alive(db: &Db, digest: &str, team_id: &str) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM sessions s \
         JOIN team_members m ON m.user_id = s.user_id AND m.team_id = $2 \
         WHERE s.id = $1 AND s.expires_at > $3",
    )
    .bind(digest)
    .bind(team_id)
    .bind(now_ms())
    .fetch_optional(db.read())
    .await?;
    Ok(found.is_some())
}

/// Whether a token still works (not revoked or expired, still a member).
pub async fn token_alive(db: &Db, token_id: &str) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM api_tokens k \
         JOIN team_members m ON m.user_id = k.user_id AND m.team_id = k.team_id \
         WHERE k.id = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2)",
    )
    .bind(token_id)
    .bind(now_ms())
    .fetch_optional(db.read())
    .await?;
    Ok(found.is_some())
}

/// One of a user's sessions, as the account page lists it.
#[derive(Debug, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SessionInfo {
    /// The session's id (the SHA-256 of its cookie; the cookie cannot be
    /// derived from it).
    pub id: String,
    pub team_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The user's unexpired sessions, most recently used first.
pub async fn list_sessions(db: &Db, user_id: &str) -> Result<Vec<SessionInfo>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, team_id, created_at, last_seen_at, expires_at, ip, user_agent FROM sessions \
         WHERE user_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC",
    )
    .bind(user_id)
    .bind(now_ms())
    .fetch_all(db.read())
    .await
}

/// Ends one of the actor's sessions, with the audit entry; false when the
/// actor has no such session.
pub async fn end_session(db: &Db, actor: Actor<'_>, session_id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let result = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
        .bind(session_id)
        .bind(actor.user_id)
        .execute(&mut *tx)
        .await?;
    if result.rows_affected() == 0 {
        return Ok(false);
    }
    crate::audit::record_in(
        &mut tx,
        actor,
        "session.ended",
        ("user", actor.user_id.unwrap_or_default()),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Ends every session of the actor ("sign out everywhere"), with the audit
/// entry; returns how many ended.
pub async fn end_all_sessions(db: &Db, actor: Actor<'_>) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let ended = delete_user_sessions(&mut tx, actor.user_id.unwrap_or_default(), None).await?;
    let detail = json!({"sessions": ended});
    let target = ("user", actor.user_id.unwrap_or_default());
    crate::audit::record_in(&mut tx, actor, "sessions.ended_all", target, Some(detail)).await?;
    tx.commit().await?;
    Ok(ended)
}

/// Revokes every live token of the actor, with the audit entry; returns how
/// many.
pub async fn revoke_all_tokens(db: &Db, actor: Actor<'_>) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let result = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(actor.user_id)
    .execute(&mut *tx)
    .await?;
    let detail = json!({"tokens": result.rows_affected()});
    let target = ("user", actor.user_id.unwrap_or_default());
    crate::audit::record_in(&mut tx, actor, "tokens.revoked_all", target, Some(detail)).await?;
    tx.commit().await?;
    Ok(result.rows_affected())
}

/// When a session was created (for its absolute end), if it exists.
pub async fn session_created_at(db: &Db, digest: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT created_at FROM sessions WHERE id = $1")
        .bind(digest)
        .fetch_optional(db.read())
        .await
}
