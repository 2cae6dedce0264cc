//! `/settings/api-keys`: the team's provider keys (label, last four, base URL,
//! who saved it, last use, status). Admins and owners add keys, rename them,
//! replace a secret (the old one is gone; the base URL changes only with a new
//! secret) and delete keys no live agent uses; members and viewers read the
//! list, and the server refuses their forms (403). A secret is never shown: the
//! form takes it, the vault seals it, the page knows its last four only.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use secrecy::SecretString;
use serde::Deserialize;

use super::TestResult;
use super::handlers::{KeyChangeRequest, NewKeyRequest, add, change, remove, test};
use super::usage::KeyUsage;
use super::{KeyInfo, usage};
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::{AppError, AppResult};
use crate::routes::Route;
use crate::web::layout::when;
use crate::web::{Shell, notice, page};

pub const PATH: &str = "/settings/api-keys";

pub fn routes() -> Vec<Route> {
    vec![
        Route::page(Method::GET, PATH, show).allowed(Permission::Read),
        Route::page(Method::POST, PATH, add_form).allowed(Permission::ManageKeys),
        Route::page(Method::POST, "/settings/api-keys/{id}/label", label_form)
            .allowed(Permission::ManageKeys),
        Route::page(Method::POST, "/settings/api-keys/{id}/secret", secret_form)
            .allowed(Permission::ManageKeys),
        Route::page(Method::POST, "/settings/api-keys/{id}/delete", delete_form)
            .allowed(Permission::ManageKeys),
        Route::page(Method::POST, "/settings/api-keys/{id}/test", test_form)
            .allowed(Permission::ManageKeys),
    ]
}

/// The days of usage the list shows.
const USAGE_DAYS: i64 = 30;

/// What the page shows.
pub struct View {
    pub keys: Vec<KeyInfo>,
    /// Each key's usage over the last [`USAGE_DAYS`] days (every key has one).
    pub usage: std::collections::HashMap<String, KeyUsage>,
    /// Admins and owners: forms, and the provider's messages.
    pub may_manage: bool,
    /// A refusal of the last form, shown above the list.
    pub flash: Option<Markup>,
}

async fn load_and_render(
    state: &AppState,
    principal: &Principal,
    flash: Option<Markup>,
) -> AppResult<Markup> {
    let shell = Shell::new("API keys", PATH).component(super::handlers::COMPONENT);
    let period = crate::analytics::Period::last_days(USAGE_DAYS);
    let (keys, rows, shell) = tokio::try_join!(
        async { Ok(super::list(&state.db, &principal.team_id).await?) },
        async { Ok(super::usage_by_day(&state.db, &principal.team_id, period, None).await?) },
        page(state, principal, shell),
    )?;
    let usage = keys
        .iter()
        .map(|key| {
            let days = rows
                .iter()
                .filter(|(key_id, _, _)| *key_id == key.id)
                .map(|&(_, day, totals)| (day, totals));
            (key.id.clone(), usage::fold(period, days))
        })
        .collect();
    let may_manage = principal.can(Permission::ManageKeys);
    Ok(shell.render(render(&View {
        keys,
        usage,
        may_manage,
        flash,
    })))
}

/// The page's body (no queries).
pub fn render(view: &View) -> Markup {
    html! {
        header.page-header {
            h1 { "API keys" }
            p.lede {
                "Provider keys the team's agents call models with, sealed in the vault and shown by their last four characters only. "
                "Keys other apps use to send telemetry are on "
                a href="/settings/ingestion-keys" { "Ingestion keys" } "."
            }
        }
        @if let Some(flash) = &view.flash { (flash) }
        @if view.may_manage {
            (add_panel())
        } @else {
            p.hint { "Admins and owners add, change and delete provider keys." }
        }
        @if view.keys.is_empty() {
            p.empty { "No provider keys yet." }
        } @else {
            div.table-scroll { table.data {
                caption.visually-hidden { "Provider keys" }
                thead { tr {
                    th scope="col" { "Provider" } th scope="col" { "Label" } th scope="col" { "Last four" }
                    th scope="col" { "Base URL" } th scope="col" { "Created" } th scope="col" { "Last used" }
                    th scope="col" { "Agents" } th scope="col" { "Last 30 days" }
                    th scope="col" { "Last test" } th scope="col" { "Status" }
                    @if view.may_manage { th scope="col" { span.visually-hidden { "Test" } } }
                } }
                tbody {
                    @for key in &view.keys { (key_row(key, view.usage.get(&key.id), view.may_manage)) }
                }
            } }
            @if view.may_manage {
                @for key in &view.keys { (key_forms(key)) }
            }
        }
    }
}

fn key_row(key: &KeyInfo, usage: Option<&KeyUsage>, may_manage: bool) -> Markup {
    let status = key.shown_status();
    let totals = usage.map(|usage| usage.totals).unwrap_or_default();
    html! {
        tr {
            td { (key.provider_name) }
            td { (key.label) }
            td { code { "…" (key.last4) } }
            td {
                @match &key.base_url {
                    Some(url) => code { (url) },
                    None => span.muted { "provider's own" },
                }
            }
            td {
                (when(Some(key.created_at)))
                @if let Some(by) = &key.created_by { " by " (by) }
            }
            td { (when(key.last_used_at)) }
            td { (key.agents) }
            td.usage {
                @if let Some(usage) = usage { (sparkline(usage)) " " }
                (crate::web::format::compact(totals.calls as f64)) " calls"
                br;
                span.muted {
                    (crate::web::format::compact(totals.tokens() as f64)) " tokens · "
                    (crate::web::format::usd_cents(totals.cost_micros)) " · "
                    (crate::web::format::compact(totals.errors as f64)) " errors"
                }
            }
            td {
                @match key.last_test_result {
                    None => span.muted { "never" },
                    Some(result) => {
                        (test_result(result)) " " (when(key.last_tested_at))
                        @if let Some(ms) = key.last_test_latency_ms { " · " (ms) " ms" }
                        @if may_manage {
                            @if let Some(message) = &key.last_test_message { p.hint { (message) } }
                        }
                    }
                }
            }
            td {
                span class={"badge badge-key-" (status)} { (status) }
                @if may_manage {
                    @if let Some(detail) = &key.status_detail { p.hint { (detail) } }
                }
            }
            @if may_manage {
                td {
                    form method="post" action={"/settings/api-keys/" (key.id) "/test"} {
                        button.button.button-small type="submit" aria-label={"Test key " (key.label)} { "Test" }
                    }
                }
            }
        }
    }
}

/// Calls per day as a small line (the numbers are in the row beside it).
fn sparkline(usage: &KeyUsage) -> Markup {
    const WIDTH: f64 = 60.0;
    const HEIGHT: f64 = 16.0;
    let most = usage
        .days
        .iter()
        .map(|day| day.totals.calls)
        .max()
        .unwrap_or(0)
        .max(1);
    let step = WIDTH / (usage.days.len().max(2) - 1) as f64;
    let points: Vec<String> = usage
        .days
        .iter()
        .enumerate()
        .map(|(i, day)| {
            let y = HEIGHT - 1.0 - (HEIGHT - 2.0) * day.totals.calls as f64 / most as f64;
            format!("{:.1},{:.1}", i as f64 * step, y)
        })
        .collect();
    html! {
        svg.sparkline viewBox="0 0 60 16" aria-hidden="true" focusable="false" {
            polyline points=(points.join(" ")) {}
        }
    }
}

fn test_result(result: TestResult) -> &'static str {
    match result {
        TestResult::Ok => "accepted",
        TestResult::Refused => "refused",
        TestResult::Failed => "no answer",
    }
}

fn add_panel() -> Markup {
    html! {
        section.panel aria-labelledby="new-api-key-title" {
            h2 #new-api-key-title { "Add a key" }
            form method="post" action=(PATH) {
                div.field {
                    label for="new-key-provider" { "Provider" }
                    select #new-key-provider name="provider" required {
                        option value="openai" { "OpenAI (or OpenAI-compatible)" }
                        option value="anthropic" { "Anthropic" }
                    }
                }
                div.field {
                    label for="new-key-label" { "Label" }
                    input #new-key-label name="label" maxlength="100" required placeholder="Production OpenAI";
                }
                div.field {
                    label for="new-key-secret" { "Key" }
                    input #new-key-secret name="key" type="password" autocomplete="off" minlength="8" maxlength="512" required;
                }
                div.field {
                    label for="new-key-base" { "Base URL (empty: the provider's own API)" }
                    input #new-key-base name="base_url" type="url" placeholder="https://api.openai.com/v1";
                }
                button.button.button-primary type="submit" { "Add key" }
            }
        }
    }
}

/// An admin's forms for one key: rename, replace the secret, delete.
fn key_forms(key: &KeyInfo) -> Markup {
    let id = &key.id;
    html! {
        section.panel aria-labelledby={"key-" (id) "-title"} {
            h2 id={"key-" (id) "-title"} { (key.label) " " span.muted { "(…" (key.last4) ")" } }
            form method="post" action={"/settings/api-keys/" (id) "/label"} {
                div.field {
                    label for={"label-" (id)} { "Label" }
                    input id={"label-" (id)} name="label" maxlength="100" required value=(key.label);
                }
                button.button.button-small type="submit" { "Rename" }
            }
            form method="post" action={"/settings/api-keys/" (id) "/secret"} {
                p.hint { "A new secret replaces the old one, which is gone. The base URL changes only together with a new secret." }
                div.field {
                    label for={"secret-" (id)} { "New key" }
                    input id={"secret-" (id)} name="key" type="password" autocomplete="off" minlength="8" maxlength="512" required;
                }
                div.field {
                    label for={"base-" (id)} { "Base URL (empty: the provider's own API)" }
                    input id={"base-" (id)} name="base_url" type="url" value=[key.base_url.as_deref()];
                }
                button.button.button-small type="submit" { "Replace secret" }
            }
            form method="post" action={"/settings/api-keys/" (id) "/delete"} {
                @if key.agents > 0 {
                    p.hint { "Agents use this key: archive them or give them another key before deleting it." }
                }
                button.button.button-small.button-danger type="submit" aria-label={"Delete key " (key.label)} { "Delete" }
            }
        }
    }
}

async fn show(State(state): State<AppState>, principal: Principal) -> AppResult<Markup> {
    load_and_render(&state, &principal, None).await
}

/// After a form: back to the list, or the page again with the refusal above it
/// (a field's rule, a conflict) and its status.
async fn answer(state: &AppState, principal: &Principal, outcome: AppResult<()>) -> Response {
    let err = match outcome {
        Ok(()) => return Redirect::to(PATH).into_response(),
        Err(err @ (AppError::Validation { .. } | AppError::Conflict(_))) => err,
        Err(err) => return err.into_response(),
    };
    match load_and_render(state, principal, Some(notice("error", &err.to_string()))).await {
        Ok(markup) => (err.status(), markup).into_response(),
        Err(err) => err.into_response(),
    }
}

#[derive(Deserialize)]
struct AddForm {
    provider: String,
    label: String,
    key: SecretString,
    #[serde(default)]
    base_url: String,
}

async fn add_form(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<AddForm>,
) -> Response {
    let request = NewKeyRequest {
        provider: form.provider,
        label: form.label,
        key: form.key,
        base_url: non_empty(form.base_url),
    };
    let outcome = add(&state, &principal, request).await.map(|_| ());
    answer(&state, &principal, outcome).await
}

#[derive(Deserialize)]
struct LabelForm {
    label: String,
}

async fn label_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Form(form): Form<LabelForm>,
) -> Response {
    let request = KeyChangeRequest {
        label: Some(form.label),
        key: None,
        base_url: None,
    };
    let outcome = change(&state, &principal, &id, request).await.map(|_| ());
    answer(&state, &principal, outcome).await
}

#[derive(Deserialize)]
struct SecretForm {
    key: SecretString,
    #[serde(default)]
    base_url: String,
}

async fn secret_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Form(form): Form<SecretForm>,
) -> Response {
    let request = KeyChangeRequest {
        label: None,
        key: Some(form.key),
        base_url: Some(non_empty(form.base_url)),
    };
    let outcome = change(&state, &principal, &id, request).await.map(|_| ());
    answer(&state, &principal, outcome).await
}

async fn delete_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Response {
    let outcome = remove(&state, &principal, &id).await;
    answer(&state, &principal, outcome).await
}

/// Tests the key; the list shows the result (the message to admins only).
async fn test_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Response {
    let outcome = test(&state, &principal, &id).await.map(|_| ());
    answer(&state, &principal, outcome).await
}

fn non_empty(text: String) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider_keys::KeyStatus;
    use crate::providers::ProviderKind;

    fn key(id: &str, agents: i64, last_used_at: Option<i64>, status: KeyStatus) -> KeyInfo {
        KeyInfo {
            id: id.into(),
            provider: ProviderKind::Openai,
            provider_name: ProviderKind::Openai.display_name(),
            label: "Prod <openai>".into(),
            last4: "wxyz".into(),
            base_url: Some("https://llm.example.com/v1".into()),
            status,
            status_detail: (status == KeyStatus::Invalid).then(|| "Incorrect API key".into()),
            created_at: 1_700_000_000_000,
            created_by: Some("Ada".into()),
            last_used_at,
            agents,
            last_tested_at: Some(1_700_000_200_000),
            last_test_result: Some(if status == KeyStatus::Invalid {
                TestResult::Refused
            } else {
                TestResult::Ok
            }),
            last_test_latency_ms: Some(42),
            last_test_message: Some("provider said: Incorrect API key".into()),
            models: Vec::new(),
        }
    }

    /// Usage of `id`: 3 days, 7 calls (2 failed), 1,234 tokens, $0.25.
    fn used(id: &str) -> std::collections::HashMap<String, KeyUsage> {
        let day = crate::analytics::rollups::DAY_MS;
        let period = crate::analytics::Period {
            from: 0,
            to: 3 * day,
        };
        let totals = usage::Totals {
            calls: 7,
            input_tokens: 1_000,
            output_tokens: 200,
            cached_tokens: 34,
            cost_micros: 250_000,
            errors: 2,
        };
        [(id.to_string(), usage::fold(period, [(day, totals)]))].into()
    }

    #[test]
    fn usage_shows_totals_and_a_sparkline() {
        let view = View {
            keys: vec![key("k-1", 1, Some(1), KeyStatus::Active)],
            usage: used("k-1"),
            may_manage: false,
            flash: None,
        };
        let html = render(&view).into_string();
        assert!(html.contains("</svg> 7 calls"), "{html}");
        assert!(html.contains("1,234 tokens · $0.25 · 2 errors"));
        assert!(
            html.contains(r#"points="0.0,15.0 30.0,1.0 60.0,15.0""#),
            "{html}"
        );
    }

    #[test]
    fn admins_get_forms_and_the_providers_message() {
        let view = View {
            keys: vec![key("k-1", 2, Some(1_700_000_100_000), KeyStatus::Invalid)],
            usage: used("k-1"),
            may_manage: true,
            flash: None,
        };
        let html = render(&view).into_string();
        assert!(html.contains(r#"action="/settings/api-keys""#));
        assert!(html.contains(r#"action="/settings/api-keys/k-1/label""#));
        assert!(html.contains(r#"action="/settings/api-keys/k-1/secret""#));
        assert!(html.contains(r#"action="/settings/api-keys/k-1/delete""#));
        assert!(html.contains("Prod &lt;openai&gt;"));
        assert!(html.contains("…wxyz"));
        assert!(html.contains("https://llm.example.com/v1"));
        assert!(html.contains(" by Ada"));
        assert!(html.contains("badge-key-invalid"));
        assert!(html.contains("Incorrect API key"));
        assert!(html.contains("Agents use this key"));
        assert!(html.contains(r#"action="/settings/api-keys/k-1/test""#));
        assert!(html.contains("refused"));
        assert!(html.contains("42 ms"));
        assert!(html.contains("provider said: Incorrect API key"));
        assert!(html.contains(r#"href="/settings/ingestion-keys""#));
    }

    #[test]
    fn members_read_the_list_without_forms_or_provider_messages() {
        let mut invalid = key("k-1", 1, Some(1), KeyStatus::Invalid);
        // The list handler blanks it for them; the page does not show it anyway.
        invalid.status_detail = Some("Incorrect API key".into());
        let view = View {
            keys: vec![invalid],
            usage: used("k-1"),
            may_manage: false,
            flash: None,
        };
        let html = render(&view).into_string();
        assert!(!html.contains("<form"));
        assert!(!html.contains("Incorrect API key"));
        assert!(
            html.contains("42 ms"),
            "the result and latency are for everyone"
        );
        assert!(html.contains("Admins and owners add, change and delete provider keys."));
        assert!(html.contains("…wxyz"));
    }

    #[test]
    fn a_key_nothing_uses_or_used_is_unused() {
        let view = View {
            keys: vec![
                key("k-1", 0, None, KeyStatus::Active),
                key("k-2", 1, None, KeyStatus::Active),
                key("k-3", 0, Some(1), KeyStatus::Active),
            ],
            usage: Default::default(),
            may_manage: false,
            flash: None,
        };
        let html = render(&view).into_string();
        assert_eq!(html.matches("badge-key-unused").count(), 1);
        assert_eq!(html.matches("badge-key-active").count(), 2);
        let empty = View {
            keys: vec![],
            usage: Default::default(),
            may_manage: true,
            flash: None,
        };
        assert!(
            render(&empty)
                .into_string()
                .contains("No provider keys yet.")
        );
    }
}
