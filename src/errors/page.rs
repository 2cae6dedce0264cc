//! `/logs/errors` (component `error-logs`): failures grouped by fingerprint, with
//! filters kept in the URL, details, bulk resolve and reopen for members and up,
//! and the same view as CSV or JSON.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::handlers::COMPONENT;
use std::collections::HashMap;

use super::{ErrorGroup, GroupFilter, LatestFailure};
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::{AppError, AppResult};
use crate::web::format::{csv_attachment, rfc3339, urlencode};
use crate::web::layout::when;
use crate::web::{Shell, page};

/// The page's filters, as they appear in its URL.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct LogQuery {
    /// `open` (default), `resolved` or `all`.
    pub state: Option<String>,
    /// Last seen on or after this UTC date (YYYY-MM-DD).
    pub from: Option<String>,
    /// Last seen before the end of this UTC date.
    pub to: Option<String>,
    pub workflow: Option<String>,
    pub agent: Option<String>,
    /// `hummbl` or `otlp`; empty: both.
    pub source: Option<String>,
}

/// A date filter: the start of the day (`from`) or of the day after (`to`).
fn date_ms(field: &str, text: &Option<String>, end_of_day: bool) -> Result<Option<i64>, AppError> {
    let Some(text) = text.as_deref().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let start = crate::web::format::date_ms(field, text)?;
    Ok(Some(if end_of_day { start + DAY_MS } else { start }))
}

const DAY_MS: i64 = 86_400_000;

impl LogQuery {
    pub fn filter(&self) -> Result<GroupFilter, AppError> {
        let resolved = match self.state.as_deref().unwrap_or("open") {
            "open" => Some(false),
            "resolved" => Some(true),
            "all" => None,
            _ => {
                return Err(AppError::validation(
                    "state",
                    "must be one of: open, resolved, all",
                ));
            }
        };
        Ok(GroupFilter {
            resolved,
            since: date_ms("from", &self.from, false)?,
            until: date_ms("to", &self.to, true)?,
            workflow_id: self.workflow.clone().filter(|v| !v.is_empty()),
            agent_id: self.agent.clone().filter(|v| !v.is_empty()),
            source: crate::executions::handlers::parse_source(self.source.as_deref())?,
        })
    }

    /// This view's query string (for links and redirects).
    pub fn query_string(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }
}

const PAGE_LIMIT: i64 = 200;

/// What the error-log page shows.
pub struct ErrorLogView {
    pub query: LogQuery,
    pub groups: Vec<ErrorGroup>,
    /// Each group's latest failure, by fingerprint.
    pub latest: HashMap<String, LatestFailure>,
    /// The filters' choices.
    pub workflows: Vec<(String, String)>,
    pub agents: Vec<(String, String)>,
    /// Whether the viewer may resolve, reopen and retry.
    pub may_act: bool,
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<LogQuery>,
) -> AppResult<Markup> {
    let (view, shell) = tokio::try_join!(
        load(&state, &principal, query),
        page(
            &state,
            &principal,
            Shell::new("Error logs", "/logs/errors").component(COMPONENT),
        ),
    )?;
    Ok(shell.render(render(&view)))
}

/// Loads the view: the groups (then their latest failures), and the filters'
/// workflows and agents, at the same time.
async fn load(state: &AppState, principal: &Principal, query: LogQuery) -> AppResult<ErrorLogView> {
    let filter = query.filter()?;
    let team = principal.team_id.as_str();
    let groups_and_latest = async {
        let groups = super::groups(&state.db, team, &filter, PAGE_LIMIT).await?;
        let mut latest = super::latest_failures(&state.db, &groups).await?;
        // The provider's raw answer is for admins (see ExecutionDetail::for_reader).
        if !principal.can(Permission::ManageKeys) {
            for failure in latest.values_mut() {
                failure.provider_response = None;
            }
        }
        Ok::<_, sqlx::Error>((groups, latest))
    };
    let ((groups, latest), workflows, agents) = tokio::try_join!(
        groups_and_latest,
        crate::workflows::list(&state.db, team),
        crate::agents::list(&state.db, team),
    )?;
    Ok(ErrorLogView {
        query,
        groups,
        latest,
        workflows: workflows.into_iter().map(|w| (w.id, w.name)).collect(),
        agents: agents.into_iter().map(|a| (a.id, a.name)).collect(),
        may_act: principal.can(Permission::Operate),
    })
}

/// The page body for a view (no queries: a test can render any view).
pub fn render(view: &ErrorLogView) -> Markup {
    let ErrorLogView {
        query,
        groups,
        latest,
        workflows,
        agents,
        may_act,
    } = view;
    let may_act = *may_act;
    let current = query.state.clone().unwrap_or_else(|| "open".into());
    let qs = query.query_string();
    html! {
        header.page-header {
            h1 { "Error logs" }
            p.lede { "Failed steps, grouped when they are the same problem. Export this view as "
                a href={"/logs/errors.csv?" (qs)} download { "CSV" } " or " a href={"/logs/errors.json?" (qs)} { "JSON" } "." }
            form.filters method="get" action="/logs/errors" {
                label for="f-state" { "State" }
                select #f-state name="state" {
                    @for (value, label) in [("open", "Open"), ("resolved", "Resolved"), ("all", "All")] {
                        option value=(value) selected[current == value] { (label) }
                    }
                }
                label for="f-from" { "Last seen from" }
                input #f-from type="date" name="from" value=[query.from.as_deref()];
                label for="f-to" { "to" }
                input #f-to type="date" name="to" value=[query.to.as_deref()];
                label for="f-workflow" { "Workflow" }
                select #f-workflow name="workflow" {
                    option value="" { "All" }
                    @for (id, name) in workflows {
                        option value=(id) selected[query.workflow.as_deref() == Some(id.as_str())] { (name) }
                    }
                }
                label for="f-agent" { "Agent" }
                select #f-agent name="agent" {
                    option value="" { "All" }
                    @for (id, name) in agents {
                        option value=(id) selected[query.agent.as_deref() == Some(id.as_str())] { (name) }
                    }
                }
                label for="f-source" { "Source" }
                select #f-source name="source" {
                    option value="" { "Both" }
                    @for source in crate::executions::Source::ALL {
                        option value=(source.as_str()) selected[query.source.as_deref() == Some(source.as_str())] { (source.label()) }
                    }
                }
                button.button.button-small type="submit" { "Apply" }
            }
        }
        @if groups.is_empty() {
            p.empty { "No errors match these filters." }
        } @else {
            form method="post" action="/logs/errors/state" {
                input type="hidden" name="back" value=(qs);
                table.data.error-groups {
                    caption.visually-hidden { "Error groups" }
                    thead { tr {
                        @if may_act { th scope="col" { span.visually-hidden { "Select" } } }
                        th scope="col" { "Error" } th scope="col" { "Agent" } th.number scope="col" { "Count" }
                        th scope="col" { "First seen" } th scope="col" { "Last seen" } th scope="col" { "State" }
                    } }
                    tbody {
                        @for group in groups { (row(group, latest.get(&group.fingerprint), may_act, &qs)) }
                    }
                }
                @if may_act {
                    div.bulk-actions {
                        button.button.button-small type="submit" name="action" value="resolve" { "Mark selected resolved" }
                        button.button.button-small type="submit" name="action" value="reopen" { "Reopen selected" }
                    }
                }
            }
        }
    }
}

/// Who failed: the agent's name (or id, if it was deleted); a model call a
/// service sent over OpenTelemetry has no agent.
fn agent_label(group: &ErrorGroup) -> String {
    match (&group.agent_name, group.agent_id.as_str()) {
        (Some(name), _) => name.clone(),
        (None, "") => "external (OpenTelemetry)".into(),
        (None, id) => id.to_string(),
    }
}

fn row(group: &ErrorGroup, latest: Option<&LatestFailure>, may_act: bool, qs: &str) -> Markup {
    let agent = agent_label(group);
    html! {
        tr {
            @if may_act {
                td { input type="checkbox" name="fingerprint" value=(group.fingerprint) aria-label={"Select " (group.message)}; }
            }
            td {
                details {
                    summary { code { (group.error_class) } " " (group.message) }
                    p { strong { "Latest: " } (group.last_error) }
                    @if let Some(body) = latest.and_then(|l| l.provider_response.as_deref()) {
                        p { strong { "The provider's answer:" } } pre.provider-answer { (body) }
                    }
                    @if let Some(input) = latest.and_then(|l| l.input.as_deref()) {
                        p { strong { "The step's input:" } } pre.step-input { (input) }
                    }
                    @if let Some(execution) = &group.last_execution_id {
                        p { "Execution " code { (execution) } " — "
                            a href={"/monitor/" (execution)} { "its steps, input and the provider's answer" }
                            @if may_act {
                                " · "
                                button.button.button-small formaction={"/logs/errors/retry?execution=" (execution) "&back=" (urlencode(qs))} type="submit" { "Retry" }
                            }
                        }
                    }
                }
            }
            td { (agent) }
            td.number { (group.occurrences) }
            td { (when(Some(group.first_seen))) }
            td { (when(Some(group.last_seen))) }
            td {
                @if let Some(at) = group.resolved_at { "Resolved " (when(Some(at))) }
                @else if let Some(at) = group.reopened_at { strong { "Reopened" } " — it happened again " (when(Some(at))) }
                @else { "Open" }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct StateForm {
    pub action: String,
    #[serde(default)]
    pub fingerprint: Vec<String>,
    #[serde(default)]
    pub back: String,
}

/// Bulk resolve or reopen from the page; back to the same view.
pub async fn change_state(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<StateForm>,
) -> AppResult<Response> {
    let resolve = match form.action.as_str() {
        "resolve" => true,
        "reopen" => false,
        _ => return Err(AppError::validation("action", "must be resolve or reopen")),
    };
    if form.fingerprint.is_empty() || form.fingerprint.len() > 500 {
        return Err(AppError::validation(
            "fingerprint",
            "select 1 to 500 errors",
        ));
    }
    super::change_state(&state.db, (&principal).into(), &form.fingerprint, resolve).await?;
    Ok(Redirect::to(&back_to(&form.back)).into_response())
}

/// Only this page's own query string is followed back.
fn back_to(query: &str) -> String {
    match serde_urlencoded::from_str::<LogQuery>(query) {
        Ok(parsed) => format!("/logs/errors?{}", parsed.query_string()),
        Err(_) => "/logs/errors".into(),
    }
}

#[derive(Deserialize)]
pub struct RetryQuery {
    pub execution: String,
    #[serde(default)]
    pub back: String,
}

/// Retries the execution of an error from the failed step, then back.
pub async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<RetryQuery>,
) -> AppResult<Response> {
    crate::executions::retry_for(
        state.engine(),
        (&principal).into(),
        &query.execution,
        crate::executions::RetryFrom::FailedStep,
    )
    .await?;
    Ok(Redirect::to(&back_to(&query.back)).into_response())
}

async fn export_groups(
    state: &AppState,
    principal: &Principal,
    query: &LogQuery,
) -> AppResult<Vec<ErrorGroup>> {
    let filter = query.filter()?;
    Ok(super::groups(&state.db, &principal.team_id, &filter, 500).await?)
}

/// The view as JSON.
pub async fn export_json(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<LogQuery>,
) -> AppResult<Response> {
    let groups = export_groups(&state, &principal, &query).await?;
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"hummbl-errors.json\"",
        )],
        axum::Json(serde_json::json!({"groups": groups})),
    )
        .into_response())
}

/// The view as CSV (RFC 4180).
pub async fn export_csv(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<LogQuery>,
) -> AppResult<Response> {
    let groups = export_groups(&state, &principal, &query).await?;
    let header = [
        "fingerprint",
        "error_class",
        "message",
        "agent",
        "occurrences",
        "first_seen",
        "last_seen",
        "state",
        "last_error",
    ];
    let records = groups.iter().map(|group| {
        let state = if group.resolved_at.is_some() {
            "resolved"
        } else if group.reopened_at.is_some() {
            "reopened"
        } else {
            "open"
        };
        vec![
            group.fingerprint.clone(),
            group.error_class.clone(),
            group.message.clone(),
            agent_label(group),
            group.occurrences.to_string(),
            rfc3339(group.first_seen),
            rfc3339(group.last_seen),
            state.into(),
            group.last_error.clone(),
        ]
    });
    Ok(csv_attachment("hummbl-errors.csv", &header, records))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(fingerprint: &str, message: &str) -> ErrorGroup {
        ErrorGroup {
            fingerprint: fingerprint.into(),
            agent_id: "agent-1".into(),
            agent_name: Some("Researcher".into()),
            error_class: "rate_limited".into(),
            message: message.into(),
            last_error: message.into(),
            last_task_id: Some("task-1".into()),
            last_execution_id: Some("exec-1".into()),
            workflow_id: Some("wf-1".into()),
            occurrences: 3,
            first_seen: 1_700_000_000_000,
            last_seen: 1_700_000_100_000,
            resolved_at: None,
            resolved_by: None,
            reopened_at: None,
        }
    }

    fn view(may_act: bool) -> ErrorLogView {
        let latest = HashMap::from([(
            "fp-1".to_string(),
            LatestFailure {
                input: Some("summarize <this>".into()),
                provider_response: Some(r#"{"error":"slow down"}"#.into()),
            },
        )]);
        ErrorLogView {
            query: LogQuery::default(),
            groups: vec![group("fp-1", "429 Too Many Requests")],
            latest,
            workflows: vec![("wf-1".into(), "Triage".into())],
            agents: vec![("agent-1".into(), "Researcher".into())],
            may_act,
        }
    }

    #[test]
    fn a_view_renders_its_groups_and_latest_failure_escaped() {
        let html = render(&view(true)).into_string();
        assert!(html.contains("429 Too Many Requests"));
        assert!(html.contains("summarize &lt;this&gt;"), "input is escaped");
        assert!(html.contains("slow down"));
        assert!(html.contains(r#"<option value="wf-1">Triage</option>"#));
        assert!(html.contains("Mark selected resolved"));
    }

    #[test]
    fn viewers_get_no_bulk_actions_and_an_empty_view_says_so() {
        let html = render(&view(false)).into_string();
        assert!(!html.contains("Mark selected resolved"));
        assert!(!html.contains(r#"name="fingerprint""#));
        let empty = ErrorLogView {
            groups: Vec::new(),
            ..view(false)
        };
        assert!(
            render(&empty)
                .into_string()
                .contains("No errors match these filters.")
        );
    }
}
