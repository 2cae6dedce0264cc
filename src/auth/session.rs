//! Server-side sessions. The cookie holds a random token; the `sessions` row is
//! keyed by its SHA-256, so deleting the row revokes the cookie at once (logout,
//! password change, removal from a team). A new token is issued at every login.

use axum_extra::extract::cookie::{Cookie, SameSite};
use sqlx::Row;

use super::secret;
use super::{Credential, Principal, Role};
use crate::storage::{Db, now_ms};

pub const COOKIE_NAME: &str = "hummbl_session";

/// Refresh a session's expiry at most this often (ms), not on every request.
const TOUCH_INTERVAL_MS: i64 = 60_000;

pub struct NewSession<'a> {
    pub user_id: &'a str,
    pub team_id: &'a str,
    pub ttl_ms: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Creates a session and returns the cookie token (only the digest is stored).
pub async fn create(db: &Db, new: NewSession<'_>) -> Result<String, sqlx::Error> {
    let token = secret::generate("");
    let now = now_ms();
    sqlx::query(
        "INSERT INTO sessions (id, user_id, team_id, created_at, last_seen_at, expires_at, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
    )
    .bind(secret::digest(&token))
    .bind(new.user_id)
    .bind(new.team_id)
    .bind(now)
    .bind(now + new.ttl_ms)
    .bind(new.ip)
    .bind(new.user_agent.map(|ua| ua.chars().take(300).collect::<String>()))
    .execute(db.write())
    .await?;
    Ok(token)
}

/// The session cookie for `token`; Secure when HUMMBL is served over HTTPS.
pub fn cookie(token: String, secure: bool, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build((COOKIE_NAME, token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(time_duration(max_age_secs))
        .build()
}

/// A cookie that makes the browser forget the session.
pub fn removal_cookie(secure: bool) -> Cookie<'static> {
    cookie(String::new(), secure, 0)
}

fn time_duration(secs: i64) -> time::Duration {
    time::Duration::seconds(secs)
}

/// Deletes the session a cookie token names (logout).
pub async fn revoke_token(db: &Db, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(secret::digest(token))
        .execute(db.write())
        .await?;
    Ok(())
}

/// Deletes every session of a user except `keep` (password change).
pub async fn revoke_all_for_user(
    db: &Db,
    user_id: &str,
    keep: Option<&str>,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user_id)
        .bind(keep.unwrap_or(""))
        .execute(db.write())
        .await?;
    Ok(result.rows_affected())
}

/// Resolves a cookie token to the signed-in principal, sliding the expiry forward.
pub async fn resolve(db: &Db, token: &str, ttl_ms: i64) -> Result<Option<Principal>, sqlx::Error> {
    let id = secret::digest(token);
    let row = sqlx::query(
        "SELECT s.user_id, s.team_id, s.expires_at, s.last_seen_at, u.email, u.name, t.name AS team_name, m.role \
         FROM sessions s \
         JOIN users u ON u.id = s.user_id \
         JOIN teams t ON t.id = s.team_id \
         JOIN team_members m ON m.team_id = s.team_id AND m.user_id = s.user_id \
         WHERE s.id = $1",
    )
    .bind(&id)
    .fetch_optional(db.read())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let now = now_ms();
    if row.try_get::<i64, _>("expires_at")? <= now {
        return Ok(None);
    }
    let Ok(role) = row.try_get::<String, _>("role")?.parse::<Role>() else {
        return Ok(None);
    };
    if now - row.try_get::<i64, _>("last_seen_at")? > TOUCH_INTERVAL_MS {
        sqlx::query("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id = $3")
            .bind(now)
            .bind(now + ttl_ms)
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
        credential: Credential::Session { session_id: id },
    }))
}

/// Moves a session to another team (the team switcher).
pub async fn switch_team(db: &Db, session_id: &str, team_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET team_id = $1 WHERE id = $2")
        .bind(team_id)
        .bind(session_id)
        .execute(db.write())
        .await?;
    Ok(())
}

/// Deletes expired sessions, a bounded batch at a time; returns how many went.
pub async fn prune_expired(db: &Db, batch: i64) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= $1 LIMIT $2)",
    )
    .bind(now_ms())
    .bind(batch)
    .execute(db.write())
    .await?;
    Ok(result.rows_affected())
}
