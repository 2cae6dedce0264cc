//! Generated history for the demo team and for benchmarks: executions with their
//! steps (realistic token counts, latencies, prices and provider errors, a daily
//! and weekly rhythm) and console page views, written with multi-row INSERTs in
//! large transactions so a million executions take minutes, not hours.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::runtime::{DemoRuntime, sample_input};
use crate::providers::Usage;
use crate::storage::{Db, new_id};

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Executions per transaction.
const CHUNK: usize = 500;

#[derive(Debug, Clone)]
pub struct HistorySpec {
    pub executions: usize,
    /// Console page-view events to add.
    pub events: usize,
    /// Spread over this many days before `end_ms`.
    pub days: i64,
    pub end_ms: i64,
    pub seed: u64,
}

/// How an agent's calls look: (input tokens, output tokens, latency ms) ranges.
fn profile(model: &str) -> ((i64, i64), (i64, i64), (i64, i64)) {
    match model {
        m if m.starts_with("gpt-4.1-nano") => ((200, 600), (1, 6), (250, 900)),
        m if m.starts_with("gpt-4o-mini") => ((800, 2500), (100, 320), (600, 2200)),
        m if m.starts_with("gpt-4o") => ((1500, 4200), (400, 1100), (1500, 6500)),
        m if m.starts_with("claude-sonnet") => ((1200, 3200), (500, 1300), (2000, 9000)),
        m if m.starts_with("claude-3-5-haiku") => ((900, 2600), (150, 420), (800, 3200)),
        _ => ((600, 1600), (200, 650), (3000, 12_000)),
    }
}

/// Provider failures as they appear: (class, error, provider body). Numbers
/// vary per occurrence, as real ones do.
fn provider_error(rng: &mut StdRng, model: &str) -> (&'static str, String, Option<String>) {
    let anthropic = model.starts_with("claude");
    match rng.random_range(0..10) {
        0..=3 if !anthropic => {
            let used = rng.random_range(27_000..30_000);
            let wait = rng.random_range(200..3000) as f64 / 1000.0;
            let message = format!(
                "Rate limit reached for {model} in organization org-demo on tokens per min (TPM): Limit 30000, Used {used}, Requested {}. Please try again in {wait:.3}s.",
                rng.random_range(800..2500)
            );
            let body = serde_json::json!({"error": {"message": message, "type": "tokens", "param": null, "code": "rate_limit_exceeded"}});
            (
                "rate_limited",
                format!("rate limited by the provider: {message}"),
                Some(body.to_string()),
            )
        }
        0..=4 => {
            let body =
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
            (
                "provider_error",
                "provider error (529): Overloaded".into(),
                Some(body.into()),
            )
        }
        5..=6 => {
            let message =
                "The server had an error while processing your request. Sorry about that!";
            let body = serde_json::json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}});
            (
                "provider_error",
                format!("provider error (500): {message}"),
                Some(body.to_string()),
            )
        }
        7 => {
            let tokens = rng.random_range(128_100..140_000);
            let message = format!(
                "This model's maximum context length is 128000 tokens. However, your messages resulted in {tokens} tokens. Please reduce the length of the messages."
            );
            let body = serde_json::json!({"error": {"message": message, "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}});
            (
                "request_rejected",
                format!("the provider rejected the request (400): {message}"),
                Some(body.to_string()),
            )
        }
        _ => (
            "timeout",
            "no answer from the provider within 60s".into(),
            None,
        ),
    }
}

/// Relative activity at an hour of a weekday (0 = Monday): office hours peak.
fn activity(hour: i64, weekday: i64) -> f64 {
    let day = if weekday >= 5 { 0.25 } else { 1.0 };
    let hour_weight = match hour {
        0..=5 => 0.08,
        6..=7 => 0.3,
        8..=11 => 1.0,
        12 => 0.7,
        13..=16 => 0.95,
        17..=19 => 0.5,
        _ => 0.2,
    };
    day * hour_weight
}

/// A moment in the range, drawn with the daily and weekly rhythm (UTC).
fn moment(rng: &mut StdRng, spec: &HistorySpec) -> i64 {
    let start = spec.end_ms - spec.days * DAY_MS;
    loop {
        let at = rng.random_range(start..spec.end_ms);
        let hour = (at / 3_600_000) % 24;
        // 1970-01-01 was a Thursday (weekday 3).
        let weekday = (at / DAY_MS + 3) % 7;
        if rng.random::<f64>() < activity(hour, weekday) {
            return at;
        }
    }
}

enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
}

fn text(value: impl Into<String>) -> Arg {
    Arg::Text(Some(value.into()))
}

fn int(value: i64) -> Arg {
    Arg::Int(Some(value))
}

/// One multi-row INSERT of `rows` (each `columns` long).
async fn insert(
    db: &Db,
    tx: &mut crate::storage::Tx,
    head: &str,
    columns: usize,
    rows: Vec<Arg>,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "{head} VALUES {}",
        db.values_list(rows.len() / columns, columns)
    );
    let mut query = sqlx::query(&sql);
    for arg in rows {
        query = match arg {
            Arg::Text(value) => query.bind(value),
            Arg::Int(value) => query.bind(value),
        };
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

const EXECUTION_HEAD: &str = "INSERT INTO executions (id, team_id, workflow_id, workflow_version, status, input, error, \
    triggered_by, user_id, created_at, started_at, completed_at, steps_total, steps_done, input_tokens, output_tokens, \
    cached_tokens, cost_micros, cancelled_by, updated_at)";
const EXECUTION_COLUMNS: usize = 20;
const STEP_HEAD: &str = "INSERT INTO task_results (id, execution_id, team_id, task_name, agent_id, status, input, output, \
    error, started_at, completed_at, provider, model, input_tokens, output_tokens, cached_tokens, cost_micros, latency_ms, \
    attempts, error_class, provider_response)";
const STEP_COLUMNS: usize = 21;
/// Rows per task_results statement (SQLite allows 32766 parameters).
const STEP_ROWS_PER_STATEMENT: usize = 1000;

/// Writes `spec.executions` executions of the demo workflows (and
/// `spec.events` page views) for `team_id`, calling `progress` per chunk.
pub async fn generate(
    db: &Db,
    team_id: &str,
    users: &[String],
    runtime: &DemoRuntime,
    spec: &HistorySpec,
    progress: impl Fn(usize),
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !users.is_empty() && !runtime.workflows.is_empty(),
        "nothing to generate with"
    );
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut done = 0;
    while done < spec.executions {
        let count = CHUNK.min(spec.executions - done);
        let mut executions = Vec::with_capacity(count * EXECUTION_COLUMNS);
        let mut steps = Vec::with_capacity(count * 4 * STEP_COLUMNS);
        for n in 0..count {
            one_execution(
                &mut rng,
                team_id,
                users,
                runtime,
                spec,
                (done + n) as u64,
                &mut executions,
                &mut steps,
            );
        }
        let mut tx = db.begin().await?;
        insert(db, &mut tx, EXECUTION_HEAD, EXECUTION_COLUMNS, executions).await?;
        while !steps.is_empty() {
            let take = (STEP_ROWS_PER_STATEMENT * STEP_COLUMNS).min(steps.len());
            let rest = steps.split_off(take);
            insert(db, &mut tx, STEP_HEAD, STEP_COLUMNS, steps).await?;
            steps = rest;
        }
        tx.commit().await?;
        done += count;
        progress(done);
    }
    page_views(db, team_id, users, spec, &mut rng).await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn one_execution(
    rng: &mut StdRng,
    team_id: &str,
    users: &[String],
    runtime: &DemoRuntime,
    spec: &HistorySpec,
    n: u64,
    executions: &mut Vec<Arg>,
    steps: &mut Vec<Arg>,
) {
    let pick = rng.random_range(0..100);
    let workflow = &runtime.workflows[match pick {
        0..=44 => 0,
        45..=69 => 2 % runtime.workflows.len(),
        70..=84 => 3 % runtime.workflows.len(),
        _ => 1 % runtime.workflows.len(),
    }];
    let created = moment(rng, spec);
    let started = created + rng.random_range(20..400);
    let scheduled = rng.random_bool(0.25);
    let user = (!scheduled).then(|| users[rng.random_range(0..users.len())].clone());
    let roll = rng.random::<f64>();
    let failing_step = (roll < 0.055).then(|| rng.random_range(0..workflow.steps.len()));
    let cancelled_after = (failing_step.is_none() && roll < 0.065).then_some(0usize);
    let execution_id = new_id();
    let mut finish_of: Vec<(String, i64)> = Vec::new();
    let mut totals = Usage::default();
    let mut cost = 0i64;
    let mut done_steps = 0i64;
    let mut status = "succeeded";
    let mut error: Option<String> = None;
    let mut end = started;
    for (index, (step_id, agent_index)) in workflow.steps.iter().enumerate() {
        let agent = &runtime.agents[*agent_index];
        let ((input_lo, input_hi), (output_lo, output_hi), (latency_lo, latency_hi)) =
            profile(&agent.model);
        let begin = finish_of.iter().map(|(_, at)| *at).max().unwrap_or(started);
        if cancelled_after.is_some_and(|after| index > after) {
            let at = begin + rng.random_range(500..5000);
            push_step(
                steps,
                team_id,
                &execution_id,
                step_id,
                &agent.id,
                &agent.model,
                "cancelled",
                begin,
                at,
                Usage::default(),
                0,
                None,
                None,
            );
            status = "cancelled";
            error = Some("cancelled by a user".into());
            end = at;
            break;
        }
        let latency = rng.random_range(latency_lo..=latency_hi);
        let at = begin + latency;
        if failing_step == Some(index) {
            let (class, message, body) = provider_error(rng, &agent.model);
            push_step(
                steps,
                team_id,
                &execution_id,
                step_id,
                &agent.id,
                &agent.model,
                "failed",
                begin,
                at,
                Usage::default(),
                0,
                Some((class, message.clone())),
                body,
            );
            status = "failed";
            error = Some(format!("step {step_id}: {message}"));
            end = at;
            break;
        }
        let input = rng.random_range(input_lo..=input_hi);
        let cached = if rng.random_bool(0.35) {
            input * rng.random_range(30..60) / 100
        } else {
            0
        };
        let usage = Usage {
            input: input - cached,
            output: rng.random_range(output_lo..=output_hi),
            cached,
        };
        let step_cost = crate::prices::default_price(&agent.model)
            .map_or(0, |price| crate::prices::cost_micros(usage, price));
        push_step(
            steps,
            team_id,
            &execution_id,
            step_id,
            &agent.id,
            &agent.model,
            "succeeded",
            begin,
            at,
            usage,
            step_cost,
            None,
            None,
        );
        totals.input += usage.input;
        totals.output += usage.output;
        totals.cached += usage.cached;
        cost += step_cost;
        done_steps += 1;
        finish_of.push((step_id.clone(), at));
        end = end.max(at);
    }
    let cancelled_by =
        (status == "cancelled").then(|| user.clone().unwrap_or_else(|| users[0].clone()));
    executions.extend([
        text(execution_id),
        text(team_id),
        text(workflow.id.clone()),
        int(1),
        text(status),
        text(sample_input(&workflow.name, n).to_string()),
        Arg::Text(error),
        text(if scheduled { "schedule" } else { "user" }),
        Arg::Text(user),
        int(created),
        int(started),
        int(end),
        int(workflow.steps.len() as i64),
        int(done_steps),
        int(totals.input),
        int(totals.output),
        int(totals.cached),
        int(cost),
        Arg::Text(cancelled_by),
        int(end),
    ]);
}

#[allow(clippy::too_many_arguments)]
fn push_step(
    rows: &mut Vec<Arg>,
    team_id: &str,
    execution_id: &str,
    step_id: &str,
    agent_id: &str,
    model: &str,
    status: &str,
    started: i64,
    completed: i64,
    usage: Usage,
    cost: i64,
    failure: Option<(&str, String)>,
    provider_body: Option<String>,
) {
    let output = (status == "succeeded").then(|| format!("[simulated] {step_id} done"));
    let (class, message) = match failure {
        Some((class, message)) => (Some(class.to_string()), Some(message)),
        None if status == "cancelled" => (None, Some("cancelled by a user".to_string())),
        None => (None, None),
    };
    rows.extend([
        text(new_id()),
        text(execution_id),
        text(team_id),
        text(step_id),
        text(agent_id),
        text(status),
        text(format!("{step_id} prompt")),
        Arg::Text(output),
        Arg::Text(message),
        int(started),
        int(completed),
        text("simulated"),
        text(model),
        int(usage.input),
        int(usage.output),
        int(usage.cached),
        int(cost),
        int(completed - started),
        int(if class.as_deref() == Some("rate_limited") {
            4
        } else {
            1
        }),
        Arg::Text(class),
        Arg::Text(provider_body),
    ]);
}

const PAGES: &[&str] = &[
    "console",
    "analytics-dashboard",
    "token-usage",
    "execution-monitor",
    "error-logs",
];
const ACTION_HEAD: &str = "INSERT INTO user_actions (id, team_id, user_id, action_type, component_id, payload, timestamp, \
    session_id, external_user_id, source, received_at)";
const ACTION_COLUMNS: usize = 11;
const ACTIONS_PER_TRANSACTION: usize = 10_000;
const ACTION_ROWS_PER_STATEMENT: usize = 2_000;

/// Console page views by the team's users, with the same rhythm.
async fn page_views(
    db: &Db,
    team_id: &str,
    users: &[String],
    spec: &HistorySpec,
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    let mut written = 0;
    while written < spec.events {
        let count = ACTIONS_PER_TRANSACTION.min(spec.events - written);
        let mut tx = db.begin().await?;
        let mut left = count;
        while left > 0 {
            let rows_now = ACTION_ROWS_PER_STATEMENT.min(left);
            let mut rows = Vec::with_capacity(rows_now * ACTION_COLUMNS);
            for _ in 0..rows_now {
                let at = moment(rng, spec);
                let user = &users[rng.random_range(0..users.len())];
                let page = PAGES[rng.random_range(0..PAGES.len())];
                rows.extend([
                    text(new_id()),
                    text(team_id),
                    text(user.clone()),
                    text("page_view"),
                    text(page),
                    text(format!(r#"{{"path":"/{page}"}}"#)),
                    int(at),
                    text(format!(
                        "demo-session-{}-{}",
                        user.get(..8).unwrap_or(user),
                        at / DAY_MS
                    )),
                    Arg::Text(None),
                    text("console"),
                    int(at),
                ]);
            }
            insert(db, &mut tx, ACTION_HEAD, ACTION_COLUMNS, rows).await?;
            left -= rows_now;
        }
        tx.commit().await?;
        written += count;
    }
    Ok(())
}
