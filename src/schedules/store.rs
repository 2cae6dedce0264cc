//! The schedules' SQL: the schedules with their next slot, and each slot's
//! outcome. Changes for someone carry their audit entry in their transaction.

use serde_json::json;

use super::{CatchUp, Outcome, Overlap, Schedule, ScheduleFields, Slot};
use crate::audit::Actor;
use crate::storage::{Db, Tx, decode_json, decode_name, new_id, now_ms};

#[derive(sqlx::FromRow)]
struct ScheduleRow {
    id: String,
    workflow_id: String,
    workflow_name: String,
    cron: String,
    timezone: String,
    input: String,
    enabled: i64,
    pause_note: Option<String>,
    overlap: String,
    catch_up: String,
    catch_up_window_secs: i64,
    jitter_secs: i64,
    next_run_at: Option<i64>,
    created_by: Option<String>,
    created_at: i64,
    updated_at: i64,
    last_slot_at: Option<i64>,
    last_execution_id: Option<String>,
    last_status: Option<String>,
}

const SELECT: &str = "SELECT s.id, s.workflow_id, w.name AS workflow_name, s.cron, s.timezone, s.input, s.enabled, \
     s.pause_note, s.overlap, s.catch_up, s.catch_up_window_secs, s.jitter_secs, s.next_run_at, u.name AS created_by, \
     s.created_at, s.updated_at, l.slot_at AS last_slot_at, l.execution_id AS last_execution_id, e.status AS last_status \
     FROM schedules s JOIN workflows w ON w.id = s.workflow_id LEFT JOIN users u ON u.id = s.created_by \
     LEFT JOIN schedule_slots l ON l.schedule_id = s.id AND l.slot_at = \
       (SELECT MAX(f.slot_at) FROM schedule_slots f WHERE f.schedule_id = s.id AND f.outcome = 'fired') \
     LEFT JOIN executions e ON e.id = l.execution_id";

impl TryFrom<ScheduleRow> for Schedule {
    type Error = sqlx::Error;

    fn try_from(row: ScheduleRow) -> Result<Schedule, sqlx::Error> {
        let description = super::cron::parse(&row.cron)
            .map(|cron| super::cron::describe(&cron))
            .unwrap_or_default();
        Ok(Schedule {
            input: decode_json("schedule input", &row.input)?,
            overlap: decode_name("overlap policy", &row.overlap)?,
            catch_up: decode_name("catch-up policy", &row.catch_up)?,
            last_run: row.last_slot_at.map(|slot_at| Slot {
                slot_at,
                outcome: Outcome::Fired,
                reason: None,
                execution_id: row.last_execution_id,
                execution_status: row.last_status,
            }),
            description,
            id: row.id,
            workflow_id: row.workflow_id,
            workflow_name: row.workflow_name,
            cron: row.cron,
            timezone: row.timezone,
            enabled: row.enabled != 0,
            pause_note: row.pause_note,
            catch_up_window_secs: row.catch_up_window_secs,
            jitter_secs: row.jitter_secs,
            next_run_at: row.next_run_at,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub async fn list(db: &Db, team_id: &str) -> Result<Vec<Schedule>, sqlx::Error> {
    let rows: Vec<ScheduleRow> = sqlx::query_as(&format!(
        "{SELECT} WHERE s.team_id = $1 ORDER BY w.name, s.created_at"
    ))
    .bind(team_id)
    .fetch_all(db.read())
    .await?;
    rows.into_iter().map(Schedule::try_from).collect()
}

pub async fn get(db: &Db, team_id: &str, id: &str) -> Result<Option<Schedule>, sqlx::Error> {
    let row: Option<ScheduleRow> =
        sqlx::query_as(&format!("{SELECT} WHERE s.team_id = $1 AND s.id = $2"))
            .bind(team_id)
            .bind(id)
            .fetch_optional(db.read())
            .await?;
    row.map(Schedule::try_from).transpose()
}

/// The next slot: its nominal time and when it fires (jitter added).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    pub slot_at: Option<i64>,
    pub run_at: Option<i64>,
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds a schedule's fields and next slot as `$1` to `$12`, in the order
/// both the insert and the update name them.
fn bind_fields<'q>(query: Query<'q>, fields: &'q ScheduleFields, next: Next) -> Query<'q> {
    query
        .bind(&fields.workflow_id)
        .bind(&fields.cron)
        .bind(&fields.timezone)
        .bind(fields.input.to_string())
        .bind(i64::from(fields.enabled))
        .bind(fields.pause_note.as_deref())
        .bind(fields.overlap.as_str())
        .bind(fields.catch_up.as_str())
        .bind(fields.catch_up_window_secs)
        .bind(fields.jitter_secs)
        .bind(next.slot_at)
        .bind(next.run_at)
}

pub async fn create(
    db: &Db,
    actor: Actor<'_>,
    fields: &ScheduleFields,
    next: Next,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    let now = now_ms();
    let mut tx = db.begin().await?;
    let query = sqlx::query(
        "INSERT INTO schedules (workflow_id, cron, timezone, input, enabled, pause_note, overlap, catch_up, \
         catch_up_window_secs, jitter_secs, next_slot_at, next_run_at, id, team_id, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)",
    );
    bind_fields(query, fields, next)
        .bind(&id)
        .bind(actor.team_id)
        .bind(actor.user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let detail = json!({"workflow_id": fields.workflow_id, "cron": fields.cron, "timezone": fields.timezone});
    crate::audit::record_in(
        &mut tx,
        actor,
        "schedule.created",
        ("schedule", &id),
        Some(detail),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// What an update needs to know of the schedule as stored.
pub struct Stored {
    pub enabled: bool,
    pub next_slot_at: Option<i64>,
    pub cron: String,
    pub timezone: String,
}

pub async fn stored(
    tx: &mut Tx,
    db: &Db,
    team_id: &str,
    id: &str,
) -> Result<Option<Stored>, sqlx::Error> {
    let row: Option<(i64, Option<i64>, String, String)> = sqlx::query_as(&format!(
        "SELECT enabled, next_slot_at, cron, timezone FROM schedules WHERE team_id = $1 AND id = $2{}",
        db.for_update()
    ))
    .bind(team_id)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|(enabled, next_slot_at, cron, timezone)| Stored {
        enabled: enabled != 0,
        next_slot_at,
        cron,
        timezone,
    }))
}

pub async fn update_in(
    tx: &mut Tx,
    actor: Actor<'_>,
    id: &str,
    fields: &ScheduleFields,
    next: Next,
) -> Result<(), sqlx::Error> {
    let query = sqlx::query(
        "UPDATE schedules SET workflow_id = $1, cron = $2, timezone = $3, input = $4, enabled = $5, pause_note = $6, \
         overlap = $7, catch_up = $8, catch_up_window_secs = $9, jitter_secs = $10, next_slot_at = $11, next_run_at = $12, \
         updated_at = $13 WHERE id = $14",
    );
    bind_fields(query, fields, next)
        .bind(now_ms())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let detail =
        json!({"cron": fields.cron, "timezone": fields.timezone, "enabled": fields.enabled});
    crate::audit::record_in(
        tx,
        actor,
        "schedule.updated",
        ("schedule", id),
        Some(detail),
    )
    .await
}

pub async fn delete(db: &Db, actor: Actor<'_>, id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let gone = sqlx::query("DELETE FROM schedules WHERE team_id = $1 AND id = $2")
        .bind(actor.team_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if gone == 1 {
        crate::audit::record_in(&mut tx, actor, "schedule.deleted", ("schedule", id), None).await?;
    }
    tx.commit().await?;
    Ok(gone == 1)
}

/// Records a slot's outcome unless the slot is already recorded (the
/// one-fire-per-slot key); answers whether this call recorded it.
pub async fn record_slot(
    tx: &mut Tx,
    schedule_id: &str,
    team_id: &str,
    slot_at: i64,
    outcome: Outcome,
    reason: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO schedule_slots (schedule_id, slot_at, team_id, outcome, reason, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (schedule_id, slot_at) DO NOTHING",
    )
    .bind(schedule_id)
    .bind(slot_at)
    .bind(team_id)
    .bind(outcome.as_str())
    .bind(reason)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Marks a recorded slot fired with its execution.
pub async fn fired_in(
    tx: &mut Tx,
    schedule_id: &str,
    slot_at: i64,
    execution_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE schedule_slots SET outcome = 'fired', execution_id = $1 WHERE schedule_id = $2 AND slot_at = $3",
    )
    .bind(execution_id)
    .bind(schedule_id)
    .bind(slot_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The schedule's newest slots, newest first.
pub async fn history(
    db: &Db,
    team_id: &str,
    id: &str,
    limit: i64,
) -> Result<Vec<Slot>, sqlx::Error> {
    let rows: Vec<SlotRow> = sqlx::query_as(
        "SELECT l.slot_at, l.outcome, l.reason, l.execution_id, e.status FROM schedule_slots l \
         LEFT JOIN executions e ON e.id = l.execution_id \
         WHERE l.team_id = $1 AND l.schedule_id = $2 ORDER BY l.slot_at DESC LIMIT $3",
    )
    .bind(team_id)
    .bind(id)
    .bind(limit)
    .fetch_all(db.read())
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Slot {
                slot_at: row.slot_at,
                outcome: decode_name("slot outcome", &row.outcome)?,
                reason: row.reason,
                execution_id: row.execution_id,
                execution_status: row.status,
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct SlotRow {
    slot_at: i64,
    outcome: String,
    reason: Option<String>,
    execution_id: Option<String>,
    status: Option<String>,
}

/// A schedule due to fire, claimed in the caller's transaction.
#[derive(sqlx::FromRow)]
pub struct Due {
    pub id: String,
    pub team_id: String,
    pub workflow_id: String,
    pub cron: String,
    pub timezone: String,
    pub input: String,
    pub overlap: String,
    pub catch_up: String,
    pub catch_up_window_secs: i64,
    pub jitter_secs: i64,
    pub next_slot_at: i64,
}

impl Due {
    pub fn overlap(&self) -> Result<Overlap, sqlx::Error> {
        decode_name("overlap policy", &self.overlap)
    }

    pub fn catch_up(&self) -> Result<CatchUp, sqlx::Error> {
        decode_name("catch-up policy", &self.catch_up)
    }
}

/// The enabled schedule whose run time came first, locked (skipped by other
/// replicas on PostgreSQL while this transaction holds it).
pub async fn claim_due(db: &Db, tx: &mut Tx, now: i64) -> Result<Option<Due>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT id, team_id, workflow_id, cron, timezone, input, overlap, catch_up, catch_up_window_secs, jitter_secs, \
         next_slot_at FROM schedules WHERE enabled = 1 AND next_run_at <= $1 AND next_slot_at IS NOT NULL \
         ORDER BY next_run_at LIMIT 1{}",
        db.skip_locked()
    ))
    .bind(now)
    .fetch_optional(&mut **tx)
    .await
}

pub async fn advance_in(tx: &mut Tx, id: &str, next: Next) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE schedules SET next_slot_at = $1, next_run_at = $2 WHERE id = $3")
        .bind(next.slot_at)
        .bind(next.run_at)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The schedule's executions still pending or running.
pub async fn active_executions(tx: &mut Tx, schedule_id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM executions WHERE schedule_id = $1 AND status IN ('pending', 'running') ORDER BY created_at",
    )
    .bind(schedule_id)
    .fetch_all(&mut **tx)
    .await
}

pub async fn has_buffered(tx: &mut Tx, schedule_id: &str) -> Result<bool, sqlx::Error> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM schedule_slots WHERE schedule_id = $1 AND outcome = 'buffered'",
    )
    .bind(schedule_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(count > 0)
}

/// A buffered slot whose schedule has nothing running any more, locked.
#[derive(sqlx::FromRow)]
pub struct Ready {
    pub schedule_id: String,
    pub slot_at: i64,
    pub team_id: String,
    pub workflow_id: String,
    pub input: String,
}

pub async fn claim_ready(db: &Db, tx: &mut Tx) -> Result<Option<Ready>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT l.schedule_id, l.slot_at, l.team_id, s.workflow_id, s.input FROM schedule_slots l \
         JOIN schedules s ON s.id = l.schedule_id WHERE l.outcome = 'buffered' AND NOT EXISTS \
         (SELECT 1 FROM executions e WHERE e.schedule_id = l.schedule_id AND e.status IN ('pending', 'running')) \
         ORDER BY l.slot_at LIMIT 1{}",
        db.skip_locked()
    ))
    .fetch_optional(&mut **tx)
    .await
}

/// The earliest time any enabled schedule fires next.
pub async fn earliest_run(db: &Db) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT MIN(next_run_at) FROM schedules WHERE enabled = 1")
        .fetch_one(db.read())
        .await
}
