//! Generated history for the demo team and for benchmarks: executions with their
//! steps (realistic token counts, latencies, prices and provider errors, a daily
//! and weekly rhythm) and console page views, written with multi-row INSERTs in
//! large transactions so a million executions take minutes, not hours.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::runtime::{DemoAgent, DemoRuntime, DemoWorkflow, sample_input};
use crate::providers::Usage;
use crate::storage::sql::Value;
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
    // The last `days` calendar days (UTC), today up to now included.
    let start = crate::analytics::rollups::day_of(spec.end_ms) - (spec.days - 1) * DAY_MS;
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

fn text(value: impl Into<String>) -> Value {
    Value::Text(Some(value.into()))
}

fn int(value: i64) -> Value {
    Value::Int(Some(value))
}

/// One multi-row INSERT of `rows` (each `columns` long).
async fn insert(
    db: &Db,
    tx: &mut crate::storage::Tx,
    head: &str,
    columns: usize,
    rows: Vec<Value>,
) -> Result<(), sqlx::Error> {
    crate::storage::sql::insert_rows(db, tx, head, columns, rows).await
}

const EXECUTION_HEAD: &str = "INSERT INTO executions (id, team_id, workflow_id, workflow_version, status, input, error, \
    triggered_by, user_id, created_at, started_at, completed_at, steps_total, steps_done, input_tokens, output_tokens, \
    cached_tokens, cost_micros, cancelled_by, updated_at)";
const EXECUTION_COLUMNS: usize = 20;
const STEP_HEAD: &str = "INSERT INTO task_results (id, execution_id, team_id, task_name, agent_id, status, input, output, \
    error, started_at, completed_at, provider, model, input_tokens, output_tokens, cached_tokens, cost_micros, latency_ms, \
    attempts, error_class, provider_response, key_id)";
const STEP_COLUMNS: usize = 22;
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
    let mut generator = Generator {
        rng: StdRng::seed_from_u64(spec.seed),
        team_id,
        users,
        runtime,
        spec,
    };
    let mut done = 0;
    while done < spec.executions {
        let count = CHUNK.min(spec.executions - done);
        let mut executions = Vec::with_capacity(count * EXECUTION_COLUMNS);
        let mut steps = Vec::with_capacity(count * 4 * STEP_COLUMNS);
        for n in 0..count {
            generator.execution((done + n) as u64, &mut executions, &mut steps);
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
    page_views(db, team_id, users, spec, &mut generator.rng).await?;
    // Bulk rows bypass the incremental roll-ups: recompute the team's.
    crate::analytics::rollups::rebuild(db, Some(team_id)).await?;
    crate::errors::rebuild(db, team_id).await?;
    Ok(())
}

/// Draws executions; holds what every draw needs.
struct Generator<'a> {
    rng: StdRng,
    team_id: &'a str,
    users: &'a [String],
    runtime: &'a DemoRuntime,
    spec: &'a HistorySpec,
}

/// One generated step, as a `task_results` row.
struct StepRow<'a> {
    execution_id: &'a str,
    step_id: &'a str,
    agent: &'a DemoAgent,
    status: &'static str,
    started: i64,
    completed: i64,
    usage: Usage,
    cost: i64,
    /// Class, message and the provider's answer of a failed call.
    failure: Option<(&'static str, String, Option<String>)>,
}

impl StepRow<'_> {
    fn push(self, team_id: &str, rows: &mut Vec<Value>) {
        let output =
            (self.status == "succeeded").then(|| format!("[simulated] {} done", self.step_id));
        let (class, message, body) = match self.failure {
            Some((class, message, body)) => (Some(class.to_string()), Some(message), body),
            None if self.status == "cancelled" => {
                (None, Some("cancelled by a user".to_string()), None)
            }
            None => (None, None, None),
        };
        let attempts = if class.as_deref() == Some("rate_limited") {
            4
        } else {
            1
        };
        rows.extend([
            text(new_id()),
            text(self.execution_id),
            text(team_id),
            text(self.step_id),
            text(self.agent.id.clone()),
            text(self.status),
            text(format!("{} prompt", self.step_id)),
            Value::Text(output),
            Value::Text(message),
            int(self.started),
            int(self.completed),
            text("simulated"),
            text(self.agent.model.clone()),
            int(self.usage.input),
            int(self.usage.output),
            int(self.usage.cached),
            int(self.cost),
            int(self.completed - self.started),
            int(attempts),
            Value::Text(class),
            Value::Text(body),
            Value::Text(self.agent.key_id.clone()),
        ]);
    }
}

impl Generator<'_> {
    fn workflow(&mut self) -> &DemoWorkflow {
        let workflows = &self.runtime.workflows;
        let index = match self.rng.random_range(0..100) {
            0..=44 => 0,
            45..=69 => 2,
            70..=84 => 3,
            _ => 1,
        };
        &workflows[index % workflows.len()]
    }

    /// Appends one execution (and its steps) to the rows.
    fn execution(&mut self, n: u64, executions: &mut Vec<Value>, steps: &mut Vec<Value>) {
        let workflow = self.workflow().clone();
        let rng = &mut self.rng;
        let created = moment(rng, self.spec);
        let started = created + rng.random_range(20..400);
        let scheduled = rng.random_bool(0.25);
        let user = (!scheduled).then(|| self.users[rng.random_range(0..self.users.len())].clone());
        let roll = rng.random::<f64>();
        let failing_step = (roll < 0.055).then(|| rng.random_range(0..workflow.steps.len()));
        let cancelled_after = (failing_step.is_none() && roll < 0.065).then_some(0usize);
        let execution_id = new_id();
        let (mut totals, mut cost, mut done_steps) = (Usage::default(), 0i64, 0i64);
        let (mut status, mut error, mut end) = ("succeeded", None::<String>, started);
        for (index, (step_id, agent_index)) in workflow.steps.iter().enumerate() {
            let agent = &self.runtime.agents[*agent_index];
            let (input_range, output_range, latency_range) = profile(&agent.model);
            let mut row = StepRow {
                execution_id: &execution_id,
                step_id,
                agent,
                status: "succeeded",
                started: end,
                completed: end,
                usage: Usage::default(),
                cost: 0,
                failure: None,
            };
            if cancelled_after.is_some_and(|after| index > after) {
                row.status = "cancelled";
                row.completed = row.started + rng.random_range(500..5000);
                (status, error, end) = (
                    "cancelled",
                    Some("cancelled by a user".into()),
                    row.completed,
                );
                row.push(self.team_id, steps);
                break;
            }
            row.completed = row.started + rng.random_range(latency_range.0..=latency_range.1);
            if failing_step == Some(index) {
                let (class, message, body) = provider_error(rng, &agent.model);
                (status, error, end) = (
                    "failed",
                    Some(format!("step {step_id}: {message}")),
                    row.completed,
                );
                row.status = "failed";
                row.failure = Some((class, message, body));
                row.push(self.team_id, steps);
                break;
            }
            (row.usage, row.cost) = random_usage(rng, &agent.model, input_range, output_range);
            totals.input += row.usage.input;
            totals.output += row.usage.output;
            totals.cached += row.usage.cached;
            cost += row.cost;
            done_steps += 1;
            end = row.completed;
            row.push(self.team_id, steps);
        }
        let cancelled_by =
            (status == "cancelled").then(|| user.clone().unwrap_or_else(|| self.users[0].clone()));
        let record = ExecutionRecord {
            id: execution_id,
            workflow_id: workflow.id.clone(),
            status,
            input: sample_input(&workflow.name, n).to_string(),
            error,
            triggered_by: if scheduled { "schedule" } else { "user" },
            user,
            times: (created, started, end),
            steps: (workflow.steps.len() as i64, done_steps),
            usage: totals,
            cost,
            cancelled_by,
        };
        record.push(self.team_id, executions);
    }
}

/// Tokens of a succeeded call (a share of the input cached now and then) and its
/// cost at the default price.
fn random_usage(
    rng: &mut StdRng,
    model: &str,
    input_range: (i64, i64),
    output_range: (i64, i64),
) -> (Usage, i64) {
    let input = rng.random_range(input_range.0..=input_range.1);
    let cached = if rng.random_bool(0.35) {
        input * rng.random_range(30..60) / 100
    } else {
        0
    };
    let usage = Usage {
        input: input - cached,
        output: rng.random_range(output_range.0..=output_range.1),
        cached,
    };
    let cost = crate::prices::default_price(model)
        .map_or(0, |price| crate::prices::cost_micros(usage, price));
    (usage, cost)
}

/// A generated execution, as its `executions` row.
struct ExecutionRecord {
    id: String,
    workflow_id: String,
    status: &'static str,
    input: String,
    error: Option<String>,
    triggered_by: &'static str,
    user: Option<String>,
    /// Created, started, ended.
    times: (i64, i64, i64),
    /// Steps in the workflow, steps done.
    steps: (i64, i64),
    usage: Usage,
    cost: i64,
    cancelled_by: Option<String>,
}

impl ExecutionRecord {
    fn push(self, team_id: &str, rows: &mut Vec<Value>) {
        let (created, started, end) = self.times;
        rows.extend([
            text(self.id),
            text(team_id),
            text(self.workflow_id),
            int(1),
            text(self.status),
            text(self.input),
            Value::Text(self.error),
            text(self.triggered_by),
            Value::Text(self.user),
            int(created),
            int(started),
            int(end),
            int(self.steps.0),
            int(self.steps.1),
            int(self.usage.input),
            int(self.usage.output),
            int(self.usage.cached),
            int(self.cost),
            Value::Text(self.cancelled_by),
            int(end),
        ]);
    }
}

const PAGES: &[&str] = &[
    "console",
    "analytics-dashboard",
    "token-usage",
    "execution-monitor",
    "error-logs",
    "team-members",
    "api-keys",
    "workflow-scheduler",
    "notification-center",
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
                    Value::Text(None),
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
