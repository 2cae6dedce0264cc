//! `/api/pilot`: everyone reads the evaluation and its snapshots; admins set
//! the window, the targets and the entered values, and freeze snapshots.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::export::{self, Format};
use super::{Changes, Evaluation, Snapshot, Targets, Window};
use crate::api::{ApiJson, ApiQuery};
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::components::id::PILOT_EVALUATION;
use crate::error::{AppError, AppResult};
use crate::routes::Route;

pub fn routes() -> Vec<Route> {
    vec![
        Route::api(Method::GET, "/api/pilot", get).allowed(Permission::Read),
        Route::api(Method::PUT, "/api/pilot", put).allowed(Permission::ManagePilot),
        Route::api(Method::GET, "/api/pilot/snapshots", list_snapshots).allowed(Permission::Read),
        Route::api(Method::POST, "/api/pilot/snapshots", freeze).allowed(Permission::ManagePilot),
        Route::api(Method::GET, "/api/pilot/snapshots/{id}", get_snapshot)
            .allowed(Permission::Read),
        Route::api(
            Method::GET,
            "/api/pilot/snapshots/{id}/export",
            export_snapshot,
        )
        .allowed(Permission::Read),
        Route::page(Method::GET, "/pilot", super::page::show).allowed(Permission::Read),
        Route::page(Method::POST, "/pilot", super::page::save_form)
            .allowed(Permission::ManagePilot),
        Route::page(Method::POST, "/pilot/snapshots", super::page::freeze_form)
            .allowed(Permission::ManagePilot),
    ]
    .into_iter()
    .map(|route| route.component(PILOT_EVALUATION))
    .collect()
}

/// The pilot evaluated now, over its window.
#[utoipa::path(get, path = "/api/pilot", tag = "pilot", responses((status = 200, body = Evaluation)))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<Evaluation>> {
    Ok(Json(super::evaluate(&state.db, &principal.team_id).await?))
}

/// Hours the build took, with where the number comes from.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnteredHours {
    #[schema(minimum = 0, maximum = 100000)]
    pub value: f64,
    #[schema(value_type = crate::api::shapes::EnteredSource)]
    pub source: String,
}

/// A percentage, with where the number comes from.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnteredPercent {
    #[schema(minimum = 0, maximum = 100)]
    pub value: f64,
    #[schema(value_type = crate::api::shapes::EnteredSource)]
    pub source: String,
}

/// What to change; every part optional, and nothing is saved when one is refused.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PilotChanges {
    /// The pilot's dates (UTC, both included; at most a year).
    pub window: Option<Window>,
    /// All six targets.
    pub targets: Option<Targets>,
    /// Hours the build took.
    pub build_hours: Option<EnteredHours>,
    /// Percent of the code reused.
    pub code_reuse: Option<EnteredPercent>,
}

impl From<PilotChanges> for Changes {
    fn from(changes: PilotChanges) -> Changes {
        Changes {
            window: changes.window,
            targets: changes.targets,
            build_hours: changes.build_hours.map(|e| (e.value, e.source)),
            code_reuse: changes.code_reuse.map(|e| (e.value, e.source)),
        }
    }
}

/// Change the window, the targets or the entered values (admins); answers the evaluation.
#[utoipa::path(put, path = "/api/pilot", tag = "pilot", request_body = PilotChanges,
    responses((status = 200, body = Evaluation), (status = 422, description = "an end before the start, a window over a year, a value out of range or without its source")))]
pub async fn put(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(changes): ApiJson<PilotChanges>,
) -> AppResult<Json<Evaluation>> {
    super::change(&state.db, (&principal).into(), &changes.into()).await?;
    Ok(Json(super::evaluate(&state.db, &principal.team_id).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SnapshotList {
    /// Newest first.
    pub snapshots: Vec<Snapshot>,
}

/// The team's frozen snapshots, newest first.
#[utoipa::path(get, path = "/api/pilot/snapshots", tag = "pilot", responses((status = 200, body = SnapshotList)))]
pub async fn list_snapshots(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<SnapshotList>> {
    Ok(Json(SnapshotList {
        snapshots: super::snapshots(&state.db, &principal.team_id).await?,
    }))
}

/// Freeze the evaluation as it is now (admins): it never changes afterwards.
#[utoipa::path(post, path = "/api/pilot/snapshots", tag = "pilot", responses((status = 201, body = Snapshot)))]
pub async fn freeze(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<(StatusCode, Json<Snapshot>)> {
    let snapshot = super::freeze(&state.db, (&principal).into()).await?;
    Ok((StatusCode::CREATED, Json(snapshot)))
}

/// One snapshot.
#[utoipa::path(get, path = "/api/pilot/snapshots/{id}", tag = "pilot", params(crate::api::IdPath),
    responses((status = 200, body = Snapshot), (status = 404)))]
pub async fn get_snapshot(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Snapshot>> {
    Ok(Json(
        super::snapshot(&state.db, &principal.team_id, &id).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// markdown (default), csv or json.
    #[param(value_type = Option<Format>)]
    pub format: Option<String>,
}

/// A snapshot as a file: Markdown for the review meeting, CSV, or JSON.
#[utoipa::path(get, path = "/api/pilot/snapshots/{id}/export", tag = "pilot", params(crate::api::IdPath, ExportQuery),
    responses((status = 200, description = "the file, as an attachment"), (status = 404), (status = 422)))]
pub async fn export_snapshot(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> AppResult<Response> {
    let format = match query.format.as_deref() {
        None | Some("markdown") => Format::Markdown,
        Some("csv") => Format::Csv,
        Some("json") => Format::Json,
        Some(_) => return Err(AppError::validation("format", "markdown, csv or json")),
    };
    let snapshot = super::snapshot(&state.db, &principal.team_id, &id).await?;
    let filename = format!(
        "pilot-{}-{}.{}",
        snapshot.evaluation.window.end,
        &snapshot.id[..8.min(snapshot.id.len())],
        format.extension()
    );
    if format == Format::Csv {
        return Ok(crate::web::format::csv_attachment(
            &filename,
            &export::CSV_HEADER,
            export::csv_records(&snapshot.evaluation),
        ));
    }
    let body = match format {
        Format::Json => {
            serde_json::to_string_pretty(&snapshot).map_err(|err| AppError::Internal(err.into()))?
        }
        _ => export::markdown(&snapshot),
    };
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response())
}
