//! The runner: claims pending executions under a lease and runs their steps.
//!
//! - **Claiming** is one `UPDATE … RETURNING` on the oldest pending execution
//!   (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never claim the same
//!   one); the runner takes as many as it has free slots (`concurrency`). The
//!   steps that can start at once are marked running in the claim's
//!   transaction, so a one-step run commits twice: claim, then step and end.
//! - **Leases**: a claimed execution carries this runner's id and an expiry. The
//!   heartbeat extends it; every write the runner makes first extends it in the
//!   same transaction and finds nothing to update once the lease is gone or the
//!   execution was cancelled (a fence), so a runner that lost its lease stops.
//! - **Recovery**: an execution whose lease expired (its runner died) goes back
//!   to pending and resumes from its last finished step; after `MAX_RECOVERIES`
//!   it fails with the reason. On shutdown the runner hands its executions back
//!   the same way at once.
//! - **Steps** whose dependencies are done run in parallel, each under its
//!   timeout, with retries on rate limits and server errors. A failed step fails
//!   the execution and stops its other steps. Cancelling drops in-flight calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::executions::Status;
use crate::providers::{Providers, RetryPolicy};
use crate::storage::Db;
use crate::vault::Vault;
use crate::workflows::Definition;

mod steps;
mod store;

pub use store::recover;

/// What the runner uses: storage, the live bus, the vault and the providers for
/// calls, its own handle and the shutdown signal. Cloned into each execution's
/// task (all of it is reference counted).
#[derive(Clone)]
pub struct Context {
    pub db: Db,
    pub bus: Arc<Bus>,
    pub vault: Arc<Vault>,
    pub providers: Providers,
    pub runner: Arc<Runner>,
    /// Ended executions are offered to it (OTLP export, when configured).
    pub exporter: Arc<crate::otlp::export::Exporter>,
    pub shutdown: CancellationToken,
}

/// Times an execution may lose its runner before it is failed.
pub const MAX_RECOVERIES: i64 = 3;

/// How long shutdown waits for executions to hand themselves back.
const HAND_BACK_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
pub struct RunnerConfig {
    /// Executions run at once by this process.
    pub concurrency: usize,
    /// How long a claim holds without a heartbeat.
    pub lease: Duration,
    pub retry: RetryPolicy,
}

impl Default for RunnerConfig {
    fn default() -> RunnerConfig {
        RunnerConfig {
            concurrency: 16,
            lease: Duration::from_secs(15),
            retry: RetryPolicy::default(),
        }
    }
}

/// The runner's shared handle (in `Context`).
pub struct Runner {
    owner: String,
    config: RunnerConfig,
    wake: Arc<Notify>,
    slots: Arc<Semaphore>,
    active: Mutex<HashMap<String, CancellationToken>>,
    /// The running executions' tasks, reaped by each tick, awaited at shutdown.
    tasks: Mutex<JoinSet<()>>,
    /// Workflow definitions by (workflow, version): a version never changes
    /// once written, so each is read and parsed once.
    definitions: Mutex<HashMap<(String, i64), Arc<Definition>>>,
}

/// Definitions kept before the cache starts over.
const DEFINITIONS_KEPT: usize = 1024;

impl Runner {
    pub fn new(config: RunnerConfig) -> Runner {
        Runner {
            owner: format!("runner-{}", uuid::Uuid::new_v4()),
            config,
            wake: Arc::new(Notify::new()),
            slots: Arc::new(Semaphore::new(config.concurrency.max(1))),
            active: Mutex::new(HashMap::new()),
            tasks: Mutex::new(JoinSet::new()),
            definitions: Mutex::new(HashMap::new()),
        }
    }

    /// A workflow version's definition, read once (in the claim's
    /// transaction); `None` if it is missing.
    async fn definition(
        &self,
        tx: &mut crate::storage::Tx,
        workflow_id: &str,
        version: i64,
    ) -> Result<Option<Arc<Definition>>, sqlx::Error> {
        let key = (workflow_id.to_owned(), version);
        if let Some(definition) = lock(&self.definitions).get(&key) {
            return Ok(Some(definition.clone()));
        }
        let Some(definition) =
            crate::workflows::definition_at(&mut **tx, workflow_id, version).await?
        else {
            return Ok(None);
        };
        let definition = Arc::new(definition);
        let mut definitions = lock(&self.definitions);
        if definitions.len() >= DEFINITIONS_KEPT {
            definitions.clear();
        }
        definitions.insert(key, definition.clone());
        Ok(Some(definition))
    }

    /// This process's runner id, as written in `executions.lease_owner`.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Tells the loop that work may be waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The signal `wake` sends, for the worker loop that ticks the runner.
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// At shutdown (after the workers stopped): waits a while for the running
    /// executions, which see the shutdown and hand themselves back as pending.
    pub async fn hand_back(&self) {
        let mut tasks = std::mem::take(&mut *lock(&self.tasks));
        let all_done = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(HAND_BACK_WAIT, all_done)
            .await
            .is_err()
        {
            tracing::warn!("some executions did not hand themselves back in time");
        }
    }

    /// Stops an execution this process runs (after it was cancelled).
    pub fn cancel_local(&self, execution_id: &str) {
        if let Some(token) = self.lock_active().get(execution_id) {
            token.cancel();
        }
    }

    /// Executions this process runs now.
    pub fn running(&self) -> usize {
        self.lock_active().len()
    }

    fn lock_active(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancellationToken>> {
        lock(&self.active)
    }
}

/// A mutex's guard, also after a panic elsewhere poisoned it (the maps stay usable).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The `runner` worker's tick (every second, or when woken): recovers executions
/// whose lease expired, claims pending ones while slots are free, and reaps the
/// tasks of finished ones. Returns how many it claimed.
pub async fn tick(ctx: Context) -> anyhow::Result<u64> {
    if ctx.shutdown.is_cancelled() {
        return Ok(0);
    }
    let runner = ctx.runner.clone();
    if let Err(err) = recover(&ctx).await {
        tracing::warn!(error = %err, "recovering expired executions failed");
    }
    let mut claimed_count = 0;
    // Checked on every claim: an execution claimed after shutdown began hands
    // itself back at once and frees its slot, so without the check this loop
    // would claim it again and again and the shutdown would never finish.
    while !ctx.shutdown.is_cancelled() {
        let Ok(permit) = runner.slots.clone().try_acquire_owned() else {
            break;
        };
        let Some(start) = steps::claim(&ctx).await? else {
            break;
        };
        lock(&runner.tasks).spawn(execute(ctx.clone(), start, permit));
        claimed_count += 1;
    }
    let mut tasks = lock(&runner.tasks);
    while tasks.try_join_next().is_some() {}
    Ok(claimed_count)
}

/// A just-created execution this runner claimed in the creating transaction,
/// holding its slot; `run` starts it once that transaction committed.
pub struct Started {
    start: steps::Start,
    slot: OwnedSemaphorePermit,
}

/// Claims the execution `id`, just inserted in `tx`, when this runner has a
/// free slot and is not shutting down: it runs here at once instead of
/// waiting, pending, for a tick. `None` leaves it pending for any runner.
pub async fn claim_created(
    ctx: &Context,
    tx: &mut crate::storage::Tx,
    id: &str,
) -> Result<Option<Started>, sqlx::Error> {
    if ctx.shutdown.is_cancelled() {
        return Ok(None);
    }
    let Ok(slot) = ctx.runner.slots.clone().try_acquire_owned() else {
        return Ok(None);
    };
    Ok(steps::claim_created_in(ctx, tx, id)
        .await?
        .map(|start| Started { start, slot }))
}

/// Runs what `claim_created` claimed (after its transaction committed).
pub fn run(ctx: Context, started: Started) {
    let runner = ctx.runner.clone();
    lock(&runner.tasks).spawn(execute(ctx, started.start, started.slot));
}

/// How a run of the steps ended.
enum Ending {
    /// The last step's record ended the execution (and published it).
    Recorded,
    Succeeded,
    Failed(String),
    /// Cancelled, or the lease was lost: someone else decides what happens next.
    Stopped,
    /// The process is shutting down: give it back to resume elsewhere or later.
    HandBack,
}

async fn execute(ctx: Context, start: steps::Start, _slot: OwnedSemaphorePermit) {
    let claimed = start.claimed.clone();
    let token = CancellationToken::new();
    ctx.runner
        .lock_active()
        .insert(claimed.id.clone(), token.clone());
    claimed.publish(&ctx.bus);
    let heartbeat = tokio::spawn(heartbeat(ctx.clone(), claimed.id.clone(), token.clone()));
    let ending = tokio::select! {
        ending = steps::run_steps(&ctx, start) => ending,
        () = token.cancelled() => Ending::Stopped,
        () = ctx.shutdown.cancelled() => Ending::HandBack,
    };
    heartbeat.abort();
    ctx.runner.lock_active().remove(&claimed.id);
    let result = match &ending {
        Ending::Succeeded => store::finish(&ctx, &claimed, Status::Succeeded, None).await,
        Ending::Failed(reason) => store::finish(&ctx, &claimed, Status::Failed, Some(reason)).await,
        Ending::HandBack => store::hand_back(&ctx, &claimed).await,
        // Recorded was published with its record; a stopped execution is
        // published by whoever stopped it (the cancel, the new lease holder).
        Ending::Recorded | Ending::Stopped => Ok(false),
    };
    match result {
        Ok(true) => claimed.publish(&ctx.bus),
        Ok(false) => {}
        Err(err) => {
            tracing::warn!(error = %err, execution = %claimed.id, "recording the end of an execution failed");
        }
    }
    if !matches!(ending, Ending::HandBack) {
        ctx.exporter.offer(&claimed.team_id, &claimed.id);
    }
}

/// Extends the lease until the execution ends; cancels it once the lease is
/// gone (expired and taken over, or the execution was cancelled elsewhere).
async fn heartbeat(ctx: Context, execution_id: String, token: CancellationToken) {
    let every = ctx.runner.config.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        match store::extend_lease(&ctx.db, &ctx.runner, &execution_id).await {
            Ok(true) => {}
            Ok(false) => {
                token.cancel();
                return;
            }
            Err(err) => tracing::warn!(error = %err, execution = %execution_id, "heartbeat failed"),
        }
    }
}

fn lease_ms(runner: &Runner) -> i64 {
    i64::try_from(runner.config.lease.as_millis()).unwrap_or(i64::MAX / 2)
}
