//! The six metrics from the rows the store read (pure: unit tests feed them
//! crafted rows). Percentiles are nearest-rank over the raw samples.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;

use super::{
    ANALYTICS_PAGES, Decision, Entered, Evaluation, Metric, MetricId, PAGES, RULE, Settings,
    TrendPoint,
};
use crate::web::layout::utc_date;

/// What the store read for the window.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The registered pages among the eight, and whether each is on for the team.
    pub components: Vec<(String, bool)>,
    /// Per day and page: requests and 5xx answers (request instrumentation).
    pub served: Vec<Served>,
    /// Who viewed which page on which day (the daily page-viewer roll-up).
    pub views: Vec<(i64, String, String)>,
    /// Who was active on which day.
    pub active: Vec<(i64, String)>,
    /// `page_load_ms` samples: day, page, value.
    pub loads: Vec<(i64, String, f64)>,
    /// Finished and failed executions in the window.
    pub executions: (i64, i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub day: i64,
    pub component_id: String,
    pub requests: f64,
    pub errors: f64,
}

/// The nearest-rank `p` percentile (0 < p ≤ 100) of `values`.
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

fn date_of(day: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(day)
        .map(|at| at.date_naive())
        .unwrap_or_default()
}

fn trend(days: &[i64], value: impl Fn(i64) -> Option<f64>) -> Vec<TrendPoint> {
    days.iter()
        .map(|&day| TrendPoint {
            day: date_of(day),
            value: value(day),
        })
        .collect()
}

/// Every metric, the passes and the decision.
pub fn evaluation(settings: &Settings, inputs: &Inputs, now: i64) -> Evaluation {
    let days = settings.window.days();
    let metrics: Vec<Metric> = MetricId::ALL
        .into_iter()
        .map(|id| {
            let (actual, source, detail, trend) = match id {
                MetricId::PagesBuilt => pages_built(inputs, &days),
                MetricId::BuildHours => entered(
                    settings.build_hours.as_ref(),
                    "hours of work, entered by an admin",
                ),
                MetricId::CodeReuse => entered(
                    settings.code_reuse.as_ref(),
                    "percent of the code reused, entered by an admin",
                ),
                MetricId::UserAdoption => adoption(inputs, &days),
                MetricId::Performance => performance(inputs, &days),
                MetricId::ErrorRate => error_rate(inputs, &days),
            };
            let target = settings.targets.of(id);
            let passed = actual.is_some_and(|actual| {
                if id.higher_is_better() {
                    actual >= target
                } else {
                    actual <= target
                }
            });
            Metric {
                id,
                name: id.name().into(),
                target,
                target_text: target_text(id, target),
                actual,
                unit: id.unit().into(),
                passed,
                source,
                detail,
                trend,
            }
        })
        .collect();
    let passed = metrics.iter().filter(|metric| metric.passed).count();
    Evaluation {
        window: settings.window,
        metrics,
        passed,
        decision: Decision::of(passed),
        rule: RULE.into(),
        computed_at: now,
    }
}

fn target_text(id: MetricId, target: f64) -> String {
    let sign = if id.higher_is_better() { "≥" } else { "≤" };
    match id {
        MetricId::PagesBuilt => format!("{sign} {target} of 8"),
        _ => format!("{sign} {target} {}", id.unit()),
    }
}

type Measured = (Option<f64>, String, Option<String>, Vec<TrendPoint>);

fn entered(value: Option<&Entered>, what: &str) -> Measured {
    match value {
        None => (
            None,
            format!(
                "Not measured: no telemetry can know this; an admin enters it ({what}) with its source."
            ),
            None,
            Vec::new(),
        ),
        Some(entered) => (
            Some(entered.value),
            format!("Entered: {}", entered.source),
            Some(format!(
                "entered by {} on {}",
                entered.by.as_deref().unwrap_or("a former member"),
                utc_date(entered.at)
            )),
            Vec::new(),
        ),
    }
}

fn pages_built(inputs: &Inputs, days: &[i64]) -> Measured {
    let enabled: HashMap<&str, bool> = inputs
        .components
        .iter()
        .map(|(id, on)| (id.as_str(), *on))
        .collect();
    // (requests, errors, viewed) per page and day.
    let mut per_day: HashMap<(&str, i64), (f64, f64, bool)> = HashMap::new();
    for served in &inputs.served {
        let entry = per_day
            .entry((served.component_id.as_str(), served.day))
            .or_default();
        entry.0 += served.requests;
        entry.1 += served.errors;
    }
    for (day, page, _) in &inputs.views {
        per_day.entry((page.as_str(), *day)).or_default().2 = true;
    }
    let served_with_errors = |entries: &mut dyn Iterator<Item = &(f64, f64, bool)>| {
        entries.fold(
            (false, 0.0),
            |(served, errors), (requests, failed, viewed)| {
                (served || *requests > 0.0 || *viewed, errors + failed)
            },
        )
    };
    // The whole window (a scan, once per page) or one day (a lookup).
    let built_on = |page: &str, day: Option<i64>| match day {
        Some(day) => served_with_errors(&mut per_day.get(&(page, day)).into_iter()),
        None => served_with_errors(
            &mut per_day
                .iter()
                .filter(|((p, _), _)| *p == page)
                .map(|(_, entry)| entry),
        ),
    };
    let mut missing = Vec::new();
    let mut built = 0;
    for page in PAGES {
        let name = page.as_str();
        let (served, errors) = built_on(name, None);
        let reason = match enabled.get(name) {
            None => Some("not registered"),
            Some(false) => Some("switched off"),
            Some(true) if !served => Some("not served in the window"),
            Some(true) if errors > 0.0 => Some("served with server errors"),
            Some(true) => None,
        };
        match reason {
            Some(reason) => missing.push(format!("{name}: {reason}")),
            None => built += 1,
        }
    }
    let trend = trend(days, |day| {
        let count = PAGES
            .iter()
            .filter(|page| {
                let (served, errors) = built_on(page.as_str(), Some(day));
                enabled.get(page.as_str()) == Some(&true) && served && errors == 0.0
            })
            .count();
        Some(count as f64)
    });
    (
        Some(f64::from(built)),
        "The seed's eight page components that are registered, switched on for the team, and served (requests or page views) without a server error in the window.".into(),
        (!missing.is_empty()).then(|| format!("Not counted: {}", missing.join("; "))),
        trend,
    )
}

fn adoption(inputs: &Inputs, days: &[i64]) -> Measured {
    let analytics = |page: &str| ANALYTICS_PAGES.iter().any(|a| a.as_str() == page);
    let share = |day: Option<i64>| {
        let on = |d: i64| day.is_none_or(|day| day == d);
        let mut active: BTreeSet<&str> = inputs
            .active
            .iter()
            .filter(|(d, _)| on(*d))
            .map(|(_, user)| user.as_str())
            .collect();
        let mut viewers = BTreeSet::new();
        for (d, page, user) in &inputs.views {
            if on(*d) {
                active.insert(user);
                if analytics(page) {
                    viewers.insert(user.as_str());
                }
            }
        }
        (!active.is_empty()).then_some((viewers.len(), active.len()))
    };
    let whole = share(None);
    (
        whole.map(|(viewers, active)| viewers as f64 * 100.0 / active as f64),
        "Of the team's users active in the window (daily active users), the share who opened the analytics dashboard or token usage at least once (page views, counted per user, not per row).".into(),
        whole.map(|(viewers, active)| format!("{viewers} of {active} active users")),
        trend(days, |day| share(Some(day)).map(|(v, a)| v as f64 * 100.0 / a as f64)),
    )
}

fn performance(inputs: &Inputs, days: &[i64]) -> Measured {
    let mut all: Vec<f64> = inputs.loads.iter().map(|(_, _, value)| *value).collect();
    let count = all.len();
    let p75 = percentile(&mut all, 75.0);
    let p95 = percentile(&mut all, 95.0);
    let mut per_page: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (_, page, value) in &inputs.loads {
        per_page.entry(page.as_str()).or_default().push(*value);
    }
    let slowest = per_page
        .into_iter()
        .filter_map(|(page, mut values)| percentile(&mut values, 75.0).map(|p| (page, p)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let detail = p95.map(|p95| {
        let mut text = format!("p95 {p95:.0} ms over {count} page loads");
        if let Some((page, p75)) = slowest {
            text.push_str(&format!("; slowest page {page} (p75 {p75:.0} ms)"));
        }
        text
    });
    let trend = trend(days, |day| {
        let mut values: Vec<f64> = inputs
            .loads
            .iter()
            .filter(|(d, _, _)| *d == day)
            .map(|(_, _, value)| *value)
            .collect();
        percentile(&mut values, 75.0)
    });
    (
        p75,
        "The 75th percentile of page_load_ms, reported by the browser SDK on the eight pages in the window (the load event's end, from Navigation Timing).".into(),
        detail,
        trend,
    )
}

fn error_rate(inputs: &Inputs, days: &[i64]) -> Measured {
    let sums = |day: Option<i64>| {
        inputs
            .served
            .iter()
            .filter(|served| day.is_none_or(|day| day == served.day))
            .fold((0.0, 0.0), |(requests, errors), served| {
                (requests + served.requests, errors + served.errors)
            })
    };
    let rate = |(requests, errors): (f64, f64)| (requests > 0.0).then(|| errors * 100.0 / requests);
    let (requests, errors) = sums(None);
    let (finished, failed) = inputs.executions;
    let mut detail = format!("{errors:.0} server errors in {requests:.0} requests");
    if finished > 0 {
        detail.push_str(&format!(
            "; beside it, not mixed in: {failed} of {finished} executions failed ({:.1} %)",
            failed as f64 * 100.0 / finished as f64
        ));
    }
    (
        rate((requests, errors)),
        "Server errors (5xx) over all requests of the eight pages and their APIs in the window, from the server's request instrumentation (per minute, per component).".into(),
        Some(detail),
        trend(days, |day| rate(sums(Some(day)))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pilot::{Settings, Window};

    const DAY: i64 = 86_400_000;

    fn settings() -> Settings {
        let start = NaiveDate::from_ymd_opt(1970, 1, 1).expect("date");
        Settings {
            window: Window {
                start,
                end: start + chrono::Days::new(1),
            },
            ..Settings::default_at(0)
        }
    }

    fn metric(evaluation: &Evaluation, id: MetricId) -> &Metric {
        evaluation
            .metrics
            .iter()
            .find(|m| m.id == id)
            .expect("metric")
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut values, 75.0), Some(75.0));
        assert_eq!(percentile(&mut values, 95.0), Some(95.0));
        assert_eq!(percentile(&mut [3.0], 75.0), Some(3.0));
        assert_eq!(percentile(&mut [], 75.0), None);
    }

    #[test]
    fn adoption_counts_users_not_rows() {
        let mut inputs = Inputs::default();
        for _ in 0..1000 {
            inputs
                .views
                .push((0, "analytics-dashboard".into(), "ada".into()));
        }
        inputs.active = vec![(0, "ada".into()), (0, "bo".into()), (DAY, "cy".into())];
        inputs.views.push((DAY, "error-logs".into(), "cy".into()));
        let evaluation = evaluation(&settings(), &inputs, 0);
        let adoption = metric(&evaluation, MetricId::UserAdoption);
        assert_eq!(
            adoption.actual.map(|a| a.round()),
            Some(33.0),
            "1 of 3 users"
        );
        assert_eq!(adoption.trend[0].value, Some(50.0));
        assert_eq!(adoption.trend[1].value, Some(0.0));
        assert!(!adoption.passed);
    }

    #[test]
    fn a_page_with_a_server_error_or_switched_off_is_not_built() {
        let mut inputs = Inputs {
            components: PAGES
                .iter()
                .map(|p| (p.as_str().to_string(), true))
                .collect(),
            ..Inputs::default()
        };
        for page in PAGES {
            inputs.served.push(Served {
                day: 0,
                component_id: page.as_str().into(),
                requests: 10.0,
                errors: 0.0,
            });
        }
        let all = evaluation(&settings(), &inputs, 0);
        assert_eq!(metric(&all, MetricId::PagesBuilt).actual, Some(8.0));
        assert!(metric(&all, MetricId::PagesBuilt).passed);
        inputs.served[0].errors = 1.0;
        inputs.components[1].1 = false;
        let two_less = evaluation(&settings(), &inputs, 0);
        let pages = metric(&two_less, MetricId::PagesBuilt);
        assert_eq!(pages.actual, Some(6.0));
        let detail = pages.detail.clone().unwrap_or_default();
        assert!(
            detail.contains("analytics-dashboard: served with server errors"),
            "{detail}"
        );
        assert!(detail.contains("token-usage: switched off"), "{detail}");
        let rate = metric(&two_less, MetricId::ErrorRate);
        assert_eq!(rate.actual, Some(1.25), "1 in 80 requests");
        assert!(!rate.passed);
    }

    #[test]
    fn unentered_values_do_not_pass_and_entered_ones_say_who() {
        let mut settings = settings();
        let none = evaluation(&settings, &Inputs::default(), 0);
        assert_eq!(none.passed, 0);
        assert_eq!(none.decision, Decision::Pivot);
        assert!(
            metric(&none, MetricId::BuildHours)
                .source
                .starts_with("Not measured")
        );
        settings.build_hours = Some(Entered {
            value: 96.0,
            source: "time tracking".into(),
            by: Some("Ada".into()),
            at: 0,
        });
        let some = evaluation(&settings, &Inputs::default(), 0);
        let hours = metric(&some, MetricId::BuildHours);
        assert!(hours.passed);
        assert_eq!(
            hours.detail.as_deref(),
            Some("entered by Ada on 1970-01-01 00:00 UTC")
        );
    }
}
