//! Executions: one run of a workflow version, pending → running → succeeded |
//! failed | cancelled, with one `task_results` row per step. This module holds
//! what is done to them (start, cancel, retry) and publishes each change on the
//! live bus; `model` their types, `store` their SQL; the `runner` claims pending
//! executions and runs their steps.

pub mod handlers;
pub mod model;
pub mod page;
pub mod runner;
mod store;

use std::sync::Arc;

use crate::audit::Actor;
use crate::bus::Bus;
use crate::error::AppError;
use crate::storage::{Db, Tx};
use crate::workflows::Workflow;

pub use handlers::routes;
pub use model::{
    Cancelled, ExecutionDetail, ExecutionSummary, Filter, Retried, RetryFrom, Source, Status,
    StepResult, Trigger, TriggerKind,
};
pub use store::{NewExecution, WorkflowRuns, get, insert as insert_in, list, runs_by_workflow};

use runner::Runner;

/// What starting, cancelling and retrying touch: the database, the live bus,
/// this process's runner (woken for new work, told to drop cancelled runs) and
/// what the runner runs with, so a new execution can start here at once.
#[derive(Clone, Copy)]
pub struct Engine<'a> {
    pub db: &'a Db,
    pub bus: &'a Arc<Bus>,
    pub runner: &'a Arc<Runner>,
    pub vault: &'a Arc<crate::vault::Vault>,
    pub providers: &'a crate::providers::Providers,
    pub exporter: &'a Arc<crate::otlp::export::Exporter>,
    pub shutdown: &'a tokio_util::sync::CancellationToken,
}

impl Engine<'_> {
    /// The runner's context, for the worker's tick and for starting at once.
    pub fn runner_context(&self) -> runner::Context {
        runner::Context {
            db: self.db.clone(),
            bus: self.bus.clone(),
            vault: self.vault.clone(),
            providers: self.providers.clone(),
            runner: self.runner.clone(),
            exporter: self.exporter.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}

/// Publishes an execution's current state on the live bus.
pub async fn publish(db: &Db, bus: &Bus, team_id: &str, id: &str) {
    match store::summary(db, team_id, id).await {
        Ok(Some(summary)) => bus.publish(
            team_id.to_string(),
            crate::bus::Kind::ExecutionChanged,
            &summary,
        ),
        Ok(None) => {}
        Err(err) => {
            tracing::warn!(error = %err, execution = id, "could not read execution for the bus")
        }
    }
}

/// Creates a pending execution of the workflow's latest version (audited when a
/// user started it) and wakes the runner. Returns the execution id.
pub async fn start(
    engine: Engine<'_>,
    team_id: &str,
    workflow: &Workflow,
    input: serde_json::Value,
    trigger: Trigger,
) -> Result<String, AppError> {
    let new = NewExecution {
        team_id,
        workflow_id: &workflow.id,
        version: workflow.version,
        steps_total: i64::try_from(workflow.steps.len()).unwrap_or(i64::MAX),
        input: &input,
        trigger: &trigger,
    };
    let mut tx = engine.db.begin().await?;
    let id = store::insert(&mut tx, &new).await?;
    commit_created(engine, tx, team_id, &id).await?;
    Ok(id)
}

/// Commits a just-created execution. When this runner has a free slot it is
/// claimed in the same transaction, its first steps marked running, and it
/// runs at once: one commit, and no wait for the runner's loop. Otherwise it
/// commits pending and the runner is woken.
async fn commit_created(
    engine: Engine<'_>,
    mut tx: Tx,
    team_id: &str,
    id: &str,
) -> Result<(), sqlx::Error> {
    let ctx = engine.runner_context();
    let started = runner::claim_created(&ctx, &mut tx, id).await?;
    tx.commit().await?;
    match started {
        Some(started) => runner::run(ctx, started),
        None => announce(engine, team_id, id).await,
    }
    Ok(())
}

/// After an execution's insert committed: the monitor hears of it and the
/// runner wakes.
pub async fn announce(engine: Engine<'_>, team_id: &str, id: &str) {
    engine.runner.wake();
    publish(engine.db, engine.bus, team_id, id).await;
}

/// Cancels a pending or running execution for the actor: the record first (so a
/// runner's next fenced write fails), then the local runner drops its in-flight
/// calls.
pub async fn cancel(
    engine: Engine<'_>,
    actor: Actor<'_>,
    id: &str,
) -> Result<Cancelled, sqlx::Error> {
    match store::cancel(engine.db, actor, id).await? {
        Ok(()) => {
            engine.runner.cancel_local(id);
            publish(engine.db, engine.bus, actor.team_id, id).await;
            Ok(Cancelled::Done)
        }
        Err(Some(status)) => Ok(Cancelled::AlreadyFinished(status)),
        Err(None) => Ok(Cancelled::NotFound),
    }
}

/// Starts a new execution of the same workflow version and input, linked to the
/// original. From the failed step, the original's finished outputs are copied
/// (marked as reused, with no tokens or cost of their own) and only the rest run.
pub async fn retry(
    engine: Engine<'_>,
    actor: Actor<'_>,
    id: &str,
    from: RetryFrom,
) -> Result<Retried, sqlx::Error> {
    let Some(original) = get(engine.db, actor.team_id, id).await? else {
        return Ok(Retried::NotFound);
    };
    if original.summary.source == Source::Otlp {
        return Ok(Retried::External);
    }
    let status = original.summary.status;
    if !matches!(status, Status::Failed | Status::Cancelled) {
        return Ok(Retried::NotRetryable(status));
    }
    let Some(user_id) = actor.user_id else {
        return Ok(Retried::NotFound);
    };
    let trigger = Trigger::Retry {
        user_id: user_id.to_string(),
        of: id.to_string(),
        from,
    };
    let new = NewExecution {
        team_id: actor.team_id,
        workflow_id: &original.summary.workflow_id,
        version: original.summary.workflow_version,
        steps_total: original.summary.steps_total,
        input: &original.input,
        trigger: &trigger,
    };
    let mut tx = engine.db.begin().await?;
    let new_id = store::insert(&mut tx, &new).await?;
    if from == RetryFrom::FailedStep {
        store::copy_finished_steps(&mut tx, actor.team_id, &original.steps, &new_id).await?;
    }
    commit_created(engine, tx, actor.team_id, &new_id).await?;
    Ok(Retried::Started(new_id))
}

/// Cancels on someone's behalf (API and pages); what was not done becomes the
/// error to answer with.
pub async fn cancel_for(engine: Engine<'_>, actor: Actor<'_>, id: &str) -> Result<(), AppError> {
    match cancel(engine, actor, id).await? {
        Cancelled::Done => Ok(()),
        Cancelled::NotFound => Err(AppError::NotFound),
        Cancelled::AlreadyFinished(status) => Err(AppError::Conflict(format!(
            "the execution already {status}"
        ))),
    }
}

/// Retries on someone's behalf (API and pages); returns the new execution's id.
pub async fn retry_for(
    engine: Engine<'_>,
    actor: Actor<'_>,
    id: &str,
    from: RetryFrom,
) -> Result<String, AppError> {
    match retry(engine, actor, id, from).await? {
        Retried::Started(new_id) => Ok(new_id),
        Retried::NotFound => Err(AppError::NotFound),
        Retried::NotRetryable(status) => Err(AppError::Conflict(format!(
            "only failed or cancelled executions can be retried; this one is {status}"
        ))),
        Retried::External => Err(AppError::Conflict(
            "this execution is a trace your own service sent over OpenTelemetry; retry it there"
                .into(),
        )),
    }
}
