//! The Team page's forms. Each goes through the same functions as the API;
//! success returns to `/team`, a refusal draws the page again with the reason
//! above it (and its status).

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::Principal;
use crate::bus::streams::AccessEnded;
use crate::error::{AppError, AppResult};
use crate::web::notice;

/// Back to the page, or the page with the refusal above it.
async fn after(state: &AppState, principal: &Principal, outcome: AppResult<()>) -> Response {
    let err = match outcome {
        Ok(()) => return Redirect::to("/team").into_response(),
        Err(
            err @ (AppError::Validation { .. }
            | AppError::Conflict(_)
            | AppError::Refused(_)
            | AppError::Forbidden
            | AppError::NotFound),
        ) => err,
        Err(err) => return err.into_response(),
    };
    let flash = notice("error", &err.to_string());
    match super::page::render_page(state, principal, Some(flash)).await {
        Ok(markup) => (err.status(), markup).into_response(),
        Err(err) => err.into_response(),
    }
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub role: String,
}

pub async fn invite(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<InviteForm>,
) -> Response {
    let outcome = crate::invitations::handlers::invite(&state, &principal, &form.email, &form.role)
        .await
        .map(|_| ());
    after(&state, &principal, outcome).await
}

pub async fn resend(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Response {
    let outcome =
        crate::invitations::resend(&state.db, &principal, &id, state.config.invitation_lifetime)
            .await
            .map(|_| state.mailer.wake());
    after(&state, &principal, outcome).await
}

pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Response {
    let outcome = crate::invitations::revoke(&state.db, &principal, &id).await;
    after(&state, &principal, outcome).await
}

/// With mail off: a new link, shown on the page this once (never in a URL).
pub async fn link(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Response {
    match crate::invitations::handlers::new_link(&state, &principal, &id).await {
        Ok(url) => {
            let flash = html! {
                div.notice.notice-success role="status" {
                    p { "The invitation's link (it works once; an earlier link no longer works). Pass it on privately:" }
                    p { code.secret #invitation-link { (url) } }
                }
            };
            match super::page::render_page(&state, &principal, Some(flash)).await {
                Ok(markup) => markup.into_response(),
                Err(err) => err.into_response(),
            }
        }
        Err(err) => after(&state, &principal, Err(err)).await,
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    pub role: String,
}

pub async fn change_role(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
    Form(form): Form<RoleForm>,
) -> Response {
    let outcome = match crate::invitations::handlers::parse_role(&form.role) {
        Ok(role) => super::change_role(&state.db, &principal, &user_id, role).await,
        Err(err) => Err(err),
    };
    if outcome.is_ok() {
        state.access_ended(AccessEnded::Changed { user_id });
    }
    after(&state, &principal, outcome).await
}

pub async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
) -> Response {
    let outcome = super::remove_member(&state.db, &principal, &user_id).await;
    if outcome.is_ok() {
        state.access_ended(AccessEnded::Membership {
            user_id,
            team_id: principal.team_id.clone(),
        });
    }
    after(&state, &principal, outcome).await
}

/// Leaves the team; this browser's session in it ends, so it goes to sign-in.
pub async fn leave(State(state): State<AppState>, principal: Principal) -> Response {
    match super::leave(&state.db, &principal).await {
        Ok(()) => {
            state.access_ended(AccessEnded::Membership {
                user_id: principal.user_id.clone(),
                team_id: principal.team_id.clone(),
            });
            Redirect::to("/login").into_response()
        }
        Err(err) => after(&state, &principal, Err(err)).await,
    }
}
