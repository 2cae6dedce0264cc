//! `/api/agents`: everyone in the team reads them; members and up edit them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::{Agent, AgentFields, Parameters};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::{AppError, AppResult};
use crate::providers::ProviderKind;
use crate::routes::Route;

/// The agents page and API are one component: switched off, both answer 404.
pub const COMPONENT: crate::components::ComponentId = crate::components::id::AGENTS;

pub fn routes() -> Vec<Route> {
    vec![
        Route::page(Method::GET, "/agents", super::page::show).allowed(Permission::Read),
        Route::page(Method::POST, "/agents", super::page::create_form)
            .allowed(Permission::EditWorkflows),
        Route::page(Method::GET, "/agents/{id}/edit", super::page::edit)
            .allowed(Permission::EditWorkflows),
        Route::page(Method::POST, "/agents/{id}", super::page::update_form)
            .allowed(Permission::EditWorkflows),
        Route::page(
            Method::POST,
            "/agents/{id}/archive",
            super::page::archive_form,
        )
        .allowed(Permission::EditWorkflows),
        Route::api(Method::GET, "/api/agents", list_agents).allowed(Permission::Read),
        Route::api(Method::POST, "/api/agents", create_agent).allowed(Permission::EditWorkflows),
        Route::api(Method::GET, "/api/agents/{id}", get_agent).allowed(Permission::Read),
        Route::api(Method::PUT, "/api/agents/{id}", replace_agent)
            .allowed(Permission::EditWorkflows),
        Route::api(Method::DELETE, "/api/agents/{id}", archive_agent)
            .allowed(Permission::EditWorkflows),
    ]
    .into_iter()
    .map(|route| route.component(COMPONENT))
    .collect()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRequest {
    #[schema(value_type = crate::api::shapes::Name)]
    pub name: String,
    /// Must be the provider of the key.
    #[schema(value_type = crate::api::shapes::KeyProvider)]
    pub provider: String,
    /// E.g. `gpt-4o-mini` or `claude-3-5-haiku-20241022`.
    #[schema(value_type = crate::api::shapes::ModelName)]
    pub model: String,
    /// One of the team's provider keys (422 when the team has no such key).
    pub key_id: String,
    /// At most 20000 characters.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub instructions: String,
    #[serde(default)]
    pub parameters: Parameters,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AgentList {
    pub agents: Vec<Agent>,
}

const MAX_INSTRUCTIONS: usize = 20_000;
const MAX_MODEL: usize = 200;

pub(crate) async fn validate(
    state: &AppState,
    principal: &Principal,
    request: AgentRequest,
) -> AppResult<AgentFields> {
    let name = crate::accounts::parse_name("name", &request.name)?;
    let provider: ProviderKind = request
        .provider
        .parse()
        .map_err(|()| AppError::validation("provider", "must be one of: openai, anthropic"))?;
    let model = request.model.trim();
    if model.is_empty() || model.chars().count() > MAX_MODEL || model.chars().any(char::is_control)
    {
        return Err(AppError::validation("model", "must be 1 to 200 characters"));
    }
    if request.instructions.chars().count() > MAX_INSTRUCTIONS {
        return Err(AppError::validation(
            "instructions",
            "must be at most 20000 characters",
        ));
    }
    request.parameters.validate()?;
    let key = crate::provider_keys::get(&state.db, &principal.team_id, &request.key_id)
        .await?
        .ok_or_else(|| AppError::validation("key_id", "no such provider key in this team"))?;
    if key.provider != provider {
        return Err(AppError::validation(
            "key_id",
            format!("this key is for {}, not {}", key.provider, provider),
        ));
    }
    Ok(AgentFields {
        name,
        provider,
        model: model.to_string(),
        key_id: Some(key.id),
        instructions: request.instructions,
        parameters: request.parameters,
    })
}

/// The team's agents.
#[utoipa::path(get, path = "/api/agents", tag = "agents", responses((status = 200, body = AgentList)))]
pub async fn list_agents(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<AgentList>> {
    Ok(Json(AgentList {
        agents: super::list(&state.db, &principal.team_id).await?,
    }))
}

/// One agent.
#[utoipa::path(get, path = "/api/agents/{id}", tag = "agents", params(crate::api::IdPath), responses((status = 200, body = Agent), (status = 404)))]
pub async fn get_agent(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Agent>> {
    super::get(&state.db, &principal.team_id, &id)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound)
}

/// Create an agent (members and up).
#[utoipa::path(post, path = "/api/agents", tag = "agents", request_body = AgentRequest,
    responses((status = 201, body = Agent), (status = 422)))]
pub async fn create_agent(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<AgentRequest>,
) -> AppResult<(StatusCode, Json<Agent>)> {
    let fields = validate(&state, &principal, request).await?;
    let agent = super::create(&state.db, (&principal).into(), &fields).await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

/// Replace an agent's settings (members and up).
#[utoipa::path(put, path = "/api/agents/{id}", tag = "agents", params(crate::api::IdPath), request_body = AgentRequest,
    responses((status = 200, body = Agent), (status = 404), (status = 422)))]
pub async fn replace_agent(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<AgentRequest>,
) -> AppResult<Json<Agent>> {
    if super::get(&state.db, &principal.team_id, &id)
        .await?
        .is_none()
    {
        return Err(AppError::NotFound);
    }
    let fields = validate(&state, &principal, request).await?;
    let agent = super::replace(&state.db, (&principal).into(), &id, &fields)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(agent))
}

/// Archive an agent (members and up); workflows using it fail validation on save.
#[utoipa::path(delete, path = "/api/agents/{id}", tag = "agents", params(crate::api::IdPath), responses((status = 204), (status = 404)))]
pub async fn archive_agent(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    if !super::archive(&state.db, (&principal).into(), &id).await? {
        return Err(AppError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}
