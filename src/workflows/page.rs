//! `/workflows`: the team's workflows with their last run and 30-day success
//! rate; `/workflows/{id}`: a workflow's step graph and steps, its versions and
//! a Run form (JSON input, pre-filled with the fields its prompts use) that
//! opens the new execution in the monitor; `/workflows/{id}/compare`: what
//! changed between two versions. The step editor is `editor`.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Definition, VersionInfo, Workflow};
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::components::id::WORKFLOWS as COMPONENT;
use crate::error::{AppError, AppResult};
use crate::executions::{Trigger, WorkflowRuns};
use crate::storage::now_ms;
use crate::web::layout::when;
use crate::web::{Shell, notice, page};

/// The window of the success rate.
const RATE_DAYS: i64 = 30;

pub struct WorkflowsView {
    pub workflows: Vec<Workflow>,
    pub runs: HashMap<String, WorkflowRuns>,
    pub may_edit: bool,
}

pub async fn show(State(state): State<AppState>, principal: Principal) -> AppResult<Markup> {
    let team = principal.team_id.as_str();
    let since = now_ms() - RATE_DAYS * 86_400_000;
    let shell = Shell::new("Workflows", "/workflows").component(COMPONENT);
    let (workflows, runs, shell) = tokio::try_join!(
        async { Ok(super::list(&state.db, team).await?) },
        async { Ok(crate::executions::runs_by_workflow(&state.db, team, since).await?) },
        page(&state, &principal, shell),
    )?;
    let runs = runs
        .into_iter()
        .map(|runs| (runs.workflow_id.clone(), runs))
        .collect();
    let may_edit = principal.can(Permission::EditWorkflows);
    Ok(shell.render(render_list(&WorkflowsView {
        workflows,
        runs,
        may_edit,
    })))
}

/// "83 % of 12", or a dash before anything finished.
fn success_rate(runs: Option<&WorkflowRuns>) -> String {
    match runs {
        Some(runs) if runs.finished > 0 => format!(
            "{:.0} % of {}",
            runs.succeeded as f64 * 100.0 / runs.finished as f64,
            runs.finished
        ),
        _ => "—".into(),
    }
}

pub fn render_list(view: &WorkflowsView) -> Markup {
    html! {
        header.page-header {
            h1 { "Workflows" }
            p.lede { "Steps run by agents, each using the run's input and earlier steps' output." }
            @if view.may_edit {
                a.button.button-primary href="/workflows/new" { "New workflow" }
            }
        }
        @if view.workflows.is_empty() {
            p.empty { "No workflows yet." }
        } @else {
            table.data {
                caption.visually-hidden { "The team's workflows" }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Version" } th scope="col" { "Steps" }
                    th scope="col" { "Last run" } th scope="col" { "Success (30 days)" }
                } }
                tbody {
                    @for workflow in &view.workflows {
                        @let runs = view.runs.get(&workflow.id);
                        tr {
                            td { a href={"/workflows/" (workflow.id)} { (workflow.name) } }
                            td { "v" (workflow.version) }
                            td { (workflow.steps.len()) }
                            td {
                                @match runs {
                                    Some(runs) => {
                                        span class={"status status-" (runs.last_status)} { (runs.last_status) } " " (when(Some(runs.last_run_at)))
                                    }
                                    None => { span.muted { "never" } }
                                }
                            }
                            td { (success_rate(runs)) }
                        }
                    }
                }
            }
        }
    }
}

/// One workflow: steps, versions, Run.
pub struct WorkflowView {
    pub workflow: Workflow,
    pub versions: Vec<VersionInfo>,
    pub agents: HashMap<String, String>,
    pub may_run: bool,
    pub may_edit: bool,
    /// Whether the viewer follows it (hears of its failed runs).
    pub following: bool,
    /// A refused run: the input sent and why.
    pub refused: Option<(String, AppError)>,
}

async fn load_one(state: &AppState, principal: &Principal, id: &str) -> AppResult<WorkflowView> {
    let team = principal.team_id.as_str();
    let (workflow, versions, agents, following) = tokio::try_join!(
        super::get(&state.db, team, id),
        super::versions(&state.db, team, id),
        crate::agents::list(&state.db, team),
        crate::notifications::subscribed(&state.db, id, &principal.user_id),
    )?;
    Ok(WorkflowView {
        workflow: workflow.ok_or(AppError::NotFound)?,
        versions,
        agents: agents.into_iter().map(|a| (a.id, a.name)).collect(),
        may_run: principal.can(Permission::Operate),
        may_edit: principal.can(Permission::EditWorkflows),
        following,
        refused: None,
    })
}

async fn render_one(
    state: &AppState,
    principal: &Principal,
    id: &str,
    refused: Option<(String, AppError)>,
) -> AppResult<Markup> {
    let shell = Shell::new("Workflow", "/workflows").component(COMPONENT);
    let (mut view, shell) = tokio::try_join!(
        load_one(state, principal, id),
        page(state, principal, shell)
    )?;
    view.refused = refused;
    Ok(shell.render(render_workflow(&view)))
}

pub async fn details(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Markup> {
    render_one(&state, &principal, &id, None).await
}

/// The input a run form starts with: every field the prompts use, empty.
fn input_template(workflow: &Workflow) -> String {
    let definition = Definition {
        steps: workflow.steps.clone(),
    };
    let fields: serde_json::Map<String, serde_json::Value> = definition
        .input_fields()
        .into_iter()
        .map(|field| (field, serde_json::Value::String(String::new())))
        .collect();
    serde_json::to_string_pretty(&fields).unwrap_or_else(|_| "{}".into())
}

pub fn render_workflow(view: &WorkflowView) -> Markup {
    let workflow = &view.workflow;
    let agent = |id: &str| {
        view.agents
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    };
    html! {
        header.page-header {
            h1 { (workflow.name) " " span.badge { "v" (workflow.version) } }
            @if let Some(description) = &workflow.description { p.lede { (description) } }
            div.header-actions {
                @if view.may_edit {
                    a.button href={"/workflows/" (workflow.id) "/edit"} { "Edit steps" }
                }
                form method="post" action={"/workflows/" (workflow.id) "/follow"} {
                    input type="hidden" name="follow" value=(!view.following);
                    button.button #follow type="submit" aria-pressed=(view.following)
                        title="Followers hear of every failed run, whoever started it" {
                        (if view.following { "Following" } else { "Follow" })
                    }
                }
            }
        }
        @if view.may_run {
            (run_form(view))
        }
        section.panel aria-labelledby="steps-title" {
            h2 #steps-title { "Steps" }
            (super::graph::render(&workflow.steps, agent))
            table.data {
                caption.visually-hidden { "Steps of " (workflow.name) }
                thead { tr { th scope="col" { "Step" } th scope="col" { "Agent" } th scope="col" { "Waits for" } th scope="col" { "Prompt" } } }
                tbody {
                    @for step in &workflow.steps {
                        tr {
                            td { code { (step.id) } }
                            td { (agent(&step.agent)) }
                            td { @if step.depends_on.is_empty() { span.muted { "—" } } @else { (step.depends_on.join(", ")) } }
                            td { pre.prompt { (step.prompt) } }
                        }
                    }
                }
            }
        }
        section.panel aria-labelledby="versions-title" {
            h2 #versions-title { "Versions" }
            table.data {
                caption.visually-hidden { "Versions of " (workflow.name) }
                thead { tr { th scope="col" { "Version" } th scope="col" { "Steps" } th scope="col" { "Saved" } th scope="col" { "Changes" } } }
                tbody {
                    @for version in &view.versions {
                        tr {
                            td { "v" (version.version) }
                            td { (version.steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(" → ")) }
                            td { (when(Some(version.created_at))) }
                            td {
                                @if version.version > 1 {
                                    a href={"/workflows/" (workflow.id) "/compare?from=" (version.version - 1) "&to=" (version.version)} { "Compare with v" (version.version - 1) }
                                } @else { span.muted { "first" } }
                            }
                        }
                    }
                }
            }
            @if view.versions.len() > 1 {
                (super::compare::compare_form(&workflow.id, &view.versions, None))
            }
        }
        p { a href="/workflows" { "All workflows" } }
    }
}

fn run_form(view: &WorkflowView) -> Markup {
    let (input, error) = match &view.refused {
        Some((input, error)) => (input.clone(), Some(error)),
        None => (input_template(&view.workflow), None),
    };
    html! {
        section.panel aria-labelledby="run-title" {
            h2 #run-title { "Run" }
            @if let Some(error) = error {
                (notice("error", &error.to_string()))
            }
            form method="post" action={"/workflows/" (view.workflow.id) "/run"} {
                div.field {
                    label for="run-input" { "Input (JSON)" }
                    textarea #run-input name="input" rows="5" spellcheck="false" aria-invalid=[error.map(|_| "true")] { (input) }
                }
                button.button.button-primary type="submit" { "Run" }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct RunForm {
    #[serde(default)]
    pub input: String,
}

/// Starts a run and opens it in the monitor; a refused input comes back to
/// the form with the reason.
pub async fn run(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Form(form): Form<RunForm>,
) -> Response {
    match start(&state, &principal, &id, &form.input).await {
        Ok(execution) => Redirect::to(&format!("/monitor/{execution}")).into_response(),
        Err(err @ AppError::Validation { .. }) => {
            let status = err.status();
            match render_one(&state, &principal, &id, Some((form.input, err))).await {
                Ok(markup) => (status, markup).into_response(),
                Err(err) => err.into_response(),
            }
        }
        Err(err) => err.into_response(),
    }
}

async fn start(state: &AppState, principal: &Principal, id: &str, text: &str) -> AppResult<String> {
    let workflow = super::get(&state.db, &principal.team_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let text = if text.trim().is_empty() {
        "{}"
    } else {
        text.trim()
    };
    let input: serde_json::Value = serde_json::from_str(text)
        .map_err(|err| AppError::validation("input", format!("not JSON: {err}")))?;
    super::definition::check_input(&workflow.steps, &input)?;
    crate::executions::start(
        state.engine(),
        &principal.team_id,
        &workflow,
        input,
        Trigger::User(principal.user_id.clone()),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflows::test_step as step;

    fn workflow() -> Workflow {
        Workflow {
            id: "w-1".into(),
            name: "Brief <weekly>".into(),
            description: None,
            version: 3,
            steps: vec![
                step("facts", "Facts about {{input.topic}}", &[]),
                step(
                    "brief",
                    "Brief from {{steps.facts.output}} for {{input.audience}}",
                    &["facts"],
                ),
            ],
            created_by: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn the_list_shows_last_run_and_success_rate() {
        let runs = WorkflowRuns {
            workflow_id: "w-1".into(),
            runs: 13,
            finished: 12,
            succeeded: 10,
            last_run_at: 0,
            last_status: "failed".into(),
        };
        let view = WorkflowsView {
            workflows: vec![workflow()],
            runs: HashMap::from([("w-1".to_string(), runs)]),
            may_edit: true,
        };
        let html = render_list(&view).into_string();
        assert!(html.contains(r#"href="/workflows/w-1""#));
        assert!(html.contains("Brief &lt;weekly&gt;"));
        assert!(html.contains("83 % of 12"));
        assert!(html.contains(r#"href="/workflows/new""#));
        assert!(html.contains("status-failed"));
        let never = WorkflowsView {
            workflows: vec![workflow()],
            runs: HashMap::new(),
            may_edit: false,
        };
        let html = render_list(&never).into_string();
        assert!(html.contains("never") && !html.contains("/workflows/new"));
    }

    #[test]
    fn a_workflow_offers_a_run_form_with_its_input_fields() {
        let view = WorkflowView {
            workflow: workflow(),
            versions: Vec::new(),
            agents: HashMap::from([("a-1".to_string(), "Writer".to_string())]),
            may_run: true,
            may_edit: true,
            following: false,
            refused: None,
        };
        let html = render_workflow(&view).into_string();
        assert!(html.contains(r#"action="/workflows/w-1/run""#));
        assert!(
            html.contains(r#"action="/workflows/w-1/follow""#),
            "a Follow button"
        );
        assert!(
            html.contains("&quot;audience&quot;: &quot;&quot;")
                && html.contains("&quot;topic&quot;")
        );
        assert!(html.contains("Writer") && html.contains("facts</code>"));
        assert!(html.contains(r#"href="/workflows/w-1/edit""#) && html.contains("<svg"));
        let viewer = WorkflowView {
            may_run: false,
            may_edit: false,
            ..view
        };
        let html = render_workflow(&viewer).into_string();
        assert!(!html.contains("/run\"") && !html.contains("/edit\""));
        assert!(html.contains("/follow\""), "viewers may follow");
    }
}
