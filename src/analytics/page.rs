//! `/analytics` (component `analytics-dashboard`): the seed's dashboard over a
//! 7, 30 or 90-day range kept in the URL, every card compared with the period
//! before, charts rendered on the server. Days and hours are shown in the
//! viewer's time zone (the `hummbl_tz` cookie app.js sets; UTC until then).

use axum::extract::{Query, State};
use axum_extra::extract::CookieJar;
use chrono::{Datelike, TimeZone, Timelike};
use chrono_tz::Tz;
use maud::{Markup, html};
use serde::Deserialize;

use super::handlers::{DASHBOARD, parse_days};
use super::rollups::{Bucket, DAY_MS, HOUR_MS};
use super::{Grouping, Period, TokenFilter, Totals};
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::AppResult;
use crate::storage::now_ms;
use crate::web::charts::{self, Point};
use crate::web::format::{metric_card, usd_cents};
use crate::web::{Shell, page};

pub const RANGES: [i64; 3] = [7, 30, 90];
pub const TZ_COOKIE: &str = "hummbl_tz";

#[derive(Deserialize)]
pub struct RangeQuery {
    pub days: Option<i64>,
}

/// The viewer's time zone from the cookie, else UTC.
pub fn viewer_zone(jar: &CookieJar) -> Tz {
    jar.get(TZ_COOKIE)
        .and_then(|cookie| cookie.value().parse::<Tz>().ok())
        .unwrap_or(Tz::UTC)
}

/// "+12 %" against the previous period; "new" when there was nothing before.
pub fn change(current: f64, previous: f64) -> String {
    if previous == 0.0 {
        return if current == 0.0 {
            "no change".into()
        } else {
            "new".into()
        };
    }
    let percent = (current - previous) / previous * 100.0;
    format!(
        "{}{:.0} %",
        if percent >= 0.0 { "+" } else { "−" },
        percent.abs()
    )
}

fn count(value: f64) -> String {
    let n = value.round() as i64;
    let digits = n.abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}{grouped}", if n < 0 { "-" } else { "" })
}

fn percent(value: f64) -> String {
    format!("{:.0} %", value * 100.0)
}

/// The current month so far in `zone`, in whole hours, and the month's length.
fn month_to_date(zone: Tz, now: i64) -> (Period, f64) {
    // An instant always has exactly one local time.
    let Some(local) = zone.timestamp_millis_opt(now).single() else {
        return (Period::last_days(30), 30.0);
    };
    let start = zone
        .with_ymd_and_hms(local.year(), local.month(), 1, 0, 0, 0)
        .earliest()
        .map_or(now, |start| start.timestamp_millis());
    let (next_year, next_month) = if local.month() == 12 {
        (local.year() + 1, 1)
    } else {
        (local.year(), local.month() + 1)
    };
    let end = zone
        .with_ymd_and_hms(next_year, next_month, 1, 0, 0, 0)
        .earliest()
        .map_or(now + DAY_MS, |end| end.timestamp_millis());
    let from = start - start.rem_euclid(HOUR_MS);
    let to = super::rollups::hour_of(now) + HOUR_MS;
    (Period { from, to }, (end - start) as f64 / DAY_MS as f64)
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    jar: CookieJar,
    Query(query): Query<RangeQuery>,
) -> AppResult<Markup> {
    let days = parse_days(query.days, 30)?;
    let zone = viewer_zone(&jar);
    let period = Period::last_days(days);
    let team = principal.team_id.as_str();
    let current = super::totals(&state.db, team, period, Bucket::Day).await?;
    let previous = super::totals(&state.db, team, period.previous(), Bucket::Day).await?;
    let now = now_ms();
    let (month, month_days) = month_to_date(zone, now);
    let month_totals = super::totals(&state.db, team, month, Bucket::Hour).await?;
    let elapsed_days = ((now - month.from) as f64 / DAY_MS as f64).max(1.0 / 24.0);
    let projection = month_totals.cost_micros as f64 / elapsed_days * month_days;

    // Per local day, and per local weekday × hour.
    let mut per_day: std::collections::BTreeMap<chrono::NaiveDate, (f64, f64)> = Default::default();
    let mut heat = [[0.0f64; 24]; 7];
    for super::store::HourCount {
        hour,
        status,
        executions,
    } in super::store::hourly(&state.db, team, period).await?
    {
        let Some(local) = zone.timestamp_millis_opt(hour).single() else {
            continue;
        };
        let entry = per_day.entry(local.date_naive()).or_default();
        entry.0 += executions as f64;
        if status == crate::executions::Status::Succeeded {
            entry.1 += executions as f64;
        }
        heat[local.weekday().num_days_from_monday() as usize][local.hour() as usize] +=
            executions as f64;
    }
    let label = |date: &chrono::NaiveDate| date.format("%b %d").to_string();
    let executions_per_day: Vec<Point> = per_day
        .iter()
        .map(|(d, (n, _))| Point::new(label(d), *n))
        .collect();
    let success_per_day: Vec<Point> = per_day
        .iter()
        .filter(|(_, (n, _))| *n > 0.0)
        .map(|(d, (n, ok))| Point::new(label(d), ok / n))
        .collect();
    let users: Vec<Point> = super::store::active_users(&state.db, team, period)
        .await?
        .into_iter()
        .filter_map(|super::store::ActiveUsers { day, users: n }| {
            let date = chrono::DateTime::from_timestamp_millis(day)?.date_naive();
            Some(Point::new(label(&date), n as f64))
        })
        .collect();
    let agents: Vec<Point> = super::token_rows(
        &state.db,
        team,
        period,
        Grouping::Agent,
        &TokenFilter::default(),
    )
    .await?
    .into_iter()
    .map(|row| {
        Point::new(
            row.agent_name
                .or(row.agent_id)
                .unwrap_or_else(|| "(none)".into()),
            row.calls as f64,
        )
    })
    .collect();
    let mut agents = agents;
    agents.sort_by(|a, b| b.value.total_cmp(&a.value));

    let shell = page(
        &state,
        &principal,
        Shell::new("Analytics", "/analytics").component(DASHBOARD),
    )
    .await?;
    Ok(shell.render(html! {
        header.page-header {
            h1 { "Analytics" }
            p.lede { "The last " (days) " days, compared with the " (days) " days before. Times in " (zone.name()) "." }
            nav.range aria-label="Period" {
                @for range in RANGES {
                    a.button.button-small href={"/analytics?days=" (range)} aria-current=[(range == days).then_some("page")] { (range) " days" }
                }
            }
        }
        div.cards {
            (metric_card("card-executions", "Workflows executed", count(current.executions as f64), format!("{} vs. previous period", change(current.executions as f64, previous.executions as f64))))
            (metric_card("card-success", "Success rate", percent(current.success_rate), format!("{} vs. previous period", points_change(&current, &previous))))
            (metric_card("card-tokens", "Tokens", count(current.tokens as f64), format!("{} vs. previous period", change(current.tokens as f64, previous.tokens as f64))))
            (metric_card("card-cost", "Cost", usd_cents(current.cost_micros), format!("{} vs. previous period", change(current.cost_micros as f64, previous.cost_micros as f64))))
            section.card aria-labelledby="card-month" {
                h2 #card-month { "Cost this month" }
                p.metric { (usd_cents(month_totals.cost_micros)) }
                p.hint { "Projected to month end: " strong { (usd_cents(projection.round() as i64)) } }
                p.hint.method {
                    "Method: cost so far this month ÷ " (format!("{elapsed_days:.1}")) " days elapsed × "
                    (format!("{month_days:.0}")) " days in the month (a straight run-rate, " (zone.name()) ")."
                }
            }
        }
        div.chart-grid {
            (charts::line_chart("chart-success", "Success rate per day",
                &format!("Share of executions that succeeded, per day, over the last {days} days."),
                &success_per_day, Some(1.0), percent))
            (charts::line_chart("chart-executions", "Executions per day",
                &format!("Workflow executions started per day over the last {days} days."),
                &executions_per_day, None, count))
            (charts::line_chart("chart-users", "Active users per day",
                "People who used the console or ran a workflow, per UTC day.", &users, None, count))
            (charts::bar_chart("chart-agents", "Most used agents",
                "Provider calls per agent in the period, largest first.", &agents, count))
            (charts::heat_map("chart-peaks", "Peak execution times",
                &format!("Executions started per weekday and hour ({}), over the last {days} days.", zone.name()),
                &heat, count))
        }
    }))
}

/// The success rate's change in percentage points.
fn points_change(current: &Totals, previous: &Totals) -> String {
    if previous.executions == 0 {
        return "new".into();
    }
    let points = (current.success_rate - previous.success_rate) * 100.0;
    format!(
        "{}{:.1} pts",
        if points >= 0.0 { "+" } else { "−" },
        points.abs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_and_numbers_read_like_the_seed() {
        assert_eq!(change(112.0, 100.0), "+12 %");
        assert_eq!(change(90.0, 100.0), "−10 %");
        assert_eq!(change(5.0, 0.0), "new");
        assert_eq!(count(1234567.0), "1,234,567");
        assert_eq!(count(999.0), "999");
    }

    #[test]
    fn the_month_so_far_starts_at_local_midnight_on_the_first() {
        // 2026-03-15 12:00 UTC; in New York the month began at 05:00 UTC on 03-01.
        let now = 1_773_576_000_000;
        let zone: Tz = "America/New_York".parse().expect("zone");
        let (period, days) = month_to_date(zone, now);
        assert_eq!(period.from, 1_772_341_200_000);
        assert!((days - 31.0).abs() < 0.1, "{days}");
    }
}
