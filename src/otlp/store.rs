//! The SQL of folding queued spans into executions: the queue (`otlp_spans`),
//! each trace's frame (`otlp_traces`), the service's external workflow, the
//! trace's external execution and its steps.

use crate::storage::sql::Value as SqlValue;
use crate::storage::{Db, Sql, Tx, now_ms};

/// A queued span, as the worker reads it back.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueuedSpan {
    pub id: String,
    pub team_id: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub service: String,
    pub name: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub failed: i64,
    pub error: Option<String>,
    pub error_type: Option<String>,
    pub genai: i64,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_creation_tokens: i64,
}

/// The oldest queued spans, locked for this transaction (on PostgreSQL other
/// replicas skip them; on SQLite the one writer serializes the workers).
pub async fn queued(tx: &mut Tx, db: &Db, limit: i64) -> Result<Vec<QueuedSpan>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT id, team_id, trace_id, span_id, parent_span_id, service, name, start_ms, end_ms, failed, error, \
         error_type, genai, provider, model, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens \
         FROM otlp_spans ORDER BY received_at, id LIMIT $1{}",
        db.skip_locked()
    ))
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}

/// Spans waiting, from every replica.
pub async fn queue_length(db: &Db) -> Result<u64, sqlx::Error> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM otlp_spans")
        .fetch_one(db.read())
        .await?;
    Ok(count.max(0) as u64)
}

pub async fn dequeue(tx: &mut Tx, ids: &[&str]) -> Result<(), sqlx::Error> {
    for chunk in ids.chunks(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "DELETE FROM otlp_spans WHERE id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// What one fold learnt about a trace's frame.
#[derive(Debug, Clone, Default)]
pub struct FrameUpdate {
    pub service: String,
    pub root_name: Option<String>,
    pub root_failed: bool,
    pub root_error: Option<String>,
    pub started_at: i64,
    pub ended_at: i64,
}

/// A trace's frame after this fold.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Frame {
    pub service: String,
    pub root_name: Option<String>,
    pub root_failed: i64,
    pub root_error: Option<String>,
    pub started_at: i64,
    pub ended_at: i64,
}

/// Widens the trace's frame with this fold's spans and reads it back.
pub async fn widen_frame(
    tx: &mut Tx,
    team_id: &str,
    trace_id: &str,
    update: &FrameUpdate,
) -> Result<Frame, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO otlp_traces (team_id, trace_id, service, root_name, root_failed, root_error, started_at, \
         ended_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (team_id, trace_id) DO UPDATE SET \
         service = CASE WHEN excluded.root_name IS NULL THEN otlp_traces.service ELSE excluded.service END, \
         root_name = COALESCE(excluded.root_name, otlp_traces.root_name), \
         root_failed = CASE WHEN excluded.root_name IS NULL THEN otlp_traces.root_failed ELSE excluded.root_failed END, \
         root_error = COALESCE(excluded.root_error, otlp_traces.root_error), \
         started_at = CASE WHEN excluded.started_at < otlp_traces.started_at THEN excluded.started_at \
         ELSE otlp_traces.started_at END, \
         ended_at = CASE WHEN excluded.ended_at > otlp_traces.ended_at THEN excluded.ended_at \
         ELSE otlp_traces.ended_at END, \
         updated_at = excluded.updated_at \
         RETURNING service, root_name, root_failed, root_error, started_at, ended_at",
    )
    .bind(team_id)
    .bind(trace_id)
    .bind(&update.service)
    .bind(update.root_name.as_deref())
    .bind(i64::from(update.root_failed))
    .bind(update.root_error.as_deref())
    .bind(update.started_at)
    .bind(update.ended_at)
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await
}

/// The trace's execution, if one of its model calls made it already.
pub async fn execution_of(
    tx: &mut Tx,
    team_id: &str,
    trace_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM executions WHERE team_id = $1 AND trace_id = $2")
        .bind(team_id)
        .bind(trace_id)
        .fetch_optional(&mut **tx)
        .await
}

/// The service's external workflow (made on its first trace).
pub async fn service_workflow(
    tx: &mut Tx,
    team_id: &str,
    service: &str,
) -> Result<String, sqlx::Error> {
    let now = now_ms();
    sqlx::query_scalar(
        "INSERT INTO workflows (id, team_id, name, description, definition, version, created_at, updated_at, source) \
         VALUES ($1, $2, $3, $4, '{\"steps\":[]}', 1, $5, $5, 'otlp') \
         ON CONFLICT (team_id, name) WHERE source = 'otlp' DO UPDATE SET updated_at = excluded.updated_at \
         RETURNING id",
    )
    .bind(crate::storage::new_id())
    .bind(team_id)
    .bind(service)
    .bind("traces sent by this service over OpenTelemetry")
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

/// The trace's external execution, made if it is new, and locked for this
/// transaction either way (on PostgreSQL a replica folding the same trace
/// waits here, so its sums below see this one's steps). Returns its id and
/// status (`running` only while new: every fold leaves it finished).
pub async fn lock_execution(
    tx: &mut Tx,
    team_id: &str,
    trace_id: &str,
    workflow_id: &str,
    frame: &Frame,
) -> Result<(String, String), sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO executions (id, team_id, workflow_id, workflow_version, status, triggered_by, created_at, \
         started_at, completed_at, updated_at, source, trace_id) \
         VALUES ($1, $2, $3, 1, 'running', 'otlp', $4, $4, $5, $6, 'otlp', $7) \
         ON CONFLICT (team_id, trace_id) DO UPDATE SET updated_at = excluded.updated_at RETURNING id, status",
    )
    .bind(crate::storage::new_id())
    .bind(team_id)
    .bind(workflow_id)
    .bind(frame.started_at)
    .bind(frame.ended_at)
    .bind(now_ms())
    .bind(trace_id)
    .fetch_one(&mut **tx)
    .await
}

/// A model call as recorded for its execution.
pub struct NewStep<'a> {
    pub execution_id: &'a str,
    pub span: &'a QueuedSpan,
    pub usage: crate::providers::Usage,
    pub cost_micros: i64,
}

/// Steps of one insert (17 values each, well under SQLite's 32,766).
const STEPS_PER_STATEMENT: usize = 100;

/// Records the calls as steps of their execution; returns (span id, step id)
/// of those recorded now. A span recorded before (an exporter's retry) is
/// left out, so nothing counts twice.
pub async fn insert_steps(
    tx: &mut Tx,
    steps: &[NewStep<'_>],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let mut inserted = Vec::new();
    for chunk in steps.chunks(STEPS_PER_STATEMENT) {
        let mut sql = Sql::text(
            "INSERT INTO task_results (id, execution_id, team_id, task_name, status, input, provider, model, \
             input_tokens, output_tokens, cached_tokens, cost_micros, latency_ms, attempts, error, error_class, \
             started_at, completed_at) VALUES ",
        );
        let rows: Vec<String> = chunk
            .iter()
            .map(|step| step_values(&mut sql, step))
            .collect();
        sql.push_text(&rows.join(", "));
        sql.push_text(" ON CONFLICT (execution_id, task_name) DO NOTHING RETURNING task_name, id");
        let recorded: Vec<(String, String)> = sql.query_as().fetch_all(&mut **tx).await?;
        inserted.extend(recorded);
    }
    Ok(inserted)
}

/// One step's `(…)` of the insert, its values bound to `sql`.
fn step_values(sql: &mut Sql, step: &NewStep<'_>) -> String {
    let span = step.span;
    let status = if span.failed != 0 {
        "failed"
    } else {
        "succeeded"
    };
    let values: [SqlValue; 18] = [
        crate::storage::new_id().as_str().into(),
        step.execution_id.into(),
        span.team_id.as_str().into(),
        span.span_id.as_str().into(),
        status.into(),
        span.name.as_str().into(),
        span.provider.as_deref().into(),
        span.model.as_deref().into(),
        step.usage.input.into(),
        step.usage.output.into(),
        step.usage.cached.into(),
        step.cost_micros.into(),
        (span.end_ms - span.start_ms).into(),
        1i64.into(),
        span.error.as_deref().into(),
        span.error_type.as_deref().into(),
        span.start_ms.into(),
        span.end_ms.into(),
    ];
    let placeholders: Vec<String> = values.into_iter().map(|value| sql.bind(value)).collect();
    format!("({})", placeholders.join(", "))
}

/// Sets the execution's totals from its steps, its status (failed when a call
/// or the root span failed), its frame and what it shows as input (replaced
/// once the root span is known).
pub async fn refresh_execution(
    tx: &mut Tx,
    execution_id: &str,
    frame: &Frame,
    input: &str,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE executions SET \
         steps_total = (SELECT COUNT(*) FROM task_results WHERE execution_id = $1), \
         steps_done = (SELECT COUNT(*) FROM task_results WHERE execution_id = $1 AND status = 'succeeded'), \
         input_tokens = (SELECT COALESCE(SUM(input_tokens), 0) FROM task_results WHERE execution_id = $1), \
         output_tokens = (SELECT COALESCE(SUM(output_tokens), 0) FROM task_results WHERE execution_id = $1), \
         cached_tokens = (SELECT COALESCE(SUM(cached_tokens), 0) FROM task_results WHERE execution_id = $1), \
         cost_micros = (SELECT COALESCE(SUM(cost_micros), 0) FROM task_results WHERE execution_id = $1), \
         status = CASE WHEN $2 = 1 OR EXISTS (SELECT 1 FROM task_results WHERE execution_id = $1 \
         AND status = 'failed') THEN 'failed' ELSE 'succeeded' END, \
         error = COALESCE(error, $3), \
         started_at = CASE WHEN $4 < started_at THEN $4 ELSE started_at END, \
         completed_at = CASE WHEN $5 > completed_at THEN $5 ELSE completed_at END, \
         input = CASE WHEN $8 = 1 OR input IS NULL THEN $6 ELSE input END, updated_at = $7 WHERE id = $1",
    )
    .bind(execution_id)
    .bind(frame.root_failed)
    .bind(error)
    .bind(frame.started_at)
    .bind(frame.ended_at)
    .bind(input)
    .bind(now_ms())
    .bind(i64::from(frame.root_name.is_some()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Forgets the frames of traces quiet since `before` (their executions keep
/// the trace id, so a late span still joins its execution).
pub async fn prune_frames(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM otlp_traces WHERE updated_at < $1")
        .bind(before)
        .execute(db.write())
        .await?;
    Ok(done.rows_affected())
}
