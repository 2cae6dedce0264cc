//! `/pilot` (component `pilot-evaluation`): the six metrics with target,
//! actual, pass and how each is computed; the passes and the decision with its
//! rule; a daily trend per measured metric; the snapshots, the latest two
//! compared; and admins' forms for the window, the targets and the entered
//! values, and to freeze a snapshot. Load, then render.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use maud::{Markup, html};
use serde::Deserialize;

use super::export::actual_text;
use super::{Changes, Evaluation, Metric, MetricId, Settings, Snapshot, Targets, Window};
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::components::id::PILOT_EVALUATION as COMPONENT;
use crate::error::{AppError, AppResult};
use crate::web::charts::{self, Point};
use crate::web::layout::when;
use crate::web::{Shell, notice, page};

pub const PATH: &str = "/pilot";

pub struct PilotView {
    pub evaluation: Evaluation,
    pub settings: Settings,
    pub snapshots: Vec<Snapshot>,
    pub may_manage: bool,
    /// The team is the demo's: its numbers are sample data.
    pub sample: bool,
    pub saved: bool,
    pub refused: Option<AppError>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    saved: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<ShowQuery>,
) -> AppResult<Markup> {
    render_page(&state, &principal, query.saved.is_some(), None).await
}

async fn render_page(
    state: &AppState,
    principal: &Principal,
    saved: bool,
    refused: Option<AppError>,
) -> AppResult<Markup> {
    let team = principal.team_id.as_str();
    let shell = Shell::new("Pilot evaluation", PATH).component(COMPONENT);
    let (evaluation, settings, snapshots, sample, shell) = tokio::try_join!(
        super::evaluate(&state.db, team),
        async {
            super::store::settings(&state.db, team)
                .await
                .map_err(AppError::from)
        },
        async {
            super::snapshots(&state.db, team)
                .await
                .map_err(AppError::from)
        },
        async {
            crate::teams::is_demo(&state.db, team)
                .await
                .map_err(AppError::from)
        },
        page(state, principal, shell),
    )?;
    let view = PilotView {
        evaluation,
        settings,
        snapshots,
        may_manage: principal.can(Permission::ManagePilot),
        sample,
        saved,
        refused,
    };
    Ok(shell.render(render(&view)))
}

/// The settings form as posted.
#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    pub window_start: String,
    pub window_end: String,
    #[serde(flatten)]
    pub rest: std::collections::HashMap<String, String>,
}

fn number(field: &str, text: &str) -> AppResult<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|value| value.is_finite())
        .ok_or_else(|| AppError::validation(field, "must be a number"))
}

fn date(field: &str, text: &str) -> AppResult<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::validation(field, "must be a date, YYYY-MM-DD"))
}

impl SettingsForm {
    /// The changes it asks for; an entered value left blank is left as it is.
    pub fn changes(&self) -> AppResult<Changes> {
        let field = |name: &str| self.rest.get(name).map(String::as_str).unwrap_or("");
        let window = Window {
            start: date("window.start", &self.window_start)?,
            end: date("window.end", &self.window_end)?,
        };
        let target = |id: MetricId| {
            let name = format!("targets.{}", id.as_str());
            number(&name, field(&name))
        };
        let targets = Targets {
            pages_built: target(MetricId::PagesBuilt)?,
            build_hours: target(MetricId::BuildHours)?,
            code_reuse: target(MetricId::CodeReuse)?,
            user_adoption: target(MetricId::UserAdoption)?,
            performance: target(MetricId::Performance)?,
            error_rate: target(MetricId::ErrorRate)?,
        };
        let entered = |name: &str| -> AppResult<Option<(f64, String)>> {
            let value = field(&format!("{name}.value"));
            if value.trim().is_empty() {
                return Ok(None);
            }
            let value = number(&format!("{name}.value"), value)?;
            Ok(Some((value, field(&format!("{name}.source")).to_string())))
        };
        Ok(Changes {
            window: Some(window),
            targets: Some(targets),
            build_hours: entered("build_hours")?,
            code_reuse: entered("code_reuse")?,
        })
    }
}

pub async fn save_form(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<SettingsForm>,
) -> Response {
    let outcome = match form.changes() {
        Ok(changes) => super::change(&state.db, (&principal).into(), &changes).await,
        Err(err) => Err(err),
    };
    match outcome {
        Ok(()) => Redirect::to(&format!("{PATH}?saved=1")).into_response(),
        Err(err @ AppError::Validation { .. }) => {
            let status = err.status();
            match render_page(&state, &principal, false, Some(err)).await {
                Ok(markup) => (status, markup).into_response(),
                Err(err) => err.into_response(),
            }
        }
        Err(err) => err.into_response(),
    }
}

pub async fn freeze_form(State(state): State<AppState>, principal: Principal) -> Response {
    match super::freeze(&state.db, (&principal).into()).await {
        Ok(_) => Redirect::to(&format!("{PATH}#snapshots")).into_response(),
        Err(err) => err.into_response(),
    }
}

pub fn render(view: &PilotView) -> Markup {
    let evaluation = &view.evaluation;
    let decision = evaluation.decision.as_str();
    html! {
        header.page-header {
            h1 { "Pilot evaluation" }
            p.lede {
                "Window " (evaluation.window.start) " to " (evaluation.window.end) " (UTC, both included), computed from this team's telemetry when the page was opened."
            }
        }
        @if view.sample {
            (notice("success", "Sample data: the demo team's pilot covers its 30 days of generated history, and its entered values are examples."))
        }
        @if view.saved { (notice("success", "Saved.")) }
        @if let Some(err) = &view.refused { (notice("error", &err.to_string())) }
        section.panel #decision aria-labelledby="decision-title" {
            h2 #decision-title { "Decision: " span class={"decision decision-" (decision.to_lowercase())} { (decision) } }
            p.metric { (evaluation.passed) " of 6 metrics passed" }
            p.hint { (evaluation.rule) }
        }
        table.data #pilot-metrics {
            caption.visually-hidden { "The six pilot metrics" }
            thead { tr {
                th scope="col" { "Metric" } th scope="col" { "Target" } th scope="col" { "Actual" }
                th scope="col" { "Passed" } th scope="col" { "How this is computed" }
            } }
            tbody {
                @for metric in &evaluation.metrics { (metric_row(metric)) }
            }
        }
        div.chart-grid {
            @for metric in evaluation.metrics.iter().filter(|m| !m.trend.is_empty()) {
                (trend_chart(metric))
            }
        }
        (snapshots(view))
        @if view.may_manage { (settings_form(view)) }
    }
}

fn metric_row(metric: &Metric) -> Markup {
    html! {
        tr data-metric=(metric.id.as_str()) {
            th scope="row" { (metric.name) }
            td { (metric.target_text) }
            td { (actual_text(metric)) }
            td { @if metric.passed { span.badge.badge-ok { "passed" } } @else { span.badge.badge-fail { "not passed" } } }
            td {
                (metric.source)
                @if let Some(detail) = &metric.detail { br; span.hint { (detail) } }
            }
        }
    }
}

fn trend_chart(metric: &Metric) -> Markup {
    let points: Vec<Point> = metric
        .trend
        .iter()
        .filter_map(|point| {
            point
                .value
                .map(|value| Point::new(point.day.format("%b %d").to_string(), value))
        })
        .collect();
    let format: fn(f64) -> String = match metric.unit.as_str() {
        "%" => |v| format!("{v:.1} %"),
        "ms" => |v| format!("{v:.0} ms"),
        _ => |v| format!("{v:.0}"),
    };
    let id = format!("trend-{}", metric.id.as_str());
    let description = format!(
        "{} per day over the window; the target is {}.",
        metric.name, metric.target_text
    );
    html! {
        @if points.is_empty() {
            section.card aria-labelledby=(id) {
                h2 id=(id) { (metric.name) " per day" }
                p.empty { "Nothing measured in the window yet." }
            }
        } @else {
            (charts::line_chart(&id, &format!("{} per day", metric.name), &description, &points, None, format))
        }
    }
}

fn snapshots(view: &PilotView) -> Markup {
    html! {
        section.panel #snapshots aria-labelledby="snapshots-title" {
            h2 #snapshots-title { "Snapshots" }
            p.hint { "A snapshot keeps the evaluation as it was when frozen; later data never changes it." }
            @if view.may_manage {
                form method="post" action="/pilot/snapshots" {
                    button.button.button-primary #freeze type="submit" { "Freeze a snapshot now" }
                }
            }
            @if view.snapshots.is_empty() {
                p.empty { "No snapshot yet." }
            } @else {
                table.data #snapshot-list {
                    thead { tr { th scope="col" { "Frozen" } th scope="col" { "By" } th scope="col" { "Decision" } th scope="col" { "Export" } } }
                    tbody {
                        @for snapshot in &view.snapshots {
                            tr {
                                td { (when(Some(snapshot.frozen_at))) }
                                td { (snapshot.frozen_by.as_deref().unwrap_or("a former member")) }
                                td { (snapshot.evaluation.decision.as_str()) " (" (snapshot.evaluation.passed) " of 6)" }
                                td {
                                    @for (format, label) in [("markdown", "Markdown"), ("csv", "CSV"), ("json", "JSON")] {
                                        a href={"/api/pilot/snapshots/" (snapshot.id) "/export?format=" (format)} { (label) } " "
                                    }
                                }
                            }
                        }
                    }
                }
                @if let [latest, previous, ..] = view.snapshots.as_slice() { (compare(previous, latest)) }
            }
        }
    }
}

/// The latest two snapshots side by side.
fn compare(previous: &Snapshot, latest: &Snapshot) -> Markup {
    html! {
        h3 { "The latest two compared" }
        table.data #snapshot-compare {
            thead { tr {
                th scope="col" { "Metric" }
                th scope="col" { (previous.evaluation.window.end) " (earlier)" }
                th scope="col" { (latest.evaluation.window.end) " (latest)" }
            } }
            tbody {
                @for metric in &latest.evaluation.metrics {
                    @let before = previous.evaluation.metrics.iter().find(|m| m.id == metric.id);
                    tr {
                        th scope="row" { (metric.name) }
                        td { @if let Some(before) = before { (actual_text(before)) (if before.passed { " ✓" } else { "" }) } @else { "—" } }
                        td { (actual_text(metric)) (if metric.passed { " ✓" } else { "" }) }
                    }
                }
                tr {
                    th scope="row" { "Decision" }
                    td { (previous.evaluation.decision.as_str()) }
                    td { (latest.evaluation.decision.as_str()) }
                }
            }
        }
    }
}

fn settings_form(view: &PilotView) -> Markup {
    let settings = &view.settings;
    let error_for = |field: &str| view.refused.as_ref().and_then(|err| err.message_for(field));
    let field_error = |field: &str| html! { @if let Some(message) = error_for(field) { p.field-error { (message) } } };
    let entered_value = |entered: &Option<super::Entered>| {
        entered
            .as_ref()
            .map(|e| e.value.to_string())
            .unwrap_or_default()
    };
    let entered_source = |entered: &Option<super::Entered>| {
        entered
            .as_ref()
            .map(|e| e.source.clone())
            .unwrap_or_default()
    };
    html! {
        section.panel aria-labelledby="pilot-settings-title" {
            h2 #pilot-settings-title { "Window, targets and entered values" }
            form method="post" action=(PATH) {
                div.step-grid {
                    div.field {
                        label for="window-start" { "Starts" }
                        input #window-start type="date" name="window_start" value=(settings.window.start) required;
                        (field_error("window.start"))
                    }
                    div.field {
                        label for="window-end" { "Ends" }
                        input #window-end type="date" name="window_end" value=(settings.window.end) required;
                        (field_error("window.end"))
                    }
                }
                fieldset {
                    legend { "Targets" }
                    div.step-grid {
                        @for metric in MetricId::ALL {
                            @let name = format!("targets.{}", metric.as_str());
                            div.field {
                                label for=(name) { (metric.name()) " (" (if metric.higher_is_better() { "at least" } else { "at most" }) ", " (metric.unit()) ")" }
                                input id=(name) name=(name) value=(settings.targets.of(metric)) inputmode="decimal" required;
                                (field_error(&name))
                            }
                        }
                    }
                }
                fieldset {
                    legend { "Values no telemetry can know" }
                    div.step-grid {
                        @for (name, label, entered) in [("build_hours", "Build time (hours)", &settings.build_hours), ("code_reuse", "Code reuse (%)", &settings.code_reuse)] {
                            div.field {
                                label for={(name) "-value"} { (label) }
                                input id={(name) "-value"} name={(name) ".value"} value=(entered_value(entered)) inputmode="decimal";
                                (field_error(&format!("{name}.value")))
                            }
                            div.field {
                                label for={(name) "-source"} { "Where it comes from" }
                                input id={(name) "-source"} name={(name) ".source"} value=(entered_source(entered)) maxlength="300"
                                    placeholder="A time-tracking export, a component analysis…";
                                (field_error(&format!("{name}.source")))
                            }
                        }
                    }
                }
                button.button type="submit" { "Save" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pilot::measure::{Inputs, evaluation};

    fn view(may_manage: bool) -> PilotView {
        let settings = Settings::default_at(0);
        PilotView {
            evaluation: evaluation(&settings, &Inputs::default(), 0),
            settings,
            snapshots: Vec::new(),
            may_manage,
            sample: true,
            saved: false,
            refused: None,
        }
    }

    #[test]
    fn the_page_shows_each_metric_the_decision_and_forms_for_admins_only() {
        let html = render(&view(false)).into_string();
        assert!(
            html.contains("Decision: <span class=\"decision decision-pivot\">PIVOT</span>"),
            "{html}"
        );
        assert_eq!(html.matches("data-metric=").count(), 6);
        assert!(html.contains("Sample data"));
        assert!(!html.contains("Freeze a snapshot") && !html.contains("window_start"));
        let html = render(&view(true)).into_string();
        assert!(html.contains("Freeze a snapshot") && html.contains("name=\"targets.error_rate\""));
    }

    #[test]
    fn the_form_reads_dates_targets_and_entered_values() {
        let mut rest = std::collections::HashMap::new();
        for metric in MetricId::ALL {
            rest.insert(format!("targets.{}", metric.as_str()), "5".to_string());
        }
        rest.insert("build_hours.value".into(), "96".into());
        rest.insert("build_hours.source".into(), "Harvest export".into());
        rest.insert("code_reuse.value".into(), "".into());
        let form = SettingsForm {
            window_start: "2027-01-01".into(),
            window_end: "2027-01-31".into(),
            rest: rest.clone(),
        };
        let changes = form.changes().expect("changes");
        assert_eq!(changes.build_hours, Some((96.0, "Harvest export".into())));
        assert_eq!(changes.code_reuse, None, "left blank: unchanged");
        rest.insert("targets.error_rate".into(), "one".into());
        let bad = SettingsForm { rest, ..form };
        let err = bad.changes().expect_err("words");
        assert_eq!(
            err.message_for("targets.error_rate"),
            Some("must be a number")
        );
    }
}
