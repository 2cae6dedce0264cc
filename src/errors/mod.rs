//! The error log's data: failed steps grouped by fingerprint (`fingerprint`),
//! kept up to date in the transaction that records the failure, resolved and
//! reopened by people (a resolved group that fails again reopens by itself).
//! The page comes with the execution monitor; this is its store and API.

pub mod fingerprint;
pub mod handlers;
pub mod page;
mod store;

pub use handlers::routes;
pub use store::{
    ErrorGroup, FailedTask, change_state, groups, latest_failed_tasks, latest_failures, rebuild,
    record,
};

/// One failure, as recorded.
pub struct Failure<'a> {
    pub team_id: &'a str,
    pub agent_id: &'a str,
    pub error_class: &'a str,
    pub error: &'a str,
    pub task_id: Option<&'a str>,
    pub execution_id: &'a str,
    pub workflow_id: &'a str,
    pub at: i64,
}

/// Filters of the error log (all optional).
#[derive(Debug, Default)]
pub struct GroupFilter {
    pub resolved: Option<bool>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub workflow_id: Option<String>,
    pub agent_id: Option<String>,
    /// Failures of HUMMBL's runs, or of calls sent over OpenTelemetry.
    pub source: Option<crate::executions::Source>,
}

/// The step input and the provider's answer of a group's latest failure.
#[derive(Debug, Clone, Default)]
pub struct LatestFailure {
    pub input: Option<String>,
    pub provider_response: Option<String>,
}
