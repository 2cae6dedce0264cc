//! Provider API keys (`api_keys_secure`): saved sealed by the vault, shown by
//! their last four characters only, opened just for the call that needs them.

pub mod handlers;
pub mod page;
mod store;
pub mod usage;

use secrecy::SecretString;
use serde::Serialize;

use crate::providers::ProviderKind;

pub use handlers::routes;
pub use store::{
    Deleted, create, credential, delete, get, list, mark_accepted_in, mark_refused, record_test,
    update, usage_by_day,
};

/// A key as everyone may see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    pub id: String,
    pub provider: ProviderKind,
    /// How the provider is shown ("Simulated (demo only…)" for the demo's).
    pub provider_name: &'static str,
    pub label: String,
    pub last4: String,
    pub base_url: Option<String>,
    pub status: KeyStatus,
    /// What the provider said when it refused the key; shown to admins and
    /// owners only (null for members and viewers).
    pub status_detail: Option<String>,
    pub created_at: i64,
    /// The name of who saved it (null once they are gone).
    pub created_by: Option<String>,
    pub last_used_at: Option<i64>,
    /// How many live (not archived) agents use it.
    pub agents: i64,
    /// The last validity test: when, its result, how long the provider took.
    pub last_tested_at: Option<i64>,
    pub last_test_result: Option<TestResult>,
    pub last_test_latency_ms: Option<i64>,
    /// What the provider said at the last test; admins and owners only (null
    /// for members and viewers).
    pub last_test_message: Option<String>,
    /// The models the provider listed at the last successful test (none
    /// before one), offered when an agent picks its model.
    pub models: Vec<String>,
}

impl KeyInfo {
    /// The status shown in the list: `unused` for a key no live agent uses
    /// and no call ever used, else the key's status.
    pub fn shown_status(&self) -> &'static str {
        if self.status == KeyStatus::Active && self.agents == 0 && self.last_used_at.is_none() {
            "unused"
        } else {
            self.status.as_str()
        }
    }
}

/// A validated key to save.
pub struct NewKey {
    pub provider: ProviderKind,
    pub label: String,
    pub secret: SecretString,
    pub base_url: Option<String>,
}

/// What may change on a key. A new secret is sealed afresh and makes the key
/// active again.
#[derive(Default)]
pub struct KeyChange {
    pub label: Option<String>,
    pub secret: Option<SecretString>,
    pub base_url: Option<Option<String>>,
}

/// What a key's validity test found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TestResult {
    /// The provider listed its models with the key.
    Ok,
    /// The provider refused the key (401/403): the key is marked invalid.
    Refused,
    /// No answer about the key (network error, outage, odd answer): its
    /// status stays as it was.
    Failed,
}

impl TestResult {
    pub fn as_str(self) -> &'static str {
        match self {
            TestResult::Ok => "ok",
            TestResult::Refused => "refused",
            TestResult::Failed => "failed",
        }
    }
}

impl std::str::FromStr for TestResult {
    type Err = ();

    fn from_str(text: &str) -> Result<TestResult, ()> {
        match text {
            "ok" => Ok(TestResult::Ok),
            "refused" => Ok(TestResult::Refused),
            "failed" => Ok(TestResult::Failed),
            _ => Err(()),
        }
    }
}

/// A finished validity test, to record.
pub struct TestRecord<'a> {
    pub result: TestResult,
    pub latency_ms: i64,
    pub message: &'a str,
    /// The models listed (kept on the key when the test succeeded).
    pub models: &'a [String],
}

/// Whether the provider accepts a key, as far as HUMMBL knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Saved, or accepted by the provider at its last use.
    Active,
    /// The provider refused it (401/403); a new secret makes it active again.
    Invalid,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Invalid => "invalid",
        }
    }
}

impl std::str::FromStr for KeyStatus {
    type Err = ();

    fn from_str(text: &str) -> Result<KeyStatus, ()> {
        match text {
            "active" => Ok(KeyStatus::Active),
            "invalid" => Ok(KeyStatus::Invalid),
            _ => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::store::last4;

    #[test]
    fn only_the_last_four_characters_are_kept() {
        assert_eq!(last4("sk-proj-abcdef1234"), "1234");
        assert_eq!(last4("ab"), "ab");
        assert_eq!(last4("ключ-éééé"), "éééé");
    }
}
