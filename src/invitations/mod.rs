//! Invitations: an admin invites an address with a role (never above their
//! own); the mail worker sends the link; the invitee accepts once. The link's
//! 256-bit token exists only in the mail (and, with mail off, on the admin's
//! screen once): the database keeps its SHA-256. Resending or revoking clears
//! the hash at once, so the old link dies; accepting is a guarded update, so
//! of two concurrent accepts exactly one wins.

pub mod handlers;
mod mail;
pub mod page;
mod store;

use std::time::Duration;

use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use mail::compose_mail;

use crate::accounts::Email;
use crate::auth::{Permission, Principal, Role, password};
use crate::bus::Bus;
use crate::error::{AppError, AppResult};
use crate::storage::{Db, now_ms};

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InvitationState {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invitation {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// The inviter's name (null once they are gone).
    pub invited_by: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub state: InvitationState,
}

/// A new link token: 256 random bits, URL-safe.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a token.
pub(crate) fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Invites `email` into the actor's team with `role`, replacing an open
/// invitation to the same address; the mail goes through the outbox.
pub async fn invite(
    db: &Db,
    bus: &Bus,
    actor: &Principal,
    email: &Email,
    role: Role,
    lifetime: Duration,
) -> AppResult<Invitation> {
    check_may_invite(actor, role)?;
    let expires_at = now_ms() + i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX / 2);
    let (invitation, told) =
        store::create(db, actor.into(), email.as_str(), role, expires_at).await?;
    told.announce(bus);
    Ok(invitation)
}

/// An invitation made by the system on `inviter`'s behalf (the demo seeder).
pub async fn seed(
    db: &Db,
    team_id: &str,
    inviter: &str,
    email: &str,
    role: Role,
    lifetime: Duration,
) -> AppResult<Invitation> {
    let actor = crate::audit::Actor {
        team_id,
        user_id: Some(inviter),
    };
    let expires_at = now_ms() + i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX / 2);
    let (invitation, told) = store::create(db, actor, email, role, expires_at).await?;
    // The demo seeds before anyone has a page open: nothing to tell live.
    drop(told);
    Ok(invitation)
}

/// Admins invite up to their own role; only owners invite owners.
fn check_may_invite(actor: &Principal, role: Role) -> AppResult<()> {
    actor.require(Permission::ManageMembers)?;
    if role > actor.role {
        return Err(AppError::Refused(format!(
            "you may invite up to your own role ({})",
            actor.role.as_str()
        )));
    }
    Ok(())
}

/// A new link for a pending invitation (the old one dies at once), by mail;
/// an expired one is renewed for `lifetime`.
pub async fn resend(
    db: &Db,
    actor: &Principal,
    id: &str,
    lifetime: Duration,
) -> AppResult<Invitation> {
    actor.require(Permission::ManageMembers)?;
    let expires_at = now_ms() + i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX / 2);
    store::resend(db, actor.into(), id, expires_at).await
}

pub async fn revoke(db: &Db, actor: &Principal, id: &str) -> AppResult<()> {
    actor.require(Permission::ManageMembers)?;
    store::revoke(db, actor.into(), id).await
}

/// With mail off, an admin takes the link to pass on: a new token (the old
/// link dies), shown once.
pub async fn new_link(db: &Db, actor: &Principal, id: &str) -> AppResult<SecretString> {
    actor.require(Permission::ManageMembers)?;
    let token = new_token();
    store::set_token(db, actor.into(), id, &token_hash(&token)).await?;
    Ok(SecretString::from(token))
}

pub use store::{list_open, lookup};

/// What an invitation link opens, before it is accepted.
#[derive(Debug, Clone)]
pub struct Opened {
    pub id: String,
    pub team_id: String,
    pub team_name: String,
    pub email: String,
    pub role: Role,
    pub inviter: Option<(String, String)>,
    pub expires_at: i64,
    pub state: InvitationState,
    pub accepted_at: Option<i64>,
    /// Whether an account with the invited address exists.
    pub account_exists: bool,
    /// Whether this link was replaced by a newer one (resend, copied link).
    pub link_replaced: bool,
}

impl Opened {
    /// 410 saying why the link no longer works and whom to ask.
    pub fn gone(&self) -> Option<AppError> {
        let ask = match &self.inviter {
            Some((name, email)) => format!("ask {name} ({email}) for a new one"),
            None => format!("ask an admin of {} for a new one", self.team_name),
        };
        let why = match self.state {
            InvitationState::Pending if self.link_replaced => {
                return Some(AppError::Gone(format!(
                    "this link was replaced by a newer one; use the latest invitation mail or {ask}"
                )));
            }
            InvitationState::Pending => return None,
            InvitationState::Accepted => "this invitation was already used".to_string(),
            InvitationState::Revoked => "this invitation was withdrawn".to_string(),
            InvitationState::Expired => "this invitation has expired".to_string(),
        };
        Some(AppError::Gone(format!("{why}; {ask}")))
    }
}

/// Who accepts: a new account (name and password), or an existing one,
/// proven by being signed in as it or by its password.
pub struct Acceptance {
    pub name: String,
    pub password: SecretString,
    pub signed_in_as: Option<String>,
}

/// The account that joined and the team it joined.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub user_id: String,
    pub team_id: String,
}

/// Accepts an invitation: creates the account or checks the existing one,
/// then joins the team. Used, revoked or expired → 410; of two concurrent
/// accepts exactly one wins, the other gets 410.
pub async fn accept(
    db: &Db,
    bus: &Bus,
    token: &str,
    acceptance: Acceptance,
) -> AppResult<Accepted> {
    let opened = lookup(db, token).await?.ok_or(AppError::NotFound)?;
    if let Some(gone) = opened.gone() {
        return Err(gone);
    }
    let joining = match crate::accounts::find_by_email(db, &opened.email).await? {
        Some((user, hash)) => {
            let proven = acceptance.signed_in_as.as_deref() == Some(user.id.as_str())
                || password::verify_password(acceptance.password, Some(hash)).await;
            if !proven {
                return Err(AppError::validation(
                    "password",
                    "is not the password of the account with this address",
                ));
            }
            store::Joining::Existing(user.id)
        }
        None => {
            let name = crate::accounts::parse_name("name", &acceptance.name)?;
            password::validate_new_password(acceptance.password.expose_secret())?;
            let hash = password::hash_password(acceptance.password).await?;
            store::Joining::New { name, hash }
        }
    };
    let (accepted, told) = store::accept(db, &opened, &token_hash(token), joining).await?;
    told.announce(bus);
    Ok(accepted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_stored_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 43, "256 bits in URL-safe base64");
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
        assert_eq!(token_hash(&a), token_hash(&a));
    }
}
