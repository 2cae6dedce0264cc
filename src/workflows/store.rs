//! The workflows' SQL: the current definition in `workflows`, every saved one in
//! `workflow_versions`. Every change is written with its audit entry in one
//! transaction.

use serde_json::json;

use super::{Definition, VersionInfo, Workflow, WorkflowFields};
use crate::audit::Actor;
use crate::error::AppError;
use crate::storage::{Db, Tx, decode_json, new_id, now_ms};

const COLUMNS: &str =
    "id, name, description, definition, version, created_by, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct WorkflowRow {
    id: String,
    name: String,
    description: Option<String>,
    definition: String,
    version: i64,
    created_by: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<WorkflowRow> for Workflow {
    type Error = sqlx::Error;

    fn try_from(row: WorkflowRow) -> Result<Workflow, sqlx::Error> {
        Ok(Workflow {
            steps: parse_definition(&row.definition)?.steps,
            id: row.id,
            name: row.name,
            description: row.description,
            version: row.version,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    version: i64,
    definition: String,
    created_by: Option<String>,
    created_at: i64,
}

fn parse_definition(text: &str) -> Result<Definition, sqlx::Error> {
    decode_json("workflow definition", text)
}

/// Saves a new workflow (version 1) in the actor's team.
pub async fn create(
    db: &Db,
    actor: Actor<'_>,
    fields: &WorkflowFields,
) -> Result<Workflow, AppError> {
    let id = new_id();
    let now = now_ms();
    let json = crate::storage::json_text(&fields.definition)?;
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO workflows (id, team_id, name, description, definition, version, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $7)",
    )
    .bind(&id)
    .bind(actor.team_id)
    .bind(&fields.name)
    .bind(&fields.description)
    .bind(&json)
    .bind(actor.user_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    insert_version(&mut tx, &id, 1, &json, actor.user_id, now).await?;
    let detail = json!({"name": fields.name});
    crate::audit::record_in(
        &mut tx,
        actor,
        "workflow.created",
        ("workflow", &id),
        Some(detail),
    )
    .await?;
    tx.commit().await?;
    get(db, actor.team_id, &id).await?.ok_or(AppError::NotFound)
}

async fn insert_version(
    tx: &mut Tx,
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
    actor: Actor<'_>,
    id: &str,
    fields: &WorkflowFields,
) -> Result<Option<Workflow>, AppError> {
    let json = crate::storage::json_text(&fields.definition)?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    // Bumping the version in the UPDATE itself serializes concurrent saves.
    let version: Option<i64> = sqlx::query_scalar(
        "UPDATE workflows SET name = $1, description = $2, definition = $3, version = version + 1, updated_at = $4 \
         WHERE team_id = $5 AND id = $6 AND archived_at IS NULL AND source = 'hummbl' RETURNING version",
    )
    .bind(&fields.name)
    .bind(&fields.description)
    .bind(&json)
    .bind(now)
    .bind(actor.team_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(version) = version else {
        return Ok(None);
    };
    insert_version(&mut tx, id, version, &json, actor.user_id, now).await?;
    let detail = json!({"version": version});
    crate::audit::record_in(
        &mut tx,
        actor,
        "workflow.updated",
        ("workflow", id),
        Some(detail),
    )
    .await?;
    tx.commit().await?;
    Ok(get(db, actor.team_id, id).await?)
}

/// Archives a live workflow of the actor's team; false when there is none.
pub async fn archive(db: &Db, actor: Actor<'_>, id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let done = sqlx::query(
        "UPDATE workflows SET archived_at = $1 WHERE team_id = $2 AND id = $3 AND archived_at IS NULL AND source = 'hummbl'",
    )
    .bind(now_ms())
    .bind(actor.team_id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    crate::audit::record_in(&mut tx, actor, "workflow.archived", ("workflow", id), None).await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn get(db: &Db, team_id: &str, id: &str) -> Result<Option<Workflow>, sqlx::Error> {
    sqlx::query_as::<_, WorkflowRow>(&format!(
        "SELECT {COLUMNS} FROM workflows WHERE team_id = $1 AND id = $2 AND archived_at IS NULL AND source = 'hummbl'"
    ))
    .bind(team_id)
    .bind(id)
    .fetch_optional(db.read())
    .await?
    .map(Workflow::try_from)
    .transpose()
}

/// The same, in the caller's transaction (a schedule's slot creates its
/// execution there).
pub async fn get_in(tx: &mut Tx, team_id: &str, id: &str) -> Result<Option<Workflow>, sqlx::Error> {
    sqlx::query_as::<_, WorkflowRow>(&format!(
        "SELECT {COLUMNS} FROM workflows WHERE team_id = $1 AND id = $2 AND archived_at IS NULL AND source = 'hummbl'"
    ))
    .bind(team_id)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .map(Workflow::try_from)
    .transpose()
}

pub async fn list(db: &Db, team_id: &str) -> Result<Vec<Workflow>, sqlx::Error> {
    sqlx::query_as::<_, WorkflowRow>(&format!(
        "SELECT {COLUMNS} FROM workflows WHERE team_id = $1 AND archived_at IS NULL AND source = 'hummbl' ORDER BY name"
    ))
    .bind(team_id)
    .fetch_all(db.read())
    .await?
    .into_iter()
    .map(Workflow::try_from)
    .collect()
}

pub async fn versions(db: &Db, team_id: &str, id: &str) -> Result<Vec<VersionInfo>, sqlx::Error> {
    let rows: Vec<VersionRow> = sqlx::query_as(
        "SELECT v.version, v.definition, v.created_by, v.created_at FROM workflow_versions v \
         JOIN workflows w ON w.id = v.workflow_id WHERE w.team_id = $1 AND w.id = $2 ORDER BY v.version DESC",
    )
    .bind(team_id)
    .bind(id)
    .fetch_all(db.read())
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(VersionInfo {
                version: row.version,
                steps: parse_definition(&row.definition)?.steps,
                created_by: row.created_by,
                created_at: row.created_at,
            })
        })
        .collect()
}

/// The definition an execution runs: its workflow at the version it recorded.
pub async fn definition_at<'e, E>(
    executor: E,
    workflow_id: &str,
    version: i64,
) -> Result<Option<Definition>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = crate::storage::Any>,
{
    let text: Option<String> = sqlx::query_scalar(
        "SELECT definition FROM workflow_versions WHERE workflow_id = $1 AND version = $2",
    )
    .bind(workflow_id)
    .bind(version)
    .fetch_optional(executor)
    .await?;
    text.as_deref().map(parse_definition).transpose()
}
