//! Ingestion keys: write-only credentials other apps send telemetry with. A key
//! belongs to a team (the events go to that team, whatever the payload says) and
//! lists the browser origins allowed to use it. Keys are random, shown once and
//! stored as SHA-256. Lookups are cached for a short time because ingestion is the
//! hottest path; revoking on this replica clears the cache at once, other
//! replicas notice within `CACHE_TTL`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::store;
use crate::audit::Actor;
use crate::auth::secret;
use crate::error::AppError;
use crate::storage::{Db, new_id, now_ms};

pub const KEY_PREFIX: &str = "hmb_ik_";
const CACHE_TTL: Duration = Duration::from_secs(30);
const CACHE_MAX_ENTRIES: usize = 10_000;
const TOUCH_INTERVAL_MS: i64 = 60_000;

/// A resolved ingestion key: what a request authenticated with it may do.
#[derive(Debug, Clone)]
pub struct IngestKey {
    pub id: String,
    pub team_id: String,
    pub allowed_origins: Vec<String>,
}

impl IngestKey {
    /// Browsers must send an allowed Origin; server-side senders send none.
    pub fn allows_origin(&self, origin: Option<&str>) -> bool {
        match origin {
            None => true,
            Some(origin) => self.allowed_origins.iter().any(|allowed| allowed == origin),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
// Named apart from the provider keys' `KeyInfo`: the OpenAPI document has one
// namespace of schema names, and a clash silently keeps only one of them.
#[schema(as = IngestionKeyInfo)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub allowed_origins: Vec<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

struct Cached {
    key: Option<IngestKey>,
    fetched: Instant,
    touched_ms: i64,
}

/// Short-lived cache of key lookups (also of misses, so a flood of bad keys
/// does not become a flood of queries).
#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, Cached>>,
}

impl KeyCache {
    fn get(&self, digest: &str) -> Option<Option<IngestKey>> {
        let entries = self.entries.lock().ok()?;
        let cached = entries.get(digest)?;
        (cached.fetched.elapsed() < CACHE_TTL).then(|| cached.key.clone())
    }

    fn put(&self, digest: String, key: Option<IngestKey>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(
                digest,
                Cached {
                    key,
                    fetched: Instant::now(),
                    touched_ms: now_ms(),
                },
            );
        }
    }

    /// Whether `last_used_at` should be written now (at most once a minute).
    fn should_touch(&self, digest: &str) -> bool {
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        match entries.get_mut(digest) {
            Some(cached) if now_ms() - cached.touched_ms > TOUCH_INTERVAL_MS => {
                cached.touched_ms = now_ms();
                true
            }
            _ => false,
        }
    }

    pub fn forget_all(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// Resolves a presented key (cached).
pub async fn resolve(
    db: &Db,
    cache: &KeyCache,
    presented: &str,
) -> Result<Option<IngestKey>, sqlx::Error> {
    if !presented.starts_with(KEY_PREFIX) || presented.len() > 128 {
        return Ok(None);
    }
    let digest = secret::digest(presented);
    if let Some(cached) = cache.get(&digest) {
        if cached.is_some() && cache.should_touch(&digest) {
            store::touch_key(db, &digest).await?;
        }
        return Ok(cached);
    }
    let key = store::live_key(db, &digest).await?;
    cache.put(digest, key.clone());
    Ok(key)
}

/// Normalizes an allowed origin (`https://app.example.com[:port]`).
pub fn parse_origin(text: &str, field: &str) -> Result<String, AppError> {
    let invalid = || {
        AppError::validation(
            field,
            "must be an origin like https://app.example.com (no path)",
        )
    };
    let url = url::Url::parse(text.trim()).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid());
    }
    if url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(invalid());
    }
    Ok(url.origin().ascii_serialization())
}

pub struct CreatedKey {
    pub info: KeyInfo,
    pub secret: String,
}

/// Issues a key for the actor's team (audited with it); the secret is in the
/// answer only.
pub async fn create(
    db: &Db,
    actor: Actor<'_>,
    name: &str,
    allowed_origins: Vec<String>,
) -> Result<CreatedKey, sqlx::Error> {
    let secret = secret::generate(KEY_PREFIX);
    let info = KeyInfo {
        id: new_id(),
        name: name.to_string(),
        prefix: secret.chars().take(KEY_PREFIX.len() + 4).collect(),
        allowed_origins,
        created_at: now_ms(),
        last_used_at: None,
    };
    store::insert_key(db, actor, &info, &secret::digest(&secret)).await?;
    Ok(CreatedKey { info, secret })
}

pub use store::list_keys as list;

/// Revokes a key of the actor's team (audited with it); false when there is
/// no such live key.
pub async fn revoke(
    db: &Db,
    cache: &KeyCache,
    actor: Actor<'_>,
    key_id: &str,
) -> Result<bool, sqlx::Error> {
    let revoked = store::revoke_key(db, actor, key_id).await?;
    cache.forget_all();
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized_and_checked() {
        assert_eq!(
            parse_origin("https://App.Example.com", "o").ok().as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            parse_origin("http://localhost:3000/", "o").ok().as_deref(),
            Some("http://localhost:3000")
        );
        for bad in [
            "app.example.com",
            "https://x.com/path",
            "ftp://x.com",
            "https://u:p@x.com",
            "*",
        ] {
            assert!(parse_origin(bad, "o").is_err(), "{bad}");
        }
    }

    #[test]
    fn server_side_senders_need_no_origin() {
        let key = IngestKey {
            id: "k".into(),
            team_id: "t".into(),
            allowed_origins: vec!["https://app.example.com".into()],
        };
        assert!(key.allows_origin(None));
        assert!(key.allows_origin(Some("https://app.example.com")));
        assert!(!key.allows_origin(Some("https://evil.example")));
    }
}
