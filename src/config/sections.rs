//! The parts of `Config` that are groups of settings with their defaults:
//! the workers' periods and telemetry's limits.

use std::time::Duration;

/// The periods of the background workers (`workers::table`). Tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct WorkerPeriods {
    /// Expired sessions and idle rate-limit keys.
    pub maintenance: Duration,
    /// Finished minutes of request statistics into `component_metrics`.
    pub request_stats: Duration,
    /// Telemetry retention (`retention_interval_secs`); the first run comes within
    /// `first_retention` of start-up.
    pub retention: Duration,
    pub first_retention: Duration,
    /// The runner looks for work this often when nobody wakes it.
    pub runner_poll: Duration,
    /// With `--demo`, a live demo execution starts about this often.
    pub demo: Duration,
    /// The scheduler looks again this often when neither its timer nor a
    /// change wakes it (schedules another replica changed).
    pub scheduler_poll: Duration,
    /// A slot this late still counts as on time; later, it was missed while
    /// no server ran and the schedule's catch-up policy decides.
    pub schedule_on_time: Duration,
    /// The mail worker looks for due messages this often when nobody wakes it.
    pub mail_poll: Duration,
    /// The mail worker's retry timing.
    pub mail_retry: crate::mail::MailRetry,
    /// Each enabled alert rule is checked once per this period.
    pub alerts: Duration,
    /// Digests whose period ended are looked for this often.
    pub digests: Duration,
    /// Queued OTLP spans are folded this often when nobody wakes the worker
    /// (another replica queued them).
    pub otlp: Duration,
}

impl Default for WorkerPeriods {
    fn default() -> Self {
        WorkerPeriods {
            maintenance: Duration::from_secs(60),
            request_stats: Duration::from_secs(15),
            retention: Duration::from_secs(3600),
            first_retention: Duration::from_secs(30),
            runner_poll: Duration::from_secs(1),
            demo: Duration::from_secs(30),
            scheduler_poll: Duration::from_secs(5),
            schedule_on_time: Duration::from_secs(60),
            mail_poll: Duration::from_secs(5),
            mail_retry: crate::mail::MailRetry::default(),
            alerts: Duration::from_secs(30),
            digests: Duration::from_secs(60),
            otlp: Duration::from_secs(1),
        }
    }
}

/// Telemetry ingestion and retention settings.
#[derive(Debug, Clone, Copy)]
pub struct TelemetryConfig {
    /// Most events or metrics in one request.
    pub max_batch: usize,
    /// Largest `properties`/`metadata` object, serialized.
    pub max_properties_bytes: usize,
    /// Rows waiting for the writer before requests get 503.
    pub queue_rows: usize,
    /// Events and metrics older than this are pruned.
    pub retention_days: u32,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            max_batch: 1000,
            max_properties_bytes: 8192,
            queue_rows: 200_000,
            retention_days: 90,
        }
    }
}
