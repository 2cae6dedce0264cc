//! OpenTelemetry out (off unless `otlp_endpoint` / `HUMMBL_OTLP_ENDPOINT` is
//! set): each execution HUMMBL runs, once it ends, goes to the team's collector
//! as one trace over OTLP/HTTP protobuf: a root span for the execution and a
//! GenAI client span per step, with the attributes `mapping` reads on the way
//! in (so Tempo, Jaeger or Grafana show the same provider, model and tokens).
//!
//! The runner only offers an execution's id to a bounded queue and never
//! waits: a full queue, or a collector that keeps refusing after three tries,
//! drops the executions, counted in `hummbl_otlp_export_dropped_executions_total`.
//! One sender task batches up to [`BATCH`] executions per request.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prometheus_client::metrics::counter::Counter;
use prost::Message;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::executions::{ExecutionDetail, Status as RunStatus, StepResult};
use crate::storage::Db;

/// Executions waiting to be sent; more are dropped.
const QUEUE: usize = 10_000;
/// Most executions in one export request.
const BATCH: usize = 100;
const ATTEMPTS: u32 = 3;

/// Where and how to send (from the configuration).
#[derive(Debug, Clone)]
pub struct ExportTarget {
    /// The collector's traces URL (`…/v1/traces`).
    pub url: url::Url,
    /// Extra headers, e.g. the collector's API key (kept out of logs).
    pub headers: Vec<(String, secrecy::SecretString)>,
}

impl ExportTarget {
    /// From `otlp_endpoint` (a base URL, `/v1/traces` appended unless there)
    /// and `otlp_headers` (`name=value,name=value`, as `OTEL_EXPORTER_OTLP_HEADERS`).
    pub fn parse(endpoint: &str, headers: Option<&str>) -> anyhow::Result<ExportTarget> {
        let mut url = url::Url::parse(endpoint.trim())
            .map_err(|err| anyhow::anyhow!("otlp_endpoint {endpoint:?} is not a URL: {err}"))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https"),
            "otlp_endpoint must start with http:// or https://"
        );
        if !url.path().ends_with("/v1/traces") {
            let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
            url.set_path(&path);
        }
        let headers = headers
            .unwrap_or_default()
            .split(',')
            .filter(|pair| !pair.trim().is_empty())
            .map(|pair| {
                let (name, value) = pair
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("otlp_headers: {pair:?} is not name=value"))?;
                Ok((
                    name.trim().to_string(),
                    secrecy::SecretString::from(value.trim().to_string()),
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(ExportTarget { url, headers })
    }
}

/// The runner's handle; cheap to share.
pub struct Exporter {
    queue: Option<mpsc::Sender<(String, String)>>,
    dropped: Counter,
}

impl Exporter {
    /// Export off: offers are ignored.
    pub fn off() -> Exporter {
        Exporter {
            queue: None,
            dropped: Counter::default(),
        }
    }

    /// Starts the sender task (needs a Tokio runtime).
    pub fn start(db: Db, target: ExportTarget, exported: Counter, dropped: Counter) -> Exporter {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let sender = Sender {
            db,
            target,
            client: reqwest::Client::new(),
            exported,
            dropped: dropped.clone(),
        };
        tokio::spawn(sender.run(receiver));
        Exporter {
            queue: Some(queue),
            dropped,
        }
    }

    /// Queues an ended execution for export, without waiting.
    pub fn offer(&self, team_id: &str, execution_id: &str) {
        let Some(queue) = &self.queue else { return };
        if queue
            .try_send((team_id.to_string(), execution_id.to_string()))
            .is_err()
        {
            self.dropped.inc();
        }
    }
}

struct Sender {
    db: Db,
    target: ExportTarget,
    client: reqwest::Client,
    exported: Counter,
    dropped: Counter,
}

impl Sender {
    async fn run(self, mut receiver: mpsc::Receiver<(String, String)>) {
        while let Some(first) = receiver.recv().await {
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            self.send(&batch).await;
        }
    }

    async fn send(&self, batch: &[(String, String)]) {
        let mut resource_spans = Vec::new();
        for (team_id, id) in batch {
            match crate::executions::get(&self.db, team_id, id).await {
                Ok(Some(execution)) if execution.summary.status.is_finished() => {
                    resource_spans.push(trace_of(team_id, &execution));
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, execution = %id, "reading an execution to export failed");
                    self.dropped.inc();
                }
            }
        }
        if resource_spans.is_empty() {
            return;
        }
        let spans: usize = resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        let executions = resource_spans.len() as u64;
        let body = ExportTraceServiceRequest { resource_spans }.encode_to_vec();
        for attempt in 1..=ATTEMPTS {
            match self.post(body.clone()).await {
                Ok(()) => {
                    self.exported.inc_by(spans as u64);
                    return;
                }
                Err(err) if attempt == ATTEMPTS => {
                    tracing::warn!(error = %err, executions, "the OTLP collector refused the export; dropped");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await,
            }
        }
        self.dropped.inc_by(executions);
    }

    async fn post(&self, body: Vec<u8>) -> anyhow::Result<()> {
        let mut request = self
            .client
            .post(self.target.url.clone())
            .header("content-type", "application/x-protobuf")
            .timeout(Duration::from_secs(10))
            .body(body);
        for (name, value) in &self.target.headers {
            request = request.header(name, secrecy::ExposeSecret::expose_secret(value));
        }
        let answer = request.send().await?;
        anyhow::ensure!(
            answer.status().is_success(),
            "collector answered {}",
            answer.status()
        );
        Ok(())
    }
}

/// One execution as one trace: the root span and a span per step.
fn trace_of(team_id: &str, execution: &ExecutionDetail) -> ResourceSpans {
    let summary = &execution.summary;
    let trace_id = digest(&summary.id)[..16].to_vec();
    let root_id = digest(&format!("{}/root", summary.id))[..8].to_vec();
    let started = summary.started_at.unwrap_or(summary.created_at);
    let ended = summary.completed_at.unwrap_or(started);
    let mut spans = vec![Span {
        trace_id: trace_id.clone(),
        span_id: root_id.clone(),
        name: format!("run {}", summary.workflow_name),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: nanos(started),
        end_time_unix_nano: nanos(ended),
        attributes: vec![
            text("hummbl.execution.id", &summary.id),
            text("hummbl.workflow.id", &summary.workflow_id),
            text("hummbl.workflow.name", &summary.workflow_name),
            int("hummbl.workflow.version", summary.workflow_version),
            text("hummbl.triggered_by", summary.triggered_by.as_str()),
            text("hummbl.status", summary.status.as_str()),
            double("hummbl.cost_usd", summary.cost_micros as f64 / 1e6),
        ],
        status: Some(status(
            summary
                .error
                .as_deref()
                .filter(|_| summary.status == RunStatus::Failed),
        )),
        ..Span::default()
    }];
    spans.extend(
        execution
            .steps
            .iter()
            .filter(|step| step.reused_from.is_none() && step.started_at.is_some())
            .map(|step| step_span(&trace_id, &root_id, step, ended)),
    );
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                text("service.name", "hummbl"),
                text("hummbl.team.id", team_id),
            ],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..ScopeSpans::default()
        }],
        ..ResourceSpans::default()
    }
}

fn step_span(trace_id: &[u8], root_id: &[u8], step: &StepResult, ended: i64) -> Span {
    let model = step.model.as_deref().unwrap_or("unknown");
    let started = step.started_at.unwrap_or(ended);
    let failed = step.status == RunStatus::Failed;
    let mut attributes = vec![
        text("gen_ai.operation.name", "chat"),
        text("gen_ai.request.model", model),
        text("gen_ai.response.model", model),
        // The conventions count cached input inside the input tokens.
        int(
            "gen_ai.usage.input_tokens",
            step.input_tokens + step.cached_tokens,
        ),
        int("gen_ai.usage.output_tokens", step.output_tokens),
        int("gen_ai.usage.cache_read.input_tokens", step.cached_tokens),
        text("hummbl.step.id", &step.step),
        double("hummbl.cost_usd", step.cost_micros as f64 / 1e6),
    ];
    if let Some(provider) = &step.provider {
        attributes.push(text("gen_ai.provider.name", provider));
    }
    if failed {
        attributes.push(text(
            "error.type",
            step.error_class.as_deref().unwrap_or("error"),
        ));
    }
    Span {
        trace_id: trace_id.to_vec(),
        span_id: digest(&step.id)[..8].to_vec(),
        parent_span_id: root_id.to_vec(),
        name: format!("chat {model}"),
        kind: SpanKind::Client as i32,
        start_time_unix_nano: nanos(started),
        end_time_unix_nano: nanos(step.completed_at.unwrap_or(ended).max(started)),
        attributes,
        status: Some(status(step.error.as_deref().filter(|_| failed))),
        ..Span::default()
    }
}

fn status(error: Option<&str>) -> Status {
    match error {
        Some(message) => Status {
            message: message.to_string(),
            code: StatusCode::Error as i32,
        },
        None => Status {
            message: String::new(),
            code: StatusCode::Ok as i32,
        },
    }
}

/// Stable ids from HUMMBL's: a re-export of the same execution is the same trace.
fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn nanos(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0).saturating_mul(1_000_000)
}

fn attribute(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    attribute(key, Value::StringValue(value.into()))
}

fn int(key: &str, value: i64) -> KeyValue {
    attribute(key, Value::IntValue(value))
}

fn double(key: &str, value: f64) -> KeyValue {
    attribute(key, Value::DoubleValue(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_gets_the_traces_path_once() {
        let target =
            ExportTarget::parse("http://collector:4318", Some("x-api-key=abc, tenant = t1"))
                .expect("parsed");
        assert_eq!(target.url.as_str(), "http://collector:4318/v1/traces");
        let headers: Vec<(&str, &str)> = target
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), secrecy::ExposeSecret::expose_secret(value)))
            .collect();
        assert_eq!(headers, [("x-api-key", "abc"), ("tenant", "t1")]);
        let full = ExportTarget::parse("https://otel.example.com/v1/traces", None).expect("parsed");
        assert_eq!(full.url.as_str(), "https://otel.example.com/v1/traces");
        assert!(ExportTarget::parse("ftp://x", None).is_err());
        assert!(ExportTarget::parse("http://x", Some("novalue")).is_err());
    }
}
