//! Hourly and daily roll-ups of executions and steps, and daily active users.
//!
//! This module is the only writer of the roll-up tables. They are kept up to
//! date in the same transaction that finishes an execution (`add_execution`)
//! or records a provider call (`add_step`), so each counts exactly once; the
//! telemetry writer adds the console users it sees through `add_active_users`,
//! inside its bulk transaction; `rebuild` recomputes them all from the raw rows
//! (after bulk loads, or to repair). Hours are UTC hour starts of the
//! execution's creation.

use std::collections::BTreeSet;

use crate::storage::bulk::{Bulk, BulkError, Insert, Param};
use crate::storage::{Db, Tx};

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// The start of the hour `ms` falls in.
pub fn hour_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(HOUR_MS)
}

/// The start of the UTC day `ms` falls in.
pub fn day_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(DAY_MS)
}

/// The two sizes of bucket the roll-ups are kept in: hours (the heat map, the
/// month so far in any time zone) and UTC days (ranges of days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    pub const BOTH: [Bucket; 2] = [Bucket::Hour, Bucket::Day];

    fn suffix(self) -> &'static str {
        match self {
            Bucket::Hour => "hourly",
            Bucket::Day => "daily",
        }
    }

    /// The bucket's column in its tables.
    pub fn column(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }

    fn millis(self) -> i64 {
        match self {
            Bucket::Hour => HOUR_MS,
            Bucket::Day => DAY_MS,
        }
    }

    pub fn executions_table(self) -> String {
        format!("rollup_executions_{}", self.suffix())
    }

    pub fn steps_table(self) -> String {
        format!("rollup_steps_{}", self.suffix())
    }

    /// Sums finished executions matching `filter` into this bucket's table
    /// (`sign` -1 takes them out again).
    fn execution_sums(self, filter: &str, sign: i64) -> String {
        let (table, column, ms) = (self.executions_table(), self.column(), self.millis());
        format!(
            "INSERT INTO {table} (team_id, {column}, workflow_id, user_id, status, executions, duration_ms, \
             input_tokens, output_tokens, cached_tokens, cost_micros) \
             SELECT team_id, created_at - (created_at % {ms}), workflow_id, COALESCE(user_id, ''), status, {sign} * COUNT(*), \
             {sign} * SUM(COALESCE(completed_at, created_at) - COALESCE(started_at, created_at)), {sign} * SUM(input_tokens), \
             {sign} * SUM(output_tokens), {sign} * SUM(cached_tokens), {sign} * SUM(cost_micros) FROM executions \
             WHERE status IN ('succeeded', 'failed', 'cancelled'){filter} \
             GROUP BY team_id, created_at - (created_at % {ms}), workflow_id, COALESCE(user_id, ''), status \
             ON CONFLICT (team_id, {column}, workflow_id, user_id, status) DO UPDATE SET \
             executions = {table}.executions + excluded.executions, \
             duration_ms = {table}.duration_ms + excluded.duration_ms, \
             input_tokens = {table}.input_tokens + excluded.input_tokens, \
             output_tokens = {table}.output_tokens + excluded.output_tokens, \
             cached_tokens = {table}.cached_tokens + excluded.cached_tokens, \
             cost_micros = {table}.cost_micros + excluded.cost_micros"
        )
    }

    /// Sums provider calls (steps) matching `filter` into this bucket's table.
    fn step_sums(self, filter: &str) -> String {
        let (table, column, ms) = (self.steps_table(), self.column(), self.millis());
        format!(
            "INSERT INTO {table} (team_id, {column}, workflow_id, agent_id, model, status, user_id, steps, \
             input_tokens, output_tokens, cached_tokens, cost_micros, latency_ms) \
             SELECT e.team_id, e.created_at - (e.created_at % {ms}), e.workflow_id, COALESCE(t.agent_id, ''), \
             COALESCE(t.model, ''), t.status, COALESCE(e.user_id, ''), COUNT(*), SUM(t.input_tokens), \
             SUM(t.output_tokens), SUM(t.cached_tokens), SUM(t.cost_micros), SUM(COALESCE(t.latency_ms, 0)) \
             FROM task_results t JOIN executions e ON e.id = t.execution_id \
             WHERE t.status IN ('succeeded', 'failed') AND t.reused_from IS NULL{filter} \
             GROUP BY e.team_id, e.created_at - (e.created_at % {ms}), e.workflow_id, COALESCE(t.agent_id, ''), \
             COALESCE(t.model, ''), t.status, COALESCE(e.user_id, '') \
             ON CONFLICT (team_id, {column}, workflow_id, agent_id, model, status, user_id) DO UPDATE SET \
             steps = {table}.steps + excluded.steps, \
             input_tokens = {table}.input_tokens + excluded.input_tokens, \
             output_tokens = {table}.output_tokens + excluded.output_tokens, \
             cached_tokens = {table}.cached_tokens + excluded.cached_tokens, \
             cost_micros = {table}.cost_micros + excluded.cost_micros, \
             latency_ms = {table}.latency_ms + excluded.latency_ms"
        )
    }
}

/// Sums finished executions matching `filter` per team, hour and status.
fn team_hourly_sums(filter: &str, sign: i64) -> String {
    format!(
        "INSERT INTO rollup_team_hourly (team_id, hour, status, executions) \
         SELECT team_id, created_at - (created_at % {HOUR_MS}), status, {sign} * COUNT(*) FROM executions \
         WHERE status IN ('succeeded', 'failed', 'cancelled'){filter} \
         GROUP BY team_id, created_at - (created_at % {HOUR_MS}), status \
         ON CONFLICT (team_id, hour, status) DO UPDATE SET \
         executions = rollup_team_hourly.executions + excluded.executions"
    )
}

/// Adds a just-finished execution, inside the transaction that finished it.
pub async fn add_execution(tx: &mut Tx, execution_id: &str) -> Result<(), sqlx::Error> {
    sum_execution(tx, execution_id, 1).await?;
    sqlx::query(
        "INSERT INTO rollup_active_users_daily (team_id, day, user_id) \
         SELECT team_id, created_at - (created_at % 86400000), user_id FROM executions \
         WHERE id = $1 AND user_id IS NOT NULL ON CONFLICT (team_id, day, user_id) DO NOTHING",
    )
    .bind(execution_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Takes a finished execution out of the roll-ups, inside the transaction
/// that is about to change it and add it again (an external execution whose
/// trace's later spans changed its totals or its status). An execution not
/// finished yet was never added and takes nothing out.
pub async fn remove_execution(tx: &mut Tx, execution_id: &str) -> Result<(), sqlx::Error> {
    sum_execution(tx, execution_id, -1).await
}

async fn sum_execution(tx: &mut Tx, execution_id: &str, sign: i64) -> Result<(), sqlx::Error> {
    for bucket in Bucket::BOTH {
        sqlx::query(&bucket.execution_sums(" AND id = $1", sign))
            .bind(execution_id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(&team_hourly_sums(" AND id = $1", sign))
        .bind(execution_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Adds just-recorded provider calls of one execution (by step name), inside
/// the transaction that recorded them: one statement per bucket for them all.
pub async fn add_steps(tx: &mut Tx, execution_id: &str, steps: &[&str]) -> Result<(), sqlx::Error> {
    if steps.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = (2..steps.len() + 2).map(|n| format!("${n}")).collect();
    let filter = format!(
        " AND t.execution_id = $1 AND t.task_name IN ({})",
        names.join(", ")
    );
    for bucket in Bucket::BOTH {
        let sql = bucket.step_sums(&filter);
        let query = steps
            .iter()
            .fold(sqlx::query(&sql).bind(execution_id), |query, step| {
                query.bind(*step)
            });
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Adds a just-recorded provider call, inside the transaction that recorded it.
pub async fn add_step(tx: &mut Tx, execution_id: &str, step: &str) -> Result<(), sqlx::Error> {
    for bucket in Bucket::BOTH {
        sqlx::query(&bucket.step_sums(" AND t.execution_id = $1 AND t.task_name = $2"))
            .bind(execution_id)
            .bind(step)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The daily active users as bulk writes add them: a user already counted
/// that day is skipped.
const ACTIVE_USERS: Insert<3> = Insert {
    table: "rollup_active_users_daily",
    columns: ["team_id", "day", "user_id"],
    skip_conflicts_on: Some("(team_id, day, user_id)"),
};

/// Adds the console users seen in ingested telemetry, given as (team, any
/// moment of the day, user), inside the telemetry writer's bulk transaction:
/// ingestion stays one write, and a batch's many events of one user make one row.
pub fn add_active_users<'a>(
    bulk: &mut Bulk<'_>,
    seen: impl IntoIterator<Item = (&'a str, i64, &'a str)>,
) -> Result<(), BulkError> {
    let active: BTreeSet<(&str, i64, &str)> = seen
        .into_iter()
        .map(|(team, at, user)| (team, day_of(at), user))
        .collect();
    bulk.insert(
        &ACTIVE_USERS,
        active.iter().map(|&(team, day, user)| {
            [
                Param::Text(Some(team)),
                Param::Int(day),
                Param::Text(Some(user)),
            ]
        }),
    )
}

/// Who viewed which page on which day, as bulk writes add them.
const PAGE_VIEWERS: Insert<4> = Insert {
    table: "rollup_page_viewers_daily",
    columns: ["team_id", "day", "component_id", "user_id"],
    skip_conflicts_on: Some("(team_id, day, component_id, user_id)"),
};

/// Adds the console users' page views, given as (team, moment, page, user),
/// in the telemetry writer's bulk transaction: a thousand views of one page by
/// one user on one day make one row (the pilot counts users, not rows).
pub fn add_page_viewers<'a>(
    bulk: &mut Bulk<'_>,
    seen: impl IntoIterator<Item = (&'a str, i64, &'a str, &'a str)>,
) -> Result<(), BulkError> {
    let viewers: BTreeSet<(&str, i64, &str, &str)> = seen
        .into_iter()
        .map(|(team, at, page, user)| (team, day_of(at), page, user))
        .collect();
    bulk.insert(
        &PAGE_VIEWERS,
        viewers.iter().map(|&(team, day, page, user)| {
            [
                Param::Text(Some(team)),
                Param::Int(day),
                Param::Text(Some(page)),
                Param::Text(Some(user)),
            ]
        }),
    )
}

/// Recomputes every roll-up (of one team, or all) from the raw rows, in one
/// transaction. On PostgreSQL the roll-up tables are locked meanwhile, so an
/// execution finishing during the rebuild adds itself after it, not twice.
pub async fn rebuild(db: &Db, team_id: Option<&str>) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    db.lock_tables(
        &mut tx,
        &[
            "rollup_executions_hourly",
            "rollup_steps_hourly",
            "rollup_executions_daily",
            "rollup_steps_daily",
            "rollup_team_hourly",
            "rollup_active_users_daily",
            "rollup_page_viewers_daily",
        ],
    )
    .await?;
    let (team_filter, team_filter_e) = match team_id {
        Some(_) => (" AND team_id = $1", " AND e.team_id = $1"),
        None => ("", ""),
    };
    let mut statements = Vec::new();
    for bucket in Bucket::BOTH {
        statements.push(format!(
            "DELETE FROM {} WHERE 1 = 1{team_filter}",
            bucket.executions_table()
        ));
        statements.push(format!(
            "DELETE FROM {} WHERE 1 = 1{team_filter}",
            bucket.steps_table()
        ));
        statements.push(bucket.execution_sums(team_filter, 1));
        statements.push(bucket.step_sums(team_filter_e));
    }
    statements.push(format!(
        "DELETE FROM rollup_team_hourly WHERE 1 = 1{team_filter}"
    ));
    statements.push(team_hourly_sums(team_filter, 1));
    statements.push(format!(
        "DELETE FROM rollup_active_users_daily WHERE 1 = 1{team_filter}"
    ));
    statements.extend([
        format!(
            "INSERT INTO rollup_active_users_daily (team_id, day, user_id) \
             SELECT DISTINCT team_id, created_at - (created_at % 86400000), user_id FROM executions \
             WHERE user_id IS NOT NULL{team_filter} ON CONFLICT (team_id, day, user_id) DO NOTHING"
        ),
        format!(
            "INSERT INTO rollup_active_users_daily (team_id, day, user_id) \
             SELECT DISTINCT team_id, timestamp - (timestamp % 86400000), user_id FROM user_actions \
             WHERE user_id IS NOT NULL AND team_id IS NOT NULL{team_filter} ON CONFLICT (team_id, day, user_id) DO NOTHING"
        ),
        format!("DELETE FROM rollup_page_viewers_daily WHERE 1 = 1{team_filter}"),
        format!(
            "INSERT INTO rollup_page_viewers_daily (team_id, day, component_id, user_id) \
             SELECT DISTINCT team_id, timestamp - (timestamp % 86400000), component_id, user_id FROM user_actions \
             WHERE action_type = 'page_view' AND user_id IS NOT NULL AND team_id IS NOT NULL \
             AND component_id IS NOT NULL{team_filter} \
             ON CONFLICT (team_id, day, component_id, user_id) DO NOTHING"
        ),
    ]);
    for sql in statements {
        let mut query = sqlx::query(&sql);
        if let Some(team) = team_id {
            query = query.bind(team);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_and_days_start_where_expected() {
        assert_eq!(hour_of(3 * HOUR_MS + 59_999), 3 * HOUR_MS);
        assert_eq!(hour_of(3 * HOUR_MS), 3 * HOUR_MS);
        assert_eq!(day_of(2 * DAY_MS + 5 * HOUR_MS), 2 * DAY_MS);
    }
}
