//! The SQL of backups and restores.

use crate::storage::Db;

/// `VACUUM INTO` on a read connection: a consistent copy while writers go on.
pub async fn vacuum_into(db: &Db, file: &str) -> Result<(), sqlx::Error> {
    sqlx::query("VACUUM INTO $1")
        .bind(file)
        .execute(db.read())
        .await?;
    Ok(())
}

/// Whether the vault never recorded a master key (no provider key was stored).
pub async fn vault_is_empty(db: &Db) -> Result<bool, sqlx::Error> {
    Ok(crate::vault::store_state(db).await?.is_none())
}

/// How many users and teams the database holds.
pub async fn people(db: &Db) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as("SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM teams)")
        .fetch_one(db.read())
        .await
}
