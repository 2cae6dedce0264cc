//! With `--demo`, a trickle of live executions in the demo teams (on the
//! simulated provider) keeps the execution monitor alive.

use std::time::Duration;

use rand::Rng;
use sqlx::Row;

use crate::app::AppState;
use crate::executions::Trigger;

/// Starts one demo execution every 15 to 45 seconds until shutdown.
pub async fn run(state: AppState) {
    let mut n: u64 = 0;
    loop {
        let wait = Duration::from_millis(rand::rng().random_range(15_000..45_000));
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        n += 1;
        if let Err(err) = start_one(&state, n).await {
            tracing::warn!(error = %err, "could not start a demo execution");
        }
    }
}

async fn start_one(state: &AppState, n: u64) -> anyhow::Result<()> {
    let rows = sqlx::query(
        "SELECT w.id, w.team_id FROM workflows w JOIN teams t ON t.id = w.team_id \
         WHERE t.is_demo = $1 AND w.archived_at IS NULL",
    )
    .bind(true)
    .fetch_all(state.db.read())
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let row = &rows[rand::rng().random_range(0..rows.len())];
    let (id, team_id): (String, String) = (row.try_get("id")?, row.try_get("team_id")?);
    let Some(workflow) = crate::workflows::get(&state.db, &team_id, &id).await? else {
        return Ok(());
    };
    let input = super::runtime::sample_input(&workflow.name, n);
    crate::executions::start(state, &team_id, &workflow, input, Trigger::Demo)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    Ok(())
}
