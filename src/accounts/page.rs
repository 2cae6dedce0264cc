//! The Account page: change your password, your personal API tokens (create,
//! revoke one or all) and where you are signed in (end one session or all).
//! Each form goes through the same functions as the JSON API (`handlers`).

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use maud::{Markup, html};
use serde::Deserialize;

use super::handlers::{
    NewToken, PasswordChange, SessionView, change, end_every_session, end_one_session, issue,
    revoke, revoke_every_token, sessions_of,
};
use crate::app::AppState;
use crate::auth::Principal;
use crate::auth::client::ClientIp;
use crate::auth::session;
use crate::auth::tokens::{self, TokenInfo};
use crate::error::{AppError, AppResult};
use crate::web::{Shell, notice, page};

/// What the account page shows above its forms after an action.
enum Outcome {
    None,
    Notice(&'static str, String),
    NewToken(String),
}

/// Loads the account page (your sessions, tokens and the shell at once) and
/// renders it with the outcome of the action that led here.
async fn render_account(
    state: &AppState,
    principal: &Principal,
    outcome: Outcome,
) -> AppResult<Markup> {
    let shell = Shell::new("Account", "/account");
    let (tokens, sessions, shell) = tokio::try_join!(
        async { Ok(tokens::list(&state.db, &principal.user_id).await?) },
        sessions_of(state, principal),
        page(state, principal, shell),
    )?;
    let header = html! {
        header.page-header {
            h1 { "Account" }
            p.lede { (principal.name) " · " (principal.email) }
        }
    };
    let view = AccountView {
        tokens: &tokens,
        sessions: &sessions,
        lifetime: state.session_lifetime(),
    };
    Ok(shell.render(html! { (header) (account_body(&view, &outcome)) }))
}

/// What the account page lists.
struct AccountView<'a> {
    tokens: &'a [TokenInfo],
    sessions: &'a [SessionView],
    lifetime: session::Lifetime,
}

/// The account page's forms and lists (no queries).
fn account_body(view: &AccountView<'_>, outcome: &Outcome) -> Markup {
    html! {
        @match outcome {
            Outcome::None => {},
            Outcome::Notice(kind, text) => { (notice(kind, text)) },
            Outcome::NewToken(secret) => {
                div.notice.notice-success role="status" {
                    p { "Your new token. Copy it now: it will not be shown again." }
                    p { code.secret data-copy { (secret) } }
                }
            },
        }
        section.panel aria-labelledby="password-title" {
            h2 #password-title { "Change password" }
            p.hint { "Changing it signs you out everywhere else." }
            form method="post" action="/account/password" {
                div.field {
                    label for="current_password" { "Current password" }
                    input #current_password type="password" name="current_password" autocomplete="current-password" required;
                }
                div.field {
                    label for="new_password" { "New password (at least 10 characters)" }
                    input #new_password type="password" name="new_password" autocomplete="new-password" minlength="10" required;
                }
                button.button.button-primary type="submit" { "Change password" }
            }
        }
        section.panel aria-labelledby="tokens-title" {
            h2 #tokens-title { "Personal API tokens" }
            p.hint { "Use a token as " code { "Authorization: Bearer <token>" } ". It acts as you, in the team you create it in, with your role there." }
            form.inline-form method="post" action="/account/tokens" {
                div.field {
                    label for="token-name" { "Name" }
                    input #token-name name="name" maxlength="100" required placeholder="CI exporter";
                }
                div.field {
                    label for="token-expiry" { "Expires in (days, empty for never)" }
                    input #token-expiry name="expires_in_days" type="number" min="1" max="365";
                }
                button.button type="submit" { "Create token" }
            }
            @if view.tokens.is_empty() {
                p.empty { "No tokens yet." }
            } @else {
                table.data {
                    caption.visually-hidden { "Your API tokens" }
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Starts with" } th scope="col" { "Last used" } th scope="col" { "Expires" } th scope="col" { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for token in view.tokens {
                            tr {
                                td { (token.name) }
                                td { code { (token.prefix) "…" } }
                                td { (crate::web::layout::when(token.last_used_at)) }
                                td { (crate::web::layout::when(token.expires_at)) }
                                td {
                                    form method="post" action={"/account/tokens/" (token.id) "/revoke"} {
                                        button.button.button-small.button-danger type="submit" aria-label={"Revoke token " (token.name)} { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
                form method="post" action="/account/tokens/revoke-all" {
                    button.button.button-danger type="submit" { "Revoke all tokens" }
                }
            }
        }
        (sessions_panel(view.sessions, view.lifetime))
    }
}

/// Where the user is signed in, with a way out for each and for all.
fn sessions_panel(sessions: &[SessionView], lifetime: session::Lifetime) -> Markup {
    let hours = |ms: i64| ms / 3_600_000;
    html! {
        section.panel aria-labelledby="sessions-title" {
            h2 #sessions-title { "Where you are signed in" }
            p.hint {
                "A session ends after " (crate::web::format::hours_text(hours(lifetime.idle_ms)))
                " without use, and " (crate::web::format::hours_text(hours(lifetime.absolute_ms)))
                " after sign-in at the latest."
            }
            table.data {
                caption.visually-hidden { "Your sessions" }
                thead { tr { th scope="col" { "Browser" } th scope="col" { "Address" } th scope="col" { "Signed in" } th scope="col" { "Last active" } th scope="col" { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for session in sessions {
                        tr {
                            td { (browser_name(session.info.user_agent.as_deref())) }
                            td { (session.info.ip.as_deref().unwrap_or("—")) }
                            td { (crate::web::layout::when(Some(session.info.created_at))) }
                            td { (crate::web::layout::when(Some(session.info.last_seen_at))) }
                            td {
                                @if session.current {
                                    span.badge { "This browser" }
                                } @else {
                                    form method="post" action={"/account/sessions/" (session.info.id) "/end"} {
                                        button.button.button-small.button-danger type="submit" { "Sign out" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action="/account/sessions/end-all" {
                button.button.button-danger type="submit" { "Sign out everywhere" }
            }
        }
    }
}

/// A short name for a User-Agent ("Firefox on Linux"), or the raw text.
fn browser_name(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent else {
        return "Unknown".into();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(marker, _)| agent.contains(marker))
    .map(|(_, name)| *name);
    let system = [
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| agent.contains(marker))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_string(),
        _ => agent.chars().take(60).collect(),
    }
}

pub(super) async fn account_page(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Markup> {
    render_account(&state, &principal, Outcome::None).await
}

/// Renders the account page with a validation or conflict error above the forms.
async fn form_failure(state: &AppState, principal: &Principal, err: AppError) -> Response {
    match err {
        AppError::Validation { .. } | AppError::Conflict(_) | AppError::NotFound => {
            let status = err.status();
            match render_account(state, principal, Outcome::Notice("error", err.to_string())).await
            {
                Ok(markup) => (status, markup).into_response(),
                Err(err) => err.into_response(),
            }
        }
        other => other.into_response(),
    }
}

pub(super) async fn password_form(
    State(state): State<AppState>,
    client: ClientIp,
    principal: Principal,
    Form(request): Form<PasswordChange>,
) -> Response {
    match change(&state, client, &principal, request).await {
        Ok(()) => match render_account(
            &state,
            &principal,
            Outcome::Notice("success", "Password changed.".into()),
        )
        .await
        {
            Ok(markup) => markup.into_response(),
            Err(err) => err.into_response(),
        },
        Err(err) => form_failure(&state, &principal, err).await,
    }
}

#[derive(Deserialize)]
pub(super) struct NewTokenForm {
    name: String,
    #[serde(default)]
    expires_in_days: String,
}

pub(super) async fn create_token_form(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<NewTokenForm>,
) -> Response {
    let expires_in_days = match form.expires_in_days.trim() {
        "" => Ok(None),
        text => text
            .parse::<i64>()
            .map(Some)
            .map_err(|_| AppError::validation("expires_in_days", "must be a whole number of days")),
    };
    let result = match expires_in_days {
        Ok(expires_in_days) => {
            issue(
                &state,
                &principal,
                NewToken {
                    name: form.name,
                    expires_in_days,
                },
            )
            .await
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(created) => {
            match render_account(&state, &principal, Outcome::NewToken(created.secret)).await {
                Ok(markup) => (StatusCode::CREATED, markup).into_response(),
                Err(err) => err.into_response(),
            }
        }
        Err(err) => form_failure(&state, &principal, err).await,
    }
}

pub(super) async fn revoke_token_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Response {
    match revoke(&state, &principal, &id).await {
        Ok(()) => Redirect::to("/account").into_response(),
        Err(err) => form_failure(&state, &principal, err).await,
    }
}

pub(super) async fn end_session_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Response {
    match end_one_session(&state, &principal, &id).await {
        Ok(()) if principal.session_id() == Some(id.as_str()) => {
            Redirect::to("/login").into_response()
        }
        Ok(()) => Redirect::to("/account").into_response(),
        Err(err) => form_failure(&state, &principal, err).await,
    }
}

pub(super) async fn end_all_sessions_form(
    State(state): State<AppState>,
    principal: Principal,
    jar: CookieJar,
) -> AppResult<(CookieJar, Redirect)> {
    end_every_session(&state, &principal).await?;
    let jar = jar.add(session::removal_cookie(state.config.secure_cookies()));
    Ok((jar, Redirect::to("/login")))
}

pub(super) async fn revoke_all_tokens_form(
    State(state): State<AppState>,
    principal: Principal,
) -> Response {
    match revoke_every_token(&state, &principal).await {
        Ok(count) => {
            let text = format!("{count} token(s) revoked.");
            match render_account(&state, &principal, Outcome::Notice("success", text)).await {
                Ok(markup) => markup.into_response(),
                Err(err) => err.into_response(),
            }
        }
        Err(err) => form_failure(&state, &principal, err).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::session::SessionInfo;

    const LIFETIME: session::Lifetime = session::Lifetime {
        idle_ms: 7 * 86_400_000,
        absolute_ms: 30 * 86_400_000,
    };

    fn session_view(id: &str, current: bool, agent: &str) -> SessionView {
        SessionView {
            info: SessionInfo {
                id: id.into(),
                team_id: "team".into(),
                created_at: 0,
                last_seen_at: 0,
                expires_at: 1,
                ip: Some("192.0.2.7".into()),
                user_agent: Some(agent.into()),
            },
            current,
        }
    }

    #[test]
    fn sessions_are_listed_with_a_way_out_for_each_but_this_one() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        let sessions = [
            session_view("here", true, firefox),
            session_view("there", false, "curl/8.5.0"),
        ];
        let view = AccountView {
            tokens: &[],
            sessions: &sessions,
            lifetime: LIFETIME,
        };
        let html = account_body(&view, &Outcome::None).into_string();
        assert!(html.contains("Firefox on Linux"));
        assert!(html.contains("This browser"));
        assert!(html.contains(r#"action="/account/sessions/there/end""#));
        assert!(!html.contains(r#"action="/account/sessions/here/end""#));
        assert!(html.contains(r#"action="/account/sessions/end-all""#));
        assert!(
            html.contains("7 days without use, and 30 days after sign-in"),
            "{html}"
        );
        assert!(
            !html.contains("revoke-all"),
            "no tokens, no revoke-all button"
        );
    }

    #[test]
    fn a_new_token_is_shown_once_and_listed_tokens_can_be_revoked() {
        let listed = [tokens::TokenInfo {
            id: "t-1".into(),
            name: "CI <exporter>".into(),
            prefix: "hmb_pat_ab12".into(),
            team_id: "team".into(),
            created_at: 0,
            last_used_at: None,
            expires_at: None,
        }];
        let view = AccountView {
            tokens: &listed,
            sessions: &[],
            lifetime: LIFETIME,
        };
        let html = account_body(&view, &Outcome::NewToken("hmb_pat_secret".into())).into_string();
        assert!(html.contains("hmb_pat_secret"));
        assert!(html.contains("it will not be shown again"));
        assert!(html.contains(r#"action="/account/tokens/t-1/revoke""#));
        assert!(html.contains("CI &lt;exporter&gt;"));
        let nothing = AccountView {
            tokens: &[],
            sessions: &[],
            lifetime: LIFETIME,
        };
        let empty = account_body(&nothing, &Outcome::None).into_string();
        assert!(empty.contains("No tokens yet."));
        assert!(!empty.contains("hmb_pat_secret"));
    }
}
