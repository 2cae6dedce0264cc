//! The runtime benchmark for `scripts/bench`, against a running HUMMBL and a
//! zero-latency fake provider (`examples/fake_provider.rs`):
//!
//! 1. **Overhead**: the same one-step workflow run one at a time; the time from
//!    `POST /run` to its `succeeded` event on the SSE stream, against a direct
//!    call to the fake provider from the same client (p50/p99 of each, and of the
//!    difference).
//! 2. **Throughput**: `--executions` runs submitted by 32 concurrent clients;
//!    executions per second from the first submission to the last completion.
//!
//! cargo run --release --example runtime_bench -- <hummbl URL> <fake host:port> <email> <password> [sequential] [executions]
//! prints `key=value` lines.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[path = "shared/bench.rs"]
mod bench;
use bench::{percentiles, server_rss_mb};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() >= 4,
        "usage: runtime_bench <url> <fake addr> <email> <password> [sequential] [executions]"
    );
    let (base, fake, email, password) = (args[0].clone(), &args[1], &args[2], &args[3]);
    let sequential: usize = args.get(4).map(|n| n.parse()).transpose()?.unwrap_or(300);
    let executions: usize = args.get(5).map(|n| n.parse()).transpose()?.unwrap_or(3000);
    let client = reqwest::Client::builder().cookie_store(true).build()?;
    let login = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?;
    anyhow::ensure!(
        login.status().is_success(),
        "login failed: {}",
        login.status()
    );
    let (post_client, post_base) = (client.clone(), base.clone());
    let post = move |path: String, body: Value| {
        let client = post_client.clone();
        let base = post_base.clone();
        async move {
            let response = client
                .post(format!("{base}{path}"))
                .json(&body)
                .send()
                .await?;
            let status = response.status();
            let body: Value = response.json().await?;
            anyhow::ensure!(status.is_success(), "{path}: {status} {body}");
            anyhow::Ok(body)
        }
    };
    let key = post(
        "/api/keys".into(),
        json!({"provider": "openai", "label": "bench", "key": "sk-test-good-key-1234", "base_url": format!("http://{fake}/v1")}),
    )
    .await?;
    let agent = post(
        "/api/agents".into(),
        json!({"name": "bench agent", "provider": "openai", "model": "gpt-4o-mini", "key_id": key["id"]}),
    )
    .await?;
    let workflow = post(
        "/api/workflows".into(),
        json!({"name": "bench", "steps": [{"id": "only", "agent": agent["id"], "prompt": "Say hi to {{input.n}}"}]}),
    )
    .await?;
    let run_path = format!(
        "/api/workflows/{}/run",
        workflow["id"].as_str().unwrap_or_default()
    );

    // Completions as they arrive on the stream.
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(String, Instant)>();
    // State change (the execution's completed_at, server clock) to arrival here.
    let latencies: std::sync::Arc<std::sync::Mutex<Vec<f64>>> = Default::default();
    let seen_latencies = latencies.clone();
    let stream = client
        .get(format!("{base}/api/executions/stream"))
        .send()
        .await?;
    tokio::spawn(async move {
        let mut bytes = stream.bytes_stream();
        let mut buffer = String::new();
        while let Some(Ok(chunk)) = bytes.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let data = frame.lines().find_map(|line| line.strip_prefix("data: "));
                if let Some(event) = data.and_then(|d| serde_json::from_str::<Value>(d).ok())
                    && matches!(event["status"].as_str(), Some("succeeded" | "failed"))
                    && let Some(id) = event["id"].as_str()
                {
                    if let (Some(completed), Ok(now)) = (
                        event["completed_at"].as_i64(),
                        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH),
                    ) && let Ok(mut all) = seen_latencies.lock()
                    {
                        all.push(now.as_secs_f64() * 1000.0 - completed as f64);
                    }
                    let _ = done_tx.send((id.to_string(), Instant::now()));
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    // 1. Overhead, one at a time.
    let direct_url = format!("http://{fake}/v1/chat/completions");
    let mut direct = Vec::new();
    let mut through = Vec::new();
    for n in 0..sequential {
        let started = Instant::now();
        let response = client
            .post(&direct_url)
            .bearer_auth("sk-test-good-key-1234")
            .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": format!("Say hi to {n}")}]}))
            .send()
            .await?;
        response.bytes().await?;
        direct.push(started.elapsed());
        let started = Instant::now();
        let execution = post(run_path.clone(), json!({"input": {"n": n}})).await?;
        let id = execution["id"].as_str().unwrap_or_default().to_string();
        loop {
            let (done, at) = tokio::time::timeout(Duration::from_secs(30), done_rx.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("stream ended"))?;
            if done == id {
                through.push(at - started);
                break;
            }
        }
    }
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let (d50, d99) = percentiles(&mut direct.iter().map(ms).collect::<Vec<_>>());
    let (t50, t99) = percentiles(&mut through.iter().map(ms).collect::<Vec<_>>());
    println!("sequential={sequential}");
    println!("direct_p50_ms={d50:.2}\ndirect_p99_ms={d99:.2}");
    println!("through_hummbl_p50_ms={t50:.2}\nthrough_hummbl_p99_ms={t99:.2}");
    let mut sse: Vec<f64> = latencies.lock().map(|all| all.clone()).unwrap_or_default();
    let (s50, s99) = percentiles(&mut sse);
    println!("sse_latency_p50_ms={s50:.2}\nsse_latency_p99_ms={s99:.2}");
    println!(
        "overhead_p50_ms={:.2}\noverhead_p99_ms={:.2}",
        t50 - d50,
        t99 - d99
    );

    // 2. Throughput.
    let started = Instant::now();
    let clients = 32;
    let mut submitters = Vec::new();
    for c in 0..clients {
        let (post, run_path) = (post.clone(), run_path.clone());
        submitters.push(tokio::spawn(async move {
            for n in (c..executions).step_by(clients) {
                post(run_path.clone(), json!({"input": {"n": n}})).await?;
            }
            anyhow::Ok(())
        }));
    }
    let mut finished = HashSet::new();
    let mut last = started;
    while finished.len() < executions {
        let (id, at) = tokio::time::timeout(Duration::from_secs(60), done_rx.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("stream ended"))?;
        if finished.insert(id) {
            last = at;
        }
    }
    for submitter in submitters {
        submitter.await??;
    }
    let seconds = (last - started).as_secs_f64();
    println!("executions={executions}");
    println!("throughput_seconds={seconds:.2}");
    println!("executions_per_sec={:.0}", executions as f64 / seconds);
    if let Some(streams) = std::env::var("BENCH_STREAMS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        many_streams(&client, &base, streams, &post, &run_path).await?;
    }
    Ok(())
}

/// Holds `count` monitor streams open, runs 10 executions, and checks every
/// stream saw every completion; reports the server's memory before and after.
async fn many_streams<F, Fut>(
    client: &reqwest::Client,
    base: &str,
    count: usize,
    post: &F,
    run_path: &str,
) -> anyhow::Result<()>
where
    F: Fn(String, Value) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Value>>,
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    let before = server_rss_mb();
    let delivered = std::sync::Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..count {
        let response = client
            .get(format!("{base}/api/executions/stream"))
            .send()
            .await?;
        let delivered = delivered.clone();
        readers.push(tokio::spawn(async move {
            let mut bytes = response.bytes_stream();
            let mut buffer = String::new();
            while let Some(Ok(chunk)) = bytes.next().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let frame: String = buffer.drain(..end + 2).collect();
                    if frame.contains("\"status\":\"succeeded\"")
                        && frame.contains("execution.changed")
                    {
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let holding = server_rss_mb();
    let runs = 10;
    for n in 0..runs {
        post(
            run_path.to_string(),
            json!({"input": {"n": format!("streams-{n}")}}),
        )
        .await?;
    }
    let expected = count * runs;
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = delivered.load(Ordering::Relaxed);
    let mb = |v: Option<f64>| v.map_or("unknown".to_string(), |v| format!("{v:.1}"));
    println!(
        "streams={count}\nstreams_rss_before_mb={}\nstreams_rss_holding_mb={}",
        mb(before),
        mb(holding)
    );
    println!("streams_events_expected={expected}\nstreams_events_delivered={got}");
    for reader in readers {
        reader.abort();
    }
    Ok(())
}
