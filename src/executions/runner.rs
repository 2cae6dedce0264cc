//! The runner: claims pending executions under a lease and runs their steps.
//!
//! - **Claiming** is one `UPDATE … RETURNING` on the oldest pending execution
//!   (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never claim the same
//!   one); the runner takes as many as it has free slots (`concurrency`).
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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sqlx::Row;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::agents::Agent;
use crate::app::AppState;
use crate::providers::{CallError, ChatRequest, ChatResponse, RetryPolicy};
use crate::storage::{Db, Tx, new_id, now_ms};
use crate::workflows::{Definition, Step, definition};

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

/// The runner's shared handle (in `AppState`).
pub struct Runner {
    owner: String,
    config: RunnerConfig,
    wake: Arc<Notify>,
    slots: Arc<Semaphore>,
    active: Mutex<HashMap<String, CancellationToken>>,
    /// The running executions' tasks, reaped by each tick, awaited at shutdown.
    tasks: Mutex<JoinSet<()>>,
}

impl Runner {
    pub fn new(config: RunnerConfig) -> Runner {
        Runner {
            owner: format!("runner-{}", uuid::Uuid::new_v4()),
            config,
            wake: Arc::new(Notify::new()),
            slots: Arc::new(Semaphore::new(config.concurrency.max(1))),
            active: Mutex::new(HashMap::new()),
            tasks: Mutex::new(JoinSet::new()),
        }
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
pub async fn tick(state: AppState) -> anyhow::Result<u64> {
    if state.shutdown.is_cancelled() {
        return Ok(0);
    }
    let runner = state.runner.clone();
    if let Err(err) = recover(&state).await {
        tracing::warn!(error = %err, "recovering expired executions failed");
    }
    let mut claimed_count = 0;
    while let Ok(permit) = runner.slots.clone().try_acquire_owned() {
        let Some(claimed) = claim(&state.db, &runner).await? else {
            break;
        };
        lock(&runner.tasks).spawn(execute(state.clone(), claimed, permit));
        claimed_count += 1;
    }
    let mut tasks = lock(&runner.tasks);
    while tasks.try_join_next().is_some() {}
    Ok(claimed_count)
}

struct Claimed {
    id: String,
    team_id: String,
    workflow_id: String,
    workflow_version: i64,
    input: Value,
}

async fn claim(db: &Db, runner: &Runner) -> Result<Option<Claimed>, sqlx::Error> {
    let now = now_ms();
    let row = sqlx::query(&format!(
        "UPDATE executions SET status = 'running', lease_owner = $1, lease_expires_at = $2, \
         started_at = COALESCE(started_at, $3), updated_at = $3 \
         WHERE status = 'pending' AND id = (SELECT id FROM executions WHERE status = 'pending' \
         ORDER BY created_at, id LIMIT 1{}) \
         RETURNING id, team_id, workflow_id, workflow_version, input",
        db.skip_locked()
    ))
    .bind(&runner.owner)
    .bind(now + lease_ms(runner))
    .bind(now)
    .fetch_optional(db.write())
    .await?;
    row.map(|row| {
        let input: Option<String> = row.try_get("input")?;
        Ok(Claimed {
            id: row.try_get("id")?,
            team_id: row.try_get("team_id")?,
            workflow_id: row.try_get("workflow_id")?,
            workflow_version: row.try_get("workflow_version")?,
            input: input
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or(Value::Null),
        })
    })
    .transpose()
}

fn lease_ms(runner: &Runner) -> i64 {
    i64::try_from(runner.config.lease.as_millis()).unwrap_or(i64::MAX / 2)
}

/// Executions whose runner died (lease expired): back to pending to resume, or
/// failed once they have been recovered too often.
pub async fn recover(state: &AppState) -> Result<usize, sqlx::Error> {
    let now = now_ms();
    // The loop calls this every second: a read finds out whether there is
    // anything to do before a write transaction takes the (SQLite) writer.
    let expired: Option<String> = sqlx::query_scalar(
        "SELECT id FROM executions WHERE status = 'running' AND lease_expires_at < $1 LIMIT 1",
    )
    .bind(now)
    .fetch_optional(state.db.read())
    .await?;
    if expired.is_none() {
        return Ok(0);
    }
    let mut tx = state.db.begin().await?;
    let given_up = sqlx::query(
        "UPDATE executions SET status = 'failed', completed_at = $1, updated_at = $1, lease_owner = NULL, \
         lease_expires_at = NULL, error = $2 \
         WHERE status = 'running' AND lease_expires_at < $1 AND recoveries >= $3 RETURNING id, team_id",
    )
    .bind(now)
    .bind(format!(
        "its runner stopped {MAX_RECOVERIES} times while running it (process killed or lost); not trying again"
    ))
    .bind(MAX_RECOVERIES)
    .fetch_all(&mut *tx)
    .await?;
    let resumed = sqlx::query(
        "UPDATE executions SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
         recoveries = recoveries + 1, updated_at = $1 \
         WHERE status = 'running' AND lease_expires_at < $1 RETURNING id, team_id",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    for row in &given_up {
        let id: String = row.try_get("id")?;
        close_open_steps(&mut tx, &id, "cancelled", "the execution was given up", now).await?;
        crate::analytics::rollups::add_execution(&mut tx, &id).await?;
    }
    for row in &resumed {
        let id: String = row.try_get("id")?;
        close_open_steps(&mut tx, &id, "pending", "interrupted; will run again", now).await?;
    }
    tx.commit().await?;
    let touched: Vec<(String, String)> = given_up
        .iter()
        .chain(&resumed)
        .filter_map(|row| Some((row.try_get("id").ok()?, row.try_get("team_id").ok()?)))
        .collect();
    for (id, team_id) in &touched {
        tracing::info!(execution = %id, "recovered an execution whose runner stopped");
        super::publish(&state.db, &state.bus, team_id, id).await;
    }
    if !resumed.is_empty() {
        state.runner.wake();
    }
    Ok(touched.len())
}

async fn close_open_steps(
    tx: &mut Tx,
    execution_id: &str,
    status: &str,
    reason: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE task_results SET status = $1, error = $2, completed_at = $3 \
         WHERE execution_id = $4 AND status IN ('pending', 'running')",
    )
    .bind(status)
    .bind(reason)
    .bind(now)
    .bind(execution_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How a run of the steps ended.
enum Ending {
    Succeeded,
    Failed(String),
    /// Cancelled, or the lease was lost: someone else decides what happens next.
    Stopped,
    /// The process is shutting down: give it back to resume elsewhere or later.
    HandBack,
}

async fn execute(state: AppState, claimed: Claimed, _slot: OwnedSemaphorePermit) {
    let token = CancellationToken::new();
    state
        .runner
        .lock_active()
        .insert(claimed.id.clone(), token.clone());
    super::publish(&state.db, &state.bus, &claimed.team_id, &claimed.id).await;
    let heartbeat = tokio::spawn(heartbeat(state.clone(), claimed.id.clone(), token.clone()));
    let claimed = Arc::new(claimed);
    let ending = tokio::select! {
        ending = run_steps(&state, claimed.clone()) => ending,
        () = token.cancelled() => Ending::Stopped,
        () = state.shutdown.cancelled() => Ending::HandBack,
    };
    heartbeat.abort();
    state.runner.lock_active().remove(&claimed.id);
    let result = match &ending {
        Ending::Succeeded => finish(&state, &claimed.id, "succeeded", None).await,
        Ending::Failed(reason) => finish(&state, &claimed.id, "failed", Some(reason)).await,
        Ending::HandBack => hand_back(&state, &claimed.id).await,
        Ending::Stopped => Ok(()),
    };
    if let Err(err) = result {
        tracing::warn!(error = %err, execution = %claimed.id, "recording the end of an execution failed");
    }
    super::publish(&state.db, &state.bus, &claimed.team_id, &claimed.id).await;
}

/// Extends the lease until the execution ends; cancels it once the lease is
/// gone (expired and taken over, or the execution was cancelled elsewhere).
async fn heartbeat(state: AppState, execution_id: String, token: CancellationToken) {
    let every = state.runner.config.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        match extend_lease(&state.db, &state.runner, &execution_id).await {
            Ok(true) => {}
            Ok(false) => {
                token.cancel();
                return;
            }
            Err(err) => tracing::warn!(error = %err, execution = %execution_id, "heartbeat failed"),
        }
    }
}

async fn extend_lease(db: &Db, runner: &Runner, execution_id: &str) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE executions SET lease_expires_at = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
    )
    .bind(now + lease_ms(runner))
    .bind(execution_id)
    .bind(&runner.owner)
    .execute(db.write())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Opens a transaction that holds only while this runner still owns the
/// execution: `None` means the lease is gone or the execution was cancelled.
async fn fenced(state: &AppState, execution_id: &str) -> Result<Option<Tx>, sqlx::Error> {
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let done = sqlx::query(
        "UPDATE executions SET lease_expires_at = $1, updated_at = $2 \
         WHERE id = $3 AND lease_owner = $4 AND status = 'running'",
    )
    .bind(now + lease_ms(&state.runner))
    .bind(now)
    .bind(execution_id)
    .bind(&state.runner.owner)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    Ok(Some(tx))
}

async fn finish(
    state: &AppState,
    execution_id: &str,
    status: &str,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    let Some(mut tx) = fenced(state, execution_id).await? else {
        return Ok(());
    };
    let now = now_ms();
    sqlx::query(
        "UPDATE executions SET status = $1, error = $2, completed_at = $3, updated_at = $3, lease_owner = NULL, \
         lease_expires_at = NULL WHERE id = $4",
    )
    .bind(status)
    .bind(error)
    .bind(now)
    .bind(execution_id)
    .execute(&mut *tx)
    .await?;
    if status == "failed" {
        close_open_steps(
            &mut tx,
            execution_id,
            "cancelled",
            "stopped because another step failed",
            now,
        )
        .await?;
    }
    crate::analytics::rollups::add_execution(&mut tx, execution_id).await?;
    tx.commit().await
}

async fn hand_back(state: &AppState, execution_id: &str) -> Result<(), sqlx::Error> {
    let Some(mut tx) = fenced(state, execution_id).await? else {
        return Ok(());
    };
    let now = now_ms();
    sqlx::query(
        "UPDATE executions SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = $1 \
         WHERE id = $2",
    )
    .bind(now)
    .bind(execution_id)
    .execute(&mut *tx)
    .await?;
    close_open_steps(
        &mut tx,
        execution_id,
        "pending",
        "interrupted by a shutdown; will run again",
        now,
    )
    .await?;
    tx.commit().await
}

/// What one execution's steps need.
struct Plan {
    claimed: Arc<Claimed>,
    definition: Definition,
    agents: HashMap<String, Agent>,
}

async fn run_steps(state: &AppState, claimed: Arc<Claimed>) -> Ending {
    match plan_and_run(state, claimed).await {
        Ok(ending) => ending,
        Err(err) => {
            tracing::warn!(error = %err, "execution stopped by a storage error");
            Ending::HandBack
        }
    }
}

async fn plan_and_run(state: &AppState, claimed: Arc<Claimed>) -> Result<Ending, sqlx::Error> {
    let Some(definition) =
        crate::workflows::definition_at(&state.db, &claimed.workflow_id, claimed.workflow_version)
            .await?
    else {
        return Ok(Ending::Failed(format!(
            "version {} of the workflow is missing",
            claimed.workflow_version
        )));
    };
    let wanted: Vec<&str> = definition.agents().into_iter().collect();
    let agents: HashMap<String, crate::agents::Agent> =
        crate::agents::get_many_any(&state.db, &claimed.team_id, &wanted)
            .await?
            .into_iter()
            .map(|agent| (agent.id.clone(), agent))
            .collect();
    let mut outputs = finished_outputs(&state.db, &claimed.id).await?;
    let plan = Arc::new(Plan {
        claimed,
        definition,
        agents,
    });
    let mut started: HashSet<String> = outputs.keys().cloned().collect();
    let mut running = JoinSet::new();
    loop {
        for step in &plan.definition.steps {
            let ready = step
                .depends_on
                .iter()
                .all(|dependency| outputs.contains_key(dependency));
            if ready && started.insert(step.id.clone()) {
                let (state, plan, step, outputs) =
                    (state.clone(), plan.clone(), step.clone(), outputs.clone());
                running.spawn(async move {
                    let outcome = match run_step(&state, &plan, &step, &outputs).await {
                        Ok(outcome) => outcome,
                        Err(err) => {
                            tracing::warn!(error = %err, step = %step.id, "step stopped by a storage error");
                            StepOutcome::Fenced
                        }
                    };
                    (step.id, outcome)
                });
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (step_id, outcome) = match joined {
            Ok(done) => done,
            Err(err) => {
                return Ok(Ending::Failed(format!(
                    "a step stopped unexpectedly: {err}"
                )));
            }
        };
        match outcome {
            StepOutcome::Output(output) => {
                outputs.insert(step_id, output);
            }
            StepOutcome::Failed(reason) => {
                return Ok(Ending::Failed(format!("step {step_id}: {reason}")));
            }
            StepOutcome::Fenced => return Ok(Ending::Stopped),
        }
    }
    if outputs.len() == plan.definition.steps.len() {
        Ok(Ending::Succeeded)
    } else {
        Ok(Ending::Failed("some steps could not start".into()))
    }
}

async fn finished_outputs(
    db: &Db,
    execution_id: &str,
) -> Result<HashMap<String, String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT task_name, output FROM task_results WHERE execution_id = $1 AND status = 'succeeded'",
    )
    .bind(execution_id)
    .fetch_all(db.read())
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("task_name")?,
                row.try_get::<Option<String>, _>("output")?
                    .unwrap_or_default(),
            ))
        })
        .collect()
}

enum StepOutcome {
    Output(String),
    Failed(String),
    /// The execution is no longer this runner's to write.
    Fenced,
}

/// What a finished call is recorded as.
struct StepRecord<'a> {
    status: &'static str,
    model: &'a str,
    output: Option<&'a str>,
    error: Option<&'a CallError>,
    usage: crate::providers::Usage,
    cost_micros: i64,
    latency_ms: i64,
    attempts: u32,
}

async fn run_step(
    state: &AppState,
    plan: &Plan,
    step: &Step,
    outputs: &HashMap<String, String>,
) -> Result<StepOutcome, sqlx::Error> {
    let claimed = &plan.claimed;
    let Some(agent) = plan.agents.get(&step.agent) else {
        return Ok(StepOutcome::Failed(format!(
            "the agent {} no longer exists",
            step.agent
        )));
    };
    let prompt = definition::render(&step.prompt, &claimed.input, outputs);
    if !begin_step(state, claimed, step, agent, &prompt).await? {
        return Ok(StepOutcome::Fenced);
    }
    let started = std::time::Instant::now();
    let credential = match &agent.key_id {
        Some(key_id) => {
            crate::provider_keys::credential(&state.db, &state.vault, &claimed.team_id, key_id)
                .await
                .ok()
                .flatten()
        }
        None => None,
    };
    let (result, attempts) = match credential {
        None => (
            Err(CallError::NoKey(format!(
                "the agent {} has no provider key that can be opened (deleted, or entered under another master key)",
                agent.name
            ))),
            0,
        ),
        Some(credential) => {
            let request = ChatRequest {
                model: agent.model.clone(),
                system: agent.instructions.clone(),
                prompt,
                max_tokens: agent.parameters.max_tokens,
                temperature: agent.parameters.temperature,
            };
            let call =
                state
                    .providers
                    .chat_with_retries(&credential, &request, state.runner.config.retry);
            match tokio::time::timeout(step.timeout(), call).await {
                Ok(outcome) => (outcome.result, outcome.attempts),
                Err(_) => (Err(CallError::Timeout(step.timeout())), 1),
            }
        }
    };
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match result {
        Ok(response) => {
            record_success(state, plan, agent, step, &response, latency_ms, attempts).await
        }
        Err(error) => {
            if let (CallError::InvalidKey { message, .. }, Some(key_id)) = (&error, &agent.key_id) {
                crate::provider_keys::mark_refused(&state.db, key_id, message).await?;
            }
            let record = StepRecord {
                status: "failed",
                model: &agent.model,
                output: None,
                error: Some(&error),
                usage: Default::default(),
                cost_micros: 0,
                latency_ms,
                attempts,
            };
            if !end_step(state, claimed, step, &record).await? {
                return Ok(StepOutcome::Fenced);
            }
            Ok(StepOutcome::Failed(error.to_string()))
        }
    }
}

async fn record_success(
    state: &AppState,
    plan: &Plan,
    agent: &Agent,
    step: &Step,
    response: &ChatResponse,
    latency_ms: i64,
    attempts: u32,
) -> Result<StepOutcome, sqlx::Error> {
    let claimed = &plan.claimed;
    let price = crate::prices::price_at(
        &state.db,
        &claimed.team_id,
        agent.provider.as_str(),
        &response.model,
        now_ms(),
    )
    .await?;
    let record = StepRecord {
        status: "succeeded",
        model: &response.model,
        output: Some(&response.text),
        error: None,
        usage: response.usage,
        cost_micros: price.map_or(0, |price| crate::prices::cost_micros(response.usage, price)),
        latency_ms,
        attempts,
    };
    if !end_step(state, claimed, step, &record).await? {
        return Ok(StepOutcome::Fenced);
    }
    Ok(StepOutcome::Output(response.text.clone()))
}

/// Marks the step running (a re-run after recovery reuses its row).
async fn begin_step(
    state: &AppState,
    claimed: &Claimed,
    step: &Step,
    agent: &Agent,
    prompt: &str,
) -> Result<bool, sqlx::Error> {
    let Some(mut tx) = fenced(state, &claimed.id).await? else {
        return Ok(false);
    };
    sqlx::query(
        "INSERT INTO task_results (id, execution_id, team_id, task_name, agent_id, status, input, provider, model, \
         started_at, attempts) VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8, $9, 0) \
         ON CONFLICT (execution_id, task_name) DO UPDATE SET status = 'running', input = excluded.input, \
         agent_id = excluded.agent_id, provider = excluded.provider, model = excluded.model, \
         started_at = excluded.started_at, output = NULL, error = NULL, error_class = NULL, \
         provider_response = NULL, completed_at = NULL",
    )
    .bind(new_id())
    .bind(&claimed.id)
    .bind(&claimed.team_id)
    .bind(&step.id)
    .bind(&agent.id)
    .bind(prompt)
    .bind(agent.provider.as_str())
    .bind(&agent.model)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    publish_step(state, claimed, step, "running");
    Ok(true)
}

/// Records a finished call and adds it to the execution's totals.
async fn end_step(
    state: &AppState,
    claimed: &Claimed,
    step: &Step,
    record: &StepRecord<'_>,
) -> Result<bool, sqlx::Error> {
    let Some(mut tx) = fenced(state, &claimed.id).await? else {
        return Ok(false);
    };
    let task_id: Option<String> = sqlx::query_scalar(
        "UPDATE task_results SET status = $1, model = $2, output = $3, error = $4, error_class = $5, \
         provider_response = $6, input_tokens = $7, output_tokens = $8, cached_tokens = $9, cost_micros = $10, \
         latency_ms = $11, attempts = $12, completed_at = $13 WHERE execution_id = $14 AND task_name = $15 \
         RETURNING id",
    )
    .bind(record.status)
    .bind(record.model)
    .bind(record.output)
    .bind(record.error.map(ToString::to_string))
    .bind(record.error.map(CallError::class))
    .bind(record.error.and_then(CallError::provider_body))
    .bind(record.usage.input)
    .bind(record.usage.output)
    .bind(record.usage.cached)
    .bind(record.cost_micros)
    .bind(record.latency_ms)
    .bind(i64::from(record.attempts))
    .bind(now_ms())
    .bind(&claimed.id)
    .bind(&step.id)
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE executions SET steps_done = steps_done + $1, input_tokens = input_tokens + $2, \
         output_tokens = output_tokens + $3, cached_tokens = cached_tokens + $4, cost_micros = cost_micros + $5 \
         WHERE id = $6",
    )
    .bind(i64::from(record.status == "succeeded"))
    .bind(record.usage.input)
    .bind(record.usage.output)
    .bind(record.usage.cached)
    .bind(record.cost_micros)
    .bind(&claimed.id)
    .execute(&mut *tx)
    .await?;
    crate::analytics::rollups::add_step(&mut tx, &claimed.id, &step.id).await?;
    if let Some(error) = record.error {
        let failure = crate::errors::Failure {
            team_id: &claimed.team_id,
            agent_id: &step.agent,
            error_class: error.class(),
            error: &error.to_string(),
            // The error log shows this row's input and provider answer.
            task_id: task_id.as_deref(),
            execution_id: &claimed.id,
            workflow_id: &claimed.workflow_id,
            at: now_ms(),
        };
        crate::errors::record(&mut tx, &failure).await?;
    }
    tx.commit().await?;
    publish_step(state, claimed, step, record.status);
    super::publish(&state.db, &state.bus, &claimed.team_id, &claimed.id).await;
    Ok(true)
}

fn publish_step(state: &AppState, claimed: &Claimed, step: &Step, status: &str) {
    state.bus.publish(
        claimed.team_id.clone(),
        "execution.step",
        &serde_json::json!({"execution_id": claimed.id, "step": step.id, "agent": step.agent, "status": status}),
    );
}
