//! `/api/schedules`: everyone reads them; members and up create, edit, delete
//! and run them now. `preview` shows an expression's next slots in a zone.
//! The pages' routes are declared here too (`page`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};

use super::{CatchUp, Overlap, Schedule, ScheduleFields, Slot};
use crate::api::{ApiJson, ApiQuery};
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::components::id::WORKFLOW_SCHEDULER;
use crate::error::{AppError, AppResult};
use crate::executions::ExecutionDetail;
use crate::routes::Route;

pub fn routes() -> Vec<Route> {
    vec![
        Route::api(Method::GET, "/api/schedules", list).allowed(Permission::Read),
        Route::api(Method::POST, "/api/schedules", create).allowed(Permission::EditWorkflows),
        Route::api(Method::GET, "/api/schedules/preview", preview).allowed(Permission::Read),
        Route::api(Method::GET, "/api/schedules/{id}", get).allowed(Permission::Read),
        Route::api(Method::PATCH, "/api/schedules/{id}", update).allowed(Permission::EditWorkflows),
        Route::api(Method::DELETE, "/api/schedules/{id}", delete)
            .allowed(Permission::EditWorkflows),
        Route::api(Method::POST, "/api/schedules/{id}/run", run_now).allowed(Permission::Operate),
        Route::api(Method::GET, "/api/schedules/{id}/history", history).allowed(Permission::Read),
        Route::page(Method::GET, "/workflows/scheduler", super::page::show)
            .allowed(Permission::Read),
        Route::page(
            Method::POST,
            "/workflows/scheduler",
            super::page::create_form,
        )
        .allowed(Permission::EditWorkflows),
        Route::page(
            Method::GET,
            "/workflows/scheduler/{id}",
            super::page::details,
        )
        .allowed(Permission::Read),
        Route::page(
            Method::POST,
            "/workflows/scheduler/{id}",
            super::page::update_form,
        )
        .allowed(Permission::EditWorkflows),
        Route::page(
            Method::POST,
            "/workflows/scheduler/{id}/run",
            super::page::run_form,
        )
        .allowed(Permission::Operate),
        Route::page(
            Method::POST,
            "/workflows/scheduler/{id}/delete",
            super::page::delete_form,
        )
        .allowed(Permission::EditWorkflows),
    ]
    .into_iter()
    .map(|route| route.component(WORKFLOW_SCHEDULER))
    .collect()
}

/// A new schedule, or (every field optional) the changes to one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    pub workflow_id: Option<String>,
    /// 5 fields (minute hour day-of-month month day-of-week), 6 with seconds
    /// first, or @hourly, @daily, @weekly, @monthly; `L`, `W`, `#`, ranges,
    /// steps and names. A bad expression is a 422 naming the field and position.
    #[schema(max_length = 200)]
    pub cron: Option<String>,
    /// An IANA zone; by default the creator's (their browser's), else UTC.
    #[schema(max_length = 64)]
    pub timezone: Option<String>,
    /// The run's input: an object with every field the prompts use.
    #[schema(value_type = Option<Object>)]
    pub input: Option<serde_json::Value>,
    pub enabled: Option<bool>,
    /// Why it is paused, for the others.
    #[schema(max_length = 500)]
    pub pause_note: Option<String>,
    /// skip (default), buffer_one, allow_all, cancel_running.
    #[schema(value_type = Option<Overlap>)]
    pub overlap: Option<String>,
    /// latest (default), all (within catch_up_window_secs), skip.
    #[schema(value_type = Option<CatchUp>)]
    pub catch_up: Option<String>,
    #[schema(minimum = 60, maximum = 604800)]
    pub catch_up_window_secs: Option<i64>,
    /// Each run starts up to this many seconds after its slot, at random.
    #[schema(minimum = 0, maximum = 3600)]
    pub jitter_secs: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ScheduleList {
    pub schedules: Vec<Schedule>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct History {
    pub slots: Vec<Slot>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Newest slots first; 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// The expression.
    #[param(max_length = 200)]
    pub cron: String,
    /// An IANA zone (default UTC).
    #[param(max_length = 64)]
    pub tz: Option<String>,
    /// How many slots, 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub n: Option<usize>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// The expression in words.
    pub description: String,
    /// The next slots, RFC 3339 with the zone's offset.
    pub next: Vec<String>,
    /// Slots a daylight-saving change moved, merged or repeated.
    pub notes: Vec<PreviewNote>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PreviewNote {
    pub at: String,
    pub note: String,
}

fn parse_choice<T: std::str::FromStr>(field: &str, text: &str, choices: &str) -> AppResult<T> {
    text.parse()
        .map_err(|_| AppError::validation(field, format!("must be one of {choices}")))
}

/// The viewer's zone (the page script's cookie), else UTC.
pub(crate) fn viewer_zone(jar: &CookieJar) -> String {
    crate::analytics::page::viewer_zone(jar).name().to_string()
}

/// Merges a request over the schedule it changes (none for a new one) and
/// checks every field; a new schedule needs `workflow_id` and `cron`.
pub(crate) async fn fields(
    state: &AppState,
    principal: &Principal,
    request: ScheduleRequest,
    current: Option<&Schedule>,
    zone: String,
) -> AppResult<ScheduleFields> {
    let required = |value: Option<String>, field: &str, current: Option<&String>| {
        value
            .or_else(|| current.cloned())
            .ok_or_else(|| AppError::validation(field, "is required"))
    };
    let workflow_id = required(
        request.workflow_id,
        "workflow_id",
        current.map(|s| &s.workflow_id),
    )?;
    let cron = required(request.cron, "cron", current.map(|s| &s.cron))?
        .trim()
        .to_string();
    super::cron::parse(&cron)?;
    let timezone = request
        .timezone
        .or_else(|| current.map(|s| s.timezone.clone()))
        .unwrap_or(zone);
    super::cron::parse_zone("timezone", &timezone)?;
    let workflow = crate::workflows::get(&state.db, &principal.team_id, &workflow_id)
        .await?
        .ok_or_else(|| AppError::validation("workflow_id", "no such workflow in this team"))?;
    let input = request
        .input
        .or_else(|| current.map(|s| s.input.clone()))
        .unwrap_or_else(|| serde_json::json!({}));
    crate::workflows::definition::check_input(&workflow.steps, &input)?;
    let overlap = match request.overlap {
        Some(text) => parse_choice(
            "overlap",
            &text,
            "skip, buffer_one, allow_all, cancel_running",
        )?,
        None => current.map(|s| s.overlap).unwrap_or_default(),
    };
    let catch_up = match request.catch_up {
        Some(text) => parse_choice("catch_up", &text, "latest, all, skip")?,
        None => current.map(|s| s.catch_up).unwrap_or_default(),
    };
    let catch_up_window_secs = request
        .catch_up_window_secs
        .or(current.map(|s| s.catch_up_window_secs))
        .unwrap_or(3600);
    if !(60..=604_800).contains(&catch_up_window_secs) {
        return Err(AppError::validation(
            "catch_up_window_secs",
            "must be between 60 and 604800",
        ));
    }
    let jitter_secs = request
        .jitter_secs
        .or(current.map(|s| s.jitter_secs))
        .unwrap_or(0);
    if !(0..=3600).contains(&jitter_secs) {
        return Err(AppError::validation(
            "jitter_secs",
            "must be between 0 and 3600",
        ));
    }
    let pause_note = match request.pause_note {
        Some(note) => Some(note.trim().to_string()).filter(|note| !note.is_empty()),
        None => current.and_then(|s| s.pause_note.clone()),
    };
    if pause_note
        .as_ref()
        .is_some_and(|note| note.chars().count() > 500)
    {
        return Err(AppError::validation(
            "pause_note",
            "must be at most 500 characters",
        ));
    }
    Ok(ScheduleFields {
        workflow_id,
        cron,
        timezone,
        input,
        enabled: request
            .enabled
            .or(current.map(|s| s.enabled))
            .unwrap_or(true),
        pause_note,
        overlap,
        catch_up,
        catch_up_window_secs,
        jitter_secs,
    })
}

/// The team's schedules.
#[utoipa::path(get, path = "/api/schedules", tag = "schedules", responses((status = 200, body = ScheduleList)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<ScheduleList>> {
    Ok(Json(ScheduleList {
        schedules: super::list(&state.db, &principal.team_id).await?,
    }))
}

/// Create a schedule (members and up).
#[utoipa::path(post, path = "/api/schedules", tag = "schedules", request_body = ScheduleRequest,
    responses((status = 201, body = Schedule), (status = 422)))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    jar: CookieJar,
    ApiJson(request): ApiJson<ScheduleRequest>,
) -> AppResult<(StatusCode, Json<Schedule>)> {
    let fields = fields(&state, &principal, request, None, viewer_zone(&jar)).await?;
    let id = super::create(&state, &principal, &fields).await?;
    let schedule = super::get(&state.db, &principal.team_id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(schedule)))
}

/// One schedule.
#[utoipa::path(get, path = "/api/schedules/{id}", tag = "schedules", params(crate::api::IdPath),
    responses((status = 200, body = Schedule), (status = 404)))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Schedule>> {
    super::get(&state.db, &principal.team_id, &id)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound)
}

/// Change a schedule (members and up). Enabling it records the slots it
/// passed while disabled as skipped; a new expression or zone takes effect
/// from now.
#[utoipa::path(patch, path = "/api/schedules/{id}", tag = "schedules", params(crate::api::IdPath), request_body = ScheduleRequest,
    responses((status = 200, body = Schedule), (status = 404), (status = 422)))]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ScheduleRequest>,
) -> AppResult<Json<Schedule>> {
    let current = super::get(&state.db, &principal.team_id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    let zone = current.timezone.clone();
    let fields = fields(&state, &principal, request, Some(&current), zone).await?;
    super::update(&state, &principal, &id, &fields).await?;
    Ok(Json(
        super::get(&state.db, &principal.team_id, &id)
            .await?
            .ok_or(AppError::NotFound)?,
    ))
}

/// Delete a schedule (members and up); its executions stay.
#[utoipa::path(delete, path = "/api/schedules/{id}", tag = "schedules", params(crate::api::IdPath),
    responses((status = 204), (status = 404)))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    if !super::store::delete(&state.db, (&principal).into(), &id).await? {
        return Err(AppError::NotFound);
    }
    state.scheduler.wake();
    Ok(StatusCode::NO_CONTENT)
}

/// Run the schedule's workflow now (members and up), recorded in its history.
#[utoipa::path(post, path = "/api/schedules/{id}/run", tag = "schedules", params(crate::api::IdPath),
    responses((status = 201, body = ExecutionDetail), (status = 404)))]
pub async fn run_now(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<(StatusCode, Json<ExecutionDetail>)> {
    let execution = super::run_now(&state, &principal, &id).await?;
    let detail = crate::executions::get(&state.db, &principal.team_id, &execution)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(detail)))
}

/// The schedule's slots, newest first: fired (with the execution and its
/// status), buffered, or skipped (with the reason).
#[utoipa::path(get, path = "/api/schedules/{id}/history", tag = "schedules", params(crate::api::IdPath, HistoryQuery),
    responses((status = 200, body = History), (status = 404), (status = 422)))]
pub async fn history(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> AppResult<Json<History>> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::validation("limit", "must be between 1 and 1000"));
    }
    if super::get(&state.db, &principal.team_id, &id)
        .await?
        .is_none()
    {
        return Err(AppError::NotFound);
    }
    Ok(Json(History {
        slots: super::history(&state.db, &principal.team_id, &id, limit).await?,
    }))
}

/// An expression's description and next slots in a zone, with the slots a
/// daylight-saving change moved, merged or repeated.
#[utoipa::path(get, path = "/api/schedules/preview", tag = "schedules", params(PreviewQuery),
    responses((status = 200, body = Preview), (status = 422)))]
pub async fn preview(ApiQuery(query): ApiQuery<PreviewQuery>) -> AppResult<Json<Preview>> {
    Ok(Json(preview_of(
        &query.cron,
        query.tz.as_deref().unwrap_or("UTC"),
        query.n.unwrap_or(10),
    )?))
}

pub(crate) fn preview_of(cron: &str, tz: &str, n: usize) -> AppResult<Preview> {
    if !(1..=100).contains(&n) {
        return Err(AppError::validation("n", "must be between 1 and 100"));
    }
    let parsed = super::cron::parse(cron)?;
    let zone = super::cron::parse_zone("tz", tz)?;
    let slots = super::cron::upcoming(&parsed, zone, chrono::Utc::now(), n);
    let at =
        |slot: &super::cron::Upcoming| slot.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    Ok(Preview {
        description: super::cron::describe(&parsed),
        next: slots.iter().map(at).collect(),
        notes: slots
            .iter()
            .filter_map(|slot| {
                slot.dst.map(|note| PreviewNote {
                    at: at(slot),
                    note: note.to_string(),
                })
            })
            .collect(),
    })
}
