//! The users' SQL: creating one, finding one by email or id, and changing a
//! password (which ends the user's other sessions and is audited, all in one
//! transaction).

use super::User;
use crate::storage::{Db, Tx, now_ms};

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    name: String,
    password_hash: String,
}

/// Inserts a user with an already hashed password; a taken email is a unique
/// violation (the caller answers 409).
pub async fn insert_user(db: &Db, user: &User, password_hash: &str) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    insert_user_in(&mut tx, user, password_hash).await?;
    tx.commit().await
}

/// The same, in the caller's transaction (an accepted invitation creates the
/// account and its membership together).
pub async fn insert_user_in(
    tx: &mut Tx,
    user: &User,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(&user.id)
    .bind(&user.email)
    .bind(&user.name)
    .bind(password_hash)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The user with this (normalized) email and their password hash.
pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<(User, String)>, sqlx::Error> {
    let row: Option<UserRow> =
        sqlx::query_as("SELECT id, email, name, password_hash FROM users WHERE email = $1")
            .bind(super::normalize_email(email))
            .fetch_optional(db.read())
            .await?;
    Ok(row.map(|row| {
        (
            User {
                id: row.id,
                email: row.email,
                name: row.name,
            },
            row.password_hash,
        )
    }))
}

/// A user by id.
pub async fn user(db: &Db, user_id: &str) -> Result<Option<User>, sqlx::Error> {
    let row: Option<(String, String, String)> =
        sqlx::query_as("SELECT id, email, name FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(db.read())
            .await?;
    Ok(row.map(|(id, email, name)| User { id, email, name }))
}

pub async fn password_hash_of(db: &Db, user_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db.read())
        .await
}

/// Stores a new password hash, ends every other session of the user (all but
/// `keep_session`) and records it, in one transaction.
pub async fn set_password(
    db: &Db,
    user_id: &str,
    password_hash: &str,
    keep_session: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(now_ms())
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    crate::auth::delete_user_sessions(&mut tx, user_id, keep_session).await?;
    let entry = crate::audit::Entry {
        team_id: None,
        actor: Some(user_id),
        action: "account.password_changed",
        target: Some(("user", user_id)),
        detail: None,
    };
    crate::audit::record_entry(&mut tx, &entry).await?;
    tx.commit().await
}
