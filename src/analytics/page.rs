//! `/analytics` (component `analytics-dashboard`): the seed's dashboard over a
//! 7, 30 or 90-day range kept in the URL, every card compared with the period
//! before, charts rendered on the server. Days and hours are shown in the
//! viewer's time zone (the `hummbl_tz` cookie app.js sets; UTC until then).

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum_extra::extract::CookieJar;
use chrono::{Datelike, NaiveDate, TimeZone, Timelike};
use chrono_tz::Tz;
use maud::{Markup, html};
use serde::Deserialize;

use super::handlers::{DASHBOARD, parse_days};
use super::rollups::{Bucket, DAY_MS, HOUR_MS};
use super::store::{self, ActiveUsers, HourCount};
use super::{Grouping, Period, TokenFilter, TokenRow, Totals};
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::AppResult;
use crate::executions::Status;
use crate::storage::{Db, now_ms};
use crate::web::charts::{self, Point};
use crate::web::format::{metric_card, usd_cents};
use crate::web::{Shell, page};

pub const RANGES: [i64; 3] = [7, 30, 90];
pub const TZ_COOKIE: &str = "hummbl_tz";

#[derive(Deserialize)]
pub struct RangeQuery {
    pub days: Option<i64>,
    /// `hummbl` or `otlp`; empty: both.
    pub source: Option<String>,
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
    crate::web::format::grouped(value.round() as i64)
}

fn percent(value: f64) -> String {
    format!("{:.0} %", value * 100.0)
}

/// Today so far in `zone`, in whole hours (the hourly roll-ups' buckets).
pub fn today(zone: Tz, now: i64) -> Period {
    let midnight = zone
        .timestamp_millis_opt(now)
        .single()
        .and_then(|local| {
            zone.with_ymd_and_hms(local.year(), local.month(), local.day(), 0, 0, 0)
                .earliest()
        })
        .map_or(now, |start| start.timestamp_millis());
    Period {
        from: midnight - midnight.rem_euclid(HOUR_MS),
        to: super::rollups::hour_of(now) + HOUR_MS,
    }
}

/// The current month so far in `zone`, in whole hours, and the month's length.
pub fn month_to_date(zone: Tz, now: i64) -> (Period, f64) {
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

/// What the dashboard shows.
pub struct DashboardView {
    pub days: i64,
    /// Only executions of this source, when chosen.
    pub source: Option<crate::executions::Source>,
    /// The viewer's time zone: days and hours are local to it.
    pub zone: Tz,
    pub current: Totals,
    /// The period of the same length just before.
    pub previous: Totals,
    pub month: MonthCost,
    pub charts: Charts,
}

/// The month so far and its straight run-rate to the month's end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonthCost {
    pub cost_micros: i64,
    /// Days since the month began, at least an hour's worth (no projection
    /// from a few minutes of data).
    pub elapsed_days: f64,
    pub month_days: f64,
}

impl MonthCost {
    pub fn projection_micros(&self) -> i64 {
        (self.cost_micros as f64 / self.elapsed_days * self.month_days).round() as i64
    }
}

/// The charts' series, laid out in the viewer's time zone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Charts {
    pub executions_per_day: Vec<Point>,
    /// Succeeded out of all executions, for the days that had any.
    pub success_per_day: Vec<Point>,
    /// People active per UTC day (the roll-up's days).
    pub users_per_day: Vec<Point>,
    /// Provider calls per agent, largest first.
    pub agents: Vec<Point>,
    /// Executions per local weekday (Monday first) and hour.
    pub heat: [[f64; 24]; 7],
}

impl Charts {
    /// Lays the loaded rows out per local day and per local weekday × hour.
    pub fn new(
        zone: Tz,
        hours: &[HourCount],
        users: &[ActiveUsers],
        agents: &[TokenRow],
    ) -> Charts {
        let mut per_day: BTreeMap<NaiveDate, (f64, f64)> = BTreeMap::new();
        let mut heat = [[0.0f64; 24]; 7];
        for count in hours {
            // An instant always has exactly one local time.
            let Some(local) = zone.timestamp_millis_opt(count.hour).single() else {
                continue;
            };
            let executions = count.executions as f64;
            let entry = per_day.entry(local.date_naive()).or_default();
            entry.0 += executions;
            if count.status == Status::Succeeded {
                entry.1 += executions;
            }
            heat[local.weekday().num_days_from_monday() as usize][local.hour() as usize] +=
                executions;
        }
        let label = |date: &NaiveDate| date.format("%b %d").to_string();
        let mut agents: Vec<Point> = agents
            .iter()
            .map(|row| {
                let name = row.agent_name.clone().or(row.agent_id.clone());
                Point::new(name.unwrap_or_else(|| "(none)".into()), row.calls as f64)
            })
            .collect();
        agents.sort_by(|a, b| b.value.total_cmp(&a.value));
        Charts {
            executions_per_day: per_day
                .iter()
                .map(|(day, (n, _))| Point::new(label(day), *n))
                .collect(),
            success_per_day: per_day
                .iter()
                .filter(|(_, (n, _))| *n > 0.0)
                .map(|(day, (n, ok))| Point::new(label(day), ok / n))
                .collect(),
            users_per_day: users
                .iter()
                .filter_map(|active| {
                    let date = chrono::DateTime::from_timestamp_millis(active.day)?.date_naive();
                    Some(Point::new(label(&date), active.users as f64))
                })
                .collect(),
            agents,
            heat,
        }
    }
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    jar: CookieJar,
    Query(query): Query<RangeQuery>,
) -> AppResult<Markup> {
    let days = parse_days(query.days, 30)?;
    let source = crate::executions::handlers::parse_source(query.source.as_deref())?;
    let (view, shell) = tokio::try_join!(
        load(
            &state.db,
            &principal.team_id,
            days,
            source,
            viewer_zone(&jar)
        ),
        page(
            &state,
            &principal,
            Shell::new("Analytics", "/analytics").component(DASHBOARD),
        ),
    )?;
    Ok(shell.render(render(&view)))
}

/// Loads the view: the period's totals and the previous period's, the month so
/// far, and the charts' rows, all at the same time (none needs another).
async fn load(
    db: &Db,
    team: &str,
    days: i64,
    source: Option<crate::executions::Source>,
    zone: Tz,
) -> AppResult<DashboardView> {
    let period = Period::last_days(days);
    let now = now_ms();
    let (month, month_days) = month_to_date(zone, now);
    let every_agent = TokenFilter {
        source,
        ..TokenFilter::default()
    };
    let (current, previous, month_totals, hours, users, agents) = tokio::try_join!(
        store::totals_of(db, team, period, Bucket::Day, source),
        store::totals_of(db, team, period.previous(), Bucket::Day, source),
        store::totals_of(db, team, month, Bucket::Hour, source),
        store::hourly(db, team, period, source),
        store::active_users(db, team, period),
        super::token_rows(db, team, period, Grouping::Agent, &every_agent),
    )?;
    Ok(DashboardView {
        days,
        source,
        zone,
        current,
        previous,
        month: MonthCost {
            cost_micros: month_totals.cost_micros,
            elapsed_days: ((now - month.from) as f64 / DAY_MS as f64).max(1.0 / 24.0),
            month_days,
        },
        charts: Charts::new(zone, &hours, &users, &agents),
    })
}

/// `&source=…` for links that keep the chosen source.
fn source_param(source: Option<crate::executions::Source>) -> String {
    source
        .map(|source| format!("&source={}", source.as_str()))
        .unwrap_or_default()
}

/// The source filter: HUMMBL's runs, your services' OTLP traces, or both.
fn source_form(days: i64, chosen: Option<crate::executions::Source>) -> Markup {
    html! {
        form.filters method="get" action="/analytics" {
            input type="hidden" name="days" value=(days);
            label for="a-source" { "Source" }
            select #a-source name="source" {
                option value="" { "Both" }
                @for source in crate::executions::Source::ALL {
                    option value=(source.as_str()) selected[chosen == Some(source)] { (source.label()) }
                }
            }
            button.button.button-small type="submit" { "Apply" }
        }
    }
}

/// A card's note: the change against the previous period.
fn versus(change: String) -> String {
    format!("{change} vs. previous period")
}

/// The page body for a view (no queries: a test can render any view).
pub fn render(view: &DashboardView) -> Markup {
    let DashboardView {
        days,
        source,
        zone,
        current,
        previous,
        month,
        charts,
    } = view;
    let days = *days;
    let zone = zone.name();
    let compare = |now: i64, before: i64| versus(change(now as f64, before as f64));
    html! {
        header.page-header {
            h1 { "Analytics" }
            p.lede { "The last " (days) " days, compared with the " (days) " days before. Times in " (zone) "." }
            nav.range aria-label="Period" {
                @for range in RANGES {
                    a.button.button-small href={"/analytics?days=" (range) (source_param(*source))} aria-current=[(range == days).then_some("page")] { (range) " days" }
                }
            }
            (source_form(days, *source))
        }
        div.cards {
            (metric_card("card-executions", "Workflows executed", count(current.executions as f64), compare(current.executions, previous.executions)))
            (metric_card("card-success", "Success rate", percent(current.success_rate), versus(points_change(current, previous))))
            (metric_card("card-tokens", "Tokens", count(current.tokens as f64), compare(current.tokens, previous.tokens)))
            (metric_card("card-cost", "Cost", usd_cents(current.cost_micros), compare(current.cost_micros, previous.cost_micros)))
            section.card aria-labelledby="card-month" {
                h2 #card-month { "Cost this month" }
                p.metric { (usd_cents(month.cost_micros)) }
                p.hint { "Projected to month end: " strong { (usd_cents(month.projection_micros())) } }
                p.hint.method {
                    "Method: cost so far this month ÷ " (format!("{:.1}", month.elapsed_days)) " days elapsed × "
                    (format!("{:.0}", month.month_days)) " days in the month (a straight run-rate, " (zone) ")."
                }
            }
        }
        div.chart-grid {
            (charts::line_chart("chart-success", "Success rate per day",
                &format!("Share of executions that succeeded, per day, over the last {days} days."),
                &charts.success_per_day, Some(1.0), percent))
            (charts::line_chart("chart-executions", "Executions per day",
                &format!("Workflow executions started per day over the last {days} days."),
                &charts.executions_per_day, None, count))
            (charts::line_chart("chart-users", "Active users per day",
                "People who used the console or ran a workflow, per UTC day.", &charts.users_per_day, None, count))
            (charts::bar_chart("chart-agents", "Most used agents",
                "Provider calls per agent in the period, largest first.", &charts.agents, count))
            (charts::heat_map("chart-peaks", "Peak execution times",
                &format!("Executions started per weekday and hour ({zone}), over the last {days} days."),
                &charts.heat, count))
        }
    }
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

    #[test]
    fn today_starts_at_local_midnight() {
        // 2026-03-15 12:30 UTC is 08:30 in New York (EDT since 03-08): the
        // day began at 04:00 UTC.
        let zone: Tz = "America/New_York".parse().expect("zone");
        let period = today(zone, utc(15, 12) + 30 * 60_000);
        assert_eq!(period.from, utc(15, 4));
        assert_eq!(period.to, utc(15, 13));
        assert_eq!(today(Tz::UTC, utc(15, 12)).from, utc(15, 0));
    }

    fn utc(day: u32, hour: u32) -> i64 {
        chrono::Utc
            .with_ymd_and_hms(2026, 3, day, hour, 0, 0)
            .single()
            .expect("an instant")
            .timestamp_millis()
    }

    fn agent(name: Option<&str>, calls: i64) -> TokenRow {
        TokenRow {
            workflow_id: None,
            workflow_name: None,
            agent_id: name.map(|name| format!("id-{name}")),
            agent_name: name.map(str::to_string),
            model: None,
            calls,
            input_tokens: 0,
            output_tokens: 0,
            cached_tokens: 0,
            total_tokens: 0,
            cost_micros: 0,
        }
    }

    #[test]
    fn charts_lay_hours_out_in_the_viewers_days_and_weekdays() {
        let berlin: Tz = "Europe/Berlin".parse().expect("zone");
        let hour = |day, hour, status, executions| HourCount {
            hour: utc(day, hour),
            status,
            executions,
        };
        // 23:00 UTC on Sunday 1 March is midnight on Monday the 2nd in Berlin.
        let hours = [
            hour(1, 22, Status::Failed, 1),
            hour(1, 23, Status::Succeeded, 3),
            hour(2, 10, Status::Failed, 1),
        ];
        let users = [ActiveUsers {
            day: utc(1, 0),
            users: 2,
        }];
        let agents = [agent(None, 1), agent(Some("Writer"), 5)];
        let charts = Charts::new(berlin, &hours, &users, &agents);
        assert_eq!(
            charts.executions_per_day,
            [Point::new("Mar 01", 1.0), Point::new("Mar 02", 4.0)]
        );
        assert_eq!(
            charts.success_per_day,
            [Point::new("Mar 01", 0.0), Point::new("Mar 02", 0.75)]
        );
        assert_eq!(charts.users_per_day, [Point::new("Mar 01", 2.0)]);
        assert_eq!(
            charts.agents,
            [Point::new("Writer", 5.0), Point::new("(none)", 1.0)]
        );
        assert_eq!(charts.heat[6][23], 1.0, "Sunday 23:00");
        assert_eq!(charts.heat[0][0], 3.0, "Monday 00:00");
        assert_eq!(charts.heat[0][11], 1.0, "Monday 11:00");
        assert_eq!(charts.heat.iter().flatten().sum::<f64>(), 5.0);
    }

    fn view() -> DashboardView {
        DashboardView {
            source: None,
            days: 7,
            zone: "Europe/Berlin".parse().expect("zone"),
            current: Totals {
                executions: 1234,
                succeeded: 925,
                success_rate: 0.75,
                tokens: 2_500_000,
                cost_micros: 12_345_678,
                ..Totals::default()
            },
            previous: Totals {
                executions: 1000,
                succeeded: 700,
                success_rate: 0.7,
                tokens: 2_500_000,
                ..Totals::default()
            },
            month: MonthCost {
                cost_micros: 10_000_000,
                elapsed_days: 10.0,
                month_days: 31.0,
            },
            charts: Charts {
                agents: vec![Point::new("<Writer>", 12.0)],
                ..Charts::default()
            },
        }
    }

    use crate::web::testing::card;

    #[test]
    fn a_view_renders_its_cards_against_the_previous_period() {
        let html = render(&view()).into_string();
        let executions = card(&html, "card-executions");
        assert!(executions.contains(">1,234<"), "{executions}");
        assert!(
            executions.contains("+23 % vs. previous period"),
            "{executions}"
        );
        let success = card(&html, "card-success");
        assert!(success.contains(">75 %<") && success.contains("+5.0 pts vs. previous period"));
        assert!(card(&html, "card-tokens").contains("+0 % vs. previous period"));
        let cost = card(&html, "card-cost");
        assert!(cost.contains(">$12.34<") && cost.contains("new vs. previous period"));
        // $10 in 10 days, 31 days in the month.
        assert!(card(&html, "card-month").contains("<strong>$31.00</strong>"));
        assert!(html.contains("Times in Europe/Berlin."));
        assert!(html.contains(r#"href="/analytics?days=7" aria-current="page""#));
        assert!(!html.contains(r#"href="/analytics?days=30" aria-current"#));
        assert_eq!(html.matches("role=\"img\"").count(), 5, "five charts");
        assert!(html.contains("&lt;Writer&gt;") && !html.contains("<Writer>"));
    }

    #[test]
    fn an_empty_view_says_there_is_nothing_to_compare() {
        let empty = DashboardView {
            current: Totals::default(),
            previous: Totals::default(),
            month: MonthCost {
                cost_micros: 0,
                elapsed_days: 1.0 / 24.0,
                month_days: 30.0,
            },
            charts: Charts::default(),
            ..view()
        };
        let html = render(&empty).into_string();
        assert!(card(&html, "card-executions").contains(">0<"));
        assert!(card(&html, "card-executions").contains("no change vs. previous period"));
        assert!(card(&html, "card-success").contains("new vs. previous period"));
        assert!(card(&html, "card-month").contains("<strong>$0.00</strong>"));
    }
}
