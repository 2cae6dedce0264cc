//! The account page and API: change password, personal API tokens.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use axum_extra::extract::CookieJar;
use maud::{Markup, html};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::client::ClientIp;
use crate::auth::session::{self, SessionInfo};
use crate::auth::tokens::{self, TokenInfo};
use crate::auth::{Permission, Principal};
use crate::bus::streams::AccessEnded;
use crate::error::{AppError, AppResult};
use crate::routes::Route;
use crate::storage::now_ms;
use crate::web::{Shell, notice, page};

pub fn routes() -> Vec<Route> {
    vec![
        Route::page(Method::GET, "/account", account_page).allowed(Permission::Read),
        Route::page(Method::POST, "/account/password", password_form).allowed(Permission::Read),
        Route::page(Method::POST, "/account/tokens", create_token_form).allowed(Permission::Read),
        Route::page(
            Method::POST,
            "/account/tokens/{id}/revoke",
            revoke_token_form,
        )
        .allowed(Permission::Read),
        Route::page(
            Method::POST,
            "/account/tokens/revoke-all",
            revoke_all_tokens_form,
        )
        .allowed(Permission::Read),
        Route::page(Method::POST, "/account/sessions/{id}/end", end_session_form)
            .allowed(Permission::Read),
        Route::page(
            Method::POST,
            "/account/sessions/end-all",
            end_all_sessions_form,
        )
        .allowed(Permission::Read),
        Route::api(Method::POST, "/api/account/password", change_password_api)
            .allowed(Permission::Read),
        Route::api(Method::GET, "/api/account/sessions", list_sessions).allowed(Permission::Read),
        Route::api(
            Method::DELETE,
            "/api/account/sessions/{id}",
            end_session_api,
        )
        .allowed(Permission::Read),
        Route::api(
            Method::POST,
            "/api/account/sessions/end-all",
            end_all_sessions_api,
        )
        .allowed(Permission::Read),
        Route::api(
            Method::POST,
            "/api/tokens/revoke-all",
            revoke_all_tokens_api,
        )
        .allowed(Permission::Read),
        Route::api(Method::GET, "/api/tokens", list_tokens).allowed(Permission::Read),
        Route::api(Method::POST, "/api/tokens", create_token).allowed(Permission::Read),
        Route::api(Method::DELETE, "/api/tokens/{id}", revoke_token).allowed(Permission::Read),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    /// Checked against the stored password (422 when it does not match).
    pub current_password: String,
    /// 10 to 256 characters.
    #[schema(min_length = 10, max_length = 256)]
    pub new_password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewToken {
    /// What the token is for.
    #[schema(value_type = crate::api::shapes::Name)]
    pub name: String,
    /// Days until it expires (1–365); without it, it lasts until revoked.
    #[serde(default, deserialize_with = "crate::api::integer::optional")]
    #[schema(minimum = 1, maximum = 365)]
    pub expires_in_days: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedTokenResponse {
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The token. Shown this once; store it now.
    pub token: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

/// Checks the current password (throttled like a sign-in: each check costs an
/// Argon2 run and is a guess at the password), then sets the new one.
async fn change(
    state: &AppState,
    client: ClientIp,
    principal: &Principal,
    request: PasswordChange,
) -> AppResult<()> {
    state
        .login_limiter
        .check_password_change(client.0, &principal.user_id)
        .map_err(|retry_after_secs| AppError::TooManyRequests { retry_after_secs })?;
    crate::accounts::change_password(
        &state.db,
        &principal.user_id,
        SecretString::from(request.current_password),
        SecretString::from(request.new_password),
        principal.session_id(),
    )
    .await?;
    state.access_ended(AccessEnded::Sessions {
        user_id: principal.user_id.clone(),
        except: principal.session_id().map(str::to_string),
    });
    Ok(())
}

/// Change your password; every other session of yours ends.
#[utoipa::path(post, path = "/api/account/password", tag = "account", request_body = PasswordChange,
    responses((status = 204), (status = 422, description = "wrong current password or weak new one"),
              (status = 429, description = "too many attempts; see Retry-After")))]
pub async fn change_password_api(
    State(state): State<AppState>,
    client: ClientIp,
    principal: Principal,
    ApiJson(request): ApiJson<PasswordChange>,
) -> AppResult<StatusCode> {
    change(&state, client, &principal, request).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn issue(
    state: &AppState,
    principal: &Principal,
    request: NewToken,
) -> AppResult<tokens::CreatedToken> {
    // A token must not mint tokens: one leaked token would otherwise outlive
    // its own revocation through the tokens it made.
    if principal.session_id().is_none() {
        return Err(AppError::Refused(
            "personal API tokens are created from a signed-in browser session, not with a token"
                .into(),
        ));
    }
    let name = crate::accounts::parse_name("name", &request.name)?;
    let expires_at = match request.expires_in_days {
        None => None,
        Some(days @ 1..=365) => Some(now_ms() + days * 86_400_000),
        Some(_) => {
            return Err(AppError::validation(
                "expires_in_days",
                "must be between 1 and 365",
            ));
        }
    };
    Ok(tokens::create(&state.db, principal.into(), &name, expires_at).await?)
}

/// Your personal API tokens (the secrets are never shown again).
#[utoipa::path(get, path = "/api/tokens", tag = "account", responses((status = 200, body = TokenList)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<TokenList>> {
    Ok(Json(TokenList {
        tokens: tokens::list(&state.db, &principal.user_id).await?,
    }))
}

/// Create a personal API token acting as you in the current team. Only from a
/// browser session: a token cannot create tokens (403).
#[utoipa::path(post, path = "/api/tokens", tag = "account", request_body = NewToken,
    responses((status = 201, body = CreatedTokenResponse), (status = 403, description = "called with a token, not a session"), (status = 422)))]
pub async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<NewToken>,
) -> AppResult<(StatusCode, Json<CreatedTokenResponse>)> {
    let created = issue(&state, &principal, request).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTokenResponse {
            info: created.info,
            token: created.secret,
        }),
    ))
}

async fn revoke(state: &AppState, principal: &Principal, id: &str) -> AppResult<()> {
    if !tokens::revoke(&state.db, principal.into(), id).await? {
        return Err(AppError::NotFound);
    }
    state.access_ended(AccessEnded::Token {
        token_id: id.to_string(),
    });
    Ok(())
}

/// Revoke one of your tokens.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "account",
    params(("id" = String, Path, description = "token id")), responses((status = 204), (status = 404)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    revoke(&state, &principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    #[serde(flatten)]
    pub info: SessionInfo,
    /// Whether this is the session making the request.
    pub current: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Revoked {
    /// How many tokens were revoked.
    pub revoked: u64,
}

async fn sessions_of(state: &AppState, principal: &Principal) -> AppResult<Vec<SessionView>> {
    let sessions = session::list(&state.db, &principal.user_id).await?;
    Ok(sessions
        .into_iter()
        .map(|info| SessionView {
            current: principal.session_id() == Some(info.id.as_str()),
            info,
        })
        .collect())
}

/// Where you are signed in: your unexpired sessions, most recently used first.
#[utoipa::path(get, path = "/api/account/sessions", tag = "account",
    responses((status = 200, body = SessionList)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<SessionList>> {
    Ok(Json(SessionList {
        sessions: sessions_of(&state, &principal).await?,
    }))
}

async fn end_one_session(state: &AppState, principal: &Principal, id: &str) -> AppResult<()> {
    if !session::end(&state.db, principal.into(), id).await? {
        return Err(AppError::NotFound);
    }
    state.access_ended(AccessEnded::Session {
        session_id: id.to_string(),
    });
    Ok(())
}

/// Sign one of your sessions out (its live streams end too).
#[utoipa::path(delete, path = "/api/account/sessions/{id}", tag = "account",
    params(("id" = String, Path, description = "session id, from the session list")),
    responses((status = 204), (status = 404)))]
pub async fn end_session_api(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    end_one_session(&state, &principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn end_every_session(state: &AppState, principal: &Principal) -> AppResult<()> {
    session::end_all(&state.db, principal.into()).await?;
    state.access_ended(AccessEnded::Sessions {
        user_id: principal.user_id.clone(),
        except: None,
    });
    Ok(())
}

/// Sign out everywhere: every session of yours ends, this one included.
#[utoipa::path(post, path = "/api/account/sessions/end-all", tag = "account",
    responses((status = 204)))]
pub async fn end_all_sessions_api(
    State(state): State<AppState>,
    principal: Principal,
    jar: CookieJar,
) -> AppResult<(CookieJar, StatusCode)> {
    end_every_session(&state, &principal).await?;
    let jar = jar.add(session::removal_cookie(state.config.secure_cookies()));
    Ok((jar, StatusCode::NO_CONTENT))
}

async fn revoke_every_token(state: &AppState, principal: &Principal) -> AppResult<u64> {
    let revoked = tokens::revoke_all(&state.db, principal.into()).await?;
    state.access_ended(AccessEnded::Tokens {
        user_id: principal.user_id.clone(),
    });
    Ok(revoked)
}

/// Revoke every personal API token of yours, in every team.
#[utoipa::path(post, path = "/api/tokens/revoke-all", tag = "account",
    responses((status = 200, body = Revoked)))]
pub async fn revoke_all_tokens_api(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<Revoked>> {
    Ok(Json(Revoked {
        revoked: revoke_every_token(&state, &principal).await?,
    }))
}

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

async fn account_page(State(state): State<AppState>, principal: Principal) -> AppResult<Markup> {
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

async fn password_form(
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
struct NewTokenForm {
    name: String,
    #[serde(default)]
    expires_in_days: String,
}

async fn create_token_form(
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

async fn revoke_token_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Response {
    match revoke(&state, &principal, &id).await {
        Ok(()) => Redirect::to("/account").into_response(),
        Err(err) => form_failure(&state, &principal, err).await,
    }
}

async fn end_session_form(
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

async fn end_all_sessions_form(
    State(state): State<AppState>,
    principal: Principal,
    jar: CookieJar,
) -> AppResult<(CookieJar, Redirect)> {
    end_every_session(&state, &principal).await?;
    let jar = jar.add(session::removal_cookie(state.config.secure_cookies()));
    Ok((jar, Redirect::to("/login")))
}

async fn revoke_all_tokens_form(State(state): State<AppState>, principal: Principal) -> Response {
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
