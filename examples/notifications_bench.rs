//! The notifications benchmark for `scripts/bench`, against a running HUMMBL
//! and a zero-latency fake provider (`examples/fake_provider.rs`). The event is
//! an execution failing (its notification is written in the transaction that
//! finishes it, to the user who started it):
//!
//! 1. **Event → notification on an open stream**: one open
//!    `/api/notifications/stream`; `events` failing runs one after another;
//!    for each, the arrival time here minus the notification's `created_at`
//!    (server clock, same machine), p50/p99.
//! 2. **Many open streams**: `streams` notification streams held open (the
//!    server needs `max_streams_per_user` at least that), the server's memory
//!    before and while holding them, then 10 failing runs: how many of the
//!    `streams × 10` notifications arrived, and their latency p50/p99.
//!
//! cargo run --release --example notifications_bench -- <hummbl URL> <fake host:port> <email> <password> [events] [streams]
//! prints `key=value` lines.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[path = "shared/bench.rs"]
mod bench;
use bench::{percentiles, post, server_rss_mb};

type Latencies = Arc<Mutex<Vec<f64>>>;

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |now| now.as_secs_f64() * 1000.0)
}

/// Opens a notification stream and reads it: each `notification.created`
/// adds its latency and signals `arrived`.
async fn open_stream(
    client: &reqwest::Client,
    base: &str,
    latencies: Latencies,
    arrived: mpsc::UnboundedSender<()>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let response = client
        .get(format!("{base}/api/notifications/stream"))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "stream: {}",
        response.status()
    );
    Ok(tokio::spawn(async move {
        let mut bytes = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(Ok(chunk)) = bytes.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                if !frame.contains("event: notification.created") {
                    continue;
                }
                let data = frame.lines().find_map(|line| line.strip_prefix("data: "));
                let created = data
                    .and_then(|d| serde_json::from_str::<Value>(d).ok())
                    .and_then(|event| event["notification"]["created_at"].as_i64());
                if let (Some(created), Ok(mut all)) = (created, latencies.lock()) {
                    all.push(now_ms() - created as f64);
                }
                let _ = arrived.send(());
            }
        }
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() >= 4,
        "usage: notifications_bench <url> <fake addr> <email> <password> [events] [streams]"
    );
    let (base, fake, email, password) = (args[0].as_str(), &args[1], &args[2], &args[3]);
    let events: usize = args.get(4).map(|n| n.parse()).transpose()?.unwrap_or(200);
    let streams: usize = args.get(5).map(|n| n.parse()).transpose()?.unwrap_or(1000);
    let client = reqwest::Client::builder().cookie_store(true).build()?;
    post(
        &client,
        base,
        "/api/auth/login",
        json!({"email": email, "password": password}),
    )
    .await?;
    let key = post(
        &client,
        base,
        "/api/keys",
        json!({"provider": "openai", "label": "notifications bench", "key": "sk-test-good-key-1234",
               "base_url": format!("http://{fake}/v1")}),
    )
    .await?;
    let agent = post(
        &client,
        base,
        "/api/agents",
        json!({"name": "failing agent", "provider": "openai", "model": "gpt-4o-mini", "key_id": key["id"]}),
    )
    .await?;
    // A 400 is not retried: each run fails at once, and its starter is told.
    let workflow = post(
        &client,
        base,
        "/api/workflows",
        json!({"name": "Always fails", "steps": [{"id": "only", "agent": agent["id"], "prompt": "[fail:400] {{input.n}}"}]}),
    )
    .await?;
    let run_path = format!(
        "/api/workflows/{}/run",
        workflow["id"].as_str().unwrap_or_default()
    );

    // 1. One stream, one failing run at a time.
    let latencies: Latencies = Arc::default();
    let (arrived_tx, mut arrived) = mpsc::unbounded_channel();
    let reader = open_stream(&client, base, latencies.clone(), arrived_tx).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for n in 0..events {
        post(&client, base, &run_path, json!({"input": {"n": n}})).await?;
        tokio::time::timeout(Duration::from_secs(30), arrived.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("stream ended"))?;
    }
    reader.abort();
    let mut single = latencies.lock().map(|all| all.clone()).unwrap_or_default();
    let (p50, p99) = percentiles(&mut single);
    println!("events={events}\nlatency_p50_ms={p50:.2}\nlatency_p99_ms={p99:.2}");

    // 2. Many streams held open.
    let before = server_rss_mb();
    let fanout: Latencies = Arc::default();
    let (arrived_tx, mut arrived) = mpsc::unbounded_channel();
    let mut readers = Vec::with_capacity(streams);
    for _ in 0..streams {
        readers.push(open_stream(&client, base, fanout.clone(), arrived_tx.clone()).await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let holding = server_rss_mb();
    let runs = 10;
    let started = Instant::now();
    for n in 0..runs {
        post(
            &client,
            base,
            &run_path,
            json!({"input": {"n": format!("streams-{n}")}}),
        )
        .await?;
    }
    let expected = streams * runs;
    let mut delivered = 0;
    while delivered < expected && started.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(())) = tokio::time::timeout(Duration::from_secs(1), arrived.recv()).await {
            delivered += 1;
        }
    }
    for reader in readers {
        reader.abort();
    }
    let mut all = fanout.lock().map(|all| all.clone()).unwrap_or_default();
    let (f50, f99) = percentiles(&mut all);
    let mb = |v: Option<f64>| v.map_or("unknown".to_string(), |v| format!("{v:.1}"));
    println!(
        "streams={streams}\nstreams_rss_before_mb={}\nstreams_rss_holding_mb={}",
        mb(before),
        mb(holding)
    );
    println!("streams_expected={expected}\nstreams_delivered={delivered}");
    println!("streams_latency_p50_ms={f50:.2}\nstreams_latency_p99_ms={f99:.2}");
    Ok(())
}
