//! With `--demo`, a trickle of live executions in the demo teams (on the
//! simulated provider) keeps the execution monitor alive.

use rand::Rng;

use crate::app::AppState;
use crate::executions::Trigger;

/// The `demo-live` worker's tick (every `workers.demo`, 30 s by default): starts
/// one demo execution in a random demo workflow.
pub async fn tick(state: AppState) -> anyhow::Result<u64> {
    let n = rand::rng().random_range(0..u64::from(u32::MAX));
    Ok(u64::from(start_one(&state, n).await?))
}

async fn start_one(state: &AppState, n: u64) -> anyhow::Result<bool> {
    let rows = super::store::demo_workflows(&state.db).await?;
    if rows.is_empty() {
        return Ok(false);
    }
    let (id, team_id) = &rows[rand::rng().random_range(0..rows.len())];
    let Some(workflow) = crate::workflows::get(&state.db, team_id, id).await? else {
        return Ok(false);
    };
    let input = super::runtime::sample_input(&workflow.name, n);
    crate::executions::start(state.engine(), team_id, &workflow, input, Trigger::Demo)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    Ok(true)
}
