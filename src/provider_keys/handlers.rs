//! `/api/keys`: admins add, edit, test and delete the team's provider keys;
//! everyone in the team sees which exist (label, provider, last four). What a
//! provider answered about a key is for admins only: it is another server's
//! text, and an internal one's could tell more than the team should read.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{KeyChange, KeyInfo, NewKey, TestRecord, TestResult};
use crate::api::{ApiJson, ApiQuery};
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::{AppError, AppResult};
use crate::providers::ProviderKind;
use crate::routes::Route;

/// The BaseN component of the provider keys page and API.
pub const COMPONENT: crate::components::ComponentId = crate::components::id::API_KEYS;

pub fn routes() -> Vec<Route> {
    vec![
        Route::api(Method::GET, "/api/keys", list_keys).allowed(Permission::Read),
        Route::api(Method::POST, "/api/keys", create_key).allowed(Permission::ManageKeys),
        Route::api(Method::PATCH, "/api/keys/{id}", update_key).allowed(Permission::ManageKeys),
        Route::api(Method::DELETE, "/api/keys/{id}", delete_key).allowed(Permission::ManageKeys),
        Route::api(Method::POST, "/api/keys/{id}/test", test_key).allowed(Permission::ManageKeys),
        Route::api(Method::GET, "/api/keys/{id}/usage", key_usage).allowed(Permission::Read),
    ]
    .into_iter()
    .chain(super::page::routes())
    .map(|route| route.component(COMPONENT))
    .collect()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyRequest {
    #[schema(value_type = crate::api::shapes::KeyProvider)]
    pub provider: String,
    /// A name for people.
    #[schema(value_type = crate::api::shapes::Name)]
    pub label: String,
    #[schema(value_type = crate::api::shapes::ProviderSecret)]
    pub key: SecretString,
    /// Without it, the provider's own API.
    #[schema(value_type = Option<crate::api::shapes::BaseUrl>)]
    pub base_url: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyChangeRequest {
    #[schema(value_type = Option<crate::api::shapes::Name>)]
    pub label: Option<String>,
    #[schema(value_type = Option<crate::api::shapes::ProviderSecret>)]
    pub key: Option<SecretString>,
    /// A new base URL; `null` goes back to the provider's own. Needs `key`
    /// too: a saved key is never sent to a host it was not entered for.
    #[serde(default, deserialize_with = "crate::api::nullable")]
    #[schema(value_type = Option<crate::api::shapes::BaseUrl>)]
    pub base_url: Option<Option<String>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyInfo>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyTest {
    /// Whether the provider accepted the key (it listed its models).
    pub ok: bool,
    /// How long the provider took to answer.
    pub latency_ms: i64,
    /// What came of it: the provider's refusal or the error, or how many
    /// models it listed.
    pub message: String,
    /// The model ids the provider listed (at most 200).
    pub models: Vec<String>,
}

const MIN_KEY_CHARS: usize = 8;
const MAX_KEY_CHARS: usize = 512;

fn parse_provider(text: &str, principal_team_is_demo: bool) -> Result<ProviderKind, AppError> {
    match text.parse::<ProviderKind>() {
        Ok(ProviderKind::Simulated) if !principal_team_is_demo => Err(AppError::validation(
            "provider",
            "the simulated provider exists for the demo team only",
        )),
        Ok(kind) => Ok(kind),
        Err(()) => Err(AppError::validation(
            "provider",
            "must be one of: openai, anthropic",
        )),
    }
}

fn parse_secret(secret: &SecretString) -> Result<SecretString, AppError> {
    use secrecy::ExposeSecret;
    let text = secret.expose_secret().trim();
    let chars = text.chars().count();
    if !(MIN_KEY_CHARS..=MAX_KEY_CHARS).contains(&chars) {
        return Err(AppError::validation("key", "must be 8 to 512 characters"));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AppError::validation(
            "key",
            "must not contain spaces or control characters",
        ));
    }
    Ok(SecretString::from(text.to_string()))
}

/// An http(s) URL without credentials, query or fragment.
pub fn parse_base_url(text: &str) -> Result<String, AppError> {
    let invalid = |message| AppError::validation("base_url", message);
    let url = url::Url::parse(text.trim()).map_err(|_| invalid("must be an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must start with http:// or https://"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must not contain credentials; put the key in `key`",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// A base URL the egress policy allows, as far as the URL alone tells (an IP
/// literal, a metadata name); other names are judged again at every call.
fn allowed_base_url(state: &AppState, text: &str) -> Result<String, AppError> {
    let parsed = parse_base_url(text)?;
    let url = url::Url::parse(&parsed)
        .map_err(|_| AppError::validation("base_url", "must be an absolute URL"))?;
    state
        .providers
        .check_base_url(&url)
        .map_err(|refused| AppError::validation("base_url", refused.to_string()))?;
    Ok(parsed)
}

async fn team_is_demo(state: &AppState, team_id: &str) -> AppResult<bool> {
    Ok(crate::teams::is_demo(&state.db, team_id).await?)
}

/// The team's provider keys (never the keys themselves); `status_detail`, the
/// provider's answer, for admins and owners only.
#[utoipa::path(get, path = "/api/keys", tag = "keys", responses((status = 200, body = KeyList)))]
pub async fn list_keys(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<KeyList>> {
    let mut keys = super::list(&state.db, &principal.team_id).await?;
    if !principal.can(Permission::ManageKeys) {
        for key in &mut keys {
            key.status_detail = None;
            key.last_test_message = None;
        }
    }
    Ok(Json(KeyList { keys }))
}

/// Save a provider key, sealed (admin and owner).
#[utoipa::path(post, path = "/api/keys", tag = "keys", request_body = NewKeyRequest,
    responses((status = 201, body = KeyInfo), (status = 403),
        (status = 422, description = "A field breaks a rule, or the base URL is an address the egress policy refuses (see `provider_allowed_hosts`)")))]
pub async fn create_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<NewKeyRequest>,
) -> AppResult<(StatusCode, Json<KeyInfo>)> {
    let created = add(&state, &principal, request).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Validates and saves a new key (the API's and the page's).
pub(super) async fn add(
    state: &AppState,
    principal: &Principal,
    request: NewKeyRequest,
) -> AppResult<KeyInfo> {
    let provider = parse_provider(
        &request.provider,
        team_is_demo(state, &principal.team_id).await?,
    )?;
    let key = NewKey {
        provider,
        label: crate::accounts::parse_name("label", &request.label)?,
        secret: parse_secret(&request.key)?,
        base_url: request
            .base_url
            .as_deref()
            .map(|url| allowed_base_url(state, url))
            .transpose()?,
    };
    super::create(&state.db, &state.vault, principal.into(), key).await
}

/// Change a key's label, base URL or the key itself (admin and owner). A new
/// base URL comes with the key: otherwise an admin could send a key someone
/// else saved to a server of their own and read it there.
#[utoipa::path(patch, path = "/api/keys/{id}", tag = "keys", params(crate::api::IdPath), request_body = KeyChangeRequest,
    responses((status = 200, body = KeyInfo), (status = 404),
        (status = 422, description = "A field breaks a rule: `base_url` without `key`, a base URL the egress policy refuses, a bad label or key")))]
pub async fn update_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<KeyChangeRequest>,
) -> AppResult<Json<KeyInfo>> {
    Ok(Json(change(&state, &principal, &id, request).await?))
}

/// Validates and applies a change (the API's and the page's).
pub(super) async fn change(
    state: &AppState,
    principal: &Principal,
    id: &str,
    request: KeyChangeRequest,
) -> AppResult<KeyInfo> {
    if request.base_url.is_some() && request.key.is_none() {
        return Err(AppError::validation(
            "base_url",
            "changing the base URL needs the key again: send `key` with it",
        ));
    }
    let change = KeyChange {
        label: request
            .label
            .as_deref()
            .map(|label| crate::accounts::parse_name("label", label))
            .transpose()?,
        secret: request.key.as_ref().map(parse_secret).transpose()?,
        base_url: match request.base_url {
            None => None,
            Some(None) => Some(None),
            Some(Some(url)) => Some(Some(allowed_base_url(state, &url)?)),
        },
    };
    super::update(&state.db, &state.vault, principal.into(), id, change)
        .await?
        .ok_or(AppError::NotFound)
}

/// Delete a key (admin and owner). Refused while live agents use it: archive
/// them, or move them to another key, first.
#[utoipa::path(delete, path = "/api/keys/{id}", tag = "keys", params(crate::api::IdPath),
    responses((status = 204), (status = 404),
        (status = 409, description = "Live agents use the key; the message names them")))]
pub async fn delete_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    remove(&state, &principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a key no live agent uses (the API's and the page's).
pub(super) async fn remove(state: &AppState, principal: &Principal, id: &str) -> AppResult<()> {
    match super::delete(&state.db, principal.into(), id).await? {
        super::Deleted::Deleted => Ok(()),
        super::Deleted::NotFound => Err(AppError::NotFound),
        super::Deleted::InUse(agents) => Err(AppError::Conflict(format!(
            "agents use this key: {}; archive them or give them another key first",
            agents.join(", ")
        ))),
    }
}

/// Ask the provider whether it accepts the key (admin and owner), with its
/// cheapest authenticated call, the model list. A refusal (401/403) marks the
/// key invalid, a later success active again; a network error or an outage
/// says nothing about the key and leaves its status.
#[utoipa::path(post, path = "/api/keys/{id}/test", tag = "keys", params(crate::api::IdPath),
    responses((status = 200, body = KeyTest), (status = 404),
        (status = 409, description = "The stored key cannot be opened (sealed under another master key, or changed outside HUMMBL)")))]
pub async fn test_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<KeyTest>> {
    Ok(Json(test(&state, &principal, &id).await?))
}

/// Tests a key and records the result (the API's and the page's).
pub(super) async fn test(state: &AppState, principal: &Principal, id: &str) -> AppResult<KeyTest> {
    let credential = super::credential(&state.db, &state.vault, &principal.team_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let started = std::time::Instant::now();
    let answer = state.providers.test_key(&credential).await;
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (result, message, models) = match answer {
        Ok(models) => (
            TestResult::Ok,
            format!(
                "the provider accepted the key and listed {} models",
                models.len()
            ),
            models,
        ),
        Err(error @ crate::providers::CallError::InvalidKey { .. }) => {
            (TestResult::Refused, error.to_string(), Vec::new())
        }
        Err(error) => (TestResult::Failed, error.to_string(), Vec::new()),
    };
    let record = TestRecord {
        result,
        latency_ms,
        message: &message,
        models: &models,
    };
    super::record_test(&state.db, principal.into(), id, &record)
        .await?
        .announce(&state.bus);
    Ok(KeyTest {
        ok: result == TestResult::Ok,
        latency_ms,
        message,
        models,
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// The period: the last N days, today included (1 to 365, default 30).
    #[param(minimum = 1, maximum = 365)]
    pub days: Option<i64>,
}

/// A key's usage over the last N days (everyone in the team): calls, tokens,
/// cost and errors of the steps that called the provider with it, in total
/// and per UTC day.
#[utoipa::path(get, path = "/api/keys/{id}/usage", tag = "keys", params(crate::api::IdPath, UsageQuery),
    responses((status = 200, body = super::usage::KeyUsage), (status = 404), (status = 422)))]
pub async fn key_usage(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> AppResult<Json<super::usage::KeyUsage>> {
    let days = query.days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(AppError::validation("days", "must be between 1 and 365"));
    }
    if super::get(&state.db, &principal.team_id, &id)
        .await?
        .is_none()
    {
        return Err(AppError::NotFound);
    }
    let period = crate::analytics::Period::last_days(days);
    let rows = super::usage_by_day(&state.db, &principal.team_id, period, Some(&id)).await?;
    Ok(Json(super::usage::fold(
        period,
        rows.into_iter().map(|(_, day, totals)| (day, totals)),
    )))
}
