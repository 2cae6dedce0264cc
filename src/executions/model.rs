//! The executions' types: statuses, triggers, retry modes, the records the API
//! answers with and the filters it takes. Decoded from their columns by the
//! store (an unknown value is an error naming it).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Cancelled)
    }

    /// A `status` filter as sent (`running,pending`); empty or absent is none.
    pub fn parse_list(text: Option<&str>) -> Result<Vec<Status>, crate::error::AppError> {
        let Some(text) = text.filter(|text| !text.is_empty()) else {
            return Ok(Vec::new());
        };
        text.split(',')
            .map(|part| {
                part.trim().parse::<Status>().map_err(|()| {
                    crate::error::AppError::validation(
                        "status",
                        format!(
                            "{part:?} is not one of: pending, running, succeeded, failed, cancelled"
                        ),
                    )
                })
            })
            .collect()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = ();

    fn from_str(text: &str) -> Result<Status, ()> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or(())
    }
}

/// Who or what started an execution (what `start` is told).
#[derive(Debug, Clone)]
pub enum Trigger {
    User(String),
    Schedule(String),
    Retry {
        user_id: String,
        of: String,
        from: RetryFrom,
    },
    Demo,
}

impl Trigger {
    pub fn kind(&self) -> TriggerKind {
        match self {
            Trigger::User(_) => TriggerKind::User,
            Trigger::Schedule(_) => TriggerKind::Schedule,
            Trigger::Retry { .. } => TriggerKind::Retry,
            Trigger::Demo => TriggerKind::Demo,
        }
    }

    pub fn user_id(&self) -> Option<&str> {
        match self {
            Trigger::User(id) | Trigger::Retry { user_id: id, .. } => Some(id),
            Trigger::Schedule(_) | Trigger::Demo => None,
        }
    }
}

/// What started an execution, as recorded (`executions.triggered_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    User,
    Schedule,
    Retry,
    Demo,
    /// An external execution: a trace received over OpenTelemetry.
    Otlp,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::User => "user",
            TriggerKind::Schedule => "schedule",
            TriggerKind::Retry => "retry",
            TriggerKind::Demo => "demo",
            TriggerKind::Otlp => "otlp",
        }
    }
}

impl FromStr for TriggerKind {
    type Err = ();

    fn from_str(text: &str) -> Result<TriggerKind, ()> {
        [
            TriggerKind::User,
            TriggerKind::Schedule,
            TriggerKind::Retry,
            TriggerKind::Demo,
            TriggerKind::Otlp,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
        .ok_or(())
    }
}

/// Where an execution comes from: run by HUMMBL, or a trace a team's own
/// service sent over OpenTelemetry (`executions.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Hummbl,
    Otlp,
}

impl Source {
    pub const ALL: [Source; 2] = [Source::Hummbl, Source::Otlp];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Hummbl => "hummbl",
            Source::Otlp => "otlp",
        }
    }

    /// What the pages call it.
    pub fn label(self) -> &'static str {
        match self {
            Source::Hummbl => "Run by HUMMBL",
            Source::Otlp => "OpenTelemetry",
        }
    }
}

impl FromStr for Source {
    type Err = ();

    fn from_str(text: &str) -> Result<Source, ()> {
        Source::ALL
            .into_iter()
            .find(|source| source.as_str() == text)
            .ok_or(())
    }
}

/// Where a retry starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryFrom {
    /// Reuse the outputs of the steps that succeeded; run the rest.
    #[default]
    FailedStep,
    /// Run every step again.
    Start,
}

impl RetryFrom {
    pub fn as_str(self) -> &'static str {
        match self {
            RetryFrom::FailedStep => "failed_step",
            RetryFrom::Start => "start",
        }
    }
}

impl FromStr for RetryFrom {
    type Err = ();

    fn from_str(text: &str) -> Result<RetryFrom, ()> {
        match text {
            "failed_step" => Ok(RetryFrom::FailedStep),
            "start" => Ok(RetryFrom::Start),
            _ => Err(()),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExecutionSummary {
    pub id: String,
    pub workflow_id: String,
    pub workflow_name: String,
    pub workflow_version: i64,
    pub status: Status,
    pub triggered_by: TriggerKind,
    /// `otlp`: an external execution (never cancelled or retried here).
    pub source: Source,
    pub user_id: Option<String>,
    pub retry_of: Option<String>,
    pub retry_from: Option<RetryFrom>,
    pub steps_total: i64,
    pub steps_done: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub cost_micros: i64,
    pub error: Option<String>,
    pub cancelled_by: Option<String>,
    /// How often a dead runner's lease expired and the execution was taken over.
    pub recoveries: i64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
}

impl ExecutionSummary {
    /// The execution as it ended: what its end wrote to the row.
    pub fn ended(&mut self, status: Status, error: Option<&str>, at: i64) {
        self.status = status;
        self.error = error.map(str::to_owned);
        self.completed_at = Some(at);
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StepResult {
    pub id: String,
    /// The step's id in the workflow.
    pub step: String,
    pub agent_id: Option<String>,
    /// A step has the same lifecycle as its execution.
    pub status: Status,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// The prompt as sent.
    pub input: Option<String>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub error_class: Option<String>,
    /// The provider's answer to a failed call, shortened; shown to those who
    /// may manage provider keys (admins, owners), null for other roles.
    pub provider_response: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub cost_micros: i64,
    pub latency_ms: Option<i64>,
    pub attempts: i64,
    /// Set when a retry reused this output from an earlier execution's step.
    pub reused_from: Option<String>,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExecutionDetail {
    #[serde(flatten)]
    pub summary: ExecutionSummary,
    pub input: serde_json::Value,
    pub steps: Vec<StepResult>,
}

impl ExecutionDetail {
    /// The execution as a reader who may not manage provider keys sees it:
    /// without the providers' raw answers. Those are whatever a provider host
    /// said (an internal one, if an admin allowed it), so they go to admins,
    /// like the key test's answer; the step's parsed error stays for everyone.
    pub fn for_reader(mut self, sees_provider_answers: bool) -> ExecutionDetail {
        if !sees_provider_answers {
            for step in &mut self.steps {
                step.provider_response = None;
            }
        }
        self
    }
}

/// Filters of the executions list; all optional.
#[derive(Debug, Default)]
pub struct Filter {
    pub statuses: Vec<Status>,
    pub workflow_id: Option<String>,
    pub user_id: Option<String>,
    pub source: Option<Source>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only executions created before this one (created_at, id): the next page.
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

/// What a cancel request came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Cancelled {
    Done,
    AlreadyFinished(Status),
    NotFound,
}

/// What a retry request came to.
#[derive(Debug)]
pub enum Retried {
    Started(String),
    NotRetryable(Status),
    /// A trace sent over OpenTelemetry: its own service runs it.
    External,
    NotFound,
}
