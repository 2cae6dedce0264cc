//! The BaseN component registry. Each page of the console is a component (id,
//! name, domain, route, transformations, version). The registry is written at
//! start-up: new components are inserted, changed ones updated, and each version
//! bump recorded in `component_versions`. Disabling a component is a feature flag:
//! the instance-wide switch is `basen_components.enabled`; a team's admins switch a
//! component off for their team in `team_components`. A disabled component's
//! routes answer 404 and it leaves the navigation.

pub mod handlers;

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;

use crate::storage::{Db, new_id, now_ms};

/// A component as the code defines it.
pub struct Definition {
    pub id: &'static str,
    pub name: &'static str,
    pub domain: &'static str,
    pub route: &'static str,
    pub transformations: &'static [&'static str],
    pub version: &'static str,
    /// `page` (can be switched off) or `system` (always on).
    pub kind: &'static str,
}

/// The shell (overview, account, settings): where unattributed requests count.
pub const CONSOLE: &str = "console";

/// The eight pages of the pilot plus its evaluation (DESIGN.md §2), and the
/// system components requests and telemetry are attributed to.
pub const BUILT_IN: &[Definition] = &[
    Definition {
        id: "analytics-dashboard",
        name: "Analytics dashboard",
        domain: "analytics",
        route: "/analytics",
        transformations: &["T1", "T4"],
        version: "0.1.0",
        kind: "page",
    },
    Definition {
        id: "token-usage",
        name: "Token usage",
        domain: "analytics",
        route: "/analytics/tokens",
        transformations: &["T1", "T4"],
        version: "0.1.0",
        kind: "page",
    },
    Definition {
        id: "execution-monitor",
        name: "Execution monitor",
        domain: "operations",
        route: "/monitor",
        transformations: &["T2", "T4"],
        version: "0.1.0",
        kind: "page",
    },
    Definition {
        id: "error-logs",
        name: "Error logs",
        domain: "operations",
        route: "/logs/errors",
        transformations: &["T2", "T4"],
        version: "0.1.0",
        kind: "page",
    },
    Definition {
        id: "team-members",
        name: "Team members",
        domain: "administration",
        route: "/team",
        transformations: &["T3"],
        version: "0.1.0",
        kind: "page",
    },
    Definition {
        id: "api-keys",
        name: "Provider API keys",
        domain: "administration",
        route: "/settings/api-keys",
        transformations: &["T3"],
        version: "0.1.0",
        kind: "page",
    },
    Definition {
        id: "workflow-scheduler",
        name: "Workflow scheduler",
        domain: "operations",
        route: "/workflows/scheduler",
        transformations: &["T2"],
        version: "0.1.0",
        kind: "page",
    },
    Definition {
        id: "notification-center",
        name: "Notification center",
        domain: "communication",
        route: "/notifications",
        transformations: &["T4"],
        version: "0.1.0",
        kind: "page",
    },
    Definition {
        id: CONSOLE,
        name: "Console shell",
        domain: "platform",
        route: "/",
        transformations: &["T4"],
        version: "0.1.0",
        kind: "system",
    },
    Definition {
        id: crate::telemetry::COMPONENT,
        name: "Telemetry (T4 Observation)",
        domain: "platform",
        route: "/api/telemetry",
        transformations: &["T4"],
        version: "0.1.0",
        kind: "system",
    },
    Definition {
        id: "pilot-evaluation",
        name: "Pilot evaluation",
        domain: "analytics",
        route: "/pilot",
        transformations: &["T4"],
        version: "0.1.0",
        kind: "page",
    },
];

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Component {
    pub id: String,
    pub name: String,
    pub domain: String,
    pub route: String,
    pub transformations: Vec<String>,
    pub version: String,
    /// Effective for the caller's team: instance switch and team switch both on.
    pub enabled: bool,
    /// `page` for the console's own components, `external` for ones that
    /// registered themselves by sending telemetry.
    pub kind: String,
    pub updated_at: i64,
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
    let mut tx = db.begin().await?;
    let existing: Option<String> =
        sqlx::query_scalar("SELECT version FROM basen_components WHERE id = $1")
            .bind(definition.id)
            .fetch_optional(&mut *tx)
            .await?;
    match existing.as_deref() {
        None => {
            sqlx::query(
                "INSERT INTO basen_components (id, name, domain, route, transformations, version, enabled, created_at, updated_at, kind) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
            )
            .bind(definition.id)
            .bind(definition.name)
            .bind(definition.domain)
            .bind(definition.route)
            .bind(&transformations)
            .bind(definition.version)
            .bind(true)
            .bind(now)
            .bind(definition.kind)
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
            .bind(definition.id)
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
            .bind(definition.id)
            .execute(&mut *tx)
            .await?;
        }
    }
    sqlx::query(
        "INSERT INTO component_versions (id, component_id, version, previous_version, recorded_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new_id())
    .bind(definition.id)
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
    let row = sqlx::query(
        "SELECT c.enabled AS instance_enabled, tc.enabled AS team_enabled FROM basen_components c \
         LEFT JOIN team_components tc ON tc.component_id = c.id AND tc.team_id = $2 WHERE c.id = $1",
    )
    .bind(component_id)
    .bind(team_id.unwrap_or(""))
    .fetch_optional(db.read())
    .await?;
    let Some(row) = row else { return Ok(false) };
    let instance = crate::storage::flag(&row, "instance_enabled")?;
    let team = crate::storage::flag(&row, "team_enabled")?;
    Ok(instance.unwrap_or(true) && team.unwrap_or(true))
}

/// Every registered component, with its effective state for the team.
pub async fn list(db: &Db, team_id: &str) -> Result<Vec<Component>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT c.id, c.name, c.domain, c.route, c.transformations, c.version, c.kind, c.updated_at, \
                c.enabled AS instance_enabled, tc.enabled AS team_enabled \
         FROM basen_components c \
         LEFT JOIN team_components tc ON tc.component_id = c.id AND tc.team_id = $1 \
         ORDER BY c.kind DESC, c.id",
    )
    .bind(team_id)
    .fetch_all(db.read())
    .await?;
    rows.iter()
        .map(|row| {
            let instance = crate::storage::flag(row, "instance_enabled")?;
            let team = crate::storage::flag(row, "team_enabled")?;
            let transformations: Option<String> = row.try_get("transformations")?;
            Ok(Component {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                domain: row.try_get("domain")?,
                route: row.try_get("route")?,
                transformations: transformations
                    .and_then(|text| serde_json::from_str(&text).ok())
                    .unwrap_or_default(),
                version: row.try_get("version")?,
                kind: row.try_get("kind")?,
                updated_at: row.try_get("updated_at")?,
                enabled: instance.unwrap_or(true) && team.unwrap_or(true),
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

#[derive(Debug, PartialEq, Eq)]
pub enum Toggle {
    Done,
    NoSuchComponent,
    /// System components (the shell, telemetry) cannot be switched off.
    AlwaysOn,
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
    match kind.as_deref() {
        None => return Ok(Toggle::NoSuchComponent),
        Some("system") => return Ok(Toggle::AlwaysOn),
        Some(_) => {}
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
    crate::audit::record_with(
        &mut *tx,
        crate::audit::Entry {
            team_id: Some(team_id),
            actor: Some(actor),
            action: if enabled {
                "component.enabled"
            } else {
                "component.disabled"
            },
            target: Some(("component", component_id)),
            detail: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Toggle::Done)
}
