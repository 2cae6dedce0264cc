//! Telemetry HTTP endpoints: ingestion (events and metrics, with CORS for other
//! apps' browsers), the metrics query, the live stream, and the SDK files.

use std::convert::Infallible;

use super::MetricSample;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::Stream;
use serde::{Deserialize, Serialize};

use super::ingest::{ActionRow, IngestError, MetricRow, Rows};
use super::{COMPONENT, Sender, Source, validate};
use crate::api::ApiQuery;
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::{AppError, AppResult};
use crate::routes::Route;
use crate::storage::{new_id, now_ms};

pub fn routes() -> Vec<Route> {
    vec![
        Route::api(Method::POST, "/api/telemetry/track", track)
            .ingest()
            .reports_as(COMPONENT),
        Route::raw(Method::OPTIONS, "/api/telemetry/track", preflight).public(),
        Route::api(Method::POST, "/api/telemetry/metrics", record_metrics)
            .ingest()
            .reports_as(COMPONENT),
        Route::raw(Method::OPTIONS, "/api/telemetry/metrics", preflight).public(),
        Route::api(
            Method::GET,
            "/api/telemetry/metrics/{component_id}",
            query_metrics,
        )
        .allowed(Permission::Read)
        .reports_as(COMPONENT),
        Route::api(Method::GET, "/api/telemetry/stream", stream_events)
            .allowed(Permission::Read)
            .reports_as(COMPONENT),
        Route::raw(Method::GET, "/sdk/telemetry.js", sdk_module).public(),
        Route::raw(Method::GET, "/sdk/telemetry.d.ts", sdk_types).public(),
    ]
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub success: bool,
    /// How many events (or metrics) were stored.
    pub accepted: usize,
}

/// One event as `POST /api/telemetry/track` reads it (`validate::events`); for
/// the OpenAPI document only, the handler reads the body field by field.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TelemetryEvent {
    #[schema(value_type = crate::api::shapes::TelemetryId)]
    component: String,
    #[schema(value_type = crate::api::shapes::TelemetryId)]
    action: String,
    /// Any JSON object, at most 8 KiB serialized (`telemetry_max_properties_bytes`).
    #[schema(value_type = Option<Object>)]
    properties: Option<serde_json::Value>,
    /// ms since the Unix epoch, within the last 7 days and at most 5 minutes
    /// ahead of the server's clock; default now.
    timestamp: Option<i64>,
    #[schema(rename = "sessionId", min_length = 1, max_length = 128)]
    session_id: Option<String>,
    /// Your app's user id.
    #[schema(rename = "userId", min_length = 1, max_length = 128)]
    user_id: Option<String>,
}

/// Events in one request: 1 to `telemetry_max_batch` (1000; more is a 413).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TelemetryEvents {
    #[schema(min_items = 1, max_items = 1000)]
    events: Vec<TelemetryEvent>,
}

/// One metric sample as `POST /api/telemetry/metrics` reads it (`validate::metrics`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TelemetryMetric {
    #[schema(value_type = crate::api::shapes::TelemetryId)]
    component: String,
    #[schema(value_type = crate::api::shapes::TelemetryId)]
    metric_name: String,
    value: f64,
    /// Any JSON object, at most 8 KiB serialized.
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    /// ms since the Unix epoch, within the last 7 days and at most 5 minutes
    /// ahead of the server's clock; default now.
    timestamp: Option<i64>,
}

/// Samples in one request: 1 to `telemetry_max_batch` (1000; more is a 413).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TelemetryMetrics {
    #[schema(min_items = 1, max_items = 1000)]
    metrics: Vec<TelemetryMetric>,
}

/// A body that is one item or `{"<list>": [...]}`: `anyOf`, not `oneOf`, since an
/// item may carry other properties (they are ignored) and so match both.
fn one_or_batch<One: utoipa::ToSchema, Many: utoipa::ToSchema>()
-> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::Ref;
    use utoipa::openapi::schema::{AnyOfBuilder, Schema};
    Schema::AnyOf(
        AnyOfBuilder::new()
            .item(Ref::from_schema_name(One::name()))
            .item(Ref::from_schema_name(Many::name()))
            .build(),
    )
    .into()
}

/// The body of `POST /api/telemetry/track`.
pub struct TrackBody;

impl utoipa::PartialSchema for TrackBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        one_or_batch::<TelemetryEvent, TelemetryEvents>()
    }
}

impl utoipa::ToSchema for TrackBody {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push((TelemetryEvent::name().into(), TelemetryEvent::schema()));
        schemas.push((TelemetryEvents::name().into(), TelemetryEvents::schema()));
        <TelemetryEvents as utoipa::ToSchema>::schemas(schemas);
    }
}

/// The body of `POST /api/telemetry/metrics`.
pub struct MetricsBody;

impl utoipa::PartialSchema for MetricsBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        one_or_batch::<TelemetryMetric, TelemetryMetrics>()
    }
}

impl utoipa::ToSchema for MetricsBody {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push((TelemetryMetric::name().into(), TelemetryMetric::schema()));
        schemas.push((TelemetryMetrics::name().into(), TelemetryMetrics::schema()));
        <TelemetryMetrics as utoipa::ToSchema>::schemas(schemas);
    }
}

/// Reads a JSON body sent as `application/json`, or as `text/plain` (what
/// `navigator.sendBeacon` can send cross-origin without a preflight).
fn json_body(headers: &HeaderMap, body: &Bytes) -> AppResult<serde_json::Value> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("application/json");
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !matches!(essence, "application/json" | "text/plain") {
        return Err(AppError::Rejected(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send JSON as application/json or text/plain".into(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|err| AppError::BadRequest(format!("malformed JSON: {err}")))
}

/// The origin of a browser request, checked against the sender's key.
fn checked_origin(sender: &Sender, headers: &HeaderMap) -> AppResult<Option<HeaderValue>> {
    let origin = headers.get(header::ORIGIN);
    match sender {
        Sender::Key(key) => {
            let text = origin.and_then(|value| value.to_str().ok());
            if origin.is_some() && text.is_none() {
                return Err(AppError::BadRequest("unreadable Origin header".into()));
            }
            if !key.allows_origin(text) {
                return Err(AppError::Forbidden);
            }
            Ok(origin.cloned())
        }
        // Console pages are same-origin: no CORS headers needed.
        Sender::Console(_) => Ok(None),
    }
}

fn write_error(err: IngestError) -> AppError {
    match err {
        IngestError::Busy => AppError::Unavailable {
            message: "ingestion queue is full".into(),
            retry_after_secs: 1,
        },
        IngestError::Failed => AppError::Internal(anyhow::anyhow!("telemetry write failed")),
    }
}

fn accepted(origin: Option<HeaderValue>, count: usize) -> Response {
    let mut response = Json(Accepted {
        success: true,
        accepted: count,
    })
    .into_response();
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

/// Record events: one `{component, action, properties?, timestamp?, sessionId?,
/// userId?}` or `{"events": [...]}`. Answers after the events are committed.
#[utoipa::path(post, path = "/api/telemetry/track", tag = "telemetry",
    request_body(content = TrackBody, description = "One event or `{\"events\": [...]}`; also read when sent as `text/plain` (`navigator.sendBeacon`)"),
    responses((status = 200, body = Accepted), (status = 400, description = "malformed JSON"),
        (status = 401), (status = 403, description = "origin not allowed for this key"),
        (status = 413, description = "too many events or too large"), (status = 422, description = "a field breaks a rule"),
        (status = 503, description = "queue full; see Retry-After")))]
pub async fn track(
    State(state): State<AppState>,
    sender: Sender,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let origin = checked_origin(&sender, &headers)?;
    let now = now_ms();
    let events = validate::events(&json_body(&headers, &body)?, state.telemetry_limits(), now)?;
    let count = events.len();
    let (user_id, source) = match &sender {
        Sender::Console(principal) => (Some(principal.user_id.clone()), Source::console()),
        Sender::Key(key) => (None, Source::ingestion_key(&key.id)),
    };
    let team_id = sender.team_id().to_string();
    let rows = Rows {
        actions: events
            .into_iter()
            .map(|event| ActionRow {
                id: new_id(),
                team_id: team_id.clone(),
                user_id: user_id.clone(),
                action_type: event.action,
                component_id: event.component,
                payload: event.properties,
                timestamp: event.timestamp,
                session_id: event.session_id,
                external_user_id: event.user_id,
                source: source.clone(),
            })
            .collect(),
        ..Rows::default()
    };
    state.ingestor.write(rows).await.map_err(write_error)?;
    Ok(accepted(origin, count))
}

/// Record component metrics: one `{component, metric_name, value, metadata?,
/// timestamp?}` or `{"metrics": [...]}`.
#[utoipa::path(post, path = "/api/telemetry/metrics", tag = "telemetry",
    request_body(content = MetricsBody, description = "One sample or `{\"metrics\": [...]}`; also read when sent as `text/plain`"),
    responses((status = 200, body = Accepted), (status = 400), (status = 401), (status = 403), (status = 413), (status = 422), (status = 503)))]
pub async fn record_metrics(
    State(state): State<AppState>,
    sender: Sender,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let origin = checked_origin(&sender, &headers)?;
    let metrics = validate::metrics(
        &json_body(&headers, &body)?,
        state.telemetry_limits(),
        now_ms(),
    )?;
    let count = metrics.len();
    let user_id = match &sender {
        Sender::Console(principal) => Some(principal.user_id.clone()),
        Sender::Key(_) => None,
    };
    let team_id = sender.team_id().to_string();
    let rows = Rows {
        actions: Vec::new(),
        metrics: metrics
            .into_iter()
            .map(|metric| MetricRow {
                id: new_id(),
                team_id: Some(team_id.clone()),
                component_id: metric.component,
                metric_name: metric.metric_name,
                value: metric.value,
                metadata: metric.metadata,
                user_id: user_id.clone(),
                timestamp: metric.timestamp,
            })
            .collect(),
        ..Rows::default()
    };
    state.ingestor.write(rows).await.map_err(write_error)?;
    Ok(accepted(origin, count))
}

/// CORS preflight for other apps' browsers. It cannot see the key (browsers send
/// no credentials on preflight), so it allows the request shape; the real request
/// is then checked against the key's allowed origins.
async fn preflight(headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let out = response.headers_mut();
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        out.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST"),
        );
        out.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        out.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        out.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

#[derive(Deserialize)]
pub struct MetricsQuery {
    since: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MetricResults {
    pub results: Vec<MetricSample>,
}

/// A component's metrics for your team since `since` (ms since the epoch; default
/// the last 24 hours), newest first, at most 1000.
#[utoipa::path(get, path = "/api/telemetry/metrics/{component_id}", tag = "telemetry",
    params(("component_id" = crate::api::shapes::TelemetryId, Path, description = "component id"),
           ("since" = Option<String>, Query, pattern = r"^(?:\+?[0-9]{1,18})?$",
            description = "ms since the Unix epoch, not in the future; empty or absent: now minus 24 h")),
    responses((status = 200, body = MetricResults), (status = 422, description = "bad since or component id")))]
pub async fn query_metrics(
    State(state): State<AppState>,
    principal: Principal,
    Path(component_id): Path<String>,
    ApiQuery(query): ApiQuery<MetricsQuery>,
) -> AppResult<Json<MetricResults>> {
    let component_id = validate::identifier(
        Some(&serde_json::Value::String(component_id)),
        validate::Field::named("component_id"),
    )?;
    let now = now_ms();
    let since = match query.since.as_deref() {
        None | Some("") => now - 86_400_000,
        Some(text) => match text.parse::<i64>() {
            Ok(ms) if (0..=now).contains(&ms) => ms,
            _ => {
                return Err(AppError::validation(
                    "since",
                    "must be milliseconds since the Unix epoch, not in the future (a timestamp, not a duration)",
                ));
            }
        },
    };
    let results =
        super::metric_samples(&state.db, &principal.team_id, &component_id, since).await?;
    Ok(Json(MetricResults { results }))
}

/// Server-sent events of your team's telemetry as it is stored (`telemetry.event`,
/// `telemetry.metric`). Resume with `Last-Event-ID`; a `resync` event means events
/// were missed and the client should reload its state.
#[utoipa::path(get, path = "/api/telemetry/stream", tag = "telemetry",
    responses((status = 200, description = "Server-sent events", content_type = "text/event-stream", body = String),
              (status = 429, description = "too many live streams open (per user or in total)")))]
pub async fn stream_events(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let permit = state.open_stream(&principal).await?;
    Ok(state.bus.sse_response(
        crate::bus::Scope::Team(principal.team_id),
        crate::bus::Feed::Telemetry,
        &headers,
        permit,
    ))
}

const SDK_JS: &str = include_str!("../../assets/sdk/telemetry.js");
const SDK_DTS: &str = include_str!("../../assets/sdk/telemetry.d.ts");

async fn sdk_module() -> Response {
    sdk_file("text/javascript; charset=utf-8", SDK_JS)
}

async fn sdk_types() -> Response {
    sdk_file("application/typescript; charset=utf-8", SDK_DTS)
}

fn sdk_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}
