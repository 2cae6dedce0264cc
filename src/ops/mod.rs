//! Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI
//! document, and the per-request tracing span (with the request id).

pub mod metrics;
pub mod openapi;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

use crate::app::AppState;
use crate::routes::Route;

pub fn routes() -> Vec<Route> {
    vec![
        Route::raw(Method::GET, "/healthz", healthz).public(),
        Route::raw(Method::GET, "/readyz", readyz).public(),
        Route::raw(Method::GET, "/metrics", metrics_text).public(),
        Route::raw(Method::GET, "/api/openapi.json", openapi_json).public(),
    ]
}

/// 200 while the process serves.
async fn healthz() -> &'static str {
    "ok"
}

/// 200 when storage answers, 503 otherwise (load balancers stop sending traffic).
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    if state.db.ping().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable")
    }
}

/// Prometheus text. Open by default (scrapers usually sit on a private
/// network); with `metrics_token` set, only a scraper presenting it may read.
async fn metrics_text(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.config.metrics_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        let expected = token.expose_secret();
        if aws_lc_rs::constant_time::verify_slices_are_equal(
            presented.as_bytes(),
            expected.as_bytes(),
        )
        .is_err()
        {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics need the token: Authorization: Bearer <metrics_token>",
            )
                .into_response();
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(state.streams.count()),
    )
        .into_response()
}

async fn openapi_json() -> impl IntoResponse {
    Json(openapi::document())
}

/// The tracing span every request runs in; carries the request id.
pub fn request_span(request: &Request) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    let path = loggable_path(request.uri().path());
    tracing::info_span!("request", id = %id, method = %request.method(), path = %path)
}

/// The path as logged: an invitation link's token is a credential, so it is
/// replaced by `…` (the route is still recognisable).
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/invite/") {
        Some(token) if !token.is_empty() => "/invite/…".into(),
        _ => path.into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn invitation_tokens_never_reach_the_log() {
        assert_eq!(super::loggable_path("/invite/s3cr3t-token"), "/invite/…");
        assert_eq!(super::loggable_path("/monitor/abc"), "/monitor/abc");
    }
}
