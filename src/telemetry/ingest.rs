//! The batching writer (group commit). Requests hand their rows to one writer
//! task and wait; the writer gathers whatever is queued (up to `MAX_TX_ROWS`),
//! writes it in a single transaction with multi-row INSERTs, commits, and only
//! then answers every waiting request. One fsync thus covers many requests.
//!
//! The queue is bounded by a semaphore counted in rows: a request that does not
//! fit is refused at once (503 + Retry-After) instead of growing memory.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::bus::Bus;
use crate::storage::{Db, Tx, now_ms};

/// Most rows written in one transaction.
const MAX_TX_ROWS: usize = 10_000;
/// Committed transactions waiting for the live bus.
const PUBLISH_BACKLOG: usize = 8;
/// Rows per INSERT statement. Fixed sizes keep the statement cache small.
const CHUNK: usize = 100;

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
    pub source: String,
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

#[derive(Debug, Default)]
pub struct Rows {
    pub actions: Vec<ActionRow>,
    pub metrics: Vec<MetricRow>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.actions.len() + self.metrics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Job {
    rows: Rows,
    done: oneshot::Sender<Result<(), ()>>,
    _permits: tokio::sync::OwnedSemaphorePermit,
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
            known_components: Mutex::new(HashSet::new()),
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
                _permits: permits,
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
    known_components: Mutex<HashSet<String>>,
    /// Committed rows, on their way to the live bus.
    published: mpsc::Sender<Vec<Rows>>,
}

impl Writer {
    async fn run(self, mut receiver: mpsc::UnboundedReceiver<Job>) {
        while let Some(first) = receiver.recv().await {
            let mut jobs = vec![first];
            let mut rows = jobs[0].rows.len();
            while rows < MAX_TX_ROWS {
                match receiver.try_recv() {
                    Ok(job) => {
                        rows += job.rows.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            let result = self.commit(&jobs).await;
            if let Err(err) = &result {
                tracing::error!(error = %err, rows, "telemetry write failed");
            }
            let committed = result.is_ok();
            let mut written = Vec::with_capacity(jobs.len());
            for Job {
                rows,
                done,
                _permits,
            } in jobs
            {
                let _ = done.send(if committed { Ok(()) } else { Err(()) });
                if committed {
                    written.push(rows);
                }
            }
            // The bus is fed by its own task, so building the events overlaps
            // the next transaction instead of delaying it. The channel is
            // bounded: a publisher that falls behind slows the writer rather
            // than holding rows in memory without limit.
            if !written.is_empty() && self.published.send(written).await.is_err() {
                tracing::warn!("telemetry publisher has stopped");
            }
        }
    }

    async fn commit(&self, jobs: &[Job]) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin().await?;
        self.register_components(&mut tx, jobs).await?;
        let actions: Vec<&ActionRow> = jobs.iter().flat_map(|job| &job.rows.actions).collect();
        for chunk in actions.chunks(CHUNK) {
            insert_actions(&self.db, &mut tx, chunk).await?;
        }
        let active: std::collections::BTreeSet<(String, i64, String)> = actions
            .iter()
            .filter_map(|row| {
                let user = row.user_id.clone()?;
                Some((
                    row.team_id.clone(),
                    crate::analytics::rollups::day_of(row.timestamp),
                    user,
                ))
            })
            .collect();
        crate::analytics::rollups::add_active_users(&mut tx, active).await?;
        let metrics: Vec<&MetricRow> = jobs.iter().flat_map(|job| &job.rows.metrics).collect();
        for chunk in metrics.chunks(CHUNK) {
            insert_metrics(&self.db, &mut tx, chunk).await?;
        }
        tx.commit().await?;
        self.remember_components(jobs);
        Ok(())
    }

    fn unknown_components(&self, jobs: &[Job]) -> Vec<String> {
        let Ok(known) = self.known_components.lock() else {
            return Vec::new();
        };
        let mut unknown: Vec<String> = jobs
            .iter()
            .flat_map(|job| {
                let actions = job.rows.actions.iter().map(|row| &row.component_id);
                actions.chain(job.rows.metrics.iter().map(|row| &row.component_id))
            })
            .filter(|id| !known.contains(id.as_str()))
            .cloned()
            .collect();
        unknown.sort();
        unknown.dedup();
        unknown
    }

    /// Components the registry does not know are registered as external ones, so
    /// the foreign keys hold and no event is dropped.
    async fn register_components(&self, tx: &mut Tx, jobs: &[Job]) -> Result<(), sqlx::Error> {
        let now = now_ms();
        for id in self.unknown_components(jobs) {
            sqlx::query(
                "INSERT INTO basen_components (id, name, domain, route, transformations, version, enabled, created_at, updated_at, kind) \
                 VALUES ($1, $1, 'external', '', '[\"T4\"]', '0', $2, $3, $3, 'external') ON CONFLICT (id) DO NOTHING",
            )
            .bind(&id)
            .bind(true)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    fn remember_components(&self, jobs: &[Job]) {
        let unknown = self.unknown_components(jobs);
        if let Ok(mut known) = self.known_components.lock() {
            known.extend(unknown);
        }
    }
}

async fn publish_committed(bus: Arc<Bus>, mut batches: mpsc::Receiver<Vec<Rows>>) {
    while let Some(batch) = batches.recv().await {
        publish(&bus, &batch);
    }
}

fn publish(bus: &Bus, batch: &[Rows]) {
    let events = batch.iter().flat_map(|rows| {
        let actions = rows.actions.iter().map(|row| {
            (
                row.team_id.clone(),
                "telemetry.event",
                serde_json::json!({
                    "id": row.id,
                    "component": row.component_id,
                    "action": row.action_type,
                    "timestamp": row.timestamp,
                    "sessionId": row.session_id,
                    "userId": row.external_user_id.as_ref().or(row.user_id.as_ref()),
                }),
            )
        });
        let metrics = rows.metrics.iter().filter_map(|row| {
            let team = row.team_id.clone()?;
            Some((
                team,
                "telemetry.metric",
                serde_json::json!({
                    "component": row.component_id,
                    "metric_name": row.metric_name,
                    "value": row.value,
                    "timestamp": row.timestamp,
                }),
            ))
        });
        actions.chain(metrics)
    });
    bus.publish_all(events);
}

async fn insert_actions(db: &Db, tx: &mut Tx, rows: &[&ActionRow]) -> Result<(), sqlx::Error> {
    let received_at = now_ms();
    let sql = format!(
        "INSERT INTO user_actions (id, team_id, user_id, action_type, component_id, payload, timestamp, \
         session_id, external_user_id, source, received_at) VALUES {}",
        db.values_list(rows.len(), 11)
    );
    let mut query = sqlx::query(&sql);
    for row in rows {
        query = query
            .bind(row.id.as_str())
            .bind(row.team_id.as_str())
            .bind(row.user_id.as_deref())
            .bind(row.action_type.as_str())
            .bind(row.component_id.as_str())
            .bind(row.payload.as_deref())
            .bind(row.timestamp)
            .bind(row.session_id.as_deref())
            .bind(row.external_user_id.as_deref())
            .bind(row.source.as_str())
            .bind(received_at);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

async fn insert_metrics(db: &Db, tx: &mut Tx, rows: &[&MetricRow]) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO component_metrics (id, team_id, component_id, metric_name, value, metadata, user_id, timestamp) VALUES {}",
        db.values_list(rows.len(), 8)
    );
    let mut query = sqlx::query(&sql);
    for row in rows {
        query = query
            .bind(row.id.as_str())
            .bind(row.team_id.as_deref())
            .bind(row.component_id.as_str())
            .bind(row.metric_name.as_str())
            .bind(row.value)
            .bind(row.metadata.as_deref())
            .bind(row.user_id.as_deref())
            .bind(row.timestamp);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}
