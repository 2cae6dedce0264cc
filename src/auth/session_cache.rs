//! Resolved sessions kept in memory for a moment, so a busy console does not
//! pay the session's joined read on every request.
//!
//! An entry lives at most `session_cache_ms` (1 s by default), and goes at
//! once when the access behind it changes: every change that ends or alters a
//! session (logout, signing out a session or all of them, a password change,
//! removal from a team, a role change, a team switch) is published as
//! [`AccessEnded`] after its commit; [`AppState::access_ended`] forgets the
//! matching entries here before publishing, and every replica forgets them
//! when the event arrives through the bus bridge (`bus::streams::watch`). A
//! replica that may have missed events (its watcher lagged, or the bridge
//! reconnected) forgets everything. Expiry needs no event: each hit checks
//! the session's own idle and absolute end, and an entry that looks expired
//! is read again rather than trusted.
//!
//! [`AppState::access_ended`]: crate::app::AppState::access_ended

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Principal;
use crate::bus::streams::AccessEnded;

/// Entries held at most; past it the stale ones go, then all of them.
const CAPACITY: usize = 10_000;

/// A resolved session as its row said when it was read.
#[derive(Debug, Clone)]
pub struct CachedSession {
    pub principal: Principal,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: i64,
}

#[derive(Debug)]
struct Entry {
    session: CachedSession,
    read_at: Instant,
}

#[derive(Debug)]
pub struct SessionCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl SessionCache {
    /// A cache whose entries live `ttl` (zero: nothing is kept).
    pub fn new(ttl: Duration) -> SessionCache {
        SessionCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        match self.entries.lock() {
            Ok(entries) => entries,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The session behind `digest`, when read less than the TTL ago.
    pub fn get(&self, digest: &str) -> Option<CachedSession> {
        let entries = self.entries();
        let entry = entries.get(digest)?;
        (entry.read_at.elapsed() < self.ttl).then(|| entry.session.clone())
    }

    pub fn put(&self, digest: &str, session: CachedSession) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= CAPACITY {
            let ttl = self.ttl;
            entries.retain(|_, entry| entry.read_at.elapsed() < ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            digest.to_string(),
            Entry {
                session,
                read_at: Instant::now(),
            },
        );
    }

    /// The session was used (and its expiry moved) at `now`.
    pub fn touched(&self, digest: &str, now: i64, expires_at: i64) {
        if let Some(entry) = self.entries().get_mut(digest) {
            entry.session.last_used_at = now;
            entry.session.expires_at = expires_at;
        }
    }

    /// Forgets the sessions `ended` covers. Tokens are not cached.
    pub fn forget(&self, ended: &AccessEnded) {
        let mut entries = self.entries();
        match ended {
            AccessEnded::Session { session_id } => {
                entries.remove(session_id);
            }
            AccessEnded::Sessions { user_id, .. }
            | AccessEnded::Membership { user_id, .. }
            | AccessEnded::Changed { user_id } => {
                entries.retain(|_, entry| entry.session.principal.user_id != *user_id);
            }
            AccessEnded::Token { .. } | AccessEnded::Tokens { .. } => {}
        }
    }

    /// Forgets everything (events may have been missed).
    pub fn clear(&self) {
        self.entries().clear();
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Credential, Role};

    fn session(user: &str, digest: &str) -> CachedSession {
        CachedSession {
            principal: Principal {
                user_id: user.into(),
                email: format!("{user}@example.com"),
                name: user.into(),
                team_id: "team".into(),
                team_name: "Team".into(),
                role: Role::Member,
                credential: Credential::Session {
                    session_id: digest.into(),
                },
            },
            created_at: 0,
            expires_at: i64::MAX,
            last_used_at: 0,
        }
    }

    #[test]
    fn entries_go_with_the_access_that_ended_or_changed() {
        let cache = SessionCache::new(Duration::from_secs(60));
        cache.put("a1", session("ada", "a1"));
        cache.put("a2", session("ada", "a2"));
        cache.put("b1", session("bo", "b1"));
        cache.forget(&AccessEnded::Token {
            token_id: "a1".into(),
        });
        assert_eq!(cache.len(), 3, "tokens are not cached");
        cache.forget(&AccessEnded::Session {
            session_id: "a1".into(),
        });
        assert!(cache.get("a1").is_none());
        assert!(cache.get("a2").is_some());
        cache.forget(&AccessEnded::Changed {
            user_id: "ada".into(),
        });
        assert!(cache.get("a2").is_none());
        assert!(cache.get("b1").is_some());
        cache.forget(&AccessEnded::Membership {
            user_id: "bo".into(),
            team_id: "team".into(),
        });
        assert!(cache.is_empty());
    }

    #[test]
    fn an_entry_lives_no_longer_than_the_ttl() {
        let cache = SessionCache::new(Duration::from_millis(30));
        cache.put("a1", session("ada", "a1"));
        assert!(cache.get("a1").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get("a1").is_none());
        let off = SessionCache::new(Duration::ZERO);
        off.put("a1", session("ada", "a1"));
        assert!(off.get("a1").is_none(), "a zero TTL keeps nothing");
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = SessionCache::new(Duration::from_secs(60));
        for n in 0..CAPACITY + 5 {
            cache.put(&n.to_string(), session("ada", &n.to_string()));
        }
        assert!(cache.len() <= CAPACITY);
    }
}
