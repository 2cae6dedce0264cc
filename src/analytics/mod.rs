//! Analytics over the roll-ups: period summaries compared with the period
//! before, token usage by agent, model and workflow, and its CSV export. Every
//! query reads the hourly roll-ups (`rollups`), never the raw rows.

pub mod handlers;
pub mod page;
pub mod rollups;
pub mod tokens_page;

use serde::Serialize;
use sqlx::Row;

use crate::storage::Sql;
use crate::storage::{Db, now_ms};
use rollups::{Bucket, DAY_MS, day_of};

pub use handlers::routes;

/// A period of whole UTC days, `[from, to)`, ending with today.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Period {
    pub from: i64,
    pub to: i64,
}

impl Period {
    /// The last `days` days, today included.
    pub fn last_days(days: i64) -> Period {
        let to = day_of(now_ms()) + DAY_MS;
        Period {
            from: to - days * DAY_MS,
            to,
        }
    }

    /// The period of the same length just before this one.
    pub fn previous(self) -> Period {
        Period {
            from: self.from - (self.to - self.from),
            to: self.from,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Totals {
    pub executions: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub cancelled: i64,
    /// Succeeded out of all finished executions, 0 to 1 (0 when there were none).
    pub success_rate: f64,
    /// Input, output and cached tokens together.
    pub tokens: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub cost_micros: i64,
    /// What the failed executions cost (part of `cost_micros`).
    #[serde(skip)]
    pub failed_cost_micros: i64,
    pub duration_ms: i64,
}

/// Finished executions of a team in a period, from the roll-ups of `bucket`
/// (the period's bounds must fall on its boundaries).
pub async fn totals(
    db: &Db,
    team_id: &str,
    period: Period,
    bucket: Bucket,
) -> Result<Totals, sqlx::Error> {
    let (table, column) = (bucket.executions_table(), bucket.column());
    let sums = crate::storage::sql::sums(
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
    let rows = sqlx::query(&format!(
        "SELECT status, {sums} FROM {table} WHERE team_id = $1 AND {column} >= $2 AND {column} < $3 GROUP BY status"
    ))
    .bind(team_id)
    .bind(period.from)
    .bind(period.to)
    .fetch_all(db.read())
    .await?;
    let mut totals = Totals::default();
    for row in rows {
        let status: String = row.try_get("status")?;
        let executions = sum(&row, "executions")?;
        let cost_micros = sum(&row, "cost_micros")?;
        match status.as_str() {
            "succeeded" => totals.succeeded += executions,
            "failed" => {
                totals.failed += executions;
                totals.failed_cost_micros += cost_micros;
            }
            _ => totals.cancelled += executions,
        }
        totals.executions += executions;
        totals.duration_ms += sum(&row, "duration_ms")?;
        totals.input_tokens += sum(&row, "input_tokens")?;
        totals.output_tokens += sum(&row, "output_tokens")?;
        totals.cached_tokens += sum(&row, "cached_tokens")?;
        totals.cost_micros += cost_micros;
    }
    totals.tokens = totals.input_tokens + totals.output_tokens + totals.cached_tokens;
    if totals.executions > 0 {
        totals.success_rate = totals.succeeded as f64 / totals.executions as f64;
    }
    Ok(totals)
}

/// A summed column. PostgreSQL sums BIGINT as NUMERIC, which the Any driver
/// cannot read, so every query casts its sums back to BIGINT.
fn sum(row: &sqlx::any::AnyRow, column: &str) -> Result<i64, sqlx::Error> {
    Ok(row.try_get::<Option<i64>, _>(column)?.unwrap_or(0))
}

/// Token use of one group (an agent, a model, or a workflow × agent × model).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenRow {
    pub workflow_id: Option<String>,
    pub workflow_name: Option<String>,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub model: Option<String>,
    /// Provider calls (steps).
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub total_tokens: i64,
    pub cost_micros: i64,
}

/// How token rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Agent,
    Model,
    AgentModel,
    WorkflowAgentModel,
}

/// Filters of the token views (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenFilter {
    pub workflow_id: Option<String>,
    pub agent_id: Option<String>,
    pub model: Option<String>,
}

impl TokenFilter {
    /// Whether a workflow × agent × model row passes the filter (what
    /// `token_rows` asks the database when given the filter).
    pub fn keeps(&self, row: &TokenRow) -> bool {
        let matches =
            |wanted: &Option<String>, got: &Option<String>| wanted.is_none() || wanted == got;
        matches(&self.workflow_id, &row.workflow_id)
            && matches(&self.agent_id, &row.agent_id)
            && matches(&self.model, &row.model)
    }
}

/// Token use in a period, grouped, largest first.
pub async fn token_rows(
    db: &Db,
    team_id: &str,
    period: Period,
    grouping: Grouping,
    filter: &TokenFilter,
) -> Result<Vec<TokenRow>, sqlx::Error> {
    let (keys, joins) = match grouping {
        Grouping::Agent => (
            "r.agent_id, a.name",
            "LEFT JOIN agents a ON a.id = r.agent_id",
        ),
        Grouping::Model => ("r.model", ""),
        Grouping::AgentModel => (
            "r.agent_id, a.name, r.model",
            "LEFT JOIN agents a ON a.id = r.agent_id",
        ),
        Grouping::WorkflowAgentModel => (
            "r.workflow_id, w.name, r.agent_id, a.name, r.model",
            "LEFT JOIN agents a ON a.id = r.agent_id LEFT JOIN workflows w ON w.id = r.workflow_id",
        ),
    };
    let sums = crate::storage::sql::sums(
        "r.",
        &[
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "cost_micros",
        ],
    );
    let calls = crate::storage::sql::sum_as("r.steps", "calls");
    let mut sql = Sql::text(&format!(
        "SELECT {keys}, {calls}, {sums} FROM rollup_steps_daily r {joins} WHERE r.team_id = "
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
    sql.push_text(&format!(
        " GROUP BY {keys} ORDER BY cost_micros DESC, calls DESC"
    ));
    let rows = sql.query().fetch_all(db.read()).await?;
    rows.iter()
        .map(|row| {
            let text = |index: usize| row.try_get::<Option<String>, _>(index).ok().flatten();
            let (workflow_id, workflow_name, agent_id, agent_name, model) = match grouping {
                Grouping::Agent => (None, None, text(0), text(1), None),
                Grouping::Model => (None, None, None, None, text(0)),
                Grouping::AgentModel => (None, None, text(0), text(1), text(2)),
                Grouping::WorkflowAgentModel => (text(0), text(1), text(2), text(3), text(4)),
            };
            let (input, output, cached) = (
                sum(row, "input_tokens")?,
                sum(row, "output_tokens")?,
                sum(row, "cached_tokens")?,
            );
            Ok(TokenRow {
                workflow_id,
                workflow_name,
                agent_id,
                agent_name,
                model,
                calls: sum(row, "calls")?,
                input_tokens: input,
                output_tokens: output,
                cached_tokens: cached,
                total_tokens: input + output + cached,
                cost_micros: sum(row, "cost_micros")?,
            })
        })
        .collect()
}

/// Folds rows of the finest grouping (workflow × agent × model) into a coarser
/// one without another query, largest cost first like `token_rows`.
pub fn regroup(rows: &[TokenRow], grouping: Grouping) -> Vec<TokenRow> {
    let key = |row: &TokenRow| -> TokenRow {
        let keep = |wanted: bool, value: &Option<String>| if wanted { value.clone() } else { None };
        let (workflow, agent, model) = match grouping {
            Grouping::Agent => (false, true, false),
            Grouping::Model => (false, false, true),
            Grouping::AgentModel => (false, true, true),
            Grouping::WorkflowAgentModel => (true, true, true),
        };
        TokenRow {
            workflow_id: keep(workflow, &row.workflow_id),
            workflow_name: keep(workflow, &row.workflow_name),
            agent_id: keep(agent, &row.agent_id),
            agent_name: keep(agent, &row.agent_name),
            model: keep(model, &row.model),
            calls: 0,
            input_tokens: 0,
            output_tokens: 0,
            cached_tokens: 0,
            total_tokens: 0,
            cost_micros: 0,
        }
    };
    let mut groups: Vec<TokenRow> = Vec::new();
    for row in rows {
        let empty = key(row);
        let same = |g: &&mut TokenRow| {
            g.workflow_id == empty.workflow_id
                && g.agent_id == empty.agent_id
                && g.model == empty.model
        };
        let index = match groups.iter_mut().position(|g| same(&g)) {
            Some(index) => index,
            None => {
                groups.push(empty.clone());
                groups.len() - 1
            }
        };
        let group = &mut groups[index];
        group.calls += row.calls;
        group.input_tokens += row.input_tokens;
        group.output_tokens += row.output_tokens;
        group.cached_tokens += row.cached_tokens;
        group.total_tokens += row.total_tokens;
        group.cost_micros += row.cost_micros;
    }
    groups.sort_by_key(|g| (std::cmp::Reverse(g.cost_micros), std::cmp::Reverse(g.calls)));
    groups
}

/// Micro-dollars as dollars with six decimals, for people and spreadsheets.
pub fn dollars(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let micros = micros.unsigned_abs();
    format!("{sign}{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_whole_days_and_the_previous_one_adjoins() {
        let period = Period::last_days(7);
        assert_eq!(period.to % DAY_MS, 0);
        assert!(period.to > now_ms());
        assert_eq!(period.to - period.from, 7 * DAY_MS);
        let previous = period.previous();
        assert_eq!(previous.to, period.from);
        assert_eq!(previous.to - previous.from, 7 * DAY_MS);
    }

    #[test]
    fn dollars_keep_every_micro() {
        assert_eq!(dollars(0), "0.000000");
        assert_eq!(dollars(19_386), "0.019386");
        assert_eq!(dollars(4_750_000), "4.750000");
        assert_eq!(dollars(-5), "-0.000005");
    }
}
