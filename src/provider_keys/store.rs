//! The provider keys' SQL. Secrets are sealed before they reach a statement and
//! opened only in [`credential`]; every change is written with its audit entry
//! in one transaction.

use secrecy::ExposeSecret;
use serde_json::json;

use super::{KeyChange, KeyInfo, KeyStatus, NewKey, TestRecord, TestResult};
use crate::audit::Actor;
use crate::error::AppError;
use crate::providers::{Credential, ProviderKind};
use crate::storage::{Db, Tx, decode_json, decode_name, new_id, now_ms};
use crate::vault::{KeyOwner, Sealed, Vault, VaultError};

/// A key's columns, with who created it and how many live agents use it.
const COLUMNS: &str = "k.id, k.provider, k.label, k.key_last_4, k.base_url, k.status, k.status_detail, \
     k.created_at, k.last_used_at, u.name AS created_by, k.last_tested_at, k.last_test_result, \
     k.last_test_latency_ms, k.last_test_message, k.models, \
     (SELECT COUNT(*) FROM agents a WHERE a.key_id = k.id AND a.archived_at IS NULL) AS agents";
const FROM: &str = "api_keys_secure k LEFT JOIN users u ON u.id = k.user_id";

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    provider: String,
    label: String,
    key_last_4: String,
    base_url: Option<String>,
    status: String,
    status_detail: Option<String>,
    created_at: i64,
    last_used_at: Option<i64>,
    created_by: Option<String>,
    agents: i64,
    last_tested_at: Option<i64>,
    last_test_result: Option<String>,
    last_test_latency_ms: Option<i64>,
    last_test_message: Option<String>,
    models: Option<String>,
}

impl TryFrom<KeyRow> for KeyInfo {
    type Error = sqlx::Error;

    fn try_from(row: KeyRow) -> Result<KeyInfo, sqlx::Error> {
        let provider: ProviderKind = decode_name("provider", &row.provider)?;
        Ok(KeyInfo {
            id: row.id,
            provider,
            provider_name: provider.display_name(),
            label: row.label,
            last4: row.key_last_4,
            base_url: row.base_url,
            status: decode_name("key status", &row.status)?,
            status_detail: row.status_detail,
            created_at: row.created_at,
            created_by: row.created_by,
            last_used_at: row.last_used_at,
            agents: row.agents,
            last_tested_at: row.last_tested_at,
            last_test_result: row
                .last_test_result
                .as_deref()
                .map(|text| decode_name("key test result", text))
                .transpose()?,
            last_test_latency_ms: row.last_test_latency_ms,
            last_test_message: row.last_test_message,
            models: row
                .models
                .as_deref()
                .map(|text| decode_json("key models", text))
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

/// How many of the models a provider lists are kept for the agent form
/// (OpenRouter-style gateways list hundreds).
const MAX_KEPT_MODELS: usize = 1000;

pub(super) fn last4(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

fn storage_error(err: VaultError) -> AppError {
    AppError::Internal(anyhow::Error::new(err))
}

/// Seals and saves a new key in the actor's team.
pub async fn create(
    db: &Db,
    vault: &Vault,
    actor: Actor<'_>,
    key: NewKey,
) -> Result<KeyInfo, AppError> {
    let id = new_id();
    let owner = KeyOwner {
        team_id: actor.team_id,
        key_id: &id,
        provider: key.provider.as_str(),
    };
    let secret = key.secret.expose_secret();
    let sealed = vault.seal(owner, secret).map_err(storage_error)?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO api_keys_secure (id, user_id, provider, key_encrypted, key_last_4, created_at, team_id, \
         label, base_url, nonce, key_version, status, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $6)",
    )
    .bind(&id)
    .bind(actor.user_id)
    .bind(key.provider.as_str())
    .bind(&sealed.ciphertext)
    .bind(last4(secret))
    .bind(now)
    .bind(actor.team_id)
    .bind(&key.label)
    .bind(&key.base_url)
    .bind(&sealed.nonce)
    .bind(sealed.key_version)
    .bind(KeyStatus::Active.as_str())
    .execute(&mut *tx)
    .await?;
    let detail =
        json!({"provider": key.provider.as_str(), "label": key.label, "last4": last4(secret)});
    audit(&mut tx, actor, "provider_key.created", &id, Some(detail)).await?;
    tx.commit().await?;
    get(db, actor.team_id, &id).await?.ok_or(AppError::NotFound)
}

pub async fn list(db: &Db, team_id: &str) -> Result<Vec<KeyInfo>, sqlx::Error> {
    sqlx::query_as::<_, KeyRow>(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE k.team_id = $1 ORDER BY k.created_at"
    ))
    .bind(team_id)
    .fetch_all(db.read())
    .await?
    .into_iter()
    .map(KeyInfo::try_from)
    .collect()
}

pub async fn get(db: &Db, team_id: &str, id: &str) -> Result<Option<KeyInfo>, sqlx::Error> {
    sqlx::query_as::<_, KeyRow>(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE k.team_id = $1 AND k.id = $2"
    ))
    .bind(team_id)
    .bind(id)
    .fetch_optional(db.read())
    .await?
    .map(KeyInfo::try_from)
    .transpose()
}

/// Applies a change to a key of the actor's team; None when there is no such key.
pub async fn update(
    db: &Db,
    vault: &Vault,
    actor: Actor<'_>,
    id: &str,
    change: KeyChange,
) -> Result<Option<KeyInfo>, AppError> {
    let Some(current) = get(db, actor.team_id, id).await? else {
        return Ok(None);
    };
    let mut tx = db.begin().await?;
    let now = now_ms();
    if let Some(label) = &change.label {
        sqlx::query("UPDATE api_keys_secure SET label = $1, updated_at = $2 WHERE id = $3")
            .bind(label)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(base_url) = &change.base_url {
        sqlx::query("UPDATE api_keys_secure SET base_url = $1, updated_at = $2 WHERE id = $3")
            .bind(base_url)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(secret) = &change.secret {
        let owner = KeyOwner {
            team_id: actor.team_id,
            key_id: id,
            provider: current.provider.as_str(),
        };
        let sealed = vault
            .seal(owner, secret.expose_secret())
            .map_err(storage_error)?;
        sqlx::query(
            "UPDATE api_keys_secure SET key_encrypted = $1, nonce = $2, key_version = $3, key_last_4 = $4, \
             status = $5, status_detail = NULL, updated_at = $6 WHERE id = $7",
        )
        .bind(&sealed.ciphertext)
        .bind(&sealed.nonce)
        .bind(sealed.key_version)
        .bind(last4(secret.expose_secret()))
        .bind(KeyStatus::Active.as_str())
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    let detail = json!({"key_replaced": change.secret.is_some()});
    audit(&mut tx, actor, "provider_key.updated", id, Some(detail)).await?;
    tx.commit().await?;
    Ok(get(db, actor.team_id, id).await?)
}

/// What became of a delete.
#[derive(Debug, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    NotFound,
    /// Live agents use the key (their names): it stays.
    InUse(Vec<String>),
}

/// Deletes a key of the actor's team, unless a live (not archived) agent uses
/// it: the check and the delete share the transaction.
pub async fn delete(db: &Db, actor: Actor<'_>, id: &str) -> Result<Deleted, sqlx::Error> {
    let mut tx = db.begin().await?;
    // The key's row lock makes an agent saved with this key meanwhile wait
    // for the delete (its reference check), so none is missed below.
    let exists: Option<String> = sqlx::query_scalar(&format!(
        "SELECT id FROM api_keys_secure WHERE team_id = $1 AND id = $2{}",
        db.for_update()
    ))
    .bind(actor.team_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if exists.is_none() {
        return Ok(Deleted::NotFound);
    }
    let users: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM agents WHERE team_id = $1 AND key_id = $2 AND archived_at IS NULL ORDER BY name",
    )
    .bind(actor.team_id)
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    if !users.is_empty() {
        return Ok(Deleted::InUse(users));
    }
    sqlx::query("DELETE FROM api_keys_secure WHERE team_id = $1 AND id = $2")
        .bind(actor.team_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit(&mut tx, actor, "provider_key.deleted", id, None).await?;
    tx.commit().await?;
    Ok(Deleted::Deleted)
}

#[derive(sqlx::FromRow)]
struct SealedRow {
    provider: String,
    key_encrypted: String,
    nonce: String,
    key_version: i64,
    base_url: Option<String>,
}

/// Opens a key for a call. `None`: no such key in the team.
pub async fn credential(
    db: &Db,
    vault: &Vault,
    team_id: &str,
    id: &str,
) -> Result<Option<Credential>, AppError> {
    let row: Option<SealedRow> = sqlx::query_as(
        "SELECT provider, key_encrypted, nonce, key_version, base_url FROM api_keys_secure \
         WHERE team_id = $1 AND id = $2",
    )
    .bind(team_id)
    .bind(id)
    .fetch_optional(db.read())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let kind: ProviderKind = decode_name("provider", &row.provider)?;
    let sealed = Sealed {
        ciphertext: row.key_encrypted,
        nonce: row.nonce,
        key_version: row.key_version,
    };
    let owner = KeyOwner {
        team_id,
        key_id: id,
        provider: kind.as_str(),
    };
    let secret = vault.open_sealed(owner, &sealed).map_err(|err| match err {
        VaultError::CannotOpen => AppError::Conflict(
            "the stored key cannot be opened: it was changed outside HUMMBL or sealed under another \
             master key; enter the key again"
                .into(),
        ),
        other => storage_error(other),
    })?;
    Ok(Some(Credential {
        kind,
        base_url: row.base_url,
        secret,
    }))
}

/// Records a key test with its audit entry: its result, latency and message,
/// and the key's status when the provider answered about the key (accepted:
/// active again; refused: invalid, with its message). A test is not a use.
pub async fn record_test(
    db: &Db,
    actor: Actor<'_>,
    id: &str,
    test: &TestRecord<'_>,
) -> Result<crate::notifications::Created, sqlx::Error> {
    let mut tx = db.begin().await?;
    let status = match test.result {
        TestResult::Ok => Some((KeyStatus::Active, None)),
        TestResult::Refused => Some((KeyStatus::Invalid, Some(test.message))),
        TestResult::Failed => None,
    };
    if let Some((status, detail)) = status {
        sqlx::query("UPDATE api_keys_secure SET status = $1, status_detail = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(detail)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    if test.result == TestResult::Ok {
        let listed = &test.models[..test.models.len().min(MAX_KEPT_MODELS)];
        sqlx::query("UPDATE api_keys_secure SET models = $1 WHERE id = $2")
            .bind(json!(listed).to_string())
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "UPDATE api_keys_secure SET last_tested_at = $1, last_test_result = $2, last_test_latency_ms = $3, \
         last_test_message = $4 WHERE id = $5",
    )
    .bind(now_ms())
    .bind(test.result.as_str())
    .bind(test.latency_ms)
    .bind(test.message)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let detail = json!({"ok": test.result == TestResult::Ok, "result": test.result.as_str()});
    audit(&mut tx, actor, "provider_key.tested", id, Some(detail)).await?;
    let told = match test.result {
        TestResult::Ok => crate::notifications::Created::default(),
        TestResult::Refused | TestResult::Failed => {
            crate::notifications::producers::key_failed_in(
                &mut tx,
                id,
                "failed its test",
                test.message,
            )
            .await?
        }
    };
    tx.commit().await?;
    Ok(told)
}

/// Marks a key the provider accepted during a run: used now, and active (in
/// the transaction that records the call).
pub async fn mark_accepted_in(tx: &mut Tx, id: &str) -> Result<(), sqlx::Error> {
    mark_in(tx, id, None).await
}

/// Marks a key refused by its provider during a run (401/403); the admins
/// hear of it when that turns an active key invalid (not at every refusal).
pub async fn mark_refused(
    db: &Db,
    id: &str,
    message: &str,
) -> Result<crate::notifications::Created, sqlx::Error> {
    let mut tx = db.begin().await?;
    let before: Option<String> =
        sqlx::query_scalar("SELECT status FROM api_keys_secure WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    mark_in(&mut tx, id, Some(message)).await?;
    let told = if before.as_deref() == Some(KeyStatus::Invalid.as_str()) {
        crate::notifications::Created::default()
    } else {
        crate::notifications::producers::key_failed_in(
            &mut tx,
            id,
            "was refused by the provider",
            message,
        )
        .await?
    };
    tx.commit().await?;
    Ok(told)
}

async fn mark_in(tx: &mut Tx, id: &str, refused: Option<&str>) -> Result<(), sqlx::Error> {
    let status = match refused {
        Some(_) => KeyStatus::Invalid,
        None => KeyStatus::Active,
    };
    sqlx::query(
        "UPDATE api_keys_secure SET status = $1, status_detail = $2, last_used_at = $3 WHERE id = $4",
    )
    .bind(status.as_str())
    .bind(refused)
    .bind(now_ms())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn audit(
    tx: &mut Tx,
    actor: Actor<'_>,
    action: &str,
    id: &str,
    detail: Option<serde_json::Value>,
) -> Result<(), sqlx::Error> {
    crate::audit::record_in(tx, actor, action, ("provider_key", id), detail).await
}

#[derive(sqlx::FromRow)]
struct UsageRow {
    key_id: String,
    day: i64,
    calls: i64,
    input_tokens: i64,
    output_tokens: i64,
    cached_tokens: i64,
    cost_micros: i64,
    errors: i64,
}

/// Per key and UTC day in `period`: the team's steps that called a provider
/// with a key (`key`: this one only), counted like the roll-ups count steps.
pub async fn usage_by_day(
    db: &Db,
    team_id: &str,
    period: crate::analytics::Period,
    key: Option<&str>,
) -> Result<Vec<(String, i64, super::usage::Totals)>, sqlx::Error> {
    use crate::analytics::rollups::DAY_MS;
    use crate::storage::sql::{sum_as, sums};
    let day = format!("t.completed_at - (t.completed_at % {DAY_MS})");
    let sql = format!(
        "SELECT t.key_id AS key_id, {day} AS day, COUNT(*) AS calls, {}, {} FROM task_results t \
         WHERE t.team_id = $1 AND t.completed_at >= $2 AND t.completed_at < $3 AND t.key_id IS NOT NULL \
         AND t.status IN ('succeeded', 'failed') AND t.reused_from IS NULL AND t.attempts > 0{} \
         GROUP BY t.key_id, {day}",
        sums(
            "t.",
            &[
                "input_tokens",
                "output_tokens",
                "cached_tokens",
                "cost_micros"
            ]
        ),
        sum_as("CASE WHEN t.status = 'failed' THEN 1 ELSE 0 END", "errors"),
        if key.is_some() {
            " AND t.key_id = $4"
        } else {
            ""
        },
    );
    let mut query = sqlx::query_as::<_, UsageRow>(&sql)
        .bind(team_id)
        .bind(period.from)
        .bind(period.to);
    if let Some(key) = key {
        query = query.bind(key);
    }
    Ok(query
        .fetch_all(db.read())
        .await?
        .into_iter()
        .map(|row| {
            (
                row.key_id,
                row.day,
                super::usage::Totals {
                    calls: row.calls,
                    input_tokens: row.input_tokens,
                    output_tokens: row.output_tokens,
                    cached_tokens: row.cached_tokens,
                    cost_micros: row.cost_micros,
                    errors: row.errors,
                },
            )
        })
        .collect())
}
