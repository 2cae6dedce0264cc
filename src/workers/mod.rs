//! Background workers, as one table. Every periodic job the process runs is a
//! row of [`table`]: a name, when it first ticks, its period, an optional wake-up
//! signal, and a `tick` that does one bounded unit of work and says how much it
//! did. [`spawn`] starts exactly the rows of the table, so a tick that is written
//! but not listed never runs: that happened once (telemetry retention and the
//! request statistics were tested and never started), and `tests/workers.rs`
//! now starts the server and sees every row tick through `/metrics`.
//!
//! Long-lived listeners that do not tick (the PostgreSQL bus bridge) are started
//! here too, after the table.

mod ticks;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::app::AppState;

pub use ticks::flush_request_stats;

/// What one tick returns: how many things it did (rows, executions, ...).
pub type TickResult = Pin<Box<dyn Future<Output = anyhow::Result<u64>> + Send>>;

/// One periodic worker.
pub struct Worker {
    /// The name in logs and in `hummbl_worker_ticks_total{worker=...}`.
    pub name: &'static str,
    /// The first tick comes this long after start-up.
    pub first: Duration,
    /// Then one tick per period (a slow tick delays the next, never doubles it).
    pub period: Duration,
    /// Ticks early when notified (the runner, when an execution is started).
    pub wake: Option<Arc<Notify>>,
    pub tick: fn(AppState) -> TickResult,
}

/// Every periodic worker of this process, in start order.
pub fn table(state: &AppState) -> Vec<Worker> {
    let periods = state.config.workers;
    let mut workers = vec![
        Worker {
            name: "maintenance",
            first: periods.maintenance,
            period: periods.maintenance,
            wake: None,
            tick: |state| Box::pin(ticks::maintenance(state)),
        },
        Worker {
            name: "request-stats",
            first: periods.request_stats,
            period: periods.request_stats,
            wake: None,
            tick: |state| Box::pin(ticks::request_stats(state)),
        },
        Worker {
            name: "retention",
            first: periods.first_retention.min(periods.retention),
            period: periods.retention,
            wake: None,
            tick: |state| Box::pin(ticks::retention(state)),
        },
        Worker {
            name: "runner",
            first: Duration::ZERO,
            period: periods.runner_poll,
            wake: Some(state.runner.wake_signal()),
            tick: |state| Box::pin(crate::executions::runner::tick(state.runner_context())),
        },
        Worker {
            name: "scheduler",
            first: Duration::ZERO,
            period: periods.scheduler_poll,
            wake: Some(state.scheduler.wake_signal()),
            tick: |state| Box::pin(crate::schedules::scheduler::tick(state)),
        },
        Worker {
            name: "mail",
            first: Duration::ZERO,
            period: periods.mail_poll,
            wake: Some(state.mailer.wake_signal()),
            tick: |state| Box::pin(crate::mail::tick(state)),
        },
        Worker {
            name: "otlp",
            first: Duration::ZERO,
            period: periods.otlp,
            wake: Some(state.otlp.wake_signal()),
            tick: |state| Box::pin(crate::otlp::fold::tick(state)),
        },
        Worker {
            name: "alerts",
            first: Duration::ZERO,
            period: periods.alerts,
            wake: None,
            tick: |state| Box::pin(crate::alerts::check::tick(state)),
        },
        Worker {
            name: "digests",
            first: Duration::ZERO,
            period: periods.digests,
            wake: None,
            tick: |state| Box::pin(crate::notifications::digest::tick(state)),
        },
    ];
    if state.config.demo {
        workers.push(Worker {
            name: "demo-live",
            first: periods.demo,
            period: periods.demo,
            wake: None,
            tick: |state| Box::pin(crate::demo::live::tick(state)),
        });
    }
    workers
}

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

/// Starts every row of [`table`], then the bus bridge (PostgreSQL only) and
/// the watcher that closes live streams whose access ended.
pub fn spawn(state: &AppState) -> Workers {
    let mut set = JoinSet::new();
    for worker in table(state) {
        set.spawn(run(state.clone(), worker));
    }
    crate::bus::bridge::spawn(state, &mut set);
    crate::bus::streams::watch(state, &mut set);
    Workers(set)
}

/// The loop around one worker: wait (period, wake-up or shutdown), tick, count.
async fn run(state: AppState, worker: Worker) {
    let start = tokio::time::Instant::now() + worker.first;
    let mut interval = tokio::time::interval_at(start, worker.period.max(MIN_PERIOD));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let never = Arc::new(Notify::new());
    let wake = worker.wake.clone().unwrap_or(never);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => break,
            () = wake.notified() => {}
            _ = interval.tick() => {}
        }
        let outcome = (worker.tick)(state.clone()).await;
        state.metrics.observe_tick(worker.name, outcome.is_ok());
        match outcome {
            Ok(0) => {}
            Ok(done) => tracing::debug!(worker = worker.name, done, "tick"),
            Err(err) => tracing::warn!(worker = worker.name, error = %err, "tick failed"),
        }
    }
    tracing::debug!(worker = worker.name, "stopped");
}

/// A zero period would spin; `tokio::time::interval` refuses it.
const MIN_PERIOD: Duration = Duration::from_millis(1);
