//! The component registry's SQL: the built-ins upserted at start-up (a version
//! change recorded), the effective on/off per team, and a team's switch with its
//! audit entry in the same transaction.

use std::collections::HashMap;

use super::{BUILT_IN, Component, Definition, Kind, Toggle};
use crate::storage::{Db, decode_json, decode_name, new_id, now_ms};

/// A component's effective state for the team as BIGINT 1/0: on unless the
/// instance switch (`c.enabled`) or the team's (`tc.enabled`) says off; unset
/// (NULL) counts as on. Written for both BOOLEAN (PostgreSQL) and INTEGER
/// (SQLite) columns.
macro_rules! effective_enabled {
    () => {
        "CAST(CASE WHEN (c.enabled IS NOT NULL AND NOT c.enabled) \
         OR (tc.enabled IS NOT NULL AND NOT tc.enabled) THEN 0 ELSE 1 END AS BIGINT)"
    };
}

/// Upserts the built-in components; a changed version is recorded.
pub async fn register_built_ins(db: &Db) -> anyhow::Result<()> {
    for definition in BUILT_IN {
        register(db, definition).await?;
    }
    Ok(())
}

async fn register(db: &Db, definition: &Definition) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let transformations = serde_json::json!(definition.transformations).to_string();
    let mut tx = db.begin_write().await?;
    let existing: Option<String> =
        sqlx::query_scalar("SELECT version FROM basen_components WHERE id = $1")
            .bind(definition.id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    match existing.as_deref() {
        None => {
            sqlx::query(
                "INSERT INTO basen_components (id, name, domain, route, transformations, version, enabled, created_at, updated_at, kind) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
            )
            .bind(definition.id.as_str())
            .bind(definition.name)
            .bind(definition.domain)
            .bind(definition.route)
            .bind(&transformations)
            .bind(definition.version)
            .bind(true)
            .bind(now)
            .bind(definition.kind.as_str())
            .execute(&mut *tx)
            .await?;
        }
        Some(version) if version == definition.version => {
            sqlx::query(
                "UPDATE basen_components SET name = $1, domain = $2, route = $3, transformations = $4 WHERE id = $5",
            )
            .bind(definition.name)
            .bind(definition.domain)
            .bind(definition.route)
            .bind(&transformations)
            .bind(definition.id.as_str())
            .execute(&mut *tx)
            .await?;
            return tx.commit().await;
        }
        Some(_) => {
            sqlx::query(
                "UPDATE basen_components SET name = $1, domain = $2, route = $3, transformations = $4, version = $5, updated_at = $6 WHERE id = $7",
            )
            .bind(definition.name)
            .bind(definition.domain)
            .bind(definition.route)
            .bind(&transformations)
            .bind(definition.version)
            .bind(now)
            .bind(definition.id.as_str())
            .execute(&mut *tx)
            .await?;
        }
    }
    sqlx::query(
        "INSERT INTO component_versions (id, component_id, version, previous_version, recorded_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new_id())
    .bind(definition.id.as_str())
    .bind(definition.version)
    .bind(existing)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Whether a component is on for a team (anonymous callers: the instance switch).
/// An unknown component id counts as off.
pub async fn is_enabled(
    db: &Db,
    team_id: Option<&str>,
    component_id: &str,
) -> Result<bool, sqlx::Error> {
    // Asked on every guarded request: one constant statement.
    let enabled: Option<i64> = sqlx::query_scalar(concat!(
        "SELECT ",
        effective_enabled!(),
        " FROM basen_components c \
         LEFT JOIN team_components tc ON tc.component_id = c.id AND tc.team_id = $2 WHERE c.id = $1"
    ))
    .bind(component_id)
    .bind(team_id.unwrap_or(""))
    .fetch_optional(db.read())
    .await?;
    Ok(enabled == Some(1))
}

#[derive(sqlx::FromRow)]
struct ComponentRow {
    id: String,
    name: String,
    domain: String,
    route: String,
    transformations: Option<String>,
    version: String,
    kind: String,
    updated_at: i64,
    /// NULL (never set) counts as on, at both levels.
    enabled: i64,
}

/// Every registered component, with its effective state for the team.
pub async fn list(db: &Db, team_id: &str) -> Result<Vec<Component>, sqlx::Error> {
    let rows: Vec<ComponentRow> = sqlx::query_as(concat!(
        "SELECT c.id, c.name, c.domain, c.route, c.transformations, c.version, c.kind, c.updated_at, ",
        effective_enabled!(),
        " AS enabled FROM basen_components c \
         LEFT JOIN team_components tc ON tc.component_id = c.id AND tc.team_id = $1 \
         ORDER BY c.kind DESC, c.id"
    ))
    .bind(team_id)
    .fetch_all(db.read())
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Component {
                kind: decode_name("component kind", &row.kind)?,
                transformations: row
                    .transformations
                    .as_deref()
                    .map(|text| decode_json("basen_components.transformations", text))
                    .transpose()?
                    .unwrap_or_default(),
                enabled: row.enabled == 1,
                id: row.id,
                name: row.name,
                domain: row.domain,
                route: row.route,
                version: row.version,
                updated_at: row.updated_at,
            })
        })
        .collect()
}

/// Effective on/off of every component for a team (for the navigation).
pub async fn enabled_map(db: &Db, team_id: &str) -> Result<HashMap<String, bool>, sqlx::Error> {
    Ok(list(db, team_id)
        .await?
        .into_iter()
        .map(|component| (component.id, component.enabled))
        .collect())
}

/// Switches a component on or off for a team.
pub async fn set_enabled(
    db: &Db,
    team_id: &str,
    component_id: &str,
    enabled: bool,
    actor: &str,
) -> Result<Toggle, sqlx::Error> {
    let mut tx = db.begin().await?;
    let kind: Option<String> =
        sqlx::query_scalar("SELECT kind FROM basen_components WHERE id = $1")
            .bind(component_id)
            .fetch_optional(&mut *tx)
            .await?;
    let kind = kind
        .map(|text| decode_name::<Kind>("component kind", &text))
        .transpose()?;
    match kind {
        None => return Ok(Toggle::NoSuchComponent),
        Some(Kind::System) => return Ok(Toggle::AlwaysOn),
        Some(Kind::Page | Kind::External) => {}
    }
    sqlx::query(
        "INSERT INTO team_components (team_id, component_id, enabled, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (team_id, component_id) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(team_id)
    .bind(component_id)
    .bind(enabled)
    .bind(now_ms())
    .bind(actor)
    .execute(&mut *tx)
    .await?;
    let action = if enabled {
        "component.enabled"
    } else {
        "component.disabled"
    };
    let who = crate::audit::Actor::user(team_id, actor);
    crate::audit::record_in(&mut tx, who, action, ("component", component_id), None).await?;
    tx.commit().await?;
    Ok(Toggle::Done)
}
