//! The outbox's SQL. A claim is a lease (`lease_owner`, `lease_expires_at`)
//! taken with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so two workers, on one
//! replica or several, never hold the same message; a lease that ran out (its
//! process died mid-send) is claimed again.

use std::time::Duration;

use super::{Failure, MailKind, MailRetry, MailStatus, NewMail, OutboxEntry};
use crate::storage::{Db, Tx, decode_name, new_id, now_ms};

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Writes a message to the outbox in the caller's transaction: it exists
/// exactly when the change that causes it commits. Due at once.
pub async fn enqueue_in(tx: &mut Tx, mail: NewMail<'_>) -> Result<String, sqlx::Error> {
    let id = new_id();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO mail_outbox (id, team_id, kind, subject_id, recipient, subject, status, attempts, \
         next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)",
    )
    .bind(&id)
    .bind(mail.team_id)
    .bind(mail.kind.as_str())
    .bind(mail.subject_id)
    .bind(mail.recipient)
    .bind(mail.subject)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Cancels the messages still waiting about `subject_id` (an invitation that
/// was revoked, replaced or used), in the caller's transaction.
pub async fn cancel_waiting_in(tx: &mut Tx, subject_id: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE mail_outbox SET status = 'cancelled', lease_owner = NULL \
         WHERE subject_id = $1 AND status = 'pending'",
    )
    .bind(subject_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// A claimed message, as the worker composes it.
#[derive(Debug, Clone)]
pub struct ClaimedRow {
    pub id: String,
    pub kind: MailKind,
    pub subject_id: Option<String>,
    pub recipient: String,
    pub subject: String,
    /// This attempt's number (1 for the first).
    pub attempts: i64,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct DueRow {
    id: String,
    kind: String,
    subject_id: Option<String>,
    recipient: String,
    subject: String,
    attempts: i64,
    created_at: i64,
}

/// Claims the message due first (pending and due, or sending with a lease
/// that ran out) in the caller's transaction, for `lease`.
pub async fn claim_next(
    db: &Db,
    tx: &mut Tx,
    owner: &str,
    lease: Duration,
) -> Result<Option<ClaimedRow>, sqlx::Error> {
    let now = now_ms();
    let due: Option<DueRow> = sqlx::query_as(&format!(
        "SELECT id, kind, subject_id, recipient, subject, attempts, created_at FROM mail_outbox \
         WHERE (status = 'pending' AND next_attempt_at <= $1) OR (status = 'sending' AND lease_expires_at < $1) \
         ORDER BY next_attempt_at LIMIT 1{}",
        db.skip_locked()
    ))
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(due) = due else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE mail_outbox SET status = 'sending', lease_owner = $1, lease_expires_at = $2, \
         attempts = attempts + 1 WHERE id = $3",
    )
    .bind(owner)
    .bind(now + millis(lease))
    .bind(&due.id)
    .execute(&mut **tx)
    .await?;
    Ok(Some(ClaimedRow {
        kind: decode_name("mail kind", &due.kind)?,
        id: due.id,
        subject_id: due.subject_id,
        recipient: due.recipient,
        subject: due.subject,
        attempts: due.attempts + 1,
        created_at: due.created_at,
    }))
}

/// Cancels a claimed message whose reason went away, in the claim's transaction.
pub async fn cancel_claimed_in(tx: &mut Tx, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE mail_outbox SET status = 'cancelled', lease_owner = NULL WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The server took it: sent, with its reply. Only while this worker still
/// holds the claim.
pub async fn mark_sent(db: &Db, id: &str, owner: &str, reply: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE mail_outbox SET status = 'sent', sent_at = $1, server_reply = $2, lease_owner = NULL, \
         last_error = NULL WHERE id = $3 AND lease_owner = $4 AND status = 'sending'",
    )
    .bind(now_ms())
    .bind(reply)
    .bind(id)
    .bind(owner)
    .execute(db.write())
    .await?;
    Ok(())
}

/// An attempt failed: retry after the backoff, or give up (refused for good,
/// or older than `give_up`).
pub async fn mark_failed_attempt(
    db: &Db,
    claimed: &super::Claimed,
    owner: &str,
    failure: &Failure,
    retry: MailRetry,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let too_old = now - claimed.created_at > millis(retry.give_up);
    let status = match failure {
        Failure::Permanent(_) => MailStatus::Failed,
        Failure::Transient(_) if too_old => MailStatus::Failed,
        Failure::Transient(_) => MailStatus::Pending,
    };
    sqlx::query(
        "UPDATE mail_outbox SET status = $1, next_attempt_at = $2, last_error = $3, lease_owner = NULL \
         WHERE id = $4 AND lease_owner = $5 AND status = 'sending'",
    )
    .bind(status.as_str())
    .bind(now + millis(retry.delay(claimed.attempts)))
    .bind(failure.to_string())
    .bind(&claimed.id)
    .bind(owner)
    .execute(db.write())
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: String,
    kind: String,
    subject_id: Option<String>,
    recipient: String,
    subject: String,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
}

/// The team's latest messages, newest first.
pub async fn recent(db: &Db, team_id: &str, limit: i64) -> Result<Vec<OutboxEntry>, sqlx::Error> {
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT id, kind, subject_id, recipient, subject, status, attempts, next_attempt_at, last_error, \
         created_at, sent_at FROM mail_outbox WHERE team_id = $1 ORDER BY created_at DESC, id LIMIT $2",
    )
    .bind(team_id)
    .bind(limit)
    .fetch_all(db.read())
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(OutboxEntry {
                kind: decode_name("mail kind", &row.kind)?,
                status: decode_name("mail status", &row.status)?,
                id: row.id,
                subject_id: row.subject_id,
                recipient: row.recipient,
                subject: row.subject,
                attempts: row.attempts,
                next_attempt_at: row.next_attempt_at,
                last_error: row.last_error,
                created_at: row.created_at,
                sent_at: row.sent_at,
            })
        })
        .collect()
}
