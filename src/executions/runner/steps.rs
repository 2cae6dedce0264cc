//! Running one claimed execution's steps: dependencies first, independent
//! steps in parallel, each call priced and recorded through the fenced store.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::task::JoinSet;

use super::store::{self, Claimed, StepRecord};
use super::{Context, Ending};
use crate::agents::Agent;
use crate::executions::Status;
use crate::providers::{CallError, ChatRequest, ChatResponse};
use crate::storage::now_ms;
use crate::workflows::{Definition, Step, definition};

/// What one execution's steps need.
struct Plan {
    claimed: Arc<Claimed>,
    definition: Definition,
    agents: HashMap<String, Agent>,
}

pub(super) async fn run_steps(ctx: &Context, claimed: Arc<Claimed>) -> Ending {
    match plan_and_run(ctx, claimed).await {
        Ok(ending) => ending,
        Err(err) => {
            tracing::warn!(error = %err, "execution stopped by a storage error");
            Ending::HandBack
        }
    }
}

async fn plan_and_run(ctx: &Context, claimed: Arc<Claimed>) -> Result<Ending, sqlx::Error> {
    let Some(definition) =
        crate::workflows::definition_at(&ctx.db, &claimed.workflow_id, claimed.workflow_version)
            .await?
    else {
        return Ok(Ending::Failed(format!(
            "version {} of the workflow is missing",
            claimed.workflow_version
        )));
    };
    let wanted: Vec<&str> = definition.agents().into_iter().collect();
    let agents: HashMap<String, crate::agents::Agent> =
        crate::agents::get_many_any(&ctx.db, &claimed.team_id, &wanted)
            .await?
            .into_iter()
            .map(|agent| (agent.id.clone(), agent))
            .collect();
    let mut outputs = store::finished_outputs(&ctx.db, &claimed.id).await?;
    let plan = Arc::new(Plan {
        claimed,
        definition,
        agents,
    });
    let mut started: HashSet<String> = outputs.keys().cloned().collect();
    let mut running = JoinSet::new();
    loop {
        for step in &plan.definition.steps {
            let ready = step
                .depends_on
                .iter()
                .all(|dependency| outputs.contains_key(dependency));
            if ready && started.insert(step.id.clone()) {
                let (ctx, plan, step, outputs) =
                    (ctx.clone(), plan.clone(), step.clone(), outputs.clone());
                running.spawn(async move {
                    let outcome = match run_step(&ctx, &plan, &step, &outputs).await {
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
    Failed(String),
    /// The execution is no longer this runner's to write.
    Fenced,
}

async fn run_step(
    ctx: &Context,
    plan: &Plan,
    step: &Step,
    outputs: &HashMap<String, String>,
) -> Result<StepOutcome, sqlx::Error> {
    let claimed = &plan.claimed;
    let Some(agent) = plan.agents.get(&step.agent) else {
        return Ok(StepOutcome::Failed(format!(
            "the agent {} no longer exists",
            step.agent
        )));
    };
    let prompt = definition::render(&step.prompt, &claimed.input, outputs);
    if !store::begin_step(ctx, claimed, step, agent, &prompt).await? {
        return Ok(StepOutcome::Fenced);
    }
    publish_step(ctx, claimed, step, Status::Running);
    let started = std::time::Instant::now();
    let credential = match &agent.key_id {
        Some(key_id) => {
            crate::provider_keys::credential(&ctx.db, &ctx.vault, &claimed.team_id, key_id)
                .await
                .ok()
                .flatten()
        }
        None => None,
    };
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
            if let Some(key_id) = &agent.key_id {
                crate::provider_keys::mark_accepted(&ctx.db, key_id).await?;
            }
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
                output: None,
                error: Some(&error),
                usage: Default::default(),
                cost_micros: 0,
                latency_ms,
                attempts,
            };
            if !ended(ctx, claimed, step, &record).await? {
                return Ok(StepOutcome::Fenced);
            }
            Ok(StepOutcome::Failed(error.to_string()))
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
    let price = crate::prices::price_at(
        &ctx.db,
        &claimed.team_id,
        agent.provider.as_str(),
        &response.model,
        now_ms(),
    )
    .await?;
    let record = StepRecord {
        status: Status::Succeeded,
        model: &response.model,
        output: Some(&response.text),
        error: None,
        usage: response.usage,
        cost_micros: price.map_or(0, |price| crate::prices::cost_micros(response.usage, price)),
        latency_ms,
        attempts,
    };
    if !ended(ctx, claimed, step, &record).await? {
        return Ok(StepOutcome::Fenced);
    }
    Ok(StepOutcome::Output(response.text.clone()))
}

/// Records a finished call (fenced) and publishes the step and the execution.
async fn ended(
    ctx: &Context,
    claimed: &Claimed,
    step: &Step,
    record: &StepRecord<'_>,
) -> Result<bool, sqlx::Error> {
    if !store::end_step(ctx, claimed, step, record).await? {
        return Ok(false);
    }
    publish_step(ctx, claimed, step, record.status);
    crate::executions::publish(&ctx.db, &ctx.bus, &claimed.team_id, &claimed.id).await;
    Ok(true)
}

fn publish_step(ctx: &Context, claimed: &Claimed, step: &Step, status: Status) {
    ctx.bus.publish(
        claimed.team_id.clone(),
        crate::bus::Kind::ExecutionStep,
        &serde_json::json!({"execution_id": claimed.id, "step": step.id, "agent": step.agent, "status": status.as_str()}),
    );
}
