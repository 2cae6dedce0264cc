//! The OpenAPI document, generated from the handlers' annotations. A test checks
//! that every API route of the route table appears here. What every operation
//! shares (who may call it, the error answers its guard and extractors give) is
//! added by [`Contract`] from the route table itself, so it cannot drift from what
//! the server enforces.

use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};

use utoipa::PartialSchema;

use crate::auth::Role;
use crate::routes::{Access, Route};

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
        crate::accounts::handlers::revoke_all_tokens_api,
        crate::accounts::handlers::list_sessions,
        crate::accounts::handlers::end_session_api,
        crate::accounts::handlers::end_all_sessions_api,
        crate::teams::handlers::my_teams,
        crate::teams::handlers::switch_api,
        crate::teams::handlers::list_members,
        crate::teams::handlers::change_role,
        crate::teams::handlers::remove_member,
        crate::teams::handlers::leave,
        crate::schedules::handlers::list,
        crate::schedules::handlers::create,
        crate::schedules::handlers::preview,
        crate::schedules::handlers::get,
        crate::schedules::handlers::update,
        crate::schedules::handlers::delete,
        crate::schedules::handlers::run_now,
        crate::schedules::handlers::history,
        crate::notifications::handlers::list,
        crate::notifications::handlers::mark_read,
        crate::notifications::handlers::mark_unread,
        crate::notifications::handlers::read_all,
        crate::notifications::handlers::stream,
        crate::notifications::preferences::show,
        crate::notifications::preferences::save,
        crate::notifications::handlers::subscription,
        crate::notifications::handlers::follow,
        crate::notifications::handlers::unfollow,
        crate::alerts::handlers::list,
        crate::alerts::handlers::create,
        crate::alerts::handlers::get,
        crate::alerts::handlers::update,
        crate::alerts::handlers::delete,
        crate::alerts::handlers::events,
        crate::pilot::handlers::get,
        crate::pilot::handlers::put,
        crate::pilot::handlers::list_snapshots,
        crate::pilot::handlers::freeze,
        crate::pilot::handlers::get_snapshot,
        crate::pilot::handlers::export_snapshot,
        crate::invitations::handlers::list,
        crate::invitations::handlers::create,
        crate::invitations::handlers::resend,
        crate::invitations::handlers::link,
        crate::invitations::handlers::revoke,
        crate::invitations::handlers::accept,
        crate::invitations::handlers::outbox,
        crate::components::handlers::list_components,
        crate::components::handlers::patch_component,
        crate::telemetry::handlers::track,
        crate::otlp::handlers::export,
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
        crate::provider_keys::handlers::key_usage,
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
        crate::web::csp_report::report,
        openapi_document,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Contract),
    tags(
        (name = "auth", description = "Sign in and out"),
        (name = "account", description = "Your password and personal API tokens"),
        (name = "teams", description = "Teams, switching and membership"),
        (name = "components", description = "The BaseN component registry"),
        (name = "telemetry", description = "T4 Observation: events, metrics, live stream, ingestion keys"),
        (name = "otlp", description = "OpenTelemetry: OTLP/HTTP trace export from your own services (GenAI spans become external executions)"),
        (name = "keys", description = "Provider API keys, sealed in the vault"),
        (name = "agents", description = "Agents: a model, a provider key and instructions"),
        (name = "workflows", description = "Versioned workflows and running them"),
        (name = "executions", description = "Executions and their steps; cancel, retry, live stream"),
        (name = "prices", description = "Model prices used for cost"),
        (name = "analytics", description = "Summaries and token usage from the hourly roll-ups"),
        (name = "errors", description = "Failed steps grouped by fingerprint; resolve and reopen"),
        (name = "notifications", description = "Your notifications, their read state and live stream; following workflows"),
        (name = "alerts", description = "Alert rules: error rate, spend, consecutive failures, long runs; their state and firings"),
        (name = "pilot", description = "The pilot evaluation: six metrics, the decision, snapshots"),
        (name = "ops", description = "Operations"),
    )
)]
struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "ops",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
#[allow(dead_code)]
fn openapi_document() {}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Every error answer of the API (`error::AppError` as JSON).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ErrorDetail {
    /// What kind of error (the list is `AppError::code`).
    #[schema(value_type = ErrorCode)]
    code: String,
    /// For people; 5xx answers never carry details.
    message: String,
    /// The field that broke a rule (422 only), e.g. `steps[2].prompt`.
    #[schema(value_type = String, required = false)]
    field: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum ErrorCode {
    BadRequest,
    Unauthorized,
    InvalidCredentials,
    Forbidden,
    CrossSite,
    NotFound,
    Conflict,
    Validation,
    RateLimited,
    Unavailable,
    Internal,
}

/// Operations that read their body themselves instead of through `ApiJson`, and
/// so answer body problems their own way (documented on each handler).
const OWN_BODY_READERS: [&str; 4] = [
    "POST /v1/traces",
    "POST /api/telemetry/track",
    "POST /api/telemetry/metrics",
    "POST /api/executions/{id}/retry",
];

const TOO_LARGE: &str = "The body is too large: over 1 MiB is refused before it is read (in \
    plain text), a telemetry batch over its limit after";

/// Operations whose body may be left out (it is then the default request).
const OPTIONAL_BODIES: [&str; 1] = ["POST /api/executions/{id}/retry"];

/// Adds what the route table says about each operation: its security, and the
/// error answers of the guard (401, 403, a switched-off component's 404) and of
/// the extractors (400, 413, 415, 422), each with the error body.
struct Contract;

impl utoipa::Modify for Contract {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A personal API token (`hmb_pat_…`, POST /api/tokens)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "ingestion_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An ingestion key (`hmb_ik_…`): telemetry ingestion only",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::session::COOKIE_NAME,
                "The session cookie POST /api/auth/login sets",
            ))),
        );
        let routes = crate::app::routes();
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                ("GET", &mut item.get),
                ("POST", &mut item.post),
                ("PUT", &mut item.put),
                ("PATCH", &mut item.patch),
                ("DELETE", &mut item.delete),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let Some(route) = routes
                    .iter()
                    .find(|route| route.path == path && route.method.as_str() == method)
                else {
                    continue;
                };
                let name = format!("{method} {path}");
                if OPTIONAL_BODIES.contains(&name.as_str())
                    && let Some(RefOr::T(body)) = operation.request_body.as_mut()
                {
                    body.required = Some(Required::False);
                }
                describe(operation, route, !OWN_BODY_READERS.contains(&name.as_str()));
            }
        }
    }
}

fn describe(operation: &mut Operation, route: &Route, reads_api_json: bool) {
    operation.security = Some(security(route));
    let errors = error_answers(operation, route, reads_api_json);
    let responses = &mut operation.responses.responses;
    for (status, description) in errors {
        responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(ResponseBuilder::new().description(description).build()));
    }
    with_error_bodies(responses);
}

/// The credentials an operation accepts, from its route's access.
fn security(route: &Route) -> Vec<SecurityRequirement> {
    let needs = |schemes: &[&str]| -> Vec<SecurityRequirement> {
        schemes
            .iter()
            .map(|scheme| SecurityRequirement::new(*scheme, Vec::<String>::new()))
            .collect()
    };
    match route.access {
        Access::Public => Vec::new(),
        Access::Ingest => needs(&["bearer", "session", "ingestion_key"]),
        Access::SignedIn | Access::Allowed(_) => needs(&["bearer", "session"]),
    }
}

/// The error answers the guard and the extractors give for this operation.
fn error_answers(
    operation: &Operation,
    route: &Route,
    reads_api_json: bool,
) -> Vec<(u16, &'static str)> {
    let mut errors: Vec<(u16, &'static str)> = Vec::new();
    if route.access != Access::Public {
        errors.push((401, "No valid session or token"));
    }
    let limited = matches!(route.access, Access::Allowed(p) if p.minimum_role() > Role::Viewer);
    let changes = route.method != axum::http::Method::GET;
    if limited || changes {
        errors.push((
            403,
            "Your role in this team does not allow this, or a cross-site request \
             with the session cookie",
        ));
    }
    if route.component.is_some() || route.path.contains('{') {
        errors.push((
            404,
            "No such object in your team, or the component is switched off for it",
        ));
    }
    let has_query = operation.parameters.iter().flatten().any(|parameter| {
        matches!(parameter, RefOr::T(parameter) if parameter.parameter_in == ParameterIn::Query)
    });
    if has_query {
        errors.push((400, "The query string cannot be read"));
    }
    if operation.request_body.is_some() {
        errors.push((413, TOO_LARGE));
    }
    if operation.request_body.is_some() && reads_api_json {
        errors.push((400, "Malformed JSON"));
        errors.push((415, "The body is not sent as application/json"));
        errors.push((422, "A field breaks a rule; `field` names it"));
    }
    errors
}

/// Every error answer carries the error body (and the size limit's plain text).
fn with_error_bodies(
    responses: &mut std::collections::BTreeMap<String, RefOr<utoipa::openapi::Response>>,
) {
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if !status.starts_with('4') && !status.starts_with('5') {
            continue;
        }
        if status == "413" {
            // The size limit in front of every route answers in plain text.
            response.content.insert(
                "text/plain".into(),
                RefOr::T(ContentBuilder::new().schema(Some(String::schema())).build()),
            );
        }
        if !response.content.contains_key("application/json") {
            response.content.insert(
                "application/json".into(),
                RefOr::T(
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                ),
            );
        }
        if response.description.is_empty() {
            response.description = "See `error.message`".into();
        }
    }
}
