//! Messages as sent: a text part and an HTML part (both from the project's own
//! templates), a stable `Message-ID` made from the outbox row, so that the one
//! possible duplicate (see the module's guarantee) is recognisable.

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use maud::{DOCTYPE, Markup, html};

use super::Claimed;

/// A message's two bodies, composed by the feature that sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub text: String,
    pub html: String,
}

/// The message for a claimed outbox row; `Err` says why it can never be sent
/// (an address lettre refuses).
pub fn compose_message(from: &Mailbox, claimed: &Claimed) -> Result<Message, String> {
    let to: Mailbox = claimed
        .recipient
        .parse()
        .map_err(|err| format!("recipient {:?}: {err}", claimed.recipient))?;
    let domain = from.email.domain().to_string();
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&claimed.subject)
        .message_id(Some(format!("<{}@{domain}>", claimed.id)))
        .multipart(MultiPart::alternative_plain_html(
            claimed.composed.text.clone(),
            claimed.composed.html.clone(),
        ))
        .map_err(|err| err.to_string())
}

/// The HTML frame every message shares: a title and the body, styled inline
/// (mail clients drop style sheets; the console's CSP does not apply here).
pub fn html_frame(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
            }
            body style="font-family: -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1d1d27; line-height: 1.5; max-width: 560px; margin: 0 auto; padding: 24px;" {
                p style="font-weight: 700; color: #4f46e5; margin: 0 0 16px;" { "HUMMBL" }
                (body)
                p style="color: #6b6b7b; font-size: 13px; margin-top: 32px;" {
                    "Sent by the HUMMBL operations console. If you did not expect this message, you can ignore it."
                }
            }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(recipient: &str) -> Claimed {
        Claimed {
            id: "m-1".into(),
            recipient: recipient.into(),
            subject: "Join Acme".into(),
            attempts: 1,
            created_at: 0,
            composed: Composed {
                text: "Open https://hummbl.example/invite/abc".into(),
                html: html_frame("Join Acme", html! { p { "Open the link" } }),
            },
        }
    }

    #[test]
    fn a_message_has_both_parts_and_a_stable_id() {
        let from: Mailbox = "HUMMBL <hummbl@example.com>".parse().expect("from");
        let message = compose_message(&from, &claimed("ada@example.com")).expect("message");
        let text = String::from_utf8(message.formatted()).expect("utf-8");
        assert!(text.contains("Message-ID: <m-1@example.com>"), "{text}");
        assert!(text.contains("multipart/alternative"));
        assert!(text.contains("text/plain") && text.contains("text/html"));
        assert!(compose_message(&from, &claimed("not an address")).is_err());
    }
}
