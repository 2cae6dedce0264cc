//! The pilot's SQL: its settings (one row per team, each change audited),
//! the rows its metrics read, and the snapshots (written once, never updated).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::json;

use super::measure::{Inputs, Served};
use super::{Changes, Entered, Evaluation, PAGES, Settings, Snapshot, Targets, Window};
use crate::audit::Actor;
use crate::error::{AppError, AppResult};
use crate::storage::sql::Sql;
use crate::storage::{Db, decode_json, json_text, new_id, now_ms};

#[derive(sqlx::FromRow)]
struct SettingsRow {
    window_start: String,
    window_end: String,
    targets: String,
    build_hours: Option<f64>,
    build_hours_source: Option<String>,
    build_hours_by: Option<String>,
    build_hours_at: Option<i64>,
    code_reuse: Option<f64>,
    code_reuse_source: Option<String>,
    code_reuse_by: Option<String>,
    code_reuse_at: Option<i64>,
}

fn date(column: &str, text: &str) -> Result<NaiveDate, sqlx::Error> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| sqlx::Error::Decode(format!("{column} holds {text:?}, not a date").into()))
}

fn entered(
    value: Option<f64>,
    source: Option<String>,
    by: Option<String>,
    at: Option<i64>,
) -> Option<Entered> {
    Some(Entered {
        value: value?,
        source: source.unwrap_or_default(),
        by,
        at: at.unwrap_or_default(),
    })
}

/// The team's settings (the defaults until an admin saves some).
pub async fn settings(db: &Db, team_id: &str) -> Result<Settings, sqlx::Error> {
    let row: Option<SettingsRow> = sqlx::query_as(
        "SELECT p.window_start, p.window_end, p.targets, p.build_hours, p.build_hours_source, \
         bh.name AS build_hours_by, p.build_hours_at, p.code_reuse, p.code_reuse_source, \
         cr.name AS code_reuse_by, p.code_reuse_at FROM pilot_settings p \
         LEFT JOIN users bh ON bh.id = p.build_hours_by LEFT JOIN users cr ON cr.id = p.code_reuse_by \
         WHERE p.team_id = $1",
    )
    .bind(team_id)
    .fetch_optional(db.read())
    .await?;
    let Some(row) = row else {
        return Ok(Settings::default_at(now_ms()));
    };
    Ok(Settings {
        window: Window {
            start: date("pilot_settings.window_start", &row.window_start)?,
            end: date("pilot_settings.window_end", &row.window_end)?,
        },
        targets: decode_json("pilot_settings.targets", &row.targets)?,
        build_hours: entered(
            row.build_hours,
            row.build_hours_source,
            row.build_hours_by,
            row.build_hours_at,
        ),
        code_reuse: entered(
            row.code_reuse,
            row.code_reuse_source,
            row.code_reuse_by,
            row.code_reuse_at,
        ),
    })
}

/// Saves the changes over the current settings, with one audit entry naming
/// what changed.
pub async fn change(db: &Db, actor: Actor<'_>, changes: &Changes) -> AppResult<()> {
    let current = settings(db, actor.team_id).await?;
    let window = changes.window.unwrap_or(current.window);
    let targets: Targets = changes.targets.unwrap_or(current.targets);
    let now = now_ms();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO pilot_settings (team_id, window_start, window_end, targets, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (team_id) DO UPDATE SET \
         window_start = excluded.window_start, window_end = excluded.window_end, targets = excluded.targets, \
         updated_by = excluded.updated_by, updated_at = excluded.updated_at",
    )
    .bind(actor.team_id)
    .bind(window.start.to_string())
    .bind(window.end.to_string())
    .bind(json_text(&targets)?)
    .bind(actor.user_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    for (column, value) in [
        ("build_hours", &changes.build_hours),
        ("code_reuse", &changes.code_reuse),
    ] {
        let Some((value, source)) = value else {
            continue;
        };
        sqlx::query(&format!(
            "UPDATE pilot_settings SET {column} = $1, {column}_source = $2, {column}_by = $3, {column}_at = $4 \
             WHERE team_id = $5"
        ))
        .bind(value)
        .bind(source.trim())
        .bind(actor.user_id)
        .bind(now)
        .bind(actor.team_id)
        .execute(&mut *tx)
        .await?;
    }
    let detail = json!({
        "window": changes.window,
        "targets": changes.targets,
        "build_hours": changes.build_hours.as_ref().map(|(value, source)| json!({"value": value, "source": source})),
        "code_reuse": changes.code_reuse.as_ref().map(|(value, source)| json!({"value": value, "source": source})),
    });
    crate::audit::record_in(
        &mut tx,
        actor,
        "pilot.updated",
        ("pilot", actor.team_id),
        Some(detail),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Everything the metrics read for the window, read concurrently.
pub async fn inputs(db: &Db, team_id: &str, window: &Window) -> AppResult<Inputs> {
    let (from, to) = window.millis();
    let (components, served, views, active, loads, totals) = tokio::try_join!(
        crate::components::list(db, team_id),
        served(db, team_id, from, to),
        day_rows::<(i64, String, String)>(
            db,
            "SELECT day, component_id, user_id FROM rollup_page_viewers_daily",
            team_id,
            from,
            to
        ),
        day_rows::<(i64, String)>(
            db,
            "SELECT day, user_id FROM rollup_active_users_daily",
            team_id,
            from,
            to
        ),
        loads(db, team_id, from, to),
        crate::analytics::totals(
            db,
            team_id,
            crate::analytics::Period { from, to },
            crate::analytics::rollups::Bucket::Day
        ),
    )?;
    Ok(Inputs {
        components: components
            .into_iter()
            .filter(|c| PAGES.iter().any(|page| page.as_str() == c.id))
            .map(|c| (c.id, c.enabled))
            .collect(),
        served,
        views,
        active,
        loads,
        executions: (totals.succeeded + totals.failed, totals.failed),
    })
}

/// Rows of a daily roll-up of the team in `[from, to)`.
async fn day_rows<T>(
    db: &Db,
    select: &str,
    team_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    sqlx::query_as(&format!(
        "{select} WHERE team_id = $1 AND day >= $2 AND day < $3"
    ))
    .bind(team_id)
    .bind(from)
    .bind(to)
    .fetch_all(db.read())
    .await
}

fn pages_metric(head: &str, team_id: &str, from: i64, to: i64) -> Sql {
    let mut sql = Sql::new(head, team_id);
    sql.and("timestamp >= ?", from)
        .and("timestamp < ?", to)
        .and_in("component_id", PAGES.iter().map(|page| page.as_str()));
    sql
}

/// Requests and 5xx answers per day and page (the request instrumentation's minutes summed).
async fn served(db: &Db, team_id: &str, from: i64, to: i64) -> Result<Vec<Served>, sqlx::Error> {
    let mut sql = pages_metric(
        "SELECT timestamp - (timestamp % 86400000) AS day, component_id, metric_name, SUM(value) AS total \
         FROM component_metrics WHERE team_id = ?",
        team_id,
        from,
        to,
    );
    sql.and_text("metric_name IN ('requests', 'errors_5xx')")
        .push_text(" GROUP BY timestamp - (timestamp % 86400000), component_id, metric_name");
    let rows: Vec<(i64, String, String, f64)> = sql.query_as().fetch_all(db.read()).await?;
    let mut served: BTreeMap<(i64, String), (f64, f64)> = BTreeMap::new();
    for (day, component_id, metric, total) in rows {
        let entry = served.entry((day, component_id)).or_default();
        if metric == "requests" {
            entry.0 += total;
        } else {
            entry.1 += total;
        }
    }
    Ok(served
        .into_iter()
        .map(|((day, component_id), (requests, errors))| Served {
            day,
            component_id,
            requests,
            errors,
        })
        .collect())
}

/// The pages' `page_load_ms` samples: day, page, value.
async fn loads(
    db: &Db,
    team_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, String, f64)>, sqlx::Error> {
    let mut sql = pages_metric(
        "SELECT timestamp - (timestamp % 86400000) AS day, component_id, value FROM component_metrics \
         WHERE team_id = ?",
        team_id,
        from,
        to,
    );
    sql.and_text("metric_name = 'page_load_ms'");
    sql.query_as().fetch_all(db.read()).await
}

#[derive(sqlx::FromRow)]
struct SnapshotRow {
    id: String,
    frozen_at: i64,
    frozen_by: Option<String>,
    evaluation: String,
}

impl TryFrom<SnapshotRow> for Snapshot {
    type Error = sqlx::Error;

    fn try_from(row: SnapshotRow) -> Result<Snapshot, sqlx::Error> {
        Ok(Snapshot {
            evaluation: decode_json("pilot_snapshots.evaluation", &row.evaluation)?,
            id: row.id,
            frozen_at: row.frozen_at,
            frozen_by: row.frozen_by,
        })
    }
}

const SNAPSHOT: &str = "SELECT s.id, s.frozen_at, u.name AS frozen_by, s.evaluation FROM pilot_snapshots s \
     LEFT JOIN users u ON u.id = s.frozen_by";

pub async fn insert_snapshot(
    db: &Db,
    actor: Actor<'_>,
    evaluation: &Evaluation,
) -> AppResult<Snapshot> {
    let id = new_id();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO pilot_snapshots (id, team_id, frozen_at, frozen_by, evaluation, decision, passed) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(actor.team_id)
    .bind(now_ms())
    .bind(actor.user_id)
    .bind(json_text(evaluation)?)
    .bind(evaluation.decision.as_str())
    .bind(i64::try_from(evaluation.passed).unwrap_or_default())
    .execute(&mut *tx)
    .await?;
    let detail = json!({"decision": evaluation.decision, "passed": evaluation.passed});
    crate::audit::record_in(
        &mut tx,
        actor,
        "pilot.snapshot_frozen",
        ("pilot_snapshot", &id),
        Some(detail),
    )
    .await?;
    let row: SnapshotRow = sqlx::query_as(&format!("{SNAPSHOT} WHERE s.id = $1"))
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Snapshot::try_from(row)?)
}

/// The team's snapshots, newest first.
pub async fn snapshots(db: &Db, team_id: &str) -> Result<Vec<Snapshot>, sqlx::Error> {
    let rows: Vec<SnapshotRow> = sqlx::query_as(&format!(
        "{SNAPSHOT} WHERE s.team_id = $1 ORDER BY s.frozen_at DESC, s.id DESC"
    ))
    .bind(team_id)
    .fetch_all(db.read())
    .await?;
    rows.into_iter().map(Snapshot::try_from).collect()
}

pub async fn snapshot(db: &Db, team_id: &str, id: &str) -> AppResult<Snapshot> {
    let row: Option<SnapshotRow> =
        sqlx::query_as(&format!("{SNAPSHOT} WHERE s.team_id = $1 AND s.id = $2"))
            .bind(team_id)
            .bind(id)
            .fetch_optional(db.read())
            .await?;
    row.map(Snapshot::try_from)
        .transpose()?
        .ok_or(AppError::NotFound)
}
