//! `/api/notifications/preferences`: per type, whether it shows in your
//! notification center and whether it comes by mail; and your digest.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::NotificationType;
use super::digest::{DigestFrequency, DigestSettings};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::storage::now_ms;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preference {
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub label: &'static str,
    /// Whether this type shows in your notification center.
    pub in_app: bool,
    /// Whether it comes by mail; null until you choose (alerts then follow
    /// their rule's e-mail setting, other types send no mail).
    pub email: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preferences {
    pub preferences: Vec<Preference>,
    pub digest: DigestSettings,
}

/// On or off per type; types left out keep their setting.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeChoices {
    pub execution_failed: Option<bool>,
    pub execution_succeeded: Option<bool>,
    pub schedule_failed: Option<bool>,
    pub schedule_skipped: Option<bool>,
    pub invitation_received: Option<bool>,
    pub invitation_accepted: Option<bool>,
    pub key_failed: Option<bool>,
    pub error_reopened: Option<bool>,
    pub alert_fired: Option<bool>,
    pub alert_resolved: Option<bool>,
}

impl TypeChoices {
    /// A choice for every type.
    pub fn each(choice: impl Fn(NotificationType) -> Option<bool>) -> TypeChoices {
        TypeChoices {
            execution_failed: choice(NotificationType::ExecutionFailed),
            execution_succeeded: choice(NotificationType::ExecutionSucceeded),
            schedule_failed: choice(NotificationType::ScheduleFailed),
            schedule_skipped: choice(NotificationType::ScheduleSkipped),
            invitation_received: choice(NotificationType::InvitationReceived),
            invitation_accepted: choice(NotificationType::InvitationAccepted),
            key_failed: choice(NotificationType::KeyFailed),
            error_reopened: choice(NotificationType::ErrorReopened),
            alert_fired: choice(NotificationType::AlertFired),
            alert_resolved: choice(NotificationType::AlertResolved),
        }
    }

    pub fn get(&self, kind: NotificationType) -> Option<bool> {
        match kind {
            NotificationType::ExecutionFailed => self.execution_failed,
            NotificationType::ExecutionSucceeded => self.execution_succeeded,
            NotificationType::ScheduleFailed => self.schedule_failed,
            NotificationType::ScheduleSkipped => self.schedule_skipped,
            NotificationType::InvitationReceived => self.invitation_received,
            NotificationType::InvitationAccepted => self.invitation_accepted,
            NotificationType::KeyFailed => self.key_failed,
            NotificationType::ErrorReopened => self.error_reopened,
            NotificationType::AlertFired => self.alert_fired,
            NotificationType::AlertResolved => self.alert_resolved,
        }
    }
}

/// The digest: how often, at which local hour, on which day for a weekly one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DigestChoice {
    pub frequency: DigestFrequency,
    /// 0 to 23 (default 8).
    #[schema(minimum = 0, maximum = 23)]
    pub hour: Option<i64>,
    /// 0 = Monday … 6 = Sunday (default Monday); used by a weekly digest.
    #[schema(minimum = 0, maximum = 6)]
    pub weekday: Option<i64>,
    /// An IANA zone (default: the one saved, else UTC).
    #[schema(max_length = 64)]
    pub timezone: Option<String>,
}

/// Choices to save; every part optional.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferenceChanges {
    /// Which types show in your notification center.
    pub in_app: Option<TypeChoices>,
    /// Which types come by mail.
    pub email: Option<TypeChoices>,
    pub digest: Option<DigestChoice>,
}

impl DigestChoice {
    /// The settings it asks for over `current`, with the next period's end;
    /// or a 422 naming the field.
    pub fn settings(&self, current: &DigestSettings, now: i64) -> AppResult<DigestSettings> {
        let hour = self.hour.unwrap_or(current.hour);
        if !(0..=23).contains(&hour) {
            return Err(AppError::validation("digest.hour", "0 to 23"));
        }
        let weekday = self.weekday.unwrap_or(current.weekday);
        if !(0..=6).contains(&weekday) {
            return Err(AppError::validation(
                "digest.weekday",
                "0 (Monday) to 6 (Sunday)",
            ));
        }
        let timezone = self
            .timezone
            .clone()
            .unwrap_or_else(|| current.timezone.clone());
        if timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(AppError::validation(
                "digest.timezone",
                format!("unknown time zone {timezone:?}; use an IANA name such as Europe/Berlin"),
            ));
        }
        let mut settings = DigestSettings {
            frequency: self.frequency,
            hour,
            weekday,
            timezone,
            next_due_at: None,
            sent_through: current.sent_through,
        };
        settings.next_due_at = match self.frequency {
            DigestFrequency::Off => None,
            _ => settings.next_after(now),
        };
        Ok(settings)
    }
}

/// The user's choices now, every type listed.
pub async fn current(state: &AppState, user_id: &str) -> AppResult<Preferences> {
    let (types, digest) = tokio::try_join!(
        super::preferences(&state.db, user_id),
        super::digest_settings(&state.db, user_id),
    )?;
    let preferences = types
        .into_iter()
        .map(|chosen| Preference {
            kind: chosen.kind,
            label: chosen.kind.label(),
            in_app: chosen.in_app,
            email: chosen.email,
        })
        .collect();
    Ok(Preferences {
        preferences,
        digest,
    })
}

/// Your choices per type (defaults filled in: every type shows but
/// "execution succeeded"; no mail until chosen) and your digest.
#[utoipa::path(get, path = "/api/notifications/preferences", tag = "notifications",
    responses((status = 200, body = Preferences)))]
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<Preferences>> {
    Ok(Json(current(&state, &principal.user_id).await?))
}

/// Saves your choices and answers all of them (the page's form comes here too).
pub async fn apply(
    state: &AppState,
    principal: &Principal,
    changes: &PreferenceChanges,
) -> AppResult<Preferences> {
    let user_id = &principal.user_id;
    if let Some(choice) = &changes.digest {
        let current = super::digest_settings(&state.db, user_id).await?;
        let settings = choice.settings(&current, now_ms())?;
        super::set_digest_settings(&state.db, user_id, &settings).await?;
    }
    let none = TypeChoices::default();
    let in_app = changes.in_app.as_ref().unwrap_or(&none);
    let email = changes.email.as_ref().unwrap_or(&none);
    let choices: Vec<_> = NotificationType::ALL
        .into_iter()
        .map(|kind| (kind, in_app.get(kind), email.get(kind)))
        .collect();
    super::set_preferences(&state.db, user_id, &choices).await?;
    current(state, user_id).await
}

/// Change which types show in your notification center, which come by
/// mail, and your digest.
#[utoipa::path(put, path = "/api/notifications/preferences", tag = "notifications",
    request_body = PreferenceChanges,
    responses((status = 200, body = Preferences), (status = 422, description = "an unknown type, hour, weekday or zone")))]
pub async fn save(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(changes): ApiJson<PreferenceChanges>,
) -> AppResult<Json<Preferences>> {
    Ok(Json(apply(&state, &principal, &changes).await?))
}
