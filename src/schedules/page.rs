//! `/workflows/scheduler` (component `workflow-scheduler`): the team's
//! schedules with their workflow, expression in words, zone, next and last
//! run; a create form with a visual builder; `/workflows/scheduler/{id}`: one
//! schedule's edit form, its next slots and its history. The forms post the
//! cron text, so everything works without scripts; `assets/scheduler.js` is
//! the builder (it writes the text, and reads it back when edited by hand) and
//! the live preview.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use maud::{Markup, html};
use serde::Deserialize;

use super::handlers::{ScheduleRequest, preview_of};
use super::{CatchUp, Outcome, Overlap, Schedule, Slot};
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::components::id::WORKFLOW_SCHEDULER as COMPONENT;
use crate::error::{AppError, AppResult};
use crate::web::layout::when;
use crate::web::{Shell, notice, page};
use crate::workflows::Workflow;

pub const PATH: &str = "/workflows/scheduler";

/// The form as sent (and drawn again after a refusal or a preview).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ScheduleForm {
    #[serde(default)]
    pub workflow_id: String,
    #[serde(default)]
    pub cron: String,
    #[serde(default)]
    pub timezone: String,
    #[serde(default)]
    pub input: String,
    #[serde(default)]
    pub overlap: String,
    #[serde(default)]
    pub catch_up: String,
    #[serde(default)]
    pub catch_up_window_secs: String,
    #[serde(default)]
    pub jitter_secs: String,
    #[serde(default)]
    pub enabled: Option<String>,
    #[serde(default)]
    pub pause_note: String,
    /// `preview` draws the form again with the next slots; else save.
    #[serde(default)]
    pub action: String,
}

impl ScheduleForm {
    fn of(schedule: &Schedule) -> ScheduleForm {
        ScheduleForm {
            workflow_id: schedule.workflow_id.clone(),
            cron: schedule.cron.clone(),
            timezone: schedule.timezone.clone(),
            input: serde_json::to_string_pretty(&schedule.input).unwrap_or_default(),
            overlap: schedule.overlap.as_str().into(),
            catch_up: schedule.catch_up.as_str().into(),
            catch_up_window_secs: schedule.catch_up_window_secs.to_string(),
            jitter_secs: schedule.jitter_secs.to_string(),
            enabled: schedule.enabled.then(|| "on".into()),
            pause_note: schedule.pause_note.clone().unwrap_or_default(),
            action: String::new(),
        }
    }

    fn new_in(zone: &str) -> ScheduleForm {
        ScheduleForm {
            cron: "0 9 * * 1-5".into(),
            timezone: zone.into(),
            input: "{}".into(),
            enabled: Some("on".into()),
            ..ScheduleForm::default()
        }
    }

    /// The API's request; a number or JSON that does not read is refused
    /// naming its field.
    fn request(&self) -> AppResult<ScheduleRequest> {
        let number = |field: &str, text: &str| -> AppResult<Option<i64>> {
            match text.trim() {
                "" => Ok(None),
                text => text
                    .parse()
                    .map(Some)
                    .map_err(|_| AppError::validation(field, "must be a whole number")),
            }
        };
        let input = match self.input.trim() {
            "" => serde_json::json!({}),
            text => serde_json::from_str(text)
                .map_err(|err| AppError::validation("input", format!("not JSON: {err}")))?,
        };
        let text = |value: &str| Some(value.trim().to_string()).filter(|value| !value.is_empty());
        Ok(ScheduleRequest {
            workflow_id: text(&self.workflow_id),
            cron: Some(self.cron.clone()),
            timezone: text(&self.timezone),
            input: Some(input),
            enabled: Some(self.enabled.is_some()),
            pause_note: Some(self.pause_note.clone()),
            overlap: text(&self.overlap),
            catch_up: text(&self.catch_up),
            catch_up_window_secs: number("catch_up_window_secs", &self.catch_up_window_secs)?,
            jitter_secs: number("jitter_secs", &self.jitter_secs)?,
        })
    }
}

pub struct SchedulerView {
    pub schedules: Vec<Schedule>,
    pub workflows: Vec<Workflow>,
    pub may_edit: bool,
    pub may_run: bool,
    /// The form being drawn (a new schedule's, or the one refused).
    pub form: ScheduleForm,
    pub refused: Option<AppError>,
    pub preview: Option<super::handlers::Preview>,
    /// On a schedule's own page: it and its history.
    pub current: Option<(Schedule, Vec<Slot>)>,
}

async fn load(
    state: &AppState,
    principal: &Principal,
    id: Option<&str>,
) -> AppResult<SchedulerView> {
    let team = principal.team_id.as_str();
    let (schedules, workflows) = tokio::try_join!(
        super::list(&state.db, team),
        crate::workflows::list(&state.db, team)
    )?;
    let current = match id {
        Some(id) => {
            let schedule = schedules
                .iter()
                .find(|s| s.id == id)
                .cloned()
                .ok_or(AppError::NotFound)?;
            let history = super::history(&state.db, team, id, 200).await?;
            Some((schedule, history))
        }
        None => None,
    };
    Ok(SchedulerView {
        schedules,
        workflows,
        may_edit: principal.can(Permission::EditWorkflows),
        may_run: principal.can(Permission::Operate),
        form: ScheduleForm::default(),
        refused: None,
        preview: None,
        current,
    })
}

async fn draw(
    state: &AppState,
    principal: &Principal,
    id: Option<&str>,
    adjust: impl FnOnce(&mut SchedulerView),
) -> AppResult<Markup> {
    let title = if id.is_some() {
        "Schedule"
    } else {
        "Scheduler"
    };
    let shell = Shell::new(title, PATH).component(COMPONENT);
    let (mut view, shell) =
        tokio::try_join!(load(state, principal, id), page(state, principal, shell))?;
    adjust(&mut view);
    if view.preview.is_none() && view.refused.is_none() {
        let zone = if view.form.timezone.is_empty() {
            "UTC"
        } else {
            view.form.timezone.as_str()
        };
        view.preview = preview_of(&view.form.cron, zone, 10).ok();
    }
    Ok(shell.render(render(&view)))
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    jar: CookieJar,
) -> AppResult<Markup> {
    let zone = super::handlers::viewer_zone(&jar);
    draw(&state, &principal, None, |view| {
        view.form = ScheduleForm::new_in(&zone)
    })
    .await
}

pub async fn details(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Markup> {
    draw(&state, &principal, Some(&id), |view| {
        if let Some((schedule, _)) = &view.current {
            view.form = ScheduleForm::of(schedule);
        }
    })
    .await
}

/// Saves (or previews) a new schedule, or a schedule's changes.
async fn submit(
    state: &AppState,
    principal: &Principal,
    id: Option<&str>,
    form: ScheduleForm,
) -> Response {
    let outcome = if form.action == "preview" {
        let zone = if form.timezone.trim().is_empty() {
            "UTC"
        } else {
            form.timezone.trim()
        };
        preview_of(&form.cron, zone, 10).map(Err)
    } else {
        save(state, principal, id, &form).await.map(Ok)
    };
    let (refused, preview) = match outcome {
        Ok(Ok(saved)) => return Redirect::to(&format!("{PATH}/{saved}")).into_response(),
        Ok(Err(preview)) => (None, Some(preview)),
        Err(err @ AppError::Validation { .. }) => (Some(err), None),
        Err(err) => return err.into_response(),
    };
    let status = refused
        .as_ref()
        .map(AppError::status)
        .unwrap_or(axum::http::StatusCode::OK);
    match draw(state, principal, id, |view| {
        view.form = form;
        view.refused = refused;
        view.preview = preview;
    })
    .await
    {
        Ok(markup) => (status, markup).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn save(
    state: &AppState,
    principal: &Principal,
    id: Option<&str>,
    form: &ScheduleForm,
) -> AppResult<String> {
    let request = form.request()?;
    match id {
        None => {
            let zone = request.timezone.clone().unwrap_or_else(|| "UTC".into());
            let fields = super::handlers::fields(state, principal, request, None, zone).await?;
            super::create(state, principal, &fields).await
        }
        Some(id) => {
            let current = super::get(&state.db, &principal.team_id, id)
                .await?
                .ok_or(AppError::NotFound)?;
            let zone = current.timezone.clone();
            let fields =
                super::handlers::fields(state, principal, request, Some(&current), zone).await?;
            super::update(state, principal, id, &fields).await?;
            Ok(id.to_string())
        }
    }
}

pub async fn create_form(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<ScheduleForm>,
) -> Response {
    submit(&state, &principal, None, form).await
}

pub async fn update_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Form(form): Form<ScheduleForm>,
) -> Response {
    submit(&state, &principal, Some(&id), form).await
}

pub async fn run_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Redirect> {
    let execution = super::run_now(&state, &principal, &id).await?;
    Ok(Redirect::to(&format!("/monitor/{execution}")))
}

pub async fn delete_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Redirect> {
    if !super::store::delete(&state.db, (&principal).into(), &id).await? {
        return Err(AppError::NotFound);
    }
    state.scheduler.wake();
    Ok(Redirect::to(PATH))
}

pub fn render(view: &SchedulerView) -> Markup {
    html! {
        @match &view.current {
            None => {
                header.page-header {
                    h1 { "Scheduler" }
                    p.lede { "Workflows that run on a schedule, in a time zone. Each slot fires once, within a second; what a slot does while the last run still runs, and after a server was down, is set per schedule." }
                }
                (list(view))
                @if view.may_edit { (super::page_form::form(view, None)) }
            }
            Some((schedule, history)) => {
                header.page-header {
                    h1 { (schedule.workflow_name) " " span.badge { (if schedule.enabled { "enabled" } else { "paused" }) } }
                    p.lede { code { (schedule.cron) } " — " (schedule.description) " (" (schedule.timezone) ")" }
                }
                @if view.may_run {
                    form method="post" action={(PATH) "/" (schedule.id) "/run"} {
                        button.button type="submit" { "Run now" }
                    }
                }
                @if view.may_edit { (super::page_form::form(view, Some(schedule))) }
                (history_table(history))
                p { a href=(PATH) { "All schedules" } }
            }
        }
    }
}

fn list(view: &SchedulerView) -> Markup {
    html! {
        @if view.schedules.is_empty() {
            p.empty { "No schedules yet." }
        } @else {
            div.table-scroll { table.data #schedules {
                caption.visually-hidden { "The team's schedules" }
                thead { tr {
                    th scope="col" { "Workflow" } th scope="col" { "When" } th scope="col" { "Zone" }
                    th scope="col" { "Next run" } th scope="col" { "Last run" } th scope="col" { "State" }
                } }
                tbody {
                    @for schedule in &view.schedules {
                        tr {
                            td { a href={(PATH) "/" (schedule.id)} { (schedule.workflow_name) } }
                            td { code { (schedule.cron) } br; span.muted { (schedule.description) } }
                            td { (schedule.timezone) }
                            td { @if schedule.enabled { (when(schedule.next_run_at)) } @else { span.muted { "paused" } } }
                            td {
                                @match &schedule.last_run {
                                    Some(slot) => {
                                        (when(Some(slot.slot_at)))
                                        @if let Some(status) = &slot.execution_status {
                                            " " span class={"status status-" (status)} { (status) }
                                        }
                                    }
                                    None => span.muted { "never" },
                                }
                            }
                            td { (if schedule.enabled { "enabled" } else { "paused" })
                                @if let Some(note) = &schedule.pause_note { br; span.muted { (note) } } }
                        }
                    }
                }
            } }
        }
    }
}

fn history_table(history: &[Slot]) -> Markup {
    html! {
        section.panel aria-labelledby="history-title" {
            h2 #history-title { "History" }
            @if history.is_empty() {
                p.empty { "No slot has come yet." }
            } @else {
                table.data {
                    caption.visually-hidden { "The schedule's slots, newest first" }
                    thead { tr { th scope="col" { "Slot" } th scope="col" { "Outcome" } th scope="col" { "Execution" } th scope="col" { "Why" } } }
                    tbody {
                        @for slot in history {
                            tr {
                                td { (when(Some(slot.slot_at))) }
                                td { span class={"status status-slot-" (slot.outcome.as_str())} { (slot.outcome.as_str()) } }
                                td {
                                    @match (&slot.execution_id, &slot.execution_status) {
                                        (Some(id), status) => {
                                            a href={"/monitor/" (id)} { (status.as_deref().unwrap_or("open")) }
                                        }
                                        _ => span.muted { "—" },
                                    }
                                }
                                td { (slot.reason.as_deref().unwrap_or(if slot.outcome == Outcome::Fired { "on time" } else { "" })) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The refusal's message when it names `field`.
pub(super) fn error_for<'a>(view: &'a SchedulerView, field: &str) -> Option<&'a str> {
    match &view.refused {
        Some(AppError::Validation {
            field: named,
            message,
        }) if named == field => Some(message),
        _ => None,
    }
}

pub(super) fn refusal(view: &SchedulerView) -> Markup {
    html! { @if let Some(error) = &view.refused { (notice("error", &error.to_string())) } }
}

pub(super) const OVERLAPS: [(Overlap, &str); 4] = [
    (Overlap::Skip, "Skip the slot (default)"),
    (
        Overlap::BufferOne,
        "Run it after the current run (one waits)",
    ),
    (Overlap::AllowAll, "Run anyway"),
    (Overlap::CancelRunning, "Cancel the current run, then run"),
];

pub(super) const CATCH_UPS: [(CatchUp, &str); 3] = [
    (CatchUp::Latest, "Run the latest missed slot once (default)"),
    (CatchUp::All, "Run every missed slot within the window"),
    (CatchUp::Skip, "Skip missed slots"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule {
            id: "s-1".into(),
            workflow_id: "w-1".into(),
            workflow_name: "Brief <weekly>".into(),
            cron: "0 9 * * 1-5".into(),
            description: "At 09:00, on weekdays".into(),
            timezone: "Europe/Berlin".into(),
            input: serde_json::json!({"market": "fintech"}),
            enabled: false,
            pause_note: Some("holidays".into()),
            overlap: Overlap::BufferOne,
            catch_up: CatchUp::All,
            catch_up_window_secs: 600,
            jitter_secs: 5,
            next_run_at: Some(0),
            last_run: None,
            created_by: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn the_form_reads_back_into_the_request_and_refuses_by_field() {
        let form = ScheduleForm::of(&schedule());
        let request = form.request().expect("request");
        assert_eq!(request.enabled, Some(false));
        assert_eq!(request.catch_up_window_secs, Some(600));
        assert_eq!(
            request.input,
            Some(serde_json::json!({"market": "fintech"}))
        );
        let bad = ScheduleForm {
            jitter_secs: "soon".into(),
            ..form.clone()
        };
        assert!(
            matches!(bad.request(), Err(AppError::Validation { field, .. }) if field == "jitter_secs")
        );
        let bad = ScheduleForm {
            input: "{".into(),
            ..form
        };
        assert!(
            matches!(bad.request(), Err(AppError::Validation { field, .. }) if field == "input")
        );
    }

    #[test]
    fn the_list_shows_each_schedule_and_viewers_get_no_form() {
        let view = SchedulerView {
            schedules: vec![schedule()],
            workflows: Vec::new(),
            may_edit: false,
            may_run: false,
            form: ScheduleForm::default(),
            refused: None,
            preview: None,
            current: None,
        };
        let html = render(&view).into_string();
        assert!(html.contains("Brief &lt;weekly&gt;") && html.contains("At 09:00, on weekdays"));
        assert!(html.contains("paused") && html.contains("holidays"));
        assert!(!html.contains("<form"), "viewers read only");
    }
}
