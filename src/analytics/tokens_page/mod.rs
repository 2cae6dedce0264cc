//! `/analytics/tokens` (component `token-usage`): where the tokens and the money
//! go, by model, agent and workflow; the input/output/cached split; the price
//! table (admins add a price from a date on, `prices`); suggestions that would
//! save money, each with its estimate and method (`suggestions`); and the CSV
//! of what the page shows. The page is load, then render (`render`).

mod prices;
mod render;
mod suggestions;

use axum::extract::{Query, State};
use maud::Markup;
use serde::Deserialize;

use super::handlers::{TOKENS, parse_days};
use super::rollups::Bucket;
use super::{Grouping, Period, TokenFilter, TokenRow};
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::AppResult;
use crate::prices::ListedPrice;
use crate::storage::{Db, now_ms};
use crate::web::format::urlencode;
use crate::web::{Shell, page};

pub use prices::{PriceForm, parse_dollars, set_price};
pub use render::render;
pub use suggestions::{Suggestion, suggestions};

/// The view's range and filters: the page's query string, and the CSV's.
#[derive(Debug, Clone, Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokensQuery {
    /// The last N days (1 to 365, default 30).
    #[param(minimum = 1, maximum = 365)]
    pub days: Option<i64>,
    /// A workflow id.
    pub workflow: Option<String>,
    /// An agent id.
    pub agent: Option<String>,
    /// A model name.
    pub model: Option<String>,
    /// `hummbl` (runs HUMMBL made) or `otlp` (traces your services sent).
    #[param(value_type = Option<crate::api::shapes::SourceFilter>, inline)]
    pub source: Option<String>,
}

impl TokensQuery {
    /// The filter, or a 422 naming a `source` that is neither.
    pub fn filter(&self) -> Result<TokenFilter, crate::error::AppError> {
        let keep = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
        Ok(TokenFilter {
            workflow_id: keep(&self.workflow),
            agent_id: keep(&self.agent),
            model: keep(&self.model),
            source: crate::executions::handlers::parse_source(self.source.as_deref())?,
        })
    }

    /// The query string of this view with another range.
    fn with_days(&self, days: i64) -> String {
        let mut url = format!("?days={days}");
        for (name, value) in [
            ("workflow", &self.workflow),
            ("agent", &self.agent),
            ("model", &self.model),
            ("source", &self.source),
        ] {
            if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
                url.push_str(&format!("&{name}={}", urlencode(value)));
            }
        }
        url
    }
}

/// The filters' choices, as (value, label), sorted by label.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterChoices {
    pub workflows: Vec<(String, String)>,
    pub agents: Vec<(String, String)>,
    pub models: Vec<(String, String)>,
}

impl FilterChoices {
    /// Every workflow, agent and model that made a call in the period.
    pub fn of(rows: &[TokenRow]) -> FilterChoices {
        let named = |id: &Option<String>, name: &Option<String>| {
            Some((id.clone()?, name.clone().unwrap_or_default()))
        };
        let mut choices = FilterChoices {
            workflows: rows
                .iter()
                .filter_map(|r| named(&r.workflow_id, &r.workflow_name))
                .collect(),
            agents: rows
                .iter()
                .filter_map(|r| named(&r.agent_id, &r.agent_name))
                .collect(),
            models: rows
                .iter()
                .filter_map(|r| named(&r.model, &r.model))
                .collect(),
        };
        for list in [
            &mut choices.workflows,
            &mut choices.agents,
            &mut choices.models,
        ] {
            // By label, then value: two workflows of one name stay apart, and
            // each one's repeats (one per agent × model row) sit together.
            list.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
            list.dedup();
        }
        choices
    }
}

/// Tokens and cost summed over rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenTotals {
    pub input: i64,
    pub output: i64,
    pub cached: i64,
    pub cost_micros: i64,
}

impl TokenTotals {
    pub fn of(rows: &[TokenRow]) -> TokenTotals {
        rows.iter()
            .fold(TokenTotals::default(), |sum, row| TokenTotals {
                input: sum.input + row.input_tokens,
                output: sum.output + row.output_tokens,
                cached: sum.cached + row.cached_tokens,
                cost_micros: sum.cost_micros + row.cost_micros,
            })
    }

    /// Input, output and cached tokens together.
    pub fn tokens(&self) -> i64 {
        self.input + self.output + self.cached
    }
}

/// What the token page shows.
pub struct TokensView {
    pub days: i64,
    pub query: TokensQuery,
    pub choices: FilterChoices,
    /// The rows the filters keep, by workflow × agent × model, largest cost first.
    pub rows: Vec<TokenRow>,
    /// The sums of `rows`.
    pub current: TokenTotals,
    /// The same sums, with the same filters, in the period just before: the
    /// cards compare like with like.
    pub previous: TokenTotals,
    pub advice: Vec<Suggestion>,
    pub defaults: Vec<ListedPrice>,
    pub overrides: Vec<ListedPrice>,
    /// The moment whose prices the breakdown uses (now).
    pub now: i64,
    /// Whether the viewer may set prices.
    pub may_edit: bool,
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<TokensQuery>,
) -> AppResult<Markup> {
    let (view, shell) = tokio::try_join!(
        load(&state.db, &principal, query),
        page(
            &state,
            &principal,
            Shell::new("Token usage", "/analytics/tokens").component(TOKENS),
        ),
    )?;
    Ok(shell.render(render(&view)))
}

/// Loads the view: the period's rows, the filtered rows of the period before,
/// the executions' totals (for the failures' cost) and the team's prices, at
/// the same time.
async fn load(db: &Db, principal: &Principal, query: TokensQuery) -> AppResult<TokensView> {
    let days = parse_days(query.days, 30)?;
    let period = Period::last_days(days);
    let team = principal.team_id.as_str();
    // One query for the rows: the unfiltered ones feed the filter choices and
    // the suggestions; the filtered ones are a subset of them (the filter's
    // columns are the rows' keys). The coarser views fold the fine rows.
    // The period before needs only its sums: the narrowest grouping, filtered
    // by the database.
    // The source is the query's to apply: every row of the chosen source.
    let filter = query.filter()?;
    let every_row = TokenFilter {
        source: filter.source,
        ..TokenFilter::default()
    };
    let (all_rows, previous_rows, executions, overrides) = tokio::try_join!(
        super::token_rows(db, team, period, Grouping::WorkflowAgentModel, &every_row),
        super::token_rows(db, team, period.previous(), Grouping::Model, &filter),
        super::totals(db, team, period, Bucket::Day),
        crate::prices::overrides(db, team),
    )?;
    let rows: Vec<TokenRow> = all_rows
        .iter()
        .filter(|row| filter.keeps(row))
        .cloned()
        .collect();
    let advice = suggestions(
        &super::regroup(&all_rows, Grouping::AgentModel),
        executions.failed_cost_micros,
        executions.failed,
        days,
    );
    Ok(TokensView {
        days,
        query,
        choices: FilterChoices::of(&all_rows),
        current: TokenTotals::of(&rows),
        previous: TokenTotals::of(&previous_rows),
        rows,
        advice,
        defaults: crate::prices::defaults(),
        overrides,
        now: now_ms(),
        may_edit: principal.can(Permission::ManageKeys),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(workflow: (&str, &str), agent: &str, input: i64, cost_micros: i64) -> TokenRow {
        TokenRow {
            workflow_id: Some(workflow.0.into()),
            workflow_name: Some(workflow.1.into()),
            agent_id: Some(agent.into()),
            agent_name: None,
            model: Some("gpt-4o".into()),
            calls: 1,
            input_tokens: input,
            output_tokens: 2,
            cached_tokens: 1,
            total_tokens: input + 3,
            cost_micros,
        }
    }

    #[test]
    fn each_choice_is_offered_once_even_when_two_share_a_name() {
        let rows = [
            row(("wf-1", "Digest"), "a", 10, 5),
            row(("wf-2", "Digest"), "a", 10, 5),
            row(("wf-1", "Digest"), "b", 10, 5),
            row(("wf-0", "Alerts"), "b", 10, 5),
        ];
        let choices = FilterChoices::of(&rows);
        let workflows: Vec<&str> = choices.workflows.iter().map(|w| w.0.as_str()).collect();
        assert_eq!(workflows, ["wf-0", "wf-1", "wf-2"]);
        // An agent without a name is offered by id, under an empty label.
        assert_eq!(
            choices.agents,
            [("a".into(), String::new()), ("b".into(), String::new())]
        );
        assert_eq!(choices.models, [("gpt-4o".into(), "gpt-4o".into())]);
    }

    #[test]
    fn token_totals_add_up_rows() {
        let sums = TokenTotals::of(&[row(("w", "W"), "a", 10, 5), row(("w", "W"), "b", 20, 7)]);
        assert_eq!(
            sums,
            TokenTotals {
                input: 30,
                output: 4,
                cached: 2,
                cost_micros: 12
            }
        );
        assert_eq!(sums.tokens(), 36);
    }

    #[test]
    fn another_range_keeps_the_filters_encoded() {
        let query = TokensQuery {
            days: Some(7),
            workflow: Some(String::new()),
            agent: None,
            model: Some("gpt-4o & co".into()),
            source: Some("otlp".into()),
        };
        assert_eq!(
            query.with_days(30),
            "?days=30&model=gpt-4o+%26+co&source=otlp"
        );
        assert_eq!(
            query.filter().expect("a valid filter").workflow_id,
            None,
            "an empty choice is no filter"
        );
    }
}
