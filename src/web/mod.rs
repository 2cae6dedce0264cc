//! The console shell: layout, navigation, assets and error pages, rendered on the
//! server with maud (escaping by default). Pages read without JavaScript; the
//! small script in `assets/app.js` only adds conveniences.

pub mod charts;
pub mod csp_report;
pub mod format;
pub mod headers;
pub mod layout;
mod overview;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use crate::app::AppState;
use crate::auth::{MaybePrincipal, Permission, Principal};
use crate::error::AppError;
use crate::routes::Route;

pub use layout::{Shell, page};

pub fn routes() -> Vec<Route> {
    vec![
        Route::page(Method::GET, "/", overview::show).allowed(Permission::Read),
        Route::raw(Method::GET, "/assets/{file}", asset).public(),
        Route::raw(Method::POST, csp_report::PATH, csp_report::report).public(),
    ]
}

/// One entry of the navigation. Later pages add themselves here.
pub struct NavEntry {
    pub label: &'static str,
    pub path: &'static str,
    pub section: &'static str,
    pub permission: Permission,
    /// Hidden when this component is disabled for the team.
    pub component: Option<crate::components::ComponentId>,
}

pub const NAV: &[NavEntry] = &[
    NavEntry {
        label: "Overview",
        path: "/",
        section: "Console",
        permission: Permission::Read,
        component: None,
    },
    NavEntry {
        label: "Analytics",
        path: "/analytics",
        section: "Console",
        permission: Permission::Read,
        component: Some(crate::components::id::ANALYTICS_DASHBOARD),
    },
    NavEntry {
        label: "Token usage",
        path: "/analytics/tokens",
        section: "Console",
        permission: Permission::Read,
        component: Some(crate::components::id::TOKEN_USAGE),
    },
    NavEntry {
        label: "Execution monitor",
        path: "/monitor",
        section: "Console",
        permission: Permission::Read,
        component: Some(crate::components::id::EXECUTION_MONITOR),
    },
    NavEntry {
        label: "Agents",
        path: "/agents",
        section: "Console",
        permission: Permission::Read,
        component: Some(crate::components::id::AGENTS),
    },
    NavEntry {
        label: "Workflows",
        path: "/workflows",
        section: "Console",
        permission: Permission::Read,
        component: Some(crate::components::id::WORKFLOWS),
    },
    NavEntry {
        label: "Scheduler",
        path: "/workflows/scheduler",
        section: "Console",
        permission: Permission::Read,
        component: Some(crate::components::id::WORKFLOW_SCHEDULER),
    },
    NavEntry {
        label: "Error logs",
        path: "/logs/errors",
        section: "Console",
        permission: Permission::Read,
        component: Some(crate::components::id::ERROR_LOGS),
    },
    NavEntry {
        label: "Notifications",
        path: "/notifications",
        section: "Console",
        permission: Permission::Read,
        component: Some(crate::components::id::NOTIFICATION_CENTER),
    },
    NavEntry {
        label: "Pilot evaluation",
        path: "/pilot",
        section: "Console",
        permission: Permission::Read,
        component: Some(crate::components::id::PILOT_EVALUATION),
    },
    NavEntry {
        label: "Team members",
        path: "/team",
        section: "Settings",
        permission: Permission::Read,
        component: Some(crate::components::id::TEAM_MEMBERS),
    },
    NavEntry {
        label: "Components",
        path: "/settings/components",
        section: "Settings",
        permission: Permission::Read,
        component: None,
    },
    NavEntry {
        label: "API keys",
        path: "/settings/api-keys",
        section: "Settings",
        permission: Permission::Read,
        component: Some(crate::components::id::API_KEYS),
    },
    NavEntry {
        label: "Ingestion keys",
        path: "/settings/ingestion-keys",
        section: "Settings",
        permission: Permission::Read,
        component: None,
    },
    NavEntry {
        label: "Account",
        path: "/account",
        section: "Settings",
        permission: Permission::Read,
        component: None,
    },
];

const APP_CSS: &str = include_str!("../../assets/app.css");
const APP_JS: &str = include_str!("../../assets/app.js");
const MONITOR_JS: &str = include_str!("../../assets/monitor.js");
const EDITOR_JS: &str = include_str!("../../assets/editor.js");
const SCHEDULER_JS: &str = include_str!("../../assets/scheduler.js");
const NOTIFICATIONS_JS: &str = include_str!("../../assets/notifications.js");
const FAVICON: &str = include_str!("../../assets/favicon.svg");

async fn asset(Path(file): Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "app.css" => ("text/css; charset=utf-8", APP_CSS),
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "monitor.js" => ("text/javascript; charset=utf-8", MONITOR_JS),
        "editor.js" => ("text/javascript; charset=utf-8", EDITOR_JS),
        "scheduler.js" => ("text/javascript; charset=utf-8", SCHEDULER_JS),
        "notifications.js" => ("text/javascript; charset=utf-8", NOTIFICATIONS_JS),
        "favicon.svg" => ("image/svg+xml", FAVICON),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

fn title_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "Sign in required",
        403 => "Not allowed",
        404 => "Page not found",
        409 => "Conflict",
        422 => "Check the form",
        429 => "Slow down",
        500..=599 => "Something went wrong",
        _ => "Request refused",
    }
}

/// A styled error page; inside the shell when someone is signed in.
pub async fn error_page(
    state: &AppState,
    principal: Option<&Principal>,
    status: StatusCode,
    message: Option<String>,
) -> Response {
    let title = title_for(status);
    let explanation = match status.as_u16() {
        404 => "There is nothing here, or it belongs to another team, or its component is switched off.".to_string(),
        403 => "Your role in this team does not allow this. An admin or owner can change your role.".to_string(),
        500..=599 => "The error was logged with this request's id. Try again; if it persists, tell your administrator.".to_string(),
        _ => message.unwrap_or_default(),
    };
    let content = html! {
        section.error-page aria-labelledby="error-title" {
            p.error-code { (status.as_u16()) }
            h1 #error-title { (title) }
            p { (explanation) }
            p { a.button href="/" { "Back to the overview" } }
        }
    };
    let markup = match principal {
        Some(who) => match page(state, who, Shell::new(title, "")).await {
            Ok(shell) => shell.render(content),
            Err(_) => layout::bare(title, content),
        },
        None => layout::bare(title, content),
    };
    (status, markup).into_response()
}

/// The answer for paths no route matches: HTML for browsers, JSON otherwise.
pub async fn not_found(
    State(state): State<AppState>,
    principal: MaybePrincipal,
    headers: HeaderMap,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        error_page(&state, principal.0.as_ref(), StatusCode::NOT_FOUND, None).await
    } else {
        AppError::NotFound.into_response()
    }
}

/// What a panic inside a handler turns into: a plain 500, details only in the log.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "handler panicked");
    AppError::Internal(anyhow::anyhow!("handler panicked")).into_response()
}

/// A small notice box (success or error) for forms.
pub fn notice(kind: &str, text: &str) -> Markup {
    html! { div class={"notice notice-" (kind)} role=(if kind == "error" { "alert" } else { "status" }) { (text) } }
}

/// Helpers for the pages' render tests.
#[cfg(test)]
pub mod testing {
    /// The markup of one metric card (the `section` labelled by `id`).
    pub fn card<'a>(html: &'a str, id: &str) -> &'a str {
        let start = html
            .find(&format!("aria-labelledby=\"{id}\""))
            .unwrap_or_else(|| panic!("no card {id}"));
        let end = start + html[start..].find("</section>").expect("card end");
        &html[start..end]
    }
}
