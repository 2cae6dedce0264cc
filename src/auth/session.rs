//! Server-side sessions. The cookie holds a random token; the `sessions` row is
//! keyed by its SHA-256, so deleting the row revokes the cookie at once (logout,
//! password change, removal from a team). A new token is issued at every login.

use axum_extra::extract::cookie::{Cookie, SameSite};

use super::session_cache::{CachedSession, SessionCache};
use super::store::{self, SessionRow};
use super::{Credential, Principal, Role, secret};
use crate::storage::{Db, now_ms};

pub const COOKIE_NAME: &str = "hummbl_session";

/// Refresh a session's expiry at most this often (ms), not on every request.
const TOUCH_INTERVAL_MS: i64 = 60_000;

/// How long a session lasts: `idle_ms` after its last use, and never longer
/// than `absolute_ms` after sign-in, however busy (a stolen cookie does not
/// live forever by being used).
#[derive(Debug, Clone, Copy)]
pub struct Lifetime {
    pub idle_ms: i64,
    pub absolute_ms: i64,
}

impl Lifetime {
    /// The expiry of a session created at `created_at`, used at `now`.
    pub fn expiry(&self, created_at: i64, now: i64) -> i64 {
        now.saturating_add(self.idle_ms)
            .min(created_at.saturating_add(self.absolute_ms))
    }

    /// How long a new session lasts before its first use renews it.
    pub fn initial_ms(&self) -> i64 {
        self.idle_ms.min(self.absolute_ms)
    }
}

pub struct NewSession<'a> {
    pub user_id: &'a str,
    pub team_id: &'a str,
    /// Until the first expiry (see [`Lifetime::initial_ms`]).
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

/// Deletes the session a cookie token names (logout); returns its id (digest).
pub async fn revoke_token(db: &Db, token: &str) -> Result<String, sqlx::Error> {
    let id = secret::digest(token);
    store::delete_session(db, &id).await?;
    Ok(id)
}

/// Resolves a cookie token to the signed-in principal, sliding the expiry
/// forward up to the absolute lifetime. A session resolved a moment ago comes
/// from `cache` (see `session_cache` for when entries go).
pub async fn resolve(
    db: &Db,
    cache: &SessionCache,
    token: &str,
    lifetime: Lifetime,
) -> Result<Option<Principal>, sqlx::Error> {
    let id = secret::digest(token);
    let now = now_ms();
    let session = match cache.get(&id).filter(|cached| alive(cached, lifetime, now)) {
        Some(cached) => cached,
        None => {
            let Some(session) = read(db, &id).await? else {
                return Ok(None);
            };
            if !alive(&session, lifetime, now) {
                return Ok(None);
            }
            cache.put(&id, session.clone());
            session
        }
    };
    if now - session.last_used_at > TOUCH_INTERVAL_MS {
        let expires_at = lifetime.expiry(session.created_at, now);
        store::touch_session(db, &id, expires_at).await?;
        cache.touched(&id, now, expires_at);
    }
    Ok(Some(session.principal))
}

/// Neither idle past its expiry nor past its absolute lifetime.
fn alive(session: &CachedSession, lifetime: Lifetime, now: i64) -> bool {
    let hard_end = session.created_at.saturating_add(lifetime.absolute_ms);
    session.expires_at > now && hard_end > now
}

/// The session row behind `id`, with its user, team and role.
async fn read(db: &Db, id: &str) -> Result<Option<CachedSession>, sqlx::Error> {
    let Some(row) = store::session(db, id).await? else {
        return Ok(None);
    };
    let (Some(expires_at), Ok(role)) = (row.expires_at, row.role.parse::<Role>()) else {
        return Ok(None);
    };
    Ok(Some(CachedSession {
        created_at: row.created_at,
        expires_at,
        last_used_at: row.last_used_at.unwrap_or(0),
        principal: row.into_principal(
            role,
            Credential::Session {
                session_id: id.to_string(),
            },
        ),
    }))
}

pub use store::SessionInfo;

/// The user's unexpired sessions, most recently used first.
pub async fn list(db: &Db, user_id: &str) -> Result<Vec<SessionInfo>, sqlx::Error> {
    store::list_sessions(db, user_id).await
}

/// Ends one of the actor's sessions (audited); false when there is none such.
pub async fn end(
    db: &Db,
    actor: crate::audit::Actor<'_>,
    session_id: &str,
) -> Result<bool, sqlx::Error> {
    store::end_session(db, actor, session_id).await
}

/// Ends every session of the actor (audited); returns how many.
pub async fn end_all(db: &Db, actor: crate::audit::Actor<'_>) -> Result<u64, sqlx::Error> {
    store::end_all_sessions(db, actor).await
}

/// When the session behind `digest` ends however busy it is (its absolute
/// lifetime), if it exists.
pub async fn hard_end(
    db: &Db,
    digest: &str,
    lifetime: Lifetime,
) -> Result<Option<i64>, sqlx::Error> {
    Ok(store::session_created_at(db, digest)
        .await?
        .map(|created_at| created_at.saturating_add(lifetime.absolute_ms)))
}

/// Moves a session to another team (the team switcher).
pub async fn switch_team(db: &Db, session_id: &str, team_id: &str) -> Result<(), sqlx::Error> {
    store::set_session_team(db, session_id, team_id).await
}

/// Deletes expired sessions, a bounded batch at a time; returns how many went.
pub async fn prune_expired(db: &Db, batch: i64) -> Result<u64, sqlx::Error> {
    store::prune_sessions(db, batch).await
}

#[cfg(test)]
mod tests {
    use super::Lifetime;

    #[test]
    fn use_slides_the_expiry_up_to_the_absolute_lifetime() {
        let day = 86_400_000;
        let lifetime = Lifetime {
            idle_ms: 7 * day,
            absolute_ms: 30 * day,
        };
        assert_eq!(lifetime.expiry(0, day), 8 * day);
        assert_eq!(lifetime.expiry(0, 29 * day), 30 * day, "capped");
        assert_eq!(lifetime.initial_ms(), 7 * day);
        let short = Lifetime {
            idle_ms: 7 * day,
            absolute_ms: day,
        };
        assert_eq!(short.initial_ms(), day);
    }
}
