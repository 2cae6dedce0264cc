//! The notifications' SQL. Every change to a user's notifications first bumps
//! their `notification_inbox` version (on PostgreSQL that row lock orders
//! concurrent changes of one user), then changes the rows, then counts what is
//! unread: so the count reported with a version is the count at that version.

mod mail;
mod preferences;
mod reads;

pub use mail::*;
pub use preferences::*;
pub(super) use reads::*;

use super::{NewNotification, Notification, NotificationType, ReadChange, Unread};
use crate::storage::sql::Sql;
use crate::storage::{Db, Tx, decode_name, new_id, now_ms};

#[derive(sqlx::FromRow)]
struct NotificationRow {
    id: String,
    kind: String,
    title: String,
    message: Option<String>,
    link: Option<String>,
    read_at: Option<i64>,
    created_at: i64,
    team_id: Option<String>,
    team_name: Option<String>,
}

const SELECT: &str = "SELECT n.id, n.type AS kind, n.title, n.message, n.link, n.read_at, n.created_at, \
     n.team_id, t.name AS team_name FROM notifications n LEFT JOIN teams t ON t.id = n.team_id";

impl TryFrom<NotificationRow> for Notification {
    type Error = sqlx::Error;

    fn try_from(row: NotificationRow) -> Result<Notification, sqlx::Error> {
        Ok(Notification {
            kind: decode_name("notification type", &row.kind)?,
            id: row.id,
            title: row.title,
            message: row.message.unwrap_or_default(),
            link: row.link,
            read: row.read_at.is_some(),
            created_at: row.created_at,
            team_id: row.team_id.unwrap_or_default(),
            team_name: row.team_name.unwrap_or_default(),
        })
    }
}

/// Where a page of the list ends: the last notification's time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.created_at, self.id)
    }
}

impl std::str::FromStr for Cursor {
    type Err = ();

    /// `<created_at ms>.<id>`, as `next` gave it.
    fn from_str(text: &str) -> Result<Cursor, ()> {
        let (at, id) = text.split_once('.').ok_or(())?;
        let created_at = at.parse::<i64>().map_err(|_| ())?;
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if created_at < 0 || !id_ok {
            return Err(());
        }
        Ok(Cursor {
            created_at,
            id: id.to_string(),
        })
    }
}

/// What part of the list to read.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub unread_only: bool,
    pub kind: Option<NotificationType>,
    pub before: Option<Cursor>,
    pub limit: i64,
}

/// A page of the list, newest first, and where the next page starts.
pub async fn list(
    db: &Db,
    user_id: &str,
    filter: &ListFilter,
) -> Result<(Vec<Notification>, Option<Cursor>), sqlx::Error> {
    let mut sql = Sql::new(&format!("{SELECT} WHERE n.user_id = ?"), user_id);
    if filter.unread_only {
        sql.and_text("n.read_at IS NULL");
    }
    if let Some(kind) = filter.kind {
        sql.and("n.type = ?", kind.as_str());
    }
    if let Some(before) = &filter.before {
        let at = sql.bind(before.created_at);
        let id = sql.bind(before.id.as_str());
        sql.push_text(&format!(
            " AND (n.created_at < {at} OR (n.created_at = {at} AND n.id < {id}))"
        ));
    }
    // One more than asked: whether there is a next page.
    sql.push(
        " ORDER BY n.created_at DESC, n.id DESC LIMIT ?",
        filter.limit + 1,
    );
    let rows: Vec<NotificationRow> = sql.query_as().fetch_all(db.read()).await?;
    let mut notifications = rows
        .into_iter()
        .map(Notification::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let more = notifications.len() as i64 > filter.limit;
    notifications.truncate(usize::try_from(filter.limit).unwrap_or(0));
    let next = more
        .then(|| notifications.last())
        .flatten()
        .map(|last| Cursor {
            created_at: last.created_at,
            id: last.id.clone(),
        });
    Ok((notifications, next))
}

/// One of the user's notifications (someone else's is `None`).
pub async fn get(db: &Db, user_id: &str, id: &str) -> Result<Option<Notification>, sqlx::Error> {
    let row: Option<NotificationRow> =
        sqlx::query_as(&format!("{SELECT} WHERE n.id = $1 AND n.user_id = $2"))
            .bind(id)
            .bind(user_id)
            .fetch_optional(db.read())
            .await?;
    row.map(Notification::try_from).transpose()
}

/// The user's unread count and inbox version now.
pub async fn unread_count(db: &Db, user_id: &str) -> Result<Unread, sqlx::Error> {
    let version: Option<i64> =
        sqlx::query_scalar("SELECT version FROM notification_inbox WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(db.read())
            .await?;
    let unread: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(db.read())
    .await?;
    Ok(Unread {
        unread,
        version: version.unwrap_or(0),
    })
}

/// Takes the user's inbox for this transaction: its next version.
async fn bump_in(tx: &mut Tx, user_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO notification_inbox (user_id, version) VALUES ($1, 1) \
         ON CONFLICT (user_id) DO UPDATE SET version = notification_inbox.version + 1 RETURNING version",
    )
    .bind(user_id)
    .fetch_one(&mut **tx)
    .await
}

async fn count_unread_in(tx: &mut Tx, user_id: &str, version: i64) -> Result<Unread, sqlx::Error> {
    let unread: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Unread { unread, version })
}

/// Inserts one recipient's notification; returns it and their unread count.
pub(super) async fn insert_in(
    tx: &mut Tx,
    user_id: &str,
    new: &NewNotification<'_>,
    read: bool,
) -> Result<(Notification, Unread), sqlx::Error> {
    let version = bump_in(tx, user_id).await?;
    let id = new_id();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO notifications (id, user_id, type, title, message, link, read, created_at, team_id, read_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(new.kind.as_str())
    .bind(&new.title)
    .bind(&new.message)
    .bind(new.link.as_deref())
    .bind(read)
    .bind(now)
    .bind(new.team_id)
    .bind(read.then_some(now))
    .execute(&mut **tx)
    .await?;
    let team_name: Option<String> = sqlx::query_scalar("SELECT name FROM teams WHERE id = $1")
        .bind(new.team_id)
        .fetch_optional(&mut **tx)
        .await?;
    let unread = count_unread_in(tx, user_id, version).await?;
    let notification = Notification {
        id,
        kind: new.kind,
        title: new.title.clone(),
        message: new.message.clone(),
        link: new.link.clone(),
        read,
        created_at: now,
        team_id: new.team_id.to_string(),
        team_name: team_name.unwrap_or_default(),
    };
    Ok((notification, unread))
}

/// Marks one of the user's notifications read or unread. `None` when the user
/// has no such notification (someone else's is not theirs to see); a change
/// with no ids when it already was so.
pub async fn mark(
    db: &Db,
    user_id: &str,
    id: &str,
    read: bool,
) -> Result<Option<(ReadChange, String)>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let version = bump_in(&mut tx, user_id).await?;
    let found: Option<(Option<i64>, Option<String>)> =
        sqlx::query_as("SELECT read_at, team_id FROM notifications WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((read_at, team_id)) = found else {
        tx.rollback().await?;
        return Ok(None);
    };
    let team_id = team_id.unwrap_or_default();
    if read_at.is_some() == read {
        // Nothing changes: the version bump is not kept.
        tx.rollback().await?;
        let unread = unread_count(db, user_id).await?;
        return Ok(Some((
            ReadChange {
                ids: Vec::new(),
                read,
                all: false,
                unread,
            },
            team_id,
        )));
    }
    sqlx::query("UPDATE notifications SET read = $1, read_at = $2 WHERE id = $3")
        .bind(read)
        .bind(read.then(now_ms))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let unread = count_unread_in(&mut tx, user_id, version).await?;
    tx.commit().await?;
    Ok(Some((
        ReadChange {
            ids: vec![id.to_string()],
            read,
            all: false,
            unread,
        },
        team_id,
    )))
}

/// Marks every unread notification of the user read; returns how many.
pub async fn mark_all_read(db: &Db, user_id: &str) -> Result<(ReadChange, u64), sqlx::Error> {
    let mut tx = db.begin().await?;
    let version = bump_in(&mut tx, user_id).await?;
    let marked = sqlx::query(
        "UPDATE notifications SET read = $1, read_at = $2 WHERE user_id = $3 AND read_at IS NULL",
    )
    .bind(true)
    .bind(now_ms())
    .bind(user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let unread = count_unread_in(&mut tx, user_id, version).await?;
    tx.commit().await?;
    let change = ReadChange {
        ids: Vec::new(),
        read: true,
        all: true,
        unread,
    };
    Ok((change, marked))
}

/// Removes what a user was told about a team they no longer belong to (in the
/// removal's transaction): its titles name that team's workflows and keys.
pub async fn forget_team_in(tx: &mut Tx, team_id: &str, user_id: &str) -> Result<(), sqlx::Error> {
    bump_in(tx, user_id).await?;
    sqlx::query("DELETE FROM notifications WHERE team_id = $1 AND user_id = $2")
        .bind(team_id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The team's admins and owners: who hears of keys, errors and alerts.
pub async fn team_admins_in(tx: &mut Tx, team_id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT user_id FROM team_members WHERE team_id = $1 AND role IN ('admin', 'owner') ORDER BY user_id",
    )
    .bind(team_id)
    .fetch_all(&mut **tx)
    .await
}

/// Those among `users` who are members of the team now (a notification about
/// a team goes only to its members).
pub async fn members_among_in(
    tx: &mut Tx,
    team_id: &str,
    users: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(
        "SELECT user_id FROM team_members WHERE team_id = ?",
        team_id,
    );
    sql.and_in("user_id", users.iter().map(String::as_str));
    let rows: Vec<(String,)> = sql.query_as().fetch_all(&mut **tx).await?;
    Ok(rows.into_iter().map(|(user_id,)| user_id).collect())
}

/// The workflow's followers who are still members of its team.
pub async fn workflow_followers_in(
    tx: &mut Tx,
    workflow_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT s.user_id FROM workflow_subscriptions s JOIN workflows w ON w.id = s.workflow_id \
         JOIN team_members m ON m.team_id = w.team_id AND m.user_id = s.user_id WHERE s.workflow_id = $1",
    )
    .bind(workflow_id)
    .fetch_all(&mut **tx)
    .await
}

/// Follows a workflow (again: nothing changes).
pub async fn subscribe(db: &Db, workflow_id: &str, user_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO workflow_subscriptions (workflow_id, user_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (workflow_id, user_id) DO NOTHING",
    )
    .bind(workflow_id)
    .bind(user_id)
    .bind(now_ms())
    .execute(db.write())
    .await?;
    Ok(())
}

pub async fn unsubscribe(db: &Db, workflow_id: &str, user_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM workflow_subscriptions WHERE workflow_id = $1 AND user_id = $2")
        .bind(workflow_id)
        .bind(user_id)
        .execute(db.write())
        .await?;
    Ok(())
}

pub async fn subscribed(db: &Db, workflow_id: &str, user_id: &str) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM workflow_subscriptions WHERE workflow_id = $1 AND user_id = $2",
    )
    .bind(workflow_id)
    .bind(user_id)
    .fetch_optional(db.read())
    .await?;
    Ok(found.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor = Cursor {
            created_at: 1_700_000_000_000,
            id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
        };
        assert_eq!(cursor.to_string().parse::<Cursor>(), Ok(cursor));
        for bad in ["", "abc", "12", "12.", ".id", "-1.id", "12.id;drop", "x.id"] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad:?} parsed");
        }
    }
}
