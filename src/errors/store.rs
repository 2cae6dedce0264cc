//! The error log's SQL: a failure added to its group in the failing step's
//! transaction, the groups rebuilt from the failed steps, read with filters,
//! resolved and reopened (with the audit entry, in one transaction).

use std::collections::HashMap;

use serde::Serialize;
use serde_json::json;

use super::{Failure, GroupFilter, LatestFailure, fingerprint};
use crate::audit::Actor;
use crate::storage::{Db, Sql, Tx, now_ms};

const UPSERT: &str = "INSERT INTO error_groups (team_id, fingerprint, agent_id, error_class, message, last_error, \
    last_task_id, last_execution_id, workflow_id, occurrences, first_seen, last_seen) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
    ON CONFLICT (team_id, fingerprint) DO UPDATE SET \
    occurrences = error_groups.occurrences + excluded.occurrences, \
    last_seen = excluded.last_seen, last_error = excluded.last_error, last_task_id = excluded.last_task_id, \
    last_execution_id = excluded.last_execution_id, workflow_id = excluded.workflow_id, \
    reopened_at = CASE WHEN error_groups.resolved_at IS NOT NULL THEN excluded.last_seen ELSE error_groups.reopened_at END, \
    resolved_at = NULL, resolved_by = NULL";

/// A resolved group that a new failure reopened.
pub struct Reopened {
    pub message: String,
    /// Who had resolved it.
    pub resolved_by: Option<String>,
}

/// Adds a failure to its group, inside the transaction that records it; says
/// so when the group had been resolved (the failure reopens it).
pub async fn record(tx: &mut Tx, failure: &Failure<'_>) -> Result<Option<Reopened>, sqlx::Error> {
    let message = fingerprint::normalize(failure.error);
    let fingerprint = fingerprint::of_normalized(failure.agent_id, failure.error_class, &message);
    let resolved: Option<(Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT resolved_at, resolved_by FROM error_groups WHERE team_id = $1 AND fingerprint = $2",
    )
    .bind(failure.team_id)
    .bind(&fingerprint)
    .fetch_optional(&mut **tx)
    .await?;
    sqlx::query(UPSERT)
        .bind(failure.team_id)
        .bind(&fingerprint)
        .bind(failure.agent_id)
        .bind(failure.error_class)
        .bind(&message)
        .bind(failure.error)
        .bind(failure.task_id)
        .bind(failure.execution_id)
        .bind(failure.workflow_id)
        .bind(1i64)
        .bind(failure.at)
        .bind(failure.at)
        .execute(&mut **tx)
        .await?;
    Ok(match resolved {
        Some((Some(_), resolved_by)) => Some(Reopened {
            message,
            resolved_by,
        }),
        _ => None,
    })
}

#[derive(sqlx::FromRow)]
struct FailedStepRow {
    id: String,
    agent_id: Option<String>,
    error_class: Option<String>,
    error: String,
    completed_at: Option<i64>,
    execution_id: String,
    workflow_id: String,
}

/// A group as rebuilt from failed steps.
struct Group {
    agent_id: String,
    class: String,
    message: String,
    last_error: String,
    last_task: String,
    last_execution: String,
    workflow: String,
    count: i64,
    first: i64,
    last: i64,
}

/// Failed steps (oldest first) grouped by fingerprint.
fn group_failures(rows: Vec<FailedStepRow>) -> HashMap<String, Group> {
    let mut groups: HashMap<String, Group> = HashMap::new();
    for row in rows {
        let agent_id = row.agent_id.unwrap_or_default();
        let class = row.error_class.unwrap_or_else(|| "unknown".into());
        let at = row.completed_at.unwrap_or(0);
        let message = fingerprint::normalize(&row.error);
        let key = fingerprint::of_normalized(&agent_id, &class, &message);
        let group = groups.entry(key).or_insert_with(|| Group {
            agent_id,
            class,
            message,
            last_error: String::new(),
            last_task: String::new(),
            last_execution: String::new(),
            workflow: String::new(),
            count: 0,
            first: at,
            last: at,
        });
        group.count += 1;
        group.last = at;
        group.last_error = row.error;
        group.last_task = row.id;
        group.last_execution = row.execution_id;
        group.workflow = row.workflow_id;
    }
    groups
}

/// Recomputes a team's groups from its failed steps (after bulk loads). Counts
/// and dates are replaced; resolved and reopened marks are kept.
pub async fn rebuild(db: &Db, team_id: &str) -> Result<usize, sqlx::Error> {
    let rows: Vec<FailedStepRow> = sqlx::query_as(
        "SELECT t.id, t.agent_id, t.error_class, t.error, t.completed_at, t.execution_id, e.workflow_id \
         FROM task_results t JOIN executions e ON e.id = t.execution_id \
         WHERE t.team_id = $1 AND t.status = 'failed' AND t.error IS NOT NULL ORDER BY t.completed_at",
    )
    .bind(team_id)
    .fetch_all(db.read())
    .await?;
    let groups = group_failures(rows);
    let mut tx = db.begin().await?;
    for (key, group) in &groups {
        sqlx::query(
            "INSERT INTO error_groups (team_id, fingerprint, agent_id, error_class, message, last_error, last_task_id, \
             last_execution_id, workflow_id, occurrences, first_seen, last_seen) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (team_id, fingerprint) DO UPDATE SET occurrences = excluded.occurrences, \
             first_seen = excluded.first_seen, last_seen = excluded.last_seen, last_error = excluded.last_error, \
             last_task_id = excluded.last_task_id, last_execution_id = excluded.last_execution_id, \
             workflow_id = excluded.workflow_id",
        )
        .bind(team_id)
        .bind(key)
        .bind(&group.agent_id)
        .bind(&group.class)
        .bind(&group.message)
        .bind(&group.last_error)
        .bind(&group.last_task)
        .bind(&group.last_execution)
        .bind(&group.workflow)
        .bind(group.count)
        .bind(group.first)
        .bind(group.last)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(groups.len())
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ErrorGroup {
    pub fingerprint: String,
    pub agent_id: String,
    pub agent_name: Option<String>,
    pub error_class: String,
    /// The message with ids and numbers normalized (what groups it).
    pub message: String,
    /// The latest occurrence as it was.
    pub last_error: String,
    pub last_task_id: Option<String>,
    pub last_execution_id: Option<String>,
    pub workflow_id: Option<String>,
    pub occurrences: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
    /// Set when the group failed again after being resolved.
    pub reopened_at: Option<i64>,
}

pub async fn groups(
    db: &Db,
    team_id: &str,
    filter: &GroupFilter,
    limit: i64,
) -> Result<Vec<ErrorGroup>, sqlx::Error> {
    let mut sql = Sql::new(
        "SELECT g.fingerprint, g.agent_id, a.name AS agent_name, g.error_class, g.message, g.last_error, g.last_task_id, \
         g.last_execution_id, g.workflow_id, g.occurrences, g.first_seen, g.last_seen, g.resolved_at, g.resolved_by, \
         g.reopened_at FROM error_groups g LEFT JOIN agents a ON a.id = g.agent_id WHERE g.team_id = ?",
        team_id,
    );
    match filter.resolved {
        Some(true) => sql.and_text("g.resolved_at IS NOT NULL"),
        Some(false) => sql.and_text("g.resolved_at IS NULL"),
        None => &mut sql,
    };
    if let Some(workflow) = &filter.workflow_id {
        sql.and("g.workflow_id = ?", workflow);
    }
    if let Some(agent) = &filter.agent_id {
        sql.and("g.agent_id = ?", agent);
    }
    if let Some(source) = filter.source {
        let (team, source) = (sql.bind(team_id), sql.bind(source.as_str()));
        sql.and_text(&format!(
            "g.workflow_id IN (SELECT id FROM workflows WHERE team_id = {team} AND source = {source})"
        ));
    }
    if let Some(since) = filter.since {
        sql.and("g.last_seen >= ?", since);
    }
    if let Some(until) = filter.until {
        sql.and("g.last_seen < ?", until);
    }
    sql.push(" ORDER BY g.last_seen DESC LIMIT ?", limit);
    sql.query_as().fetch_all(db.read()).await
}

/// Resolves (or reopens) groups on the actor's behalf, audited in the same
/// transaction; returns how many changed.
pub async fn change_state(
    db: &Db,
    actor: Actor<'_>,
    fingerprints: &[String],
    resolve: bool,
) -> Result<u64, sqlx::Error> {
    let mut sql = match (resolve, actor.user_id) {
        (true, user) => {
            let mut sql = Sql::new("UPDATE error_groups SET resolved_at = ?", now_ms());
            sql.push(", resolved_by = ?", user);
            sql.push(", reopened_at = NULL WHERE team_id = ?", actor.team_id);
            sql.and_text("resolved_at IS NULL");
            sql
        }
        (false, _) => {
            let mut sql = Sql::new(
                "UPDATE error_groups SET resolved_at = NULL, resolved_by = NULL WHERE team_id = ?",
                actor.team_id,
            );
            sql.and_text("resolved_at IS NOT NULL");
            sql
        }
    };
    if fingerprints.is_empty() {
        return Ok(0);
    }
    // One statement for the whole selection.
    sql.and_in("fingerprint", fingerprints.iter());
    let mut tx = db.begin().await?;
    let changed = sql.query().execute(&mut *tx).await?.rows_affected();
    let action = if resolve {
        "errors.resolved"
    } else {
        "errors.reopened"
    };
    let detail = json!({"fingerprints": fingerprints, "changed": changed});
    crate::audit::record_in(
        &mut tx,
        actor,
        action,
        ("error_groups", actor.team_id),
        Some(detail),
    )
    .await?;
    tx.commit().await?;
    Ok(changed)
}

/// A failed step as the seed's error feed lists it.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct FailedTask {
    pub id: String,
    pub task_name: String,
    pub error: Option<String>,
    pub error_class: Option<String>,
    pub completed_at: Option<i64>,
    pub workflow_id: String,
    pub execution_id: String,
    pub agent_id: Option<String>,
}

/// The team's latest 100 failed steps, newest first.
pub async fn latest_failed_tasks(db: &Db, team_id: &str) -> Result<Vec<FailedTask>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id, t.task_name, t.error, t.error_class, t.completed_at, e.workflow_id, t.execution_id, t.agent_id \
         FROM task_results t JOIN executions e ON e.id = t.execution_id \
         WHERE t.team_id = $1 AND t.status = 'failed' ORDER BY t.completed_at DESC LIMIT 100",
    )
    .bind(team_id)
    .fetch_all(db.read())
    .await
}

#[derive(sqlx::FromRow)]
struct StepRow {
    id: String,
    execution_id: String,
    agent_id: Option<String>,
    status: String,
    input: Option<String>,
    provider_response: Option<String>,
}

/// The step input and provider answer of each group's latest failure, by fingerprint.
pub async fn latest_failures(
    db: &Db,
    groups: &[ErrorGroup],
) -> Result<HashMap<String, LatestFailure>, sqlx::Error> {
    let executions: Vec<&str> = groups
        .iter()
        .filter_map(|g| g.last_execution_id.as_deref())
        .collect();
    if executions.is_empty() {
        return Ok(HashMap::new());
    }
    // Only by execution id (the ids come from this team's groups): with team or
    // status in the condition, SQLite picks the (team, status) index and reads
    // every failure of the team.
    let mut sql = Sql::text(
        "SELECT id, execution_id, agent_id, status, input, provider_response FROM task_results WHERE 1 = 1",
    );
    sql.and_in("execution_id", executions);
    let rows: Vec<StepRow> = sql.query_as().fetch_all(db.read()).await?;
    let mut latest = HashMap::new();
    for group in groups {
        // The runner records the failed row's id; groups from before it did
        // are matched by execution and agent.
        let found = rows.iter().find(|row| match group.last_task_id.as_deref() {
            Some(task) => row.id == task,
            None => {
                row.status == "failed"
                    && group.last_execution_id.as_deref() == Some(row.execution_id.as_str())
                    && row.agent_id.as_deref() == Some(group.agent_id.as_str())
            }
        });
        if let Some(row) = found {
            latest.insert(
                group.fingerprint.clone(),
                LatestFailure {
                    input: row.input.clone(),
                    provider_response: row.provider_response.clone(),
                },
            );
        }
    }
    Ok(latest)
}
