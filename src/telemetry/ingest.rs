//! The batching writer (group commit). Requests hand their rows to one writer
//! task and wait; the writer gathers whatever is queued (up to `MAX_TX_ROWS`),
//! writes it in a single transaction ([`crate::storage::bulk`]), commits, and only
//! then answers every waiting request. One fsync thus covers many requests.
//!
//! The queue is bounded by a semaphore counted in rows: a request that does not
//! fit is refused at once (503 + Retry-After) instead of growing memory.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::bus::{Bus, EventRun};
use crate::storage::bulk::{Bulk, BulkError, Insert, Param};
use crate::storage::{Db, now_ms};

/// Most rows written in one transaction.
const MAX_TX_ROWS: usize = 10_000;
/// Committed transactions waiting for the live bus.
const PUBLISH_BACKLOG: usize = 8;

/// A `user_actions` row.
#[derive(Debug, Clone)]
pub struct ActionRow {
    pub id: String,
    pub team_id: String,
    pub user_id: Option<String>,
    pub action_type: String,
    pub component_id: String,
    pub payload: Option<String>,
    pub timestamp: i64,
    pub session_id: Option<String>,
    pub external_user_id: Option<String>,
    pub source: super::Source,
}

/// A `component_metrics` row.
#[derive(Debug, Clone)]
pub struct MetricRow {
    pub id: String,
    pub team_id: Option<String>,
    pub component_id: String,
    pub metric_name: String,
    pub value: f64,
    pub metadata: Option<String>,
    pub user_id: Option<String>,
    pub timestamp: i64,
}

/// An `otlp_spans` row: a span accepted by `POST /v1/traces`, queued for the
/// `otlp` worker to fold into its trace's execution.
#[derive(Debug, Clone)]
pub struct SpanRow {
    pub id: String,
    pub team_id: String,
    pub span: crate::otlp::KeptSpan,
}

#[derive(Debug, Default)]
pub struct Rows {
    pub actions: Vec<ActionRow>,
    pub metrics: Vec<MetricRow>,
    pub spans: Vec<SpanRow>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.actions.len() + self.metrics.len() + self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Job {
    rows: Rows,
    done: oneshot::Sender<Result<(), ()>>,
    /// The request's room in the queue, given back when it is answered.
    permits: tokio::sync::OwnedSemaphorePermit,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The queue is full: try again shortly.
    #[error("ingestion queue is full")]
    Busy,
    /// The write failed (logged by the writer).
    #[error("ingestion write failed")]
    Failed,
}

/// The handle requests use; cheap to clone.
#[derive(Clone)]
pub struct Ingestor {
    queue: mpsc::UnboundedSender<Job>,
    room: Arc<Semaphore>,
}

impl Ingestor {
    /// Starts the writer task; it ends when every handle is dropped and the
    /// queue is drained.
    pub fn start(db: Db, bus: Arc<Bus>, max_queued_rows: usize) -> Ingestor {
        let (queue, receiver) = mpsc::unbounded_channel();
        let (published, to_publish) = mpsc::channel(PUBLISH_BACKLOG);
        tokio::spawn(publish_committed(bus, to_publish));
        let writer = Writer {
            db,
            known_components: HashSet::new(),
            published,
        };
        tokio::spawn(writer.run(receiver));
        Ingestor {
            queue,
            room: Arc::new(Semaphore::new(max_queued_rows)),
        }
    }

    /// Rows queued or being written right now.
    pub fn queued_rows(&self, capacity: usize) -> usize {
        capacity.saturating_sub(self.room.available_permits())
    }

    /// Queues rows and waits until they are committed.
    pub async fn write(&self, rows: Rows) -> Result<(), IngestError> {
        if rows.is_empty() {
            return Ok(());
        }
        let wanted = u32::try_from(rows.len()).map_err(|_| IngestError::Busy)?;
        let permits = self
            .room
            .clone()
            .try_acquire_many_owned(wanted)
            .map_err(|_| IngestError::Busy)?;
        let (done, committed) = oneshot::channel();
        self.queue
            .send(Job {
                rows,
                done,
                permits,
            })
            .map_err(|_| IngestError::Failed)?;
        match committed.await {
            Ok(Ok(())) => Ok(()),
            _ => Err(IngestError::Failed),
        }
    }
}

struct Writer {
    db: Db,
    /// Component ids known to exist (saves a lookup per batch).
    known_components: HashSet<String>,
    /// Committed rows, on their way to the live bus.
    published: mpsc::Sender<Arc<Batch>>,
}

/// The rows of one transaction.
struct Batch {
    rows: Vec<Arc<Rows>>,
    /// Components the registry may not know yet.
    new_components: Vec<String>,
    received_at: i64,
}

impl Writer {
    async fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Job>) {
        while let Some(first) = receiver.recv().await {
            let jobs = gather(first, &mut receiver);
            self.write(jobs).await;
        }
    }

    /// Writes the jobs in one transaction, answers each request, and hands the
    /// committed rows to the bus.
    async fn write(&mut self, jobs: Vec<Job>) {
        let (rows, waiting): (Vec<Arc<Rows>>, Vec<_>) = jobs
            .into_iter()
            .map(|job| (Arc::new(job.rows), (job.done, job.permits)))
            .unzip();
        let batch = Arc::new(Batch {
            new_components: self.unknown_components(&rows),
            rows,
            received_at: now_ms(),
        });
        let result = self.db.bulk_write(batch.clone(), write_batch).await;
        if let Err(err) = &result {
            let rows: usize = batch.rows.iter().map(|rows| rows.len()).sum();
            tracing::error!(error = %err, rows, "telemetry write failed");
        }
        let committed = result.is_ok();
        if committed {
            self.known_components
                .extend(batch.new_components.iter().cloned());
        }
        // Answering releases each request's queue room (its permits).
        for (done, _permits) in waiting {
            let _ = done.send(if committed { Ok(()) } else { Err(()) });
        }
        // The bus is fed by its own task, so building the events overlaps
        // the next transaction instead of delaying it. The channel is
        // bounded: a publisher that falls behind slows the writer rather
        // than holding rows in memory without limit.
        if committed && self.published.send(batch).await.is_err() {
            tracing::warn!("telemetry publisher has stopped");
        }
    }

    fn unknown_components(&self, rows: &[Arc<Rows>]) -> Vec<String> {
        let mut unknown: Vec<String> = rows
            .iter()
            .flat_map(|rows| {
                let actions = rows.actions.iter().map(|row| &row.component_id);
                actions.chain(rows.metrics.iter().map(|row| &row.component_id))
            })
            .filter(|id| !self.known_components.contains(id.as_str()))
            .cloned()
            .collect();
        unknown.sort();
        unknown.dedup();
        unknown
    }
}

/// The first job and whatever else is already queued, up to `MAX_TX_ROWS` rows.
fn gather(first: Job, receiver: &mut mpsc::UnboundedReceiver<Job>) -> Vec<Job> {
    let mut queued = first.rows.len();
    let mut jobs = vec![first];
    while queued < MAX_TX_ROWS {
        match receiver.try_recv() {
            Ok(job) => {
                queued += job.rows.len();
                jobs.push(job);
            }
            Err(_) => break,
        }
    }
    jobs
}

/// Components the registry does not know are registered as external ones, so
/// the foreign keys hold and no event is dropped.
const COMPONENTS: Insert<10> = Insert {
    table: "basen_components",
    columns: [
        "id",
        "name",
        "domain",
        "route",
        "transformations",
        "version",
        "enabled",
        "created_at",
        "updated_at",
        "kind",
    ],
    skip_conflicts_on: Some("(id)"),
};

/// The `user_actions` rows ingestion writes (also timed by `examples/sqlite_ceiling`).
pub const ACTIONS: Insert<11> = Insert {
    table: "user_actions",
    columns: [
        "id",
        "team_id",
        "user_id",
        "action_type",
        "component_id",
        "payload",
        "timestamp",
        "session_id",
        "external_user_id",
        "source",
        "received_at",
    ],
    skip_conflicts_on: None,
};

const METRICS: Insert<8> = Insert {
    table: "component_metrics",
    columns: [
        "id",
        "team_id",
        "component_id",
        "metric_name",
        "value",
        "metadata",
        "user_id",
        "timestamp",
    ],
    skip_conflicts_on: None,
};

const SPANS: Insert<20> = Insert {
    table: "otlp_spans",
    columns: [
        "id",
        "team_id",
        "trace_id",
        "span_id",
        "parent_span_id",
        "service",
        "name",
        "start_ms",
        "end_ms",
        "failed",
        "error",
        "error_type",
        "genai",
        "provider",
        "model",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
        "received_at",
    ],
    skip_conflicts_on: None,
};

fn write_batch(batch: &Batch, bulk: &mut Bulk<'_>) -> Result<(), BulkError> {
    let now = Param::Int(batch.received_at);
    bulk.insert(
        &COMPONENTS,
        batch.new_components.iter().map(|id| {
            [
                Param::Text(Some(id)),
                Param::Text(Some(id)),
                Param::Text(Some("external")),
                Param::Text(Some("")),
                Param::Text(Some(r#"["T4"]"#)),
                Param::Text(Some("0")),
                Param::Bool(true),
                now,
                now,
                Param::Text(Some("external")),
            ]
        }),
    )?;
    let actions: Vec<&ActionRow> = batch.rows.iter().flat_map(|rows| &rows.actions).collect();
    bulk.insert(
        &ACTIONS,
        actions.iter().map(|row| {
            [
                Param::Text(Some(&row.id)),
                Param::Text(Some(&row.team_id)),
                Param::Text(row.user_id.as_deref()),
                Param::Text(Some(&row.action_type)),
                Param::Text(Some(&row.component_id)),
                Param::Text(row.payload.as_deref()),
                Param::Int(row.timestamp),
                Param::Text(row.session_id.as_deref()),
                Param::Text(row.external_user_id.as_deref()),
                Param::Text(Some(row.source.as_str())),
                now,
            ]
        }),
    )?;
    // Console users seen active: the roll-up module owns that table and adds
    // them in this same bulk transaction.
    crate::analytics::rollups::add_active_users(
        bulk,
        actions
            .iter()
            .filter_map(|row| Some((row.team_id.as_str(), row.timestamp, row.user_id.as_deref()?))),
    )?;
    crate::analytics::rollups::add_page_viewers(
        bulk,
        actions
            .iter()
            .filter(|row| row.action_type == "page_view")
            .filter_map(|row| {
                Some((
                    row.team_id.as_str(),
                    row.timestamp,
                    row.component_id.as_str(),
                    row.user_id.as_deref()?,
                ))
            }),
    )?;
    let metrics: Vec<&MetricRow> = batch.rows.iter().flat_map(|rows| &rows.metrics).collect();
    bulk.insert(
        &METRICS,
        metrics.iter().map(|row| {
            [
                Param::Text(Some(&row.id)),
                Param::Text(row.team_id.as_deref()),
                Param::Text(Some(&row.component_id)),
                Param::Text(Some(&row.metric_name)),
                Param::Real(row.value),
                Param::Text(row.metadata.as_deref()),
                Param::Text(row.user_id.as_deref()),
                Param::Int(row.timestamp),
            ]
        }),
    )?;
    write_spans(batch, bulk)
}

fn write_spans(batch: &Batch, bulk: &mut Bulk<'_>) -> Result<(), BulkError> {
    let now = Param::Int(batch.received_at);
    let spans: Vec<&SpanRow> = batch.rows.iter().flat_map(|rows| &rows.spans).collect();
    bulk.insert(
        &SPANS,
        spans.iter().map(|row| {
            let span = &row.span;
            let call = span.call.as_ref();
            let tokens = call.map(|call| call.tokens).unwrap_or_default();
            [
                Param::Text(Some(&row.id)),
                Param::Text(Some(&row.team_id)),
                Param::Text(Some(&span.trace_id)),
                Param::Text(Some(&span.span_id)),
                Param::Text(span.parent_span_id.as_deref()),
                Param::Text(Some(&span.service)),
                Param::Text(Some(&span.name)),
                Param::Int(span.start_ms),
                Param::Int(span.end_ms),
                Param::Int(i64::from(span.failed)),
                Param::Text(span.error.as_deref()),
                Param::Text(span.error_type.as_deref()),
                Param::Int(i64::from(call.is_some())),
                Param::Text(call.and_then(|call| call.provider.as_deref())),
                Param::Text(call.and_then(|call| call.model.as_deref())),
                Param::Int(tokens.input),
                Param::Int(tokens.output),
                Param::Int(tokens.cache_read),
                Param::Int(tokens.cache_creation),
                now,
            ]
        }),
    )
}

async fn publish_committed(bus: Arc<Bus>, mut batches: mpsc::Receiver<Arc<Batch>>) {
    while let Some(batch) = batches.recv().await {
        publish(&bus, &batch.rows);
    }
}

/// A `telemetry.event` on the live bus.
#[derive(serde::Serialize)]
struct EventData<'a> {
    id: &'a str,
    component: &'a str,
    action: &'a str,
    timestamp: i64,
    #[serde(rename = "sessionId")]
    session_id: Option<&'a str>,
    #[serde(rename = "userId")]
    user_id: Option<&'a str>,
}

/// A `telemetry.metric` on the live bus.
#[derive(serde::Serialize)]
struct MetricData<'a> {
    component: &'a str,
    metric_name: &'a str,
    value: f64,
    timestamp: i64,
}

/// Consecutive actions of one request and team, as bus events.
struct ActionRun {
    rows: Arc<Rows>,
    range: Range<usize>,
}

impl EventRun for ActionRun {
    fn len(&self) -> usize {
        self.range.len()
    }

    fn json(&self, index: usize) -> String {
        let Some(row) = self.rows.actions.get(self.range.start + index) else {
            return "null".into();
        };
        let data = EventData {
            id: &row.id,
            component: &row.component_id,
            action: &row.action_type,
            timestamp: row.timestamp,
            session_id: row.session_id.as_deref(),
            user_id: row.external_user_id.as_deref().or(row.user_id.as_deref()),
        };
        serde_json::to_string(&data).unwrap_or_else(|_| "null".into())
    }
}

/// Consecutive metrics of one request and team, as bus events.
struct MetricRun {
    rows: Arc<Rows>,
    range: Range<usize>,
}

impl EventRun for MetricRun {
    fn len(&self) -> usize {
        self.range.len()
    }

    fn json(&self, index: usize) -> String {
        let Some(row) = self.rows.metrics.get(self.range.start + index) else {
            return "null".into();
        };
        let data = MetricData {
            component: &row.component_id,
            metric_name: &row.metric_name,
            value: row.value,
            timestamp: row.timestamp,
        };
        serde_json::to_string(&data).unwrap_or_else(|_| "null".into())
    }
}

/// Splits `items` into runs of one team; items without a team are left out.
fn team_runs<'a, T>(
    items: &'a [T],
    team_of: impl Fn(&'a T) -> Option<&'a str>,
) -> Vec<(&'a str, Range<usize>)> {
    let mut runs: Vec<(&str, Range<usize>)> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let Some(team) = team_of(item) else { continue };
        match runs.last_mut() {
            Some((last, range)) if *last == team && range.end == index => range.end += 1,
            _ => runs.push((team, index..index + 1)),
        }
    }
    runs
}

/// Puts committed rows on the bus: one entry per request and team, rendered
/// only if a stream sends them.
fn publish(bus: &Bus, batch: &[Arc<Rows>]) {
    let runs = batch.iter().flat_map(|rows| {
        let actions = team_runs(&rows.actions, |row| Some(row.team_id.as_str()))
            .into_iter()
            .map(|(team, range)| {
                let run: Arc<dyn EventRun> = Arc::new(ActionRun {
                    rows: rows.clone(),
                    range,
                });
                (team.to_owned(), crate::bus::Kind::TelemetryEvent, run)
            });
        let metrics = team_runs(&rows.metrics, |row| row.team_id.as_deref())
            .into_iter()
            .map(|(team, range)| {
                let run: Arc<dyn EventRun> = Arc::new(MetricRun {
                    rows: rows.clone(),
                    range,
                });
                (team.to_owned(), crate::bus::Kind::TelemetryMetric, run)
            });
        actions.chain(metrics).collect::<Vec<_>>()
    });
    bus.publish_runs(runs);
}
