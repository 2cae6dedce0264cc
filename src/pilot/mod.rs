//! The pilot evaluation (component `pilot-evaluation`): the seed's six success
//! metrics computed live from the team's own T4 data over the pilot's window,
//! each with where its number comes from, scored into GO / REFINE / PIVOT; the
//! two figures no telemetry can know (build hours, code reuse) entered by
//! admins with their source; dated snapshots that never change afterwards.
//!
//! The seed's SQL averaged every metric value of every component and counted
//! analytics rows; here adoption counts users (from the daily page-viewer
//! roll-up), performance is the p75 of the pages' `page_load_ms`, and the
//! error rate is 5xx answers over all requests of the eight pages and their
//! APIs.

pub mod export;
pub mod handlers;
pub mod measure;
pub mod page;
mod store;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::analytics::rollups::DAY_MS;
use crate::audit::Actor;
use crate::components::id;
use crate::error::{AppError, AppResult};
use crate::storage::{Db, now_ms};

pub use store::{snapshot, snapshots};

/// The seed's eight pages, whose telemetry the pilot reads.
pub const PAGES: [id::ComponentId; 8] = [
    id::ANALYTICS_DASHBOARD,
    id::TOKEN_USAGE,
    id::EXECUTION_MONITOR,
    id::ERROR_LOGS,
    id::TEAM_MEMBERS,
    id::API_KEYS,
    id::WORKFLOW_SCHEDULER,
    id::NOTIFICATION_CENTER,
];

/// The pages whose viewers count as adopting analytics.
pub const ANALYTICS_PAGES: [id::ComponentId; 2] = [id::ANALYTICS_DASHBOARD, id::TOKEN_USAGE];

/// The six metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricId {
    PagesBuilt,
    BuildHours,
    CodeReuse,
    UserAdoption,
    Performance,
    ErrorRate,
}

impl MetricId {
    pub const ALL: [MetricId; 6] = [
        MetricId::PagesBuilt,
        MetricId::BuildHours,
        MetricId::CodeReuse,
        MetricId::UserAdoption,
        MetricId::Performance,
        MetricId::ErrorRate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MetricId::PagesBuilt => "pages_built",
            MetricId::BuildHours => "build_hours",
            MetricId::CodeReuse => "code_reuse",
            MetricId::UserAdoption => "user_adoption",
            MetricId::Performance => "performance",
            MetricId::ErrorRate => "error_rate",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MetricId::PagesBuilt => "Pages built",
            MetricId::BuildHours => "Build time",
            MetricId::CodeReuse => "Code reuse",
            MetricId::UserAdoption => "User adoption (analytics)",
            MetricId::Performance => "Page load (p75)",
            MetricId::ErrorRate => "Error rate",
        }
    }

    /// Whether a higher value is better (the target is a floor), or lower (a ceiling).
    pub fn higher_is_better(self) -> bool {
        matches!(
            self,
            MetricId::PagesBuilt | MetricId::CodeReuse | MetricId::UserAdoption
        )
    }

    pub fn unit(self) -> &'static str {
        match self {
            MetricId::PagesBuilt => "pages",
            MetricId::BuildHours => "hours",
            MetricId::CodeReuse | MetricId::UserAdoption | MetricId::ErrorRate => "%",
            MetricId::Performance => "ms",
        }
    }
}

/// The targets, per team (defaults from the seed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Targets {
    /// Pages of the eight built and serving (default 8).
    #[schema(minimum = 0, maximum = 8)]
    pub pages_built: f64,
    /// Build time at most this many hours (default 120).
    #[schema(minimum = 0, maximum = 1000000000)]
    pub build_hours: f64,
    /// Code reuse at least this percentage (default 70).
    #[schema(minimum = 0, maximum = 100)]
    pub code_reuse: f64,
    /// Active users who opened analytics, at least this percentage (default 60).
    #[schema(minimum = 0, maximum = 100)]
    pub user_adoption: f64,
    /// p75 page load at most this many milliseconds (default 1000).
    #[schema(minimum = 0, maximum = 1000000000)]
    pub performance: f64,
    /// Server errors at most this percentage of requests (default 1).
    #[schema(minimum = 0, maximum = 100)]
    pub error_rate: f64,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            pages_built: 8.0,
            build_hours: 120.0,
            code_reuse: 70.0,
            user_adoption: 60.0,
            performance: 1000.0,
            error_rate: 1.0,
        }
    }
}

impl Targets {
    pub fn of(&self, metric: MetricId) -> f64 {
        match metric {
            MetricId::PagesBuilt => self.pages_built,
            MetricId::BuildHours => self.build_hours,
            MetricId::CodeReuse => self.code_reuse,
            MetricId::UserAdoption => self.user_adoption,
            MetricId::Performance => self.performance,
            MetricId::ErrorRate => self.error_rate,
        }
    }

    /// Each target a finite number in its range, or a 422 naming it.
    pub fn check(&self) -> AppResult<()> {
        for metric in MetricId::ALL {
            let value = self.of(metric);
            let most = match metric {
                MetricId::PagesBuilt => 8.0,
                MetricId::CodeReuse | MetricId::UserAdoption | MetricId::ErrorRate => 100.0,
                MetricId::BuildHours | MetricId::Performance => 1e9,
            };
            if !value.is_finite() || !(0.0..=most).contains(&value) {
                return Err(AppError::validation(
                    format!("targets.{}", metric.as_str()),
                    format!("must be a number from 0 to {most}"),
                ));
            }
        }
        Ok(())
    }
}

/// A value no telemetry can know, as an admin entered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entered {
    pub value: f64,
    /// Where it comes from (a time-tracking export, a component analysis).
    pub source: String,
    /// Who entered it (their name), and when.
    pub by: Option<String>,
    pub at: i64,
}

/// The pilot's dates, both included, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Window {
    #[schema(value_type = String, format = Date)]
    pub start: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub end: NaiveDate,
}

impl Window {
    /// The 30 days up to today.
    pub fn last_30_days(now: i64) -> Window {
        let today = chrono::DateTime::from_timestamp_millis(now)
            .map(|at| at.date_naive())
            .unwrap_or_default();
        Window {
            start: today - chrono::Days::new(29),
            end: today,
        }
    }

    /// The end not before the start, at most a year; or a 422 naming the field.
    pub fn check(&self) -> AppResult<()> {
        if self.end < self.start {
            return Err(AppError::validation(
                "window.end",
                "must not be before the start",
            ));
        }
        if (self.end - self.start).num_days() >= 366 {
            return Err(AppError::validation(
                "window.end",
                "the window may be a year at most",
            ));
        }
        Ok(())
    }

    /// `[start 00:00, end + 1 day 00:00)` in ms.
    pub fn millis(&self) -> (i64, i64) {
        let at = |date: NaiveDate| {
            date.and_time(chrono::NaiveTime::MIN)
                .and_utc()
                .timestamp_millis()
        };
        (at(self.start), at(self.end) + DAY_MS)
    }

    /// Each day's start in ms.
    pub fn days(&self) -> Vec<i64> {
        let (from, to) = self.millis();
        (0..)
            .map(|n| from + n * DAY_MS)
            .take_while(|day| *day < to)
            .collect()
    }
}

/// A team's pilot settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub window: Window,
    pub targets: Targets,
    pub build_hours: Option<Entered>,
    pub code_reuse: Option<Entered>,
}

impl Settings {
    pub fn default_at(now: i64) -> Settings {
        Settings {
            window: Window::last_30_days(now),
            targets: Targets::default(),
            build_hours: None,
            code_reuse: None,
        }
    }
}

/// One day of a metric's trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrendPoint {
    #[schema(value_type = String, format = Date)]
    pub day: NaiveDate,
    /// None on a day with nothing to measure.
    pub value: Option<f64>,
}

/// One metric, evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Metric {
    pub id: MetricId,
    pub name: String,
    /// The target, with its direction in `target_text`.
    pub target: f64,
    /// "≥ 8 of 8", "≤ 120 hours".
    pub target_text: String,
    /// None: not measured (nothing in the window, or not entered).
    pub actual: Option<f64>,
    pub unit: String,
    pub passed: bool,
    /// How this is computed, and from which rows.
    pub source: String,
    /// What else to know (the slowest page, failed executions beside the error rate, who entered it).
    pub detail: Option<String>,
    pub trend: Vec<TrendPoint>,
}

/// The decision: how many passed decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Decision {
    #[serde(rename = "GO")]
    Go,
    #[serde(rename = "REFINE")]
    Refine,
    #[serde(rename = "PIVOT")]
    Pivot,
}

impl Decision {
    /// 5 or more passes → GO (phase 1), 3–4 → REFINE, fewer → PIVOT.
    pub fn of(passed: usize) -> Decision {
        match passed {
            5.. => Decision::Go,
            3 | 4 => Decision::Refine,
            _ => Decision::Pivot,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Go => "GO",
            Decision::Refine => "REFINE",
            Decision::Pivot => "PIVOT",
        }
    }
}

pub const RULE: &str = "5 or more of the 6 metrics passed: GO (phase 1); 3 or 4: REFINE; fewer than 3: PIVOT. A metric not measured does not pass.";

/// The evaluation as `GET /api/pilot` answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evaluation {
    pub window: Window,
    pub metrics: Vec<Metric>,
    pub passed: usize,
    pub decision: Decision,
    pub rule: String,
    pub computed_at: i64,
}

/// Evaluates the team's pilot now.
pub async fn evaluate(db: &Db, team_id: &str) -> AppResult<Evaluation> {
    let settings = store::settings(db, team_id).await?;
    let inputs = store::inputs(db, team_id, &settings.window).await?;
    Ok(measure::evaluation(&settings, &inputs, now_ms()))
}

/// The changes `PUT /api/pilot` asks for; each part optional.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    pub window: Option<Window>,
    pub targets: Option<Targets>,
    /// (value, source) for build hours and code reuse.
    pub build_hours: Option<(f64, String)>,
    pub code_reuse: Option<(f64, String)>,
}

fn entered(field: &str, (value, source): &(f64, String), most: f64) -> AppResult<()> {
    if !value.is_finite() || *value < 0.0 || *value > most {
        return Err(AppError::validation(
            format!("{field}.value"),
            format!("must be a number from 0 to {most}"),
        ));
    }
    let source = source.trim();
    if source.is_empty() || source.chars().count() > 300 {
        return Err(AppError::validation(
            format!("{field}.source"),
            "say where the number comes from (1 to 300 characters)",
        ));
    }
    Ok(())
}

/// Applies `changes` (admins), checked whole first: nothing is saved when a
/// part is refused. Each change is audited.
pub async fn change(db: &Db, actor: Actor<'_>, changes: &Changes) -> AppResult<()> {
    if let Some(window) = &changes.window {
        window.check()?;
    }
    if let Some(targets) = &changes.targets {
        targets.check()?;
    }
    if let Some(hours) = &changes.build_hours {
        entered("build_hours", hours, 100_000.0)?;
    }
    if let Some(reuse) = &changes.code_reuse {
        entered("code_reuse", reuse, 100.0)?;
    }
    store::change(db, actor, changes).await
}

/// Freezes the evaluation as it is now.
pub async fn freeze(db: &Db, actor: Actor<'_>) -> AppResult<Snapshot> {
    let evaluation = evaluate(db, actor.team_id).await?;
    store::insert_snapshot(db, actor, &evaluation).await
}

/// A frozen evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Snapshot {
    pub id: String,
    pub frozen_at: i64,
    /// Who froze it (their name).
    pub frozen_by: Option<String>,
    pub evaluation: Evaluation,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_follows_the_count_of_passes() {
        assert_eq!(Decision::of(2), Decision::Pivot);
        assert_eq!(Decision::of(3), Decision::Refine);
        assert_eq!(Decision::of(4), Decision::Refine);
        assert_eq!(Decision::of(5), Decision::Go);
        assert_eq!(Decision::of(6), Decision::Go);
        assert_eq!(Decision::of(0), Decision::Pivot);
    }

    #[test]
    fn a_window_ends_after_it_starts_and_lasts_a_year_at_most() {
        let date = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date");
        let backwards = Window {
            start: date("2027-02-01"),
            end: date("2027-01-01"),
        };
        assert!(
            matches!(backwards.check(), Err(AppError::Validation { ref field, .. }) if field == "window.end")
        );
        let long = Window {
            start: date("2027-01-01"),
            end: date("2028-01-02"),
        };
        assert!(long.check().is_err());
        let year = Window {
            start: date("2027-01-01"),
            end: date("2027-12-31"),
        };
        assert!(year.check().is_ok());
        assert_eq!(year.days().len(), 365);
        let (from, to) = Window {
            start: date("2027-01-01"),
            end: date("2027-01-01"),
        }
        .millis();
        assert_eq!(to - from, DAY_MS);
    }

    #[test]
    fn targets_and_entered_values_are_checked_by_field() {
        let bad = Targets {
            error_rate: -1.0,
            ..Targets::default()
        };
        assert!(
            matches!(bad.check(), Err(AppError::Validation { ref field, .. }) if field == "targets.error_rate")
        );
        let err = entered("build_hours", &(f64::NAN, "export".into()), 1e5).expect_err("NaN");
        assert!(
            matches!(err, AppError::Validation { ref field, .. } if field == "build_hours.value")
        );
        let err = entered("code_reuse", &(50.0, " ".into()), 100.0).expect_err("no source");
        assert!(
            matches!(err, AppError::Validation { ref field, .. } if field == "code_reuse.source")
        );
    }
}
