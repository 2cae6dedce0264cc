//! Request instrumentation: every page and API request is attributed to its
//! component and counted in memory per minute (requests, 5xx answers, a latency
//! histogram). A worker writes each finished minute into `component_metrics` as a
//! handful of rows (`requests`, `errors_5xx`, `latency_p50_ms`, `latency_p95_ms`,
//! `latency_p99_ms`), never one row per request.
//!
//! Latency percentiles come from log-spaced buckets (each 25 % wider than the
//! last, from 50 µs); a percentile is reported as its bucket's upper bound, so it
//! is at most 25 % high and never low.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::storage::new_id;
use crate::telemetry::ingest::{MetricRow, Rows};

const BUCKETS: usize = 64;
const FIRST_BOUND_MS: f64 = 0.05;
const GROWTH: f64 = 1.25;
const MINUTE_MS: i64 = 60_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    minute: i64,
    team_id: Option<String>,
    component: &'static str,
}

struct Window {
    requests: u64,
    errors: u64,
    buckets: [u32; BUCKETS],
}

impl Window {
    fn new() -> Window {
        Window {
            requests: 0,
            errors: 0,
            buckets: [0; BUCKETS],
        }
    }

    fn percentile_ms(&self, quantile: f64) -> f64 {
        let wanted = ((self.requests as f64) * quantile).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (index, count) in self.buckets.iter().enumerate() {
            seen += u64::from(*count);
            if seen >= wanted {
                return upper_bound_ms(index);
            }
        }
        upper_bound_ms(BUCKETS - 1)
    }
}

fn upper_bound_ms(index: usize) -> f64 {
    let bound = FIRST_BOUND_MS * GROWTH.powi(index as i32);
    (bound * 1000.0).round() / 1000.0
}

fn bucket_of(latency_ms: f64) -> usize {
    if latency_ms <= FIRST_BOUND_MS {
        return 0;
    }
    let index = (latency_ms / FIRST_BOUND_MS).ln() / GROWTH.ln();
    (index.ceil() as usize).min(BUCKETS - 1)
}

/// Per-minute request counts, by team and component.
#[derive(Default)]
pub struct RequestStats {
    windows: Mutex<HashMap<Key, Window>>,
}

impl RequestStats {
    pub fn record(
        &self,
        team_id: Option<&str>,
        component: &'static str,
        server_error: bool,
        latency: Duration,
        now_ms: i64,
    ) {
        let key = Key {
            minute: now_ms - now_ms.rem_euclid(MINUTE_MS),
            team_id: team_id.map(str::to_string),
            component,
        };
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        let window = windows.entry(key).or_insert_with(Window::new);
        window.requests += 1;
        window.errors += u64::from(server_error);
        window.buckets[bucket_of(latency.as_secs_f64() * 1000.0)] += 1;
    }

    /// Takes the windows that ended before `now_ms` (all of them with `everything`,
    /// at shutdown) and turns them into metric rows.
    pub fn drain(&self, now_ms: i64, everything: bool) -> Rows {
        let current = now_ms - now_ms.rem_euclid(MINUTE_MS);
        let finished: Vec<(Key, Window)> = match self.windows.lock() {
            Ok(mut windows) => {
                let keys: Vec<Key> = windows
                    .keys()
                    .filter(|key| everything || key.minute < current)
                    .cloned()
                    .collect();
                keys.into_iter()
                    .filter_map(|key| windows.remove(&key).map(|window| (key, window)))
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        let mut rows = Rows::default();
        for (key, window) in finished {
            let metric = |name: &str, value: f64| MetricRow {
                id: new_id(),
                team_id: key.team_id.clone(),
                component_id: key.component.to_string(),
                metric_name: name.to_string(),
                value,
                metadata: Some(r#"{"window":"1m","source":"server"}"#.to_string()),
                user_id: None,
                timestamp: key.minute,
            };
            rows.metrics
                .push(metric("requests", window.requests as f64));
            rows.metrics
                .push(metric("errors_5xx", window.errors as f64));
            rows.metrics
                .push(metric("latency_p50_ms", window.percentile_ms(0.50)));
            rows.metrics
                .push(metric("latency_p95_ms", window.percentile_ms(0.95)));
            rows.metrics
                .push(metric("latency_p99_ms", window.percentile_ms(0.99)));
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(rows: &Rows, name: &str) -> f64 {
        rows.metrics
            .iter()
            .find(|m| m.metric_name == name)
            .map(|m| m.value)
            .expect(name)
    }

    #[test]
    fn a_minute_becomes_five_rows_once_it_is_over() {
        let stats = RequestStats::default();
        let minute = 1_800_000_000_000 - 1_800_000_000_000 % MINUTE_MS;
        for ms in 1..=100u64 {
            stats.record(
                Some("t"),
                "console",
                ms > 98,
                Duration::from_millis(ms),
                minute + 5,
            );
        }
        assert!(
            stats.drain(minute + 30_000, false).is_empty(),
            "the minute is not over yet"
        );
        let rows = stats.drain(minute + MINUTE_MS, false);
        assert_eq!(rows.metrics.len(), 5);
        assert_eq!(value(&rows, "requests"), 100.0);
        assert_eq!(value(&rows, "errors_5xx"), 2.0);
        let p50 = value(&rows, "latency_p50_ms");
        assert!((50.0..=50.0 * GROWTH).contains(&p50), "p50 {p50}");
        let p99 = value(&rows, "latency_p99_ms");
        assert!((99.0..=99.0 * GROWTH).contains(&p99), "p99 {p99}");
        assert!(rows.metrics.iter().all(|m| m.timestamp == minute));
        assert!(
            stats.drain(minute + 10 * MINUTE_MS, true).is_empty(),
            "drained once"
        );
    }

    #[test]
    fn buckets_bound_latency_from_above() {
        for ms in [0.01, 0.05, 0.3, 7.0, 250.0, 4000.0] {
            let bound = upper_bound_ms(bucket_of(ms));
            assert!(
                bound >= ms * 0.999 && bound <= (ms * GROWTH).max(FIRST_BOUND_MS) * 1.001,
                "{ms} -> {bound}"
            );
        }
    }
}
