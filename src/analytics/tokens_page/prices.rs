//! The token page's prices: the cost breakdown at the prices in effect now, the
//! price table (the team's overrides, then the built-in defaults), and the form
//! with which admins add a price from a date on.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::analytics::{TokenRow, dollars};
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::prices::{ListedPrice, Price, PriceRequest};
use crate::web::format::usd_cents;

/// The price a model has at `now`: the team's latest override in effect, else
/// the default.
pub fn current_price(model: &str, overrides: &[ListedPrice], now: i64) -> Option<Price> {
    overrides
        .iter()
        .filter(|o| o.model == model && o.effective_from.is_some_and(|from| from <= now))
        .max_by_key(|o| o.effective_from)
        .map(|o| o.price)
        .or_else(|| crate::prices::default_price(model))
}

/// Each model's tokens at the price per million in effect at `now`, beside the
/// cost recorded when the calls were made.
pub fn breakdown_table(by_model: &[TokenRow], overrides: &[ListedPrice], now: i64) -> Markup {
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
                    @let price = current_price(&model, overrides, now);
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

pub fn price_table(defaults: &[ListedPrice], overrides: &[ListedPrice]) -> Markup {
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

pub fn price_form() -> Markup {
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

    fn listed(model: &str, input: i64, effective_from: Option<i64>) -> ListedPrice {
        ListedPrice {
            provider: "openai".into(),
            model: model.into(),
            price: Price {
                input_micros_per_mtok: input,
                output_micros_per_mtok: 0,
                cached_micros_per_mtok: 0,
            },
            effective_from,
            source: "admin".into(),
        }
    }

    #[test]
    fn the_price_in_effect_is_the_latest_override_already_started() {
        let overrides = [
            listed("gpt-4o", 1, Some(100)),
            listed("gpt-4o", 2, Some(200)),
            listed("gpt-4o", 3, Some(300)),
        ];
        let input = |now| current_price("gpt-4o", &overrides, now).map(|p| p.input_micros_per_mtok);
        assert_eq!(input(250), Some(2));
        assert_eq!(input(300), Some(3));
        // Before any override: the built-in price ($2.50 per million).
        assert_eq!(input(50), Some(2_500_000));
        assert!(current_price("no-such-model", &overrides, 250).is_none());
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
}
