//! What the producers read about the event they report, in its transaction.

use crate::storage::Tx;

/// An ended execution, with its workflow's name and its schedule's creator.
#[derive(sqlx::FromRow)]
pub(in crate::notifications) struct EndedExecution {
    pub team_id: String,
    pub workflow_id: String,
    pub workflow_name: String,
    pub user_id: Option<String>,
    pub schedule_id: Option<String>,
    pub schedule_owner: Option<String>,
    pub error: Option<String>,
}

pub(in crate::notifications) async fn ended_execution_in(
    tx: &mut Tx,
    execution_id: &str,
) -> Result<Option<EndedExecution>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.team_id, e.workflow_id, w.name AS workflow_name, e.user_id, e.schedule_id, \
         s.created_by AS schedule_owner, e.error FROM executions e JOIN workflows w ON w.id = e.workflow_id \
         LEFT JOIN schedules s ON s.id = e.schedule_id WHERE e.id = $1",
    )
    .bind(execution_id)
    .fetch_optional(&mut **tx)
    .await
}

/// A schedule's team, workflow id and name, and creator.
pub(in crate::notifications) async fn schedule_of_in(
    tx: &mut Tx,
    schedule_id: &str,
) -> Result<Option<(String, String, String, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.team_id, s.workflow_id, w.name, s.created_by FROM schedules s \
         JOIN workflows w ON w.id = s.workflow_id WHERE s.id = $1",
    )
    .bind(schedule_id)
    .fetch_optional(&mut **tx)
    .await
}

pub(in crate::notifications) async fn user_by_email_in(
    tx: &mut Tx,
    email: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(&mut **tx)
        .await
}

/// A team's name and, when given, a user's.
pub(in crate::notifications) async fn team_and_user_names_in(
    tx: &mut Tx,
    team_id: &str,
    user_id: Option<&str>,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.name, (SELECT u.name FROM users u WHERE u.id = $2) FROM teams t WHERE t.id = $1",
    )
    .bind(team_id)
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await
}

pub(in crate::notifications) async fn user_name_and_email_in(
    tx: &mut Tx,
    user_id: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT name, email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await
}

/// A provider key's team, label and provider.
pub(in crate::notifications) async fn key_names_in(
    tx: &mut Tx,
    key_id: &str,
) -> Result<Option<(String, Option<String>, String)>, sqlx::Error> {
    sqlx::query_as("SELECT team_id, label, provider FROM api_keys_secure WHERE id = $1")
        .bind(key_id)
        .fetch_optional(&mut **tx)
        .await
}
