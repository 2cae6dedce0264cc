//! Agents: a named model at a provider, called with one of the team's keys and
//! standing instructions. Workflow steps name the agent that runs them.

mod form;
pub mod handlers;
pub mod page;
mod store;

use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::providers::ProviderKind;

pub use handlers::routes;
pub use store::{archive, create, get, get_many_any, ids, list, replace};

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
