//! `/monitor` (component `execution-monitor`): running and pending executions
//! and the recent finished ones, filtered in the URL, kept live by
//! `assets/monitor.js` from `/api/executions/stream`; kill and retry (members
//! and up), a run form, and each execution's step timeline at `/monitor/{id}`.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::{ExecutionSummary, Filter, RetryFrom, Source, Status, Trigger, TriggerKind};
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::components::id::EXECUTION_MONITOR as COMPONENT;
use crate::error::{AppError, AppResult};
use crate::storage::now_ms;
use crate::web::format::urlencode;
use crate::web::layout::when;
use crate::web::{Shell, page};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct MonitorQuery {
    /// Comma-separated statuses; empty: all.
    pub status: Option<String>,
    pub workflow: Option<String>,
    pub user: Option<String>,
    /// `hummbl` or `otlp`; empty: both.
    pub source: Option<String>,
    /// An execution id to look up.
    pub q: Option<String>,
}

const RECENT: i64 = 50;

fn duration(ms: i64) -> String {
    let seconds = ms.max(0) / 1000;
    match seconds {
        0..=59 => format!("{seconds}s"),
        60..=3599 => format!("{}m {}s", seconds / 60, seconds % 60),
        _ => format!("{}h {}m", seconds / 3600, (seconds % 3600) / 60),
    }
}

fn started_by(execution: &ExecutionSummary, names: &HashMap<String, String>) -> String {
    match execution.triggered_by {
        TriggerKind::Schedule => "schedule".into(),
        TriggerKind::Demo => "demo trickle".into(),
        TriggerKind::Otlp => "OpenTelemetry".into(),
        TriggerKind::Retry => format!(
            "retry by {}",
            execution
                .user_id
                .as_ref()
                .and_then(|id| names.get(id))
                .cloned()
                .unwrap_or_default()
        ),
        TriggerKind::User => execution
            .user_id
            .as_ref()
            .and_then(|id| names.get(id))
            .cloned()
            .unwrap_or_else(|| "someone".into()),
    }
}

/// What the monitor shows.
pub struct MonitorView {
    pub query: MonitorQuery,
    pub executions: Vec<ExecutionSummary>,
    /// The filter's and the run form's choices.
    pub workflows: Vec<(String, String)>,
    /// (user id, name) of the team's members.
    pub members: Vec<(String, String)>,
    /// Whether the viewer may run, kill and retry.
    pub may_act: bool,
    /// The moment elapsed times are measured to.
    pub now: i64,
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<MonitorQuery>,
) -> AppResult<Response> {
    if let Some(id) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        return Ok(Redirect::to(&format!("/monitor/{}", urlencode(id))).into_response());
    }
    let shell = Shell::new("Execution monitor", "/monitor").component(COMPONENT);
    let (view, shell) = tokio::try_join!(
        load_monitor(&state, &principal, query),
        page(&state, &principal, shell),
    )?;
    Ok(shell.render(render_monitor(&view)).into_response())
}

/// Loads the monitor's view: the executions, workflows and members at once.
async fn load_monitor(
    state: &AppState,
    principal: &Principal,
    query: MonitorQuery,
) -> AppResult<MonitorView> {
    let filter = Filter {
        statuses: Status::parse_list(query.status.as_deref())?,
        workflow_id: query.workflow.clone().filter(|v| !v.is_empty()),
        user_id: query.user.clone().filter(|v| !v.is_empty()),
        source: super::handlers::parse_source(query.source.as_deref())?,
        limit: RECENT,
        ..Filter::default()
    };
    let team = principal.team_id.as_str();
    let (executions, workflows, members) = tokio::try_join!(
        super::list(&state.db, team, &filter),
        crate::workflows::list(&state.db, team),
        crate::teams::members(&state.db, team),
    )?;
    Ok(MonitorView {
        query,
        executions,
        workflows: workflows.into_iter().map(|w| (w.id, w.name)).collect(),
        members: members.into_iter().map(|m| (m.user_id, m.name)).collect(),
        may_act: principal.can(Permission::Operate),
        now: now_ms(),
    })
}

/// The monitor's body for a view (no queries).
pub fn render_monitor(view: &MonitorView) -> Markup {
    let names: HashMap<String, String> = view.members.iter().cloned().collect();
    let executions = &view.executions;
    let may_act = view.may_act;
    html! {
        (filters(view))
        @if may_act && !view.workflows.is_empty() { (run_form(&view.workflows)) }
        form #bulk method="post" action="/monitor/bulk" {}
        table.data.executions #executions data-may-act=[may_act.then_some("true")]
            data-names=(serde_json::to_string(&names).unwrap_or_default()) {
            caption.visually-hidden { "Executions" }
            thead { tr {
                @if may_act { th scope="col" { span.visually-hidden { "Select" } } }
                th scope="col" { "Execution" } th scope="col" { "Workflow" } th scope="col" { "Status" }
                th scope="col" { "Progress" } th scope="col" { "Elapsed" } th scope="col" { "Started by" }
                th scope="col" { "Started" }
                @if may_act { th scope="col" { span.visually-hidden { "Actions" } } }
            } }
            tbody {
                @for execution in executions {
                    (execution_row(execution, &names, may_act, view.now))
                }
            }
        }
        @if executions.is_empty() { p.empty #no-executions { "No executions match these filters." } }
        @if may_act && !executions.is_empty() {
            div.bulk-actions {
                button.button.button-small.button-danger type="submit" form="bulk" name="action" value="kill" { "Kill selected" }
                button.button.button-small type="submit" form="bulk" name="action" value="retry" { "Retry selected" }
            }
        }
        script type="module" src="/assets/monitor.js" {}
    }
}

/// The page header with the filters (kept in the URL) and the id lookup.
fn filters(view: &MonitorView) -> Markup {
    let query = &view.query;
    html! {
        header.page-header {
            h1 { "Execution monitor" }
            p.lede { "Live: changes arrive as they happen." }
            form.filters method="get" action="/monitor" {
                label for="m-status" { "Status" }
                select #m-status name="status" {
                    option value="" { "All" }
                    @for value in ["running,pending", "running", "pending", "succeeded", "failed", "cancelled"] {
                        option value=(value) selected[query.status.as_deref() == Some(value)] { (value) }
                    }
                }
                label for="m-workflow" { "Workflow" }
                select #m-workflow name="workflow" {
                    option value="" { "All" }
                    @for (id, name) in &view.workflows {
                        option value=(id) selected[query.workflow.as_deref() == Some(id.as_str())] { (name) }
                    }
                }
                label for="m-user" { "Started by" }
                select #m-user name="user" {
                    option value="" { "Anyone" }
                    @for (id, name) in &view.members {
                        option value=(id) selected[query.user.as_deref() == Some(id.as_str())] { (name) }
                    }
                }
                label for="m-source" { "Source" }
                select #m-source name="source" {
                    option value="" { "Both" }
                    @for source in Source::ALL {
                        option value=(source.as_str()) selected[query.source.as_deref() == Some(source.as_str())] { (source.label()) }
                    }
                }
                button.button.button-small type="submit" { "Apply" }
                label for="m-q" { "Execution id" }
                input #m-q name="q" placeholder="01a2…" size="16";
            }
        }
    }
}

/// The form that runs a workflow with an input (members and up).
fn run_form(workflows: &[(String, String)]) -> Markup {
    html! {
        details.panel {
            summary { "Run a workflow" }
            form method="post" action="/monitor/run" {
                div.field { label for="run-workflow" { "Workflow" }
                    select #run-workflow name="workflow" required {
                        @for (id, name) in workflows { option value=(id) { (name) } }
                    } }
                div.field { label for="run-input" { "Input (JSON object)" }
                    textarea #run-input name="input" rows="3" { "{}" } }
                button.button.button-primary type="submit" { "Run" }
            }
        }
    }
}

/// One execution's row; the live script (`monitor.js`) renders the same cells.
fn execution_row(
    execution: &ExecutionSummary,
    names: &HashMap<String, String>,
    may_act: bool,
    now: i64,
) -> Markup {
    html! {
        tr data-execution-id=(execution.id) {
            @if may_act {
                td { input type="checkbox" form="bulk" name="id" value=(execution.id) aria-label={"Select " (execution.id)}; }
            }
            td { a href={"/monitor/" (execution.id)} { code { (execution.id.get(..13).unwrap_or(&execution.id)) "…" } } }
            td { (execution.workflow_name) }
            td.status-cell { span class={"status status-" (execution.status)} { (execution.status) } }
            td.progress { (execution.steps_done) " / " (execution.steps_total) }
            td.elapsed data-started=(execution.started_at.unwrap_or(execution.created_at))
                data-completed=[execution.completed_at] {
                (duration(execution.completed_at.unwrap_or(now) - execution.started_at.unwrap_or(execution.created_at)))
            }
            td { (started_by(execution, names)) }
            td { (when(Some(execution.created_at))) }
            @if may_act { td.actions { (actions(execution)) } }
        }
    }
}

fn actions(execution: &ExecutionSummary) -> Markup {
    html! {
        @if execution.source == Source::Otlp {
            span.badge title="A trace sent by your own service: kill and retry do not apply" { "external" }
        } @else if !execution.status.is_finished() {
            form method="post" action={"/monitor/" (execution.id) "/cancel"} data-confirm="Kill this execution?" {
                button.button.button-small.button-danger type="submit" { "Kill" }
            }
        } @else if matches!(execution.status, Status::Failed | Status::Cancelled) {
            form method="post" action={"/monitor/" (execution.id) "/retry"} {
                button.button.button-small type="submit" { "Retry" }
            }
        }
    }
}

/// One execution's step timeline.
pub async fn details(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Markup> {
    let shell = Shell::new("Execution", "/monitor").component(COMPONENT);
    let (execution, shell) = tokio::try_join!(
        async {
            super::get(&state.db, &principal.team_id, &id)
                .await?
                .ok_or(AppError::NotFound)
        },
        page(&state, &principal, shell),
    )?;
    let may_act = principal.can(Permission::Operate);
    let execution = execution.for_reader(principal.can(Permission::ManageKeys));
    Ok(shell.render(render_details(&execution, may_act)))
}

/// An execution's page body: its summary, actions and step timeline.
pub fn render_details(execution: &super::ExecutionDetail, may_act: bool) -> Markup {
    let summary = &execution.summary;
    // While it runs, `monitor.js` redraws the page as its state changes.
    let live = (!summary.status.is_finished()).then_some(summary.id.as_str());
    html! {
        header.page-header data-live-execution=[live] {
            h1 { (summary.workflow_name) " " span class={"status status-" (summary.status)} { (summary.status) } }
            p.lede { "Execution " code { (summary.id) } " · version " (summary.workflow_version) " · "
                (summary.steps_done) " / " (summary.steps_total) " steps · " (summary.input_tokens + summary.output_tokens + summary.cached_tokens) " tokens · "
                (crate::analytics::dollars(summary.cost_micros)) " $" }
            @if summary.source == Source::Otlp { (external_note(execution)) }
            @if let Some(error) = &summary.error { p.notice.notice-error { (error) } }
            @if may_act {
                div.bulk-actions {
                    (actions(summary))
                    @if summary.source == Source::Hummbl && matches!(summary.status, Status::Failed | Status::Cancelled) {
                        form method="post" action={"/monitor/" (summary.id) "/retry?from=start"} {
                            button.button.button-small type="submit" { "Retry from the start" }
                        }
                    }
                }
            }
        }
        ol.timeline {
            @for step in &execution.steps {
                li {
                    h2 { (step.step) " " span class={"status status-" (step.status)} { (step.status) } }
                    p.hint { (step.model.as_deref().unwrap_or("—")) " · " (step.input_tokens) " in / " (step.output_tokens) " out / "
                        (step.cached_tokens) " cached · " (crate::analytics::dollars(step.cost_micros)) " $ · "
                        (step.latency_ms.map(|ms| format!("{ms} ms")).unwrap_or_default())
                        @if step.reused_from.is_some() { " · reused from the retried execution" } }
                    @if let Some(error) = &step.error { p.notice.notice-error { (step.error_class.as_deref().unwrap_or("error")) ": " (error) } }
                    details { summary { "Input" } pre { (step.input.as_deref().unwrap_or("")) } }
                    @if let Some(output) = &step.output { details { summary { "Output" } pre { (output) } } }
                    @if let Some(body) = &step.provider_response { details { summary { "The provider's answer" } pre { (body) } } }
                }
            }
        }
        @if live.is_some() {
            script type="module" src="/assets/monitor.js" {}
        }
    }
}

/// What an external execution is: a trace, its service and its root span.
fn external_note(execution: &super::ExecutionDetail) -> Markup {
    let field = |name: &str| {
        execution
            .input
            .get(name)
            .and_then(|value| value.as_str())
            .map(str::to_owned)
    };
    html! {
        p.hint.external {
            "External: a trace sent over OpenTelemetry by "
            strong { (field("service").unwrap_or_else(|| execution.summary.workflow_name.clone())) }
            @if let Some(root) = field("root_span") { ", root span " code { (root) } }
            @if let Some(trace) = field("trace_id") { ", trace " code { (trace) } }
            ". Each model call is a step; kill and retry do not apply."
        }
    }
}

fn back_to_monitor() -> Response {
    Redirect::to("/monitor").into_response()
}

pub async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Response> {
    super::cancel_for(state.engine(), (&principal).into(), &id).await?;
    Ok(back_to_monitor())
}

#[derive(Deserialize)]
pub struct RetryQuery {
    /// `start` re-runs every step; otherwise from the failed step.
    pub from: Option<String>,
}

pub async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(query): Query<RetryQuery>,
) -> AppResult<Response> {
    let from = match query.from.as_deref() {
        Some("start") => RetryFrom::Start,
        None | Some("failed_step") => RetryFrom::FailedStep,
        Some(_) => return Err(AppError::validation("from", "must be start or failed_step")),
    };
    super::retry_for(state.engine(), (&principal).into(), &id, from).await?;
    Ok(back_to_monitor())
}

#[derive(Deserialize)]
pub struct RunForm {
    pub workflow: String,
    #[serde(default)]
    pub input: String,
}

pub async fn run(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<RunForm>,
) -> AppResult<Response> {
    let workflow = crate::workflows::get(&state.db, &principal.team_id, &form.workflow)
        .await?
        .ok_or_else(|| AppError::validation("workflow", "no such workflow in this team"))?;
    let text = if form.input.trim().is_empty() {
        "{}"
    } else {
        form.input.trim()
    };
    let input: serde_json::Value = serde_json::from_str(text)
        .map_err(|err| AppError::validation("input", format!("not JSON: {err}")))?;
    crate::workflows::definition::check_input(&workflow.steps, &input)?;
    super::start(
        state.engine(),
        &principal.team_id,
        &workflow,
        input,
        Trigger::User(principal.user_id.clone()),
    )
    .await?;
    Ok(back_to_monitor())
}

#[derive(Deserialize)]
pub struct BulkForm {
    pub action: String,
    #[serde(default)]
    pub id: Vec<String>,
}

/// Kill or retry the selected executions; those that do not qualify (already
/// finished, or not failed) are skipped.
pub async fn bulk(
    State(state): State<AppState>,
    principal: Principal,
    axum_extra::extract::Form(form): axum_extra::extract::Form<BulkForm>,
) -> AppResult<Response> {
    if form.id.is_empty() || form.id.len() > 200 {
        return Err(AppError::validation("id", "select 1 to 200 executions"));
    }
    let kill = match form.action.as_str() {
        "kill" => true,
        "retry" => false,
        _ => return Err(AppError::validation("action", "must be kill or retry")),
    };
    // Each cancel or retry is audited in its own transaction.
    for id in &form.id {
        if kill {
            super::cancel(state.engine(), (&principal).into(), id).await?;
        } else {
            super::retry(
                state.engine(),
                (&principal).into(),
                id,
                RetryFrom::FailedStep,
            )
            .await?;
        }
    }
    Ok(back_to_monitor())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executions::{ExecutionDetail, StepResult, TriggerKind};

    fn summary(id: &str, status: Status) -> ExecutionSummary {
        ExecutionSummary {
            id: id.into(),
            workflow_id: "wf-1".into(),
            workflow_name: "Triage <urgent>".into(),
            workflow_version: 2,
            status,
            triggered_by: TriggerKind::User,
            source: Source::Hummbl,
            user_id: Some("u-1".into()),
            retry_of: None,
            retry_from: None,
            steps_total: 3,
            steps_done: 1,
            input_tokens: 100,
            output_tokens: 20,
            cached_tokens: 0,
            cost_micros: 1_500,
            error: None,
            cancelled_by: None,
            recoveries: 0,
            created_at: 1_000,
            started_at: Some(1_000),
            completed_at: None,
        }
    }

    fn view(may_act: bool) -> MonitorView {
        MonitorView {
            query: MonitorQuery::default(),
            executions: vec![
                summary("01running-execution", Status::Running),
                summary("01failed-execution", Status::Failed),
            ],
            workflows: vec![("wf-1".into(), "Triage".into())],
            members: vec![("u-1".into(), "Ada".into())],
            may_act,
            now: 61_000,
        }
    }

    #[test]
    fn the_monitor_shows_each_execution_with_the_actions_its_status_allows() {
        let html = render_monitor(&view(true)).into_string();
        assert!(html.contains("Triage &lt;urgent&gt;"), "names are escaped");
        assert!(html.contains(r#"action="/monitor/01running-execution/cancel""#));
        assert!(html.contains(r#"action="/monitor/01failed-execution/retry""#));
        assert!(!html.contains(r#"action="/monitor/01failed-execution/cancel""#));
        assert!(html.contains("1 / 3"), "progress");
        assert!(html.contains("Ada"), "who started it");
        assert!(html.contains("Run a workflow"));
    }

    #[test]
    fn viewers_see_executions_without_forms_and_an_empty_view_says_so() {
        let html = render_monitor(&view(false)).into_string();
        assert!(html.contains("01running-execution"));
        assert!(!html.contains("/cancel\""));
        assert!(!html.contains("Run a workflow"));
        let empty = MonitorView {
            executions: Vec::new(),
            ..view(true)
        };
        assert!(
            render_monitor(&empty)
                .into_string()
                .contains("No executions match these filters.")
        );
    }

    #[test]
    fn the_details_show_each_step_and_its_error() {
        let mut failed = summary("01failed-execution", Status::Failed);
        failed.error = Some("step b: rate limited".into());
        let step = StepResult {
            id: "t-1".into(),
            step: "b".into(),
            agent_id: Some("a-1".into()),
            status: Status::Failed,
            provider: Some("openai".into()),
            model: Some("gpt-4o-mini".into()),
            input: Some("summarize <this>".into()),
            output: None,
            error: Some("429 slow down".into()),
            error_class: Some("rate_limited".into()),
            provider_response: Some("{\"error\":\"slow down\"}".into()),
            input_tokens: 0,
            output_tokens: 0,
            cached_tokens: 0,
            cost_micros: 0,
            latency_ms: Some(12),
            attempts: 4,
            reused_from: None,
            started_at: Some(1_000),
            completed_at: Some(2_000),
        };
        let detail = ExecutionDetail {
            summary: failed,
            input: serde_json::json!({}),
            steps: vec![step],
        };
        let html = render_details(&detail, true).into_string();
        assert!(html.contains("rate_limited: 429 slow down"));
        assert!(html.contains("summarize &lt;this&gt;"));
        assert!(html.contains("Retry from the start"));
        assert!(
            !render_details(&detail, false)
                .into_string()
                .contains("Retry from the start")
        );
    }
}
