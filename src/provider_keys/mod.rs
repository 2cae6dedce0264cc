//! Provider API keys (`api_keys_secure`): saved sealed by the vault, shown by
//! their last four characters only, opened just for the call that needs them.

pub mod handlers;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::AppError;
use crate::providers::{Credential, ProviderKind};
use crate::storage::{Db, new_id, now_ms};
use crate::vault::{KeyOwner, Sealed, Vault, VaultError};

pub use handlers::routes;

/// A key as everyone may see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    pub id: String,
    pub provider: ProviderKind,
    /// How the provider is shown ("Simulated (demo only…)" for the demo's).
    pub provider_name: &'static str,
    pub label: String,
    pub last4: String,
    pub base_url: Option<String>,
    /// `active`, or `invalid` once the provider refused it.
    pub status: String,
    pub status_detail: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A validated key to save.
pub struct NewKey {
    pub provider: ProviderKind,
    pub label: String,
    pub secret: SecretString,
    pub base_url: Option<String>,
}

const COLUMNS: &str =
    "id, provider, label, key_last_4, base_url, status, status_detail, created_at, last_used_at";

fn info(row: &AnyRow) -> Result<KeyInfo, sqlx::Error> {
    let provider = ProviderKind::from_row(row)?;
    Ok(KeyInfo {
        id: row.try_get("id")?,
        provider,
        provider_name: provider.display_name(),
        label: row.try_get("label")?,
        last4: row.try_get("key_last_4")?,
        base_url: row.try_get("base_url")?,
        status: row.try_get("status")?,
        status_detail: row.try_get("status_detail")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

fn last4(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

fn storage_error(err: VaultError) -> AppError {
    AppError::Internal(anyhow::Error::new(err))
}

pub async fn create(
    db: &Db,
    vault: &Vault,
    team_id: &str,
    user_id: &str,
    key: NewKey,
) -> Result<KeyInfo, AppError> {
    let id = new_id();
    let owner = KeyOwner {
        team_id,
        key_id: &id,
        provider: key.provider.as_str(),
    };
    let sealed = vault
        .seal(owner, key.secret.expose_secret())
        .map_err(storage_error)?;
    let now = now_ms();
    sqlx::query(
        "INSERT INTO api_keys_secure (id, user_id, provider, key_encrypted, key_last_4, created_at, team_id, \
         label, base_url, nonce, key_version, status, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active', $6)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(key.provider.as_str())
    .bind(&sealed.ciphertext)
    .bind(last4(key.secret.expose_secret()))
    .bind(now)
    .bind(team_id)
    .bind(&key.label)
    .bind(&key.base_url)
    .bind(&sealed.nonce)
    .bind(sealed.key_version)
    .execute(db.write())
    .await?;
    get(db, team_id, &id).await?.ok_or(AppError::NotFound)
}

pub async fn list(db: &Db, team_id: &str) -> Result<Vec<KeyInfo>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_keys_secure WHERE team_id = $1 ORDER BY created_at"
    ))
    .bind(team_id)
    .fetch_all(db.read())
    .await?
    .iter()
    .map(info)
    .collect()
}

pub async fn get(db: &Db, team_id: &str, id: &str) -> Result<Option<KeyInfo>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_keys_secure WHERE team_id = $1 AND id = $2"
    ))
    .bind(team_id)
    .bind(id)
    .fetch_optional(db.read())
    .await?
    .as_ref()
    .map(info)
    .transpose()
}

/// What may change on a key. A new secret is sealed afresh and makes the key
/// active again.
#[derive(Default)]
pub struct KeyChange {
    pub label: Option<String>,
    pub secret: Option<SecretString>,
    pub base_url: Option<Option<String>>,
}

pub async fn update(
    db: &Db,
    vault: &Vault,
    team_id: &str,
    id: &str,
    change: KeyChange,
) -> Result<Option<KeyInfo>, AppError> {
    let Some(current) = get(db, team_id, id).await? else {
        return Ok(None);
    };
    let mut tx = db.begin().await?;
    let now = now_ms();
    if let Some(label) = &change.label {
        sqlx::query("UPDATE api_keys_secure SET label = $1, updated_at = $2 WHERE id = $3")
            .bind(label)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(base_url) = &change.base_url {
        sqlx::query("UPDATE api_keys_secure SET base_url = $1, updated_at = $2 WHERE id = $3")
            .bind(base_url)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(secret) = &change.secret {
        let owner = KeyOwner {
            team_id,
            key_id: id,
            provider: current.provider.as_str(),
        };
        let sealed = vault
            .seal(owner, secret.expose_secret())
            .map_err(storage_error)?;
        sqlx::query(
            "UPDATE api_keys_secure SET key_encrypted = $1, nonce = $2, key_version = $3, key_last_4 = $4, \
             status = 'active', status_detail = NULL, updated_at = $5 WHERE id = $6",
        )
        .bind(&sealed.ciphertext)
        .bind(&sealed.nonce)
        .bind(sealed.key_version)
        .bind(last4(secret.expose_secret()))
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(get(db, team_id, id).await?)
}

pub async fn delete(db: &Db, team_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM api_keys_secure WHERE team_id = $1 AND id = $2")
        .bind(team_id)
        .bind(id)
        .execute(db.write())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Opens a key for a call and notes its use. `None`: no such key in the team.
pub async fn credential(
    db: &Db,
    vault: &Vault,
    team_id: &str,
    id: &str,
) -> Result<Option<Credential>, AppError> {
    let row = sqlx::query(
        "SELECT provider, key_encrypted, nonce, key_version, base_url FROM api_keys_secure \
         WHERE team_id = $1 AND id = $2",
    )
    .bind(team_id)
    .bind(id)
    .fetch_optional(db.read())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let kind = ProviderKind::from_row(&row)?;
    let sealed = Sealed {
        ciphertext: row.try_get("key_encrypted")?,
        nonce: row.try_get("nonce")?,
        key_version: row.try_get("key_version")?,
    };
    let owner = KeyOwner {
        team_id,
        key_id: id,
        provider: kind.as_str(),
    };
    let secret = vault.open_sealed(owner, &sealed).map_err(|err| match err {
        VaultError::CannotOpen => AppError::Conflict(
            "the stored key cannot be opened: it was changed outside HUMMBL or sealed under another \
             master key; enter the key again"
                .into(),
        ),
        other => storage_error(other),
    })?;
    Ok(Some(Credential {
        kind,
        base_url: row.try_get("base_url")?,
        secret,
    }))
}

/// Records that the provider accepted (`None`) or refused a key.
pub async fn mark(db: &Db, id: &str, refused: Option<&str>) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "UPDATE api_keys_secure SET status = $1, status_detail = $2, last_used_at = $3 WHERE id = $4",
    )
    .bind(if refused.is_some() { "invalid" } else { "active" })
    .bind(refused)
    .bind(now)
    .bind(id)
    .execute(db.write())
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::last4;

    #[test]
    fn only_the_last_four_characters_are_kept() {
        assert_eq!(last4("sk-proj-abcdef1234"), "1234");
        assert_eq!(last4("ab"), "ab");
        assert_eq!(last4("ключ-éééé"), "éééé");
    }
}
