//! Workflows: named, versioned definitions (`definition`). Every save keeps the
//! previous versions (`workflow_versions`); an execution records the version it
//! ran, so history stays readable after edits.

pub mod compare;
pub mod definition;
pub mod diff;
pub mod editor;
pub mod graph;
pub mod handlers;
pub mod page;
mod store;

use serde::Serialize;

pub use definition::{Definition, Step};
pub use handlers::routes;
pub use store::{archive, create, definition_at, get, get_in, list, update, versions};

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

/// A validated workflow to save: its name, description and steps.
pub struct WorkflowFields {
    pub name: String,
    pub description: Option<String>,
    pub definition: Definition,
}

/// A step for unit tests: run by agent `a-1`, default timeout.
#[cfg(test)]
pub(crate) fn test_step(id: &str, prompt: &str, depends_on: &[&str]) -> Step {
    Step {
        id: id.into(),
        agent: "a-1".into(),
        prompt: prompt.into(),
        depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
        timeout_secs: None,
    }
}
