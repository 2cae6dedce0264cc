//! The OTLP ingest benchmark for `scripts/bench`: `connections` senders post
//! OTLP/HTTP protobuf exports to `/v1/traces` for `seconds`, each request 100
//! spans (10 traces of a root span and 9 GenAI model calls, fresh ids every
//! time), and wait for each answer before the next, as an exporter does.
//!
//! cargo run --release --example otlp_bench -- <hummbl URL> <ingestion key> <connections> <seconds>
//! prints `key=value` lines: requests, refused, spans/s acknowledged, the model
//! calls among them (what the store must end up holding), latency p50/p99.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

#[path = "shared/bench.rs"]
mod bench;
use bench::percentiles;

const TRACES_PER_REQUEST: u64 = 10;
const CALLS_PER_TRACE: u64 = 9;

fn attribute(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

/// One export of fresh traces; `sequence` makes its ids unique.
fn export(sequence: u64) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |now| now.as_nanos() as u64);
    let mut spans = Vec::new();
    for trace in 0..TRACES_PER_REQUEST {
        let trace_id = [sequence.to_be_bytes(), (trace + 1).to_be_bytes()].concat();
        let root_id = ((trace + 1) << 8).to_be_bytes().to_vec();
        spans.push(Span {
            trace_id: trace_id.clone(),
            span_id: root_id.clone(),
            name: "handle request".into(),
            start_time_unix_nano: now,
            end_time_unix_nano: now + 900_000_000,
            ..Span::default()
        });
        for call in 1..=CALLS_PER_TRACE {
            spans.push(Span {
                trace_id: trace_id.clone(),
                span_id: (((trace + 1) << 8) + call).to_be_bytes().to_vec(),
                parent_span_id: root_id.clone(),
                name: "chat gpt-4o-mini".into(),
                start_time_unix_nano: now + call * 1_000_000,
                end_time_unix_nano: now + call * 1_000_000 + 80_000_000,
                attributes: vec![
                    attribute("gen_ai.operation.name", Value::StringValue("chat".into())),
                    attribute("gen_ai.system", Value::StringValue("openai".into())),
                    attribute(
                        "gen_ai.request.model",
                        Value::StringValue("gpt-4o-mini".into()),
                    ),
                    attribute("gen_ai.usage.input_tokens", Value::IntValue(1_200)),
                    attribute("gen_ai.usage.output_tokens", Value::IntValue(150)),
                    attribute("gen_ai.usage.cache_read.input_tokens", Value::IntValue(200)),
                ],
                ..Span::default()
            });
        }
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attribute(
                    "service.name",
                    Value::StringValue("bench-service".into()),
                )],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
    .encode_to_vec()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 5,
        "usage: otlp_bench <url> <key> <connections> <seconds>"
    );
    let (base, key) = (args[1].clone(), args[2].clone());
    let connections: u64 = args[3].parse()?;
    let seconds: u64 = args[4].parse()?;
    let client = reqwest::Client::new();
    // Ids unique across runs too: a later run's spans must not repeat an
    // earlier run's (they would be exporter retries, and count once).
    let first = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |now| now.as_micros() as u64);
    let sequence = Arc::new(AtomicU64::new(first));
    let refused = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..connections {
        let (client, base, key) = (client.clone(), base.clone(), key.clone());
        let (sequence, refused) = (sequence.clone(), refused.clone());
        senders.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let body = export(sequence.fetch_add(1, Ordering::Relaxed));
                let sent = Instant::now();
                let answer = client
                    .post(format!("{base}/v1/traces"))
                    .bearer_auth(&key)
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .send()
                    .await;
                match answer {
                    Ok(answer) if answer.status().is_success() => {
                        let _ = answer.bytes().await;
                        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for sender in senders {
        latencies.extend(sender.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let acknowledged = latencies.len() as u64;
    let spans = acknowledged * TRACES_PER_REQUEST * (1 + CALLS_PER_TRACE);
    let (p50, p99) = percentiles(&mut latencies);
    println!("requests={acknowledged}");
    println!("refused={}", refused.load(Ordering::Relaxed));
    println!("spans_acknowledged={spans}");
    println!(
        "calls_acknowledged={}",
        acknowledged * TRACES_PER_REQUEST * CALLS_PER_TRACE
    );
    println!("spans_per_sec={:.0}", spans as f64 / elapsed);
    println!("p50_ms={p50:.2}");
    println!("p99_ms={p99:.2}");
    Ok(())
}
