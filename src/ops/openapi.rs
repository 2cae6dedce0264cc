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
        openapi_document,
    ),
    tags(
        (name = "auth", description = "Sign in and out"),
        (name = "account", description = "Your password and personal API tokens"),
        (name = "teams", description = "Teams, switching and membership"),
        (name = "components", description = "The BaseN component registry"),
        (name = "telemetry", description = "T4 Observation: events, metrics, live stream, ingestion keys"),
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
