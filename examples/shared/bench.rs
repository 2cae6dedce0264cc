//! Helpers the benchmark programs share (each includes this file with
//! `#[path]`; a program uses only some of them).
#![allow(dead_code)]

use serde_json::Value;

/// POSTs JSON; a non-2xx answer is an error naming the path and the body.
pub async fn post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let response = client
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "{path}: {status} {body}");
    Ok(body)
}

/// p50 and p99 of `values` (sorted in place); zeros for none.
pub fn percentiles(values: &mut [f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

/// Resident memory of the server, if its pid is known (`SERVER_PID`).
pub fn server_rss_mb() -> Option<f64> {
    let pid = std::env::var("SERVER_PID").ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}
