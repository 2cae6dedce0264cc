//! The invitation's mail, composed when the mail worker sends it: a fresh link
//! token is made in the worker's claim transaction, only its hash is kept, and
//! the link lives in this message alone.

use maud::html;

use super::store;
use crate::config::Config;
use crate::mail::Composed;
use crate::storage::Tx;
use crate::web::layout::utc_date;

/// The invitation mail for `invitation_id`, with a new link (the previous
/// link, if any, dies); none when the invitation is no longer pending.
pub async fn compose_mail(
    tx: &mut Tx,
    config: &Config,
    invitation_id: Option<&str>,
) -> Result<Option<Composed>, sqlx::Error> {
    let Some(id) = invitation_id else {
        return Ok(None);
    };
    let Some(details) = store::to_mail(tx, id).await? else {
        return Ok(None);
    };
    let token = super::new_token();
    store::set_hash_in(tx, id, &super::token_hash(&token)).await?;
    let link = format!("{}/invite/{token}", config.link_base());
    Ok(Some(render(&details, &link)))
}

fn render(details: &store::ToMail, link: &str) -> Composed {
    let inviter = details.inviter.as_deref().unwrap_or("An admin");
    let team = &details.team_name;
    let role = details.role.as_str();
    let until = utc_date(details.expires_at);
    let text = format!(
        "{inviter} invited you to join {team} on HUMMBL as {role}.\n\n\
         Accept the invitation here:\n{link}\n\n\
         The link works once and until {until}. If you did not expect this message, you can ignore it.\n"
    );
    let title = format!("Join {team} on HUMMBL");
    let body = html! {
        h1 style="font-size: 20px; margin: 0 0 12px;" { (title) }
        p { (inviter) " invited you to join " strong { (team) } " as " strong { (role) } "." }
        p {
            a href=(link) style="display: inline-block; background: #4f46e5; color: #ffffff; padding: 10px 18px; border-radius: 6px; text-decoration: none; font-weight: 600;" {
                "Accept the invitation"
            }
        }
        p style="color: #6b6b7b; font-size: 14px;" {
            "The link works once and until " (until) ". If the button does not work, open this address: " br; (link)
        }
    };
    Composed {
        text,
        html: crate::mail::html_frame(&title, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    #[test]
    fn the_mail_carries_the_link_in_both_parts_and_escapes_names() {
        let details = store::ToMail {
            team_name: "Acme <R&D>".into(),
            inviter: Some("Ada".into()),
            role: Role::Member,
            expires_at: 1_700_000_000_000,
        };
        let link = "https://hummbl.example/invite/abc_DEF-123";
        let composed = render(&details, link);
        assert!(composed.text.contains(link) && composed.html.contains(link));
        assert!(
            composed
                .text
                .contains("Ada invited you to join Acme <R&D> on HUMMBL as member.")
        );
        assert!(composed.html.contains("Acme &lt;R&amp;D&gt;"));
        assert!(composed.text.contains("2023-11-14"));
    }
}
