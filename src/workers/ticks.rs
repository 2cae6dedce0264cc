//! The ticks of the workers that belong to no single feature's loop: session
//! maintenance, the request-statistics flush and telemetry retention.

use crate::app::AppState;

/// Deletes expired sessions (a bounded batch) and forgets idle rate-limit keys.
pub async fn maintenance(state: AppState) -> anyhow::Result<u64> {
    state.login_limiter.shrink();
    Ok(crate::auth::session::prune_expired(&state.db, 500).await?)
}

/// Writes finished per-minute request counts into `component_metrics`.
pub async fn request_stats(state: AppState) -> anyhow::Result<u64> {
    Ok(flush_request_stats(&state, false).await)
}

/// Writes request counts: finished minutes, or everything (at shutdown). The rows
/// go to the telemetry writer in batches of its own size, so a long backlog is
/// never refused whole for being larger than the writer's queue.
pub async fn flush_request_stats(state: &AppState, everything: bool) -> u64 {
    let rows = state
        .request_stats
        .drain(crate::storage::now_ms(), everything);
    let batch = state.config.telemetry.max_batch.max(1);
    let mut written = 0;
    let mut metrics = rows.metrics;
    while !metrics.is_empty() {
        let rest = metrics.split_off(batch.min(metrics.len()));
        let chunk = crate::telemetry::ingest::Rows {
            metrics: std::mem::replace(&mut metrics, rest),
            ..Default::default()
        };
        let count = chunk.len() as u64;
        match state.ingestor.write(chunk).await {
            Ok(()) => written += count,
            Err(err) => tracing::warn!(error = %err, rows = count, "request metrics not written"),
        }
    }
    written
}

/// Rows one retention transaction deletes per table: small enough that the
/// single SQLite writer is never held for long.
const RETENTION_BATCH: i64 = 2000;

/// Prunes telemetry past its retention in small transactions until none is left
/// (or shutdown), yielding between them so other writes interleave; then read
/// notifications past theirs.
pub async fn retention(state: AppState) -> anyhow::Result<u64> {
    let days = state.config.telemetry.retention_days;
    let cutoff =
        crate::storage::now_ms() - i64::from(state.config.notification_retention_days) * 86_400_000;
    let mut removed = crate::notifications::delete_read_before(&state.db, cutoff).await?;
    loop {
        let batch = crate::telemetry::prune(&state.db, days, RETENTION_BATCH).await?;
        removed += batch;
        if batch == 0 || state.shutdown.is_cancelled() {
            return Ok(removed);
        }
        tokio::task::yield_now().await;
    }
}
