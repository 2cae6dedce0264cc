//! Prometheus metrics, in a registry owned by the app state (no global recorder,
//! so servers started by parallel tests keep separate counts). Request metrics are
//! labelled by the matched route template, never the raw path, so ids in URLs do
//! not explode the series count.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::app::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabels {
    component: &'static str,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabels {
    worker: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectiveLabels {
    directive: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentOnly {
    component: &'static str,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    in_flight: Gauge,
    component_requests: Family<ComponentLabels, Counter>,
    component_latency: Family<ComponentOnly, Histogram>,
    worker_ticks: Family<WorkerLabels, Counter>,
    worker_failures: Family<WorkerLabels, Counter>,
    csp_violations: Family<DirectiveLabels, Counter>,
    open_streams: Gauge,
    otlp_exported_spans: Counter,
    otlp_export_dropped: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hummbl");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 0.5 ms … ~16 s
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let in_flight = Gauge::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            latency.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being answered",
            in_flight.clone(),
        );
        let component_requests = Family::<ComponentLabels, Counter>::default();
        let component_latency = Family::<ComponentOnly, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "component_requests",
            "Requests per BaseN component, by status class (2xx, 4xx, 5xx, ...)",
            component_requests.clone(),
        );
        registry.register(
            "component_request_duration_seconds",
            "Time to answer a request, per BaseN component",
            component_latency.clone(),
        );
        let worker_ticks = Family::<WorkerLabels, Counter>::default();
        let worker_failures = Family::<WorkerLabels, Counter>::default();
        registry.register(
            "worker_ticks",
            "Ticks of each background worker (workers::table)",
            worker_ticks.clone(),
        );
        registry.register(
            "worker_tick_failures",
            "Ticks of each background worker that ended in an error",
            worker_failures.clone(),
        );
        let csp_violations = Family::<DirectiveLabels, Counter>::default();
        registry.register(
            "csp_violations",
            "Content-Security-Policy violations reported by browsers, by directive",
            csp_violations.clone(),
        );
        let open_streams = Gauge::default();
        registry.register(
            "open_streams",
            "Live streams (SSE) open in this process",
            open_streams.clone(),
        );
        let otlp_exported_spans = Counter::default();
        let otlp_export_dropped = Counter::default();
        registry.register(
            "otlp_exported_spans",
            "Spans of HUMMBL's executions the OTLP collector accepted (otlp_endpoint)",
            otlp_exported_spans.clone(),
        );
        registry.register(
            "otlp_export_dropped_executions",
            "Executions not exported: the export queue was full or the collector kept refusing",
            otlp_export_dropped.clone(),
        );
        Metrics {
            otlp_exported_spans,
            otlp_export_dropped,
            registry,
            open_streams,
            csp_violations,
            worker_ticks,
            worker_failures,
            requests,
            latency,
            in_flight,
            component_requests,
            component_latency,
        }
    }

    /// Counts one request of a component (called by the route guard).
    pub fn observe_component(
        &self,
        component: &'static str,
        status: axum::http::StatusCode,
        elapsed: std::time::Duration,
    ) {
        let class = match status.as_u16() {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.component_requests
            .get_or_create(&ComponentLabels { component, class })
            .inc();
        self.component_latency
            .get_or_create(&ComponentOnly { component })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one Content-Security-Policy violation a browser reported.
    pub fn count_csp_violation(&self, directive: &'static str) {
        self.csp_violations
            .get_or_create(&DirectiveLabels { directive })
            .inc();
    }

    /// Counts one tick of a background worker.
    pub fn observe_tick(&self, worker: &'static str, succeeded: bool) {
        let labels = WorkerLabels { worker };
        self.worker_ticks.get_or_create(&labels).inc();
        if !succeeded {
            self.worker_failures.get_or_create(&labels).inc();
        }
    }

    /// The OTLP exporter's counters: spans exported, executions dropped.
    pub fn otlp_export_counters(&self) -> (Counter, Counter) {
        (
            self.otlp_exported_spans.clone(),
            self.otlp_export_dropped.clone(),
        )
    }

    /// The registry in Prometheus text exposition format, with `open_streams`
    /// (read from the stream registry when scraped).
    pub fn render(&self, open_streams: usize) -> String {
        self.open_streams
            .set(i64::try_from(open_streams).unwrap_or(i64::MAX));
        let mut text = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %err, "encoding metrics failed");
        }
        text
    }
}

/// Counts and times every request by its route template.
pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().to_string();
    let metrics = &state.metrics;
    metrics.in_flight.inc();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.in_flight.dec();
    metrics
        .latency
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .inc();
    response
}
