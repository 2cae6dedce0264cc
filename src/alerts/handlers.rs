//! `/api/alerts`: everyone in the team reads the rules and their firings;
//! admins and owners create, change and delete them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::{AlertEvent, AlertRule, Condition, RuleFields};
use crate::api::{ApiJson, ApiQuery};
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::components::id::NOTIFICATION_CENTER;
use crate::error::{AppError, AppResult};
use crate::routes::Route;

pub fn routes() -> Vec<Route> {
    vec![
        Route::api(Method::GET, "/api/alerts", list).allowed(Permission::Read),
        Route::api(Method::POST, "/api/alerts", create).allowed(Permission::ManageAlerts),
        Route::api(Method::GET, "/api/alerts/{id}", get).allowed(Permission::Read),
        Route::api(Method::PATCH, "/api/alerts/{id}", update).allowed(Permission::ManageAlerts),
        Route::api(Method::DELETE, "/api/alerts/{id}", delete).allowed(Permission::ManageAlerts),
        Route::api(Method::GET, "/api/alerts/{id}/events", events).allowed(Permission::Read),
        Route::page(Method::GET, "/notifications/alerts", super::page::show)
            .allowed(Permission::Read),
        Route::page(
            Method::POST,
            "/notifications/alerts",
            super::page::create_form,
        )
        .allowed(Permission::ManageAlerts),
        Route::page(
            Method::POST,
            "/notifications/alerts/{id}/enabled",
            super::page::enabled_form,
        )
        .allowed(Permission::ManageAlerts),
        Route::page(
            Method::POST,
            "/notifications/alerts/{id}/delete",
            super::page::delete_form,
        )
        .allowed(Permission::ManageAlerts),
    ]
    .into_iter()
    .map(|route| route.component(NOTIFICATION_CENTER))
    .collect()
}

/// A new rule: `name` and `condition` are required.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAlertRule {
    #[schema(value_type = crate::api::shapes::Name)]
    pub name: String,
    pub condition: Condition,
    /// Also mail the notifications (default false).
    #[serde(default)]
    pub email: bool,
    /// Checked by the worker (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// Changes to a rule: every field optional; a new `condition` replaces the old one whole.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleChanges {
    #[schema(value_type = Option<crate::api::shapes::Name>)]
    pub name: Option<String>,
    pub condition: Option<Condition>,
    pub email: Option<bool>,
    pub enabled: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AlertRuleList {
    pub alerts: Vec<AlertRule>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AlertEventList {
    pub events: Vec<AlertEvent>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Newest first; 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// The team's alert rules with their state.
#[utoipa::path(get, path = "/api/alerts", tag = "alerts", responses((status = 200, body = AlertRuleList)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<AlertRuleList>> {
    Ok(Json(AlertRuleList {
        alerts: super::list(&state.db, &principal.team_id).await?,
    }))
}

/// Create a rule (admins). It is checked within one worker period.
#[utoipa::path(post, path = "/api/alerts", tag = "alerts", request_body = NewAlertRule,
    responses((status = 201, body = AlertRule), (status = 422, description = "a field out of range, an unknown kind, or a workflow not in the team")))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<NewAlertRule>,
) -> AppResult<(StatusCode, Json<AlertRule>)> {
    let fields = RuleFields {
        name: request.name,
        condition: request.condition,
        email: request.email,
        enabled: request.enabled,
    };
    let rule = super::create(&state.db, &principal, fields).await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

/// One rule.
#[utoipa::path(get, path = "/api/alerts/{id}", tag = "alerts", params(crate::api::IdPath),
    responses((status = 200, body = AlertRule), (status = 404)))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<AlertRule>> {
    super::get(&state.db, &principal.team_id, &id)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound)
}

/// Change a rule (admins); it is checked again at once. Disabling a firing
/// rule closes its firing without a notification.
#[utoipa::path(patch, path = "/api/alerts/{id}", tag = "alerts", params(crate::api::IdPath),
    request_body = AlertRuleChanges,
    responses((status = 200, body = AlertRule), (status = 404), (status = 422)))]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(changes): ApiJson<AlertRuleChanges>,
) -> AppResult<Json<AlertRule>> {
    let current = super::get(&state.db, &principal.team_id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    let fields = RuleFields {
        name: changes.name.unwrap_or(current.name),
        condition: changes.condition.unwrap_or(current.condition),
        email: changes.email.unwrap_or(current.email),
        enabled: changes.enabled.unwrap_or(current.enabled),
    };
    Ok(Json(
        super::update(&state.db, &principal, &id, fields).await?,
    ))
}

/// Delete a rule (admins) and its firings.
#[utoipa::path(delete, path = "/api/alerts/{id}", tag = "alerts", params(crate::api::IdPath),
    responses((status = 204), (status = 404)))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    super::delete(&state.db, &principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A rule's firings, newest first: when, what it saw, when it cleared.
#[utoipa::path(get, path = "/api/alerts/{id}/events", tag = "alerts", params(crate::api::IdPath, EventsQuery),
    responses((status = 200, body = AlertEventList), (status = 404), (status = 422)))]
pub async fn events(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> AppResult<Json<AlertEventList>> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::validation("limit", "1 to 500"));
    }
    if super::get(&state.db, &principal.team_id, &id)
        .await?
        .is_none()
    {
        return Err(AppError::NotFound);
    }
    Ok(Json(AlertEventList {
        events: super::events(&state.db, &principal.team_id, &id, limit).await?,
    }))
}
