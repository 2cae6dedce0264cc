//! `/notifications/settings`: per type, whether it shows in the console and
//! whether it comes by mail; and the digest. The form saves through the same
//! function as `PUT /api/notifications/preferences`; a refusal comes back on
//! the page beside its field.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use maud::{Markup, html};

use super::NotificationType;
use super::digest::{DigestFrequency, DigestSettings};
use super::preferences::{DigestChoice, Preference, PreferenceChanges, TypeChoices, apply};
use crate::app::AppState;
use crate::auth::Principal;
use crate::components::id::NOTIFICATION_CENTER as COMPONENT;
use crate::error::{AppError, AppResult};
use crate::web::layout::when;
use crate::web::{Shell, notice, page};

pub const PATH: &str = "/notifications/settings";

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

pub struct SettingsView {
    pub preferences: Vec<Preference>,
    pub digest: DigestSettings,
    /// The zone the digest form offers when none was saved (the viewer's).
    pub zone: String,
    pub saved: bool,
    pub refused: Option<AppError>,
}

#[derive(Debug, serde::Deserialize, Default)]
pub struct Saved {
    #[serde(default)]
    saved: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    jar: CookieJar,
    axum::extract::Query(query): axum::extract::Query<Saved>,
) -> AppResult<Markup> {
    render_page(&state, &principal, &jar, query.saved.is_some(), None).await
}

async fn render_page(
    state: &AppState,
    principal: &Principal,
    jar: &CookieJar,
    saved: bool,
    refused: Option<AppError>,
) -> AppResult<Markup> {
    let shell = Shell::new("Notification settings", super::page::PATH).component(COMPONENT);
    let (preferences, shell) = tokio::try_join!(
        super::preferences::current(state, &principal.user_id),
        page(state, principal, shell),
    )?;
    let view = SettingsView {
        preferences: preferences.preferences,
        digest: preferences.digest,
        zone: crate::analytics::page::viewer_zone(jar).name().to_string(),
        saved,
        refused,
    };
    Ok(shell.render(render(&view)))
}

/// The form as posted: per type `in_app.TYPE=on` (checked boxes only) and
/// `email.TYPE=on|off|default`, then the digest's fields.
pub async fn save_form(
    State(state): State<AppState>,
    principal: Principal,
    jar: CookieJar,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let changes = match changes_of(&fields) {
        Ok(changes) => changes,
        Err(err) => return refused(&state, &principal, &jar, err).await,
    };
    match apply(&state, &principal, &changes).await {
        Ok(_) => Redirect::to(&format!("{PATH}?saved=1")).into_response(),
        Err(err) => refused(&state, &principal, &jar, err).await,
    }
}

async fn refused(
    state: &AppState,
    principal: &Principal,
    jar: &CookieJar,
    err: AppError,
) -> Response {
    if !matches!(err, AppError::Validation { .. }) {
        return err.into_response();
    }
    let status = err.status();
    match render_page(state, principal, jar, false, Some(err)).await {
        Ok(markup) => (status, markup).into_response(),
        Err(err) => err.into_response(),
    }
}

fn value<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// What the form asks for, every type given (an unchecked box is off).
fn changes_of(fields: &[(String, String)]) -> AppResult<PreferenceChanges> {
    let in_app = TypeChoices::each(|kind| {
        Some(value(fields, &format!("in_app.{}", kind.as_str())).is_some())
    });
    let mut email = Vec::new();
    for kind in NotificationType::ALL {
        let name = format!("email.{}", kind.as_str());
        let chosen = match value(fields, &name) {
            None | Some("default") => None,
            Some("on") => Some(true),
            Some("off") => Some(false),
            Some(_) => return Err(AppError::validation(name, "on, off or default")),
        };
        email.push((kind, chosen));
    }
    let email = TypeChoices::each(|kind| {
        email
            .iter()
            .find(|(k, _)| *k == kind)
            .and_then(|(_, chosen)| *chosen)
    });
    let number = |name: &str| -> AppResult<Option<i64>> {
        match value(fields, name).map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| AppError::validation(format!("digest.{name}"), "a whole number")),
        }
    };
    let frequency = match value(fields, "frequency").unwrap_or("off") {
        "daily" => DigestFrequency::Daily,
        "weekly" => DigestFrequency::Weekly,
        "off" => DigestFrequency::Off,
        _ => {
            return Err(AppError::validation(
                "digest.frequency",
                "off, daily or weekly",
            ));
        }
    };
    let digest = DigestChoice {
        frequency,
        hour: number("hour")?,
        weekday: number("weekday")?,
        timezone: value(fields, "timezone")
            .map(|zone| zone.trim().to_string())
            .filter(|zone| !zone.is_empty()),
    };
    Ok(PreferenceChanges {
        in_app: Some(in_app),
        email: Some(email),
        digest: Some(digest),
    })
}

pub fn render(view: &SettingsView) -> Markup {
    let digest = &view.digest;
    let zone = if digest.frequency == DigestFrequency::Off && digest.sent_through.is_none() {
        view.zone.as_str()
    } else {
        digest.timezone.as_str()
    };
    let error_for = |field: &str| view.refused.as_ref().and_then(|err| err.message_for(field));
    html! {
        header.page-header {
            h1 { "Notification settings" }
            p.lede { a href=(super::page::PATH) { "Back to your notifications" } }
        }
        @if view.saved { (notice("success", "Saved.")) }
        @if let Some(err) = &view.refused { (notice("error", &err.to_string())) }
        form.panel #preferences method="post" action=(PATH) {
            h2 { "What you hear of" }
            table.data {
                thead { tr { th scope="col" { "Type" } th scope="col" { "In the console" } th scope="col" { "By mail" } } }
                tbody {
                    @for preference in &view.preferences {
                        @let name = preference.kind.as_str();
                        tr {
                            th scope="row" { (preference.label) }
                            td {
                                input type="checkbox" id={"in-app-" (name)} name={"in_app." (name)} checked[preference.in_app]
                                    aria-label={(preference.label) " in the console"};
                            }
                            td { (email_choice(preference)) }
                        }
                    }
                }
            }
            h2 { "Digest" }
            p.hint { "One mail listing what is still unread of what arrived since the last one. Nothing unread, no mail." }
            div.step-grid {
                div.field {
                    label for="digest-frequency" { "How often" }
                    select #digest-frequency name="frequency" {
                        @for (frequency, label) in [(DigestFrequency::Off, "Off"), (DigestFrequency::Daily, "Daily"), (DigestFrequency::Weekly, "Weekly")] {
                            option value=(frequency.as_str()) selected[digest.frequency == frequency] { (label) }
                        }
                    }
                }
                div.field {
                    label for="digest-hour" { "At" }
                    select #digest-hour name="hour" {
                        @for hour in 0..24_i64 {
                            option value=(hour) selected[digest.hour == hour] { (format!("{hour:02}:00")) }
                        }
                    }
                }
                div.field {
                    label for="digest-weekday" { "On (weekly)" }
                    select #digest-weekday name="weekday" {
                        @for (n, day) in WEEKDAYS.iter().enumerate() {
                            option value=(n) selected[usize::try_from(digest.weekday) == Ok(n)] { (day) }
                        }
                    }
                }
                div.field {
                    label for="digest-timezone" { "Time zone" }
                    input #digest-timezone name="timezone" value=(zone) list="digest-zones" maxlength="64"
                        aria-invalid=[error_for("digest.timezone").map(|_| "true")];
                    datalist #digest-zones {
                        @for zone in chrono_tz::TZ_VARIANTS { option value=(zone.name()) {} }
                    }
                    @if let Some(message) = error_for("digest.timezone") { p.field-error { (message) } }
                }
            }
            @if digest.frequency != DigestFrequency::Off {
                p.hint #digest-next { "Next digest: " (when(digest.next_due_at)) }
            }
            button.button type="submit" { "Save settings" }
        }
    }
}

fn email_choice(preference: &Preference) -> Markup {
    let name = preference.kind.as_str();
    let alert = matches!(
        preference.kind,
        NotificationType::AlertFired | NotificationType::AlertResolved
    );
    let chosen = match preference.email {
        Some(true) => "on",
        Some(false) => "off",
        None if alert => "default",
        None => "off",
    };
    let mut choices = vec![("off", "No"), ("on", "Yes")];
    if alert {
        choices.insert(0, ("default", "As the rule says"));
    }
    html! {
        select name={"email." (name)} aria-label={(preference.label) " by mail"} {
            @for (value, label) in choices {
                option value=(value) selected[value == chosen] { (label) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_unchecked_box_is_off_and_default_mail_stays_unchosen() {
        let changes = changes_of(&posted(&[
            ("in_app.execution_failed", "on"),
            ("email.alert_fired", "default"),
            ("email.execution_failed", "on"),
            ("frequency", "weekly"),
            ("hour", "7"),
            ("weekday", "4"),
            ("timezone", "Europe/Berlin"),
        ]))
        .expect("changes");
        let in_app = changes.in_app.expect("in app");
        assert_eq!(in_app.get(NotificationType::ExecutionFailed), Some(true));
        assert_eq!(in_app.get(NotificationType::KeyFailed), Some(false));
        let email = changes.email.expect("email");
        assert_eq!(email.get(NotificationType::ExecutionFailed), Some(true));
        assert_eq!(email.get(NotificationType::AlertFired), None);
        let digest = changes.digest.expect("digest");
        assert_eq!(digest.frequency, DigestFrequency::Weekly);
        assert_eq!((digest.hour, digest.weekday), (Some(7), Some(4)));
    }

    #[test]
    fn a_bad_field_is_named() {
        let err = changes_of(&posted(&[("hour", "noon")])).expect_err("noon");
        assert!(matches!(err, AppError::Validation { ref field, .. } if field == "digest.hour"));
        let err = changes_of(&posted(&[("frequency", "hourly")])).expect_err("hourly");
        assert!(
            matches!(err, AppError::Validation { ref field, .. } if field == "digest.frequency")
        );
    }
}
