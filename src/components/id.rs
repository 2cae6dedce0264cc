//! The ids of the built-in components. Routes, the navigation, pages and request
//! statistics name a component only through these constants, so a misspelt id
//! does not compile (a route with an unknown component would answer 404 for
//! ever, and its requests would be counted nowhere).

use std::fmt;

/// A built-in component's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ComponentId(&'static str);

impl ComponentId {
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

pub const ANALYTICS_DASHBOARD: ComponentId = ComponentId("analytics-dashboard");
pub const TOKEN_USAGE: ComponentId = ComponentId("token-usage");
pub const EXECUTION_MONITOR: ComponentId = ComponentId("execution-monitor");
pub const ERROR_LOGS: ComponentId = ComponentId("error-logs");
pub const TEAM_MEMBERS: ComponentId = ComponentId("team-members");
pub const API_KEYS: ComponentId = ComponentId("api-keys");
pub const WORKFLOW_SCHEDULER: ComponentId = ComponentId("workflow-scheduler");
pub const NOTIFICATION_CENTER: ComponentId = ComponentId("notification-center");
pub const PILOT_EVALUATION: ComponentId = ComponentId("pilot-evaluation");
/// The runtime's console pages beyond the seed's eight.
pub const AGENTS: ComponentId = ComponentId("agents");
pub const WORKFLOWS: ComponentId = ComponentId("workflows");
/// The shell (overview, account, settings): where unattributed requests count.
pub const CONSOLE: ComponentId = ComponentId("console");
/// Telemetry's own routes.
pub const TELEMETRY: ComponentId = ComponentId("telemetry");
