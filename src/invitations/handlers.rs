//! `/api/team/invitations` (admins and owners), the public accept
//! (`POST /api/invitations/accept`, `GET`/`POST /invite/{token}`), and the
//! outbox as admins see it (`GET /api/mail/outbox`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{Acceptance, Invitation};
use crate::accounts::Email;
use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::{Permission, Principal, Role};
use crate::components::id::TEAM_MEMBERS;
use crate::error::{AppError, AppResult};
use crate::mail::OutboxEntry;
use crate::routes::Route;

pub fn routes() -> Vec<Route> {
    let team = [
        Route::api(Method::GET, "/api/team/invitations", list).allowed(Permission::ManageMembers),
        Route::api(Method::POST, "/api/team/invitations", create)
            .allowed(Permission::ManageMembers),
        Route::api(Method::POST, "/api/team/invitations/{id}/resend", resend)
            .allowed(Permission::ManageMembers),
        Route::api(Method::POST, "/api/team/invitations/{id}/link", link)
            .allowed(Permission::ManageMembers),
        Route::api(Method::DELETE, "/api/team/invitations/{id}", revoke)
            .allowed(Permission::ManageMembers),
        Route::api(Method::GET, "/api/mail/outbox", outbox).allowed(Permission::ManageMembers),
    ]
    .into_iter()
    .map(|route| route.component(TEAM_MEMBERS));
    let public = [
        Route::api(Method::POST, "/api/invitations/accept", accept).public(),
        Route::page(Method::GET, "/invite/{token}", super::page::show).public(),
        Route::page(Method::POST, "/invite/{token}", super::page::accept_form).public(),
    ];
    team.chain(public).collect()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    #[schema(value_type = crate::api::shapes::EmailAddress)]
    pub email: String,
    /// Read as text so that an unknown role is a 422 naming the field; never
    /// above the inviter's own role (403).
    #[schema(value_type = Role)]
    pub role: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct InvitationList {
    pub invitations: Vec<Invitation>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct InvitationLink {
    /// The link to pass on; shown this once (the invitation's earlier link dies).
    pub url: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The token from the invitation's link (`/invite/{token}`).
    #[schema(min_length = 1, max_length = 200)]
    pub token: String,
    /// For a new account; ignored when the address already has one.
    #[serde(default)]
    #[schema(value_type = Option<crate::api::shapes::Name>)]
    pub name: Option<String>,
    /// A new account's password, or the existing account's.
    #[schema(value_type = String, format = Password, min_length = 1, max_length = 1024)]
    pub password: SecretString,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AcceptedAnswer {
    pub user_id: String,
    pub team_id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Outbox {
    /// Whether an SMTP server is configured; without one, messages wait here.
    pub mail_on: bool,
    pub messages: Vec<OutboxEntry>,
}

pub(crate) fn parse_role(text: &str) -> AppResult<Role> {
    text.parse()
        .map_err(|err: crate::auth::roles::UnknownRole| {
            AppError::validation("role", err.to_string())
        })
}

/// Invites an address (the API's and the Team page's form).
pub(crate) async fn invite(
    state: &AppState,
    principal: &Principal,
    email: &str,
    role: &str,
) -> AppResult<Invitation> {
    let email = Email::parse(email)?;
    if email.as_str().parse::<lettre::Address>().is_err() {
        return Err(AppError::validation(
            "email",
            "mail cannot be sent to this address",
        ));
    }
    let role = parse_role(role)?;
    let invitation = super::invite(
        &state.db,
        &state.bus,
        principal,
        &email,
        role,
        state.config.invitation_lifetime,
    )
    .await?;
    state.mailer.wake();
    Ok(invitation)
}

/// The team's open invitations (pending and expired), newest first.
#[utoipa::path(get, path = "/api/team/invitations", tag = "teams",
    responses((status = 200, body = InvitationList), (status = 403)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<InvitationList>> {
    Ok(Json(InvitationList {
        invitations: super::list_open(&state.db, &principal.team_id).await?,
    }))
}

/// Invite someone by e-mail. The link goes only by mail; an open invitation
/// to the same address is replaced (its link dies).
#[utoipa::path(post, path = "/api/team/invitations", tag = "teams", request_body = InviteRequest,
    responses((status = 201, body = Invitation), (status = 403, description = "a role above yours"),
              (status = 409, description = "already a member"), (status = 422)))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<InviteRequest>,
) -> AppResult<(StatusCode, Json<Invitation>)> {
    let invitation = invite(&state, &principal, &request.email, &request.role).await?;
    Ok((StatusCode::CREATED, Json(invitation)))
}

/// Send a new link (the old one dies at once); an expired invitation is renewed.
#[utoipa::path(post, path = "/api/team/invitations/{id}/resend", tag = "teams", params(crate::api::IdPath),
    responses((status = 200, body = Invitation), (status = 404), (status = 409, description = "accepted or withdrawn")))]
pub async fn resend(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Invitation>> {
    let invitation =
        super::resend(&state.db, &principal, &id, state.config.invitation_lifetime).await?;
    state.mailer.wake();
    Ok(Json(invitation))
}

/// With mail off, a link to pass on by hand: a new one each time (the earlier
/// link dies). With mail on, 409: the link goes only by mail.
#[utoipa::path(post, path = "/api/team/invitations/{id}/link", tag = "teams", params(crate::api::IdPath),
    responses((status = 200, body = InvitationLink), (status = 404), (status = 409)))]
pub async fn link(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<InvitationLink>> {
    Ok(Json(InvitationLink {
        url: new_link(&state, &principal, &id).await?,
    }))
}

pub(crate) async fn new_link(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> AppResult<String> {
    if state.mailer.is_on() {
        return Err(AppError::Conflict(
            "mail is on: the link goes only by mail; resend the invitation instead".into(),
        ));
    }
    let token = super::new_link(&state.db, principal, id).await?;
    Ok(format!(
        "{}/invite/{}",
        state.config.link_base(),
        token.expose_secret()
    ))
}

/// Withdraw an invitation: its link answers 410 from now on.
#[utoipa::path(delete, path = "/api/team/invitations/{id}", tag = "teams", params(crate::api::IdPath),
    responses((status = 204), (status = 404), (status = 409, description = "already accepted")))]
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    super::revoke(&state.db, &principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accept an invitation: creates the account (`name`, `password`) or, when
/// the address has one, joins with that account's password. Used, withdrawn
/// or expired, or a link replaced by a newer one → 410; an unknown token → 404.
#[utoipa::path(post, path = "/api/invitations/accept", tag = "teams", request_body = AcceptRequest,
    responses((status = 200, body = AcceptedAnswer), (status = 404), (status = 409), (status = 410), (status = 422)))]
pub async fn accept(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<AcceptRequest>,
) -> AppResult<Json<AcceptedAnswer>> {
    let acceptance = Acceptance {
        name: request.name.unwrap_or_default(),
        password: request.password,
        signed_in_as: None,
    };
    let accepted = super::accept(&state.db, &state.bus, &request.token, acceptance).await?;
    Ok(Json(AcceptedAnswer {
        user_id: accepted.user_id,
        team_id: accepted.team_id,
    }))
}

/// The team's latest mail, and whether mail is on.
#[utoipa::path(get, path = "/api/mail/outbox", tag = "teams",
    responses((status = 200, body = Outbox), (status = 403)))]
pub async fn outbox(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<Outbox>> {
    Ok(Json(Outbox {
        mail_on: state.mailer.is_on(),
        messages: crate::mail::recent(&state.db, &principal.team_id, 50).await?,
    }))
}
