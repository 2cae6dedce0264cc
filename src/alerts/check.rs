//! The `alerts` worker: each tick claims the enabled rules due for a check,
//! measures each one's condition, and moves the rule between `ok` and
//! `firing` when the measurement says so. The move, its firing record, the
//! notifications and their mail share one transaction, and the move is a
//! guarded update: a breach seen by two replicas fires once.

use super::store::{self, TeamRule};
use super::{AlertState, Condition};
use crate::app::AppState;
use crate::notifications::{Created, NewNotification, NotificationType};
use crate::storage::{Db, now_ms};
use crate::web::format::usd_cents;

/// Rules one tick checks at most (the rest wait for the next tick).
const BATCH: i64 = 200;

const MINUTE_MS: i64 = 60_000;

/// What a check saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    /// Whether the condition holds.
    pub breached: bool,
    /// The number compared (a percentage, micro-dollars, a count, minutes).
    pub value: Option<f64>,
    /// The check in words, for the notification and the rule's page.
    pub summary: String,
    /// Where to look in the console.
    pub link: String,
}

pub async fn tick(state: AppState) -> anyhow::Result<u64> {
    let period = i64::try_from(state.config.workers.alerts.as_millis()).unwrap_or(i64::MAX / 2);
    let due = store::claim_due(&state.db, period, BATCH).await?;
    let mut moved = 0;
    for rule in due {
        match check_one(&state, &rule).await {
            Ok(true) => moved += 1,
            Ok(false) => {}
            Err(err) => tracing::warn!(alert = %rule.rule.id, error = %err, "alert check failed"),
        }
    }
    Ok(moved)
}

/// Measures one rule and fires or resolves it; whether its state moved.
async fn check_one(state: &AppState, found: &TeamRule) -> anyhow::Result<bool> {
    let rule = &found.rule;
    let measure = measure(&state.db, &found.team_id, &rule.condition, now_ms()).await?;
    let to = if measure.breached {
        AlertState::Firing
    } else {
        AlertState::Ok
    };
    if to == rule.state {
        store::checked(&state.db, &rule.id, measure.value, &measure.summary).await?;
        return Ok(false);
    }
    let mut tx = state.db.begin().await?;
    if !store::set_state_in(&mut tx, &rule.id, to, measure.value, &measure.summary).await? {
        // Another replica moved it first: its notifications went out.
        tx.rollback().await?;
        return Ok(false);
    }
    let (kind, title) = match to {
        AlertState::Firing => {
            store::open_event_in(
                &mut tx,
                &found.team_id,
                &rule.id,
                measure.value,
                &measure.summary,
            )
            .await?;
            (
                NotificationType::AlertFired,
                format!("Alert: {}", rule.name),
            )
        }
        AlertState::Ok => {
            store::close_event_in(&mut tx, &rule.id, &measure.summary).await?;
            (
                NotificationType::AlertResolved,
                format!("Resolved: {}", rule.name),
            )
        }
    };
    let mut people = crate::notifications::team_admins_in(&mut tx, &found.team_id).await?;
    people.extend(rule.created_by.iter().cloned());
    let recipients =
        crate::notifications::members_among_in(&mut tx, &found.team_id, &people).await?;
    let new = NewNotification {
        team_id: &found.team_id,
        kind,
        title,
        message: measure.summary.clone(),
        link: Some(measure.link.clone()),
        mail_by_default: rule.email,
    };
    let told: Created = crate::notifications::notify_in(&mut tx, &new, &recipients).await?;
    tx.commit().await?;
    if told.mailed() {
        state.mailer.wake();
    }
    told.announce(&state.bus);
    Ok(true)
}

/// Measures `condition` for the team at `now`.
pub async fn measure(
    db: &Db,
    team_id: &str,
    condition: &Condition,
    now: i64,
) -> anyhow::Result<Measure> {
    let measure = match condition {
        Condition::ErrorRate {
            workflow_id,
            threshold_percent,
            window_minutes,
            min_executions,
        } => {
            let since = now - window_minutes * MINUTE_MS;
            let (finished, failed) =
                store::finished_since(db, team_id, workflow_id.as_deref(), since).await?;
            let what = subject(db, team_id, workflow_id.as_deref()).await?;
            error_rate(
                &what,
                finished,
                failed,
                *threshold_percent,
                *window_minutes,
                *min_executions,
            )
            .linked(workflow_link(workflow_id.as_deref(), "/logs/errors"))
        }
        Condition::Spend {
            budget_micros,
            projected,
        } => {
            let (spent, projection) = month_spend(db, team_id, now).await?;
            spend(spent, projection, *budget_micros, *projected)
        }
        Condition::ConsecutiveFailures {
            workflow_id,
            failures,
        } => {
            let outcomes = store::latest_outcomes(db, team_id, workflow_id, *failures).await?;
            let what = subject(db, team_id, Some(workflow_id)).await?;
            streak(&what, &outcomes, *failures).linked(format!("/monitor?workflow={workflow_id}"))
        }
        Condition::LongRunning {
            workflow_id,
            minutes,
        } => {
            let running = store::running_since(
                db,
                team_id,
                workflow_id.as_deref(),
                now - minutes * MINUTE_MS,
            )
            .await?;
            long_running(&running, *minutes, now)
        }
    };
    Ok(measure)
}

impl Measure {
    fn linked(self, link: String) -> Measure {
        Measure { link, ..self }
    }
}

fn workflow_link(workflow_id: Option<&str>, otherwise: &str) -> String {
    match workflow_id {
        Some(id) => format!("/workflows/{id}"),
        None => otherwise.to_string(),
    }
}

/// "Workflow Nightly report" or "The team".
async fn subject(db: &Db, team_id: &str, workflow_id: Option<&str>) -> anyhow::Result<String> {
    let Some(workflow_id) = workflow_id else {
        return Ok("The team".into());
    };
    let workflow = crate::workflows::get(db, team_id, workflow_id).await?;
    Ok(match workflow {
        Some(workflow) => workflow.name,
        None => format!("Workflow {workflow_id}"),
    })
}

fn error_rate(
    what: &str,
    finished: i64,
    failed: i64,
    threshold_percent: f64,
    window_minutes: i64,
    min_executions: i64,
) -> Measure {
    let rate = if finished == 0 {
        0.0
    } else {
        failed as f64 * 100.0 / finished as f64
    };
    let counted = finished >= min_executions;
    let summary = if counted {
        format!(
            "{what}: {rate:.1} % of executions failed in the last {window_minutes} min ({failed} of {finished}; the limit is {threshold_percent} %)"
        )
    } else {
        format!(
            "{what}: {finished} executions finished in the last {window_minutes} min, fewer than the {min_executions} the rule needs"
        )
    };
    Measure {
        breached: counted && rate > threshold_percent,
        value: Some(rate),
        summary,
        link: String::new(),
    }
}

/// This UTC month's spend so far, and its straight projection to the month's
/// end (a UTC month starts on the hour, so the period starts with it).
async fn month_spend(db: &Db, team_id: &str, now: i64) -> anyhow::Result<(i64, i64)> {
    let (period, month_days) = crate::analytics::page::month_to_date(chrono_tz::Tz::UTC, now);
    let totals =
        crate::analytics::totals(db, team_id, period, crate::analytics::rollups::Bucket::Hour)
            .await?;
    let month = crate::analytics::page::MonthCost {
        cost_micros: totals.cost_micros,
        elapsed_days: ((now - period.from) as f64 / 86_400_000.0).max(1.0 / 24.0),
        month_days,
    };
    Ok((totals.cost_micros, month.projection_micros()))
}

fn spend(spent: i64, projection: i64, budget_micros: i64, projected: bool) -> Measure {
    let budget = usd_cents(budget_micros);
    let (compared, summary) = if projected {
        (
            projection,
            format!(
                "This month's spend is projected at {} (so far {}); the budget is {budget}",
                usd_cents(projection),
                usd_cents(spent)
            ),
        )
    } else {
        (
            spent,
            format!(
                "This month's spend is {}; the budget is {budget}",
                usd_cents(spent)
            ),
        )
    };
    Measure {
        breached: compared > budget_micros,
        value: Some(compared as f64),
        summary,
        link: "/analytics/tokens".into(),
    }
}

fn streak(what: &str, outcomes: &[String], failures: i64) -> Measure {
    let run = outcomes
        .iter()
        .take_while(|status| *status == "failed")
        .count();
    let run = i64::try_from(run).unwrap_or(i64::MAX);
    let summary = if run == 0 {
        format!("{what}: its latest finished execution succeeded")
    } else {
        let times = if run == 1 { "time" } else { "times" };
        format!("{what} failed {run} {times} in a row (the limit is {failures})")
    };
    Measure {
        breached: run >= failures,
        value: Some(run as f64),
        summary,
        link: String::new(),
    }
}

fn long_running(running: &[(String, i64)], minutes: i64, now: i64) -> Measure {
    let Some((oldest, started_at)) = running.first() else {
        return Measure {
            breached: false,
            value: Some(0.0),
            summary: format!("No execution has been running longer than {minutes} min"),
            link: "/monitor?status=running".into(),
        };
    };
    let longest = (now - started_at) as f64 / MINUTE_MS as f64;
    let count = running.len();
    let many = if count == 1 {
        "1 execution has".to_string()
    } else {
        format!("{count} executions have")
    };
    Measure {
        breached: true,
        value: Some(longest),
        summary: format!(
            "{many} been running longer than {minutes} min (the oldest for {longest:.0} min)"
        ),
        link: if count == 1 {
            format!("/monitor/{oldest}")
        } else {
            "/monitor?status=running".into()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_rate_needs_enough_executions_and_must_exceed_the_limit() {
        assert!(error_rate("The team", 10, 3, 20.0, 60, 5).breached);
        assert!(
            !error_rate("The team", 10, 2, 20.0, 60, 5).breached,
            "at the limit is not above it"
        );
        let few = error_rate("The team", 3, 3, 20.0, 60, 5);
        assert!(!few.breached);
        assert!(few.summary.contains("fewer than the 5"), "{}", few.summary);
        assert_eq!(error_rate("The team", 0, 0, 20.0, 60, 0).value, Some(0.0));
    }

    #[test]
    fn spend_compares_the_spend_or_its_projection() {
        assert!(!spend(40_000_000, 120_000_000, 100_000_000, false).breached);
        let projected = spend(40_000_000, 120_000_000, 100_000_000, true);
        assert!(projected.breached);
        assert!(
            projected.summary.contains("$120.00"),
            "{}",
            projected.summary
        );
    }

    #[test]
    fn a_streak_counts_failures_from_the_newest() {
        let statuses = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(streak("Nightly", &statuses(&["failed", "failed", "failed"]), 3).breached);
        assert!(!streak("Nightly", &statuses(&["failed", "failed"]), 3).breached);
        let broken = streak("Nightly", &statuses(&["succeeded", "failed", "failed"]), 2);
        assert!(!broken.breached);
        assert_eq!(broken.value, Some(0.0));
    }

    #[test]
    fn long_running_names_the_oldest() {
        let now = 10 * MINUTE_MS;
        let one = long_running(&[("e-1".into(), 0)], 5, now);
        assert!(one.breached);
        assert_eq!(one.link, "/monitor/e-1");
        assert!(one.summary.contains("for 10 min"), "{}", one.summary);
        assert!(!long_running(&[], 5, now).breached);
    }
}
