//! What each user wants: per type, in the console and by mail; and their
//! digest's settings.

use crate::notifications::digest::{DigestFrequency, DigestSettings};
use crate::notifications::{NotificationType, TypePreference};
use crate::storage::sql::Sql;
use crate::storage::{Db, Tx, decode_name, now_ms};

/// How one recipient wants a notification of some type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    pub in_app: bool,
    pub email: bool,
}

/// How each of `users` wants `kind`: their settings, else the type's default
/// in the console, and for mail `mail_by_default` (an alert rule's choice).
pub async fn wants_in(
    tx: &mut Tx,
    kind: NotificationType,
    users: &[&String],
    mail_by_default: bool,
) -> Result<Vec<(String, Want)>, sqlx::Error> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(
        "SELECT user_id, in_app, email FROM notification_preferences WHERE type = ?",
        kind.as_str(),
    );
    sql.and_in("user_id", users.iter().map(|user| user.as_str()));
    let set: Vec<(String, i64, Option<i64>)> = sql.query_as().fetch_all(&mut **tx).await?;
    Ok(users
        .iter()
        .map(|user| {
            let chosen = set.iter().find(|(id, _, _)| id == user.as_str());
            let want = Want {
                in_app: chosen.map_or(kind.shown_by_default(), |(_, in_app, _)| *in_app != 0),
                email: chosen
                    .and_then(|(_, _, email)| *email)
                    .map_or(mail_by_default, |email| email != 0),
            };
            (user.to_string(), want)
        })
        .collect())
}

/// The user's choice per type (every type, defaults filled in; `email` is
/// none until chosen).
pub async fn preferences(db: &Db, user_id: &str) -> Result<Vec<TypePreference>, sqlx::Error> {
    let set: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT type, in_app, email FROM notification_preferences WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_all(db.read())
    .await?;
    Ok(NotificationType::ALL
        .into_iter()
        .map(|kind| {
            let chosen = set.iter().find(|(name, _, _)| name == kind.as_str());
            TypePreference {
                kind,
                in_app: chosen.map_or(kind.shown_by_default(), |(_, in_app, _)| *in_app != 0),
                email: chosen
                    .and_then(|(_, _, email)| *email)
                    .map(|email| email != 0),
            }
        })
        .collect())
}

/// Saves the user's choices: per type, in the console and by mail (`None`
/// leaves that part as it is).
pub async fn set_preferences(
    db: &Db,
    user_id: &str,
    choices: &[(NotificationType, Option<bool>, Option<bool>)],
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    for (kind, in_app, email) in choices {
        if in_app.is_none() && email.is_none() {
            continue;
        }
        // A new row takes the type's default for the part not given.
        sqlx::query(
            "INSERT INTO notification_preferences (user_id, type, in_app, email, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, type) DO UPDATE SET \
             in_app = CASE WHEN $6 = 1 THEN excluded.in_app ELSE notification_preferences.in_app END, \
             email = CASE WHEN $7 = 1 THEN excluded.email ELSE notification_preferences.email END, \
             updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(kind.as_str())
        .bind(i64::from(in_app.unwrap_or(kind.shown_by_default())))
        .bind(email.map(i64::from))
        .bind(now_ms())
        .bind(i64::from(in_app.is_some()))
        .bind(i64::from(email.is_some()))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

#[derive(sqlx::FromRow)]
pub(super) struct DigestRow {
    frequency: String,
    hour: i64,
    weekday: i64,
    timezone: String,
    next_due_at: Option<i64>,
    sent_through: Option<i64>,
}

impl TryFrom<DigestRow> for DigestSettings {
    type Error = sqlx::Error;

    fn try_from(row: DigestRow) -> Result<DigestSettings, sqlx::Error> {
        Ok(DigestSettings {
            frequency: decode_name::<DigestFrequency>("digest frequency", &row.frequency)?,
            hour: row.hour,
            weekday: row.weekday,
            timezone: row.timezone,
            next_due_at: row.next_due_at,
            sent_through: row.sent_through,
        })
    }
}

const DIGEST_COLUMNS: &str = "frequency, hour, weekday, timezone, next_due_at, sent_through";

/// The user's digest settings (off until chosen).
pub async fn digest_settings(db: &Db, user_id: &str) -> Result<DigestSettings, sqlx::Error> {
    let row: Option<DigestRow> = sqlx::query_as(&format!(
        "SELECT {DIGEST_COLUMNS} FROM notification_digest_settings WHERE user_id = $1"
    ))
    .bind(user_id)
    .fetch_optional(db.read())
    .await?;
    row.map_or(Ok(DigestSettings::default()), DigestSettings::try_from)
}

/// Saves the user's digest settings with the end of their next period.
pub async fn set_digest_settings(
    db: &Db,
    user_id: &str,
    settings: &DigestSettings,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO notification_digest_settings \
         (user_id, frequency, hour, weekday, timezone, next_due_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id) DO UPDATE SET \
         frequency = excluded.frequency, hour = excluded.hour, weekday = excluded.weekday, \
         timezone = excluded.timezone, next_due_at = excluded.next_due_at, updated_at = excluded.updated_at",
    )
    .bind(user_id)
    .bind(settings.frequency.as_str())
    .bind(settings.hour)
    .bind(settings.weekday)
    .bind(&settings.timezone)
    .bind(settings.next_due_at)
    .bind(now_ms())
    .execute(db.write())
    .await?;
    Ok(())
}
