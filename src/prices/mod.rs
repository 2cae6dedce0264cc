//! Model prices: what a million input, output and cached-input tokens cost, in
//! micro-dollars, and the cost of a call from its token usage.
//!
//! The defaults below are list prices from the providers' public pricing pages
//! (https://openai.com/api/pricing and
//! https://platform.claude.com/docs/en/about-claude/pricing). The Anthropic rows
//! were checked against a copy of that page read in November 2026 (Opus 4.5
//! and later cost a third of Opus 4 and 4.1); the OpenAI rows are June 2025's,
//! and models newer than those (GPT-5 and later) have no default. Providers change
//! them, so admins can override any model per team with a date from which the
//! new price applies. Models match by the longest known prefix, so dated
//! snapshots (`gpt-4o-mini-2024-07-18`) find their family's price, which is why
//! each Opus generation needs its own row.

pub mod handlers;
mod store;

use serde::{Deserialize, Serialize};

use crate::audit::Actor;
use crate::error::AppError;
use crate::providers::ProviderKind;
use crate::storage::{Db, now_ms};

pub use store::{overrides, price_at};

/// Where the default prices come from, shown beside them.
pub const DEFAULT_SOURCE: &str = "list prices from openai.com/api/pricing (June 2025) and \
     platform.claude.com/docs/en/about-claude/pricing (November 2026)";

/// Micro-dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Price {
    pub input_micros_per_mtok: i64,
    pub output_micros_per_mtok: i64,
    pub cached_micros_per_mtok: i64,
}

struct DefaultPrice {
    provider: &'static str,
    model: &'static str,
    price: Price,
}

const fn usd(input: f64, output: f64, cached: f64) -> Price {
    Price {
        input_micros_per_mtok: (input * 1_000_000.0 + 0.5) as i64,
        output_micros_per_mtok: (output * 1_000_000.0 + 0.5) as i64,
        cached_micros_per_mtok: (cached * 1_000_000.0 + 0.5) as i64,
    }
}

/// Dollars per million tokens: input, output, cached input.
const DEFAULTS: &[DefaultPrice] = &[
    DefaultPrice {
        provider: "openai",
        model: "gpt-4o",
        price: usd(2.50, 10.00, 1.25),
    },
    DefaultPrice {
        provider: "openai",
        model: "gpt-4o-mini",
        price: usd(0.15, 0.60, 0.075),
    },
    DefaultPrice {
        provider: "openai",
        model: "gpt-4.1",
        price: usd(2.00, 8.00, 0.50),
    },
    DefaultPrice {
        provider: "openai",
        model: "gpt-4.1-mini",
        price: usd(0.40, 1.60, 0.10),
    },
    DefaultPrice {
        provider: "openai",
        model: "gpt-4.1-nano",
        price: usd(0.10, 0.40, 0.025),
    },
    DefaultPrice {
        provider: "openai",
        model: "o3",
        price: usd(2.00, 8.00, 0.50),
    },
    DefaultPrice {
        provider: "openai",
        model: "o3-mini",
        price: usd(1.10, 4.40, 0.55),
    },
    DefaultPrice {
        provider: "openai",
        model: "o4-mini",
        price: usd(1.10, 4.40, 0.275),
    },
    DefaultPrice {
        provider: "anthropic",
        model: "claude-opus-5",
        price: usd(5.00, 25.00, 0.50),
    },
    DefaultPrice {
        provider: "anthropic",
        model: "claude-opus-4-8",
        price: usd(5.00, 25.00, 0.50),
    },
    DefaultPrice {
        provider: "anthropic",
        model: "claude-opus-4-7",
        price: usd(5.00, 25.00, 0.50),
    },
    DefaultPrice {
        provider: "anthropic",
        model: "claude-opus-4-6",
        price: usd(5.00, 25.00, 0.50),
    },
    DefaultPrice {
        provider: "anthropic",
        model: "claude-opus-4-5",
        price: usd(5.00, 25.00, 0.50),
    },
    DefaultPrice {
        provider: "anthropic",
        model: "claude-opus-4",
        price: usd(15.00, 75.00, 1.50),
    },
    DefaultPrice {
        provider: "anthropic",
        model: "claude-sonnet-4",
        price: usd(3.00, 15.00, 0.30),
    },
    DefaultPrice {
        provider: "anthropic",
        model: "claude-3-7-sonnet",
        price: usd(3.00, 15.00, 0.30),
    },
    DefaultPrice {
        provider: "anthropic",
        model: "claude-3-5-sonnet",
        price: usd(3.00, 15.00, 0.30),
    },
    DefaultPrice {
        provider: "anthropic",
        model: "claude-3-5-haiku",
        price: usd(0.80, 4.00, 0.08),
    },
    DefaultPrice {
        provider: "anthropic",
        model: "claude-3-haiku",
        price: usd(0.25, 1.25, 0.03),
    },
];

/// A default price as listed by the API.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListedPrice {
    pub provider: String,
    pub model: String,
    #[serde(flatten)]
    pub price: Price,
    /// Milliseconds since the epoch; absent for the built-in defaults.
    pub effective_from: Option<i64>,
    pub source: String,
}

pub fn defaults() -> Vec<ListedPrice> {
    DEFAULTS
        .iter()
        .map(|entry| ListedPrice {
            provider: entry.provider.into(),
            model: entry.model.into(),
            price: entry.price,
            effective_from: None,
            source: DEFAULT_SOURCE.into(),
        })
        .collect()
}

/// The built-in price of a model (by the longest matching name prefix), whatever
/// provider serves it: a simulated or self-hosted `gpt-4o-mini` is priced as one.
pub fn default_price(model: &str) -> Option<Price> {
    DEFAULTS
        .iter()
        .filter(|entry| model.starts_with(entry.model))
        .max_by_key(|entry| entry.model.len())
        .map(|entry| entry.price)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceRequest {
    #[schema(value_type = crate::providers::ProviderKind)]
    pub provider: String,
    #[schema(value_type = crate::api::shapes::PriceModel)]
    pub model: String,
    /// Micro-dollars per million input tokens ($2.50 → 2500000), 0 to 1000000000.
    #[serde(deserialize_with = "crate::api::integer::required")]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub input_micros_per_mtok: i64,
    #[serde(deserialize_with = "crate::api::integer::required")]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub output_micros_per_mtok: i64,
    #[serde(deserialize_with = "crate::api::integer::required")]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub cached_micros_per_mtok: i64,
    /// From when the price applies (ms since the epoch); default now.
    #[serde(default, deserialize_with = "crate::api::integer::optional")]
    #[schema(minimum = 0)]
    pub effective_from: Option<i64>,
    #[schema(value_type = Option<crate::api::shapes::PriceNote>)]
    pub note: Option<String>,
}

const MAX_MICROS_PER_MTOK: i64 = 1_000_000_000; // $1,000 per million tokens

/// A validated override to store.
struct Override<'a> {
    provider: ProviderKind,
    model: &'a str,
    price: Price,
    effective_from: i64,
    note: Option<&'a str>,
}

/// Validates and stores a team's price override (audited with it).
pub async fn save_override(
    db: &Db,
    actor: Actor<'_>,
    request: PriceRequest,
) -> Result<ListedPrice, AppError> {
    let provider: ProviderKind = request.provider.parse().map_err(|()| {
        AppError::validation("provider", "must be one of: openai, anthropic, simulated")
    })?;
    let model = request.model.trim();
    if model.is_empty() || model.chars().count() > 200 {
        return Err(AppError::validation("model", "must be 1 to 200 characters"));
    }
    for (field, value) in [
        ("input_micros_per_mtok", request.input_micros_per_mtok),
        ("output_micros_per_mtok", request.output_micros_per_mtok),
        ("cached_micros_per_mtok", request.cached_micros_per_mtok),
    ] {
        if !(0..=MAX_MICROS_PER_MTOK).contains(&value) {
            return Err(AppError::validation(
                field,
                "must be between 0 and 1000000000",
            ));
        }
    }
    let effective_from = request.effective_from.unwrap_or_else(now_ms);
    if effective_from < 0 {
        return Err(AppError::validation(
            "effective_from",
            "must be milliseconds since the epoch",
        ));
    }
    let note = request
        .note
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return Err(AppError::validation(
            "note",
            "must be at most 500 characters",
        ));
    }
    let price = Price {
        input_micros_per_mtok: request.input_micros_per_mtok,
        output_micros_per_mtok: request.output_micros_per_mtok,
        cached_micros_per_mtok: request.cached_micros_per_mtok,
    };
    store::insert_override(
        db,
        actor,
        &Override {
            provider,
            model,
            price,
            effective_from,
            note: note.as_deref(),
        },
    )
    .await?;
    Ok(ListedPrice {
        provider: provider.as_str().into(),
        model: model.into(),
        price,
        effective_from: Some(effective_from),
        source: note.unwrap_or_else(|| "set by an admin".into()),
    })
}

/// Cost of a call in micro-dollars, rounded to the nearest.
pub fn cost_micros(usage: crate::providers::Usage, price: Price) -> i64 {
    let part = |tokens: i64, per_mtok: i64| i128::from(tokens.max(0)) * i128::from(per_mtok.max(0));
    let total = part(usage.input, price.input_micros_per_mtok)
        + part(usage.output, price.output_micros_per_mtok)
        + part(usage.cached, price.cached_micros_per_mtok);
    i64::try_from((total + 500_000) / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Usage;

    #[test]
    fn the_longest_prefix_names_the_price() {
        assert_eq!(
            default_price("gpt-4o-mini-2024-07-18"),
            Some(usd(0.15, 0.60, 0.075))
        );
        assert_eq!(
            default_price("gpt-4o-2024-08-06"),
            Some(usd(2.50, 10.00, 1.25))
        );
        assert_eq!(
            default_price("claude-3-5-haiku-20241022"),
            Some(usd(0.80, 4.00, 0.08))
        );
        // Opus 4 and 4.1 cost three times what Opus 4.5 and later do.
        assert_eq!(
            default_price("claude-opus-4-1-20250805"),
            Some(usd(15.00, 75.00, 1.50))
        );
        assert_eq!(
            default_price("claude-opus-4-5-20251101"),
            Some(usd(5.00, 25.00, 0.50))
        );
        assert_eq!(default_price("llama3.1:8b"), None);
    }

    #[test]
    fn cost_counts_each_kind_of_token_at_its_own_price() {
        // 1M input at $2.50, 100k output at $10, 1M cached at $1.25 = $2.50 + $1 + $1.25.
        let usage = Usage {
            input: 1_000_000,
            output: 100_000,
            cached: 1_000_000,
        };
        let price = default_price("gpt-4o").expect("priced");
        assert_eq!(cost_micros(usage, price), 4_750_000);
        // 100 input tokens of gpt-4o-mini: 15 micro-dollars.
        let small = Usage {
            input: 100,
            output: 0,
            cached: 0,
        };
        assert_eq!(
            cost_micros(small, default_price("gpt-4o-mini").expect("priced")),
            15
        );
    }
}
