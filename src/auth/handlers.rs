//! Login and logout: the form at `/login` and the JSON API. Unknown email and
//! wrong password get the same answer and cost the same time; attempts are
//! throttled per client address and per account; each login issues a fresh
//! session token and ends the one the browser held before.

use std::net::IpAddr;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use axum_extra::extract::CookieJar;
use maud::html;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::client::ClientIp;
use super::{Principal, password, session};
use crate::app::AppState;
use crate::bus::streams::AccessEnded;
use crate::error::{AppError, AppResult};
use crate::routes::Route;
use crate::teams::TeamMembership;
use crate::web::layout;

pub fn routes() -> Vec<Route> {
    vec![
        Route::page(Method::GET, "/login", login_page).public(),
        Route::page(Method::POST, "/login", login_form).public(),
        Route::page(Method::POST, "/logout", logout_form).public(),
        Route::api(Method::POST, "/api/auth/login", login_api).public(),
        Route::api(Method::POST, "/api/auth/logout", logout_api).public(),
        Route::api(Method::GET, "/api/me", me).signed_in(),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Who is signed in, in which team, with which role.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    pub id: String,
    pub email: String,
    pub name: String,
    pub team_id: String,
    pub team_name: String,
    pub role: super::Role,
    pub teams: Vec<TeamMembership>,
}

struct SignedIn {
    token: String,
    user_id: String,
}

/// Checks the credentials and opens a session.
async fn sign_in(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    email: &str,
    password_text: String,
) -> AppResult<SignedIn> {
    if email.len() > 254 || password_text.len() > password::MAX_PASSWORD_LEN * 4 {
        return Err(AppError::InvalidCredentials);
    }
    state
        .login_limiter
        .check(ip, email)
        .map_err(|retry_after_secs| AppError::TooManyRequests { retry_after_secs })?;
    let found = crate::accounts::find_by_email(&state.db, email).await?;
    let (user, stored) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let verified = password::verify_password(SecretString::from(password_text), stored).await;
    let user = match user {
        Some(user) if verified => user,
        _ => {
            tracing::info!(%ip, "failed login");
            return Err(AppError::InvalidCredentials);
        }
    };
    let team_id = crate::teams::default_team(&state.db, &user.id)
        .await?
        .ok_or_else(|| {
            AppError::Conflict("your account belongs to no team; ask an admin to invite you".into())
        })?;
    let token = new_session(state, ip, headers, &user.id, &team_id).await?;
    tracing::info!(user = %user.id, "signed in");
    Ok(SignedIn {
        token,
        user_id: user.id,
    })
}

/// Stores a new session of `user_id` in `team_id`; answers its cookie token.
async fn new_session(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    user_id: &str,
    team_id: &str,
) -> AppResult<String> {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    Ok(session::create(
        &state.db,
        session::NewSession {
            user_id,
            team_id,
            ttl_ms: state.session_lifetime().initial_ms(),
            ip: Some(ip.to_string()),
            user_agent,
        },
    )
    .await?)
}

/// Opens a session for a user who just proved who they are another way (an
/// accepted invitation), in `team_id`, and sets its cookie.
pub(crate) async fn open_session(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    jar: CookieJar,
    user_id: &str,
    team_id: &str,
) -> AppResult<CookieJar> {
    let token = new_session(state, ip, headers, user_id, team_id).await?;
    let signed_in = SignedIn {
        token,
        user_id: user_id.to_string(),
    };
    swap_cookie(state, jar, &signed_in).await
}

/// Ends the session the browser held (if any) and sets the new cookie.
async fn swap_cookie(
    state: &AppState,
    jar: CookieJar,
    signed_in: &SignedIn,
) -> AppResult<CookieJar> {
    if let Some(old) = jar.get(session::COOKIE_NAME) {
        let session_id = session::revoke_token(&state.db, old.value()).await?;
        state.access_ended(AccessEnded::Session { session_id });
    }
    let max_age = state.session_lifetime().initial_ms() / 1000;
    Ok(jar.add(session::cookie(
        signed_in.token.clone(),
        state.config.secure_cookies(),
        max_age,
    )))
}

/// Only local paths are followed after login (no open redirect). Browsers drop
/// tabs and newlines from a URL and read `\\` as `/`, so `/\t/evil.example`
/// would become `//evil.example`: a path with any whitespace, control
/// character or backslash is refused, and what is left must stay on this origin
/// when resolved the way a browser would.
fn safe_next(next: Option<&str>) -> String {
    let local = |path: &&str| {
        path.starts_with('/')
            && !path.starts_with("//")
            && !path
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
            && stays_on_origin(path)
    };
    next.filter(local).unwrap_or("/").to_string()
}

fn stays_on_origin(path: &str) -> bool {
    let Ok(base) = url::Url::parse("http://hummbl.invalid/") else {
        return false;
    };
    base.join(path)
        .is_ok_and(|joined| joined.origin() == base.origin())
}

fn login_markup(error: Option<&str>, email: &str, next: &str) -> maud::Markup {
    layout::bare(
        "Sign in",
        html! {
            section.login-card aria-labelledby="login-title" {
                h1 #login-title { "Sign in" }
                @if let Some(message) = error {
                    (crate::web::notice("error", message))
                }
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    div.field {
                        label for="email" { "Email" }
                        input #email type="email" name="email" value=(email) autocomplete="username" required autofocus;
                    }
                    div.field {
                        label for="password" { "Password" }
                        input #password type="password" name="password" autocomplete="current-password" required;
                    }
                    button.button.button-primary type="submit" { "Sign in" }
                }
            }
        },
    )
}

async fn login_page(principal: super::MaybePrincipal, Query(query): Query<LoginQuery>) -> Response {
    let next = safe_next(query.next.as_deref());
    if principal.0.is_some() {
        return Redirect::to(&next).into_response();
    }
    login_markup(None, "", &next).into_response()
}

async fn login_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    match sign_in(&state, ip, &headers, &form.email, form.password).await {
        Ok(signed_in) => match swap_cookie(&state, jar, &signed_in).await {
            Ok(jar) => (jar, Redirect::to(&next)).into_response(),
            Err(err) => err.into_response(),
        },
        Err(
            err @ (AppError::InvalidCredentials
            | AppError::TooManyRequests { .. }
            | AppError::Conflict(_)),
        ) => {
            let status = err.status();
            let mut response = (
                status,
                login_markup(Some(&err.to_string()), &form.email, &next),
            )
                .into_response();
            if let Some(value) = err.retry_after() {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Err(err) => err.into_response(),
    }
}

/// Sign in; sets the session cookie.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = Me), (status = 401, description = "invalid email or password"),
              (status = 429, description = "too many attempts")))]
pub async fn login_api(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    crate::api::ApiJson(request): crate::api::ApiJson<LoginRequest>,
) -> AppResult<(CookieJar, Json<Me>)> {
    let signed_in = sign_in(&state, ip, &headers, &request.email, request.password).await?;
    let jar = swap_cookie(&state, jar, &signed_in).await?;
    let me = load_me(&state, &signed_in.user_id, None).await?;
    Ok((jar, Json(me)))
}

async fn load_me(state: &AppState, user_id: &str, current: Option<&Principal>) -> AppResult<Me> {
    let teams = crate::teams::teams_of(&state.db, user_id).await?;
    let user = match current {
        Some(who) => (
            who.email.clone(),
            who.name.clone(),
            who.team_id.clone(),
            who.role,
        ),
        None => {
            let first = teams.first().ok_or(AppError::Unauthorized)?;
            let found = crate::accounts::user(&state.db, user_id)
                .await?
                .ok_or(AppError::Unauthorized)?;
            (found.email, found.name, first.team_id.clone(), first.role)
        }
    };
    let team_name = teams
        .iter()
        .find(|team| team.team_id == user.2)
        .map(|team| team.team_name.clone())
        .unwrap_or_default();
    Ok(Me {
        id: user_id.to_string(),
        email: user.0,
        name: user.1,
        team_id: user.2,
        team_name,
        role: user.3,
        teams,
    })
}

async fn end_session(state: &AppState, jar: CookieJar) -> AppResult<CookieJar> {
    if let Some(cookie) = jar.get(session::COOKIE_NAME) {
        let session_id = session::revoke_token(&state.db, cookie.value()).await?;
        state.access_ended(AccessEnded::Session { session_id });
    }
    Ok(jar.add(session::removal_cookie(state.config.secure_cookies())))
}

async fn logout_form(
    State(state): State<AppState>,
    jar: CookieJar,
) -> AppResult<(CookieJar, Redirect)> {
    Ok((end_session(&state, jar).await?, Redirect::to("/login")))
}

/// End the current session (no-op without one).
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout_api(
    State(state): State<AppState>,
    jar: CookieJar,
) -> AppResult<(CookieJar, StatusCode)> {
    Ok((end_session(&state, jar).await?, StatusCode::NO_CONTENT))
}

/// The caller: user, current team, role, and every team they belong to.
#[utoipa::path(get, path = "/api/me", tag = "auth", responses((status = 200, body = Me), (status = 401)))]
pub async fn me(State(state): State<AppState>, principal: Principal) -> AppResult<Json<Me>> {
    Ok(Json(
        load_me(&state, &principal.user_id, Some(&principal)).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(
            safe_next(Some("/settings/components")),
            "/settings/components"
        );
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        assert_eq!(
            safe_next(Some("/executions?status=failed")),
            "/executions?status=failed"
        );
    }

    #[test]
    fn whitespace_and_control_characters_cannot_make_a_path_absolute() {
        for next in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/ /evil.example",
            "/\u{0}/evil.example",
        ] {
            assert_eq!(safe_next(Some(next)), "/", "{next:?}");
        }
    }
}
