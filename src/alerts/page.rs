//! `/notifications/alerts`: the team's alert rules with their state and last
//! check, for everyone; admins add, switch off and delete rules with forms that
//! go through the same functions as `/api/alerts` (a refusal comes back beside
//! its field).

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::{AlertRule, AlertState, Condition, RuleFields};
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::components::id::NOTIFICATION_CENTER as COMPONENT;
use crate::error::{AppError, AppResult};
use crate::web::format::usd_cents;
use crate::web::layout::when;
use crate::web::{Shell, notice, page};

pub const PATH: &str = "/notifications/alerts";

const KINDS: [(&str, &str); 4] = [
    ("error_rate", "Error rate above a limit"),
    ("spend", "Spend this month above a budget"),
    (
        "consecutive_failures",
        "A workflow failing N times in a row",
    ),
    ("long_running", "An execution running too long"),
];

/// The form as typed (kept when it is refused).
#[derive(Debug, Clone, Deserialize)]
pub struct RuleForm {
    #[serde(default)]
    pub name: String,
    #[serde(default = "default_kind")]
    pub kind: String,
    #[serde(default)]
    pub workflow_id: String,
    #[serde(default = "default_threshold")]
    pub threshold_percent: String,
    #[serde(default = "default_window")]
    pub window_minutes: String,
    #[serde(default = "default_min")]
    pub min_executions: String,
    #[serde(default)]
    pub budget_usd: String,
    #[serde(default)]
    pub projected: Option<String>,
    #[serde(default = "default_failures")]
    pub failures: String,
    #[serde(default = "default_minutes")]
    pub minutes: String,
    #[serde(default)]
    pub email: Option<String>,
}

fn default_kind() -> String {
    "error_rate".into()
}
fn default_threshold() -> String {
    "20".into()
}
fn default_window() -> String {
    "60".into()
}
fn default_min() -> String {
    "10".into()
}
fn default_failures() -> String {
    "3".into()
}
fn default_minutes() -> String {
    "30".into()
}

impl Default for RuleForm {
    fn default() -> Self {
        RuleForm {
            name: String::new(),
            kind: default_kind(),
            workflow_id: String::new(),
            threshold_percent: default_threshold(),
            window_minutes: default_window(),
            min_executions: default_min(),
            budget_usd: String::new(),
            projected: None,
            failures: default_failures(),
            minutes: default_minutes(),
            email: None,
        }
    }
}

fn whole(field: &str, text: &str) -> AppResult<i64> {
    text.trim()
        .parse()
        .map_err(|_| AppError::validation(format!("condition.{field}"), "a whole number"))
}

impl RuleForm {
    /// The rule it asks for, or a 422 naming the field.
    pub fn fields(&self) -> AppResult<RuleFields> {
        let workflow = Some(self.workflow_id.trim().to_string()).filter(|id| !id.is_empty());
        let condition = match self.kind.as_str() {
            "error_rate" => Condition::ErrorRate {
                workflow_id: workflow,
                threshold_percent: self.threshold_percent.trim().parse().map_err(|_| {
                    AppError::validation(
                        "condition.threshold_percent",
                        "a number, such as 20 or 7.5",
                    )
                })?,
                window_minutes: whole("window_minutes", &self.window_minutes)?,
                min_executions: whole("min_executions", &self.min_executions)?,
            },
            "spend" => Condition::Spend {
                budget_micros: dollars_to_micros(&self.budget_usd)?,
                projected: self.projected.is_some(),
            },
            "consecutive_failures" => Condition::ConsecutiveFailures {
                workflow_id: workflow.ok_or_else(|| {
                    AppError::validation("condition.workflow_id", "choose the workflow to watch")
                })?,
                failures: whole("failures", &self.failures)?,
            },
            "long_running" => Condition::LongRunning {
                workflow_id: workflow,
                minutes: whole("minutes", &self.minutes)?,
            },
            _ => return Err(AppError::validation("kind", "choose what the rule watches")),
        };
        Ok(RuleFields {
            name: self.name.clone(),
            condition,
            email: self.email.is_some(),
            enabled: true,
        })
    }
}

/// "250" or "12.50" US dollars as micro-dollars.
fn dollars_to_micros(text: &str) -> AppResult<i64> {
    let refused = || {
        AppError::validation(
            "condition.budget_micros",
            "an amount in US dollars, such as 250 or 12.50",
        )
    };
    let dollars: f64 = text
        .trim()
        .trim_start_matches('$')
        .parse()
        .map_err(|_| refused())?;
    if !dollars.is_finite() || dollars <= 0.0 || dollars > 1e9 {
        return Err(refused());
    }
    Ok((dollars * 1_000_000.0).round() as i64)
}

pub struct AlertsView {
    pub rules: Vec<AlertRule>,
    /// The team's workflows: (id, name).
    pub workflows: Vec<(String, String)>,
    pub may_manage: bool,
    pub form: RuleForm,
    pub refused: Option<AppError>,
}

pub async fn show(State(state): State<AppState>, principal: Principal) -> AppResult<Markup> {
    render_page(&state, &principal, RuleForm::default(), None).await
}

async fn render_page(
    state: &AppState,
    principal: &Principal,
    form: RuleForm,
    refused: Option<AppError>,
) -> AppResult<Markup> {
    let shell = Shell::new("Alert rules", crate::notifications::page::PATH).component(COMPONENT);
    let (rules, workflows, shell) = tokio::try_join!(
        async {
            super::list(&state.db, &principal.team_id)
                .await
                .map_err(AppError::from)
        },
        async {
            crate::workflows::list(&state.db, &principal.team_id)
                .await
                .map_err(AppError::from)
        },
        page(state, principal, shell),
    )?;
    let view = AlertsView {
        rules,
        workflows: workflows.into_iter().map(|w| (w.id, w.name)).collect(),
        may_manage: principal.can(Permission::ManageAlerts),
        form,
        refused,
    };
    Ok(shell.render(render(&view)))
}

/// Back to the page, or the page with the refusal beside its field.
async fn after(
    state: &AppState,
    principal: &Principal,
    form: RuleForm,
    outcome: AppResult<()>,
) -> Response {
    match outcome {
        Ok(()) => Redirect::to(PATH).into_response(),
        Err(err @ (AppError::Validation { .. } | AppError::NotFound)) => {
            let status = err.status();
            match render_page(state, principal, form, Some(err)).await {
                Ok(markup) => (status, markup).into_response(),
                Err(err) => err.into_response(),
            }
        }
        Err(err) => err.into_response(),
    }
}

pub async fn create_form(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<RuleForm>,
) -> Response {
    let outcome = match form.fields() {
        Ok(fields) => super::create(&state.db, &principal, fields)
            .await
            .map(|_| ()),
        Err(err) => Err(err),
    };
    after(&state, &principal, form, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct EnabledForm {
    enabled: bool,
}

pub async fn enabled_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Form(form): Form<EnabledForm>,
) -> Response {
    let outcome = async {
        let rule = super::get(&state.db, &principal.team_id, &id)
            .await?
            .ok_or(AppError::NotFound)?;
        let fields = RuleFields {
            name: rule.name,
            condition: rule.condition,
            email: rule.email,
            enabled: form.enabled,
        };
        super::update(&state.db, &principal, &id, fields)
            .await
            .map(|_| ())
    }
    .await;
    after(&state, &principal, RuleForm::default(), outcome).await
}

pub async fn delete_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Response {
    let outcome = super::delete(&state.db, &principal, &id).await;
    after(&state, &principal, RuleForm::default(), outcome).await
}

/// The condition in words, naming the workflow.
pub fn describe(condition: &Condition, workflows: &[(String, String)]) -> String {
    let name_of = |id: Option<&str>| match id {
        None => "the team".to_string(),
        Some(id) => workflows.iter().find(|(wid, _)| wid == id).map_or_else(
            || "a deleted workflow".to_string(),
            |(_, name)| name.clone(),
        ),
    };
    match condition {
        Condition::ErrorRate {
            workflow_id,
            threshold_percent,
            window_minutes,
            min_executions,
        } => format!(
            "Error rate of {} above {threshold_percent} % over {window_minutes} min (once {min_executions} finished)",
            name_of(workflow_id.as_deref())
        ),
        Condition::Spend {
            budget_micros,
            projected,
        } => format!(
            "{} this month above {}",
            if *projected {
                "Projected spend"
            } else {
                "Spend"
            },
            usd_cents(*budget_micros)
        ),
        Condition::ConsecutiveFailures {
            workflow_id,
            failures,
        } => format!(
            "{} failing {failures} times in a row",
            name_of(Some(workflow_id))
        ),
        Condition::LongRunning {
            workflow_id,
            minutes,
        } => format!(
            "An execution of {} running longer than {minutes} min",
            name_of(workflow_id.as_deref())
        ),
    }
}

pub fn render(view: &AlertsView) -> Markup {
    html! {
        header.page-header {
            h1 { "Alert rules" }
            p.lede {
                "Checked every 30 seconds. A rule fires once when its condition starts to hold and resolves when it clears; both reach the team's admins and the rule's author. "
                a href=(crate::notifications::page::PATH) { "Back to your notifications" }
            }
        }
        @if view.rules.is_empty() {
            p.empty #no-alerts { "No alert rules yet." @if view.may_manage { " Add one below." } @else { " Admins add them." } }
        } @else {
            table.data #alert-rules {
                thead { tr {
                    th scope="col" { "Rule" } th scope="col" { "Watches" } th scope="col" { "State" }
                    th scope="col" { "Last check" } th scope="col" { "Fired" }
                    @if view.may_manage { th scope="col" { span.visually-hidden { "Actions" } } }
                } }
                tbody {
                    @for rule in &view.rules { (row(rule, view)) }
                }
            }
        }
        @if view.may_manage { (form(view)) }
    }
}

fn row(rule: &AlertRule, view: &AlertsView) -> Markup {
    let (class, label) = match (rule.enabled, rule.state) {
        (false, _) => ("alert-state", "off"),
        (true, AlertState::Firing) => ("alert-state firing", "firing"),
        (true, AlertState::Ok) => ("alert-state ok", "ok"),
    };
    html! {
        tr data-id=(rule.id) {
            th scope="row" { (rule.name) @if rule.email { " " span.hint { "(mail)" } } }
            td { (describe(&rule.condition, &view.workflows)) }
            td { span class=(class) { (label) } @if rule.state_changed_at.is_some() { " since " (when(rule.state_changed_at)) } }
            td { @if let Some(summary) = &rule.last_summary { (summary) } @else { "not checked yet" } }
            td { (rule.fired_count) }
            @if view.may_manage {
                td.actions {
                    form method="post" action={(PATH) "/" (rule.id) "/enabled"} {
                        input type="hidden" name="enabled" value=(!rule.enabled);
                        button.button.button-small type="submit" { (if rule.enabled { "Switch off" } else { "Switch on" }) }
                    }
                    form method="post" action={(PATH) "/" (rule.id) "/delete"} {
                        button.button.button-small.button-danger type="submit" { "Delete" }
                    }
                }
            }
        }
    }
}

fn form(view: &AlertsView) -> Markup {
    let form = &view.form;
    let error_for = |field: &str| view.refused.as_ref().and_then(|err| err.message_for(field));
    let field_error = |field: &str| html! { @if let Some(message) = error_for(field) { p.field-error { (message) } } };
    let other_error = match &view.refused {
        Some(AppError::Validation { field, .. })
            if field == "name" || field.starts_with("condition.") || field == "kind" =>
        {
            None
        }
        Some(err) => Some(err.to_string()),
        None => None,
    };
    html! {
        section.panel aria-labelledby="alert-form-title" {
            h2 #alert-form-title { "New alert rule" }
            @if let Some(text) = other_error { (notice("error", &text)) }
            form method="post" action=(PATH) {
                div.step-grid {
                    div.field {
                        label for="alert-name" { "Name" }
                        input #alert-name name="name" value=(form.name) required maxlength="100";
                        (field_error("name"))
                    }
                    div.field {
                        label for="alert-kind" { "Watches" }
                        select #alert-kind name="kind" {
                            @for (kind, label) in KINDS { option value=(kind) selected[form.kind == kind] { (label) } }
                        }
                        (field_error("kind"))
                    }
                    div.field {
                        label for="alert-workflow" { "Workflow" }
                        select #alert-workflow name="workflow_id" {
                            option value="" { "The whole team" }
                            @for (id, name) in &view.workflows { option value=(id) selected[form.workflow_id == *id] { (name) } }
                        }
                        p.hint { "Needed for failures in a row; error rate and long runs may watch the whole team." }
                        (field_error("condition.workflow_id"))
                    }
                }
                fieldset {
                    legend { "Limits (the ones for the chosen kind are used)" }
                    div.step-grid {
                        (number_field("alert-threshold", "threshold_percent", "Error rate above (%)", &form.threshold_percent, &field_error))
                        (number_field("alert-window", "window_minutes", "Over the last (minutes)", &form.window_minutes, &field_error))
                        (number_field("alert-min", "min_executions", "Once at least (finished executions)", &form.min_executions, &field_error))
                        div.field {
                            label for="alert-budget" { "Budget this month (USD)" }
                            input #alert-budget name="budget_usd" value=(form.budget_usd) inputmode="decimal" placeholder="250";
                            (field_error("condition.budget_micros"))
                            label.checkbox { input type="checkbox" name="projected" value="on" checked[form.projected.is_some()]; " Compare the projection to the month's end" }
                        }
                        (number_field("alert-failures", "failures", "Failures in a row", &form.failures, &field_error))
                        (number_field("alert-minutes", "minutes", "Running longer than (minutes)", &form.minutes, &field_error))
                    }
                }
                label.checkbox { input type="checkbox" name="email" value="on" checked[form.email.is_some()]; " Also send it by mail" }
                p { button.button type="submit" { "Add the rule" } }
            }
        }
    }
}

fn number_field(
    id: &str,
    name: &str,
    label: &str,
    value: &str,
    field_error: &dyn Fn(&str) -> Markup,
) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(name) value=(value) inputmode="decimal";
            (field_error(&format!("condition.{name}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_reads_each_kind_and_names_a_bad_field() {
        let spend = RuleForm {
            name: "Budget".into(),
            kind: "spend".into(),
            budget_usd: "$12.50".into(),
            projected: Some("on".into()),
            ..RuleForm::default()
        };
        assert_eq!(
            spend.fields().expect("spend").condition,
            Condition::Spend {
                budget_micros: 12_500_000,
                projected: true
            }
        );
        let streak = RuleForm {
            kind: "consecutive_failures".into(),
            ..RuleForm::default()
        };
        let err = streak.fields().expect_err("no workflow");
        assert!(
            matches!(err, AppError::Validation { ref field, .. } if field == "condition.workflow_id")
        );
        let bad = RuleForm {
            window_minutes: "an hour".into(),
            ..RuleForm::default()
        };
        let err = bad.fields().expect_err("words");
        assert!(
            matches!(err, AppError::Validation { ref field, .. } if field == "condition.window_minutes")
        );
    }

    #[test]
    fn the_page_shows_state_and_offers_forms_only_to_admins() {
        let rule = AlertRule {
            id: "a-1".into(),
            name: "Flaky <streak>".into(),
            condition: Condition::ConsecutiveFailures {
                workflow_id: "w-1".into(),
                failures: 3,
            },
            email: true,
            enabled: true,
            state: AlertState::Firing,
            state_changed_at: Some(0),
            fired_count: 2,
            last_value: Some(3.0),
            last_summary: Some("Flaky failed 3 times in a row".into()),
            checked_at: Some(0),
            created_by: None,
            created_at: 0,
            updated_at: 0,
        };
        let mut view = AlertsView {
            rules: vec![rule],
            workflows: vec![("w-1".into(), "Flaky".into())],
            may_manage: false,
            form: RuleForm::default(),
            refused: None,
        };
        let html = render(&view).into_string();
        assert!(html.contains("Flaky &lt;streak&gt;"));
        assert!(html.contains("Flaky failing 3 times in a row"));
        assert!(html.contains("alert-state firing"));
        assert!(!html.contains("New alert rule"), "viewers get no form");
        view.may_manage = true;
        view.refused = Some(AppError::validation(
            "condition.minutes",
            "must be 1 to 10080",
        ));
        let html = render(&view).into_string();
        assert!(html.contains("New alert rule"));
        assert!(html.contains("must be 1 to 10080"));
    }
}
