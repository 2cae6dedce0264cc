//! OpenTelemetry out, against the real server: with `otlp_endpoint` pointing
//! at a loopback OTLP/HTTP receiver (an axum server in this test decoding the
//! protobuf exports and checking the configured header), an execution HUMMBL
//! runs arrives there as one trace with a GenAI span per step; with the
//! collector down, the dropped executions are counted in `/metrics` and the
//! runner is not held up.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use common::TestApp;
use common::fake_provider::{FakeProvider, GOOD_KEY};
use common::runtime::{fast_retries, owner_api};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::json;

type Received = Arc<Mutex<Vec<ExportTraceServiceRequest>>>;

/// A loopback OTLP/HTTP receiver; returns its base URL and what it received.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let kept = kept.clone();
            async move {
                // The configured header reaches the collector.
                if headers
                    .get("x-collector-key")
                    .is_none_or(|key| key != "secret-1")
                {
                    return (
                        axum::http::StatusCode::UNAUTHORIZED,
                        [("content-type", "text/plain")],
                        Vec::new(),
                    );
                }
                let request =
                    ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
                kept.lock().expect("lock").push(request);
                (
                    axum::http::StatusCode::OK,
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), received)
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a Any> {
    span.attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.as_ref()?.value.as_ref())
}

async fn run_one(app: &TestApp, fake: &common::fake_provider::Running, tag: &str) -> String {
    let (api, _) = owner_api(app, tag).await;
    let key = api
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = api.agent("Writer", "openai", "gpt-4o-mini", &key).await;
    let workflow = api
        .workflow(
            "Brief",
            json!([
                {"id": "facts", "agent": agent, "prompt": "Facts about {{input.topic}}"},
                {"id": "brief", "agent": agent, "depends_on": ["facts"], "prompt": "Brief on {{steps.facts.output}}"}
            ]),
        )
        .await;
    let id = api.run(&workflow, json!({"topic": "otters"})).await;
    let finished = api.wait_finished(&id).await;
    assert_eq!(finished["status"], "succeeded", "{finished}");
    id
}

#[tokio::test]
async fn executions_are_exported_as_genai_traces() {
    let (collector, received) = receiver().await;
    let app = TestApp::spawn_with(|config| {
        fast_retries(config);
        config.otlp_export = Some(
            hummbl::otlp::export::ExportTarget::parse(&collector, Some("x-collector-key=secret-1"))
                .expect("target"),
        );
    })
    .await;
    let fake = FakeProvider::start().await;
    let id = run_one(&app, &fake, "export").await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let spans: Vec<Span> = loop {
        let spans: Vec<Span> = received
            .lock()
            .expect("lock")
            .iter()
            .flat_map(|request| &request.resource_spans)
            .flat_map(|resource| &resource.scope_spans)
            .flat_map(|scope| scope.spans.clone())
            .collect();
        if !spans.is_empty() {
            break spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing was exported"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(spans.len(), 3, "a root span and one per step");
    let root = spans
        .iter()
        .find(|span| span.parent_span_id.is_empty())
        .expect("a root span");
    assert_eq!(
        attribute(root, "hummbl.execution.id"),
        Some(&Any::StringValue(id.clone()))
    );
    assert!(
        spans.iter().all(|span| span.trace_id == root.trace_id),
        "one trace"
    );
    let stored: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT input_tokens, cached_tokens, output_tokens FROM task_results WHERE execution_id = $1 ORDER BY task_name",
    )
    .bind(&id)
    .fetch_all(app.db.read())
    .await
    .expect("steps");
    let mut calls: Vec<&Span> = spans
        .iter()
        .filter(|span| span.parent_span_id == root.span_id)
        .collect();
    calls.sort_by_key(|span| match attribute(span, "hummbl.step.id") {
        Some(Any::StringValue(step)) => step.clone(),
        _ => String::new(),
    });
    for (call, (input, cached, output)) in calls.iter().zip(&stored) {
        assert_eq!(
            attribute(call, "gen_ai.provider.name"),
            Some(&Any::StringValue("openai".into()))
        );
        assert_eq!(
            attribute(call, "gen_ai.usage.input_tokens"),
            Some(&Any::IntValue(input + cached))
        );
        assert_eq!(
            attribute(call, "gen_ai.usage.output_tokens"),
            Some(&Any::IntValue(*output))
        );
        assert!(call.end_time_unix_nano >= call.start_time_unix_nano);
    }
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("hummbl_otlp_exported_spans_total 3"),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_collector_that_is_down_costs_counted_drops_not_runs() {
    // Nothing listens on port 9.
    let app = TestApp::spawn_with(|config| {
        fast_retries(config);
        config.otlp_export = Some(
            hummbl::otlp::export::ExportTarget::parse("http://127.0.0.1:9", None).expect("target"),
        );
    })
    .await;
    let fake = FakeProvider::start().await;
    run_one(&app, &fake, "down").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let metrics = app.metrics_text().await;
        if metrics.contains("hummbl_otlp_export_dropped_executions_total 1") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the drop was not counted: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}
