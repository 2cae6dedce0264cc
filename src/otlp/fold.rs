//! The `otlp` worker: folds queued spans into their traces' executions.
//!
//! One tick takes the oldest queued spans (at most [`BATCH`]) in one
//! transaction and, per trace: widens the trace's frame; if the trace has a
//! model call (now or before), makes or locks its external execution, takes
//! it out of the roll-ups, records each new call as a step (priced from the
//! team's price table at the call's time; its failure into the error log),
//! sets the execution's totals and status from all its steps, and adds it to
//! the roll-ups again. Then the spans leave the queue. A span sent twice (an
//! exporter's retry) is a step already recorded and adds nothing.

use std::collections::{BTreeMap, HashMap};

use super::store::{self, Frame, FrameUpdate, NewStep, QueuedSpan};
use crate::app::AppState;
use crate::prices::Price;
use crate::storage::{Db, Tx, now_ms};

/// Most spans folded in one transaction.
const BATCH: i64 = 250;
/// A trace's frame is forgotten this long after its last span.
const FRAME_KEPT_MS: i64 = 3_600_000;

pub async fn tick(state: AppState) -> anyhow::Result<u64> {
    let folded = fold(&state).await?;
    state.otlp.folded(folded);
    // Counted again now and then while there may be a backlog (another
    // replica may have folded this one's spans), so a refusal never outlives it.
    let now = now_ms();
    if state.otlp.backlog() > 0 && state.otlp.count_due(now) {
        state
            .otlp
            .counted(store::queue_length(&state.db).await?, now);
    }
    if folded as i64 == BATCH {
        // More are waiting: come back at once rather than after the period.
        state.otlp.wake();
    }
    store::prune_frames(&state.db, now_ms() - FRAME_KEPT_MS).await?;
    Ok(folded as u64)
}

/// Folds one batch; returns how many spans it took off the queue.
async fn fold(state: &AppState) -> Result<usize, sqlx::Error> {
    let db = &state.db;
    let mut tx = db.begin_write().await?;
    let spans = store::queued(&mut tx, db, BATCH).await?;
    if spans.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    let mut prices = Prices::default();
    // The service's workflow, per (team, service) of this fold.
    let mut workflows: HashMap<(String, String), String> = HashMap::new();
    // (team, execution) of every execution changed, announced after commit.
    let mut executions = Vec::new();
    let mut told = crate::notifications::Created::default();
    for ((team_id, trace_id), trace) in by_trace(&spans) {
        let frame = store::widen_frame(&mut tx, team_id, trace_id, &frame_update(&trace)).await?;
        let has_call = trace.iter().any(|span| span.genai != 0);
        if !has_call
            && store::execution_of(&mut tx, team_id, trace_id)
                .await?
                .is_none()
        {
            continue;
        }
        let execution_id = fold_trace(
            &mut tx,
            db,
            &mut prices,
            &mut workflows,
            &trace,
            &frame,
            &mut told,
        )
        .await?;
        executions.push((team_id.to_string(), execution_id));
    }
    let ids: Vec<&str> = spans.iter().map(|span| span.id.as_str()).collect();
    store::dequeue(&mut tx, &ids).await?;
    tx.commit().await?;
    told.announce(&state.bus);
    for (team_id, id) in &executions {
        crate::executions::publish(db, &state.bus, team_id, id).await;
    }
    Ok(spans.len())
}

/// One trace's spans of this fold, into its execution; returns its id.
async fn fold_trace(
    tx: &mut Tx,
    db: &Db,
    prices: &mut Prices,
    workflows: &mut HashMap<(String, String), String>,
    trace: &[&QueuedSpan],
    frame: &Frame,
    told: &mut crate::notifications::Created,
) -> Result<String, sqlx::Error> {
    let first = trace[0];
    let (team_id, trace_id) = (first.team_id.as_str(), first.trace_id.as_str());
    let service = (team_id.to_string(), frame.service.clone());
    let workflow_id = match workflows.get(&service) {
        Some(id) => id.clone(),
        None => {
            let id = store::service_workflow(tx, team_id, &frame.service).await?;
            workflows.insert(service, id.clone());
            id
        }
    };
    let (execution_id, status) =
        store::lock_execution(tx, team_id, trace_id, &workflow_id, frame).await?;
    // A new execution (still `running`) was never added to the roll-ups.
    if status != "running" {
        crate::analytics::rollups::remove_execution(tx, &execution_id).await?;
    }
    let mut steps = Vec::new();
    for span in trace.iter().filter(|span| span.genai != 0) {
        let usage = super::mapping::usage(super::mapping::Tokens {
            input: span.input_tokens,
            output: span.output_tokens,
            cache_read: span.cache_read_tokens,
            cache_creation: span.cache_creation_tokens,
        });
        let cost_micros = prices
            .at(db, span)
            .await?
            .map(|price| crate::prices::cost_micros(usage, price))
            .unwrap_or(0);
        steps.push(NewStep {
            execution_id: &execution_id,
            span,
            usage,
            cost_micros,
        });
    }
    let recorded = store::insert_steps(tx, &steps).await?;
    let names: Vec<&str> = recorded.iter().map(|(name, _)| name.as_str()).collect();
    crate::analytics::rollups::add_steps(tx, &execution_id, &names).await?;
    let mut first_error = None;
    for (span_id, task_id) in &recorded {
        let Some(span) = trace
            .iter()
            .find(|span| &span.span_id == span_id && span.failed != 0)
        else {
            continue;
        };
        let error = span.error.as_deref().unwrap_or("the call failed");
        first_error.get_or_insert_with(|| error.to_string());
        let failure = crate::errors::Failure {
            team_id,
            agent_id: "",
            error_class: span.error_type.as_deref().unwrap_or("error"),
            error,
            task_id: Some(task_id),
            execution_id: &execution_id,
            workflow_id: &workflow_id,
            at: span.end_ms,
        };
        if let Some(reopened) = crate::errors::record(tx, &failure).await? {
            told.extend(
                crate::notifications::producers::error_reopened_in(
                    tx,
                    team_id,
                    &reopened.message,
                    reopened.resolved_by.as_deref(),
                )
                .await?,
            );
        }
    }
    let error = first_error.or_else(|| frame.root_error.clone());
    let input = serde_json::json!({
        "trace_id": trace_id,
        "service": frame.service,
        "root_span": frame.root_name,
    })
    .to_string();
    store::refresh_execution(tx, &execution_id, frame, &input, error.as_deref()).await?;
    crate::analytics::rollups::add_execution(tx, &execution_id).await?;
    Ok(execution_id)
}

/// The spans grouped by (team, trace), in a stable order.
fn by_trace(spans: &[QueuedSpan]) -> BTreeMap<(&str, &str), Vec<&QueuedSpan>> {
    let mut traces: BTreeMap<(&str, &str), Vec<&QueuedSpan>> = BTreeMap::new();
    for span in spans {
        traces
            .entry((span.team_id.as_str(), span.trace_id.as_str()))
            .or_default()
            .push(span);
    }
    traces
}

/// What this fold's spans of one trace say about its frame.
fn frame_update(trace: &[&QueuedSpan]) -> FrameUpdate {
    let root = trace.iter().find(|span| span.parent_span_id.is_none());
    let service = root.unwrap_or(&trace[0]).service.clone();
    FrameUpdate {
        service,
        root_name: root.map(|span| span.name.clone()),
        root_failed: root.is_some_and(|span| span.failed != 0),
        root_error: root.and_then(|span| span.error.clone()),
        started_at: trace
            .iter()
            .map(|span| span.start_ms)
            .min()
            .unwrap_or_default(),
        ended_at: trace
            .iter()
            .map(|span| span.end_ms)
            .max()
            .unwrap_or_default(),
    }
}

/// Prices looked up once per team, provider, model and minute of a fold.
#[derive(Default)]
struct Prices(HashMap<(String, String, String, i64), Option<Price>>);

impl Prices {
    async fn at(&mut self, db: &Db, span: &QueuedSpan) -> Result<Option<Price>, sqlx::Error> {
        let Some(model) = span.model.as_deref() else {
            return Ok(None);
        };
        let provider = span.provider.as_deref().unwrap_or("");
        let key = (
            span.team_id.clone(),
            provider.to_string(),
            model.to_string(),
            span.start_ms / 60_000,
        );
        if let Some(price) = self.0.get(&key) {
            return Ok(*price);
        }
        let price =
            crate::prices::price_at(db, &span.team_id, provider, model, span.start_ms).await?;
        self.0.insert(key, price);
        Ok(price)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Usage;

    fn queued(span_id: &str, parent: Option<&str>, start: i64, end: i64) -> QueuedSpan {
        QueuedSpan {
            id: span_id.into(),
            team_id: "team".into(),
            trace_id: "trace".into(),
            span_id: span_id.into(),
            parent_span_id: parent.map(Into::into),
            service: format!("svc-{span_id}"),
            name: format!("span {span_id}"),
            start_ms: start,
            end_ms: end,
            failed: 0,
            error: None,
            error_type: None,
            genai: 0,
            provider: None,
            model: None,
            input_tokens: 0,
            output_tokens: 0,
            cache_read_tokens: 0,
            cache_creation_tokens: 0,
        }
    }

    #[test]
    fn the_root_names_the_frame_and_every_span_widens_it() {
        let child = queued("b", Some("a"), 90, 300);
        let root = queued("a", None, 100, 250);
        let update = frame_update(&[&child, &root]);
        assert_eq!(update.root_name.as_deref(), Some("span a"));
        assert_eq!(update.service, "svc-a");
        assert_eq!((update.started_at, update.ended_at), (90, 300));
        let without_root = frame_update(&[&child]);
        assert_eq!(without_root.root_name, None);
        assert_eq!(without_root.service, "svc-b");
    }

    #[test]
    fn usage_of_a_queued_call_takes_the_cache_out_of_the_input() {
        let usage = super::super::mapping::usage(super::super::mapping::Tokens {
            input: 500,
            output: 20,
            cache_read: 100,
            cache_creation: 0,
        });
        assert_eq!(
            usage,
            Usage {
                input: 400,
                output: 20,
                cached: 100
            }
        );
    }
}
