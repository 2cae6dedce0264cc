//! `/invite/{token}`: the page an invitation's link opens. It says who invited
//! whom to which team and role, and takes what joining needs: a name and a
//! password for a new account, the password of an existing one, or nothing
//! for someone signed in with the invited address. It is sent with
//! `Referrer-Policy: no-referrer`, so the token in its address leaves nowhere.
//! A used, withdrawn or expired link answers 410 saying which and whom to ask.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use maud::{Markup, html};
use secrecy::SecretString;
use serde::Deserialize;

use super::{Acceptance, InvitationState, Opened};
use crate::app::AppState;
use crate::auth::client::ClientIp;
use crate::auth::{MaybePrincipal, Principal};
use crate::error::AppError;
use crate::web::layout::{bare, utc_date};
use crate::web::notice;

/// What the page shows for an open invitation.
pub struct InviteView {
    pub opened: Opened,
    /// Who is signed in in this browser, if anyone.
    pub signed_in: Option<(String, String)>,
    pub name: String,
    pub refused: Option<AppError>,
}

/// Every answer of these routes: no `Referer` leaves the page.
fn private(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup).into_response();
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn unknown() -> Response {
    private(
        StatusCode::NOT_FOUND,
        bare(
            "Invitation not found",
            html! {
                section.login-card aria-labelledby="invite-title" {
                    h1 #invite-title { "This link does not open an invitation" }
                    p { "Check that the whole link was copied, or ask the person who invited you to send the invitation again." }
                }
            },
        ),
    )
}

fn gone(opened: &Opened, error: &AppError) -> Response {
    let when = match opened.state {
        InvitationState::Accepted => opened
            .accepted_at
            .map(|at| format!("It was used on {}.", utc_date(at))),
        InvitationState::Expired => Some(format!("It expired on {}.", utc_date(opened.expires_at))),
        InvitationState::Revoked | InvitationState::Pending => None,
    };
    private(
        StatusCode::GONE,
        bare(
            "Invitation no longer valid",
            html! {
                section.login-card aria-labelledby="invite-title" {
                    h1 #invite-title { "This invitation to " (opened.team_name) " no longer works" }
                    (notice("error", &capitalized(&error.to_string())))
                    @if let Some(when) = when { p { (when) } }
                    @if opened.state == InvitationState::Accepted {
                        p { "If it was you, " a href="/login" { "sign in" } "." }
                    }
                }
            },
        ),
    )
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub async fn show(
    State(state): State<AppState>,
    MaybePrincipal(principal): MaybePrincipal,
    Path(token): Path<String>,
) -> Response {
    match super::lookup(&state.db, &token).await {
        Ok(None) => unknown(),
        Ok(Some(opened)) => match opened.gone() {
            Some(error) => gone(&opened, &error),
            None => private(
                StatusCode::OK,
                render(&view(opened, principal.as_ref(), String::new(), None)),
            ),
        },
        Err(err) => AppError::from(err).into_response(),
    }
}

fn view(
    opened: Opened,
    principal: Option<&Principal>,
    name: String,
    refused: Option<AppError>,
) -> InviteView {
    InviteView {
        opened,
        signed_in: principal.map(|p| (p.user_id.clone(), p.email.clone())),
        name,
        refused,
    }
}

#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub password: String,
}

/// Joins (creating the account if needed), signs the browser in to the team,
/// and opens the console; a refusal comes back on the page beside its field.
pub async fn accept_form(
    State(state): State<AppState>,
    MaybePrincipal(principal): MaybePrincipal,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    Path(token): Path<String>,
    Form(form): Form<AcceptForm>,
) -> Response {
    let opened = match super::lookup(&state.db, &token).await {
        Ok(Some(opened)) => opened,
        Ok(None) => return unknown(),
        Err(err) => return AppError::from(err).into_response(),
    };
    let acceptance = Acceptance {
        name: form.name.clone(),
        password: SecretString::from(form.password),
        signed_in_as: principal.as_ref().map(|p| p.user_id.clone()),
    };
    match super::accept(&state.db, &state.bus, &token, acceptance).await {
        Ok(accepted) => {
            match crate::auth::handlers::open_session(
                &state,
                ip,
                &headers,
                jar,
                &accepted.user_id,
                &accepted.team_id,
            )
            .await
            {
                Ok(jar) => {
                    let mut response = (jar, Redirect::to("/")).into_response();
                    response.headers_mut().insert(
                        header::REFERRER_POLICY,
                        HeaderValue::from_static("no-referrer"),
                    );
                    response
                }
                Err(err) => err.into_response(),
            }
        }
        Err(err @ AppError::Gone(_)) => gone(&opened, &err),
        Err(err @ (AppError::Validation { .. } | AppError::Conflict(_))) => {
            let status = err.status();
            private(
                status,
                render(&view(opened, principal.as_ref(), form.name, Some(err))),
            )
        }
        Err(err) => err.into_response(),
    }
}

/// The page for an open invitation (pure: unit tests draw every case).
pub fn render(view: &InviteView) -> Markup {
    let opened = &view.opened;
    let inviter = match &opened.inviter {
        Some((name, _)) => name.as_str(),
        None => "An admin",
    };
    let field_error = |field: &str| match &view.refused {
        Some(AppError::Validation {
            field: named,
            message,
        }) if named == field => Some(message.clone()),
        _ => None,
    };
    let signed_in_as_invited = view
        .signed_in
        .as_ref()
        .is_some_and(|(_, email)| email == &opened.email);
    bare(
        &format!("Join {}", opened.team_name),
        html! {
            section.login-card aria-labelledby="invite-title" {
                h1 #invite-title { "Join " (opened.team_name) }
                p { (inviter) " invited " strong { (opened.email) } " to join as " strong { (opened.role.as_str()) } "." }
                p.hint { "The link works once and until " (utc_date(opened.expires_at)) "." }
                @if let Some(error) = &view.refused {
                    @if !matches!(error, AppError::Validation { .. }) { (notice("error", &error.to_string())) }
                }
                @match &view.signed_in {
                    Some((_, email)) if !signed_in_as_invited => {
                        p { "You are signed in as " strong { (email) } ". This invitation is for " (opened.email) ": sign out, then open the link again." }
                        form method="post" action="/logout" {
                            button.button type="submit" { "Sign out" }
                        }
                    }
                    _ => {
                        form method="post" {
                            @if signed_in_as_invited {
                                p { "You are signed in with this address." }
                            } @else if opened.account_exists {
                                p { "An account with this address exists: enter its password to join." }
                                (password_field("current-password", field_error("password")))
                            } @else {
                                div.field {
                                    label for="name" { "Your name" }
                                    input #name name="name" value=(view.name) autocomplete="name" required maxlength="100"
                                        aria-invalid=[field_error("name").map(|_| "true")];
                                    @if let Some(message) = field_error("name") { p.field-error { (message) } }
                                }
                                (password_field("new-password", field_error("password")))
                            }
                            button.button.button-primary type="submit" {
                                @if opened.account_exists || signed_in_as_invited { "Join " (opened.team_name) } @else { "Create account and join" }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn password_field(autocomplete: &str, error: Option<String>) -> Markup {
    html! {
        div.field {
            label for="password" { "Password" }
            input #password type="password" name="password" autocomplete=(autocomplete) required
                aria-invalid=[error.as_ref().map(|_| "true")];
            @if autocomplete == "new-password" { p.hint { "At least 10 characters." } }
            @if let Some(message) = error { p.field-error { (message) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn opened(account_exists: bool) -> Opened {
        Opened {
            id: "i-1".into(),
            team_id: "t-1".into(),
            team_name: "Acme <R&D>".into(),
            email: "bo@example.com".into(),
            role: Role::Member,
            inviter: Some(("Ada".into(), "ada@example.com".into())),
            expires_at: 1_700_000_000_000,
            state: InvitationState::Pending,
            accepted_at: None,
            account_exists,
            link_replaced: false,
        }
    }

    fn view(account_exists: bool, signed_in: Option<&str>) -> InviteView {
        InviteView {
            opened: opened(account_exists),
            signed_in: signed_in.map(|email| ("u-9".to_string(), email.to_string())),
            name: String::new(),
            refused: None,
        }
    }

    #[test]
    fn a_newcomer_creates_an_account_and_an_existing_one_gives_its_password() {
        let html = render(&view(false, None)).into_string();
        assert!(
            html.contains("Join Acme &lt;R&amp;D&gt;") && html.contains("Create account and join")
        );
        assert!(html.contains(r#"name="name""#) && html.contains(r#"autocomplete="new-password""#));
        let html = render(&view(true, None)).into_string();
        assert!(
            !html.contains(r#"name="name""#) && html.contains(r#"autocomplete="current-password""#)
        );
        let html = render(&view(true, Some("bo@example.com"))).into_string();
        assert!(
            !html.contains(r#"name="password""#)
                && html.contains("You are signed in with this address")
        );
        let html = render(&view(true, Some("eve@example.com"))).into_string();
        assert!(
            html.contains("sign out, then open the link again")
                && html.contains(r#"action="/logout""#)
        );
    }

    #[test]
    fn a_refusal_shows_beside_its_field() {
        let mut refused = view(false, None);
        refused.refused = Some(AppError::validation(
            "password",
            "must be at least 10 characters",
        ));
        let html = render(&refused).into_string();
        assert!(html.contains(r#"<p class="field-error">must be at least 10 characters</p>"#));
    }

    #[test]
    fn a_used_link_says_so_and_whom_to_ask() {
        let mut used = opened(true);
        used.state = InvitationState::Accepted;
        used.accepted_at = Some(1_700_000_000_000);
        let error = used.gone().expect("gone");
        let response = gone(&used, &error);
        assert_eq!(response.status(), StatusCode::GONE);
        assert_eq!(response.headers()[header::REFERRER_POLICY], "no-referrer");
        assert!(
            error.to_string().contains("already used")
                && error.to_string().contains("ask Ada (ada@example.com)")
        );
    }
}
