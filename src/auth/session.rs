//! Server-side sessions. The cookie holds a random token; the `sessions` row is
//! keyed by its SHA-256, so deleting the row revokes the cookie at once (logout,
//! password change, removal from a team). A new token is issued at every login.

use axum_extra::extract::cookie::{Cookie, SameSite};

use super::store::{self, SessionRow};
use super::{Credential, Principal, Role, secret};
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
    let user_agent = new
        .user_agent
        .map(|ua| ua.chars().take(300).collect::<String>());
    let row = SessionRow {
        digest: &secret::digest(&token),
        user_id: new.user_id,
        team_id: new.team_id,
        expires_at: now_ms() + new.ttl_ms,
        ip: new.ip.as_deref(),
        user_agent: user_agent.as_deref(),
    };
    store::insert_session(db, &row).await?;
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
    store::delete_session(db, &secret::digest(token)).await
}

/// Resolves a cookie token to the signed-in principal, sliding the expiry forward.
pub async fn resolve(db: &Db, token: &str, ttl_ms: i64) -> Result<Option<Principal>, sqlx::Error> {
    let id = secret::digest(token);
    let Some(row) = store::session(db, &id).await? else {
        return Ok(None);
    };
    let now = now_ms();
    if row.expires_at.is_none_or(|expires| expires <= now) {
        return Ok(None);
    }
    let Ok(role) = row.role.parse::<Role>() else {
        return Ok(None);
    };
    if now - row.last_used_at.unwrap_or(0) > TOUCH_INTERVAL_MS {
        store::touch_session(db, &id, now + ttl_ms).await?;
    }
    Ok(Some(Principal {
        user_id: row.user_id,
        email: row.email,
        name: row.name,
        team_id: row.team_id,
        team_name: row.team_name,
        role,
        credential: Credential::Session { session_id: id },
    }))
}

/// Moves a session to another team (the team switcher).
pub async fn switch_team(db: &Db, session_id: &str, team_id: &str) -> Result<(), sqlx::Error> {
    store::set_session_team(db, session_id, team_id).await
}

/// Deletes expired sessions, a bounded batch at a time; returns how many went.
pub async fn prune_expired(db: &Db, batch: i64) -> Result<u64, sqlx::Error> {
    store::prune_sessions(db, batch).await
}
