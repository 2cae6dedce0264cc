//! The agents' SQL. Rows decode into [`Agent`] here (an unknown provider or
//! malformed parameters in the database is an error naming it); every change is
//! written with its audit entry in one transaction.

use serde_json::json;

use super::{Agent, AgentFields};
use crate::audit::Actor;
use crate::error::AppError;
use crate::providers::ProviderKind;
use crate::storage::{Db, Sql, decode_json, decode_name, new_id, now_ms};

const COLUMNS: &str =
    "id, name, provider, model, key_id, instructions, parameters, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct AgentRow {
    id: String,
    name: String,
    provider: String,
    model: String,
    key_id: Option<String>,
    instructions: String,
    parameters: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<AgentRow> for Agent {
    type Error = sqlx::Error;

    fn try_from(row: AgentRow) -> Result<Agent, sqlx::Error> {
        let provider: ProviderKind = decode_name("provider", &row.provider)?;
        Ok(Agent {
            id: row.id,
            name: row.name,
            provider,
            provider_name: provider.display_name(),
            model: row.model,
            key_id: row.key_id,
            instructions: row.instructions,
            parameters: decode_json("agents.parameters", &row.parameters)?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn agents(rows: Vec<AgentRow>) -> Result<Vec<Agent>, sqlx::Error> {
    rows.into_iter().map(Agent::try_from).collect()
}

/// Saves a new agent in the actor's team.
pub async fn create(db: &Db, actor: Actor<'_>, fields: &AgentFields) -> Result<Agent, AppError> {
    let id = new_id();
    let now = now_ms();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO agents (id, team_id, name, provider, model, key_id, instructions, parameters, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(&id)
    .bind(actor.team_id)
    .bind(&fields.name)
    .bind(fields.provider.as_str())
    .bind(&fields.model)
    .bind(&fields.key_id)
    .bind(&fields.instructions)
    .bind(crate::storage::json_text(&fields.parameters)?)
    .bind(actor.user_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let detail = json!({"name": fields.name, "model": fields.model});
    crate::audit::record_in(
        &mut tx,
        actor,
        "agent.created",
        ("agent", &id),
        Some(detail),
    )
    .await?;
    tx.commit().await?;
    get(db, actor.team_id, &id).await?.ok_or(AppError::NotFound)
}

/// Replaces a live agent's settings; None when the team has no such agent.
pub async fn replace(
    db: &Db,
    actor: Actor<'_>,
    id: &str,
    fields: &AgentFields,
) -> Result<Option<Agent>, AppError> {
    let mut tx = db.begin().await?;
    let done = sqlx::query(
        "UPDATE agents SET name = $1, provider = $2, model = $3, key_id = $4, instructions = $5, parameters = $6, \
         updated_at = $7 WHERE team_id = $8 AND id = $9 AND archived_at IS NULL",
    )
    .bind(&fields.name)
    .bind(fields.provider.as_str())
    .bind(&fields.model)
    .bind(&fields.key_id)
    .bind(&fields.instructions)
    .bind(crate::storage::json_text(&fields.parameters)?)
    .bind(now_ms())
    .bind(actor.team_id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    crate::audit::record_in(&mut tx, actor, "agent.updated", ("agent", id), None).await?;
    tx.commit().await?;
    Ok(get(db, actor.team_id, id).await?)
}

/// Archives the agent: past executions keep naming it; new steps cannot use it.
pub async fn archive(db: &Db, actor: Actor<'_>, id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let done = sqlx::query(
        "UPDATE agents SET archived_at = $1 WHERE team_id = $2 AND id = $3 AND archived_at IS NULL",
    )
    .bind(now_ms())
    .bind(actor.team_id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    crate::audit::record_in(&mut tx, actor, "agent.archived", ("agent", id), None).await?;
    tx.commit().await?;
    Ok(true)
}

/// A live (not archived) agent by id.
pub async fn get(db: &Db, team_id: &str, id: &str) -> Result<Option<Agent>, sqlx::Error> {
    sqlx::query_as::<_, AgentRow>(&format!(
        "SELECT {COLUMNS} FROM agents WHERE team_id = $1 AND id = $2 AND archived_at IS NULL"
    ))
    .bind(team_id)
    .bind(id)
    .fetch_optional(db.read())
    .await?
    .map(Agent::try_from)
    .transpose()
}

/// The team's agents with these ids, archived or not (a running execution may
/// use one archived since it started), in one query.
pub async fn get_many_any<'e, E>(
    executor: E,
    team_id: &str,
    ids: &[&str],
) -> Result<Vec<Agent>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = crate::storage::Any>,
{
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(
        &format!("SELECT {COLUMNS} FROM agents WHERE team_id = ?"),
        team_id,
    );
    sql.and_in("id", ids.iter().copied());
    agents(sql.query_as().fetch_all(executor).await?)
}

/// The team's live agents by name.
pub async fn list(db: &Db, team_id: &str) -> Result<Vec<Agent>, sqlx::Error> {
    agents(
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM agents WHERE team_id = $1 AND archived_at IS NULL ORDER BY name"
        ))
        .bind(team_id)
        .fetch_all(db.read())
        .await?,
    )
}

/// Ids of the team's live agents, for validating workflow definitions.
pub async fn ids(db: &Db, team_id: &str) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM agents WHERE team_id = $1 AND archived_at IS NULL")
            .bind(team_id)
            .fetch_all(db.read())
            .await?;
    Ok(ids.into_iter().collect())
}
