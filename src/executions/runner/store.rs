//! The runner's SQL: claiming under a lease, heartbeats, the fence every write
//! passes, recording steps and ends, and recovering what dead runners left.

use std::collections::HashMap;

use std::sync::Mutex;

use serde_json::Value;
use sqlx::Row;

use super::{Context, MAX_RECOVERIES, Runner, lease_ms, lock};
use crate::bus::{Bus, Kind};
use crate::executions::store::{SummaryRow, summary_columns};
use crate::executions::{ExecutionSummary, Status};
use crate::providers::CallError;
use crate::storage::{Db, Tx, new_id, now_ms};
use crate::workflows::Step;

/// A claimed execution: what its steps need, and its summary as the runner
/// keeps it. Every change the runner makes is applied to that copy from what
/// the change's statement returned, and the copy is published: the bus hears
/// of each change without reading the execution back.
pub(super) struct Claimed {
    pub id: String,
    pub team_id: String,
    pub workflow_id: String,
    pub workflow_version: i64,
    pub input: Value,
    /// When the claim started it running: the calls are priced as of then.
    pub started_at: i64,
    /// Some step has already succeeded (a resumed run, or a retry that reused
    /// steps), so the finished outputs are read before running the rest.
    pub resumed: bool,
    summary: Mutex<ExecutionSummary>,
}

impl Claimed {
    /// Publishes the execution's summary as the runner last recorded it.
    pub fn publish(&self, bus: &Bus) {
        let summary = lock(&self.summary).clone();
        bus.publish(self.team_id.clone(), Kind::ExecutionChanged, &summary);
    }

    fn apply(&self, change: impl FnOnce(&mut ExecutionSummary)) {
        change(&mut lock(&self.summary));
    }
}

/// The executions columns the claim returns: the summary (the workflow's name
/// from a subquery, since `RETURNING` sees only the updated table), the team
/// and the input.
static CLAIM_RETURNING: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let summary = summary_columns(
        "",
        "(SELECT name FROM workflows WHERE workflows.id = executions.workflow_id)",
    );
    format!("{summary}, team_id, input")
});

#[derive(sqlx::FromRow)]
struct ClaimRow {
    #[sqlx(flatten)]
    summary: SummaryRow,
    team_id: String,
    input: Option<String>,
}

impl TryFrom<ClaimRow> for Claimed {
    type Error = sqlx::Error;

    fn try_from(row: ClaimRow) -> Result<Claimed, sqlx::Error> {
        let summary = ExecutionSummary::try_from(row.summary)?;
        Ok(Claimed {
            id: summary.id.clone(),
            team_id: row.team_id,
            workflow_id: summary.workflow_id.clone(),
            workflow_version: summary.workflow_version,
            input: row
                .input
                .as_deref()
                .map(|text| crate::storage::decode_json("executions.input", text))
                .transpose()?
                .unwrap_or(Value::Null),
            started_at: summary.started_at.unwrap_or_else(now_ms),
            resumed: summary.steps_done > 0,
            summary: Mutex::new(summary),
        })
    }
}

/// Claims the oldest pending execution inside `tx`, which the caller commits
/// with the first steps' running rows (one durable commit for both).
pub(super) async fn claim_in(
    tx: &mut Tx,
    db: &Db,
    runner: &Runner,
) -> Result<Option<Claimed>, sqlx::Error> {
    claim_where(tx, runner, ClaimTarget::Oldest(db.skip_locked())).await
}

/// Claims the execution `id`, just inserted in `tx` (still pending).
pub(super) async fn claim_created_in(
    tx: &mut Tx,
    runner: &Runner,
    id: &str,
) -> Result<Option<Claimed>, sqlx::Error> {
    claim_where(tx, runner, ClaimTarget::Created(id)).await
}

/// Which pending execution a claim takes.
enum ClaimTarget<'a> {
    /// The oldest; the dialect's `FOR UPDATE SKIP LOCKED` (or nothing).
    Oldest(&'static str),
    /// This one, just created.
    Created(&'a str),
}

/// Sets the pending execution `target` running under this runner's lease and
/// returns it.
async fn claim_where(
    tx: &mut Tx,
    runner: &Runner,
    target: ClaimTarget<'_>,
) -> Result<Option<Claimed>, sqlx::Error> {
    let chosen = match target {
        ClaimTarget::Oldest(skip_locked) => format!(
            "(SELECT id FROM executions WHERE status = 'pending' ORDER BY created_at, id LIMIT 1{skip_locked})"
        ),
        ClaimTarget::Created(_) => "$4".to_owned(),
    };
    let sql = format!(
        "UPDATE executions SET status = 'running', lease_owner = $1, lease_expires_at = $2, \
         started_at = COALESCE(started_at, $3), updated_at = $3 \
         WHERE status = 'pending' AND id = {chosen} RETURNING {}",
        *CLAIM_RETURNING
    );
    let now = now_ms();
    let mut query = sqlx::query_as::<_, ClaimRow>(&sql)
        .bind(&runner.owner)
        .bind(now + lease_ms(runner))
        .bind(now);
    if let ClaimTarget::Created(id) = target {
        query = query.bind(id);
    }
    query
        .fetch_optional(&mut **tx)
        .await?
        .map(Claimed::try_from)
        .transpose()
}

/// Executions whose runner died (lease expired): back to pending to resume, or
/// failed once they have been recovered too often.
pub async fn recover(ctx: &Context) -> Result<usize, sqlx::Error> {
    let now = now_ms();
    // The loop calls this every second: a read finds out whether there is
    // anything to do before a write transaction takes the (SQLite) writer.
    let expired: Option<String> = sqlx::query_scalar(
        "SELECT id FROM executions WHERE status = 'running' AND lease_expires_at < $1 LIMIT 1",
    )
    .bind(now)
    .fetch_optional(ctx.db.read())
    .await?;
    if expired.is_none() {
        return Ok(0);
    }
    let mut tx = ctx.db.begin().await?;
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
    let mut told = crate::notifications::Created::default();
    for row in &given_up {
        let id: String = row.try_get("id")?;
        crate::executions::store::close_open_steps(
            &mut tx,
            &id,
            Status::Cancelled,
            "the execution was given up",
            now,
        )
        .await?;
        crate::analytics::rollups::add_execution(&mut tx, &id).await?;
        told.extend(
            crate::notifications::producers::execution_ended_in(&mut tx, &id, Status::Failed)
                .await?,
        );
    }
    for row in &resumed {
        let id: String = row.try_get("id")?;
        crate::executions::store::close_open_steps(
            &mut tx,
            &id,
            Status::Pending,
            "interrupted; will run again",
            now,
        )
        .await?;
    }
    tx.commit().await?;
    told.announce(&ctx.bus);
    let touched: Vec<(String, String)> = given_up
        .iter()
        .chain(&resumed)
        .filter_map(|row| Some((row.try_get("id").ok()?, row.try_get("team_id").ok()?)))
        .collect();
    for (id, team_id) in &touched {
        tracing::info!(execution = %id, "recovered an execution whose runner stopped");
        crate::executions::publish(&ctx.db, &ctx.bus, team_id, id).await;
    }
    if !resumed.is_empty() {
        ctx.runner.wake();
    }
    Ok(touched.len())
}

pub(super) async fn extend_lease(
    db: &Db,
    runner: &Runner,
    execution_id: &str,
) -> Result<bool, sqlx::Error> {
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
pub(super) async fn fenced(ctx: &Context, execution_id: &str) -> Result<Option<Tx>, sqlx::Error> {
    let now = now_ms();
    let mut tx = ctx.db.begin().await?;
    let done = sqlx::query(
        "UPDATE executions SET lease_expires_at = $1, updated_at = $2 \
         WHERE id = $3 AND lease_owner = $4 AND status = 'running'",
    )
    .bind(now + lease_ms(&ctx.runner))
    .bind(now)
    .bind(execution_id)
    .bind(&ctx.runner.owner)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    Ok(Some(tx))
}

/// Ends the execution when the runner decides it outside a step's record (a
/// missing workflow version or agent, a step that could not start). `false`:
/// the execution was no longer this runner's, and nothing was written.
pub(super) async fn finish(
    ctx: &Context,
    claimed: &Claimed,
    status: Status,
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let Some(mut tx) = fenced(ctx, &claimed.id).await? else {
        return Ok(false);
    };
    let now = now_ms();
    let told = finish_in(&mut tx, &claimed.id, status, error, now).await?;
    tx.commit().await?;
    told.announce(&ctx.bus);
    claimed.apply(|summary| summary.ended(status, error, now));
    Ok(true)
}

/// The end of an execution inside a fenced transaction: its status, the
/// steps still open, its roll-ups and the notifications it causes.
async fn finish_in(
    tx: &mut Tx,
    execution_id: &str,
    status: Status,
    error: Option<&str>,
    now: i64,
) -> Result<crate::notifications::Created, sqlx::Error> {
    sqlx::query(
        "UPDATE executions SET status = $1, error = $2, completed_at = $3, updated_at = $3, lease_owner = NULL, \
         lease_expires_at = NULL WHERE id = $4",
    )
    .bind(status.as_str())
    .bind(error)
    .bind(now)
    .bind(execution_id)
    .execute(&mut **tx)
    .await?;
    if status == Status::Failed {
        crate::executions::store::close_open_steps(
            tx,
            execution_id,
            Status::Cancelled,
            "stopped because another step failed",
            now,
        )
        .await?;
    }
    crate::analytics::rollups::add_execution(tx, execution_id).await?;
    crate::notifications::producers::execution_ended_in(tx, execution_id, status).await
}

pub(super) async fn hand_back(ctx: &Context, claimed: &Claimed) -> Result<bool, sqlx::Error> {
    let execution_id = claimed.id.as_str();
    let Some(mut tx) = fenced(ctx, execution_id).await? else {
        return Ok(false);
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
    crate::executions::store::close_open_steps(
        &mut tx,
        execution_id,
        Status::Pending,
        "interrupted by a shutdown; will run again",
        now,
    )
    .await?;
    tx.commit().await?;
    claimed.apply(|summary| summary.status = Status::Pending);
    Ok(true)
}

/// The outputs of the execution's finished steps, read in the claim's
/// transaction (a retry's copied steps are not committed yet).
pub(super) async fn finished_outputs_in(
    tx: &mut Tx,
    execution_id: &str,
) -> Result<HashMap<String, String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT task_name, output FROM task_results WHERE execution_id = $1 AND status = 'succeeded'",
    )
    .bind(execution_id)
    .fetch_all(&mut **tx)
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

/// What a finished call is recorded as.
pub(super) struct StepRecord<'a> {
    pub status: Status,
    pub model: &'a str,
    /// The provider key the call was made with; a success marks it accepted.
    pub key_id: Option<&'a str>,
    pub output: Option<&'a str>,
    pub error: Option<&'a CallError>,
    pub usage: crate::providers::Usage,
    pub cost_micros: i64,
    pub latency_ms: i64,
    pub attempts: u32,
}

/// What recording a finished call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recorded {
    /// The execution is no longer this runner's: nothing was written.
    Fenced,
    /// The step is recorded; other steps remain.
    Step,
    /// The step's record also ended the execution: it was the last one to
    /// succeed, or it failed.
    Ended(Status),
}

/// Marks the step running in a fenced transaction of its own (the steps of
/// later waves; the first wave's rows commit with the claim).
pub(super) async fn begin_step(
    ctx: &Context,
    claimed: &Claimed,
    step: &Step,
    agent: &crate::agents::Agent,
    prompt: &str,
) -> Result<bool, sqlx::Error> {
    let Some(mut tx) = fenced(ctx, &claimed.id).await? else {
        return Ok(false);
    };
    insert_running(&mut tx, claimed, step, agent, prompt).await?;
    tx.commit().await?;
    Ok(true)
}

/// The step's row as running (a re-run after recovery reuses its row).
pub(super) async fn insert_running(
    tx: &mut Tx,
    claimed: &Claimed,
    step: &Step,
    agent: &crate::agents::Agent,
    prompt: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO task_results (id, execution_id, team_id, task_name, agent_id, status, input, provider, model, \
         started_at, attempts, key_id) VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8, $9, 0, $10) \
         ON CONFLICT (execution_id, task_name) DO UPDATE SET status = 'running', input = excluded.input, \
         agent_id = excluded.agent_id, provider = excluded.provider, model = excluded.model, key_id = excluded.key_id, \
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
    .bind(&agent.key_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a finished call, adds it to the execution's totals and, when it
/// was the last step to succeed or it failed, ends the execution in the same
/// transaction (one durable commit for the step and the end).
pub(super) async fn end_step(
    ctx: &Context,
    claimed: &Claimed,
    step: &Step,
    record: &StepRecord<'_>,
) -> Result<Recorded, sqlx::Error> {
    let Some(mut tx) = fenced(ctx, &claimed.id).await? else {
        return Ok(Recorded::Fenced);
    };
    let now = now_ms();
    let task_id = update_step(&mut tx, claimed, step, record, now).await?;
    let totals: Totals = sqlx::query_as(
        "UPDATE executions SET steps_done = steps_done + $1, input_tokens = input_tokens + $2, \
         output_tokens = output_tokens + $3, cached_tokens = cached_tokens + $4, cost_micros = cost_micros + $5 \
         WHERE id = $6 RETURNING steps_done, steps_total, input_tokens, output_tokens, cached_tokens, cost_micros",
    )
    .bind(i64::from(record.status == Status::Succeeded))
    .bind(record.usage.input)
    .bind(record.usage.output)
    .bind(record.usage.cached)
    .bind(record.cost_micros)
    .bind(&claimed.id)
    .fetch_one(&mut *tx)
    .await?;
    if let (Status::Succeeded, Some(key_id)) = (record.status, record.key_id) {
        crate::provider_keys::mark_accepted_in(&mut tx, key_id).await?;
    }
    crate::analytics::rollups::add_step(&mut tx, &claimed.id, &step.id).await?;
    let mut told = crate::notifications::Created::default();
    if let Some(error) = record.error {
        told.extend(record_failure(&mut tx, claimed, step, error, task_id.as_deref(), now).await?);
    }
    let ending = match record.error {
        Some(error) => Some((Status::Failed, Some(format!("step {}: {error}", step.id)))),
        None if totals.steps_done >= totals.steps_total => Some((Status::Succeeded, None)),
        None => None,
    };
    if let Some((status, reason)) = &ending {
        told.extend(finish_in(&mut tx, &claimed.id, *status, reason.as_deref(), now).await?);
    }
    tx.commit().await?;
    told.announce(&ctx.bus);
    claimed.apply(|summary| {
        totals.apply_to(summary);
        if let Some((status, reason)) = &ending {
            summary.ended(*status, reason.as_deref(), now);
        }
    });
    Ok(match ending {
        Some((status, _)) => Recorded::Ended(status),
        None => Recorded::Step,
    })
}

/// The execution's totals after a step was added to them.
#[derive(sqlx::FromRow)]
struct Totals {
    steps_done: i64,
    steps_total: i64,
    input_tokens: i64,
    output_tokens: i64,
    cached_tokens: i64,
    cost_micros: i64,
}

impl Totals {
    fn apply_to(&self, summary: &mut ExecutionSummary) {
        summary.steps_done = self.steps_done;
        summary.input_tokens = self.input_tokens;
        summary.output_tokens = self.output_tokens;
        summary.cached_tokens = self.cached_tokens;
        summary.cost_micros = self.cost_micros;
    }
}

/// The step's row as the call ended; returns its id.
async fn update_step(
    tx: &mut Tx,
    claimed: &Claimed,
    step: &Step,
    record: &StepRecord<'_>,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE task_results SET status = $1, model = $2, output = $3, error = $4, error_class = $5, \
         provider_response = $6, input_tokens = $7, output_tokens = $8, cached_tokens = $9, cost_micros = $10, \
         latency_ms = $11, attempts = $12, completed_at = $13 WHERE execution_id = $14 AND task_name = $15 \
         RETURNING id",
    )
    .bind(record.status.as_str())
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
    .bind(now)
    .bind(&claimed.id)
    .bind(&step.id)
    .fetch_optional(&mut **tx)
    .await
}

/// A failed call in the error log; a resolved group it reopens is told.
async fn record_failure(
    tx: &mut Tx,
    claimed: &Claimed,
    step: &Step,
    error: &CallError,
    task_id: Option<&str>,
    now: i64,
) -> Result<crate::notifications::Created, sqlx::Error> {
    let failure = crate::errors::Failure {
        team_id: &claimed.team_id,
        agent_id: &step.agent,
        error_class: error.class(),
        error: &error.to_string(),
        // The error log shows this row's input and provider answer.
        task_id,
        execution_id: &claimed.id,
        workflow_id: &claimed.workflow_id,
        at: now,
    };
    match crate::errors::record(tx, &failure).await? {
        Some(reopened) => {
            crate::notifications::producers::error_reopened_in(
                tx,
                &claimed.team_id,
                &reopened.message,
                reopened.resolved_by.as_deref(),
            )
            .await
        }
        None => Ok(crate::notifications::Created::default()),
    }
}
