//! Executions: one run of a workflow version, pending → running → succeeded |
//! failed | cancelled, with one `task_results` row per step. This module holds
//! the records and what the API does to them (start, read, cancel, retry); the
//! `runner` claims pending executions and runs their steps.

pub mod handlers;
pub mod page;
pub mod runner;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::app::AppState;
use crate::bus::Bus;
use crate::error::AppError;
use crate::storage::Sql;
use crate::storage::{Db, Tx, new_id, now_ms};
use crate::workflows::Workflow;

pub use handlers::routes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Cancelled)
    }

    /// A `status` filter as sent (`running,pending`); empty or absent is none.
    pub fn parse_list(text: Option<&str>) -> Result<Vec<Status>, crate::error::AppError> {
        let Some(text) = text.filter(|text| !text.is_empty()) else {
            return Ok(Vec::new());
        };
        text.split(',')
            .map(|part| {
                part.trim().parse::<Status>().map_err(|()| {
                    crate::error::AppError::validation(
                        "status",
                        format!(
                            "{part:?} is not one of: pending, running, succeeded, failed, cancelled"
                        ),
                    )
                })
            })
            .collect()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = ();

    fn from_str(text: &str) -> Result<Status, ()> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or(())
    }
}

/// Who or what started an execution.
#[derive(Debug, Clone)]
pub enum Trigger {
    User(String),
    Schedule(String),
    Retry {
        user_id: String,
        of: String,
        from: RetryFrom,
    },
    Demo,
}

impl Trigger {
    fn kind(&self) -> &'static str {
        match self {
            Trigger::User(_) => "user",
            Trigger::Schedule(_) => "schedule",
            Trigger::Retry { .. } => "retry",
            Trigger::Demo => "demo",
        }
    }

    fn user_id(&self) -> Option<&str> {
        match self {
            Trigger::User(id) | Trigger::Retry { user_id: id, .. } => Some(id),
            Trigger::Schedule(_) | Trigger::Demo => None,
        }
    }
}

/// Where a retry starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryFrom {
    /// Reuse the outputs of the steps that succeeded; run the rest.
    #[default]
    FailedStep,
    /// Run every step again.
    Start,
}

impl RetryFrom {
    fn as_str(self) -> &'static str {
        match self {
            RetryFrom::FailedStep => "failed_step",
            RetryFrom::Start => "start",
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExecutionSummary {
    pub id: String,
    pub workflow_id: String,
    pub workflow_name: String,
    pub workflow_version: i64,
    pub status: Status,
    /// `user`, `schedule`, `retry` or `demo`.
    pub triggered_by: String,
    pub user_id: Option<String>,
    pub retry_of: Option<String>,
    pub retry_from: Option<String>,
    pub steps_total: i64,
    pub steps_done: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub cost_micros: i64,
    pub error: Option<String>,
    pub cancelled_by: Option<String>,
    /// How often a dead runner's lease expired and the execution was taken over.
    pub recoveries: i64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StepResult {
    pub id: String,
    /// The step's id in the workflow.
    pub step: String,
    pub agent_id: Option<String>,
    pub status: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// The prompt as sent.
    pub input: Option<String>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub error_class: Option<String>,
    /// The provider's answer to a failed call, shortened.
    pub provider_response: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub cost_micros: i64,
    pub latency_ms: Option<i64>,
    pub attempts: i64,
    /// Set when a retry reused this output from an earlier execution's step.
    pub reused_from: Option<String>,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExecutionDetail {
    #[serde(flatten)]
    pub summary: ExecutionSummary,
    pub input: serde_json::Value,
    pub steps: Vec<StepResult>,
}

const SUMMARY_COLUMNS: &str = "e.id, e.workflow_id, w.name AS workflow_name, e.workflow_version, e.status, \
    e.triggered_by, e.user_id, e.retry_of, e.retry_from, e.steps_total, e.steps_done, e.input_tokens, \
    e.output_tokens, e.cached_tokens, e.cost_micros, e.error, e.cancelled_by, e.recoveries, e.created_at, \
    e.started_at, e.completed_at";

fn summary(row: &AnyRow) -> Result<ExecutionSummary, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(ExecutionSummary {
        id: row.try_get("id")?,
        workflow_id: row.try_get("workflow_id")?,
        workflow_name: row.try_get("workflow_name")?,
        workflow_version: row.try_get("workflow_version")?,
        status: status
            .parse()
            .map_err(|()| sqlx::Error::Decode(format!("unknown status {status:?}").into()))?,
        triggered_by: row
            .try_get::<Option<String>, _>("triggered_by")?
            .unwrap_or_default(),
        user_id: row.try_get("user_id")?,
        retry_of: row.try_get("retry_of")?,
        retry_from: row.try_get("retry_from")?,
        steps_total: row.try_get("steps_total")?,
        steps_done: row.try_get("steps_done")?,
        input_tokens: row.try_get("input_tokens")?,
        output_tokens: row.try_get("output_tokens")?,
        cached_tokens: row.try_get("cached_tokens")?,
        cost_micros: row.try_get("cost_micros")?,
        error: row.try_get("error")?,
        cancelled_by: row.try_get("cancelled_by")?,
        recoveries: row.try_get("recoveries")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
    })
}

const STEP_COLUMNS: &str = "id, task_name, agent_id, status, provider, model, input, output, error, error_class, \
    provider_response, input_tokens, output_tokens, cached_tokens, cost_micros, latency_ms, attempts, reused_from, \
    started_at, completed_at";

fn step_result(row: &AnyRow) -> Result<StepResult, sqlx::Error> {
    Ok(StepResult {
        id: row.try_get("id")?,
        step: row.try_get("task_name")?,
        agent_id: row.try_get("agent_id")?,
        status: row.try_get("status")?,
        provider: row.try_get("provider")?,
        model: row.try_get("model")?,
        input: row.try_get("input")?,
        output: row.try_get("output")?,
        error: row.try_get("error")?,
        error_class: row.try_get("error_class")?,
        provider_response: row.try_get("provider_response")?,
        input_tokens: row.try_get("input_tokens")?,
        output_tokens: row.try_get("output_tokens")?,
        cached_tokens: row.try_get("cached_tokens")?,
        cost_micros: row.try_get("cost_micros")?,
        latency_ms: row.try_get("latency_ms")?,
        attempts: row.try_get("attempts")?,
        reused_from: row.try_get("reused_from")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
    })
}

/// Publishes an execution's current state on the live bus.
pub async fn publish(db: &Db, bus: &Bus, team_id: &str, id: &str) {
    match summary_of(db, team_id, id).await {
        Ok(Some(summary)) => bus.publish(team_id.to_string(), "execution.changed", &summary),
        Ok(None) => {}
        Err(err) => {
            tracing::warn!(error = %err, execution = id, "could not read execution for the bus")
        }
    }
}

async fn summary_of(
    db: &Db,
    team_id: &str,
    id: &str,
) -> Result<Option<ExecutionSummary>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM executions e JOIN workflows w ON w.id = e.workflow_id \
         WHERE e.team_id = $1 AND e.id = $2"
    ))
    .bind(team_id)
    .bind(id)
    .fetch_optional(db.read())
    .await?
    .as_ref()
    .map(summary)
    .transpose()
}

/// Creates a pending execution of the workflow's latest version and wakes the
/// runner. Returns the execution id.
pub async fn start(
    state: &AppState,
    team_id: &str,
    workflow: &Workflow,
    input: serde_json::Value,
    trigger: Trigger,
) -> Result<String, AppError> {
    let mut tx = state.db.begin().await?;
    let id = insert(
        &mut tx,
        team_id,
        &workflow.id,
        workflow.version,
        workflow.steps.len(),
        &input,
        &trigger,
    )
    .await?;
    tx.commit().await?;
    publish(&state.db, &state.bus, team_id, &id).await;
    state.runner.wake();
    Ok(id)
}

async fn insert(
    tx: &mut Tx,
    team_id: &str,
    workflow_id: &str,
    version: i64,
    steps_total: usize,
    input: &serde_json::Value,
    trigger: &Trigger,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    let now = now_ms();
    let (retry_of, retry_from) = match trigger {
        Trigger::Retry { of, from, .. } => (Some(of.as_str()), Some(from.as_str())),
        _ => (None, None),
    };
    sqlx::query(
        "INSERT INTO executions (id, team_id, workflow_id, workflow_version, status, input, triggered_by, user_id, \
         created_at, updated_at, steps_total, retry_of, retry_from) \
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(team_id)
    .bind(workflow_id)
    .bind(version)
    .bind(input.to_string())
    .bind(trigger.kind())
    .bind(trigger.user_id())
    .bind(now)
    .bind(i64::try_from(steps_total).unwrap_or(i64::MAX))
    .bind(retry_of)
    .bind(retry_from)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

pub async fn get(db: &Db, team_id: &str, id: &str) -> Result<Option<ExecutionDetail>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {SUMMARY_COLUMNS}, e.input FROM executions e JOIN workflows w ON w.id = e.workflow_id \
         WHERE e.team_id = $1 AND e.id = $2"
    ))
    .bind(team_id)
    .bind(id)
    .fetch_optional(db.read())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let input: Option<String> = row.try_get("input")?;
    let steps = sqlx::query(&format!(
        "SELECT {STEP_COLUMNS} FROM task_results WHERE execution_id = $1 ORDER BY started_at, task_name"
    ))
    .bind(id)
    .fetch_all(db.read())
    .await?
    .iter()
    .map(step_result)
    .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(ExecutionDetail {
        summary: summary(&row)?,
        input: input
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(serde_json::Value::Null),
        steps,
    }))
}

/// Filters of the executions list; all optional.
#[derive(Debug, Default)]
pub struct Filter {
    pub statuses: Vec<Status>,
    pub workflow_id: Option<String>,
    pub user_id: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only executions created before this one (created_at, id): the next page.
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

pub async fn list(
    db: &Db,
    team_id: &str,
    filter: &Filter,
) -> Result<Vec<ExecutionSummary>, sqlx::Error> {
    let mut sql = Sql::new(
        &format!(
            "SELECT {SUMMARY_COLUMNS} FROM executions e JOIN workflows w ON w.id = e.workflow_id WHERE e.team_id = ?"
        ),
        team_id,
    );
    sql.and_in(
        "e.status",
        filter.statuses.iter().map(|status| status.as_str()),
    );
    if let Some(workflow) = &filter.workflow_id {
        sql.and("e.workflow_id = ?", workflow);
    }
    if let Some(user) = &filter.user_id {
        sql.and("e.user_id = ?", user);
    }
    if let Some(since) = filter.since {
        sql.and("e.created_at >= ?", since);
    }
    if let Some(until) = filter.until {
        sql.and("e.created_at < ?", until);
    }
    if let Some((created_at, id)) = &filter.before {
        let at = sql.bind(*created_at);
        let id = sql.bind(id);
        sql.and_text(&format!(
            "(e.created_at < {at} OR (e.created_at = {at} AND e.id < {id}))"
        ));
    }
    sql.push(
        " ORDER BY e.created_at DESC, e.id DESC LIMIT ?",
        filter.limit,
    );
    sql.query()
        .fetch_all(db.read())
        .await?
        .iter()
        .map(summary)
        .collect()
}

/// What a cancel request came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Cancelled {
    Done,
    AlreadyFinished(Status),
    NotFound,
}

/// Cancels a pending or running execution: the record first (so a runner's next
/// fenced write fails), then the local runner drops its in-flight calls.
pub async fn cancel(
    state: &AppState,
    team_id: &str,
    id: &str,
    user_id: &str,
) -> Result<Cancelled, sqlx::Error> {
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let done = sqlx::query(
        "UPDATE executions SET status = 'cancelled', cancelled_by = $1, completed_at = $2, updated_at = $2, \
         error = 'cancelled by a user', lease_owner = NULL, lease_expires_at = NULL \
         WHERE team_id = $3 AND id = $4 AND status IN ('pending', 'running')",
    )
    .bind(user_id)
    .bind(now)
    .bind(team_id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM executions WHERE team_id = $1 AND id = $2")
                .bind(team_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        return Ok(match status.and_then(|s| s.parse().ok()) {
            Some(status) => Cancelled::AlreadyFinished(status),
            None => Cancelled::NotFound,
        });
    }
    sqlx::query(
        "UPDATE task_results SET status = 'cancelled', completed_at = $1, error = 'cancelled by a user' \
         WHERE execution_id = $2 AND status IN ('pending', 'running')",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    crate::analytics::rollups::add_execution(&mut tx, id).await?;
    tx.commit().await?;
    state.runner.cancel_local(id);
    publish(&state.db, &state.bus, team_id, id).await;
    Ok(Cancelled::Done)
}

/// What a retry request came to.
#[derive(Debug)]
pub enum Retried {
    Started(String),
    NotRetryable(Status),
    NotFound,
}

/// Starts a new execution of the same workflow version and input, linked to the
/// original. From the failed step, the original's finished outputs are copied
/// (marked as reused, with no tokens or cost of their own) and only the rest run.
pub async fn retry(
    state: &AppState,
    team_id: &str,
    id: &str,
    user_id: &str,
    from: RetryFrom,
) -> Result<Retried, sqlx::Error> {
    let Some(original) = get(&state.db, team_id, id).await? else {
        return Ok(Retried::NotFound);
    };
    let status = original.summary.status;
    if !matches!(status, Status::Failed | Status::Cancelled) {
        return Ok(Retried::NotRetryable(status));
    }
    let trigger = Trigger::Retry {
        user_id: user_id.to_string(),
        of: id.to_string(),
        from,
    };
    let mut tx = state.db.begin().await?;
    let new_id = insert(
        &mut tx,
        team_id,
        &original.summary.workflow_id,
        original.summary.workflow_version,
        usize::try_from(original.summary.steps_total).unwrap_or(0),
        &original.input,
        &trigger,
    )
    .await?;
    if from == RetryFrom::FailedStep {
        let reused = copy_finished_steps(&mut tx, team_id, &original.steps, &new_id).await?;
        sqlx::query("UPDATE executions SET steps_done = $1 WHERE id = $2")
            .bind(reused)
            .bind(&new_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    publish(&state.db, &state.bus, team_id, &new_id).await;
    state.runner.wake();
    Ok(Retried::Started(new_id))
}

async fn copy_finished_steps(
    tx: &mut Tx,
    team_id: &str,
    steps: &[StepResult],
    execution_id: &str,
) -> Result<i64, sqlx::Error> {
    let mut copied = 0;
    for step in steps.iter().filter(|step| step.status == "succeeded") {
        sqlx::query(
            "INSERT INTO task_results (id, execution_id, team_id, task_name, agent_id, status, input, output, \
             provider, model, started_at, completed_at, reused_from, attempts) \
             VALUES ($1, $2, $3, $4, $5, 'succeeded', $6, $7, $8, $9, $10, $11, $12, 0)",
        )
        .bind(new_id())
        .bind(execution_id)
        .bind(team_id)
        .bind(&step.step)
        .bind(&step.agent_id)
        .bind(&step.input)
        .bind(&step.output)
        .bind(&step.provider)
        .bind(&step.model)
        .bind(step.started_at)
        .bind(step.completed_at)
        .bind(step.reused_from.as_ref().unwrap_or(&step.id))
        .execute(&mut **tx)
        .await?;
        copied += 1;
    }
    Ok(copied)
}

/// Cancels on someone's behalf (API and pages): audited; what was not done
/// becomes the error to answer with.
pub async fn cancel_for(
    state: &AppState,
    principal: &crate::auth::Principal,
    id: &str,
) -> Result<(), AppError> {
    match cancel(state, &principal.team_id, id, &principal.user_id).await? {
        Cancelled::Done => {
            crate::audit::by_principal(
                &state.db,
                principal,
                "execution.cancelled",
                ("execution", id),
                None,
            )
            .await?;
            Ok(())
        }
        Cancelled::NotFound => Err(AppError::NotFound),
        Cancelled::AlreadyFinished(status) => Err(AppError::Conflict(format!(
            "the execution already {status}"
        ))),
    }
}

/// Retries on someone's behalf (API and pages): audited; returns the new
/// execution's id.
pub async fn retry_for(
    state: &AppState,
    principal: &crate::auth::Principal,
    id: &str,
    from: RetryFrom,
) -> Result<String, AppError> {
    match retry(state, &principal.team_id, id, &principal.user_id, from).await? {
        Retried::Started(new_id) => {
            crate::audit::by_principal(
                &state.db,
                principal,
                "execution.retried",
                ("execution", id),
                Some(serde_json::json!({"new_execution": new_id, "from": from})),
            )
            .await?;
            Ok(new_id)
        }
        Retried::NotFound => Err(AppError::NotFound),
        Retried::NotRetryable(status) => Err(AppError::Conflict(format!(
            "only failed or cancelled executions can be retried; this one is {status}"
        ))),
    }
}
