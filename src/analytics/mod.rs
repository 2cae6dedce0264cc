//! Analytics over the roll-ups: period summaries compared with the period
//! before, token usage by agent, model and workflow, and its CSV export. Every
//! query reads the hourly and daily roll-ups (`rollups`), never the raw rows;
//! all of the SQL, reads and roll-up writers alike, is in `store`.

pub mod handlers;
pub mod page;
mod store;
pub mod tokens_page;

use serde::Serialize;

use crate::storage::now_ms;
use rollups::{DAY_MS, day_of};

pub use handlers::routes;
pub use store::rollups;
pub use store::{token_rows, totals};

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

impl Grouping {
    /// Whether the grouping keeps the workflow, the agent and the model.
    pub fn keys(self) -> (bool, bool, bool) {
        match self {
            Grouping::Agent => (false, true, false),
            Grouping::Model => (false, false, true),
            Grouping::AgentModel => (false, true, true),
            Grouping::WorkflowAgentModel => (true, true, true),
        }
    }
}

/// Filters of the token views (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenFilter {
    pub workflow_id: Option<String>,
    pub agent_id: Option<String>,
    pub model: Option<String>,
    /// Calls of executions run by HUMMBL, or of traces sent over OTLP. The
    /// query applies it (rows do not carry it); `keeps` does not.
    pub source: Option<crate::executions::Source>,
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

/// Folds rows of the finest grouping (workflow × agent × model) into a coarser
/// one without another query, largest cost first like `token_rows`.
pub fn regroup(rows: &[TokenRow], grouping: Grouping) -> Vec<TokenRow> {
    let key = |row: &TokenRow| -> TokenRow {
        let keep = |wanted: bool, value: &Option<String>| if wanted { value.clone() } else { None };
        let (workflow, agent, model) = grouping.keys();
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
