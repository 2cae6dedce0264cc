//! The alert rules' SQL: the rules (each change with its audit entry), the
//! worker's claim of a due rule, the guarded state changes, the firings, and
//! the measurements each kind of rule takes.

use serde_json::json;

use super::{AlertEvent, AlertRule, AlertState, RuleFields};
use crate::audit::Actor;
use crate::error::{AppError, AppResult};
use crate::storage::{Db, Sql, Tx, decode_json, decode_name, json_text, new_id, now_ms};

const COLUMNS: &str = "id, team_id, name, condition, email, enabled, state, state_changed_at, \
     fired_count, last_value, last_summary, checked_at, created_by, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: String,
    team_id: String,
    name: String,
    condition: String,
    email: i64,
    enabled: i64,
    state: String,
    state_changed_at: Option<i64>,
    fired_count: i64,
    last_value: Option<f64>,
    last_summary: Option<String>,
    checked_at: Option<i64>,
    created_by: Option<String>,
    created_at: i64,
    updated_at: i64,
}

/// A rule with the team it belongs to (the worker checks every team's).
pub struct TeamRule {
    pub team_id: String,
    pub rule: AlertRule,
}

impl TryFrom<RuleRow> for TeamRule {
    type Error = sqlx::Error;

    fn try_from(row: RuleRow) -> Result<TeamRule, sqlx::Error> {
        Ok(TeamRule {
            team_id: row.team_id,
            rule: AlertRule {
                condition: decode_json("condition", &row.condition)?,
                state: decode_name("state", &row.state)?,
                id: row.id,
                name: row.name,
                email: row.email != 0,
                enabled: row.enabled != 0,
                state_changed_at: row.state_changed_at,
                fired_count: row.fired_count,
                last_value: row.last_value,
                last_summary: row.last_summary,
                checked_at: row.checked_at,
                created_by: row.created_by,
                created_at: row.created_at,
                updated_at: row.updated_at,
            },
        })
    }
}

/// The team's rules, oldest first.
pub async fn list(db: &Db, team_id: &str) -> Result<Vec<AlertRule>, sqlx::Error> {
    let rows: Vec<RuleRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alert_rules WHERE team_id = $1 ORDER BY created_at, id"
    ))
    .bind(team_id)
    .fetch_all(db.read())
    .await?;
    rows.into_iter()
        .map(|row| TeamRule::try_from(row).map(|found| found.rule))
        .collect()
}

pub async fn get(db: &Db, team_id: &str, id: &str) -> Result<Option<AlertRule>, sqlx::Error> {
    fetch_rule(db.read(), team_id, id).await
}

/// One rule of the team, read through `executor` (the read pool, or a change's transaction).
async fn fetch_rule<'e, E>(
    executor: E,
    team_id: &str,
    id: &str,
) -> Result<Option<AlertRule>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = crate::storage::Any>,
{
    let row: Option<RuleRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alert_rules WHERE team_id = $1 AND id = $2"
    ))
    .bind(team_id)
    .bind(id)
    .fetch_optional(executor)
    .await?;
    row.map(|row| TeamRule::try_from(row).map(|found| found.rule))
        .transpose()
}

/// A new rule, checked at the worker's next tick.
pub async fn insert(db: &Db, actor: Actor<'_>, fields: &RuleFields) -> AppResult<AlertRule> {
    let id = new_id();
    let now = now_ms();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO alert_rules (id, team_id, name, condition, email, enabled, next_check_at, \
         created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, $7)",
    )
    .bind(&id)
    .bind(actor.team_id)
    .bind(&fields.name)
    .bind(json_text(&fields.condition)?)
    .bind(i64::from(fields.email))
    .bind(i64::from(fields.enabled))
    .bind(now)
    .bind(actor.user_id)
    .execute(&mut *tx)
    .await?;
    let detail = json!({"name": fields.name, "condition": fields.condition});
    crate::audit::record_in(
        &mut tx,
        actor,
        "alert.created",
        ("alert", &id),
        Some(detail),
    )
    .await?;
    let rule = fetch_rule(&mut *tx, actor.team_id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(rule)
}

/// Replaces a rule's fields; it is checked again at once. Disabling a firing
/// rule closes its firing quietly (nobody watches it any more).
pub async fn update(
    db: &Db,
    actor: Actor<'_>,
    id: &str,
    fields: &RuleFields,
) -> AppResult<Option<AlertRule>> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let changed = sqlx::query(
        "UPDATE alert_rules SET name = $1, condition = $2, email = $3, enabled = $4, \
         next_check_at = $5, updated_at = $5 WHERE team_id = $6 AND id = $7",
    )
    .bind(&fields.name)
    .bind(json_text(&fields.condition)?)
    .bind(i64::from(fields.email))
    .bind(i64::from(fields.enabled))
    .bind(now)
    .bind(actor.team_id)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(None);
    }
    if !fields.enabled
        && set_state_in(&mut tx, id, AlertState::Ok, None, "the rule was disabled").await?
    {
        close_event_in(&mut tx, id, "the rule was disabled").await?;
    }
    let detail =
        json!({"name": fields.name, "condition": fields.condition, "enabled": fields.enabled});
    crate::audit::record_in(&mut tx, actor, "alert.updated", ("alert", id), Some(detail)).await?;
    let rule = fetch_rule(&mut *tx, actor.team_id, id).await?;
    tx.commit().await?;
    Ok(rule)
}

pub async fn delete(db: &Db, actor: Actor<'_>, id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let gone = sqlx::query("DELETE FROM alert_rules WHERE team_id = $1 AND id = $2")
        .bind(actor.team_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if gone == 1 {
        crate::audit::record_in(&mut tx, actor, "alert.deleted", ("alert", id), None).await?;
    }
    tx.commit().await?;
    Ok(gone == 1)
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: String,
    fired_at: i64,
    fired_value: Option<f64>,
    fired_summary: String,
    resolved_at: Option<i64>,
    resolved_summary: Option<String>,
}

/// A rule's firings, newest first.
pub async fn events(
    db: &Db,
    team_id: &str,
    rule_id: &str,
    limit: i64,
) -> Result<Vec<AlertEvent>, sqlx::Error> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT id, fired_at, fired_value, fired_summary, resolved_at, resolved_summary \
         FROM alert_events WHERE team_id = $1 AND rule_id = $2 ORDER BY fired_at DESC, id LIMIT $3",
    )
    .bind(team_id)
    .bind(rule_id)
    .bind(limit)
    .fetch_all(db.read())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| AlertEvent {
            id: row.id,
            fired_at: row.fired_at,
            fired_value: row.fired_value,
            fired_summary: row.fired_summary,
            resolved_at: row.resolved_at,
            resolved_summary: row.resolved_summary,
        })
        .collect())
}

/// Claims the enabled rules due for a check: each moves its `next_check_at`
/// on by `period` in a guarded update, so of several replicas exactly one
/// checks a rule per period.
pub async fn claim_due(db: &Db, period_ms: i64, limit: i64) -> Result<Vec<TeamRule>, sqlx::Error> {
    let now = now_ms();
    let due: Vec<(String, i64)> = sqlx::query_as(
        "SELECT id, next_check_at FROM alert_rules WHERE enabled = 1 AND next_check_at <= $1 \
         ORDER BY next_check_at, id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db.write())
    .await?;
    let mut claimed = Vec::with_capacity(due.len());
    for (id, was) in due {
        let row: Option<RuleRow> = sqlx::query_as(&format!(
            "UPDATE alert_rules SET next_check_at = $1 WHERE id = $2 AND next_check_at = $3 \
             AND enabled = 1 RETURNING {COLUMNS}"
        ))
        .bind(now + period_ms)
        .bind(&id)
        .bind(was)
        .fetch_optional(db.write())
        .await?;
        if let Some(row) = row {
            claimed.push(TeamRule::try_from(row)?);
        }
    }
    Ok(claimed)
}

/// Records a check that changed nothing.
pub async fn checked(
    db: &Db,
    id: &str,
    value: Option<f64>,
    summary: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE alert_rules SET last_value = $1, last_summary = $2, checked_at = $3 WHERE id = $4",
    )
    .bind(value)
    .bind(summary)
    .bind(now_ms())
    .bind(id)
    .execute(db.write())
    .await?;
    Ok(())
}

/// Moves a rule to `to` only from the other state: whether this call moved it
/// (a second replica, or a second check, finds it moved and does nothing).
pub(super) async fn set_state_in(
    tx: &mut Tx,
    id: &str,
    to: AlertState,
    value: Option<f64>,
    summary: &str,
) -> Result<bool, sqlx::Error> {
    let (from, fired) = match to {
        AlertState::Firing => (AlertState::Ok, 1),
        AlertState::Ok => (AlertState::Firing, 0),
    };
    let now = now_ms();
    let moved = sqlx::query(
        "UPDATE alert_rules SET state = $1, state_changed_at = $2, checked_at = $2, \
         fired_count = fired_count + $3, last_value = $4, last_summary = $5 \
         WHERE id = $6 AND state = $7",
    )
    .bind(to.as_str())
    .bind(now)
    .bind(fired)
    .bind(value)
    .bind(summary)
    .bind(id)
    .bind(from.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

pub(super) async fn open_event_in(
    tx: &mut Tx,
    team_id: &str,
    rule_id: &str,
    value: Option<f64>,
    summary: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO alert_events (id, rule_id, team_id, fired_at, fired_value, fired_summary) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id())
    .bind(rule_id)
    .bind(team_id)
    .bind(now_ms())
    .bind(value)
    .bind(summary)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn close_event_in(
    tx: &mut Tx,
    rule_id: &str,
    summary: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE alert_events SET resolved_at = $1, resolved_summary = $2 \
         WHERE rule_id = $3 AND resolved_at IS NULL",
    )
    .bind(now_ms())
    .bind(summary)
    .bind(rule_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Finished executions since `since` (of one workflow, or the team's): how
/// many, and how many failed.
pub async fn finished_since(
    db: &Db,
    team_id: &str,
    workflow_id: Option<&str>,
    since: i64,
) -> Result<(i64, i64), sqlx::Error> {
    let mut sql = Sql::new(
        "SELECT COUNT(*) AS finished, COUNT(*) FILTER (WHERE status = 'failed') AS failed \
         FROM executions WHERE team_id = ?",
        team_id,
    );
    sql.and_text("status IN ('succeeded', 'failed')")
        .and("completed_at >= ?", since);
    if let Some(workflow_id) = workflow_id {
        sql.and("workflow_id = ?", workflow_id);
    }
    sql.query_as().fetch_one(db.read()).await
}

/// The workflow's latest finished executions' statuses, newest first.
pub async fn latest_outcomes(
    db: &Db,
    team_id: &str,
    workflow_id: &str,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT status FROM executions WHERE team_id = $1 AND workflow_id = $2 \
         AND status IN ('succeeded', 'failed') ORDER BY completed_at DESC, id DESC LIMIT $3",
    )
    .bind(team_id)
    .bind(workflow_id)
    .bind(limit)
    .fetch_all(db.read())
    .await
}

/// Executions running since before `started_before`, oldest first (at most
/// 50): their ids and start times.
pub async fn running_since(
    db: &Db,
    team_id: &str,
    workflow_id: Option<&str>,
    started_before: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let mut sql = Sql::new(
        "SELECT id, started_at FROM executions WHERE team_id = ?",
        team_id,
    );
    sql.and_text("status = 'running'")
        .and("started_at <= ?", started_before);
    if let Some(workflow_id) = workflow_id {
        sql.and("workflow_id = ?", workflow_id);
    }
    sql.push_text(" ORDER BY started_at, id LIMIT 50");
    sql.query_as().fetch_all(db.read()).await
}
