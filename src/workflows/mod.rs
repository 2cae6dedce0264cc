//! Workflows: named, versioned definitions (`definition`). Every save keeps the
//! previous versions (`workflow_versions`); an execution records the version it
//! ran, so history stays readable after edits.

pub mod definition;
pub mod handlers;

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::AppError;
use crate::storage::{Db, new_id, now_ms};
pub use definition::{Definition, Step};
pub use handlers::routes;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Workflow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub version: i64,
    pub steps: Vec<Step>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    pub version: i64,
    pub steps: Vec<Step>,
    pub created_by: Option<String>,
    pub created_at: i64,
}

const COLUMNS: &str =
    "id, name, description, definition, version, created_by, created_at, updated_at";

fn parse_definition(text: &str) -> Result<Definition, sqlx::Error> {
    serde_json::from_str(text).map_err(|err| sqlx::Error::Decode(Box::new(err)))
}

fn workflow(row: &AnyRow) -> Result<Workflow, sqlx::Error> {
    let definition: String = row.try_get("definition")?;
    Ok(Workflow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        version: row.try_get("version")?,
        steps: parse_definition(&definition)?.steps,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn create(
    db: &Db,
    team_id: &str,
    user_id: Option<&str>,
    name: &str,
    description: Option<&str>,
    definition: &Definition,
) -> Result<Workflow, AppError> {
    let id = new_id();
    let now = now_ms();
    let json = crate::storage::json_text(definition)?;
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO workflows (id, team_id, name, description, definition, version, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $7)",
    )
    .bind(&id)
    .bind(team_id)
    .bind(name)
    .bind(description)
    .bind(&json)
    .bind(user_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    insert_version(&mut tx, &id, 1, &json, user_id, now).await?;
    tx.commit().await?;
    get(db, team_id, &id).await?.ok_or(AppError::NotFound)
}

async fn insert_version(
    tx: &mut crate::storage::Tx,
    workflow_id: &str,
    version: i64,
    json: &str,
    user_id: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO workflow_versions (workflow_id, version, definition, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(workflow_id)
    .bind(version)
    .bind(json)
    .bind(user_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Saves a new version. `None`: no such live workflow in the team.
pub async fn update(
    db: &Db,
    team_id: &str,
    id: &str,
    user_id: &str,
    name: &str,
    description: Option<&str>,
    definition: &Definition,
) -> Result<Option<Workflow>, AppError> {
    let json = crate::storage::json_text(definition)?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    // Bumping the version in the UPDATE itself serializes concurrent saves.
    let version: Option<i64> = sqlx::query_scalar(
        "UPDATE workflows SET name = $1, description = $2, definition = $3, version = version + 1, updated_at = $4 \
         WHERE team_id = $5 AND id = $6 AND archived_at IS NULL RETURNING version",
    )
    .bind(name)
    .bind(description)
    .bind(&json)
    .bind(now)
    .bind(team_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(version) = version else {
        return Ok(None);
    };
    insert_version(&mut tx, id, version, &json, Some(user_id), now).await?;
    tx.commit().await?;
    Ok(get(db, team_id, id).await?)
}

pub async fn archive(db: &Db, team_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE workflows SET archived_at = $1 WHERE team_id = $2 AND id = $3 AND archived_at IS NULL",
    )
    .bind(now_ms())
    .bind(team_id)
    .bind(id)
    .execute(db.write())
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn get(db: &Db, team_id: &str, id: &str) -> Result<Option<Workflow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM workflows WHERE team_id = $1 AND id = $2 AND archived_at IS NULL"
    ))
    .bind(team_id)
    .bind(id)
    .fetch_optional(db.read())
    .await?
    .as_ref()
    .map(workflow)
    .transpose()
}

pub async fn list(db: &Db, team_id: &str) -> Result<Vec<Workflow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM workflows WHERE team_id = $1 AND archived_at IS NULL ORDER BY name"
    ))
    .bind(team_id)
    .fetch_all(db.read())
    .await?
    .iter()
    .map(workflow)
    .collect()
}

pub async fn versions(db: &Db, team_id: &str, id: &str) -> Result<Vec<VersionInfo>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT v.version, v.definition, v.created_by, v.created_at FROM workflow_versions v \
         JOIN workflows w ON w.id = v.workflow_id WHERE w.team_id = $1 AND w.id = $2 ORDER BY v.version DESC",
    )
    .bind(team_id)
    .bind(id)
    .fetch_all(db.read())
    .await?;
    rows.iter()
        .map(|row| {
            let definition: String = row.try_get("definition")?;
            Ok(VersionInfo {
                version: row.try_get("version")?,
                steps: parse_definition(&definition)?.steps,
                created_by: row.try_get("created_by")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

/// The definition an execution runs: its workflow at the version it recorded.
pub async fn definition_at(
    db: &Db,
    workflow_id: &str,
    version: i64,
) -> Result<Option<Definition>, sqlx::Error> {
    let text: Option<String> = sqlx::query_scalar(
        "SELECT definition FROM workflow_versions WHERE workflow_id = $1 AND version = $2",
    )
    .bind(workflow_id)
    .bind(version)
    .fetch_optional(db.read())
    .await?;
    text.as_deref().map(parse_definition).transpose()
}
