//! The error log API: the seed's latest failed tasks, the grouped log with
//! filters, and resolving or reopening groups (members and up, audited).

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use serde::{Deserialize, Serialize};

use super::{ErrorGroup, FailedTask, GroupFilter};
use crate::api::{ApiJson, ApiQuery};
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::{AppError, AppResult};
use crate::routes::Route;

pub const COMPONENT: crate::components::ComponentId = crate::components::id::ERROR_LOGS;

pub fn routes() -> Vec<Route> {
    vec![
        Route::page(Method::GET, "/logs/errors", super::page::show).allowed(Permission::Read),
        Route::page(
            Method::POST,
            "/logs/errors/state",
            super::page::change_state,
        )
        .allowed(Permission::Operate),
        Route::page(Method::POST, "/logs/errors/retry", super::page::retry)
            .allowed(Permission::Operate),
        Route::raw(Method::GET, "/logs/errors.csv", super::page::export_csv)
            .allowed(Permission::Read),
        Route::api(Method::GET, "/logs/errors.json", super::page::export_json)
            .allowed(Permission::Read),
        Route::api(Method::GET, "/api/telemetry/errors", latest_errors).allowed(Permission::Read),
        Route::api(Method::GET, "/api/errors", list_groups).allowed(Permission::Read),
        Route::api(Method::POST, "/api/errors/resolve", resolve).allowed(Permission::Operate),
        Route::api(Method::POST, "/api/errors/reopen", reopen).allowed(Permission::Operate),
    ]
    .into_iter()
    .map(|route| route.component(COMPONENT))
    .collect()
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FailedTasks {
    pub results: Vec<FailedTask>,
}

/// The seed's error feed: the latest 100 failed tasks.
#[utoipa::path(get, path = "/api/telemetry/errors", tag = "errors", responses((status = 200, body = FailedTasks)))]
pub async fn latest_errors(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<FailedTasks>> {
    let results = super::latest_failed_tasks(&state.db, &principal.team_id).await?;
    Ok(Json(FailedTasks { results }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupQuery {
    /// `true`: resolved groups only; `false`: open ones only.
    pub resolved: Option<bool>,
    /// Last seen at or after (ms since the epoch).
    pub since: Option<i64>,
    /// Last seen before (ms since the epoch).
    pub until: Option<i64>,
    pub workflow: Option<String>,
    pub agent: Option<String>,
    /// `hummbl` (runs HUMMBL made) or `otlp` (calls your services sent).
    #[param(value_type = Option<crate::api::shapes::SourceFilter>, inline)]
    pub source: Option<String>,
    /// 1 to 500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GroupList {
    pub groups: Vec<ErrorGroup>,
}

/// Failures grouped by fingerprint, most recent first.
#[utoipa::path(get, path = "/api/errors", tag = "errors", params(GroupQuery),
    responses((status = 200, body = GroupList), (status = 422)))]
pub async fn list_groups(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<GroupQuery>,
) -> AppResult<Json<GroupList>> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::validation("limit", "must be between 1 and 500"));
    }
    let filter = GroupFilter {
        resolved: query.resolved,
        since: query.since,
        until: query.until,
        workflow_id: query.workflow.filter(|v| !v.is_empty()),
        agent_id: query.agent.filter(|v| !v.is_empty()),
        source: crate::executions::handlers::parse_source(query.source.as_deref())?,
    };
    Ok(Json(GroupList {
        groups: super::groups(&state.db, &principal.team_id, &filter, limit).await?,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fingerprints {
    /// The groups to change (1 to 500).
    #[schema(min_items = 1, max_items = 500)]
    pub fingerprints: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Changed {
    pub changed: u64,
}

async fn set(
    state: &AppState,
    principal: &Principal,
    request: Fingerprints,
    resolve: bool,
) -> AppResult<Json<Changed>> {
    if request.fingerprints.is_empty() || request.fingerprints.len() > 500 {
        return Err(AppError::validation(
            "fingerprints",
            "give 1 to 500 fingerprints",
        ));
    }
    let changed =
        super::change_state(&state.db, principal.into(), &request.fingerprints, resolve).await?;
    Ok(Json(Changed { changed }))
}

/// Mark groups resolved (members and up); who and when are kept.
#[utoipa::path(post, path = "/api/errors/resolve", tag = "errors", request_body = Fingerprints,
    responses((status = 200, body = Changed), (status = 422)))]
pub async fn resolve(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<Fingerprints>,
) -> AppResult<Json<Changed>> {
    set(&state, &principal, request, true).await
}

/// Reopen resolved groups (members and up).
#[utoipa::path(post, path = "/api/errors/reopen", tag = "errors", request_body = Fingerprints,
    responses((status = 200, body = Changed), (status = 422)))]
pub async fn reopen(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<Fingerprints>,
) -> AppResult<Json<Changed>> {
    set(&state, &principal, request, false).await
}
