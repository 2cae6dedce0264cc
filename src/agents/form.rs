//! The Agents page's form: name, key, model (offered from what the keys'
//! providers listed and the price table), instructions and parameters, with a
//! refusal shown beside the field it names.

use maud::{Markup, html};

use super::page::{AgentForm, AgentsView};
use crate::error::AppError;
use crate::provider_keys::KeyInfo;
use crate::web::notice;

/// The create form, or the edit form of the agent being edited; a refused
/// form shows what was sent with the error beside its field.
pub(super) fn agent_form(view: &AgentsView) -> Markup {
    let editing = view
        .editing
        .as_deref()
        .and_then(|id| view.agents.iter().find(|agent| agent.id == id));
    let (form, error) = match (&view.refused, editing) {
        (Some((form, error)), _) => (form.clone(), Some(error)),
        (None, Some(agent)) => (AgentForm::of(agent), None),
        (None, None) => (AgentForm::default(), None),
    };
    let (title, action, submit) = match editing {
        Some(agent) => (
            format!("Edit {}", agent.name),
            format!("/agents/{}", agent.id),
            "Save agent",
        ),
        None => (
            "New agent".to_string(),
            "/agents".to_string(),
            "Create agent",
        ),
    };
    let field_error = |field: &str| match error {
        Some(AppError::Validation {
            field: named,
            message,
        }) if named == field => Some(message.clone()),
        _ => None,
    };
    html! {
        section.panel aria-labelledby="agent-form-title" {
            h2 #agent-form-title { (title) }
            @if let Some(error) = error {
                (notice("error", &error.to_string()))
            }
            @if view.keys.is_empty() {
                p.hint { "Add a provider key first: an agent calls its model with one." }
            }
            form method="post" action=(action) {
                (text_field("agent-name", "name", "Name", &form.name, field_error("name"), true))
                div.field {
                    label for="agent-key" { "Provider key" }
                    select #agent-key name="key_id" required {
                        option value="" { "Choose a key" }
                        @for key in &view.keys {
                            option value=(key.id) selected[key.id == form.key_id] {
                                (key.provider_name) ": " (key.label) " (…" (key.last4) ")"
                            }
                        }
                    }
                    @if let Some(message) = field_error("key_id") { p.field-error { (message) } }
                }
                div.field {
                    label for="agent-model" { "Model (pick one the key listed or a priced one, or type any the key serves)" }
                    input #agent-model name="model" value=(form.model) list="agent-models" required aria-invalid=[field_error("model").map(|_| "true")];
                    datalist #agent-models {
                        @for (model, source) in model_choices(&view.keys) {
                            option value=(model) { (source) }
                        }
                    }
                    @if let Some(message) = field_error("model") { p.field-error { (message) } }
                }
                div.field {
                    label for="agent-instructions" { "Instructions" }
                    textarea #agent-instructions name="instructions" rows="4" maxlength="20000" { (form.instructions) }
                    @if let Some(message) = field_error("instructions") { p.field-error { (message) } }
                }
                (text_field("agent-temperature", "temperature", "Temperature (0 to 2, empty for the provider's default)", &form.temperature, field_error("parameters.temperature"), false))
                (text_field("agent-max-tokens", "max_tokens", "Max output tokens (empty for the provider's default)", &form.max_tokens, field_error("parameters.max_tokens"), false))
                button.button.button-primary type="submit" { (submit) }
                @if editing.is_some() {
                    " " a.button href="/agents" { "Cancel" }
                }
            }
        }
    }
}

/// The models offered: those each key's provider listed at its last test
/// (labelled with the key), then the priced ones not listed already.
pub(super) fn model_choices(keys: &[KeyInfo]) -> Vec<(String, String)> {
    let mut choices: Vec<(String, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for key in keys {
        for model in &key.models {
            if seen.insert(model.clone()) {
                choices.push((model.clone(), format!("listed by {}", key.label)));
            }
        }
    }
    for priced in crate::prices::defaults() {
        if seen.insert(priced.model.clone()) {
            choices.push((
                priced.model.clone(),
                format!("{} (priced)", priced.provider),
            ));
        }
    }
    choices
}

fn text_field(
    id: &str,
    name: &str,
    label: &str,
    value: &str,
    error: Option<String>,
    required: bool,
) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(name) value=(value) required[required] aria-invalid=[error.as_ref().map(|_| "true")];
            @if let Some(message) = error { p.field-error { (message) } }
        }
    }
}
