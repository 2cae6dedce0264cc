//! The vault's SQL: its state row (generation and check value of the master
//! key) and, for rotation, every sealed provider key re-sealed in one
//! transaction.

use crate::storage::{Db, Tx, now_ms};

/// The recorded generation and check value, if a master key was recorded.
pub async fn state(db: &Db) -> Result<Option<(i64, String)>, sqlx::Error> {
    // Through the writer: at start-up the first replica may have just written it.
    sqlx::query_as("SELECT key_version, check_value FROM vault_state WHERE id = 1")
        .fetch_optional(db.write())
        .await
}

/// Records the first master key's generation and check value (another replica
/// may have won the race; its row stays).
pub async fn record_first(db: &Db, version: i64, check_value: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO vault_state (id, key_version, check_value, updated_at) VALUES (1, $1, $2, $3) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(version)
    .bind(check_value)
    .bind(now_ms())
    .execute(db.write())
    .await?;
    Ok(())
}

/// A provider key as sealed, with what it is bound to.
#[derive(sqlx::FromRow)]
pub struct SealedRow {
    pub id: String,
    pub team_id: String,
    pub provider: String,
    pub key_encrypted: String,
    pub nonce: String,
    pub key_version: i64,
}

/// Every sealed provider key, read inside the rotation's transaction.
pub async fn sealed_keys(tx: &mut Tx) -> Result<Vec<SealedRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, team_id, provider, key_encrypted, nonce, key_version FROM api_keys_secure",
    )
    .fetch_all(&mut **tx)
    .await
}

pub async fn reseal(tx: &mut Tx, id: &str, sealed: &super::Sealed) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE api_keys_secure SET key_encrypted = $1, nonce = $2, key_version = $3 WHERE id = $4",
    )
    .bind(&sealed.ciphertext)
    .bind(&sealed.nonce)
    .bind(sealed.key_version)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_state(tx: &mut Tx, version: i64, check_value: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE vault_state SET key_version = $1, check_value = $2, updated_at = $3 WHERE id = 1",
    )
    .bind(version)
    .bind(check_value)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
