//! Alert rules (page 8): a team's admins say what is worth waking someone for
//! (an error rate over a window, the month's spend against a budget, a
//! workflow failing N times in a row, an execution running too long), and the
//! `alerts` worker checks each enabled rule once per period (`check`).
//!
//! A rule is `ok` or `firing`. The change is one guarded `UPDATE … WHERE
//! state = 'ok'` (or `'firing'`), and the rule's notifications (alert fired,
//! alert resolved, to the team's admins and the rule's author) and its mail
//! are written in that transaction: a breach fires once, whichever replica saw
//! it first, and a restart forgets nothing because the state is the row.

pub mod check;
pub mod handlers;
pub mod page;
mod store;

use serde::{Deserialize, Serialize};

use crate::auth::{Permission, Principal};
use crate::error::{AppError, AppResult};
use crate::storage::Db;

pub use store::{events, get, list};

/// What a rule watches, and its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Failed out of finished executions (of one workflow, or the whole team)
    /// over the last `window_minutes`, once at least `min_executions` finished.
    ErrorRate {
        /// One workflow; the whole team when absent.
        #[serde(default)]
        workflow_id: Option<String>,
        /// Fires above this percentage (0 < x ≤ 100).
        #[schema(exclusive_minimum = 0, maximum = 100)]
        threshold_percent: f64,
        /// 5 to 10,080 (a week).
        #[schema(minimum = 5, maximum = 10080)]
        window_minutes: i64,
        /// Fewer finished executions in the window never fire (1 to 100,000).
        #[schema(minimum = 1, maximum = 100000)]
        min_executions: i64,
    },
    /// This UTC month's spend in micro-dollars, so far or projected to the
    /// month's end at its run-rate so far.
    Spend {
        /// Micro-dollars (1 USD = 1,000,000), 1 to 10^15.
        #[schema(minimum = 1, maximum = 1000000000000000_i64)]
        budget_micros: i64,
        /// Compare the projection instead of the spend so far.
        #[serde(default)]
        projected: bool,
    },
    /// The workflow's last `failures` finished executions all failed.
    ConsecutiveFailures {
        workflow_id: String,
        /// 1 to 1,000.
        #[schema(minimum = 1, maximum = 1000)]
        failures: i64,
    },
    /// An execution (of one workflow, or any) has been running longer than
    /// `minutes`.
    LongRunning {
        #[serde(default)]
        workflow_id: Option<String>,
        /// 1 to 10,080.
        #[schema(minimum = 1, maximum = 10080)]
        minutes: i64,
    },
}

impl Condition {
    /// The workflow it is about, if one.
    pub fn workflow_id(&self) -> Option<&str> {
        match self {
            Condition::ErrorRate { workflow_id, .. }
            | Condition::LongRunning { workflow_id, .. } => workflow_id.as_deref(),
            Condition::ConsecutiveFailures { workflow_id, .. } => Some(workflow_id),
            Condition::Spend { .. } => None,
        }
    }

    /// Each limit in its range, or a 422 naming the field.
    fn check_limits(&self) -> AppResult<()> {
        let within = |field: &str, value: i64, low: i64, high: i64| {
            if (low..=high).contains(&value) {
                Ok(())
            } else {
                Err(AppError::validation(
                    format!("condition.{field}"),
                    format!("must be {low} to {high}"),
                ))
            }
        };
        match self {
            Condition::ErrorRate {
                threshold_percent,
                window_minutes,
                min_executions,
                ..
            } => {
                if !(threshold_percent.is_finite()
                    && *threshold_percent > 0.0
                    && *threshold_percent <= 100.0)
                {
                    return Err(AppError::validation(
                        "condition.threshold_percent",
                        "must be above 0 and at most 100",
                    ));
                }
                within("window_minutes", *window_minutes, 5, 10_080)?;
                within("min_executions", *min_executions, 1, 100_000)
            }
            Condition::Spend { budget_micros, .. } => {
                within("budget_micros", *budget_micros, 1, 1_000_000_000_000_000)
            }
            Condition::ConsecutiveFailures { failures, .. } => {
                within("failures", *failures, 1, 1_000)
            }
            Condition::LongRunning { minutes, .. } => within("minutes", *minutes, 1, 10_080),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition did not hold at the last check.
    Ok,
    /// It held; a notification went out when it started to.
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Ok => "ok",
            AlertState::Firing => "firing",
        }
    }
}

impl std::str::FromStr for AlertState {
    type Err = ();

    fn from_str(text: &str) -> Result<AlertState, ()> {
        match text {
            "ok" => Ok(AlertState::Ok),
            "firing" => Ok(AlertState::Firing),
            _ => Err(()),
        }
    }
}

/// A rule as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertRule {
    pub id: String,
    pub name: String,
    pub condition: Condition,
    /// Whether firing and resolving also send mail (to those who did not turn
    /// mail off for alerts).
    pub email: bool,
    pub enabled: bool,
    pub state: AlertState,
    /// When it last fired or resolved.
    pub state_changed_at: Option<i64>,
    /// How many times it fired.
    pub fired_count: i64,
    /// What the last check measured (a percentage, micro-dollars, a count, minutes).
    pub last_value: Option<f64>,
    /// The last check in words.
    pub last_summary: Option<String>,
    pub checked_at: Option<i64>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One firing of a rule.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertEvent {
    pub id: String,
    pub fired_at: i64,
    pub fired_value: Option<f64>,
    pub fired_summary: String,
    pub resolved_at: Option<i64>,
    pub resolved_summary: Option<String>,
}

/// A rule's fields, checked.
#[derive(Debug, Clone)]
pub struct RuleFields {
    pub name: String,
    pub condition: Condition,
    pub email: bool,
    pub enabled: bool,
}

/// Checks a rule's fields: the name, the limits, and that a workflow it names
/// is the team's.
pub async fn checked(db: &Db, team_id: &str, fields: RuleFields) -> AppResult<RuleFields> {
    let name = crate::accounts::parse_name("name", &fields.name)?;
    fields.condition.check_limits()?;
    if let Some(workflow_id) = fields.condition.workflow_id()
        && crate::workflows::get(db, team_id, workflow_id)
            .await?
            .is_none()
    {
        return Err(AppError::validation(
            "condition.workflow_id",
            "no such workflow in this team",
        ));
    }
    Ok(RuleFields { name, ..fields })
}

pub async fn create(db: &Db, actor: &Principal, fields: RuleFields) -> AppResult<AlertRule> {
    actor.require(Permission::ManageAlerts)?;
    let fields = checked(db, &actor.team_id, fields).await?;
    store::insert(db, actor.into(), &fields).await
}

pub async fn update(
    db: &Db,
    actor: &Principal,
    id: &str,
    fields: RuleFields,
) -> AppResult<AlertRule> {
    actor.require(Permission::ManageAlerts)?;
    let fields = checked(db, &actor.team_id, fields).await?;
    store::update(db, actor.into(), id, &fields)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn delete(db: &Db, actor: &Principal, id: &str) -> AppResult<()> {
    actor.require(Permission::ManageAlerts)?;
    if store::delete(db, actor.into(), id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// The demo's rules: a monthly budget (projected), the team's error rate, a
/// workflow failing in a row, and runs that hang; checked like any others.
pub async fn seed(db: &Db, team_id: &str, owner: &str, watched: Option<&str>) -> AppResult<()> {
    let mut rules = vec![
        (
            "Monthly budget",
            Condition::Spend {
                budget_micros: 50_000_000,
                projected: true,
            },
        ),
        (
            "Team error rate above 15 %",
            Condition::ErrorRate {
                workflow_id: None,
                threshold_percent: 15.0,
                window_minutes: 60,
                min_executions: 5,
            },
        ),
        (
            "Runs longer than 10 minutes",
            Condition::LongRunning {
                workflow_id: None,
                minutes: 10,
            },
        ),
    ];
    if let Some(workflow_id) = watched {
        rules.push((
            "Weekly brief keeps failing",
            Condition::ConsecutiveFailures {
                workflow_id: workflow_id.to_string(),
                failures: 3,
            },
        ));
    }
    let actor = crate::audit::Actor::user(team_id, owner);
    for (name, condition) in rules {
        let fields = RuleFields {
            name: name.to_string(),
            condition,
            email: false,
            enabled: true,
        };
        store::insert(db, actor, &fields).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_read_as_the_api_writes_them() {
        let rate: Condition = serde_json::from_value(serde_json::json!({
            "kind": "error_rate", "threshold_percent": 20, "window_minutes": 60, "min_executions": 5
        }))
        .expect("error rate");
        assert_eq!(rate.workflow_id(), None);
        assert!(rate.check_limits().is_ok());
        let spend: Condition =
            serde_json::from_value(serde_json::json!({"kind": "spend", "budget_micros": 5}))
                .expect("spend");
        assert_eq!(
            spend,
            Condition::Spend {
                budget_micros: 5,
                projected: false
            }
        );
        for refused in [
            serde_json::json!({"kind": "cpu", "percent": 5}),
            serde_json::json!({"kind": "spend", "budget_micros": 5, "extra": 1}),
            serde_json::json!({"kind": "consecutive_failures", "failures": 3}),
        ] {
            assert!(
                serde_json::from_value::<Condition>(refused.clone()).is_err(),
                "{refused}"
            );
        }
    }

    #[test]
    fn limits_name_the_field() {
        let too_high = Condition::ErrorRate {
            workflow_id: None,
            threshold_percent: 150.0,
            window_minutes: 60,
            min_executions: 1,
        };
        let err = too_high.check_limits().expect_err("150 %");
        assert!(
            matches!(err, AppError::Validation { ref field, .. } if field == "condition.threshold_percent")
        );
        let short = Condition::LongRunning {
            workflow_id: None,
            minutes: 0,
        };
        let err = short.check_limits().expect_err("0 minutes");
        assert!(
            matches!(err, AppError::Validation { ref field, .. } if field == "condition.minutes")
        );
    }
}
