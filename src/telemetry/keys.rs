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
use sqlx::Row;

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
            sqlx::query("UPDATE ingestion_keys SET last_used_at = $1 WHERE key_hash = $2")
                .bind(now_ms())
                .bind(&digest)
                .execute(db.write())
                .await?;
        }
        return Ok(cached);
    }
    let row = sqlx::query("SELECT id, team_id, allowed_origins FROM ingestion_keys WHERE key_hash = $1 AND revoked_at IS NULL")
        .bind(&digest)
        .fetch_optional(db.read())
        .await?;
    let key = match row {
        Some(row) => Some(IngestKey {
            id: row.try_get("id")?,
            team_id: row.try_get("team_id")?,
            allowed_origins: serde_json::from_str(&row.try_get::<String, _>("allowed_origins")?)
                .unwrap_or_default(),
        }),
        None => None,
    };
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

pub async fn create(
    db: &Db,
    team_id: &str,
    name: &str,
    allowed_origins: Vec<String>,
    created_by: &str,
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
    sqlx::query(
        "INSERT INTO ingestion_keys (id, team_id, name, key_hash, prefix, allowed_origins, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&info.id)
    .bind(team_id)
    .bind(&info.name)
    .bind(secret::digest(&secret))
    .bind(&info.prefix)
    .bind(serde_json::json!(info.allowed_origins).to_string())
    .bind(created_by)
    .bind(info.created_at)
    .execute(db.write())
    .await?;
    Ok(CreatedKey { info, secret })
}

pub async fn list(db: &Db, team_id: &str) -> Result<Vec<KeyInfo>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, name, prefix, allowed_origins, created_at, last_used_at FROM ingestion_keys \
         WHERE team_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC",
    )
    .bind(team_id)
    .fetch_all(db.read())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(KeyInfo {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                prefix: row.try_get("prefix")?,
                allowed_origins: serde_json::from_str(
                    &row.try_get::<String, _>("allowed_origins")?,
                )
                .unwrap_or_default(),
                created_at: row.try_get("created_at")?,
                last_used_at: row.try_get("last_used_at")?,
            })
        })
        .collect()
}

/// Revokes a key of the team; false when there is no such live key.
pub async fn revoke(
    db: &Db,
    cache: &KeyCache,
    team_id: &str,
    key_id: &str,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("UPDATE ingestion_keys SET revoked_at = $1 WHERE id = $2 AND team_id = $3 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(key_id)
        .bind(team_id)
        .execute(db.write())
        .await?;
    cache.forget_all();
    Ok(result.rows_affected() == 1)
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
