//! Who hears of what. Each producer runs inside the transaction of the event
//! it reports, computes the recipients from the team's roles, the workflow's
//! followers and the object's people (members of the team now; never anyone a
//! request names), and returns what it wrote, for the caller to announce
//! after its commit.

use super::{Created, NewNotification, NotificationType, notify_in, store};
use crate::executions::Status;
use crate::storage::Tx;

/// How much of an error message a notification repeats.
const MESSAGE_CHARS: usize = 300;

fn clip(text: &str) -> String {
    match text.char_indices().nth(MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// An execution ended. Failed: whoever started it (a scheduled run: the
/// schedule's creator, as "scheduled run failed") and the workflow's
/// followers. Succeeded: the followers who asked for successes.
pub async fn execution_ended_in(
    tx: &mut Tx,
    execution_id: &str,
    status: Status,
) -> Result<Created, sqlx::Error> {
    if !matches!(status, Status::Failed | Status::Succeeded) {
        return Ok(Created::default());
    }
    let Some(ended) = store::ended_execution_in(tx, execution_id).await? else {
        return Ok(Created::default());
    };
    let mut people = store::workflow_followers_in(tx, &ended.workflow_id).await?;
    let scheduled = ended.schedule_id.is_some();
    let (kind, title) = match status {
        Status::Succeeded => (
            NotificationType::ExecutionSucceeded,
            format!("{} succeeded", ended.workflow_name),
        ),
        _ if scheduled => (
            NotificationType::ScheduleFailed,
            format!("Scheduled run of {} failed", ended.workflow_name),
        ),
        _ => (
            NotificationType::ExecutionFailed,
            format!("{} failed", ended.workflow_name),
        ),
    };
    if status == Status::Failed {
        people.extend(ended.user_id.iter().chain(&ended.schedule_owner).cloned());
    }
    let recipients = store::members_among_in(tx, &ended.team_id, &people).await?;
    let new = NewNotification {
        team_id: &ended.team_id,
        kind,
        title,
        message: ended.error.as_deref().map(clip).unwrap_or_default(),
        link: Some(format!("/monitor/{execution_id}")),
        mail_by_default: false,
    };
    notify_in(tx, &new, &recipients).await
}

/// A schedule's tick skipped slots (overlap or catch-up): its creator and the
/// workflow's followers hear once per tick, with how many and the first reason.
pub async fn schedule_skipped_in(
    tx: &mut Tx,
    schedule_id: &str,
    skipped: usize,
    reason: &str,
) -> Result<Created, sqlx::Error> {
    let Some((team_id, workflow_id, workflow_name, owner)) =
        store::schedule_of_in(tx, schedule_id).await?
    else {
        return Ok(Created::default());
    };
    let mut people = store::workflow_followers_in(tx, &workflow_id).await?;
    people.extend(owner);
    let recipients = store::members_among_in(tx, &team_id, &people).await?;
    let slots = if skipped == 1 { "slot" } else { "slots" };
    let new = NewNotification {
        team_id: &team_id,
        kind: NotificationType::ScheduleSkipped,
        title: format!("Schedule of {workflow_name} skipped {skipped} {slots}"),
        message: clip(reason),
        link: Some(format!("/workflows/scheduler/{schedule_id}")),
        mail_by_default: false,
    };
    notify_in(tx, &new, &recipients).await
}

/// Someone was invited: if the address already has an account, its owner sees
/// it in the console too (the link itself is only in the mail).
pub async fn invitation_received_in(
    tx: &mut Tx,
    team_id: &str,
    email: &str,
    inviter: Option<&str>,
) -> Result<Created, sqlx::Error> {
    let Some(invitee) = store::user_by_email_in(tx, email).await? else {
        return Ok(Created::default());
    };
    let (team_name, inviter_name) = store::team_and_user_names_in(tx, team_id, inviter)
        .await?
        .unwrap_or_default();
    let who = inviter_name.unwrap_or_else(|| "An admin".into());
    let new = NewNotification {
        team_id,
        kind: NotificationType::InvitationReceived,
        title: format!("{who} invited you to {team_name}"),
        message: format!("The link to join is in the e-mail sent to {email}."),
        link: None,
        mail_by_default: false,
    };
    notify_in(tx, &new, &[invitee]).await
}

/// An invitation was accepted: whoever sent it hears who joined.
pub async fn invitation_accepted_in(
    tx: &mut Tx,
    team_id: &str,
    inviter: Option<&str>,
    member_id: &str,
) -> Result<Created, sqlx::Error> {
    let Some(inviter) = inviter else {
        return Ok(Created::default());
    };
    let (name, email) = store::user_name_and_email_in(tx, member_id)
        .await?
        .unwrap_or_default();
    let recipients = store::members_among_in(tx, team_id, &[inviter.to_string()]).await?;
    let new = NewNotification {
        team_id,
        kind: NotificationType::InvitationAccepted,
        title: format!("{name} joined the team"),
        message: format!("{email} accepted your invitation."),
        link: Some(format!("/team/members/{member_id}")),
        mail_by_default: false,
    };
    notify_in(tx, &new, &recipients).await
}

/// A provider key failed its test, or a provider refused it during a run:
/// the team's admins and owners, who can fix keys.
pub async fn key_failed_in(
    tx: &mut Tx,
    key_id: &str,
    what: &str,
    message: &str,
) -> Result<Created, sqlx::Error> {
    let Some((team_id, label, provider)) = store::key_names_in(tx, key_id).await? else {
        return Ok(Created::default());
    };
    let name = label
        .filter(|label| !label.is_empty())
        .unwrap_or_else(|| provider.clone());
    let recipients = store::team_admins_in(tx, &team_id).await?;
    let new = NewNotification {
        team_id: &team_id,
        kind: NotificationType::KeyFailed,
        title: format!("Key {name} ({provider}) {what}"),
        message: clip(message),
        link: Some("/settings/api-keys".into()),
        mail_by_default: false,
    };
    notify_in(tx, &new, &recipients).await
}

/// A resolved error group happened again: the team's admins and owners, and
/// whoever resolved it.
pub async fn error_reopened_in(
    tx: &mut Tx,
    team_id: &str,
    message: &str,
    resolved_by: Option<&str>,
) -> Result<Created, sqlx::Error> {
    let mut people = store::team_admins_in(tx, team_id).await?;
    people.extend(resolved_by.map(ToString::to_string));
    let recipients = store::members_among_in(tx, team_id, &people).await?;
    let new = NewNotification {
        team_id,
        kind: NotificationType::ErrorReopened,
        title: "A resolved error happened again".into(),
        message: clip(message),
        link: Some("/logs/errors?state=open".into()),
        mail_by_default: false,
    };
    notify_in(tx, &new, &recipients).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_clipped_on_a_character_boundary() {
        let long = "é".repeat(400);
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), MESSAGE_CHARS + 1);
        assert!(clipped.ends_with('…'));
        assert_eq!(clip("short"), "short");
    }
}
