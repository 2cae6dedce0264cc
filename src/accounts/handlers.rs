//! The account page and API: change password, personal API tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum_extra::extract::CookieJar;
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

use super::page;

pub fn routes() -> Vec<Route> {
    vec![
        Route::page(Method::GET, "/account", page::account_page).allowed(Permission::Read),
        Route::page(Method::POST, "/account/password", page::password_form)
            .allowed(Permission::Read),
        Route::page(Method::POST, "/account/tokens", page::create_token_form)
            .allowed(Permission::Read),
        Route::page(
            Method::POST,
            "/account/tokens/{id}/revoke",
            page::revoke_token_form,
        )
        .allowed(Permission::Read),
        Route::page(
            Method::POST,
            "/account/tokens/revoke-all",
            page::revoke_all_tokens_form,
        )
        .allowed(Permission::Read),
        Route::page(
            Method::POST,
            "/account/sessions/{id}/end",
            page::end_session_form,
        )
        .allowed(Permission::Read),
        Route::page(
            Method::POST,
            "/account/sessions/end-all",
            page::end_all_sessions_form,
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
pub(super) async fn change(
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

pub(super) async fn issue(
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

pub(super) async fn revoke(state: &AppState, principal: &Principal, id: &str) -> AppResult<()> {
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

pub(super) async fn sessions_of(
    state: &AppState,
    principal: &Principal,
) -> AppResult<Vec<SessionView>> {
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

pub(super) async fn end_one_session(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> AppResult<()> {
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

pub(super) async fn end_every_session(state: &AppState, principal: &Principal) -> AppResult<()> {
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

pub(super) async fn revoke_every_token(state: &AppState, principal: &Principal) -> AppResult<u64> {
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
