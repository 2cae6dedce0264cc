//! Mail, through an outbox. A change that causes a message (an invitation, a
//! notification someone wants by mail, a digest)
//! writes an outbox row in its own transaction (`enqueue_in`); the `mail`
//! worker claims due rows under a lease, composes each (an invitation's link
//! is made at that moment, so no secret ever waits in the outbox), sends it
//! over SMTP with `lettre`, and marks it sent in the step that records the
//! server's reply.
//!
//! The guarantee: a message whose change committed is sent, and retried with
//! backoff (30 s doubling up to 15 min) through outages and restarts until the
//! server takes it, or refused for good (a 5xx), or 48 hours have passed. It is
//! sent once, but for one window: the server accepted it and the process died
//! before the `sent` mark committed (milliseconds). Then the lease runs out and
//! the message goes again, with the same `Message-ID`, which receiving systems
//! use to drop the copy; an invitation sent twice carries a new link, and only
//! the newest one works.
//!
//! Without `smtp_url`, mail is off: rows wait in the outbox, the Team page
//! shows them to admins, and the pending invitations' links can be copied there.

mod message;
mod store;

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rand::Rng;
use secrecy::ExposeSecret;
use serde::Serialize;
use tokio::sync::Notify;

pub use message::{Composed, compose_message, html_frame};
pub use store::{cancel_waiting_in, enqueue_in, recent};

use crate::app::AppState;
use crate::config::Config;

/// What a message is about; each kind is composed by its feature when sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    Invitation,
    /// One notification, to a recipient who wants its type by mail.
    Notification,
    /// A user's digest of unread notifications.
    Digest,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Invitation => "invitation",
            MailKind::Notification => "notification",
            MailKind::Digest => "digest",
        }
    }
}

impl std::str::FromStr for MailKind {
    type Err = ();

    fn from_str(text: &str) -> Result<MailKind, ()> {
        match text {
            "invitation" => Ok(MailKind::Invitation),
            "notification" => Ok(MailKind::Notification),
            "digest" => Ok(MailKind::Digest),
            _ => Err(()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MailStatus {
    /// Waiting for its next attempt (or for mail to be configured).
    Pending,
    /// Claimed by a worker, being sent.
    Sending,
    Sent,
    /// Refused for good, or not taken within 48 hours.
    Failed,
    /// Its reason went away (the invitation was revoked, used or replaced).
    Cancelled,
}

impl MailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MailStatus::Pending => "pending",
            MailStatus::Sending => "sending",
            MailStatus::Sent => "sent",
            MailStatus::Failed => "failed",
            MailStatus::Cancelled => "cancelled",
        }
    }
}

impl std::str::FromStr for MailStatus {
    type Err = ();

    fn from_str(text: &str) -> Result<MailStatus, ()> {
        [
            MailStatus::Pending,
            MailStatus::Sending,
            MailStatus::Sent,
            MailStatus::Failed,
            MailStatus::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
        .ok_or(())
    }
}

/// A message to write to the outbox.
pub struct NewMail<'a> {
    pub team_id: Option<&'a str>,
    pub kind: MailKind,
    /// The object it is about (the invitation's id).
    pub subject_id: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
}

/// An outbox row as the console shows it (never a body: there is none).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutboxEntry {
    pub id: String,
    pub kind: MailKind,
    pub subject_id: Option<String>,
    pub recipient: String,
    pub subject: String,
    pub status: MailStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// Retry timing: `base` doubling per attempt, at most `cap`; after `give_up`
/// from the message's creation it fails.
#[derive(Debug, Clone, Copy)]
pub struct MailRetry {
    pub base: Duration,
    pub cap: Duration,
    pub give_up: Duration,
    /// How long a claim lasts: longer than an SMTP exchange may take.
    pub lease: Duration,
}

impl Default for MailRetry {
    fn default() -> Self {
        MailRetry {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(15 * 60),
            give_up: Duration::from_secs(48 * 3600),
            lease: Duration::from_secs(120),
        }
    }
}

impl MailRetry {
    /// The wait before attempt `attempts + 1`, with up to 10 % jitter so that
    /// many messages held by one outage do not all retry at the same instant.
    pub fn delay(&self, attempts: i64) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        let wait = self.base.saturating_mul(1 << doublings).min(self.cap);
        let jitter = rand::rng().random_range(0.0..0.1);
        wait.mul_f64(1.0 + jitter)
    }
}

/// How long one SMTP exchange may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The SMTP side: the transport (none when mail is off), the sender, and the
/// worker's wake-up.
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    wake: Arc<Notify>,
    /// This process, as the owner of its claims.
    owner: String,
}

impl Mailer {
    /// From `smtp_url` (lettre's URL form: `smtp://host:port` plain, for a
    /// loopback relay; `smtp://user:pass@host:587?tls=required` STARTTLS;
    /// `smtps://user:pass@host` TLS) and `mail_from`. A URL or sender lettre
    /// refuses stops start-up. Needs a Tokio runtime (the connection pool).
    pub fn from_config(config: &Config) -> anyhow::Result<Mailer> {
        let transport = match &config.smtp_url {
            None => None,
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(|err| anyhow::anyhow!("smtp_url: {err}"))?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build(),
            ),
        };
        let from: Mailbox = config
            .mail_from
            .parse()
            .map_err(|err| anyhow::anyhow!("mail_from {:?}: {err}", config.mail_from))?;
        Ok(Mailer {
            transport,
            from,
            wake: Arc::new(Notify::new()),
            owner: format!("mail-{}", crate::storage::new_id()),
        })
    }

    /// Whether messages are sent (an SMTP server is configured).
    pub fn is_on(&self) -> bool {
        self.transport.is_some()
    }

    /// The worker's wake-up: rung after a change that wrote to the outbox.
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Messages one tick sends at most (the next tick follows at once when woken).
const BATCH: usize = 20;

/// A claimed message, composed and ready to send.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    /// This attempt's number (1 for the first).
    pub attempts: i64,
    pub created_at: i64,
    pub composed: Composed,
}

/// One tick of the `mail` worker: sends the due messages, one by one.
pub async fn tick(state: AppState) -> anyhow::Result<u64> {
    let Some(transport) = state.mailer.transport.as_ref() else {
        return Ok(0);
    };
    let retry = state.config.workers.mail_retry;
    let owner = state.mailer.owner.as_str();
    let mut sent = 0;
    for _ in 0..BATCH {
        let Some(claimed) = claim_and_compose(&state, retry).await? else {
            break;
        };
        let outcome = match compose_message(&state.mailer.from, &claimed) {
            Ok(message) => transport.send(message).await.map_err(Failure::from),
            Err(reason) => Err(Failure::Permanent(reason)),
        };
        match outcome {
            Ok(reply) => {
                let reply: Vec<&str> = reply.message().collect();
                store::mark_sent(&state.db, &claimed.id, owner, &reply.join(" ")).await?;
                sent += 1;
            }
            Err(failure) => {
                tracing::warn!(mail = %claimed.id, attempt = claimed.attempts, error = %failure, "mail not sent");
                store::mark_failed_attempt(&state.db, &claimed, owner, &failure, retry).await?;
            }
        }
    }
    Ok(sent)
}

/// Claims the next due message and composes it in the claim's transaction
/// (an invitation's link is made there); a message whose reason went away is
/// cancelled and the next one taken.
async fn claim_and_compose(state: &AppState, retry: MailRetry) -> anyhow::Result<Option<Claimed>> {
    loop {
        let mut tx = state.db.begin().await?;
        let Some(row) =
            store::claim_next(&state.db, &mut tx, &state.mailer.owner, retry.lease).await?
        else {
            tx.rollback().await?;
            return Ok(None);
        };
        let subject_id = row.subject_id.as_deref();
        let composed = match row.kind {
            MailKind::Invitation => {
                crate::invitations::compose_mail(&mut tx, &state.config, subject_id).await?
            }
            MailKind::Notification => {
                crate::notifications::mail::compose_mail(&mut tx, &state.config, subject_id).await?
            }
            MailKind::Digest => {
                crate::notifications::digest::compose_mail(&mut tx, &state.config, subject_id)
                    .await?
            }
        };
        let Some(composed) = composed else {
            store::cancel_claimed_in(&mut tx, &row.id).await?;
            tx.commit().await?;
            continue;
        };
        tx.commit().await?;
        return Ok(Some(Claimed {
            id: row.id,
            recipient: row.recipient,
            subject: row.subject,
            attempts: row.attempts,
            created_at: row.created_at,
            composed,
        }));
    }
}

/// Why an attempt failed: worth retrying, or not.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Transient(String),
    #[error("refused: {0}")]
    Permanent(String),
}

impl From<lettre::transport::smtp::Error> for Failure {
    fn from(err: lettre::transport::smtp::Error) -> Failure {
        if err.is_permanent() {
            Failure::Permanent(err.to_string())
        } else {
            Failure::Transient(err.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_the_cap() {
        let retry = MailRetry::default();
        let secs = |attempts| retry.delay(attempts).as_secs_f64();
        assert!((30.0..33.1).contains(&secs(1)), "{}", secs(1));
        assert!((60.0..66.1).contains(&secs(2)));
        assert!((900.0..990.1).contains(&secs(9)), "capped at 15 minutes");
        assert!((900.0..990.1).contains(&secs(1_000)), "no overflow");
    }

    #[tokio::test]
    async fn the_sender_and_the_url_are_checked() {
        let mut config = Config::for_data_dir(std::path::Path::new("/tmp"));
        config.smtp_url = Some("smtp://127.0.0.1:2525".to_string().into());
        assert!(
            Mailer::from_config(&config)
                .expect("plain loopback")
                .is_on()
        );
        config.smtp_url = Some("ftp://mail.example.com".to_string().into());
        assert!(Mailer::from_config(&config).is_err());
        config.smtp_url = None;
        config.mail_from = "not an address".into();
        assert!(Mailer::from_config(&config).is_err());
    }
}
