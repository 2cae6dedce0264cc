//! Notifications (page 8): one user's inbox, across the teams they belong to.
//! Features create them with [`notify_in`] inside the transaction of the event
//! that causes them, to recipients they compute from roles and subscriptions
//! (never from a request header), and announce them on the bus once that
//! transaction committed ([`Created::announce`]). Each change to a user's
//! notifications bumps their inbox `version` first and reports the unread count
//! as of that version, so every open tab can keep the newest count and badges
//! never drift.

pub mod digest;
pub mod handlers;
pub mod mail;
pub mod page;
pub mod preferences;
pub mod producers;
pub mod settings;
mod store;

use serde::{Deserialize, Serialize};

pub use store::{
    Cursor, ListFilter, delete_read_before, digest_settings, forget_team_in, list, mark,
    mark_all_read, members_among_in, preferences, set_digest_settings, set_preferences, subscribe,
    subscribed, team_admins_in, unread_count, unsubscribe, workflow_followers_in,
};

use crate::bus::{Bus, Kind};
use crate::storage::Tx;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationType {
    /// An execution failed (to whoever started it and the workflow's followers).
    ExecutionFailed,
    /// An execution succeeded (only to the workflow's followers).
    ExecutionSucceeded,
    /// A scheduled run failed (to the schedule's creator and the followers).
    ScheduleFailed,
    /// A schedule skipped slots (overlap, catch-up, paused).
    ScheduleSkipped,
    /// Someone invited you to a team.
    InvitationReceived,
    /// Someone accepted an invitation you sent.
    InvitationAccepted,
    /// A provider key failed its test or a call said it is invalid.
    KeyFailed,
    /// A resolved error group happened again.
    ErrorReopened,
    /// An alert rule's condition started to hold.
    AlertFired,
    /// An alert rule's condition cleared.
    AlertResolved,
}

impl NotificationType {
    pub const ALL: [NotificationType; 10] = [
        NotificationType::ExecutionFailed,
        NotificationType::ExecutionSucceeded,
        NotificationType::ScheduleFailed,
        NotificationType::ScheduleSkipped,
        NotificationType::InvitationReceived,
        NotificationType::InvitationAccepted,
        NotificationType::KeyFailed,
        NotificationType::ErrorReopened,
        NotificationType::AlertFired,
        NotificationType::AlertResolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::ExecutionFailed => "execution_failed",
            NotificationType::ExecutionSucceeded => "execution_succeeded",
            NotificationType::ScheduleFailed => "schedule_failed",
            NotificationType::ScheduleSkipped => "schedule_skipped",
            NotificationType::InvitationReceived => "invitation_received",
            NotificationType::InvitationAccepted => "invitation_accepted",
            NotificationType::KeyFailed => "key_failed",
            NotificationType::ErrorReopened => "error_reopened",
            NotificationType::AlertFired => "alert_fired",
            NotificationType::AlertResolved => "alert_resolved",
        }
    }

    /// Whether it shows for someone who has not chosen: every type but
    /// successes, which would drown the failures.
    pub fn shown_by_default(self) -> bool {
        self != NotificationType::ExecutionSucceeded
    }

    /// How the filter and the settings name it.
    pub fn label(self) -> &'static str {
        match self {
            NotificationType::ExecutionFailed => "Execution failed",
            NotificationType::ExecutionSucceeded => "Execution succeeded",
            NotificationType::ScheduleFailed => "Scheduled run failed",
            NotificationType::ScheduleSkipped => "Schedule skipped",
            NotificationType::InvitationReceived => "Invitation received",
            NotificationType::InvitationAccepted => "Invitation accepted",
            NotificationType::KeyFailed => "Provider key failed",
            NotificationType::ErrorReopened => "Error reopened",
            NotificationType::AlertFired => "Alert fired",
            NotificationType::AlertResolved => "Alert resolved",
        }
    }
}

impl std::str::FromStr for NotificationType {
    type Err = ();

    fn from_str(text: &str) -> Result<NotificationType, ()> {
        NotificationType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or(())
    }
}

/// A notification as its recipient sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub title: String,
    pub message: String,
    /// Where the object is in the console (a path of `team_id`'s), if anywhere.
    pub link: Option<String>,
    pub read: bool,
    pub created_at: i64,
    /// The team whose event it reports.
    pub team_id: String,
    pub team_name: String,
}

/// A user's unread count as of a change: `version` orders the reports of
/// concurrent changes (a tab keeps the count of the highest version it saw).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Unread {
    pub unread: i64,
    pub version: i64,
}

/// A notification to create, for each of its recipients.
pub struct NewNotification<'a> {
    pub team_id: &'a str,
    pub kind: NotificationType,
    pub title: String,
    pub message: String,
    pub link: Option<String>,
    /// Mail it to recipients who did not choose for its type (an alert rule
    /// with e-mail on); otherwise only those who asked for mail get one.
    pub mail_by_default: bool,
}

/// One user's choice for one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypePreference {
    pub kind: NotificationType,
    pub in_app: bool,
    /// None until chosen: then alerts follow their rule and other types send none.
    pub email: Option<bool>,
}

/// The `notification.created` event: the notification and its recipient's
/// unread count after it.
#[derive(Debug, Clone, Serialize)]
struct CreatedEvent {
    notification: Notification,
    #[serde(flatten)]
    unread: Unread,
}

/// The `notification.read` event: which notifications changed to `read`, and
/// the unread count after the change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReadChange {
    pub ids: Vec<String>,
    pub read: bool,
    /// Every notification of the user was marked (`read-all`).
    pub all: bool,
    #[serde(flatten)]
    pub unread: Unread,
}

/// Notifications written in a transaction, to announce once it committed (an
/// event about a rolled-back notification would be a ghost on the badge).
#[must_use = "announce the notifications after the transaction commits"]
#[derive(Debug, Default)]
pub struct Created {
    shown: Vec<(String, CreatedEvent)>,
    /// Mails queued with them (the mail worker wants waking).
    mailed: usize,
}

impl Created {
    /// Puts each notification on its recipient's feed (every replica's).
    pub fn announce(self, bus: &Bus) {
        for (user_id, event) in self.shown {
            bus.publish_to_user(
                event.notification.team_id.clone(),
                user_id,
                Kind::NotificationCreated,
                &event,
            );
        }
    }

    /// How many notifications show in someone's console.
    pub fn len(&self) -> usize {
        self.shown.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shown.is_empty()
    }

    /// Whether mail was queued with them.
    pub fn mailed(&self) -> bool {
        self.mailed > 0
    }

    pub fn extend(&mut self, other: Created) {
        self.shown.extend(other.shown);
        self.mailed += other.mailed;
    }
}

/// Writes `new` for each of `recipients` (each once, whatever the list holds)
/// who wants its type in the console or by mail, in the caller's transaction,
/// and queues the mail. A recipient who wants it by mail only gets it already
/// read: a record of what was sent, without a badge.
pub async fn notify_in(
    tx: &mut Tx,
    new: &NewNotification<'_>,
    recipients: &[String],
) -> Result<Created, sqlx::Error> {
    let mut recipients: Vec<&String> = recipients.iter().collect();
    // One order for every transaction that locks several inboxes: no deadlocks.
    recipients.sort();
    recipients.dedup();
    let wants = store::wants_in(tx, new.kind, &recipients, new.mail_by_default).await?;
    let mut created = Created::default();
    for (user_id, want) in wants {
        if !want.in_app && !want.email {
            continue;
        }
        let (notification, unread) = store::insert_in(tx, &user_id, new, !want.in_app).await?;
        if want.email && mail::queue_in(tx, &user_id, &notification).await? {
            created.mailed += 1;
        }
        if want.in_app {
            created.shown.push((
                user_id,
                CreatedEvent {
                    notification,
                    unread,
                },
            ));
        }
    }
    Ok(created)
}

/// Announces a change of read state to the user's open tabs.
pub fn announce_read(bus: &Bus, user_id: &str, team_id: &str, change: &ReadChange) {
    bus.publish_to_user(
        team_id.to_string(),
        user_id.to_string(),
        Kind::NotificationRead,
        change,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip_through_their_names() {
        for kind in NotificationType::ALL {
            assert_eq!(kind.as_str().parse::<NotificationType>(), Ok(kind));
            let json = serde_json::to_value(kind).expect("serializes");
            assert_eq!(json, kind.as_str());
        }
        assert!("execution_complete".parse::<NotificationType>().is_err());
    }
}
