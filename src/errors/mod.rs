//! The error log's data: failed steps grouped by fingerprint (`fingerprint`),
//! kept up to date in the transaction that records the failure, resolved and
//! reopened by people (a resolved group that fails again reopens by itself).
//! The page comes with the execution monitor; this is its store and API.

pub mod fingerprint;
pub mod handlers;
pub mod page;

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;

use crate::storage::Sql;
use crate::storage::{Db, Tx};

pub use handlers::routes;

/// One failure, as recorded.
pub struct Failure<'a> {
    pub team_id: &'a str,
    pub agent_id: &'a str,
    pub error_class: &'a str,
    pub error: &'a str,
    pub task_id: Option<&'a str>,
    pub execution_id: &'a str,
    pub workflow_id: &'a str,
    pub at: i64,
}

const UPSERT: &str = "INSERT INTO error_groups (team_id, fingerprint, agent_id, error_class, message, last_error, \
    last_task_id, last_execution_id, workflow_id, occurrences, first_seen, last_seen) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
    ON CONFLICT (team_id, fingerprint) DO UPDATE SET \
    occurrences = error_groups.occurrences + excluded.occurrences, \
    last_seen = excluded.last_seen, last_error = excluded.last_error, last_task_id = excluded.last_task_id, \
    last_execution_id = excluded.last_execution_id, workflow_id = excluded.workflow_id, \
    reopened_at = CASE WHEN error_groups.resolved_at IS NOT NULL THEN excluded.last_seen ELSE error_groups.reopened_at END, \
    resolved_at = NULL, resolved_by = NULL";

/// Adds a failure to its group, inside the transaction that records it.
pub async fn record(tx: &mut Tx, failure: &Failure<'_>) -> Result<(), sqlx::Error> {
    let message = fingerprint::normalize(failure.error);
    sqlx::query(UPSERT)
        .bind(failure.team_id)
        .bind(fingerprint::of_normalized(
            failure.agent_id,
            failure.error_class,
            &message,
        ))
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
    Ok(())
}

/// Recomputes a team's groups from its failed steps (after bulk loads). Counts
/// and dates are replaced; resolved and reopened marks are kept.
pub async fn rebuild(db: &Db, team_id: &str) -> Result<usize, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT t.id, t.agent_id, t.error_class, t.error, t.completed_at, t.execution_id, e.workflow_id \
         FROM task_results t JOIN executions e ON e.id = t.execution_id \
         WHERE t.team_id = $1 AND t.status = 'failed' AND t.error IS NOT NULL ORDER BY t.completed_at",
    )
    .bind(team_id)
    .fetch_all(db.read())
    .await?;
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
    let mut groups: HashMap<String, Group> = HashMap::new();
    for row in &rows {
        let agent_id: String = row
            .try_get::<Option<String>, _>("agent_id")?
            .unwrap_or_default();
        let class: String = row
            .try_get::<Option<String>, _>("error_class")?
            .unwrap_or_else(|| "unknown".into());
        let error: String = row.try_get("error")?;
        let at: i64 = row.try_get::<Option<i64>, _>("completed_at")?.unwrap_or(0);
        let message = fingerprint::normalize(&error);
        let key = fingerprint::of_normalized(&agent_id, &class, &message);
        let group = groups.entry(key).or_insert_with(|| Group {
            agent_id: agent_id.clone(),
            class: class.clone(),
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
        group.last_error = error;
        group.last_task = row.try_get("id")?;
        group.last_execution = row.try_get("execution_id")?;
        group.workflow = row.try_get("workflow_id")?;
    }
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
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

/// Filters of the error log (all optional).
#[derive(Debug, Default)]
pub struct GroupFilter {
    pub resolved: Option<bool>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub workflow_id: Option<String>,
    pub agent_id: Option<String>,
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
    if let Some(since) = filter.since {
        sql.and("g.last_seen >= ?", since);
    }
    if let Some(until) = filter.until {
        sql.and("g.last_seen < ?", until);
    }
    sql.push(" ORDER BY g.last_seen DESC LIMIT ?", limit);
    sql.query()
        .fetch_all(db.read())
        .await?
        .iter()
        .map(|row| {
            Ok(ErrorGroup {
                fingerprint: row.try_get("fingerprint")?,
                agent_id: row.try_get("agent_id")?,
                agent_name: row.try_get("agent_name")?,
                error_class: row.try_get("error_class")?,
                message: row.try_get("message")?,
                last_error: row.try_get("last_error")?,
                last_task_id: row.try_get("last_task_id")?,
                last_execution_id: row.try_get("last_execution_id")?,
                workflow_id: row.try_get("workflow_id")?,
                occurrences: row.try_get("occurrences")?,
                first_seen: row.try_get("first_seen")?,
                last_seen: row.try_get("last_seen")?,
                resolved_at: row.try_get("resolved_at")?,
                resolved_by: row.try_get("resolved_by")?,
                reopened_at: row.try_get("reopened_at")?,
            })
        })
        .collect()
}

/// Marks groups resolved (`Some(user)`) or open again (`None`); returns how many changed.
pub async fn set_resolved(
    db: &Db,
    team_id: &str,
    fingerprints: &[String],
    resolved_by: Option<&str>,
    at: i64,
) -> Result<u64, sqlx::Error> {
    if fingerprints.is_empty() {
        return Ok(0);
    }
    // One statement for the whole selection; the fingerprints' placeholders
    // follow the fixed ones.
    let fixed = if resolved_by.is_some() { 3 } else { 1 };
    let list = crate::storage::placeholders(fixed + 1, fingerprints.len());
    let sql = match resolved_by {
        Some(_) => format!(
            "UPDATE error_groups SET resolved_at = $1, resolved_by = $2, reopened_at = NULL \
             WHERE team_id = $3 AND fingerprint IN ({list}) AND resolved_at IS NULL"
        ),
        None => format!(
            "UPDATE error_groups SET resolved_at = NULL, resolved_by = NULL \
             WHERE team_id = $1 AND fingerprint IN ({list}) AND resolved_at IS NOT NULL"
        ),
    };
    let mut query = sqlx::query(&sql);
    if let Some(user) = resolved_by {
        query = query.bind(at).bind(user);
    }
    query = query.bind(team_id);
    for fingerprint in fingerprints {
        query = query.bind(fingerprint.as_str());
    }
    Ok(query.execute(db.write()).await?.rows_affected())
}

/// Resolves (or reopens) groups on someone's behalf, audited; returns how many
/// changed.
pub async fn change_state(
    state: &crate::app::AppState,
    principal: &crate::auth::Principal,
    fingerprints: &[String],
    resolve: bool,
) -> Result<u64, sqlx::Error> {
    let by = resolve.then_some(principal.user_id.as_str());
    let changed = set_resolved(
        &state.db,
        &principal.team_id,
        fingerprints,
        by,
        crate::storage::now_ms(),
    )
    .await?;
    crate::audit::by_principal(
        &state.db,
        principal,
        if resolve {
            "errors.resolved"
        } else {
            "errors.reopened"
        },
        ("error_groups", &principal.team_id),
        Some(serde_json::json!({"fingerprints": fingerprints, "changed": changed})),
    )
    .await?;
    Ok(changed)
}
