//! The OpenAPI document, generated from the handlers' annotations. A test checks
//! that every API route of the route table appears here.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "HUMMBL API", description = "Operations console for AI-agent workflows. \
        Authenticate with the session cookie (POST /api/auth/login) or `Authorization: Bearer <token>`."),
    paths(
        crate::auth::handlers::login_api,
        crate::auth::handlers::logout_api,
        crate::auth::handlers::me,
        crate::accounts::handlers::change_password_api,
        crate::accounts::handlers::list_tokens,
        crate::accounts::handlers::create_token,
        crate::accounts::handlers::revoke_token,
        crate::teams::handlers::my_teams,
        crate::teams::handlers::switch_api,
        crate::teams::handlers::list_members,
        crate::teams::handlers::change_role,
        crate::teams::handlers::remove_member,
        crate::components::handlers::list_components,
        crate::components::handlers::patch_component,
        crate::telemetry::handlers::track,
        crate::telemetry::handlers::record_metrics,
        crate::telemetry::handlers::query_metrics,
        crate::telemetry::handlers::stream_events,
        crate::telemetry::keys_page::list_keys,
        crate::telemetry::keys_page::create_key,
        crate::telemetry::keys_page::revoke_key,
        crate::provider_keys::handlers::list_keys,
        crate::provider_keys::handlers::create_key,
        crate::provider_keys::handlers::update_key,
        crate::provider_keys::handlers::delete_key,
        crate::provider_keys::handlers::test_key,
        crate::agents::handlers::list_agents,
        crate::agents::handlers::create_agent,
        crate::agents::handlers::get_agent,
        crate::agents::handlers::replace_agent,
        crate::agents::handlers::archive_agent,
        crate::workflows::handlers::list_workflows,
        crate::workflows::handlers::create_workflow,
        crate::workflows::handlers::get_workflow,
        crate::workflows::handlers::update_workflow,
        crate::workflows::handlers::archive_workflow,
        crate::workflows::handlers::list_versions,
        crate::workflows::handlers::run_workflow,
        crate::executions::handlers::list_executions,
        crate::executions::handlers::get_execution,
        crate::executions::handlers::cancel_execution,
        crate::executions::handlers::retry_execution,
        crate::executions::handlers::stream_executions,
        crate::prices::handlers::list_prices,
        crate::prices::handlers::set_price,
        crate::analytics::handlers::summary,
        crate::analytics::handlers::tokens_summary,
        crate::analytics::handlers::tokens_csv,
        crate::errors::handlers::latest_errors,
        crate::errors::handlers::list_groups,
        crate::errors::handlers::resolve,
        crate::errors::handlers::reopen,
        openapi_document,
    ),
    tags(
        (name = "auth", description = "Sign in and out"),
        (name = "account", description = "Your password and personal API tokens"),
        (name = "teams", description = "Teams, switching and membership"),
        (name = "components", description = "The BaseN component registry"),
        (name = "telemetry", description = "T4 Observation: events, metrics, live stream, ingestion keys"),
        (name = "keys", description = "Provider API keys, sealed in the vault"),
        (name = "agents", description = "Agents: a model, a provider key and instructions"),
        (name = "workflows", description = "Versioned workflows and running them"),
        (name = "executions", description = "Executions and their steps; cancel, retry, live stream"),
        (name = "prices", description = "Model prices used for cost"),
        (name = "analytics", description = "Summaries and token usage from the hourly roll-ups"),
        (name = "errors", description = "Failed steps grouped by fingerprint; resolve and reopen"),
        (name = "ops", description = "Operations"),
    )
)]
struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "ops", responses((status = 200, description = "OpenAPI 3.1 document")))]
#[allow(dead_code)]
fn openapi_document() {}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
