//! `/analytics/tokens` (component `token-usage`): where the tokens and the money
//! go, by model, agent and workflow; the input/output/cached split; the price
//! table (admins add a price from a date on); suggestions that would save money,
//! each with its estimate and method; and the CSV of what the page shows.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::handlers::{TOKENS, parse_days};
use super::page::{RANGES, change};
use super::rollups::Bucket;
use super::{Grouping, Period, TokenFilter, TokenRow, dollars};
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::{AppError, AppResult};
use crate::prices::PriceRequest;
use crate::prices::{ListedPrice, Price};
use crate::storage::now_ms;
use crate::web::charts::{self, Point};
use crate::web::format::{metric_card, urlencode, usd_cents};
use crate::web::{Shell, page};

/// The view's range and filters: the page's query string, and the CSV's.
#[derive(Deserialize, Default, utoipa::IntoParams)]
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
}

impl TokensQuery {
    pub fn filter(&self) -> TokenFilter {
        let keep = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
        TokenFilter {
            workflow_id: keep(&self.workflow),
            agent_id: keep(&self.agent),
            model: keep(&self.model),
        }
    }

    /// The query string of this view with another range.
    fn with_days(&self, days: i64) -> String {
        let mut url = format!("?days={days}");
        for (name, value) in [
            ("workflow", &self.workflow),
            ("agent", &self.agent),
            ("model", &self.model),
        ] {
            if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
                url.push_str(&format!("&{name}={}", urlencode(value)));
            }
        }
        url
    }
}

fn tokens(value: f64) -> String {
    let n = value.round() as i64;
    if n.abs() >= 10_000_000 {
        format!("{:.1} M", n as f64 / 1e6)
    } else if n.abs() >= 10_000 {
        format!("{:.0} k", n as f64 / 1e3)
    } else {
        n.to_string()
    }
}

/// A saving the data points to, with how it was estimated.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub title: String,
    pub detail: String,
    /// Estimated saving per 30 days, in micro-dollars.
    pub monthly_saving_micros: i64,
    pub method: String,
}

/// For a model, the cheaper one of the same provider that handles short answers.
fn cheaper_sibling(model: &str) -> Option<&'static str> {
    const SIBLINGS: &[(&str, &str)] = &[
        ("gpt-4o-mini", ""),
        ("gpt-4o", "gpt-4o-mini"),
        ("gpt-4.1-mini", "gpt-4.1-nano"),
        ("gpt-4.1-nano", ""),
        ("gpt-4.1", "gpt-4.1-mini"),
        ("o3-mini", ""),
        ("o3", "o4-mini"),
        ("claude-opus-4", "claude-sonnet-4"),
        ("claude-sonnet-4", "claude-3-5-haiku"),
        ("claude-3-7-sonnet", "claude-3-5-haiku"),
        ("claude-3-5-sonnet", "claude-3-5-haiku"),
    ];
    SIBLINGS
        .iter()
        .filter(|(family, _)| model.starts_with(family))
        .max_by_key(|(family, _)| family.len())
        .map(|(_, cheaper)| *cheaper)
        .filter(|cheaper| !cheaper.is_empty())
}

/// Short answers: below this many output tokens per call on average.
const SHORT_OUTPUT: f64 = 300.0;

/// Suggestions from the period's rows (agent × model grouping) and the cost of
/// executions that failed. `days` scales the savings to 30 days.
pub fn suggestions(
    rows: &[TokenRow],
    failed_cost_micros: i64,
    failed: i64,
    days: i64,
) -> Vec<Suggestion> {
    let per_month = |micros: f64| (micros * 30.0 / days as f64).round() as i64;
    let mut found = Vec::new();
    for row in rows {
        let (Some(model), calls) = (row.model.as_deref(), row.calls) else {
            continue;
        };
        if calls == 0 {
            continue;
        }
        let average_output = row.output_tokens as f64 / calls as f64;
        let (Some(cheaper), Some(now_price)) =
            (cheaper_sibling(model), crate::prices::default_price(model))
        else {
            continue;
        };
        let Some(cheaper_price) = crate::prices::default_price(cheaper) else {
            continue;
        };
        if average_output >= SHORT_OUTPUT {
            continue;
        }
        let usage = crate::providers::Usage {
            input: row.input_tokens,
            output: row.output_tokens,
            cached: row.cached_tokens,
        };
        let saving = crate::prices::cost_micros(usage, now_price)
            - crate::prices::cost_micros(usage, cheaper_price);
        if saving <= 0 {
            continue;
        }
        let agent = row
            .agent_name
            .clone()
            .or(row.agent_id.clone())
            .unwrap_or_default();
        found.push(Suggestion {
            title: format!("Try {cheaper} for {agent}"),
            detail: format!(
                "{agent} answers in {average_output:.0} output tokens on average with {model}; short answers like these \
                 are often as good from {cheaper}, the same provider's cheaper model."
            ),
            monthly_saving_micros: per_month(saving as f64),
            method: format!(
                "The period's {} calls priced at {cheaper}'s list price instead of {model}'s, scaled to 30 days.",
                calls
            ),
        });
    }
    if failed_cost_micros > 0 {
        found.push(Suggestion {
            title: "Fix what makes executions fail".into(),
            detail: format!(
                "{failed} executions failed after spending tokens on their earlier steps; the error log groups their causes."
            ),
            monthly_saving_micros: per_month(failed_cost_micros as f64),
            method: "The cost of the period's failed executions, scaled to 30 days: what they spent and delivered nothing."
                .into(),
        });
    }
    for row in rows {
        let (Some(model), calls) = (row.model.as_deref(), row.calls) else {
            continue;
        };
        let Some(price) = crate::prices::default_price(model) else {
            continue;
        };
        let input_per_call = if calls > 0 {
            row.input_tokens as f64 / calls as f64
        } else {
            0.0
        };
        let cached_share =
            row.cached_tokens as f64 / (row.input_tokens + row.cached_tokens).max(1) as f64;
        // Providers cache prompt prefixes of 1,024 tokens or more.
        if input_per_call < 1024.0 || cached_share >= 0.1 {
            continue;
        }
        let half = row.input_tokens / 2;
        let saving = (i128::from(half)
            * i128::from(price.input_micros_per_mtok - price.cached_micros_per_mtok)
            / 1_000_000) as i64;
        if saving <= 0 {
            continue;
        }
        let agent = row
            .agent_name
            .clone()
            .or(row.agent_id.clone())
            .unwrap_or_default();
        found.push(Suggestion {
            title: format!("Let {agent}'s repeated prompt prefix be cached"),
            detail: format!(
                "{agent} sends {input_per_call:.0} input tokens per call and only {:.0} % come from the provider's cache. \
                 Putting the unchanging part (instructions, examples) first lets the provider serve it from cache.",
                cached_share * 100.0
            ),
            monthly_saving_micros: per_month(saving as f64),
            method: format!(
                "If half of the period's input tokens were served from cache: that half priced at {model}'s cached \
                 rate instead of its input rate, scaled to 30 days."
            ),
        });
    }
    found.sort_by_key(|tip| std::cmp::Reverse(tip.monthly_saving_micros));
    found
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<TokensQuery>,
) -> AppResult<Markup> {
    let days = parse_days(query.days, 30)?;
    let period = Period::last_days(days);
    let team = principal.team_id.as_str();
    let filter = query.filter();
    // One query: the unfiltered rows feed the filter choices and the
    // suggestions; the filtered ones are a subset of them (the filter's
    // columns are the rows' keys). The coarser views fold the fine rows.
    let all_rows = super::token_rows(
        &state.db,
        team,
        period,
        Grouping::WorkflowAgentModel,
        &TokenFilter::default(),
    )
    .await?;
    let rows: Vec<TokenRow> = all_rows
        .iter()
        .filter(|row| filter.keeps(row))
        .cloned()
        .collect();
    let by_model = super::regroup(&rows, Grouping::Model);
    let by_agent = super::regroup(&rows, Grouping::Agent);
    let totals = super::totals(&state.db, team, period, Bucket::Day).await?;
    let previous = super::totals(&state.db, team, period.previous(), Bucket::Day).await?;
    let advice = suggestions(
        &super::regroup(&all_rows, Grouping::AgentModel),
        totals.failed_cost_micros,
        totals.failed,
        days,
    );
    let (input, output, cached) = rows.iter().fold((0, 0, 0), |(i, o, c), row| {
        (
            i + row.input_tokens,
            o + row.output_tokens,
            c + row.cached_tokens,
        )
    });
    let cost: i64 = rows.iter().map(|row| row.cost_micros).sum();
    let overrides = crate::prices::overrides(&state.db, team).await?;
    let defaults = crate::prices::defaults();
    let may_edit = principal.can(Permission::ManageKeys);
    let model_points: Vec<Point> = by_model
        .iter()
        .map(|row| {
            Point::new(
                row.model.clone().unwrap_or_default(),
                row.total_tokens as f64,
            )
        })
        .collect();
    let agent_points: Vec<Point> = by_agent
        .iter()
        .map(|row| {
            Point::new(
                row.agent_name
                    .clone()
                    .or(row.agent_id.clone())
                    .unwrap_or_default(),
                row.total_tokens as f64,
            )
        })
        .collect();
    let mut agent_points = agent_points;
    agent_points.sort_by(|a, b| b.value.total_cmp(&a.value));
    let csv = format!("/api/analytics/tokens.csv{}", query.with_days(days));
    let shell = page(
        &state,
        &principal,
        Shell::new("Token usage", "/analytics/tokens").component(TOKENS),
    )
    .await?;
    Ok(shell.render(html! {
        header.page-header {
            h1 { "Token usage" }
            p.lede { "Tokens and cost over the last " (days) " days, from every provider call. "
                a href=(csv) download { "Download this view as CSV" } }
            nav.range aria-label="Period" {
                @for range in RANGES {
                    a.button.button-small href={"/analytics/tokens" (query.with_days(range))} aria-current=[(range == days).then_some("page")] { (range) " days" }
                }
            }
            (filters(&all_rows, &query, days))
        }
        div.cards {
            (metric_card("tok-total", "Tokens", tokens((input + output + cached) as f64), change(totals.tokens as f64, previous.tokens as f64)))
            (metric_card("tok-input", "Input", tokens(input as f64), share(input, input + output + cached)))
            (metric_card("tok-output", "Output", tokens(output as f64), share(output, input + output + cached)))
            (metric_card("tok-cached", "Cached input", tokens(cached as f64), share(cached, input + output + cached)))
            (metric_card("tok-cost", "Cost", usd_cents(cost), change(totals.cost_micros as f64, previous.cost_micros as f64)))
        }
        div.chart-grid {
            (charts::donut_chart("chart-models", "Tokens by model", "Input, output and cached tokens per model in the period.", &model_points, tokens))
            (charts::bar_chart("chart-agent-tokens", "Tokens by agent", "Tokens per agent in the period, largest first.", &agent_points, tokens))
        }
        section.panel aria-labelledby="savings-title" {
            h2 #savings-title { "Optimization suggestions" }
            @if advice.is_empty() {
                p.empty { "Nothing to suggest for this period." }
            } @else {
                ul.suggestions {
                    @for tip in &advice {
                        li {
                            strong { (tip.title) } " — saves about " strong { (usd_cents(tip.monthly_saving_micros)) } " a month"
                            p { (tip.detail) }
                            p.hint.method { "Estimate: " (tip.method) }
                        }
                    }
                }
            }
        }
        section.panel aria-labelledby="workflows-title" {
            h2 #workflows-title { "By workflow" }
            (workflow_table(&rows))
        }
        section.panel aria-labelledby="prices-title" {
            h2 #prices-title { "Cost breakdown and prices" }
            p.hint { "Each call is priced when it is made, at the price in effect then. Built-in prices: "
                (crate::prices::DEFAULT_SOURCE) ". An admin's price applies from its date on; earlier calls keep their cost." }
            (breakdown_table(&by_model, &overrides))
            (price_table(&defaults, &overrides))
            @if may_edit { (price_form()) }
        }
    }))
}

fn share(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "—".into();
    }
    format!("{:.0} % of all tokens", part as f64 * 100.0 / whole as f64)
}

fn filters(rows: &[TokenRow], query: &TokensQuery, days: i64) -> Markup {
    let mut workflows: Vec<(String, String)> = rows
        .iter()
        .filter_map(|r| {
            Some((
                r.workflow_id.clone()?,
                r.workflow_name.clone().unwrap_or_default(),
            ))
        })
        .collect();
    let mut agents: Vec<(String, String)> = rows
        .iter()
        .filter_map(|r| {
            Some((
                r.agent_id.clone()?,
                r.agent_name.clone().unwrap_or_default(),
            ))
        })
        .collect();
    let mut models: Vec<(String, String)> = rows
        .iter()
        .filter_map(|r| Some((r.model.clone()?, r.model.clone()?)))
        .collect();
    for list in [&mut workflows, &mut agents, &mut models] {
        list.sort_by(|a, b| a.1.cmp(&b.1));
        list.dedup();
    }
    let select =
        |name: &str, label: &str, options: &[(String, String)], chosen: &Option<String>| {
            html! {
                label for={"filter-" (name)} { (label) }
                select id={"filter-" (name)} name=(name) {
                    option value="" { "All" }
                    @for (value, text) in options {
                        option value=(value) selected[chosen.as_deref() == Some(value)] { (text) }
                    }
                }
            }
        };
    html! {
        form.filters method="get" action="/analytics/tokens" {
            input type="hidden" name="days" value=(days);
            (select("workflow", "Workflow", &workflows, &query.workflow))
            (select("agent", "Agent", &agents, &query.agent))
            (select("model", "Model", &models, &query.model))
            button.button.button-small type="submit" { "Apply" }
        }
    }
}

fn workflow_table(rows: &[TokenRow]) -> Markup {
    html! {
        @if rows.is_empty() {
            p.empty { "No provider calls in this period." }
        } @else {
            table.data {
                caption.visually-hidden { "Tokens by workflow, agent and model" }
                thead { tr {
                    th scope="col" { "Workflow" } th scope="col" { "Agent" } th scope="col" { "Model" }
                    th.number scope="col" { "Calls" } th.number scope="col" { "Input" } th.number scope="col" { "Output" }
                    th.number scope="col" { "Cached" } th.number scope="col" { "Cost" }
                } }
                tbody {
                    @for row in rows {
                        tr {
                            td { (row.workflow_name.as_deref().unwrap_or("—")) }
                            td { (row.agent_name.as_deref().unwrap_or("—")) }
                            td { code { (row.model.as_deref().unwrap_or("—")) } }
                            td.number { (row.calls) }
                            td.number { (row.input_tokens) }
                            td.number { (row.output_tokens) }
                            td.number { (row.cached_tokens) }
                            td.number { (usd_cents(row.cost_micros)) }
                        }
                    }
                }
            }
        }
    }
}

/// The price a model has now: the team's latest override in effect, else the default.
fn current_price(model: &str, overrides: &[ListedPrice]) -> Option<Price> {
    let now = now_ms();
    overrides
        .iter()
        .filter(|o| o.model == model && o.effective_from.is_some_and(|from| from <= now))
        .max_by_key(|o| o.effective_from)
        .map(|o| o.price)
        .or_else(|| crate::prices::default_price(model))
}

fn breakdown_table(by_model: &[TokenRow], overrides: &[ListedPrice]) -> Markup {
    html! {
        table.data {
            caption { "Cost by model: tokens × the price per million in effect now" }
            thead { tr {
                th scope="col" { "Model" } th.number scope="col" { "Input cost" } th.number scope="col" { "Output cost" }
                th.number scope="col" { "Cached cost" } th.number scope="col" { "Recorded cost" }
            } }
            tbody {
                @for row in by_model {
                    @let model = row.model.clone().unwrap_or_default();
                    @let price = current_price(&model, overrides);
                    @let part = |tokens: i64, per_mtok: fn(&Price) -> i64| price.map(|p| usd_cents((i128::from(tokens) * i128::from(per_mtok(&p)) / 1_000_000) as i64)).unwrap_or_else(|| "no price".into());
                    tr {
                        td { code { (model) } }
                        td.number { (part(row.input_tokens, |p| p.input_micros_per_mtok)) }
                        td.number { (part(row.output_tokens, |p| p.output_micros_per_mtok)) }
                        td.number { (part(row.cached_tokens, |p| p.cached_micros_per_mtok)) }
                        td.number { (usd_cents(row.cost_micros)) }
                    }
                }
            }
        }
    }
}

fn per_million(micros: i64) -> String {
    format!(
        "${}",
        dollars(micros).trim_end_matches('0').trim_end_matches('.')
    )
}

fn price_table(defaults: &[ListedPrice], overrides: &[ListedPrice]) -> Markup {
    html! {
        table.data {
            caption { "Prices per million tokens" }
            thead { tr {
                th scope="col" { "Model" } th.number scope="col" { "Input" } th.number scope="col" { "Output" }
                th.number scope="col" { "Cached input" } th scope="col" { "Applies" }
            } }
            tbody {
                @for price in overrides.iter().chain(defaults) {
                    tr {
                        td { code { (price.model) } " " span.muted { (price.provider) } }
                        td.number { (per_million(price.price.input_micros_per_mtok)) }
                        td.number { (per_million(price.price.output_micros_per_mtok)) }
                        td.number { (per_million(price.price.cached_micros_per_mtok)) }
                        td {
                            @match price.effective_from {
                                Some(from) => { "from " (crate::web::layout::when(Some(from))) " on (" (price.source) ")" }
                                None => { "built-in default" }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn price_form() -> Markup {
    html! {
        form.price-form method="post" action="/analytics/tokens/prices" {
            h3 { "Set a price" }
            div.field { label for="price-provider" { "Provider" }
                select #price-provider name="provider" { option value="openai" { "openai" } option value="anthropic" { "anthropic" } option value="simulated" { "simulated" } } }
            div.field { label for="price-model" { "Model" } input #price-model name="model" required maxlength="200" placeholder="gpt-4o-mini"; }
            div.field { label for="price-input" { "Input, $ per million" } input #price-input name="input" required inputmode="decimal" placeholder="0.15"; }
            div.field { label for="price-output" { "Output, $ per million" } input #price-output name="output" required inputmode="decimal" placeholder="0.60"; }
            div.field { label for="price-cached" { "Cached input, $ per million" } input #price-cached name="cached" required inputmode="decimal" placeholder="0.075"; }
            div.field { label for="price-from" { "Applies from (UTC date; empty: now)" } input #price-from name="from" type="date"; }
            button.button.button-primary type="submit" { "Save price" }
        }
    }
}

#[derive(Deserialize)]
pub struct PriceForm {
    pub provider: String,
    pub model: String,
    pub input: String,
    pub output: String,
    pub cached: String,
    #[serde(default)]
    pub from: String,
}

/// Dollars as typed ("0.15", "2", "$1.25") to micro-dollars, exactly.
pub fn parse_dollars(field: &str, text: &str) -> Result<i64, AppError> {
    let invalid = || AppError::validation(field, "must be an amount in dollars, e.g. 0.15");
    let text = text.trim().trim_start_matches('$');
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.len() > 6 {
        return Err(invalid());
    }
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return Err(invalid());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| invalid())?
    };
    let fraction: i64 = format!("{fraction:0<6}").parse().map_err(|_| invalid())?;
    whole
        .checked_mul(1_000_000)
        .and_then(|w| w.checked_add(fraction))
        .ok_or_else(invalid)
}

/// The form on the page: saves the price and redirects back to the page.
pub async fn set_price(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<PriceForm>,
) -> AppResult<Response> {
    let effective_from = match form.from.trim() {
        "" => None,
        date => Some(crate::web::format::date_ms("from", date)?),
    };
    let request = PriceRequest {
        provider: form.provider,
        model: form.model,
        input_micros_per_mtok: parse_dollars("input", &form.input)?,
        output_micros_per_mtok: parse_dollars("output", &form.output)?,
        cached_micros_per_mtok: parse_dollars("cached", &form.cached)?,
        effective_from,
        note: None,
    };
    crate::prices::save_override(&state.db, (&principal).into(), request).await?;
    Ok(Redirect::to("/analytics/tokens").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(agent: &str, model: &str, calls: i64, input: i64, output: i64, cached: i64) -> TokenRow {
        TokenRow {
            workflow_id: None,
            workflow_name: None,
            agent_id: Some(agent.into()),
            agent_name: Some(agent.into()),
            model: Some(model.into()),
            calls,
            input_tokens: input,
            output_tokens: output,
            cached_tokens: cached,
            total_tokens: input + output + cached,
            cost_micros: 0,
        }
    }

    #[test]
    fn dollars_are_parsed_exactly() {
        assert_eq!(parse_dollars("x", "0.15").ok(), Some(150_000));
        assert_eq!(parse_dollars("x", "$2").ok(), Some(2_000_000));
        assert_eq!(parse_dollars("x", ".075").ok(), Some(75_000));
        assert!(parse_dollars("x", "1.0000001").is_err());
        assert!(parse_dollars("x", "-1").is_err());
        assert!(parse_dollars("x", "abc").is_err());
        assert!(parse_dollars("x", "").is_err());
    }

    #[test]
    fn short_answers_from_an_expensive_model_suggest_its_cheaper_sibling() {
        // 1,000 calls of gpt-4o with 50 output tokens each, over 15 days.
        let rows = [row("Classifier", "gpt-4o", 1000, 500_000, 50_000, 0)];
        let tips = suggestions(&rows, 0, 0, 15);
        let tip = tips
            .iter()
            .find(|t| t.title.contains("gpt-4o-mini"))
            .expect("model suggestion");
        // gpt-4o: 0.5M × $2.50 + 0.05M × $10 = $1.75; gpt-4o-mini: $0.075 + $0.03 = $0.105;
        // saving $1.645 over 15 days → $3.29 a month.
        assert_eq!(tip.monthly_saving_micros, 3_290_000);
        // Long answers are not a reason to switch.
        let long = [row("Writer", "gpt-4o", 10, 5_000, 9_000, 0)];
        assert!(
            suggestions(&long, 0, 0, 30)
                .iter()
                .all(|t| !t.title.contains("gpt-4o-mini"))
        );
    }

    #[test]
    fn failed_executions_and_uncached_prompts_are_priced() {
        let tips = suggestions(&[], 2_000_000, 4, 30);
        assert_eq!(tips.len(), 1);
        assert_eq!(tips[0].monthly_saving_micros, 2_000_000);
        // 100 calls × 2,000 input tokens, nothing cached: half of 200k at
        // ($0.15 − $0.075) per million = $0.0075.
        let rows = [row("Summarizer", "gpt-4o-mini", 100, 200_000, 30_000, 0)];
        let tips = suggestions(&rows, 0, 0, 30);
        let cache = tips
            .iter()
            .find(|t| t.title.contains("cached"))
            .expect("cache suggestion");
        assert_eq!(cache.monthly_saving_micros, 7_500);
    }
}
