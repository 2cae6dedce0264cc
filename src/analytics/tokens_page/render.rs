//! The token page's markup for a [`TokensView`]: no queries, so a test can
//! render any view.

use maud::{Markup, html};

use super::prices::{breakdown_table, price_form, price_table};
use super::{FilterChoices, TokensQuery, TokensView};
use crate::analytics::page::{RANGES, change};
use crate::analytics::{Grouping, TokenRow, regroup};
use crate::web::charts::{self, Point};
use crate::web::format::{metric_card, usd_cents};

/// Token counts for cards and axes, in the one compact form of every page.
fn tokens(value: f64) -> String {
    crate::web::format::compact(value)
}

fn share(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "—".into();
    }
    format!("{:.0} % of all tokens", part as f64 * 100.0 / whole as f64)
}

/// The page body.
pub fn render(view: &TokensView) -> Markup {
    let TokensView {
        days,
        query,
        current,
        previous,
        ..
    } = view;
    let days = *days;
    let all = current.tokens();
    let by_model = regroup(&view.rows, Grouping::Model);
    let csv = format!("/api/analytics/tokens.csv{}", query.with_days(days));
    html! {
        header.page-header {
            h1 { "Token usage" }
            p.lede { "Tokens and cost over the last " (days) " days, from every provider call. "
                a href=(csv) download { "Download this view as CSV" } }
            nav.range aria-label="Period" {
                @for range in RANGES {
                    a.button.button-small href={"/analytics/tokens" (query.with_days(range))} aria-current=[(range == days).then_some("page")] { (range) " days" }
                }
            }
            (filters(&view.choices, query, days))
        }
        div.cards {
            (metric_card("tok-total", "Tokens", tokens(all as f64), change(all as f64, previous.tokens() as f64)))
            (metric_card("tok-input", "Input", tokens(current.input as f64), share(current.input, all)))
            (metric_card("tok-output", "Output", tokens(current.output as f64), share(current.output, all)))
            (metric_card("tok-cached", "Cached input", tokens(current.cached as f64), share(current.cached, all)))
            (metric_card("tok-cost", "Cost", usd_cents(current.cost_micros), change(current.cost_micros as f64, previous.cost_micros as f64)))
        }
        div.chart-grid {
            (charts::donut_chart("chart-models", "Tokens by model", "Input, output and cached tokens per model in the period.", &model_points(&by_model), tokens))
            (charts::bar_chart("chart-agent-tokens", "Tokens by agent", "Tokens per agent in the period, largest first.", &agent_points(&view.rows), tokens))
        }
        section.panel aria-labelledby="savings-title" {
            h2 #savings-title { "Optimization suggestions" }
            @if view.advice.is_empty() {
                p.empty { "Nothing to suggest for this period." }
            } @else {
                ul.suggestions {
                    @for tip in &view.advice {
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
            (workflow_table(&view.rows))
        }
        section.panel aria-labelledby="prices-title" {
            h2 #prices-title { "Cost breakdown and prices" }
            p.hint { "Each call is priced when it is made, at the price in effect then. Built-in prices: "
                (crate::prices::DEFAULT_SOURCE) ". An admin's price applies from its date on; earlier calls keep their cost." }
            (breakdown_table(&by_model, &view.overrides, view.now))
            (price_table(&view.defaults, &view.overrides))
            @if view.may_edit { (price_form()) }
        }
    }
}

fn model_points(by_model: &[TokenRow]) -> Vec<Point> {
    by_model
        .iter()
        .map(|row| {
            Point::new(
                row.model.clone().unwrap_or_default(),
                row.total_tokens as f64,
            )
        })
        .collect()
}

/// Tokens per agent, largest first.
fn agent_points(rows: &[TokenRow]) -> Vec<Point> {
    let mut points: Vec<Point> = regroup(rows, Grouping::Agent)
        .iter()
        .map(|row| {
            let name = row.agent_name.clone().or(row.agent_id.clone());
            Point::new(name.unwrap_or_default(), row.total_tokens as f64)
        })
        .collect();
    points.sort_by(|a, b| b.value.total_cmp(&a.value));
    points
}

fn filters(choices: &FilterChoices, query: &TokensQuery, days: i64) -> Markup {
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
            (select("workflow", "Workflow", &choices.workflows, &query.workflow))
            (select("agent", "Agent", &choices.agents, &query.agent))
            (select("model", "Model", &choices.models, &query.model))
            (select("source", "Source", &sources(), &query.source))
            button.button.button-small type="submit" { "Apply" }
        }
    }
}

/// The source filter's choices: HUMMBL's runs, or your services' OTLP traces.
fn sources() -> Vec<(String, String)> {
    crate::executions::Source::ALL
        .iter()
        .map(|source| (source.as_str().to_string(), source.label().to_string()))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::super::{Suggestion, TokenTotals};
    use super::*;

    fn row(workflow: &str, agent: &str, model: &str, input: i64, output: i64) -> TokenRow {
        TokenRow {
            workflow_id: Some(format!("wf-{workflow}")),
            workflow_name: Some(workflow.into()),
            agent_id: Some(format!("ag-{agent}")),
            agent_name: Some(agent.into()),
            model: Some(model.into()),
            calls: 3,
            input_tokens: input,
            output_tokens: output,
            cached_tokens: 0,
            total_tokens: input + output,
            cost_micros: 1_250_000,
        }
    }

    fn view(may_edit: bool) -> TokensView {
        let rows = vec![
            row("<Triage & Co>", "Writer", "gpt-4o-mini", 6_000, 2_000),
            row("Digest", "Checker", "gpt-4o", 1_500, 500),
        ];
        TokensView {
            days: 7,
            query: TokensQuery {
                days: Some(7),
                agent: Some("ag a".into()),
                ..TokensQuery::default()
            },
            choices: FilterChoices::of(&rows),
            current: TokenTotals::of(&rows),
            rows,
            previous: TokenTotals {
                input: 5_000,
                output: 0,
                cached: 0,
                cost_micros: 10_000_000,
            },
            advice: vec![Suggestion {
                title: "Try <b>less</b>".into(),
                detail: "detail".into(),
                monthly_saving_micros: 3_290_000,
                method: "method".into(),
            }],
            defaults: crate::prices::defaults(),
            overrides: Vec::new(),
            now: 1_767_225_600_000,
            may_edit,
        }
    }

    use crate::web::testing::card;

    #[test]
    fn a_view_renders_its_sums_rows_and_links_escaped() {
        let html = render(&view(true)).into_string();
        // 10,000 tokens: 7,500 input (75 %) and 2,500 output.
        assert!(card(&html, "tok-total").contains(">10.0 k<"));
        // Against 5,000 tokens and $10 with the same filters the period before.
        assert!(card(&html, "tok-total").contains("+100 %"));
        assert!(card(&html, "tok-cost").contains("−75 %"));
        assert!(card(&html, "tok-input").contains(">7,500<"));
        assert!(card(&html, "tok-input").contains("75 % of all tokens"));
        assert!(card(&html, "tok-cost").contains(">$2.50<"));
        assert!(html.contains("&lt;Triage &amp; Co&gt;") && !html.contains("<Triage"));
        assert!(html.contains("Try &lt;b&gt;less&lt;/b&gt;"));
        assert!(html.contains("<strong>$3.29</strong> a month"));
        // The CSV link and the range links keep the filter, encoded.
        assert!(html.contains(r#"href="/api/analytics/tokens.csv?days=7&amp;agent=ag+a""#));
        assert!(html.contains(r#"href="/analytics/tokens?days=30&amp;agent=ag+a""#));
        assert!(html.contains(r#"<option value="wf-Digest">Digest</option>"#));
        assert_eq!(html.matches("role=\"img\"").count(), 2, "two charts");
        assert!(html.contains("Save price"), "admins get the price form");
    }

    #[test]
    fn viewers_get_no_price_form_and_an_empty_period_says_so() {
        let html = render(&view(false)).into_string();
        assert!(!html.contains("Save price"));
        let empty = TokensView {
            rows: Vec::new(),
            choices: FilterChoices::default(),
            current: TokenTotals::default(),
            advice: Vec::new(),
            ..view(false)
        };
        let html = render(&empty).into_string();
        assert!(html.contains("No provider calls in this period."));
        assert!(html.contains("Nothing to suggest for this period."));
        assert!(card(&html, "tok-input").contains(">—<"));
        assert!(
            card(&html, "tok-total").contains("−100 %"),
            "all gone since the period before"
        );
    }
}
