//! The invitations' SQL. Every change runs in one transaction that holds the
//! team's lock, writes its audit entry, and writes or cancels the outbox
//! message it causes.

use serde_json::json;

use super::{Accepted, Invitation, InvitationState, Opened};
use crate::audit::Actor;
use crate::auth::Role;
use crate::error::{AppError, AppResult};
use crate::mail::{MailKind, NewMail};
use crate::notifications::{Created, producers};
use crate::storage::{Db, Tx, decode_name, new_id, now_ms};

#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: String,
    email: String,
    role: String,
    invited_by: Option<String>,
    created_at: i64,
    expires_at: i64,
    accepted_at: Option<i64>,
    revoked_at: Option<i64>,
}

fn state_of(accepted_at: Option<i64>, revoked_at: Option<i64>, expires_at: i64) -> InvitationState {
    match (accepted_at, revoked_at) {
        (Some(_), _) => InvitationState::Accepted,
        (None, Some(_)) => InvitationState::Revoked,
        (None, None) if expires_at <= now_ms() => InvitationState::Expired,
        (None, None) => InvitationState::Pending,
    }
}

impl TryFrom<InvitationRow> for Invitation {
    type Error = sqlx::Error;

    fn try_from(row: InvitationRow) -> Result<Invitation, sqlx::Error> {
        Ok(Invitation {
            state: state_of(row.accepted_at, row.revoked_at, row.expires_at),
            role: decode_name("role", &row.role)?,
            id: row.id,
            email: row.email,
            invited_by: row.invited_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

const COLUMNS: &str = "i.id, i.email, i.role, u.name AS invited_by, i.created_at, i.expires_at, \
     i.accepted_at, i.revoked_at";

async fn one(tx: &mut Tx, team_id: &str, id: &str) -> Result<Option<Invitation>, sqlx::Error> {
    let row: Option<InvitationRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM invitations i LEFT JOIN users u ON u.id = i.invited_by \
         WHERE i.team_id = $1 AND i.id = $2"
    ))
    .bind(team_id)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(Invitation::try_from).transpose()
}

/// The subject line of an invitation's mail.
fn subject(team_name: &str) -> String {
    format!("You are invited to join {team_name} on HUMMBL")
}

async fn team_name(tx: &mut Tx, team_id: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM teams WHERE id = $1")
        .bind(team_id)
        .fetch_one(&mut **tx)
        .await
}

/// Queues the invitation's mail (its link is made when it is sent).
async fn queue_mail(tx: &mut Tx, team_id: &str, id: &str, email: &str) -> Result<(), sqlx::Error> {
    let subject = subject(&team_name(tx, team_id).await?);
    crate::mail::enqueue_in(
        tx,
        NewMail {
            team_id: Some(team_id),
            kind: MailKind::Invitation,
            subject_id: id,
            recipient: email,
            subject: &subject,
        },
    )
    .await?;
    Ok(())
}

pub async fn create(
    db: &Db,
    actor: Actor<'_>,
    email: &str,
    role: Role,
    expires_at: i64,
) -> AppResult<(Invitation, Created)> {
    let team_id = actor.team_id;
    let mut tx = db.begin().await?;
    db.lock_team(&mut tx, team_id).await?;
    let member: Option<String> = sqlx::query_scalar(
        "SELECT m.user_id FROM team_members m JOIN users u ON u.id = m.user_id \
         WHERE m.team_id = $1 AND u.email = $2",
    )
    .bind(team_id)
    .bind(email)
    .fetch_optional(&mut *tx)
    .await?;
    if member.is_some() {
        return Err(AppError::Conflict(format!(
            "{email} is already a member of this team"
        )));
    }
    let replaced: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM invitations WHERE team_id = $1 AND email = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(team_id)
    .bind(email)
    .fetch_all(&mut *tx)
    .await?;
    for old in &replaced {
        close(&mut tx, old).await?;
    }
    let id = new_id();
    sqlx::query(
        "INSERT INTO invitations (id, team_id, email, role, invited_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(team_id)
    .bind(email)
    .bind(role.as_str())
    .bind(actor.user_id)
    .bind(now_ms())
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    queue_mail(&mut tx, team_id, &id, email).await?;
    let detail = json!({"email": email, "role": role, "replaced": replaced});
    crate::audit::record_in(
        &mut tx,
        actor,
        "invitation.created",
        ("invitation", &id),
        Some(detail),
    )
    .await?;
    let invitation = one(&mut tx, team_id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    let told = producers::invitation_received_in(&mut tx, team_id, email, actor.user_id).await?;
    tx.commit().await?;
    Ok((invitation, told))
}

/// Revokes an open invitation and cancels its waiting mail. The link's hash
/// stays, so the link answers "withdrawn" (410) rather than "unknown".
async fn close(tx: &mut Tx, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE invitations SET revoked_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    crate::mail::cancel_waiting_in(tx, id).await?;
    Ok(())
}

/// An invitation that may still change (not used, not withdrawn), locked.
async fn open_one(db: &Db, tx: &mut Tx, team_id: &str, id: &str) -> AppResult<Invitation> {
    db.lock_team(tx, team_id).await?;
    let invitation = one(tx, team_id, id).await?.ok_or(AppError::NotFound)?;
    match invitation.state {
        InvitationState::Accepted => Err(AppError::Conflict(
            "this invitation was already accepted".into(),
        )),
        InvitationState::Revoked => Err(AppError::Conflict(
            "this invitation was withdrawn; invite the address again".into(),
        )),
        InvitationState::Pending | InvitationState::Expired => Ok(invitation),
    }
}

pub async fn resend(db: &Db, actor: Actor<'_>, id: &str, expires_at: i64) -> AppResult<Invitation> {
    let mut tx = db.begin().await?;
    let invitation = open_one(db, &mut tx, actor.team_id, id).await?;
    retire_link_in(&mut tx, id).await?;
    sqlx::query("UPDATE invitations SET token_hash = NULL, expires_at = $1 WHERE id = $2")
        .bind(expires_at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    crate::mail::cancel_waiting_in(&mut tx, id).await?;
    queue_mail(&mut tx, actor.team_id, id, &invitation.email).await?;
    crate::audit::record_in(
        &mut tx,
        actor,
        "invitation.resent",
        ("invitation", id),
        None,
    )
    .await?;
    let invitation = one(&mut tx, actor.team_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(invitation)
}

pub async fn revoke(db: &Db, actor: Actor<'_>, id: &str) -> AppResult<()> {
    let mut tx = db.begin().await?;
    open_one(db, &mut tx, actor.team_id, id).await?;
    close(&mut tx, id).await?;
    crate::audit::record_in(
        &mut tx,
        actor,
        "invitation.revoked",
        ("invitation", id),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Stores a new link's hash on a pending invitation (the old link dies).
pub async fn set_token(db: &Db, actor: Actor<'_>, id: &str, hash: &str) -> AppResult<()> {
    let mut tx = db.begin().await?;
    let invitation = open_one(db, &mut tx, actor.team_id, id).await?;
    if invitation.state == InvitationState::Expired {
        return Err(AppError::Conflict(
            "this invitation has expired; resend it".into(),
        ));
    }
    set_hash_in(&mut tx, id, hash).await?;
    crate::audit::record_in(
        &mut tx,
        actor,
        "invitation.link_made",
        ("invitation", id),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Keeps the current link's hash, before a new link replaces it, so the old
/// link answers "replaced" rather than "unknown".
async fn retire_link_in(tx: &mut Tx, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO invitation_retired_links (token_hash, invitation_id, retired_at) \
         SELECT token_hash, id, $2 FROM invitations WHERE id = $1 AND token_hash IS NOT NULL \
         ON CONFLICT (token_hash) DO NOTHING",
    )
    .bind(id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn set_hash_in(tx: &mut Tx, id: &str, hash: &str) -> Result<(), sqlx::Error> {
    retire_link_in(tx, id).await?;
    sqlx::query("UPDATE invitations SET token_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The team's invitations not used or withdrawn (expired ones too), newest first.
pub async fn list_open(db: &Db, team_id: &str) -> Result<Vec<Invitation>, sqlx::Error> {
    let rows: Vec<InvitationRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM invitations i LEFT JOIN users u ON u.id = i.invited_by \
         WHERE i.team_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL \
         ORDER BY i.created_at DESC, i.id"
    ))
    .bind(team_id)
    .fetch_all(db.read())
    .await?;
    rows.into_iter().map(Invitation::try_from).collect()
}

#[derive(sqlx::FromRow)]
struct OpenedRow {
    id: String,
    team_id: String,
    team_name: String,
    email: String,
    role: String,
    inviter_name: Option<String>,
    inviter_email: Option<String>,
    expires_at: i64,
    accepted_at: Option<i64>,
    revoked_at: Option<i64>,
    accounts: i64,
}

const OPENED: &str = "SELECT i.id, i.team_id, t.name AS team_name, i.email, i.role, u.name AS inviter_name, \
     u.email AS inviter_email, i.expires_at, i.accepted_at, i.revoked_at, \
     (SELECT COUNT(*) FROM users a WHERE a.email = i.email) AS accounts \
     FROM invitations i JOIN teams t ON t.id = i.team_id LEFT JOIN users u ON u.id = i.invited_by";

/// The invitation a token opens, its current link or one a newer link
/// replaced (`link_replaced`); none for a token that never was.
pub async fn lookup(db: &Db, token: &str) -> Result<Option<Opened>, sqlx::Error> {
    let hash = super::token_hash(token);
    let current: Option<OpenedRow> = sqlx::query_as(&format!("{OPENED} WHERE i.token_hash = $1"))
        .bind(&hash)
        .fetch_optional(db.read())
        .await?;
    let (row, link_replaced) = match current {
        Some(row) => (Some(row), false),
        None => {
            let retired = sqlx::query_as(&format!(
                "{OPENED} JOIN invitation_retired_links r ON r.invitation_id = i.id WHERE r.token_hash = $1"
            ))
            .bind(&hash)
            .fetch_optional(db.read())
            .await?;
            (retired, true)
        }
    };
    row.map(|row| {
        Ok(Opened {
            state: state_of(row.accepted_at, row.revoked_at, row.expires_at),
            role: decode_name("role", &row.role)?,
            inviter: row.inviter_name.zip(row.inviter_email),
            account_exists: row.accounts > 0,
            link_replaced,
            id: row.id,
            team_id: row.team_id,
            team_name: row.team_name,
            email: row.email,
            expires_at: row.expires_at,
            accepted_at: row.accepted_at,
        })
    })
    .transpose()
}

/// Who joins: an existing account, or a new one with its checked name and
/// already hashed password.
pub enum Joining {
    Existing(String),
    New { name: String, hash: String },
}

/// The accept itself, in one transaction: first the guarded update that only
/// one accept can win (a concurrent loser finds it taken and gets 410), then
/// the account if new, the membership and the audit entry.
pub async fn accept(
    db: &Db,
    opened: &Opened,
    hash: &str,
    joining: Joining,
) -> AppResult<(Accepted, Created)> {
    let mut tx = db.begin().await?;
    db.lock_team(&mut tx, &opened.team_id).await?;
    let now = now_ms();
    let won = sqlx::query(
        "UPDATE invitations SET accepted_at = $1 \
         WHERE id = $2 AND token_hash = $3 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(&opened.id)
    .bind(hash)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if won != 1 {
        return Err(AppError::Gone(
            "this invitation was already used, withdrawn or replaced".into(),
        ));
    }
    let user_id = match joining {
        Joining::Existing(user_id) => user_id,
        Joining::New { name, hash } => {
            let user = crate::accounts::User {
                id: new_id(),
                email: opened.email.clone(),
                name,
            };
            match crate::accounts::insert_user_in(&mut tx, &user, &hash).await {
                Ok(()) => user.id,
                Err(err) if crate::storage::is_unique_violation(&err) => {
                    return Err(AppError::Conflict(
                        "an account with this address was just created; open the link again to join with it".into(),
                    ));
                }
                Err(err) => return Err(err.into()),
            }
        }
    };
    let inviter: Option<String> = sqlx::query_scalar(
        "UPDATE invitations SET accepted_by = $1 WHERE id = $2 RETURNING invited_by",
    )
    .bind(&user_id)
    .bind(&opened.id)
    .fetch_one(&mut *tx)
    .await?;
    match crate::teams::insert_member_in(
        &mut tx,
        &opened.team_id,
        &user_id,
        opened.role,
        inviter.as_deref(),
    )
    .await
    {
        Ok(()) => {}
        Err(err) if crate::storage::is_unique_violation(&err) => {
            return Err(AppError::Conflict(
                "you are already a member of this team".into(),
            ));
        }
        Err(err) => return Err(err.into()),
    }
    crate::mail::cancel_waiting_in(&mut tx, &opened.id).await?;
    let actor = Actor {
        team_id: &opened.team_id,
        user_id: Some(&user_id),
    };
    let detail = json!({"email": opened.email, "role": opened.role});
    crate::audit::record_in(
        &mut tx,
        actor,
        "invitation.accepted",
        ("invitation", &opened.id),
        Some(detail),
    )
    .await?;
    let told =
        producers::invitation_accepted_in(&mut tx, &opened.team_id, inviter.as_deref(), &user_id)
            .await?;
    tx.commit().await?;
    let accepted = Accepted {
        user_id,
        team_id: opened.team_id.clone(),
    };
    Ok((accepted, told))
}

/// For the mail worker, in its claim's transaction: the invitation's details
/// and a fresh link token whose hash replaces any earlier one; none when the
/// invitation is no longer pending.
pub struct ToMail {
    pub team_name: String,
    pub inviter: Option<String>,
    pub role: Role,
    pub expires_at: i64,
}

#[derive(sqlx::FromRow)]
struct ToMailRow {
    team_name: String,
    inviter: Option<String>,
    role: String,
    expires_at: i64,
    accepted_at: Option<i64>,
    revoked_at: Option<i64>,
}

pub(super) async fn to_mail(tx: &mut Tx, id: &str) -> Result<Option<ToMail>, sqlx::Error> {
    let row: Option<ToMailRow> = sqlx::query_as(
        "SELECT t.name AS team_name, u.name AS inviter, i.role, i.expires_at, i.accepted_at, i.revoked_at \
         FROM invitations i JOIN teams t ON t.id = i.team_id LEFT JOIN users u ON u.id = i.invited_by \
         WHERE i.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    if state_of(row.accepted_at, row.revoked_at, row.expires_at) != InvitationState::Pending {
        return Ok(None);
    }
    Ok(Some(ToMail {
        team_name: row.team_name,
        inviter: row.inviter,
        role: decode_name("role", &row.role)?,
        expires_at: row.expires_at,
    }))
}
