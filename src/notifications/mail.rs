//! A notification by mail: queued in the notification's own transaction for
//! each recipient who wants its type by mail, composed by the mail worker
//! from the notification row when it is sent.

use maud::html;

use super::{Notification, store};
use crate::config::Config;
use crate::mail::{Composed, MailKind, NewMail};
use crate::storage::Tx;

/// Queues the mail of `notification` to its recipient; whether one was queued
/// (none for a user without an address).
pub async fn queue_in(
    tx: &mut Tx,
    user_id: &str,
    notification: &Notification,
) -> Result<bool, sqlx::Error> {
    let Some(email) = store::user_email_in(tx, user_id).await? else {
        return Ok(false);
    };
    let subject = format!("[{}] {}", notification.team_name, notification.title);
    crate::mail::enqueue_in(
        tx,
        NewMail {
            team_id: Some(&notification.team_id),
            kind: MailKind::Notification,
            subject_id: &notification.id,
            recipient: &email,
            subject: &subject,
        },
    )
    .await?;
    Ok(true)
}

/// The mail of a notification; none when it is gone (its team was left).
pub async fn compose_mail(
    tx: &mut Tx,
    config: &Config,
    notification_id: Option<&str>,
) -> Result<Option<Composed>, sqlx::Error> {
    let Some(id) = notification_id else {
        return Ok(None);
    };
    let Some(notification) = store::notification_in(tx, id).await? else {
        return Ok(None);
    };
    Ok(Some(render(&notification, &config.link_base())))
}

fn render(notification: &Notification, base: &str) -> Composed {
    let link = notification
        .link
        .as_ref()
        .map(|path| format!("{base}{path}"));
    let mut text = format!("{}\n\n", notification.title);
    if !notification.message.is_empty() {
        text.push_str(&format!("{}\n\n", notification.message));
    }
    text.push_str(&format!("Team: {}\n", notification.team_name));
    if let Some(link) = &link {
        text.push_str(&format!("Open it: {link}\n"));
    }
    text.push_str(&format!(
        "\nChoose what you receive by mail: {base}/notifications/settings\n"
    ));
    let body = html! {
        h1 style="font-size: 20px;" { (notification.title) }
        @if !notification.message.is_empty() { p { (notification.message) } }
        p style="color: #44444f;" { "Team: " (notification.team_name) }
        @if let Some(link) = &link { p { a href=(link) { "Open it in HUMMBL" } } }
        p style="font-size: 13px;" { a href={ (base) "/notifications/settings" } { "Choose what you receive by mail" } }
    };
    Composed {
        text,
        html: crate::mail::html_frame(&notification.title, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::NotificationType;

    #[test]
    fn the_mail_carries_the_title_the_message_and_a_full_link() {
        let notification = Notification {
            id: "n-1".into(),
            kind: NotificationType::AlertFired,
            title: "Alert: <spend>".into(),
            message: "This month's spend is $120.00".into(),
            link: Some("/analytics/tokens".into()),
            read: false,
            created_at: 0,
            team_id: "t-1".into(),
            team_name: "Acme".into(),
        };
        let composed = render(&notification, "https://hummbl.example");
        assert!(
            composed
                .text
                .contains("Open it: https://hummbl.example/analytics/tokens")
        );
        assert!(
            composed.html.contains("Alert: &lt;spend&gt;"),
            "escaped: {}",
            composed.html
        );
    }
}
