//! The scheduler benchmark for `scripts/bench`, against a running HUMMBL and a
//! zero-latency fake provider (`examples/fake_provider.rs`):
//!
//! 1. **Slot latency**: a per-second schedule for `seconds`; for each fired
//!    slot, its execution's creation time minus the slot's time (p50/p99).
//! 2. **Holding many schedules**: `idle` schedules that do not come due while
//!    measured (yearly, 1 January); the server's CPU time over 60 s, against
//!    the same 60 s before they existed (needs `SERVER_PID`).
//! 3. **Many due at once**: `due` schedules on `* * * * *`; at the next minute,
//!    the time from the slot to each execution's creation (p50/p99/max).
//!
//! cargo run --release --example scheduler_bench -- <hummbl URL> <fake host:port> <email> <password> [seconds] [idle] [due]
//! prints `key=value` lines.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

#[path = "shared/bench.rs"]
mod bench;
use bench::post;

type Client = reqwest::Client;

async fn get(client: &Client, base: &str, path: &str) -> anyhow::Result<Value> {
    Ok(client
        .get(format!("{base}{path}"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The server's user + system CPU time in seconds, from /proc.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Each fired slot's delay (execution created − slot) for a schedule.
async fn latencies(client: &Client, base: &str, schedule: &str) -> anyhow::Result<Vec<i64>> {
    let history = get(
        client,
        base,
        &format!("/api/schedules/{schedule}/history?limit=1000"),
    )
    .await?;
    let mut delays = Vec::new();
    for slot in history["slots"].as_array().cloned().unwrap_or_default() {
        let (Some(at), Some(execution)) = (slot["slot_at"].as_i64(), slot["execution_id"].as_str())
        else {
            continue;
        };
        let detail = get(client, base, &format!("/api/executions/{execution}")).await?;
        if let Some(created) = detail["created_at"].as_i64() {
            delays.push(created - at);
        }
    }
    delays.sort_unstable();
    Ok(delays)
}

async fn create_many(
    client: &Client,
    base: &str,
    workflow: &str,
    cron: &str,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let results: Vec<anyhow::Result<Value>> = futures_util::stream::iter(0..count)
        .map(|_| {
            post(
                client,
                base,
                "/api/schedules",
                json!({"workflow_id": workflow, "cron": cron, "timezone": "UTC", "overlap": "allow_all"}),
            )
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results
        .into_iter()
        .map(|created| Ok(created?["id"].as_str().unwrap_or_default().to_string()))
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() >= 4,
        "usage: scheduler_bench <url> <fake addr> <email> <password> [seconds] [idle] [due]"
    );
    let (base, fake, email, password) = (args[0].as_str(), &args[1], &args[2], &args[3]);
    let seconds: u64 = args.get(4).map(|n| n.parse()).transpose()?.unwrap_or(30);
    let idle: usize = args
        .get(5)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(10_000);
    let due: usize = args.get(6).map(|n| n.parse()).transpose()?.unwrap_or(1_000);
    let client = Client::builder().cookie_store(true).build()?;
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
        json!({"provider": "openai", "label": "scheduler bench",
        "key": "sk-test-good-key-1234", "base_url": format!("http://{fake}/v1")}),
    )
    .await?;
    let agent = post(
        &client,
        base,
        "/api/agents",
        json!({"name": "Ticker", "provider": "openai",
        "model": "gpt-4o-mini", "key_id": key["id"]}),
    )
    .await?;
    let workflow = post(
        &client,
        base,
        "/api/workflows",
        json!({"name": "Tick",
        "steps": [{"id": "tick", "agent": agent["id"], "prompt": "Tick"}]}),
    )
    .await?;
    let workflow = workflow["id"].as_str().unwrap_or_default().to_string();

    // 1. A per-second schedule.
    let every_second = create_many(&client, base, &workflow, "* * * * * *", 1).await?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    client
        .patch(format!("{base}/api/schedules/{}", every_second[0]))
        .json(&json!({"enabled": false}))
        .send()
        .await?
        .error_for_status()?;
    let delays = latencies(&client, base, &every_second[0]).await?;
    println!("per_second_slots={}", delays.len());
    println!("slot_latency_p50_ms={}", percentile(&delays, 50.0));
    println!("slot_latency_p99_ms={}", percentile(&delays, 99.0));
    println!(
        "slot_latency_max_ms={}",
        delays.last().copied().unwrap_or(0)
    );

    // 2. Holding many schedules that do not come due.
    let pid = std::env::var("SERVER_PID").ok();
    let minute = Duration::from_secs(60);
    let before = pid.as_deref().and_then(cpu_seconds);
    tokio::time::sleep(minute).await;
    let baseline = pid
        .as_deref()
        .and_then(cpu_seconds)
        .zip(before)
        .map(|(after, before)| after - before);
    let started = std::time::Instant::now();
    create_many(&client, base, &workflow, "0 3 1 1 *", idle).await?;
    println!("idle_schedules={idle}");
    println!(
        "idle_create_per_sec={:.0}",
        idle as f64 / started.elapsed().as_secs_f64()
    );
    let before = pid.as_deref().and_then(cpu_seconds);
    tokio::time::sleep(minute).await;
    let holding = pid
        .as_deref()
        .and_then(cpu_seconds)
        .zip(before)
        .map(|(after, before)| after - before);
    if let (Some(baseline), Some(holding)) = (baseline, holding) {
        println!("cpu_sec_per_min_without={baseline:.2}");
        println!("cpu_sec_per_min_holding={holding:.2}");
    }

    // 3. Many due at the same minute.
    let due_ids = create_many(&client, base, &workflow, "* * * * *", due).await?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let to_next_minute = 60_000 - now_ms % 60_000;
    tokio::time::sleep(Duration::from_millis(to_next_minute + 20_000)).await;
    let mut all = Vec::new();
    for id in &due_ids {
        client
            .patch(format!("{base}/api/schedules/{id}"))
            .json(&json!({"enabled": false}))
            .send()
            .await?
            .error_for_status()?;
    }
    for id in &due_ids {
        let history = get(
            &client,
            base,
            &format!("/api/schedules/{id}/history?limit=5"),
        )
        .await?;
        let slots = history["slots"].as_array().cloned().unwrap_or_default();
        if let Some(slot) = slots.iter().find(|slot| slot["execution_id"].is_string()) {
            let detail = get(
                &client,
                base,
                &format!(
                    "/api/executions/{}",
                    slot["execution_id"].as_str().unwrap_or_default()
                ),
            )
            .await?;
            if let (Some(created), Some(at)) =
                (detail["created_at"].as_i64(), slot["slot_at"].as_i64())
            {
                all.push(created - at);
            }
        }
    }
    all.sort_unstable();
    println!("due_schedules={due}");
    println!("due_fired={}", all.len());
    println!("due_latency_p50_ms={}", percentile(&all, 50.0));
    println!("due_latency_p99_ms={}", percentile(&all, 99.0));
    println!("due_latency_max_ms={}", all.last().copied().unwrap_or(0));
    Ok(())
}
