//! The page layout: skip link, header with team switcher and user menu, the
//! navigation (only what the role may see and the team has enabled), and main.

use maud::{DOCTYPE, Markup, html};

use super::NAV;
use crate::app::AppState;
use crate::auth::Principal;
use crate::components::ComponentId;
use crate::error::AppError;
use crate::teams::TeamMembership;

const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a page tells the shell about itself.
pub struct Shell {
    pub title: String,
    /// The navigation entry to mark as current.
    pub current: String,
    /// The component the page's views and load times are reported under.
    pub component: ComponentId,
}

impl Shell {
    pub fn new(title: impl Into<String>, current: impl Into<String>) -> Shell {
        Shell {
            title: title.into(),
            current: current.into(),
            component: crate::components::CONSOLE,
        }
    }

    /// Reports the page under a component other than the console shell.
    pub fn component(mut self, id: ComponentId) -> Shell {
        self.component = id;
        self
    }
}

/// A shell ready to wrap a page's content.
pub struct ShellView {
    shell: Shell,
    principal: Principal,
    teams: Vec<TeamMembership>,
    nav: Vec<&'static super::NavEntry>,
    /// The user's unread notifications, when the notification center is on.
    unread: Option<crate::notifications::Unread>,
}

/// Loads what the shell shows (teams, enabled components) for this user.
pub async fn page(
    state: &AppState,
    principal: &Principal,
    shell: Shell,
) -> Result<ShellView, AppError> {
    // Independent reads, concurrent: every page waits for the slowest only.
    // The unread count is read even when the center is off (one indexed count).
    let (teams, enabled, unread) = tokio::try_join!(
        crate::teams::teams_of(&state.db, &principal.user_id),
        crate::components::enabled_map(&state.db, &principal.team_id),
        crate::notifications::unread_count(&state.db, &principal.user_id),
    )?;
    let nav = NAV
        .iter()
        .filter(|entry| principal.can(entry.permission))
        .filter(|entry| {
            entry
                .component
                .is_none_or(|id| enabled.get(id.as_str()).copied().unwrap_or(false))
        })
        .collect::<Vec<_>>();
    let center_on = nav
        .iter()
        .any(|entry| entry.component == Some(crate::components::id::NOTIFICATION_CENTER));
    let unread = center_on.then_some(unread);
    Ok(ShellView {
        shell,
        principal: principal.clone(),
        teams,
        nav,
        unread,
    })
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · HUMMBL" }
            link rel="icon" href="/assets/favicon.svg" type="image/svg+xml";
            link rel="stylesheet" href={"/assets/app.css?v=" (ASSET_VERSION)};
            script type="module" src={"/assets/app.js?v=" (ASSET_VERSION)} {}
        }
    }
}

impl ShellView {
    pub fn render(self, content: Markup) -> Markup {
        let who = &self.principal;
        let current_team = self.teams.iter().find(|team| team.team_id == who.team_id);
        let is_demo = current_team.is_some_and(|team| team.is_demo);
        let mut sections: Vec<&str> = Vec::new();
        for entry in &self.nav {
            if !sections.contains(&entry.section) {
                sections.push(entry.section);
            }
        }
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(&self.shell.title))
                body data-component=(self.shell.component) {
                    a.skip-link href="#main" { "Skip to content" }
                    header.topbar {
                        a.brand href="/" { span.brand-mark aria-hidden="true" { "H" } "HUMMBL" span.visually-hidden { " home" } }
                        @if is_demo {
                            span.badge.badge-demo title="This team holds generated demo data" { "Demo data" }
                        }
                        form.team-switcher method="post" action="/teams/switch" {
                            label for="team-select" { "Team" }
                            select #team-select name="team_id" data-autosubmit {
                                @for team in &self.teams {
                                    option value=(team.team_id) selected[team.team_id == who.team_id] {
                                        (team.team_name) " (" (team.role) ")"
                                    }
                                }
                            }
                            button.button.button-small type="submit" { "Switch" }
                        }
                        details.user-menu {
                            summary {
                                span.avatar aria-hidden="true" { (initials(&who.name)) }
                                span.visually-hidden { "User menu for " }
                                span.user-name { (who.name) }
                            }
                            div.user-menu-panel {
                                p.user-email { (who.email) }
                                p.user-role { "Role in " (who.team_name) ": " strong { (who.role) } }
                                a href="/account" { "Account and API tokens" }
                                form method="post" action="/logout" {
                                    button.button.button-small type="submit" { "Log out" }
                                }
                            }
                        }
                    }
                    div.frame {
                        nav.sidebar aria-label="Main" {
                            @for section in &sections {
                                h2.nav-section { (section) }
                                ul {
                                    @for entry in self.nav.iter().filter(|e| e.section == *section) {
                                        li {
                                            a href=(entry.path) aria-current=[(entry.path == self.shell.current).then_some("page")] {
                                                (entry.label)
                                                @if entry.component == Some(crate::components::id::NOTIFICATION_CENTER) {
                                                    @if let Some(unread) = self.unread { (unread_badge(unread)) }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        main #main tabindex="-1" {
                            (content)
                        }
                    }
                    @if self.unread.is_some() {
                        script type="module" src={"/assets/notifications.js?v=" (ASSET_VERSION)} {}
                    }
                }
            }
        }
    }
}

/// The unread count beside "Notifications": hidden at zero, kept live on every
/// page by `assets/notifications.js` (which keeps the highest `version` seen).
fn unread_badge(unread: crate::notifications::Unread) -> Markup {
    html! {
        span.nav-badge data-unread-badge data-version=(unread.version) hidden[unread.unread == 0] {
            span.visually-hidden { ", unread: " }
            span data-unread-count { (unread.unread) }
        }
    }
}

/// A page without the shell (login, errors for anonymous visitors).
pub fn bare(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main #main.bare-main {
                    a.brand href="/" { span.brand-mark aria-hidden="true" { "H" } "HUMMBL" }
                    (content)
                }
            }
        }
    }
}

fn initials(name: &str) -> String {
    let letters: String = name
        .split_whitespace()
        .filter_map(|word| word.chars().next())
        .take(2)
        .collect();
    if letters.is_empty() {
        "?".to_string()
    } else {
        letters.to_uppercase()
    }
}

/// A timestamp (ms) as plain text in UTC, for mail and other places without
/// the page script.
pub fn utc_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A timestamp (ms) as a `<time>` element in UTC; the page script shows it in
/// the viewer's time zone.
pub fn when(ms: Option<i64>) -> Markup {
    match ms.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(at) => html! {
            time datetime=(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
                (at.format("%Y-%m-%d %H:%M UTC"))
            }
        },
        None => html! { span.muted { "never" } },
    }
}
