//! OpenTelemetry in, against the real server: the real OpenTelemetry Python SDK
//! (`tests/otel/emit.py`, from the virtual environment `scripts/test` makes:
//! `HUMMBL_TEST_OTEL_PYTHON`) exports OpenAI- and Anthropic-shaped traces over
//! OTLP/HTTP protobuf, gzip and JSON; the executions, steps, tokens, cost and
//! error groups HUMMBL stores must equal what was sent. Hand-built requests
//! cover refusals: a bad key, undecodable bodies, partial success, a retried
//! export counted once.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{TestApp, client};
use hummbl::auth::Role;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Any};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::{Value, json};

async fn team_and_key(app: &TestApp, tag: &str) -> (String, String, String) {
    let (user, team) = app
        .user(
            &format!("{tag}@example.com"),
            "owner-password-1",
            None,
            Role::Owner,
        )
        .await;
    let cookie = app.session_cookie(&user, &team).await;
    let created: Value = client()
        .post(app.url("/api/ingestion-keys"))
        .header("cookie", &cookie)
        .json(&json!({"name": "llm services", "allowed_origins": []}))
        .send()
        .await
        .expect("create key")
        .json()
        .await
        .expect("json");
    let key = created["key"].as_str().expect("key").to_string();
    (team, cookie, key)
}

/// A page (or any text) as the signed-in `cookie` sees it.
async fn text_of(app: &TestApp, cookie: &str, path: &str) -> String {
    client()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap_or_else(|err| panic!("GET {path}: {err}"))
        .text()
        .await
        .expect("body")
}

/// A JSON answer as the signed-in `cookie` sees it.
async fn json_of(app: &TestApp, cookie: &str, path: &str) -> Value {
    serde_json::from_str(&text_of(app, cookie, path).await).expect("json")
}

fn python() -> Option<String> {
    match std::env::var("HUMMBL_TEST_OTEL_PYTHON") {
        Ok(python) => Some(python),
        Err(_) => {
            assert!(
                std::env::var("CI").map_or(true, |ci| ci != "true"),
                "CI=true but HUMMBL_TEST_OTEL_PYTHON (the OpenTelemetry SDK) is not set"
            );
            eprintln!("skipped: HUMMBL_TEST_OTEL_PYTHON is not set (scripts/test sets it)");
            None
        }
    }
}

/// Runs the emitter; returns trace ids by name.
async fn emit(python: &str, app: &TestApp, key: &str, mode: &str) -> HashMap<String, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otel/emit.py");
    let output = tokio::process::Command::new(python)
        .args([script, &app.url(""), key, mode])
        .output()
        .await
        .expect("run the emitter");
    assert!(
        output.status.success(),
        "emitter failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let line: Value = serde_json::from_str(line).expect("a JSON line");
            (
                line["name"].as_str().expect("name").to_string(),
                line["trace_id"].as_str().expect("id").to_string(),
            )
        })
        .collect()
}

#[derive(Debug, sqlx::FromRow)]
struct External {
    id: String,
    status: String,
    source: String,
    triggered_by: String,
    workflow: String,
    steps_total: i64,
    input_tokens: i64,
    output_tokens: i64,
    cached_tokens: i64,
    cost_micros: i64,
    error: Option<String>,
    input: Option<String>,
}

/// The trace's execution once its spans are folded (and `steps` steps made).
async fn execution_of(app: &TestApp, team: &str, trace_id: &str, steps: i64) -> External {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let found: Option<External> = sqlx::query_as(
            "SELECT e.id, e.status, e.source, e.triggered_by, w.name AS workflow, e.steps_total, e.input_tokens, \
             e.output_tokens, e.cached_tokens, e.cost_micros, e.error, e.input FROM executions e \
             JOIN workflows w ON w.id = e.workflow_id WHERE e.team_id = $1 AND e.trace_id = $2",
        )
        .bind(team)
        .bind(trace_id)
        .fetch_optional(app.db.read())
        .await
        .expect("query");
        if let Some(found) = found.filter(|found| {
            found.steps_total == steps
                && found
                    .input
                    .as_deref()
                    .is_some_and(|input| input.contains("root_span\":\""))
        }) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "trace {trace_id} was not folded into {steps} steps"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sdk_export_is_stored_as_sent(mode: &str) {
    let Some(python) = python() else { return };
    let app = TestApp::spawn().await;
    let (team, cookie, key) = team_and_key(&app, &format!("sdk-{mode}")).await;
    let traces = emit(&python, &app, &key, mode).await;
    let service = format!("support-bot-{mode}");

    let openai = execution_of(&app, &team, &traces["openai"], 1).await;
    assert_eq!(
        (
            openai.status.as_str(),
            openai.source.as_str(),
            openai.triggered_by.as_str()
        ),
        ("succeeded", "otlp", "otlp")
    );
    assert_eq!(openai.workflow, service, "the service is the workflow");
    // 1,200 input including 200 cached: 1,000 + 200 cached, 300 out.
    assert_eq!(
        (
            openai.input_tokens,
            openai.cached_tokens,
            openai.output_tokens
        ),
        (1_000, 200, 300)
    );
    // gpt-4o-mini: $0.15 / $0.60 / $0.075 per million → 150 + 180 + 15 micro-dollars.
    assert_eq!(openai.cost_micros, 345);
    let input: Value = serde_json::from_str(openai.input.as_deref().expect("input")).expect("json");
    assert_eq!(input["root_span"], "handle ticket");
    let step: (String, String, String, i64) = sqlx::query_as(
        "SELECT provider, model, input, latency_ms FROM task_results WHERE execution_id = $1",
    )
    .bind(&openai.id)
    .fetch_one(app.db.read())
    .await
    .expect("step");
    assert_eq!(
        (step.0.as_str(), step.1.as_str(), step.2.as_str()),
        ("openai", "gpt-4o-mini-2024-07-18", "chat gpt-4o-mini")
    );
    assert!(step.3 >= 0);

    let anthropic = execution_of(&app, &team, &traces["anthropic"], 1).await;
    // 2,112 sent = 2,000 read + 100 written + 12: 112 input, 2,000 cached.
    assert_eq!(
        (
            anthropic.input_tokens,
            anthropic.cached_tokens,
            anthropic.output_tokens
        ),
        (112, 2_000, 40)
    );
    // claude-3-5-haiku: $0.80 / $4.00 / $0.08 per million → 89.6 + 160 + 160.
    assert_eq!(anthropic.cost_micros, 410);

    let failed = execution_of(&app, &team, &traces["failed"], 1).await;
    assert_eq!(failed.status, "failed");
    assert_eq!(failed.error.as_deref(), Some("429 Too Many Requests"));
    let group: (String, i64) = sqlx::query_as(
        "SELECT error_class, occurrences FROM error_groups WHERE team_id = $1 AND last_execution_id = $2",
    )
    .bind(&team)
    .bind(&failed.id)
    .fetch_one(app.db.read())
    .await
    .expect("the failure is in the error log");
    assert_eq!(group, ("RateLimitError".to_string(), 1));
    let log = text_of(&app, &cookie, "/logs/errors").await;
    assert!(log.contains("429 Too Many Requests") && log.contains("external (OpenTelemetry)"));
    for (source, groups) in [("otlp", 1), ("hummbl", 0)] {
        let body = json_of(&app, &cookie, &format!("/api/errors?source={source}")).await;
        assert_eq!(body["groups"].as_array().map(Vec::len), Some(groups));
    }

    let split = execution_of(&app, &team, &traces["split"], 2).await;
    assert_eq!(
        (split.input_tokens, split.output_tokens),
        (300, 30),
        "both calls joined one execution"
    );

    // The pages' APIs see them: the monitor's list by source, the token roll-ups.
    let listed: Value = json_of(&app, &cookie, "/api/executions?source=otlp").await;
    let listed = listed["executions"].as_array().expect("executions");
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().all(|execution| execution["source"] == "otlp"));
    let hummbl_run: Value = json_of(&app, &cookie, "/api/executions?source=hummbl").await;
    assert_eq!(hummbl_run["executions"].as_array().map(Vec::len), Some(0));
    let rolled: (i64, i64) = sqlx::query_as(
        "SELECT CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(cost_micros) AS BIGINT) FROM rollup_steps_daily WHERE team_id = $1",
    )
    .bind(&team)
    .fetch_one(app.db.read())
    .await
    .expect("roll-up");
    assert_eq!(rolled, (1_000 + 112 + 300, 345 + 410 + split.cost_micros));
    let executions_rolled: i64 = sqlx::query_scalar(
        "SELECT CAST(SUM(executions) AS BIGINT) FROM rollup_executions_daily WHERE team_id = $1",
    )
    .bind(&team)
    .fetch_one(app.db.read())
    .await
    .expect("roll-up");
    assert_eq!(
        executions_rolled, 4,
        "each trace counts once, however many requests it came in"
    );
    // The token page's export, by source: the service's calls are OTLP's only.
    let csv = |source: &str| format!("/api/analytics/tokens.csv?days=30&source={source}");
    assert!(
        text_of(&app, &cookie, &csv("otlp"))
            .await
            .contains(&service),
        "the service is a workflow of the token page"
    );
    assert!(
        !text_of(&app, &cookie, &csv("hummbl"))
            .await
            .contains(&service)
    );
    let page = text_of(&app, &cookie, "/analytics/tokens?source=otlp").await;
    assert!(page.contains(&service) && page.contains("gpt-4o-mini-2024-07-18"));
    // The dashboard by source: the four traces are OTLP's, none HUMMBL's.
    for (source, executed) in [("otlp", "4"), ("hummbl", "0")] {
        let html = text_of(&app, &cookie, &format!("/analytics?days=7&source={source}")).await;
        let card = html
            .split(r#"id="card-executions">"#)
            .nth(1)
            .expect("the executions card");
        let metric = card
            .split("<p class=\"metric\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next());
        assert_eq!(metric, Some(executed));
    }
    app.stop().await;
}

#[tokio::test]
async fn sdk_protobuf_export_is_stored_as_sent() {
    sdk_export_is_stored_as_sent("protobuf").await;
}

#[tokio::test]
async fn sdk_gzip_export_is_stored_as_sent() {
    sdk_export_is_stored_as_sent("gzip").await;
}

#[tokio::test]
async fn sdk_json_export_is_stored_as_sent() {
    sdk_export_is_stored_as_sent("json").await;
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Any::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Any::IntValue(value)),
        }),
        ..Default::default()
    }
}

fn call_span(trace: u8, span: u8, input_tokens: i64) -> Span {
    let start = 1_765_000_000_000_000_000u64;
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![span; 8],
        name: "chat".into(),
        start_time_unix_nano: start,
        end_time_unix_nano: start + 120_000_000,
        attributes: vec![
            text("gen_ai.system", "openai"),
            text("gen_ai.request.model", "gpt-4o-mini"),
            int("gen_ai.usage.input_tokens", input_tokens),
            int("gen_ai.usage.output_tokens", 5),
        ],
        ..Default::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "hand-built")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn post_protobuf(app: &TestApp, key: &str, body: Vec<u8>) -> reqwest::Response {
    client()
        .post(app.url("/v1/traces"))
        .bearer_auth(key)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .expect("post")
}

/// `google.rpc.Status` as the refusals carry it.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[tokio::test]
async fn refusals_follow_the_otlp_rules() {
    let app = TestApp::spawn().await;
    let (_, _, key) = team_and_key(&app, "refusals").await;
    let body = request(vec![call_span(1, 1, 10)]).encode_to_vec();

    let no_key = client()
        .post(app.url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(no_key.status(), 401);
    let bad_key = post_protobuf(&app, "hmb_ik_not-a-real-key", body.clone()).await;
    assert_eq!(bad_key.status(), 401);

    let garbage = post_protobuf(&app, &key, b"\xff\xff\xff not protobuf".to_vec()).await;
    assert_eq!(garbage.status(), 400);
    assert_eq!(garbage.headers()["content-type"], "application/x-protobuf");
    let status =
        RpcStatus::decode(garbage.bytes().await.expect("body")).expect("a google.rpc.Status");
    assert_eq!(status.code, 3);
    assert!(
        status
            .message
            .contains("not an OTLP ExportTraceServiceRequest"),
        "{}",
        status.message
    );

    let bad_json = client()
        .post(app.url("/v1/traces"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(r#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(bad_json.status(), 400);
    let answer: Value = bad_json.json().await.expect("json");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|message| message.contains("OTLP/JSON")),
        "{answer}"
    );

    let wrong_type = client()
        .post(app.url("/v1/traces"))
        .bearer_auth(&key)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .expect("post");
    assert_eq!(wrong_type.status(), 415);

    let corrupt_gzip = client()
        .post(app.url("/v1/traces"))
        .bearer_auth(&key)
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(corrupt_gzip.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn bad_spans_are_a_partial_success_and_a_resent_export_counts_once() {
    let app = TestApp::spawn().await;
    let (team, _, key) = team_and_key(&app, "partial").await;
    let mut zero_trace = call_span(7, 3, 10);
    zero_trace.trace_id = vec![0; 16];
    let body = request(vec![call_span(7, 1, 40), zero_trace]).encode_to_vec();
    let answer = post_protobuf(&app, &key, body).await;
    assert_eq!(answer.status(), 200);
    let answer =
        ExportTraceServiceResponse::decode(answer.bytes().await.expect("body")).expect("response");
    let partial = answer.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("traceId"),
        "{}",
        partial.error_message
    );

    // The exporter retries the same spans: the call counts once.
    let resent = post_protobuf(
        &app,
        &key,
        request(vec![call_span(7, 1, 40)]).encode_to_vec(),
    )
    .await;
    assert_eq!(resent.status(), 200);
    let trace_id = "07".repeat(16);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM otlp_spans")
            .fetch_one(app.db.read())
            .await
            .expect("count");
        if queued == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the queue was not folded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let totals: (i64, i64) = sqlx::query_as(
        "SELECT steps_total, input_tokens FROM executions WHERE team_id = $1 AND trace_id = $2",
    )
    .bind(&team)
    .bind(&trace_id)
    .fetch_one(app.db.read())
    .await
    .expect("execution");
    assert_eq!(totals, (1, 40));
    let rolled: i64 = sqlx::query_scalar(
        "SELECT CAST(SUM(input_tokens) AS BIGINT) FROM rollup_executions_daily WHERE team_id = $1",
    )
    .bind(&team)
    .fetch_one(app.db.read())
    .await
    .expect("roll-up");
    assert_eq!(
        rolled, 40,
        "the execution's roll-up was replaced, not added to"
    );

    // External executions are not retried here; the monitor marks them.
    let (user, _) = app
        .user(
            "partial-member@example.com",
            "member-password-1",
            Some(&team),
            Role::Member,
        )
        .await;
    let cookie = app.session_cookie(&user, &team).await;
    let id: String = sqlx::query_scalar("SELECT id FROM executions WHERE trace_id = $1")
        .bind(&trace_id)
        .fetch_one(app.db.read())
        .await
        .expect("id");
    let retry = client()
        .post(app.url(&format!("/api/executions/{id}/retry")))
        .header("cookie", &cookie)
        .json(&json!({}))
        .send()
        .await
        .expect("retry");
    assert_eq!(retry.status(), 409);
    let page = text_of(&app, &cookie, "/monitor?source=otlp").await;
    assert!(
        page.contains(&id) && page.contains(">external<"),
        "the monitor lists it as external"
    );
    let detail = text_of(&app, &cookie, &format!("/monitor/{id}")).await;
    assert!(detail.contains("sent over OpenTelemetry by") && detail.contains(&trace_id));
    app.stop().await;
}
