//! The schedule form: the cron text (what is posted), the visual builder
//! `assets/scheduler.js` shows and keeps in step with it, the policies, and
//! the next 10 slots in the schedule's zone and the viewer's.

use maud::{Markup, html};

use super::Schedule;
use super::page::{CATCH_UPS, OVERLAPS, PATH, SchedulerView, error_for, refusal};

pub fn form(view: &SchedulerView, editing: Option<&Schedule>) -> Markup {
    let form = &view.form;
    let action = match editing {
        Some(schedule) => format!("{PATH}/{}", schedule.id),
        None => PATH.to_string(),
    };
    let field_error = |field: &str| {
        html! { @if let Some(message) = error_for(view, field) { p.field-error id={(field) "-error"} { (message) } } }
    };
    let invalid = |field: &str| error_for(view, field).map(|_| "true");
    html! {
        section.panel aria-labelledby="schedule-form-title" {
            h2 #schedule-form-title { (if editing.is_some() { "Edit the schedule" } else { "New schedule" }) }
            (refusal(view))
            @if view.workflows.is_empty() {
                p.hint { "A schedule runs a workflow: " a href="/workflows/new" { "build one first" } "." }
            }
            form.schedule-form method="post" action=(action) {
                button.visually-hidden type="submit" name="action" value="save" tabindex="-1" aria-hidden="true" { "Save" }
                div.field {
                    label for="schedule-workflow" { "Workflow" }
                    select #schedule-workflow name="workflow_id" required aria-invalid=[invalid("workflow_id")] {
                        option value="" { "Choose a workflow" }
                        @for workflow in &view.workflows {
                            option value=(workflow.id) selected[workflow.id == form.workflow_id] { (workflow.name) }
                        }
                    }
                    (field_error("workflow_id"))
                }
                (builder())
                div.field {
                    label for="schedule-cron" { "Cron expression" }
                    input #schedule-cron name="cron" value=(form.cron) required maxlength="200" spellcheck="false"
                        autocomplete="off" aria-invalid=[invalid("cron")] aria-describedby="schedule-cron-help";
                    p.hint #schedule-cron-help { "5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or @hourly, @daily, @weekly, @monthly. " code { "L" } " is the last day, " code { "15W" } " the weekday nearest the 15th, " code { "1#2" } " the second Monday." }
                    (field_error("cron"))
                }
                div.field {
                    label for="schedule-timezone" { "Time zone" }
                    input #schedule-timezone name="timezone" value=(form.timezone) list="time-zones" maxlength="64" aria-invalid=[invalid("timezone")];
                    datalist #time-zones {
                        @for zone in chrono_tz::TZ_VARIANTS { option value=(zone.name()) {} }
                    }
                    (field_error("timezone"))
                }
                (preview(view))
                div.field {
                    label for="schedule-input" { "Input (JSON)" }
                    textarea #schedule-input name="input" rows="3" spellcheck="false" aria-invalid=[invalid("input")] { (form.input) }
                    (field_error("input"))
                }
                div.step-grid {
                    div.field {
                        label for="schedule-overlap" { "While the last run still runs" }
                        select #schedule-overlap name="overlap" {
                            @for (overlap, label) in OVERLAPS {
                                option value=(overlap.as_str()) selected[overlap.as_str() == form.overlap] { (label) }
                            }
                        }
                    }
                    div.field {
                        label for="schedule-catch-up" { "After a server was down" }
                        select #schedule-catch-up name="catch_up" {
                            @for (catch_up, label) in CATCH_UPS {
                                option value=(catch_up.as_str()) selected[catch_up.as_str() == form.catch_up] { (label) }
                            }
                        }
                    }
                    div.field {
                        label for="schedule-window" { "Catch-up window (seconds)" }
                        input #schedule-window name="catch_up_window_secs" value=(form.catch_up_window_secs) inputmode="numeric" placeholder="3600" aria-invalid=[invalid("catch_up_window_secs")];
                        (field_error("catch_up_window_secs"))
                    }
                    div.field {
                        label for="schedule-jitter" { "Jitter (seconds, 0 to 3600)" }
                        input #schedule-jitter name="jitter_secs" value=(form.jitter_secs) inputmode="numeric" placeholder="0" aria-invalid=[invalid("jitter_secs")];
                        (field_error("jitter_secs"))
                    }
                }
                div.field {
                    label.check for="schedule-enabled" {
                        input #schedule-enabled type="checkbox" name="enabled" value="on" checked[form.enabled.is_some()];
                        " Enabled"
                    }
                }
                div.field {
                    label for="schedule-pause-note" { "Pause note (optional, shown to the team)" }
                    input #schedule-pause-note name="pause_note" value=(form.pause_note) maxlength="500";
                }
                div.editor-actions {
                    button.button type="submit" name="action" value="preview" { "Preview" }
                    " "
                    button.button.button-primary type="submit" name="action" value="save" { (if editing.is_some() { "Save schedule" } else { "Create schedule" }) }
                }
            }
            @if let Some(schedule) = editing {
                form method="post" action={(PATH) "/" (schedule.id) "/delete"} data-confirm="Delete this schedule? Its history goes too; its executions stay." {
                    button.button.button-small.button-danger type="submit" { "Delete schedule" }
                }
            }
        }
        script type="module" src="/assets/scheduler.js" {}
    }
}

/// The builder: hidden until `scheduler.js` runs (without it, the text is
/// the form).
fn builder() -> Markup {
    html! {
        fieldset.builder #schedule-builder hidden {
            legend { "Build it" }
            div.builder-row {
                div.field {
                    label for="builder-mode" { "Runs" }
                    select #builder-mode {
                        option value="minutes" { "Every N minutes" }
                        option value="hourly" { "Hourly, at a minute" }
                        option value="daily" { "Daily, at times" }
                        option value="weekdays" { "On weekdays (Monday to Friday), at a time" }
                        option value="weekly" { "On chosen days, at a time" }
                        option value="monthly" { "Monthly, on a day" }
                        option value="custom" { "Custom (edit the expression)" }
                    }
                }
                div.field data-modes="minutes" {
                    label for="builder-every" { "Every (minutes)" }
                    input #builder-every type="number" min="1" max="59" value="15";
                }
                div.field data-modes="hourly" {
                    label for="builder-minute" { "At minute" }
                    input #builder-minute type="number" min="0" max="59" value="0";
                }
                div.field data-modes="daily" {
                    label for="builder-times" { "At (comma-separated, 24 h)" }
                    input #builder-times value="09:00";
                }
                div.field data-modes="weekdays weekly monthly" {
                    label for="builder-time" { "At" }
                    input #builder-time type="time" value="09:00";
                }
                div.field data-modes="monthly" {
                    label for="builder-day" { "Day of the month" }
                    select #builder-day {
                        @for day in 1..=31 { option value=(day) { (day) } }
                        option value="L" { "the last day" }
                    }
                }
            }
            fieldset.depends-on data-modes="weekly" {
                legend { "On" }
                @for (value, name) in [("1", "Mon"), ("2", "Tue"), ("3", "Wed"), ("4", "Thu"), ("5", "Fri"), ("6", "Sat"), ("0", "Sun")] {
                    label.check { input type="checkbox" name="builder-days" value=(value); " " (name) }
                }
            }
        }
    }
}

/// The next slots: in the schedule's zone, and (by the page script) the
/// viewer's. `scheduler.js` redraws it as the expression or zone changes.
fn preview(view: &SchedulerView) -> Markup {
    html! {
        div.preview #schedule-preview aria-live="polite" {
            @match &view.preview {
                Some(preview) => {
                    p #schedule-description { strong { (preview.description) } }
                    ol #schedule-next {
                        @for at in &preview.next {
                            li {
                                code { (at) }
                                " · your time: " time datetime=(at) { (at) }
                                @if let Some(note) = preview.notes.iter().find(|note| &note.at == at) {
                                    " " span.badge { "daylight saving" } " " span.muted { (note.note) }
                                }
                            }
                        }
                    }
                }
                None => p.muted { "The next runs show here." },
            }
        }
    }
}
