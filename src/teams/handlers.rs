//! Team switching and membership over the API, and the Team page's routes
//! (`page`, `forms`). Members of another team are 404, never 403.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::{Deserialize, Serialize};

use super::{Member, TeamMembership};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::{Permission, Principal, Role, session};
use crate::bus::streams::AccessEnded;
use crate::components::id::TEAM_MEMBERS;
use crate::error::{AppError, AppResult};
use crate::routes::Route;

pub fn routes() -> Vec<Route> {
    let api = [
        Route::page(Method::POST, "/teams/switch", switch_form).signed_in(),
        Route::api(Method::GET, "/api/teams", my_teams).signed_in(),
        Route::api(Method::POST, "/api/teams/switch", switch_api).signed_in(),
        Route::api(Method::GET, "/api/team/members", list_members).allowed(Permission::Read),
        Route::api(Method::PATCH, "/api/team/members/{user_id}", change_role)
            .allowed(Permission::ManageMembers),
        Route::api(Method::DELETE, "/api/team/members/{user_id}", remove_member)
            .allowed(Permission::ManageMembers),
        Route::api(Method::POST, "/api/team/leave", leave).allowed(Permission::Read),
    ];
    let page = [
        Route::page(Method::GET, "/team", super::page::show).allowed(Permission::Read),
        Route::page(Method::GET, "/team/members/{user_id}", super::page::member)
            .allowed(Permission::Read),
        Route::page(Method::POST, "/team/invitations", super::forms::invite)
            .allowed(Permission::ManageMembers),
        Route::page(
            Method::POST,
            "/team/invitations/{id}/resend",
            super::forms::resend,
        )
        .allowed(Permission::ManageMembers),
        Route::page(
            Method::POST,
            "/team/invitations/{id}/revoke",
            super::forms::revoke,
        )
        .allowed(Permission::ManageMembers),
        Route::page(
            Method::POST,
            "/team/invitations/{id}/link",
            super::forms::link,
        )
        .allowed(Permission::ManageMembers),
        Route::page(
            Method::POST,
            "/team/members/{user_id}/role",
            super::forms::change_role,
        )
        .allowed(Permission::ManageMembers),
        Route::page(
            Method::POST,
            "/team/members/{user_id}/remove",
            super::forms::remove,
        )
        .allowed(Permission::ManageMembers),
        Route::page(Method::POST, "/team/leave", super::forms::leave).allowed(Permission::Read),
    ]
    .map(|route| route.component(TEAM_MEMBERS));
    api.into_iter().chain(page).collect()
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TeamList {
    pub current_team_id: String,
    pub teams: Vec<TeamMembership>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SwitchTeam {
    pub team_id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MemberList {
    pub members: Vec<Member>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RoleChange {
    /// Read as text so that an unknown role is a 422 naming the field.
    #[schema(value_type = Role)]
    pub role: String,
}

/// The teams you belong to.
#[utoipa::path(get, path = "/api/teams", tag = "teams", responses((status = 200, body = TeamList)))]
pub async fn my_teams(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<TeamList>> {
    Ok(Json(TeamList {
        current_team_id: principal.team_id.clone(),
        teams: super::teams_of(&state.db, &principal.user_id).await?,
    }))
}

/// Switches the session to another of the user's teams (404 if not theirs).
pub async fn switch(state: &AppState, principal: &Principal, team_id: &str) -> AppResult<()> {
    let session_id = principal.session_id().ok_or_else(|| {
        AppError::Conflict(
            "API tokens are bound to their team; switch teams in a browser session".into(),
        )
    })?;
    let teams = super::teams_of(&state.db, &principal.user_id).await?;
    if !teams.iter().any(|team| team.team_id == team_id) {
        return Err(AppError::NotFound);
    }
    session::switch_team(&state.db, session_id, team_id).await?;
    state.access_ended(AccessEnded::Changed {
        user_id: principal.user_id.clone(),
    });
    Ok(())
}

/// Switch the session to another of your teams.
#[utoipa::path(post, path = "/api/teams/switch", tag = "teams", request_body = SwitchTeam,
    responses((status = 204), (status = 404, description = "not one of your teams"),
              (status = 409, description = "called with an API token")))]
pub async fn switch_api(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<SwitchTeam>,
) -> AppResult<StatusCode> {
    switch(&state, &principal, &request.team_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn switch_form(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<SwitchTeam>,
) -> Response {
    match switch(&state, &principal, &form.team_id).await {
        Ok(()) => Redirect::to("/").into_response(),
        Err(err) => err.into_response(),
    }
}

/// Members of the current team.
#[utoipa::path(get, path = "/api/team/members", tag = "teams", responses((status = 200, body = MemberList)))]
pub async fn list_members(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<MemberList>> {
    Ok(Json(MemberList {
        members: super::members(&state.db, &principal.team_id).await?,
    }))
}

/// Change a member's role. Only owners grant or remove the owner role; the last
/// owner cannot be demoted.
#[utoipa::path(patch, path = "/api/team/members/{user_id}", tag = "teams", request_body = RoleChange,
    params(("user_id" = String, Path, description = "the member's user id")),
    responses((status = 204), (status = 403), (status = 404), (status = 409, description = "last owner"), (status = 422)))]
pub async fn change_role(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
    ApiJson(request): ApiJson<RoleChange>,
) -> AppResult<StatusCode> {
    let role: Role = request
        .role
        .parse()
        .map_err(|err: crate::auth::roles::UnknownRole| {
            AppError::validation("role", err.to_string())
        })?;
    super::change_role(&state.db, &principal, &user_id, role).await?;
    state.access_ended(AccessEnded::Changed { user_id });
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member from the current team; their sessions in it, their tokens'
/// access to it and their live streams of it end at once.
#[utoipa::path(delete, path = "/api/team/members/{user_id}", tag = "teams",
    params(("user_id" = String, Path, description = "the member's user id")),
    responses((status = 204), (status = 403), (status = 404), (status = 409, description = "last owner")))]
pub async fn remove_member(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
) -> AppResult<StatusCode> {
    super::remove_member(&state.db, &principal, &user_id).await?;
    state.access_ended(AccessEnded::Membership {
        user_id,
        team_id: principal.team_id,
    });
    Ok(StatusCode::NO_CONTENT)
}

/// Leave the current team. Its last owner cannot (409): make someone else an
/// owner first. Your sessions in it, your tokens for it and your live streams
/// of it end.
#[utoipa::path(post, path = "/api/team/leave", tag = "teams",
    responses((status = 204), (status = 409, description = "last owner")))]
pub async fn leave(State(state): State<AppState>, principal: Principal) -> AppResult<StatusCode> {
    super::leave(&state.db, &principal).await?;
    state.access_ended(AccessEnded::Membership {
        user_id: principal.user_id,
        team_id: principal.team_id,
    });
    Ok(StatusCode::NO_CONTENT)
}
