//! `/api/workflows`: everyone reads them; members and up save, archive and run them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::{Step, VersionInfo, Workflow, WorkflowFields, definition};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::{AppError, AppResult};
use crate::executions::{self, ExecutionDetail, Trigger};
use crate::routes::Route;

pub fn routes() -> Vec<Route> {
    vec![
        Route::api(Method::GET, "/api/workflows", list_workflows).allowed(Permission::Read),
        Route::api(Method::POST, "/api/workflows", create_workflow)
            .allowed(Permission::EditWorkflows),
        Route::page(Method::GET, "/workflows", super::page::show).allowed(Permission::Read),
        Route::page(Method::GET, "/workflows/new", super::editor::new)
            .allowed(Permission::EditWorkflows),
        Route::page(Method::POST, "/workflows/new", super::editor::create_form)
            .allowed(Permission::EditWorkflows),
        Route::page(Method::GET, "/workflows/{id}", super::page::details).allowed(Permission::Read),
        Route::page(Method::GET, "/workflows/{id}/compare", super::compare::show)
            .allowed(Permission::Read),
        Route::page(Method::GET, "/workflows/{id}/edit", super::editor::edit)
            .allowed(Permission::EditWorkflows),
        Route::page(
            Method::POST,
            "/workflows/{id}/edit",
            super::editor::update_form,
        )
        .allowed(Permission::EditWorkflows),
        Route::page(Method::POST, "/workflows/{id}/run", super::page::run)
            .allowed(Permission::Operate),
        Route::api(Method::GET, "/api/workflows/{id}", get_workflow).allowed(Permission::Read),
        Route::api(Method::PUT, "/api/workflows/{id}", update_workflow)
            .allowed(Permission::EditWorkflows),
        Route::api(Method::DELETE, "/api/workflows/{id}", archive_workflow)
            .allowed(Permission::EditWorkflows),
        Route::api(Method::GET, "/api/workflows/{id}/versions", list_versions)
            .allowed(Permission::Read),
        Route::api(Method::POST, "/api/workflows/{id}/run", run_workflow)
            .allowed(Permission::Operate),
    ]
    .into_iter()
    .map(|route| route.component(crate::components::id::WORKFLOWS))
    .collect()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowRequest {
    #[schema(value_type = crate::api::shapes::Name)]
    pub name: String,
    #[schema(value_type = Option<crate::api::shapes::Description>)]
    pub description: Option<String>,
    /// 1 to 50 steps. Each agent must be one of the team's, each dependency
    /// another step's id, with no cycle (422 naming the step otherwise).
    #[schema(min_items = 1, max_items = 50)]
    pub steps: Vec<Step>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WorkflowList {
    pub workflows: Vec<Workflow>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VersionList {
    pub versions: Vec<VersionInfo>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The values the prompts' `{{input.NAME}}` references read; every NAME
    /// the prompts use must be present (422 naming it otherwise).
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub input: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

const MAX_DESCRIPTION: usize = 2_000;

/// The API's checks, shared by the step editor's forms.
pub(super) async fn validate(
    state: &AppState,
    principal: &Principal,
    request: WorkflowRequest,
) -> AppResult<WorkflowFields> {
    let name = crate::accounts::parse_name("name", &request.name)?;
    let description = request
        .description
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty());
    if description
        .as_ref()
        .is_some_and(|text| text.chars().count() > MAX_DESCRIPTION)
    {
        return Err(AppError::validation(
            "description",
            "must be at most 2000 characters",
        ));
    }
    let agents = crate::agents::ids(&state.db, &principal.team_id).await?;
    let definition = definition::validate(request.steps, &agents)?;
    Ok(WorkflowFields {
        name,
        description,
        definition,
    })
}

/// The team's workflows, latest versions.
#[utoipa::path(get, path = "/api/workflows", tag = "workflows", responses((status = 200, body = WorkflowList)))]
pub async fn list_workflows(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<WorkflowList>> {
    Ok(Json(WorkflowList {
        workflows: super::list(&state.db, &principal.team_id).await?,
    }))
}

/// Save a new workflow (members and up). Mistakes answer 422 naming the path.
#[utoipa::path(post, path = "/api/workflows", tag = "workflows", request_body = WorkflowRequest,
    responses((status = 201, body = Workflow), (status = 422)))]
pub async fn create_workflow(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<WorkflowRequest>,
) -> AppResult<(StatusCode, Json<Workflow>)> {
    let fields = validate(&state, &principal, request).await?;
    let workflow = super::create(&state.db, (&principal).into(), &fields).await?;
    Ok((StatusCode::CREATED, Json(workflow)))
}

/// One workflow, latest version.
#[utoipa::path(get, path = "/api/workflows/{id}", tag = "workflows", params(crate::api::IdPath),
    responses((status = 200, body = Workflow), (status = 404)))]
pub async fn get_workflow(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Workflow>> {
    super::get(&state.db, &principal.team_id, &id)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound)
}

/// Save a new version (members and up); executions keep the version they ran.
#[utoipa::path(put, path = "/api/workflows/{id}", tag = "workflows", params(crate::api::IdPath), request_body = WorkflowRequest,
    responses((status = 200, body = Workflow), (status = 404), (status = 422)))]
pub async fn update_workflow(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<WorkflowRequest>,
) -> AppResult<Json<Workflow>> {
    if super::get(&state.db, &principal.team_id, &id)
        .await?
        .is_none()
    {
        return Err(AppError::NotFound);
    }
    let fields = validate(&state, &principal, request).await?;
    let workflow = super::update(&state.db, (&principal).into(), &id, &fields)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(workflow))
}

/// Archive a workflow (members and up); its executions stay.
#[utoipa::path(delete, path = "/api/workflows/{id}", tag = "workflows", params(crate::api::IdPath),
    responses((status = 204), (status = 404)))]
pub async fn archive_workflow(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    if !super::archive(&state.db, (&principal).into(), &id).await? {
        return Err(AppError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Every saved version, newest first.
#[utoipa::path(get, path = "/api/workflows/{id}/versions", tag = "workflows", params(crate::api::IdPath),
    responses((status = 200, body = VersionList), (status = 404)))]
pub async fn list_versions(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<VersionList>> {
    let versions = super::versions(&state.db, &principal.team_id, &id).await?;
    if versions.is_empty() {
        return Err(AppError::NotFound);
    }
    Ok(Json(VersionList { versions }))
}

/// Run the workflow's latest version with an input (members and up). Answers with
/// the new execution, pending; follow it at `/api/executions/{id}`.
#[utoipa::path(post, path = "/api/workflows/{id}/run", tag = "workflows", params(crate::api::IdPath), request_body = RunRequest,
    responses((status = 201, body = ExecutionDetail), (status = 404), (status = 422)))]
pub async fn run_workflow(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<RunRequest>,
) -> AppResult<(StatusCode, Json<ExecutionDetail>)> {
    let workflow = super::get(&state.db, &principal.team_id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    definition::check_input(&workflow.steps, &request.input)?;
    let execution_id = executions::start(
        state.engine(),
        &principal.team_id,
        &workflow,
        request.input,
        Trigger::User(principal.user_id.clone()),
    )
    .await?;
    let detail = executions::get(&state.db, &principal.team_id, &execution_id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(detail)))
}
