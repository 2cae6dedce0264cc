//! The analytics SQL. Reads of the roll-ups live here: period totals by
//! execution status, token use grouped by workflow, agent and model, the
//! dashboard's hourly series and its active users per day. The roll-ups' writers
//! (kept in the transactions that finish executions and record provider calls,
//! the telemetry writer's active users, and the rebuild) are in [`rollups`].
//! Rows decode through `FromRow` structs here; pages and handlers see only the
//! analytics types.

pub mod rollups;

use super::{Grouping, Period, TokenFilter, TokenRow, Totals};
use crate::executions::Status;
use crate::storage::sql::{sum_as, sums};
use crate::storage::{Db, Sql, decode_name};
use rollups::{Bucket, day_of};

/// One status's sums in a roll-up of executions.
#[derive(sqlx::FromRow)]
struct StatusSums {
    status: String,
    executions: i64,
    duration_ms: i64,
    input_tokens: i64,
    output_tokens: i64,
    cached_tokens: i64,
    cost_micros: i64,
}

/// Finished executions of a team in a period, from the roll-ups of `bucket`
/// (the period's bounds must fall on its boundaries).
pub async fn totals(
    db: &Db,
    team_id: &str,
    period: Period,
    bucket: Bucket,
) -> Result<Totals, sqlx::Error> {
    totals_of(db, team_id, period, bucket, None).await
}

/// `workflow_id IN (…)` of the team's workflows of `source`, as a filter on
/// a roll-up, with its placeholders numbered from `$first`.
fn of_source(first: usize) -> String {
    format!(
        " AND workflow_id IN (SELECT id FROM workflows WHERE team_id = ${} AND source = ${})",
        first,
        first + 1
    )
}

/// `sql` (team `$1`, period `$2`..`$3`, then [`of_source`]`(4)` when a source
/// is given) with its values bound.
fn in_period<'q, T>(
    sql: &'q str,
    team_id: &'q str,
    period: Period,
    source: Option<crate::executions::Source>,
) -> sqlx::query::QueryAs<'q, sqlx::Any, T, sqlx::any::AnyArguments<'q>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    let query = sqlx::query_as(sql)
        .bind(team_id)
        .bind(period.from)
        .bind(period.to);
    match source {
        Some(source) => query.bind(team_id).bind(source.as_str()),
        None => query,
    }
}

/// [`totals`] of the executions of one source only (HUMMBL's runs or OTLP
/// traces), when given.
pub async fn totals_of(
    db: &Db,
    team_id: &str,
    period: Period,
    bucket: Bucket,
    source: Option<crate::executions::Source>,
) -> Result<Totals, sqlx::Error> {
    let (table, column) = (bucket.executions_table(), bucket.column());
    let filter = if source.is_some() {
        of_source(4)
    } else {
        String::new()
    };
    let summed = sums(
        "",
        &[
            "executions",
            "duration_ms",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "cost_micros",
        ],
    );
    let sql = format!(
        "SELECT status, {summed} FROM {table} WHERE team_id = $1 AND {column} >= $2 AND {column} < $3{filter} \
         GROUP BY status"
    );
    let rows: Vec<StatusSums> = in_period(&sql, team_id, period, source)
        .fetch_all(db.read())
        .await?;
    add_up(rows)
}

/// The roll-ups count finished executions only (their writers select those),
/// so an unfinished status there is as wrong as an unknown one.
fn unfinished(status: Status) -> sqlx::Error {
    sqlx::Error::Decode(
        format!(
            "unfinished execution status {:?} in a roll-up",
            status.as_str()
        )
        .into(),
    )
}

/// Folds the per-status sums into totals. Each status is decoded: one the code
/// does not know, or an unfinished one, is an error naming it rather than a
/// count added to some other status.
fn add_up(rows: Vec<StatusSums>) -> Result<Totals, sqlx::Error> {
    let mut totals = Totals::default();
    for row in rows {
        match decode_name::<Status>("execution status", &row.status)? {
            Status::Succeeded => totals.succeeded += row.executions,
            Status::Failed => {
                totals.failed += row.executions;
                totals.failed_cost_micros += row.cost_micros;
            }
            Status::Cancelled => totals.cancelled += row.executions,
            status @ (Status::Pending | Status::Running) => return Err(unfinished(status)),
        }
        totals.executions += row.executions;
        totals.duration_ms += row.duration_ms;
        totals.input_tokens += row.input_tokens;
        totals.output_tokens += row.output_tokens;
        totals.cached_tokens += row.cached_tokens;
        totals.cost_micros += row.cost_micros;
    }
    totals.tokens = totals.input_tokens + totals.output_tokens + totals.cached_tokens;
    if totals.executions > 0 {
        totals.success_rate = totals.succeeded as f64 / totals.executions as f64;
    }
    Ok(totals)
}

/// One group's sums in the daily roll-up of steps. Every grouping selects all
/// five key columns (NULL for those it does not group by), so one row type
/// decodes them all.
#[derive(sqlx::FromRow)]
struct TokenSums {
    workflow_id: Option<String>,
    workflow_name: Option<String>,
    agent_id: Option<String>,
    agent_name: Option<String>,
    model: Option<String>,
    calls: i64,
    input_tokens: i64,
    output_tokens: i64,
    cached_tokens: i64,
    cost_micros: i64,
}

impl From<TokenSums> for TokenRow {
    fn from(row: TokenSums) -> TokenRow {
        TokenRow {
            workflow_id: row.workflow_id,
            workflow_name: row.workflow_name,
            agent_id: row.agent_id,
            agent_name: row.agent_name,
            model: row.model,
            calls: row.calls,
            input_tokens: row.input_tokens,
            output_tokens: row.output_tokens,
            cached_tokens: row.cached_tokens,
            total_tokens: row.input_tokens + row.output_tokens + row.cached_tokens,
            cost_micros: row.cost_micros,
        }
    }
}

/// A NULL the Any driver decodes as an absent text on both backends
/// (PostgreSQL needs the type of a bare NULL in a select list).
const NO_TEXT: &str = "CAST(NULL AS TEXT)";

/// The key columns `grouping` selects (with their names), what it groups by,
/// and the joins that bring the names.
fn token_keys(grouping: Grouping) -> (String, String, String) {
    let (workflow, agent, model) = grouping.keys();
    let key = |wanted: bool, expr: &str, name: &str| {
        let selected = if wanted { expr } else { NO_TEXT };
        format!("{selected} AS {name}")
    };
    let select = [
        key(workflow, "r.workflow_id", "workflow_id"),
        key(workflow, "w.name", "workflow_name"),
        key(agent, "r.agent_id", "agent_id"),
        key(agent, "a.name", "agent_name"),
        key(model, "r.model", "model"),
    ]
    .join(", ");
    let group_by = [
        (workflow, "r.workflow_id, w.name"),
        (agent, "r.agent_id, a.name"),
        (model, "r.model"),
    ]
    .iter()
    .filter(|(wanted, _)| *wanted)
    .map(|(_, columns)| *columns)
    .collect::<Vec<_>>()
    .join(", ");
    let mut joins = String::new();
    if agent {
        joins.push_str(" LEFT JOIN agents a ON a.id = r.agent_id");
    }
    if workflow {
        joins.push_str(" LEFT JOIN workflows w ON w.id = r.workflow_id");
    }
    (select, group_by, joins)
}

/// Token use in a period, grouped, largest first.
pub async fn token_rows(
    db: &Db,
    team_id: &str,
    period: Period,
    grouping: Grouping,
    filter: &TokenFilter,
) -> Result<Vec<TokenRow>, sqlx::Error> {
    let (keys, group_by, joins) = token_keys(grouping);
    let summed = sums(
        "r.",
        &[
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "cost_micros",
        ],
    );
    let calls = sum_as("r.steps", "calls");
    let mut sql = Sql::text(&format!(
        "SELECT {keys}, {calls}, {summed} FROM rollup_steps_daily r{joins} WHERE r.team_id = "
    ));
    sql.push("?", team_id)
        .and("r.day >= ?", period.from)
        .and("r.day < ?", period.to);
    for (column, value) in [
        ("r.workflow_id", &filter.workflow_id),
        ("r.agent_id", &filter.agent_id),
        ("r.model", &filter.model),
    ] {
        if let Some(value) = value {
            sql.and(&format!("{column} = ?"), value);
        }
    }
    if let Some(source) = filter.source {
        let (team, source) = (sql.bind(team_id), sql.bind(source.as_str()));
        sql.and_text(&format!(
            "r.workflow_id IN (SELECT id FROM workflows WHERE team_id = {team} AND source = {source})"
        ));
    }
    sql.push_text(&format!(
        " GROUP BY {group_by} ORDER BY cost_micros DESC, calls DESC"
    ));
    let rows: Vec<TokenSums> = sql.query_as().fetch_all(db.read()).await?;
    Ok(rows.into_iter().map(TokenRow::from).collect())
}

/// Finished executions started in one hour with one status (the narrow hourly
/// roll-up behind the dashboard's daily series and heat map).
#[derive(Debug, Clone, PartialEq)]
pub struct HourCount {
    pub hour: i64,
    pub status: Status,
    pub executions: i64,
}

#[derive(sqlx::FromRow)]
struct HourRow {
    hour: i64,
    status: String,
    executions: i64,
}

impl TryFrom<HourRow> for HourCount {
    type Error = sqlx::Error;

    fn try_from(row: HourRow) -> Result<HourCount, sqlx::Error> {
        let status: Status = decode_name("execution status", &row.status)?;
        if !status.is_finished() {
            return Err(unfinished(status));
        }
        Ok(HourCount {
            hour: row.hour,
            status,
            executions: row.executions,
        })
    }
}

/// Executions per hour and status in a period; of one source only from the
/// wider hourly roll-up (the narrow one has no workflow to tell them apart).
pub async fn hourly(
    db: &Db,
    team_id: &str,
    period: Period,
    source: Option<crate::executions::Source>,
) -> Result<Vec<HourCount>, sqlx::Error> {
    let sql = match source {
        None => "SELECT hour, status, executions FROM rollup_team_hourly \
                 WHERE team_id = $1 AND hour >= $2 AND hour < $3"
            .to_string(),
        Some(_) => format!(
            "SELECT hour, status, {} FROM rollup_executions_hourly \
             WHERE team_id = $1 AND hour >= $2 AND hour < $3{} GROUP BY hour, status",
            sum_as("executions", "executions"),
            of_source(4)
        ),
    };
    let rows: Vec<HourRow> = in_period(&sql, team_id, period, source)
        .fetch_all(db.read())
        .await?;
    rows.into_iter().map(HourCount::try_from).collect()
}

/// How many people were active on one UTC day.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ActiveUsers {
    pub day: i64,
    pub users: i64,
}

/// Active users per UTC day over the days the period touches, oldest first.
pub async fn active_users(
    db: &Db,
    team_id: &str,
    period: Period,
) -> Result<Vec<ActiveUsers>, sqlx::Error> {
    sqlx::query_as(
        "SELECT day, CAST(COUNT(*) AS BIGINT) AS users FROM rollup_active_users_daily \
         WHERE team_id = $1 AND day >= $2 AND day < $3 GROUP BY day ORDER BY day",
    )
    .bind(team_id)
    .bind(day_of(period.from))
    .bind(period.to)
    .fetch_all(db.read())
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(status: &str, executions: i64, cost_micros: i64) -> StatusSums {
        StatusSums {
            status: status.into(),
            executions,
            duration_ms: 1_000 * executions,
            input_tokens: 100 * executions,
            output_tokens: 10 * executions,
            cached_tokens: executions,
            cost_micros,
        }
    }

    #[test]
    fn each_finished_status_counts_as_itself() {
        let totals = add_up(vec![
            sums("succeeded", 3, 300),
            sums("failed", 1, 50),
            sums("cancelled", 2, 20),
        ])
        .expect("totals");
        assert_eq!(
            (totals.succeeded, totals.failed, totals.cancelled),
            (3, 1, 2)
        );
        assert_eq!(totals.executions, 6);
        assert_eq!(totals.success_rate, 0.5);
        assert_eq!(totals.cost_micros, 370);
        assert_eq!(totals.failed_cost_micros, 50);
        assert_eq!(totals.tokens, 6 * 111);
        assert_eq!(totals.duration_ms, 6_000);
    }

    #[test]
    fn an_unknown_or_unfinished_status_is_an_error_naming_it() {
        // It used to be counted as cancelled.
        let unknown = add_up(vec![sums("succeeded", 1, 0), sums("archived", 4, 0)])
            .expect_err("an unknown status");
        assert!(unknown.to_string().contains("\"archived\""), "{unknown}");
        let running = add_up(vec![sums("running", 1, 0)]).expect_err("an unfinished status");
        assert!(running.to_string().contains("\"running\""), "{running}");
        let hour = HourCount::try_from(HourRow {
            hour: 0,
            status: "pending".into(),
            executions: 1,
        });
        assert!(hour.is_err());
    }
}
