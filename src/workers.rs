//! Background workers running inside the server process. Each worker is a `tick`
//! that does one bounded unit of work and reports what it did; the loop around it
//! only waits, ticks and stops on shutdown. Tests call `tick` directly.

use std::time::Duration;

use tokio::task::JoinSet;

use crate::app::AppState;

/// Handles of the spawned workers, joined at shutdown.
pub struct Workers(JoinSet<()>);

impl Workers {
    pub async fn join(mut self) {
        while let Some(result) = self.0.join_next().await {
            if let Err(err) = result {
                tracing::error!(error = %err, "worker ended abnormally");
            }
        }
    }
}

pub fn spawn(state: &AppState) -> Workers {
    let mut set = JoinSet::new();
    set.spawn(run_every(
        state.clone(),
        Duration::from_secs(60),
        "maintenance",
        maintenance_tick,
    ));
    set.spawn(crate::executions::runner::run(state.clone()));
    crate::bus::bridge::spawn(state, &mut set);
    if state.config.demo {
        set.spawn(crate::demo::live::run(state.clone()));
    }
    Workers(set)
}

async fn run_every<F, Fut>(state: AppState, period: Duration, name: &'static str, tick: F)
where
    F: Fn(AppState) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<u64>>,
{
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            _ = interval.tick() => {}
        }
        match tick(state.clone()).await {
            Ok(0) => {}
            Ok(done) => tracing::debug!(worker = name, done, "tick"),
            Err(err) => tracing::warn!(worker = name, error = %err, "tick failed"),
        }
    }
    tracing::debug!(worker = name, "stopped");
}

/// Deletes expired sessions (a bounded batch) and forgets idle rate-limit keys.
pub async fn maintenance_tick(state: AppState) -> anyhow::Result<u64> {
    state.login_limiter.shrink();
    Ok(crate::auth::session::prune_expired(&state.db, 500).await?)
}

/// Writes finished per-minute request counts into `component_metrics`.
pub async fn request_stats_tick(state: AppState) -> anyhow::Result<u64> {
    Ok(flush_request_stats(&state, false).await)
}

/// Writes request counts: finished minutes, or everything (at shutdown).
pub async fn flush_request_stats(state: &AppState, everything: bool) -> u64 {
    let rows = state
        .request_stats
        .drain(crate::storage::now_ms(), everything);
    let count = rows.len() as u64;
    if let Err(err) = state.ingestor.write(rows).await {
        tracing::warn!(error = %err, "request metrics not written");
        return 0;
    }
    count
}

/// Prunes telemetry past its retention, a few small batches per tick so a large
/// backlog never holds the writer for long.
pub async fn retention_tick(state: AppState) -> anyhow::Result<u64> {
    let mut removed = 0;
    for _ in 0..20 {
        let batch =
            crate::telemetry::prune(&state.db, state.config.telemetry.retention_days, 1000).await?;
        removed += batch;
        if batch == 0 || state.shutdown.is_cancelled() {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok(removed)
}
