//! `/api/executions`: list and read (everyone in the team), cancel and retry
//! (members and up, audited), and the live stream of execution changes.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::sse::{Event, Sse};
use futures_util::stream::Stream;
use serde::{Deserialize, Serialize};

use super::{ExecutionDetail, ExecutionSummary, Filter, RetryFrom, Source, Status};
use crate::api::ApiQuery;
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::{AppError, AppResult};
use crate::routes::Route;

pub fn routes() -> Vec<Route> {
    vec![
        Route::page(Method::GET, "/monitor", super::page::show).allowed(Permission::Read),
        Route::page(Method::POST, "/monitor/run", super::page::run).allowed(Permission::Operate),
        Route::page(Method::POST, "/monitor/bulk", super::page::bulk).allowed(Permission::Operate),
        Route::page(Method::GET, "/monitor/{id}", super::page::details).allowed(Permission::Read),
        Route::page(Method::POST, "/monitor/{id}/cancel", super::page::cancel)
            .allowed(Permission::Operate),
        Route::page(Method::POST, "/monitor/{id}/retry", super::page::retry)
            .allowed(Permission::Operate),
        Route::api(Method::GET, "/api/executions", list_executions).allowed(Permission::Read),
        Route::api(Method::GET, "/api/executions/stream", stream_executions)
            .allowed(Permission::Read),
        Route::api(Method::GET, "/api/executions/{id}", get_execution).allowed(Permission::Read),
        Route::api(
            Method::POST,
            "/api/executions/{id}/cancel",
            cancel_execution,
        )
        .allowed(Permission::Operate),
        Route::api(Method::POST, "/api/executions/{id}/retry", retry_execution)
            .allowed(Permission::Operate),
    ]
    .into_iter()
    .map(|route| route.component(crate::components::id::EXECUTION_MONITOR))
    .collect()
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[param(value_type = Option<crate::api::shapes::StatusList>, inline)]
    pub status: Option<String>,
    /// A workflow id.
    pub workflow: Option<String>,
    /// The id of the user who started it.
    pub user: Option<String>,
    /// `hummbl` (run here) or `otlp` (traces sent over OpenTelemetry).
    #[param(value_type = Option<crate::api::shapes::SourceFilter>, inline)]
    pub source: Option<String>,
    /// Created at or after (ms since the epoch).
    #[param(minimum = 0)]
    pub since: Option<i64>,
    /// Created before (ms since the epoch).
    #[param(minimum = 0)]
    pub until: Option<i64>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    #[param(value_type = Option<crate::api::shapes::ExecutionCursor>, inline)]
    pub before: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ExecutionList {
    pub executions: Vec<ExecutionSummary>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next: Option<String>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    /// `failed_step` (default: reuse finished steps' outputs) or `start`.
    #[serde(default)]
    pub from: RetryFrom,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Started {
    pub id: String,
}

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// A `source` filter as sent; empty or absent is none.
pub fn parse_source(text: Option<&str>) -> Result<Option<Source>, AppError> {
    text.filter(|text| !text.is_empty())
        .map(|text| {
            text.parse().map_err(|()| {
                AppError::validation("source", format!("{text:?} is not one of: hummbl, otlp"))
            })
        })
        .transpose()
}

fn filter(query: ListQuery) -> Result<Filter, AppError> {
    let statuses = Status::parse_list(query.status.as_deref())?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::validation("limit", "must be between 1 and 200"));
    }
    for (field, value) in [("since", query.since), ("until", query.until)] {
        if value.is_some_and(|ms| ms < 0) {
            return Err(AppError::validation(
                field,
                "must be milliseconds since the epoch",
            ));
        }
    }
    let before = query
        .before
        .as_deref()
        .map(|cursor| {
            cursor
                .split_once('_')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_string())))
                .filter(|(_, id)| !id.is_empty())
                .ok_or_else(|| AppError::validation("before", "is not a cursor this API gave out"))
        })
        .transpose()?;
    Ok(Filter {
        statuses,
        workflow_id: query.workflow.filter(|id| !id.is_empty()),
        user_id: query.user.filter(|id| !id.is_empty()),
        source: parse_source(query.source.as_deref())?,
        since: query.since,
        until: query.until,
        before,
        limit,
    })
}

/// The team's executions, newest first, filtered.
#[utoipa::path(get, path = "/api/executions", tag = "executions", params(ListQuery),
    responses((status = 200, body = ExecutionList), (status = 422)))]
pub async fn list_executions(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> AppResult<Json<ExecutionList>> {
    let filter = filter(query)?;
    let executions = super::list(&state.db, &principal.team_id, &filter).await?;
    let next = (executions.len() as i64 == filter.limit)
        .then(|| {
            executions
                .last()
                .map(|last| format!("{}_{}", last.created_at, last.id))
        })
        .flatten();
    Ok(Json(ExecutionList { executions, next }))
}

/// One execution with its steps.
#[utoipa::path(get, path = "/api/executions/{id}", tag = "executions", params(crate::api::IdPath),
    responses((status = 200, body = ExecutionDetail), (status = 404)))]
pub async fn get_execution(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<ExecutionDetail>> {
    super::get(&state.db, &principal.team_id, &id)
        .await?
        .map(|detail| Json(detail.for_reader(principal.can(Permission::ManageKeys))))
        .ok_or(AppError::NotFound)
}

/// Cancel a pending or running execution at once (members and up).
#[utoipa::path(post, path = "/api/executions/{id}/cancel", tag = "executions", params(crate::api::IdPath),
    responses((status = 200, body = ExecutionDetail), (status = 404), (status = 409)))]
pub async fn cancel_execution(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<ExecutionDetail>> {
    super::cancel_for(state.engine(), (&principal).into(), &id).await?;
    super::get(&state.db, &principal.team_id, &id)
        .await?
        .map(|detail| Json(detail.for_reader(principal.can(Permission::ManageKeys))))
        .ok_or(AppError::NotFound)
}

/// Start a new execution retrying a failed or cancelled one (members and up).
#[utoipa::path(post, path = "/api/executions/{id}/retry", tag = "executions", params(crate::api::IdPath),
    request_body(content = RetryRequest, description = "Optional: no body retries from the failed step"),
    responses((status = 201, body = Started), (status = 404), (status = 409),
        (status = 422, description = "the body is not a retry request")))]
pub async fn retry_execution(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> AppResult<(StatusCode, Json<Started>)> {
    // The body is optional: no body retries from the failed step.
    let from = if body.iter().all(u8::is_ascii_whitespace) {
        RetryFrom::default()
    } else {
        serde_json::from_slice::<RetryRequest>(&body)
            .map_err(|err| AppError::validation("body", err.to_string()))?
            .from
    };
    let new_id = super::retry_for(state.engine(), (&principal).into(), &id, from).await?;
    Ok((StatusCode::CREATED, Json(Started { id: new_id })))
}

/// Server-sent events of the team's execution changes (`execution.changed` with
/// the execution's summary, `execution.step` for step status). Resume with
/// `Last-Event-ID`; `resync` means reload.
#[utoipa::path(get, path = "/api/executions/stream", tag = "executions",
    responses((status = 200, description = "Server-sent events", content_type = "text/event-stream", body = String),
              (status = 429, description = "too many live streams open (per user or in total)")))]
pub async fn stream_executions(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let permit = state.open_stream(&principal).await?;
    Ok(state.bus.sse_response(
        crate::bus::Scope::Team(principal.team_id),
        crate::bus::Feed::Executions,
        &headers,
        permit,
    ))
}
