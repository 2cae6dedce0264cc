//! Agents: a named model at a provider, called with one of the team's keys and
//! standing instructions. Workflow steps name the agent that runs them.

pub mod handlers;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::AppError;
use crate::providers::ProviderKind;
use crate::storage::{Db, new_id, now_ms};

pub use handlers::routes;

/// Call parameters an agent may set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    /// 0 to 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f64>,
    /// Most output tokens per call, 1 to 200000.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::api::integer::optional"
    )]
    #[schema(minimum = 1, maximum = 200000)]
    pub max_tokens: Option<u32>,
}

impl Parameters {
    pub fn validate(&self) -> Result<(), AppError> {
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(AppError::validation(
                "parameters.temperature",
                "must be between 0 and 2",
            ));
        }
        if let Some(n) = self.max_tokens
            && !(1..=200_000).contains(&n)
        {
            return Err(AppError::validation(
                "parameters.max_tokens",
                "must be between 1 and 200000",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub provider: ProviderKind,
    pub provider_name: &'static str,
    pub model: String,
    pub key_id: Option<String>,
    pub instructions: String,
    pub parameters: Parameters,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A validated agent to save.
pub struct AgentFields {
    pub name: String,
    pub provider: ProviderKind,
    pub model: String,
    pub key_id: Option<String>,
    pub instructions: String,
    pub parameters: Parameters,
}

const COLUMNS: &str =
    "id, name, provider, model, key_id, instructions, parameters, created_at, updated_at";

fn agent(row: &AnyRow) -> Result<Agent, sqlx::Error> {
    let provider = ProviderKind::from_row(row)?;
    let parameters: String = row.try_get("parameters")?;
    Ok(Agent {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        provider,
        provider_name: provider.display_name(),
        model: row.try_get("model")?,
        key_id: row.try_get("key_id")?,
        instructions: row.try_get("instructions")?,
        parameters: serde_json::from_str(&parameters).unwrap_or_default(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn create(
    db: &Db,
    team_id: &str,
    user_id: &str,
    fields: &AgentFields,
) -> Result<Agent, AppError> {
    let id = new_id();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO agents (id, team_id, name, provider, model, key_id, instructions, parameters, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(&id)
    .bind(team_id)
    .bind(&fields.name)
    .bind(fields.provider.as_str())
    .bind(&fields.model)
    .bind(&fields.key_id)
    .bind(&fields.instructions)
    .bind(crate::storage::json_text(&fields.parameters)?)
    .bind(user_id)
    .bind(now)
    .execute(db.write())
    .await?;
    get(db, team_id, &id).await?.ok_or(AppError::NotFound)
}

pub async fn replace(
    db: &Db,
    team_id: &str,
    id: &str,
    fields: &AgentFields,
) -> Result<Option<Agent>, AppError> {
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
    .bind(team_id)
    .bind(id)
    .execute(db.write())
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    Ok(get(db, team_id, id).await?)
}

/// Archives the agent: past executions keep naming it; new steps cannot use it.
pub async fn archive(db: &Db, team_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE agents SET archived_at = $1 WHERE team_id = $2 AND id = $3 AND archived_at IS NULL",
    )
    .bind(now_ms())
    .bind(team_id)
    .bind(id)
    .execute(db.write())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// A live (not archived) agent by id.
pub async fn get(db: &Db, team_id: &str, id: &str) -> Result<Option<Agent>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM agents WHERE team_id = $1 AND id = $2 AND archived_at IS NULL"
    ))
    .bind(team_id)
    .bind(id)
    .fetch_optional(db.read())
    .await?
    .as_ref()
    .map(agent)
    .transpose()
}

/// The team's agents with these ids, archived or not (a running execution may
/// use one archived since it started), in one query.
pub async fn get_many_any(db: &Db, team_id: &str, ids: &[&str]) -> Result<Vec<Agent>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = crate::storage::placeholders(2, ids.len());
    let sql = format!("SELECT {COLUMNS} FROM agents WHERE team_id = $1 AND id IN ({list})");
    let mut query = sqlx::query(&sql).bind(team_id);
    for id in ids {
        query = query.bind(*id);
    }
    query
        .fetch_all(db.read())
        .await?
        .iter()
        .map(agent)
        .collect()
}

pub async fn list(db: &Db, team_id: &str) -> Result<Vec<Agent>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM agents WHERE team_id = $1 AND archived_at IS NULL ORDER BY name"
    ))
    .bind(team_id)
    .fetch_all(db.read())
    .await?
    .iter()
    .map(agent)
    .collect()
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
