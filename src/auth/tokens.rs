//! Personal API tokens for `Authorization: Bearer`. A token acts as its owner in
//! the team it was created in, with the owner's role there as it is now (a role
//! change or removal applies at once). Shown once; only the SHA-256 is stored.

use serde::Serialize;

use super::{Credential, Principal, Role, secret, store};
use crate::audit::Actor;
use crate::storage::{Db, new_id, now_ms};

pub const TOKEN_PREFIX: &str = "hmb_pat_";
const TOUCH_INTERVAL_MS: i64 = 60_000;

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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

/// Issues a token acting as the actor in the actor's team (audited with it).
pub async fn create(
    db: &Db,
    actor: Actor<'_>,
    name: &str,
    expires_at: Option<i64>,
) -> Result<CreatedToken, sqlx::Error> {
    let secret = secret::generate(TOKEN_PREFIX);
    let info = TokenInfo {
        id: new_id(),
        name: name.to_string(),
        prefix: secret.chars().take(TOKEN_PREFIX.len() + 4).collect(),
        team_id: actor.team_id.to_string(),
        created_at: now_ms(),
        last_used_at: None,
        expires_at,
    };
    store::insert_token(db, actor, &info, &secret::digest(&secret)).await?;
    Ok(CreatedToken { info, secret })
}

pub use store::list_tokens as list;

/// Revokes one of the actor's tokens (audited with it); false when there is no
/// such live token.
pub async fn revoke(db: &Db, actor: Actor<'_>, token_id: &str) -> Result<bool, sqlx::Error> {
    store::revoke_token(db, actor, token_id).await
}

/// Revokes every live token of the actor (audited); returns how many.
pub async fn revoke_all(db: &Db, actor: Actor<'_>) -> Result<u64, sqlx::Error> {
    store::revoke_all_tokens(db, actor).await
}

/// Resolves a bearer token to its principal.
pub async fn resolve(db: &Db, token: &str) -> Result<Option<Principal>, sqlx::Error> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let Some(row) = store::token(db, &secret::digest(token)).await? else {
        return Ok(None);
    };
    let now = now_ms();
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|expires| expires <= now) {
        return Ok(None);
    }
    let Ok(role) = row.role.parse::<Role>() else {
        return Ok(None);
    };
    if now - row.last_used_at.unwrap_or(0) > TOUCH_INTERVAL_MS {
        store::touch_token(db, &row.id).await?;
    }
    let token_id = row.id.clone();
    Ok(Some(
        row.into_principal(role, Credential::Token { token_id }),
    ))
}
