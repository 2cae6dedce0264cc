//! `/notifications` (component `notification-center`): the user's
//! notifications, unread in bold, filtered by type and read state, older pages
//! by cursor; forms to mark one read or unread, mark all read, and open one
//! (which switches to its team first when it came from another). Everything
//! works without scripts; `assets/notifications.js` adds new ones as they
//! arrive and keeps every tab's badge in step.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::handlers::{ListQuery, read_all_of, set_read};
use super::{Notification, NotificationType, Unread};
use crate::api::ApiQuery;
use crate::app::AppState;
use crate::auth::Principal;
use crate::components::id::NOTIFICATION_CENTER as COMPONENT;
use crate::error::{AppError, AppResult};
use crate::web::layout::when;
use crate::web::{Shell, page};

pub const PATH: &str = "/notifications";

/// What the page shows.
pub struct NotificationsView {
    pub notifications: Vec<Notification>,
    pub unread: Unread,
    pub filter_kind: Option<NotificationType>,
    pub unread_only: bool,
    /// The query string of the next (older) page, if there is one.
    pub older: Option<String>,
    /// This page's query string (forms come back to it).
    pub here: String,
    pub team_id: String,
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(mut query): ApiQuery<ListQuery>,
) -> AppResult<Markup> {
    // The filter form's "All types" sends `type=`; the API refuses a blank type.
    query.kind = query.kind.filter(|kind| !kind.is_empty());
    let filter = query.filter()?;
    let shell = Shell::new("Notifications", PATH).component(COMPONENT);
    let ((notifications, next), unread, shell) = tokio::try_join!(
        async {
            super::list(&state.db, &principal.user_id, &filter)
                .await
                .map_err(AppError::from)
        },
        async {
            super::unread_count(&state.db, &principal.user_id)
                .await
                .map_err(AppError::from)
        },
        page(&state, &principal, shell),
    )?;
    let query_of = |before: Option<String>| {
        let mut parts: Vec<(&str, String)> = Vec::new();
        if let Some(kind) = filter.kind {
            parts.push(("type", kind.as_str().to_string()));
        }
        if filter.unread_only {
            parts.push(("unread", "true".into()));
        }
        if let Some(before) = before {
            parts.push(("before", before));
        }
        serde_urlencoded::to_string(parts).unwrap_or_default()
    };
    let view = NotificationsView {
        notifications,
        unread,
        filter_kind: filter.kind,
        unread_only: filter.unread_only,
        older: next.map(|cursor| query_of(Some(cursor.to_string()))),
        here: query_of(filter.before.as_ref().map(ToString::to_string)),
        team_id: principal.team_id.clone(),
    };
    Ok(shell.render(render(&view)))
}

/// Back to the list as it was: only a query string of the list's own
/// parameters (never another address).
fn back_to(here: &str) -> String {
    let safe = here
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.=&%-+".contains(&b));
    if here.is_empty() || !safe {
        PATH.to_string()
    } else {
        format!("{PATH}?{here}")
    }
}

#[derive(Debug, Deserialize)]
pub struct ToggleForm {
    /// `true` marks it read, `false` unread.
    read: bool,
    #[serde(default)]
    back: String,
}

pub async fn toggle_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Form(form): Form<ToggleForm>,
) -> Response {
    match set_read(&state, &principal, &id, form.read).await {
        Ok(_) => Redirect::to(&back_to(&form.back)).into_response(),
        Err(err) => err.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct FollowForm {
    follow: bool,
}

/// The workflow page's Follow button: back to the workflow.
pub async fn follow_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Form(form): Form<FollowForm>,
) -> Response {
    match super::handlers::set_following(&state, &principal, &id, form.follow).await {
        Ok(()) => Redirect::to(&format!("/workflows/{id}")).into_response(),
        Err(err) => err.into_response(),
    }
}

pub async fn read_all_form(State(state): State<AppState>, principal: Principal) -> Response {
    match read_all_of(&state, &principal).await {
        Ok(_) => Redirect::to(PATH).into_response(),
        Err(err) => err.into_response(),
    }
}

/// Opens a notification's object: marks it read, switches to its team when it
/// came from another of the user's teams, and goes to its link.
pub async fn open_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Response {
    match open(&state, &principal, &id).await {
        Ok(target) => Redirect::to(&target).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn open(state: &AppState, principal: &Principal, id: &str) -> AppResult<String> {
    let notification = super::store::get(&state.db, &principal.user_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    set_read(state, principal, id, true).await?;
    let Some(link) = notification.link.filter(|link| is_local(link)) else {
        return Ok(PATH.to_string());
    };
    if notification.team_id != principal.team_id {
        crate::teams::handlers::switch(state, principal, &notification.team_id).await?;
    }
    Ok(link)
}

/// A path of this console (not another site's address).
fn is_local(link: &str) -> bool {
    link.starts_with('/') && !link.starts_with("//") && !link.contains('\\')
}

pub fn render(view: &NotificationsView) -> Markup {
    html! {
        header.page-header {
            h1 { "Notifications" }
            p.lede #unread-summary {
                @if view.unread.unread == 0 { "Nothing unread." }
                @else { (view.unread.unread) " unread." }
            }
            div.header-actions {
                form method="post" action="/notifications/read-all" {
                    button.button.button-small type="submit" disabled[view.unread.unread == 0] { "Mark all read" }
                }
                a.button.button-small href=(super::settings::PATH) { "Settings" }
                a.button.button-small href=(crate::alerts::page::PATH) { "Alert rules" }
            }
        }
        (filters(view))
        @if view.notifications.is_empty() {
            p.empty #no-notifications {
                @if view.filter_kind.is_some() || view.unread_only { "No notifications match." }
                @else { "No notifications yet. Failed runs, skipped schedules, invitations, key problems, reopened errors and alerts arrive here as they happen." }
            }
        }
        ul.notification-list #notifications
            data-version=(view.unread.version)
            data-type=[view.filter_kind.map(NotificationType::as_str)]
            data-unread-only=[view.unread_only.then_some("true")]
            data-team=(view.team_id)
            data-back=(view.here) {
            @for notification in &view.notifications {
                (item(notification, &view.team_id, &view.here))
            }
        }
        @if let Some(older) = &view.older {
            p.pager { a.button.button-small href={"?" (older)} rel="next" { "Older notifications" } }
        }
    }
}

fn filters(view: &NotificationsView) -> Markup {
    html! {
        form.filters method="get" action=(PATH) {
            label for="filter-type" { "Type" }
            select #filter-type name="type" {
                option value="" selected[view.filter_kind.is_none()] { "All types" }
                @for kind in NotificationType::ALL {
                    option value=(kind.as_str()) selected[view.filter_kind == Some(kind)] { (kind.label()) }
                }
            }
            label.checkbox {
                input type="checkbox" name="unread" value="true" checked[view.unread_only];
                " Unread only"
            }
            button.button.button-small type="submit" { "Filter" }
        }
    }
}

/// One notification: title (bold while unread), message, where from, when,
/// and its buttons. `notifications.js` draws arriving ones the same way.
pub fn item(notification: &Notification, team_id: &str, back: &str) -> Markup {
    let id = &notification.id;
    html! {
        li.notification.unread[!notification.read] data-id=(id) data-type=(notification.kind.as_str()) {
            div.notification-body {
                p.notification-title {
                    span.notification-type { (notification.kind.label()) }
                    " " (notification.title)
                }
                @if !notification.message.is_empty() { p.notification-message { (notification.message) } }
                p.notification-meta {
                    (when(Some(notification.created_at)))
                    @if notification.team_id != team_id { " · from " (notification.team_name) }
                }
            }
            div.notification-actions {
                @if notification.link.is_some() {
                    form method="post" action={"/notifications/" (id) "/open"} {
                        button.button.button-small type="submit" { "Open" }
                    }
                }
                form method="post" action={"/notifications/" (id) "/read"} {
                    input type="hidden" name="read" value=(!notification.read);
                    input type="hidden" name="back" value=(back);
                    button.button.button-small.toggle-read type="submit" {
                        @if notification.read { "Mark unread" } @else { "Mark read" }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(id: &str, read: bool, team: &str) -> Notification {
        Notification {
            id: id.into(),
            kind: NotificationType::ExecutionFailed,
            title: "Brief <failed>".into(),
            message: "step-1: provider said 500".into(),
            link: Some("/monitor/e-1".into()),
            read,
            created_at: 1_700_000_000_000,
            team_id: team.into(),
            team_name: "Other team".into(),
        }
    }

    fn view(notifications: Vec<Notification>) -> NotificationsView {
        NotificationsView {
            notifications,
            unread: Unread {
                unread: 1,
                version: 7,
            },
            filter_kind: None,
            unread_only: false,
            older: Some("before=1.x".into()),
            here: String::new(),
            team_id: "t-1".into(),
        }
    }

    #[test]
    fn unread_ones_are_marked_and_other_teams_named() {
        let html = render(&view(vec![
            notification("n-1", false, "t-1"),
            notification("n-2", true, "t-2"),
        ]))
        .into_string();
        assert!(html.contains(r#"class="notification unread" data-id="n-1""#));
        assert!(html.contains(r#"class="notification" data-id="n-2""#));
        assert!(html.contains("Brief &lt;failed&gt;"), "titles are escaped");
        assert_eq!(html.matches("from Other team").count(), 1);
        assert!(html.contains(r#"action="/notifications/n-1/open""#));
        assert!(html.contains(r#"data-version="7""#));
        assert!(html.contains("1 unread."));
        assert!(html.contains(r#"href="?before=1.x""#));
    }

    #[test]
    fn an_empty_list_says_what_will_arrive() {
        let html = render(&view(Vec::new())).into_string();
        assert!(html.contains("No notifications yet."));
    }

    #[test]
    fn forms_return_only_to_the_list() {
        assert_eq!(back_to(""), "/notifications");
        assert_eq!(
            back_to("type=alert_fired&unread=true"),
            "/notifications?type=alert_fired&unread=true"
        );
        assert_eq!(back_to("x=//evil.example/"), "/notifications");
        assert!(is_local("/monitor/e-1"));
        assert!(!is_local("//evil.example/") && !is_local("https://evil.example/"));
    }
}
