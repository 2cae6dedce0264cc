//! OpenTelemetry in: `POST /v1/traces` takes the traces of a team's own LLM
//! services (the GenAI conventions, OpenLLMetry, OpenInference), so the
//! analytics, token, cost and error pages cover calls HUMMBL does not run.
//!
//! A request is decoded (`handlers`), each span read into what HUMMBL keeps
//! (`mapping`, which holds the attribute table and the token-counting rule)
//! and queued in `otlp_spans` through the telemetry writer's group commit; it
//! is answered once that committed. The `otlp` worker (`fold`) then folds the
//! queue into *external* executions (source `otlp`): one per trace, its
//! service as the workflow, a step per model call, with roll-ups and error
//! groups kept as the runner keeps them. External executions are never run,
//! cancelled or retried here, and send no notifications.
//!
//! OpenTelemetry out: `export` sends HUMMBL's own executions to the team's
//! collector when `otlp_endpoint` is set.

pub mod export;
pub mod fold;
pub mod handlers;
pub mod mapping;
mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use tokio::sync::Notify;

pub use handlers::routes;
pub use mapping::KeptSpan;

/// Spans waiting to be folded beyond which `/v1/traces` answers 503 (with
/// `Retry-After`, so exporters retry): the queue is a table, and ingesting far
/// faster than the worker folds would only grow it.
pub const MAX_BACKLOG: u64 = 200_000;

/// Wakes the `otlp` worker when spans were queued, and keeps the queue's
/// length as last counted plus what was queued since.
#[derive(Default)]
pub struct Folder {
    wake: Arc<Notify>,
    backlog: AtomicU64,
    /// When the queue was last counted (ms since the epoch).
    counted_at: AtomicI64,
}

/// The queue is counted at most this often; between counts the estimate
/// moves with what this process queues and folds.
const COUNT_EVERY_MS: i64 = 1_000;

impl Folder {
    /// Whether `spans` more fit under [`MAX_BACKLOG`].
    pub fn has_room(&self, spans: usize) -> bool {
        self.backlog.load(Ordering::Relaxed) + spans as u64 <= MAX_BACKLOG
    }

    /// The queue's length as last counted, plus what this process queued since.
    pub fn backlog(&self) -> u64 {
        self.backlog.load(Ordering::Relaxed)
    }

    pub fn queued(&self, spans: usize) {
        self.backlog.fetch_add(spans as u64, Ordering::Relaxed);
    }

    /// Whether the queue is due to be counted again.
    pub fn count_due(&self, now_ms: i64) -> bool {
        now_ms - self.counted_at.load(Ordering::Relaxed) >= COUNT_EVERY_MS
    }

    /// The queue's length as the worker counted it (all replicas' spans).
    pub fn counted(&self, spans: u64, now_ms: i64) {
        self.backlog.store(spans, Ordering::Relaxed);
        self.counted_at.store(now_ms, Ordering::Relaxed);
    }

    /// This process folded `spans` off the queue.
    pub fn folded(&self, spans: usize) {
        let _ = self
            .backlog
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |backlog| {
                Some(backlog.saturating_sub(spans as u64))
            });
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}
