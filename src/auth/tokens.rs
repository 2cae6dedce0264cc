//! Personal API tokens for `Authorization: Bearer`. A token acts as its owner in
//! the team it was created in, with the owner's role there as it is now (a role
//! change or removal applies at once). Shown once; only the SHA-256 is stored.

use serde::Serialize;
use sqlx::Row;

use super::secret;
use super::{Credential, Principal, Role};
use crate::storage::{Db, new_id, now_ms};

pub const TOKEN_PREFIX: &str = "hmb_pat_";
const TOUCH_INTERVAL_MS: i64 = 60_000;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    /// The first characters of the token, to tell tokens apart.
    pub prefix: String,
    pub team_id: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
}

pub struct CreatedToken {
    pub info: TokenInfo,
    /// The token itself: returned once, never stored.
    pub secret: String,
}

pub async fn create(
    db: &Db,
    user_id: &str,
    team_id: &str,
    name: &str,
    expires_at: Option<i64>,
) -> Result<CreatedToken, sqlx::Error> {
    let secret = secret::generate(TOKEN_PREFIX);
    let info = TokenInfo {
        id: new_id(),
        name: name.to_string(),
        prefix: secret.chars().take(TOKEN_PREFIX.len() + 4).collect(),
        team_id: team_id.to_string(),
        created_at: now_ms(),
        last_used_at: None,
        expires_at,
    };
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, team_id, name, token_hash, prefix, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&info.id)
    .bind(user_id)
    .bind(team_id)
    .bind(&info.name)
    .bind(secret::digest(&secret))
    .bind(&info.prefix)
    .bind(info.created_at)
    .bind(info.expires_at)
    .execute(db.write())
    .await?;
    Ok(CreatedToken { info, secret })
}

/// The user's live (not revoked) tokens, newest first.
pub async fn list(db: &Db, user_id: &str) -> Result<Vec<TokenInfo>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, name, prefix, team_id, created_at, last_used_at, expires_at FROM api_tokens \
         WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC",
    )
    .bind(user_id)
    .fetch_all(db.read())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(TokenInfo {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                prefix: row.try_get("prefix")?,
                team_id: row.try_get("team_id")?,
                created_at: row.try_get("created_at")?,
                last_used_at: row.try_get("last_used_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .collect()
}

/// Revokes one of the user's tokens; false when there is no such live token.
pub async fn revoke(db: &Db, user_id: &str, token_id: &str) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(token_id)
    .bind(user_id)
    .execute(db.write())
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Resolves a bearer token to its principal.
pub async fn resolve(db: &Db, token: &str) -> Result<Option<Principal>, sqlx::Error> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT k.id, k.user_id, k.team_id, k.expires_at, k.revoked_at, k.last_used_at, \
                u.email, u.name, t.name AS team_name, m.role \
         FROM api_tokens k \
         JOIN users u ON u.id = k.user_id \
         JOIN teams t ON t.id = k.team_id \
         JOIN team_members m ON m.team_id = k.team_id AND m.user_id = k.user_id \
         WHERE k.token_hash = $1",
    )
    .bind(secret::digest(token))
    .fetch_optional(db.read())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let now = now_ms();
    if row.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
        return Ok(None);
    }
    if row
        .try_get::<Option<i64>, _>("expires_at")?
        .is_some_and(|expires| expires <= now)
    {
        return Ok(None);
    }
    let Ok(role) = row.try_get::<String, _>("role")?.parse::<Role>() else {
        return Ok(None);
    };
    let id: String = row.try_get("id")?;
    let last_used = row.try_get::<Option<i64>, _>("last_used_at")?.unwrap_or(0);
    if now - last_used > TOUCH_INTERVAL_MS {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&id)
            .execute(db.write())
            .await?;
    }
    Ok(Some(Principal {
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        team_id: row.try_get("team_id")?,
        team_name: row.try_get("team_name")?,
        role,
        credential: Credential::Token { token_id: id },
    }))
}
