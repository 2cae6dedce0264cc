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

pub mod fold;
pub mod handlers;
pub mod mapping;
mod store;

use std::sync::Arc;

use tokio::sync::Notify;

pub use handlers::routes;
pub use mapping::KeptSpan;

/// Wakes the `otlp` worker when spans were queued.
#[derive(Default)]
pub struct Folder {
    wake: Arc<Notify>,
}

impl Folder {
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}
