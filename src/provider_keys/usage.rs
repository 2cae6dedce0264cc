//! Usage per key: the steps that called a provider with it (succeeded or
//! failed, retries' reused outputs not counted again, like the roll-ups), per
//! UTC day of the step's end. The roll-ups are kept per agent, and an agent's
//! key can change, so usage is read from the steps, which record the key they
//! called with (`task_results.key_id`); one key's month is a short index range.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analytics::Period;
use crate::analytics::rollups::{DAY_MS, day_of};

/// Calls, tokens, cost and errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = KeyUsageTotals)]
pub struct Totals {
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub cost_micros: i64,
    /// Calls that failed (part of `calls`).
    pub errors: i64,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        self.calls += other.calls;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cached_tokens += other.cached_tokens;
        self.cost_micros += other.cost_micros;
        self.errors += other.errors;
    }

    /// Input, output and cached tokens together.
    pub fn tokens(&self) -> i64 {
        self.input_tokens + self.output_tokens + self.cached_tokens
    }
}

/// One UTC day of a key's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = KeyUsageDay)]
pub struct Day {
    /// The day's start (ms, UTC).
    pub day: i64,
    #[serde(flatten)]
    pub totals: Totals,
}

/// A key's usage over a period: its totals, and every day of it (zero days
/// included, oldest first) for the sparkline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KeyUsage {
    #[serde(flatten)]
    pub totals: Totals,
    pub days: Vec<Day>,
}

/// Folds per-day rows (day start, totals) into the period's usage.
pub fn fold(period: Period, rows: impl IntoIterator<Item = (i64, Totals)>) -> KeyUsage {
    let mut by_day: BTreeMap<i64, Totals> = BTreeMap::new();
    let mut day = period.from;
    while day < period.to {
        by_day.insert(day, Totals::default());
        day += DAY_MS;
    }
    let mut totals = Totals::default();
    for (at, row) in rows {
        if let Some(slot) = by_day.get_mut(&day_of(at)) {
            slot.add(&row);
            totals.add(&row);
        }
    }
    KeyUsage {
        totals,
        days: by_day
            .into_iter()
            .map(|(day, totals)| Day { day, totals })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_filled_and_summed() {
        let period = Period {
            from: 10 * DAY_MS,
            to: 13 * DAY_MS,
        };
        let row = |calls, errors| Totals {
            calls,
            input_tokens: 10 * calls,
            output_tokens: 5,
            cached_tokens: 1,
            cost_micros: 100,
            errors,
        };
        let usage = fold(
            period,
            [
                (10 * DAY_MS, row(2, 0)),
                (12 * DAY_MS, row(3, 1)),
                (20 * DAY_MS, row(9, 9)),
            ],
        );
        assert_eq!(usage.days.len(), 3);
        assert_eq!(usage.days[1].totals, Totals::default());
        assert_eq!(usage.days[2].totals.calls, 3);
        assert_eq!(
            (
                usage.totals.calls,
                usage.totals.errors,
                usage.totals.cost_micros
            ),
            (5, 1, 200),
            "outside the period not counted"
        );
        assert_eq!(usage.totals.tokens(), 50 + 10 + 2);
    }
}
