//! Running one claimed execution's steps: dependencies first, independent
//! steps in parallel, each call priced and recorded through the fenced store.
//!
//! What an execution looks up is looked up once for all its steps: its
//! agents, their provider keys (opened when the execution starts, so a key
//! replaced meanwhile is used from the next execution on) and the prices,
//! those in force when the execution started.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::task::JoinSet;

use super::store::{self, Claimed, Recorded, StepRecord};
use super::{Context, Ending, lock};
use crate::agents::Agent;
use crate::executions::Status;
use crate::prices::Price;
use crate::providers::{CallError, ChatRequest, ChatResponse, Credential};
use crate::storage::Tx;
use crate::workflows::{Definition, Step, definition};

/// An execution as its claim left it: claimed, with what its steps need
/// from storage, and the first wave of steps already marked running.
pub(super) struct Start {
    pub claimed: Arc<Claimed>,
    /// `None`: the execution's workflow version is missing.
    definition: Option<Arc<Definition>>,
    agents: HashMap<String, Agent>,
    /// Outputs of the steps that succeeded before (a resumed run).
    outputs: HashMap<String, String>,
    /// The prompts of the steps whose running rows the claim wrote.
    begun: HashMap<String, String>,
}

/// What one execution's steps need.
struct Plan {
    claimed: Arc<Claimed>,
    definition: Arc<Definition>,
    agents: HashMap<String, Agent>,
    /// Each agent key opened once; `None` when it cannot be (deleted, or
    /// sealed under another master key).
    credentials: HashMap<String, Option<Credential>>,
    /// Prices by (provider, model) as the calls name them, read once each.
    prices: Mutex<HashMap<(String, String), Option<Price>>>,
}

/// Claims the oldest pending execution and marks the steps that can start
/// at once running, in one transaction: one durable commit where a claim
/// and a commit per first step used to be. A storage error rolls the claim
/// back and the execution stays pending.
pub(super) async fn claim(ctx: &Context) -> Result<Option<Start>, sqlx::Error> {
    let mut tx = ctx.db.begin().await?;
    let Some(claimed) = store::claim_in(&mut tx, &ctx.db, &ctx.runner).await? else {
        tx.rollback().await?;
        return Ok(None);
    };
    let start = prepare_in(ctx, &mut tx, claimed).await?;
    tx.commit().await?;
    Ok(Some(start))
}

/// Claims the execution `id` inside the transaction that created it.
pub(super) async fn claim_created_in(
    ctx: &Context,
    tx: &mut Tx,
    id: &str,
) -> Result<Option<Start>, sqlx::Error> {
    match store::claim_created_in(tx, &ctx.runner, id).await? {
        Some(claimed) => Ok(Some(prepare_in(ctx, tx, claimed).await?)),
        None => Ok(None),
    }
}

/// What the claimed execution's steps need, its first wave marked running in
/// `tx`. Everything is read through the transaction's own connection: on
/// PostgreSQL reads and writes share one pool, and claims holding their
/// connections while waiting for another could exhaust it.
async fn prepare_in(ctx: &Context, tx: &mut Tx, claimed: Claimed) -> Result<Start, sqlx::Error> {
    let definition = ctx
        .runner
        .definition(tx, &claimed.workflow_id, claimed.workflow_version)
        .await?;
    let wanted: Vec<&str> = definition
        .as_ref()
        .map(|definition| definition.agents().into_iter().collect())
        .unwrap_or_default();
    let agents: HashMap<String, Agent> =
        crate::agents::get_many_any(&mut **tx, &claimed.team_id, &wanted)
            .await?
            .into_iter()
            .map(|agent| (agent.id.clone(), agent))
            .collect();
    let outputs = if claimed.resumed {
        store::finished_outputs_in(tx, &claimed.id).await?
    } else {
        HashMap::new()
    };
    let mut begun = HashMap::new();
    for step in definition.iter().flat_map(|definition| &definition.steps) {
        if outputs.contains_key(&step.id) || !is_ready(step, &outputs) {
            continue;
        }
        // A step whose agent is gone fails in `run_step` without a row.
        if let Some(agent) = agents.get(&step.agent) {
            let prompt = definition::render(&step.prompt, &claimed.input, &outputs);
            store::insert_running(tx, &claimed, step, agent, &prompt).await?;
            begun.insert(step.id.clone(), prompt);
        }
    }
    Ok(Start {
        claimed: Arc::new(claimed),
        definition,
        agents,
        outputs,
        begun,
    })
}

/// Whether every step `step` depends on has succeeded.
fn is_ready(step: &Step, outputs: &HashMap<String, String>) -> bool {
    step.depends_on
        .iter()
        .all(|dependency| outputs.contains_key(dependency))
}

pub(super) async fn run_steps(ctx: &Context, start: Start) -> Ending {
    match plan_and_run(ctx, start).await {
        Ok(ending) => ending,
        Err(err) => {
            tracing::warn!(error = %err, "execution stopped by a storage error");
            Ending::HandBack
        }
    }
}

async fn plan_and_run(ctx: &Context, start: Start) -> Result<Ending, sqlx::Error> {
    let Start {
        claimed,
        definition,
        agents,
        mut outputs,
        mut begun,
    } = start;
    let Some(definition) = definition else {
        return Ok(Ending::Failed(format!(
            "version {} of the workflow is missing",
            claimed.workflow_version
        )));
    };
    let credentials = open_credentials(ctx, &claimed.team_id, &agents).await;
    let plan = Arc::new(Plan {
        claimed,
        definition,
        agents,
        credentials,
        prices: Mutex::new(HashMap::new()),
    });
    let mut started: HashSet<String> = outputs.keys().cloned().collect();
    let mut running = JoinSet::new();
    loop {
        for step in &plan.definition.steps {
            if is_ready(step, &outputs) && started.insert(step.id.clone()) {
                let begun = begun.remove(&step.id);
                let (ctx, plan, step, outputs) =
                    (ctx.clone(), plan.clone(), step.clone(), outputs.clone());
                running.spawn(async move {
                    let outcome = match run_step(&ctx, &plan, &step, &outputs, begun).await {
                        Ok(outcome) => outcome,
                        Err(err) => {
                            tracing::warn!(error = %err, step = %step.id, "step stopped by a storage error");
                            StepOutcome::Fenced
                        }
                    };
                    (step.id, outcome)
                });
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (step_id, outcome) = match joined {
            Ok(done) => done,
            Err(err) => {
                return Ok(Ending::Failed(format!(
                    "a step stopped unexpectedly: {err}"
                )));
            }
        };
        match outcome {
            StepOutcome::Output(output) => {
                outputs.insert(step_id, output);
            }
            StepOutcome::Failed(reason) => {
                return Ok(Ending::Failed(format!("step {step_id}: {reason}")));
            }
            StepOutcome::Fenced => return Ok(Ending::Stopped),
            StepOutcome::Ended => return Ok(Ending::Recorded),
        }
    }
    if outputs.len() == plan.definition.steps.len() {
        Ok(Ending::Succeeded)
    } else {
        Ok(Ending::Failed("some steps could not start".into()))
    }
}

enum StepOutcome {
    Output(String),
    /// Failed before a call was recorded (its agent is gone).
    Failed(String),
    /// The step's record ended the execution (its last step, or a failure).
    Ended,
    /// The execution is no longer this runner's to write.
    Fenced,
}

/// Opens each distinct provider key of the agents once.
async fn open_credentials(
    ctx: &Context,
    team_id: &str,
    agents: &HashMap<String, Agent>,
) -> HashMap<String, Option<Credential>> {
    let mut credentials = HashMap::new();
    for key_id in agents.values().filter_map(|agent| agent.key_id.as_deref()) {
        if credentials.contains_key(key_id) {
            continue;
        }
        let credential = crate::provider_keys::credential(&ctx.db, &ctx.vault, team_id, key_id)
            .await
            .ok()
            .flatten();
        credentials.insert(key_id.to_owned(), credential);
    }
    credentials
}

/// The price of a model for this execution: read once, as of its start.
async fn price(
    ctx: &Context,
    plan: &Plan,
    provider: &str,
    model: &str,
) -> Result<Option<Price>, sqlx::Error> {
    let key = (provider.to_owned(), model.to_owned());
    if let Some(price) = lock(&plan.prices).get(&key) {
        return Ok(*price);
    }
    let claimed = &plan.claimed;
    let price = crate::prices::price_at(
        &ctx.db,
        &claimed.team_id,
        provider,
        model,
        claimed.started_at,
    )
    .await?;
    lock(&plan.prices).insert(key, price);
    Ok(price)
}

/// Runs one step; `begun` is its prompt when the claim already marked it
/// running.
async fn run_step(
    ctx: &Context,
    plan: &Plan,
    step: &Step,
    outputs: &HashMap<String, String>,
    begun: Option<String>,
) -> Result<StepOutcome, sqlx::Error> {
    let claimed = &plan.claimed;
    let Some(agent) = plan.agents.get(&step.agent) else {
        return Ok(StepOutcome::Failed(format!(
            "the agent {} no longer exists",
            step.agent
        )));
    };
    let prompt = match begun {
        Some(prompt) => prompt,
        None => {
            let prompt = definition::render(&step.prompt, &claimed.input, outputs);
            if !store::begin_step(ctx, claimed, step, agent, &prompt).await? {
                return Ok(StepOutcome::Fenced);
            }
            prompt
        }
    };
    publish_step(ctx, claimed, step, Status::Running);
    let started = std::time::Instant::now();
    let credential = agent
        .key_id
        .as_ref()
        .and_then(|key_id| plan.credentials.get(key_id).cloned().flatten());
    let (result, attempts) = match credential {
        None => (
            Err(CallError::NoKey(format!(
                "the agent {} has no provider key that can be opened (deleted, or entered under another master key)",
                agent.name
            ))),
            0,
        ),
        Some(credential) => {
            let request = ChatRequest {
                model: agent.model.clone(),
                system: agent.instructions.clone(),
                prompt,
                max_tokens: agent.parameters.max_tokens,
                temperature: agent.parameters.temperature,
            };
            let call =
                ctx.providers
                    .chat_with_retries(&credential, &request, ctx.runner.config.retry);
            match tokio::time::timeout(step.timeout(), call).await {
                Ok(outcome) => (outcome.result, outcome.attempts),
                Err(_) => (Err(CallError::Timeout(step.timeout())), 1),
            }
        }
    };
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match result {
        Ok(response) => {
            record_success(ctx, plan, agent, step, &response, latency_ms, attempts).await
        }
        Err(error) => {
            if let (CallError::InvalidKey { message, .. }, Some(key_id)) = (&error, &agent.key_id) {
                crate::provider_keys::mark_refused(&ctx.db, key_id, message)
                    .await?
                    .announce(&ctx.bus);
            }
            let record = StepRecord {
                status: Status::Failed,
                model: &agent.model,
                key_id: agent.key_id.as_deref(),
                output: None,
                error: Some(&error),
                usage: Default::default(),
                cost_micros: 0,
                latency_ms,
                attempts,
            };
            Ok(match ended(ctx, claimed, step, &record).await? {
                Recorded::Fenced => StepOutcome::Fenced,
                // A failed step ends its execution as it is recorded.
                Recorded::Step | Recorded::Ended(_) => StepOutcome::Ended,
            })
        }
    }
}

async fn record_success(
    ctx: &Context,
    plan: &Plan,
    agent: &Agent,
    step: &Step,
    response: &ChatResponse,
    latency_ms: i64,
    attempts: u32,
) -> Result<StepOutcome, sqlx::Error> {
    let claimed = &plan.claimed;
    let price = price(ctx, plan, agent.provider.as_str(), &response.model).await?;
    let record = StepRecord {
        status: Status::Succeeded,
        model: &response.model,
        key_id: agent.key_id.as_deref(),
        output: Some(&response.text),
        error: None,
        usage: response.usage,
        cost_micros: price.map_or(0, |price| crate::prices::cost_micros(response.usage, price)),
        latency_ms,
        attempts,
    };
    Ok(match ended(ctx, claimed, step, &record).await? {
        Recorded::Fenced => StepOutcome::Fenced,
        Recorded::Step => StepOutcome::Output(response.text.clone()),
        Recorded::Ended(_) => StepOutcome::Ended,
    })
}

/// Records a finished call (fenced) and publishes the step and the execution.
async fn ended(
    ctx: &Context,
    claimed: &Claimed,
    step: &Step,
    record: &StepRecord<'_>,
) -> Result<Recorded, sqlx::Error> {
    let recorded = store::end_step(ctx, claimed, step, record).await?;
    if recorded != Recorded::Fenced {
        publish_step(ctx, claimed, step, record.status);
        claimed.publish(&ctx.bus);
    }
    Ok(recorded)
}

fn publish_step(ctx: &Context, claimed: &Claimed, step: &Step, status: Status) {
    ctx.bus.publish(
        claimed.team_id.clone(),
        crate::bus::Kind::ExecutionStep,
        &serde_json::json!({"execution_id": claimed.id, "step": step.id, "agent": step.agent, "status": status.as_str()}),
    );
}
