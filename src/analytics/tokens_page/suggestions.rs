//! Savings the token data points to, each with its estimate and how it was
//! made: a cheaper model of the same provider for agents that answer briefly,
//! fixing what makes executions fail, and letting a long repeated prompt
//! prefix be served from the provider's cache.

use crate::analytics::TokenRow;

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
/// executions that failed, largest saving first. `days` scales the savings to
/// 30 days.
pub fn suggestions(
    rows: &[TokenRow],
    failed_cost_micros: i64,
    failed: i64,
    days: i64,
) -> Vec<Suggestion> {
    let mut found: Vec<Suggestion> = rows
        .iter()
        .filter_map(|row| cheaper_model(row, days))
        .collect();
    found.extend(fewer_failures(failed_cost_micros, failed, days));
    found.extend(rows.iter().filter_map(|row| prompt_cache(row, days)));
    // Stable: equal savings keep the order above.
    found.sort_by_key(|tip| std::cmp::Reverse(tip.monthly_saving_micros));
    found
}

/// A saving over the period, scaled to 30 days.
fn per_month(micros: f64, days: i64) -> i64 {
    (micros * 30.0 / days as f64).round() as i64
}

fn agent_of(row: &TokenRow) -> String {
    row.agent_name
        .clone()
        .or(row.agent_id.clone())
        .unwrap_or_default()
}

/// The same provider's cheaper model, for an agent whose answers are short.
fn cheaper_model(row: &TokenRow, days: i64) -> Option<Suggestion> {
    let (model, calls) = (row.model.as_deref()?, row.calls);
    if calls == 0 {
        return None;
    }
    let average_output = row.output_tokens as f64 / calls as f64;
    let cheaper = cheaper_sibling(model)?;
    let now_price = crate::prices::default_price(model)?;
    let cheaper_price = crate::prices::default_price(cheaper)?;
    if average_output >= SHORT_OUTPUT {
        return None;
    }
    let usage = crate::providers::Usage {
        input: row.input_tokens,
        output: row.output_tokens,
        cached: row.cached_tokens,
    };
    let saving = crate::prices::cost_micros(usage, now_price)
        - crate::prices::cost_micros(usage, cheaper_price);
    if saving <= 0 {
        return None;
    }
    let agent = agent_of(row);
    Some(Suggestion {
        title: format!("Try {cheaper} for {agent}"),
        detail: format!(
            "{agent} answers in {average_output:.0} output tokens on average with {model}; short answers like these \
             are often as good from {cheaper}, the same provider's cheaper model."
        ),
        monthly_saving_micros: per_month(saving as f64, days),
        method: format!(
            "The period's {calls} calls priced at {cheaper}'s list price instead of {model}'s, scaled to 30 days."
        ),
    })
}

/// What the failed executions spent and delivered nothing for.
fn fewer_failures(failed_cost_micros: i64, failed: i64, days: i64) -> Option<Suggestion> {
    (failed_cost_micros > 0).then(|| Suggestion {
        title: "Fix what makes executions fail".into(),
        detail: format!(
            "{failed} executions failed after spending tokens on their earlier steps; the error log groups their causes."
        ),
        monthly_saving_micros: per_month(failed_cost_micros as f64, days),
        method: "The cost of the period's failed executions, scaled to 30 days: what they spent and delivered nothing."
            .into(),
    })
}

/// A long prompt that is hardly ever served from the provider's cache.
fn prompt_cache(row: &TokenRow, days: i64) -> Option<Suggestion> {
    let (model, calls) = (row.model.as_deref()?, row.calls);
    let price = crate::prices::default_price(model)?;
    let input_per_call = if calls > 0 {
        row.input_tokens as f64 / calls as f64
    } else {
        0.0
    };
    let cached_share =
        row.cached_tokens as f64 / (row.input_tokens + row.cached_tokens).max(1) as f64;
    // Providers cache prompt prefixes of 1,024 tokens or more.
    if input_per_call < 1024.0 || cached_share >= 0.1 {
        return None;
    }
    let half = row.input_tokens / 2;
    let saving = (i128::from(half)
        * i128::from(price.input_micros_per_mtok - price.cached_micros_per_mtok)
        / 1_000_000) as i64;
    if saving <= 0 {
        return None;
    }
    let agent = agent_of(row);
    Some(Suggestion {
        title: format!("Let {agent}'s repeated prompt prefix be cached"),
        detail: format!(
            "{agent} sends {input_per_call:.0} input tokens per call and only {:.0} % come from the provider's cache. \
             Putting the unchanging part (instructions, examples) first lets the provider serve it from cache.",
            cached_share * 100.0
        ),
        monthly_saving_micros: per_month(saving as f64, days),
        method: format!(
            "If half of the period's input tokens were served from cache: that half priced at {model}'s cached \
             rate instead of its input rate, scaled to 30 days."
        ),
    })
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
