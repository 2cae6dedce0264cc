//! The executions' SQL: reading them (summary, detail with steps, filtered
//! lists), creating one, cancelling one, and copying a failed run's finished
//! steps into its retry. Rows decode here; statuses, triggers and retry modes
//! become enums, and a value the code does not know is an error naming it.
//! Changes made for someone are audited in their own transaction.

use serde_json::json;

use super::model::{
    ExecutionDetail, ExecutionSummary, Filter, RetryFrom, Status, StepResult, Trigger,
};
use crate::audit::Actor;
use crate::storage::{Db, Sql, Tx, decode_name, new_id, now_ms};

/// The executions' own columns a summary reads; the workflow's name comes
/// from the workflows table.
const SUMMARY_FIELDS: [&str; 21] = [
    "id",
    "workflow_id",
    "workflow_version",
    "status",
    "triggered_by",
    "source",
    "user_id",
    "retry_of",
    "retry_from",
    "steps_total",
    "steps_done",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_micros",
    "error",
    "cancelled_by",
    "recoveries",
    "created_at",
    "started_at",
    "completed_at",
];

/// A summary's select list: the executions' columns behind `prefix` (`e.` in
/// a join) and `name`, the expression giving the workflow's name. The reads
/// here and the runner's claim (`RETURNING`) share it.
pub(super) fn summary_columns(prefix: &str, name: &str) -> String {
    let mut columns: Vec<String> = SUMMARY_FIELDS
        .iter()
        .map(|column| format!("{prefix}{column}"))
        .collect();
    columns.push(format!("{name} AS workflow_name"));
    columns.join(", ")
}

/// The summary's columns in the reads' join (`executions e JOIN workflows w`).
static SUMMARY_COLUMNS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| summary_columns("e.", "w.name"));

/// An execution's summary as read (also by the runner's claim).
#[derive(sqlx::FromRow)]
pub(super) struct SummaryRow {
    id: String,
    workflow_id: String,
    workflow_name: String,
    workflow_version: i64,
    status: String,
    triggered_by: Option<String>,
    source: String,
    user_id: Option<String>,
    retry_of: Option<String>,
    retry_from: Option<String>,
    steps_total: i64,
    steps_done: i64,
    input_tokens: i64,
    output_tokens: i64,
    cached_tokens: i64,
    cost_micros: i64,
    error: Option<String>,
    cancelled_by: Option<String>,
    recoveries: i64,
    created_at: i64,
    started_at: Option<i64>,
    completed_at: Option<i64>,
}

impl TryFrom<SummaryRow> for ExecutionSummary {
    type Error = sqlx::Error;

    fn try_from(row: SummaryRow) -> Result<ExecutionSummary, sqlx::Error> {
        let triggered_by = row.triggered_by.as_deref().unwrap_or("user");
        Ok(ExecutionSummary {
            status: decode_name("execution status", &row.status)?,
            triggered_by: decode_name("triggered_by", triggered_by)?,
            source: decode_name("execution source", &row.source)?,
            retry_from: row
                .retry_from
                .as_deref()
                .map(|text| decode_name::<RetryFrom>("retry_from", text))
                .transpose()?,
            id: row.id,
            workflow_id: row.workflow_id,
            workflow_name: row.workflow_name,
            workflow_version: row.workflow_version,
            user_id: row.user_id,
            retry_of: row.retry_of,
            steps_total: row.steps_total,
            steps_done: row.steps_done,
            input_tokens: row.input_tokens,
            output_tokens: row.output_tokens,
            cached_tokens: row.cached_tokens,
            cost_micros: row.cost_micros,
            error: row.error,
            cancelled_by: row.cancelled_by,
            recoveries: row.recoveries,
            created_at: row.created_at,
            started_at: row.started_at,
            completed_at: row.completed_at,
        })
    }
}

const STEP_COLUMNS: &str = "id, task_name, agent_id, status, provider, model, input, output, error, error_class, \
    provider_response, input_tokens, output_tokens, cached_tokens, cost_micros, latency_ms, attempts, reused_from, \
    started_at, completed_at";

#[derive(sqlx::FromRow)]
struct StepRow {
    id: String,
    task_name: String,
    agent_id: Option<String>,
    status: String,
    provider: Option<String>,
    model: Option<String>,
    input: Option<String>,
    output: Option<String>,
    error: Option<String>,
    error_class: Option<String>,
    provider_response: Option<String>,
    input_tokens: i64,
    output_tokens: i64,
    cached_tokens: i64,
    cost_micros: i64,
    latency_ms: Option<i64>,
    attempts: i64,
    reused_from: Option<String>,
    started_at: Option<i64>,
    completed_at: Option<i64>,
}

impl TryFrom<StepRow> for StepResult {
    type Error = sqlx::Error;

    fn try_from(row: StepRow) -> Result<StepResult, sqlx::Error> {
        Ok(StepResult {
            status: decode_name("step status", &row.status)?,
            id: row.id,
            step: row.task_name,
            agent_id: row.agent_id,
            provider: row.provider,
            model: row.model,
            input: row.input,
            output: row.output,
            error: row.error,
            error_class: row.error_class,
            provider_response: row.provider_response,
            input_tokens: row.input_tokens,
            output_tokens: row.output_tokens,
            cached_tokens: row.cached_tokens,
            cost_micros: row.cost_micros,
            latency_ms: row.latency_ms,
            attempts: row.attempts,
            reused_from: row.reused_from,
            started_at: row.started_at,
            completed_at: row.completed_at,
        })
    }
}

/// One execution's summary (what the list and the live bus show).
pub async fn summary(
    db: &Db,
    team_id: &str,
    id: &str,
) -> Result<Option<ExecutionSummary>, sqlx::Error> {
    sqlx::query_as::<_, SummaryRow>(&format!(
        "SELECT {} FROM executions e JOIN workflows w ON w.id = e.workflow_id \
         WHERE e.team_id = $1 AND e.id = $2",
        *SUMMARY_COLUMNS
    ))
    .bind(team_id)
    .bind(id)
    .fetch_optional(db.read())
    .await?
    .map(ExecutionSummary::try_from)
    .transpose()
}

#[derive(sqlx::FromRow)]
struct DetailRow {
    #[sqlx(flatten)]
    summary: SummaryRow,
    input: Option<String>,
}

/// One execution with its input and steps.
pub async fn get(db: &Db, team_id: &str, id: &str) -> Result<Option<ExecutionDetail>, sqlx::Error> {
    let row: Option<DetailRow> = sqlx::query_as(&format!(
        "SELECT {}, e.input FROM executions e JOIN workflows w ON w.id = e.workflow_id \
         WHERE e.team_id = $1 AND e.id = $2",
        *SUMMARY_COLUMNS
    ))
    .bind(team_id)
    .bind(id)
    .fetch_optional(db.read())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let steps = sqlx::query_as::<_, StepRow>(&format!(
        "SELECT {STEP_COLUMNS} FROM task_results WHERE execution_id = $1 ORDER BY started_at, task_name"
    ))
    .bind(id)
    .fetch_all(db.read())
    .await?
    .into_iter()
    .map(StepResult::try_from)
    .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(ExecutionDetail {
        summary: row.summary.try_into()?,
        input: row
            .input
            .as_deref()
            .map(|text| crate::storage::decode_json("executions.input", text))
            .transpose()?
            .unwrap_or(serde_json::Value::Null),
        steps,
    }))
}

/// The team's executions matching `filter`, newest first.
pub async fn list(
    db: &Db,
    team_id: &str,
    filter: &Filter,
) -> Result<Vec<ExecutionSummary>, sqlx::Error> {
    let mut sql = Sql::new(
        &format!(
            "SELECT {} FROM executions e JOIN workflows w ON w.id = e.workflow_id WHERE e.team_id = ?",
            *SUMMARY_COLUMNS
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
    if let Some(source) = filter.source {
        sql.and("e.source = ?", source.as_str());
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
    sql.query_as::<SummaryRow>()
        .fetch_all(db.read())
        .await?
        .into_iter()
        .map(ExecutionSummary::try_from)
        .collect()
}

/// A new pending execution, as `start` and `retry` create it.
pub struct NewExecution<'a> {
    pub team_id: &'a str,
    pub workflow_id: &'a str,
    pub version: i64,
    pub steps_total: i64,
    pub input: &'a serde_json::Value,
    pub trigger: &'a Trigger,
}

/// Inserts a pending execution, with the audit entry of the user who started
/// it (none for the schedule or the demo). Returns its id.
pub async fn insert(tx: &mut Tx, new: &NewExecution<'_>) -> Result<String, sqlx::Error> {
    let id = new_id();
    let now = now_ms();
    let (retry_of, retry_from) = match new.trigger {
        Trigger::Retry { of, from, .. } => (Some(of.as_str()), Some(from.as_str())),
        _ => (None, None),
    };
    sqlx::query(
        "INSERT INTO executions (id, team_id, workflow_id, workflow_version, status, input, triggered_by, user_id, \
         created_at, updated_at, steps_total, retry_of, retry_from, schedule_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12, $13)",
    )
    .bind(&id)
    .bind(new.team_id)
    .bind(new.workflow_id)
    .bind(new.version)
    .bind(Status::Pending.as_str())
    .bind(new.input.to_string())
    .bind(new.trigger.kind().as_str())
    .bind(new.trigger.user_id())
    .bind(now)
    .bind(new.steps_total)
    .bind(retry_of)
    .bind(retry_from)
    .bind(match new.trigger {
        Trigger::Schedule(schedule) => Some(schedule.as_str()),
        _ => None,
    })
    .execute(&mut **tx)
    .await?;
    if let Some(user) = new.trigger.user_id() {
        let (action, target, detail) = match new.trigger {
            Trigger::Retry { of, from, .. } => (
                "execution.retried",
                of.as_str(),
                json!({"new_execution": id, "from": from}),
            ),
            _ => (
                "execution.started",
                id.as_str(),
                json!({"workflow_id": new.workflow_id, "version": new.version}),
            ),
        };
        let actor = Actor::user(new.team_id, user);
        crate::audit::record_in(tx, actor, action, ("execution", target), Some(detail)).await?;
    }
    Ok(id)
}

/// Marks a pending or running execution (and its open steps) cancelled by the
/// actor, with the audit entry. `Err(status)`: it had already finished, or
/// there is no such execution (`None`).
pub async fn cancel(
    db: &Db,
    actor: Actor<'_>,
    id: &str,
) -> Result<Result<(), Option<Status>>, sqlx::Error> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let done = sqlx::query(
        "UPDATE executions SET status = 'cancelled', cancelled_by = $1, completed_at = $2, updated_at = $2, \
         error = 'cancelled by a user', lease_owner = NULL, lease_expires_at = NULL \
         WHERE team_id = $3 AND id = $4 AND status IN ('pending', 'running')",
    )
    .bind(actor.user_id)
    .bind(now)
    .bind(actor.team_id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM executions WHERE team_id = $1 AND id = $2")
                .bind(actor.team_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let status = status
            .map(|text| decode_name::<Status>("execution status", &text))
            .transpose()?;
        return Ok(Err(status));
    }
    close_open_steps(&mut tx, id, Status::Cancelled, "cancelled by a user", now).await?;
    crate::analytics::rollups::add_execution(&mut tx, id).await?;
    crate::audit::record_in(
        &mut tx,
        actor,
        "execution.cancelled",
        ("execution", id),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Closes an execution's pending and running steps with `status` and `reason`.
pub async fn close_open_steps(
    tx: &mut Tx,
    execution_id: &str,
    status: Status,
    reason: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE task_results SET status = $1, error = $2, completed_at = $3 \
         WHERE execution_id = $4 AND status IN ('pending', 'running')",
    )
    .bind(status.as_str())
    .bind(reason)
    .bind(now)
    .bind(execution_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Copies the succeeded steps of a failed run into its retry (marked as reused,
/// with no tokens or cost of their own), in one statement; returns how many.
pub async fn copy_finished_steps(
    tx: &mut Tx,
    team_id: &str,
    steps: &[StepResult],
    execution_id: &str,
) -> Result<i64, sqlx::Error> {
    let reused: Vec<&StepResult> = steps
        .iter()
        .filter(|step| step.status == Status::Succeeded)
        .collect();
    if reused.is_empty() {
        return Ok(0);
    }
    let mut sql = Sql::text(
        "INSERT INTO task_results (id, execution_id, team_id, task_name, agent_id, status, input, output, \
         provider, model, started_at, completed_at, reused_from, attempts) VALUES ",
    );
    for (n, step) in reused.iter().enumerate() {
        let values = [
            sql.bind(new_id()),
            sql.bind(execution_id),
            sql.bind(team_id),
            sql.bind(&step.step),
            sql.bind(step.agent_id.clone()),
            sql.bind(Status::Succeeded.as_str()),
            sql.bind(step.input.clone()),
            sql.bind(step.output.clone()),
            sql.bind(step.provider.clone()),
            sql.bind(step.model.clone()),
            sql.bind(step.started_at),
            sql.bind(step.completed_at),
            sql.bind(step.reused_from.as_ref().unwrap_or(&step.id)),
        ];
        let separator = if n == 0 { "" } else { ", " };
        sql.push_text(&format!("{separator}({}, 0)", values.join(", ")));
    }
    sql.query().execute(&mut **tx).await?;
    sqlx::query("UPDATE executions SET steps_done = $1 WHERE id = $2")
        .bind(reused.len() as i64)
        .bind(execution_id)
        .execute(&mut **tx)
        .await?;
    Ok(reused.len() as i64)
}

/// A workflow's runs since some time: how many, how many finished and
/// succeeded, and its latest run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkflowRuns {
    pub workflow_id: String,
    pub runs: i64,
    pub finished: i64,
    pub succeeded: i64,
    pub last_run_at: i64,
    pub last_status: String,
}

/// Every workflow's runs created since `since` (those without runs are absent).
pub async fn runs_by_workflow(
    db: &Db,
    team_id: &str,
    since: i64,
) -> Result<Vec<WorkflowRuns>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.workflow_id, COUNT(*) AS runs, \
         CAST(SUM(CASE WHEN e.status IN ('succeeded', 'failed', 'cancelled') THEN 1 ELSE 0 END) AS BIGINT) AS finished, \
         CAST(SUM(CASE WHEN e.status = 'succeeded' THEN 1 ELSE 0 END) AS BIGINT) AS succeeded, \
         MAX(e.created_at) AS last_run_at, \
         (SELECT x.status FROM executions x WHERE x.team_id = e.team_id AND x.workflow_id = e.workflow_id \
          ORDER BY x.created_at DESC, x.id DESC LIMIT 1) AS last_status \
         FROM executions e WHERE e.team_id = $1 AND e.created_at >= $2 GROUP BY e.team_id, e.workflow_id",
    )
    .bind(team_id)
    .bind(since)
    .fetch_all(db.read())
    .await
}
