//! The SQL behind notifications by mail: a notification's message, the
//! digests (one row per user and period, written with its outbox row), and
//! retention.

use super::NotificationRow;
use crate::notifications::Notification;
use crate::notifications::digest::DigestSettings;
use crate::storage::{Db, Tx, now_ms};

pub async fn user_email_in(tx: &mut Tx, user_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await
}

/// A notification by id, whoever's it is (the mail worker composes it).
pub async fn notification_in(tx: &mut Tx, id: &str) -> Result<Option<Notification>, sqlx::Error> {
    let row: Option<NotificationRow> =
        sqlx::query_as(&format!("{} WHERE n.id = $1", super::SELECT))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    row.map(Notification::try_from).transpose()
}

/// Users whose digest period ended by `now`, with their settings.
pub async fn due_digests(db: &Db, now: i64, limit: i64) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, next_due_at FROM notification_digest_settings \
         WHERE next_due_at IS NOT NULL AND next_due_at <= $1 ORDER BY next_due_at, user_id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db.read())
    .await
}

/// The user's digest settings, read in the digest's transaction.
pub async fn digest_settings_in(
    tx: &mut Tx,
    user_id: &str,
) -> Result<Option<DigestSettings>, sqlx::Error> {
    let row: Option<super::preferences::DigestRow> = sqlx::query_as(
        "SELECT frequency, hour, weekday, timezone, next_due_at, sent_through \
         FROM notification_digest_settings WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(DigestSettings::try_from).transpose()
}

/// Records the user's digest for the period ending `period_end`, unless one
/// is recorded already (a restart, another replica): whether this call did.
pub async fn record_digest_in(
    tx: &mut Tx,
    id: &str,
    user_id: &str,
    (period_start, period_end): (i64, i64),
    items: i64,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO notification_digests (id, user_id, period_end, period_start, items, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, period_end) DO NOTHING",
    )
    .bind(id)
    .bind(user_id)
    .bind(period_end)
    .bind(period_start)
    .bind(items)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

pub async fn set_digest_mail_in(tx: &mut Tx, id: &str, mail_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE notification_digests SET mail_id = $1 WHERE id = $2")
        .bind(mail_id)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Moves the user's digest on: the next period's end, and what was covered.
pub async fn advance_digest_in(
    tx: &mut Tx,
    user_id: &str,
    next_due_at: Option<i64>,
    sent_through: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notification_digest_settings SET next_due_at = $1, sent_through = $2 WHERE user_id = $3",
    )
    .bind(next_due_at)
    .bind(sent_through)
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How many of the user's notifications that arrived in `(from, to]` are still unread.
pub async fn unread_count_between_in(
    tx: &mut Tx,
    user_id: &str,
    (from, to): (i64, i64),
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL \
         AND created_at > $2 AND created_at <= $3",
    )
    .bind(user_id)
    .bind(from)
    .bind(to)
    .fetch_one(&mut **tx)
    .await
}

/// The user's notifications still unread that arrived in `(from, to]`,
/// oldest first (at most `limit`), and how many there are.
pub async fn unread_between_in(
    tx: &mut Tx,
    user_id: &str,
    (from, to): (i64, i64),
    limit: i64,
) -> Result<(Vec<Notification>, i64), sqlx::Error> {
    let count = unread_count_between_in(tx, user_id, (from, to)).await?;
    let rows: Vec<NotificationRow> = sqlx::query_as(&format!(
        "{} WHERE n.user_id = $1 AND n.read_at IS NULL AND n.created_at > $2 AND n.created_at <= $3 \
         ORDER BY n.created_at, n.id LIMIT $4",
        super::SELECT
    ))
    .bind(user_id)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    let listed = rows
        .into_iter()
        .map(Notification::try_from)
        .collect::<Result<_, _>>()?;
    Ok((listed, count))
}

/// A recorded digest: its user, their address, and its period.
pub async fn digest_in(
    tx: &mut Tx,
    id: &str,
) -> Result<Option<(String, String, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.user_id, u.email, d.period_start, d.period_end FROM notification_digests d \
         JOIN users u ON u.id = d.user_id WHERE d.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// Deletes read notifications that arrived before `cutoff` (unread ones stay
/// until read, so no badge ever changes behind its tabs' backs).
pub async fn delete_read_before(db: &Db, cutoff: i64) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM notifications WHERE created_at < $1 AND read_at IS NOT NULL")
            .bind(cutoff)
            .execute(db.write())
            .await?
            .rows_affected(),
    )
}
