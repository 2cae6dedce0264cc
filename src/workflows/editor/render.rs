//! The editor's markup: a pure function of the view, so unit tests draw any
//! draft and refusal without a server.

use maud::{Markup, html};

use super::{Draft, DraftStep};
use crate::agents::Agent;
use crate::error::AppError;
use crate::web::notice;

pub struct EditorView {
    pub title: String,
    /// The workflow being edited (id, current version); none for a new one.
    pub workflow: Option<(String, i64)>,
    pub draft: Draft,
    pub agents: Vec<Agent>,
    /// A refused save: the API's error, naming its field.
    pub refused: Option<AppError>,
}

impl EditorView {
    /// The refusal's message when it names `field` or a part of it
    /// (`steps[1].depends_on[0]` shows beside `steps[1].depends_on`).
    fn error_for(&self, field: &str) -> Option<&str> {
        match &self.refused {
            Some(AppError::Validation {
                field: named,
                message,
            }) if named == field
                || named
                    .strip_prefix(field)
                    .is_some_and(|rest| rest.starts_with('[')) =>
            {
                Some(message)
            }
            _ => None,
        }
    }

    fn action(&self) -> String {
        match &self.workflow {
            Some((id, _)) => format!("/workflows/{id}/edit"),
            None => "/workflows/new".into(),
        }
    }
}

/// `steps[1].depends_on` → `steps-1-depends_on`: an element id.
fn dom_id(field: &str) -> String {
    field
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

pub fn render_editor(view: &EditorView) -> Markup {
    let cancel = match &view.workflow {
        Some((id, _)) => format!("/workflows/{id}"),
        None => "/workflows".into(),
    };
    html! {
        header.page-header {
            h1 { (view.title) }
            p.lede {
                "Each step is run by an agent with its prompt. A prompt reads the run's input as "
                code { "{{input.NAME}}" } " and an earlier step's answer as " code { "{{steps.ID.output}}" }
                " (tick that step under “Waits for”)."
                @if let Some((_, version)) = &view.workflow {
                    " Saving makes version " (version + 1) "; executions keep the version they ran."
                }
            }
        }
        @if let Some(error) = &view.refused {
            (notice("error", &error.to_string()))
        }
        @if view.agents.is_empty() {
            p.hint { "A step needs an agent: " a href="/agents" { "define one first" } "." }
        }
        form.editor method="post" action=(view.action()) {
            // Enter in a text field saves: the first submit button is Save.
            button.visually-hidden type="submit" name="action" value="save" tabindex="-1" aria-hidden="true" { "Save" }
            (text_field(view, "name", "Name", &view.draft.name))
            div.field {
                label for="workflow-description" { "Description (optional)" }
                textarea #workflow-description name="description" rows="2" maxlength="2000" { (view.draft.description) }
                (field_error(view, "description"))
            }
            @if let Some(message) = view.error_for("steps").filter(|_| !refusal_names_a_step(view)) {
                p.field-error { (message) }
            }
            ol.steps {
                @for (i, step) in view.draft.steps.iter().enumerate() {
                    li { (step_fields(view, i, step)) }
                }
            }
            div.editor-actions {
                button.button type="submit" name="action" value="add" { "Add step" }
                " "
                button.button.button-primary type="submit" name="action" value="save" { "Save workflow" }
                " "
                a.button href=(cancel) { "Cancel" }
            }
        }
        script type="module" src="/assets/editor.js" {}
    }
}

/// Whether the refusal is about one step (`steps[2]…`), not the list.
fn refusal_names_a_step(view: &EditorView) -> bool {
    matches!(&view.refused, Some(AppError::Validation { field, .. }) if field.starts_with("steps["))
}

fn text_field(view: &EditorView, name: &str, label: &str, value: &str) -> Markup {
    let error = view.error_for(name);
    html! {
        div.field {
            label for={"workflow-" (name)} { (label) }
            input id={"workflow-" (name)} name=(name) value=(value) required
                aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| format!("{}-error", dom_id(name)))];
            (field_error(view, name))
        }
    }
}

fn field_error(view: &EditorView, field: &str) -> Markup {
    html! {
        @if let Some(message) = view.error_for(field) {
            p.field-error id={(dom_id(field)) "-error"} { (message) }
        }
    }
}

fn step_fields(view: &EditorView, i: usize, step: &DraftStep) -> Markup {
    let field = |name: &str| format!("steps[{i}].{name}");
    let id = |name: &str| dom_id(&field(name));
    let invalid = |name: &str| view.error_for(&field(name)).map(|_| "true");
    let described = |name: &str| {
        view.error_for(&field(name))
            .map(|_| format!("{}-error", id(name)))
    };
    let last = view.draft.steps.len() - 1;
    html! {
        fieldset.step {
            legend { "Step " (i + 1) }
            input type="hidden" name=(field("was")) value=(step.was);
            div.step-grid {
                div.field {
                    label for=(id("id")) { "Step id" }
                    input id=(id("id")) name=(field("id")) value=(step.id) required maxlength="64" pattern="[A-Za-z0-9_\\-]+"
                        aria-invalid=[invalid("id")] aria-describedby=[described("id")];
                    (field_error(view, &field("id")))
                }
                div.field {
                    label for=(id("agent")) { "Agent" }
                    select id=(id("agent")) name=(field("agent")) required aria-invalid=[invalid("agent")] aria-describedby=[described("agent")] {
                        option value="" { "Choose an agent" }
                        @for agent in &view.agents {
                            option value=(agent.id) selected[agent.id == step.agent] {
                                (agent.name) " (" (agent.provider_name) " " (agent.model) ")"
                            }
                        }
                    }
                    (field_error(view, &field("agent")))
                }
                div.field {
                    label for=(id("timeout_secs")) { "Timeout (seconds, default 300)" }
                    input id=(id("timeout_secs")) name=(field("timeout_secs")) value=(step.timeout_secs) inputmode="numeric"
                        aria-invalid=[invalid("timeout_secs")] aria-describedby=[described("timeout_secs")];
                    (field_error(view, &field("timeout_secs")))
                }
            }
            div.field {
                label for=(id("prompt")) { "Prompt" }
                textarea id=(id("prompt")) name=(field("prompt")) rows="4" required spellcheck="false"
                    aria-invalid=[invalid("prompt")] aria-describedby=[described("prompt")] { (step.prompt) }
                (field_error(view, &field("prompt")))
                (references(view, i))
            }
            (dependencies(view, i, step))
            div.step-actions {
                button.button.button-small type="submit" name="action" value={"up-" (i)} disabled[i == 0] { "Move up" }
                button.button.button-small type="submit" name="action" value={"down-" (i)} disabled[i == last] { "Move down" }
                button.button.button-small.button-danger type="submit" name="action" value={"remove-" (i)} disabled[last == 0] { "Remove step " (i + 1) }
            }
        }
    }
}

/// The references the prompt may use; `editor.js` inserts one at the cursor.
fn references(view: &EditorView, i: usize) -> Markup {
    let target = dom_id(&format!("steps[{i}].prompt"));
    html! {
        div.references {
            span.muted { "Insert:" }
            @for reference in view.draft.references(i) {
                " "
                // Enabled by `editor.js`: without scripts the list is there to read.
                button.reference type="button" data-insert=(reference.text) data-target=(target)
                    data-step=[reference.step.as_deref()] data-index=(i) disabled {
                    (reference.text)
                }
            }
        }
    }
}

/// "Waits for": a checkbox per step this one may wait for.
fn dependencies(view: &EditorView, i: usize, step: &DraftStep) -> Markup {
    let field = format!("steps[{i}].depends_on");
    let choices = view.draft.dependency_choices(i);
    html! {
        fieldset.depends-on aria-describedby=[view.error_for(&field).map(|_| format!("{}-error", dom_id(&field)))] {
            legend { "Waits for" }
            @if choices.is_empty() {
                span.muted { "Nothing: the first step starts at once." }
            }
            @for (j, choice) in choices.iter().enumerate() {
                @let id = format!("{}-{j}", dom_id(&field));
                label.check for=(id) {
                    input type="checkbox" id=(id) name=(field) value=(choice) checked[step.depends_on.contains(choice)];
                    " " code { (choice) }
                }
            }
            (field_error(view, &field))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::Parameters;
    use crate::providers::ProviderKind;

    fn agent() -> Agent {
        Agent {
            id: "a-1".into(),
            name: "Writer <1>".into(),
            provider: ProviderKind::Openai,
            provider_name: "OpenAI",
            model: "gpt-4o-mini".into(),
            key_id: None,
            instructions: String::new(),
            parameters: Parameters::default(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn view(refused: Option<AppError>) -> EditorView {
        let mut draft = Draft::new_workflow(Some("a-1"));
        draft.name = "Brief".into();
        draft.steps[0].prompt = "About {{input.topic}}".into();
        draft.apply(super::super::Action::Add);
        EditorView {
            title: "New workflow".into(),
            workflow: None,
            draft,
            agents: vec![agent()],
            refused,
        }
    }

    #[test]
    fn each_step_has_its_fields_and_buttons() {
        let html = render_editor(&view(None)).into_string();
        assert!(html.contains(r#"action="/workflows/new""#));
        assert!(html.contains(r#"name="steps[1].prompt""#));
        assert!(html.contains(r#"name="steps[1].depends_on" value="step-1" checked"#));
        assert!(
            html.contains(r#"value="up-0" disabled"#)
                && html.contains(r#"value="down-1" disabled"#)
        );
        assert!(html.contains("Writer &lt;1&gt;"));
        assert!(html.contains(r#"data-insert="{{steps.step-1.output}}""#));
        assert!(html.contains(r#"data-insert="{{input.topic}}""#));
    }

    #[test]
    fn a_refusal_shows_beside_the_field_it_names() {
        let refused = AppError::validation("steps[1].depends_on[0]", "no step has the id \"x\"");
        let html = render_editor(&view(Some(refused))).into_string();
        let error_at = html
            .find(r#"id="steps-1-depends_on-error""#)
            .expect("error beside the field");
        let legend_at = html.rfind("Waits for").expect("legend");
        assert!(
            error_at > legend_at,
            "the message sits in step 2's Waits for"
        );
        assert!(html.contains(r#"aria-describedby="steps-1-depends_on-error""#));
        let name = AppError::validation("name", "must not be empty");
        let html = render_editor(&view(Some(name))).into_string();
        assert!(html.contains(r#"id="name-error""#) && html.contains(r#"aria-invalid="true""#));
    }
}
