//! The BaseN component registry. Each page of the console is a component (id,
//! name, domain, route, transformations, version). The registry is written at
//! start-up: new components are inserted, changed ones updated, and each version
//! bump recorded in `component_versions`. Disabling a component is a feature flag:
//! the instance-wide switch is `basen_components.enabled`; a team's admins switch a
//! component off for their team in `team_components`. A disabled component's
//! routes answer 404 and it leaves the navigation.

pub mod handlers;
pub mod id;
mod store;

use serde::Serialize;

pub use store::{enabled_map, is_enabled, list, register_built_ins, set_enabled};

/// What sort of component a registry row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A console page: admins may switch it off for their team.
    Page,
    /// The shell and telemetry: always on.
    System,
    /// Registered by another app sending telemetry under a new component id.
    External,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Page => "page",
            Kind::System => "system",
            Kind::External => "external",
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = ();

    fn from_str(text: &str) -> Result<Kind, ()> {
        [Kind::Page, Kind::System, Kind::External]
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or(())
    }
}

/// A component as the code defines it.
pub struct Definition {
    pub id: ComponentId,
    pub name: &'static str,
    pub domain: &'static str,
    pub route: &'static str,
    pub transformations: &'static [&'static str],
    pub version: &'static str,
    pub kind: Kind,
}

pub use id::{CONSOLE, ComponentId};

/// The eight pages of the pilot plus its evaluation (DESIGN.md §2), and the
/// system components requests and telemetry are attributed to.
pub const BUILT_IN: &[Definition] = &[
    Definition {
        id: id::ANALYTICS_DASHBOARD,
        name: "Analytics dashboard",
        domain: "analytics",
        route: "/analytics",
        transformations: &["T1", "T4"],
        version: "0.1.0",
        kind: Kind::Page,
    },
    Definition {
        id: id::TOKEN_USAGE,
        name: "Token usage",
        domain: "analytics",
        route: "/analytics/tokens",
        transformations: &["T1", "T4"],
        version: "0.1.0",
        kind: Kind::Page,
    },
    Definition {
        id: id::EXECUTION_MONITOR,
        name: "Execution monitor",
        domain: "operations",
        route: "/monitor",
        transformations: &["T2", "T4"],
        version: "0.1.0",
        kind: Kind::Page,
    },
    Definition {
        id: id::ERROR_LOGS,
        name: "Error logs",
        domain: "operations",
        route: "/logs/errors",
        transformations: &["T2", "T4"],
        version: "0.1.0",
        kind: Kind::Page,
    },
    Definition {
        id: id::TEAM_MEMBERS,
        name: "Team members",
        domain: "administration",
        route: "/team",
        transformations: &["T3"],
        version: "0.1.0",
        kind: Kind::Page,
    },
    Definition {
        id: id::API_KEYS,
        name: "Provider API keys",
        domain: "administration",
        route: "/settings/api-keys",
        transformations: &["T3"],
        version: "0.1.0",
        kind: Kind::Page,
    },
    Definition {
        id: id::WORKFLOW_SCHEDULER,
        name: "Workflow scheduler",
        domain: "operations",
        route: "/workflows/scheduler",
        transformations: &["T2"],
        version: "0.1.0",
        kind: Kind::Page,
    },
    Definition {
        id: id::AGENTS,
        name: "Agents",
        domain: "operations",
        route: "/agents",
        transformations: &["T2"],
        version: "0.1.0",
        kind: Kind::Page,
    },
    Definition {
        id: id::WORKFLOWS,
        name: "Workflows",
        domain: "operations",
        route: "/workflows",
        transformations: &["T2"],
        version: "0.1.0",
        kind: Kind::Page,
    },
    Definition {
        id: id::NOTIFICATION_CENTER,
        name: "Notification center",
        domain: "communication",
        route: "/notifications",
        transformations: &["T4"],
        version: "0.1.0",
        kind: Kind::Page,
    },
    Definition {
        id: id::CONSOLE,
        name: "Console shell",
        domain: "platform",
        route: "/",
        transformations: &["T4"],
        version: "0.1.0",
        kind: Kind::System,
    },
    Definition {
        id: id::TELEMETRY,
        name: "Telemetry (T4 Observation)",
        domain: "platform",
        route: "/api/telemetry",
        transformations: &["T4"],
        version: "0.1.0",
        kind: Kind::System,
    },
    Definition {
        id: id::PILOT_EVALUATION,
        name: "Pilot evaluation",
        domain: "analytics",
        route: "/pilot",
        transformations: &["T4"],
        version: "0.1.0",
        kind: Kind::Page,
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
    pub kind: Kind,
    pub updated_at: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Toggle {
    Done,
    NoSuchComponent,
    /// System components (the shell, telemetry) cannot be switched off.
    AlwaysOn,
}
