//! The overview: the team's home. It answers "is everything all right, and
//! what do I do next": what runs now, today's and this month's spend, open
//! error groups and the latest failures; and, for a team that has run nothing
//! yet, a getting-started checklist ticked from the data.

use axum::extract::State;
use axum_extra::extract::CookieJar;
use maud::{Markup, html};

use crate::analytics::Totals;
use crate::analytics::page::{month_to_date, today, viewer_zone};
use crate::analytics::rollups::Bucket;
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::AppResult;
use crate::errors::{ErrorGroup, GroupFilter};
use crate::executions::{ExecutionSummary, Filter, Status};
use crate::storage::{Db, now_ms};

use super::format::{compact, metric_card, usd_cents};
use super::layout::when;
use super::{Shell, page};

/// How many rows each list on the overview shows.
const LISTED: i64 = 5;

/// What the team has set up, for the getting-started checklist.
#[derive(Debug, Default, Clone, Copy)]
pub struct Setup {
    pub keys: usize,
    pub agents: usize,
    pub workflows: usize,
    pub has_run: bool,
    pub members: usize,
}

/// What the overview shows.
pub struct OverviewView {
    pub running: Vec<ExecutionSummary>,
    pub failures: Vec<ExecutionSummary>,
    pub open_errors: Vec<ErrorGroup>,
    pub today: Totals,
    pub month: Totals,
    pub setup: Setup,
    /// Whether the team has the Agents and Workflows pages switched on (the
    /// checklist links to them only then).
    pub pages: Pages,
}

/// The checklist's pages that a team may switch off.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pages {
    pub agents: bool,
    pub workflows: bool,
    pub team: bool,
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    jar: CookieJar,
) -> AppResult<Markup> {
    let shell = page(&state, &principal, Shell::new("Overview", "/"));
    let (view, shell) = tokio::try_join!(load(&state.db, &principal.team_id, &jar), shell)?;
    Ok(shell.render(render(&principal, &view)))
}

fn executions(statuses: &[Status], limit: i64) -> Filter {
    Filter {
        statuses: statuses.to_vec(),
        limit,
        ..Filter::default()
    }
}

/// Loads every part of the view at once (none needs another).
async fn load(db: &Db, team: &str, jar: &CookieJar) -> AppResult<OverviewView> {
    let zone = viewer_zone(jar);
    let now = now_ms();
    let (month, _) = month_to_date(zone, now);
    let open = GroupFilter {
        resolved: Some(false),
        ..GroupFilter::default()
    };
    let live = executions(&[Status::Pending, Status::Running], LISTED);
    let failed = executions(&[Status::Failed], LISTED);
    let any = executions(&[], 1);
    let (
        running,
        failures,
        open_errors,
        today,
        month,
        ever,
        keys,
        agents,
        workflows,
        members,
        enabled,
    ) = tokio::try_join!(
        crate::executions::list(db, team, &live),
        crate::executions::list(db, team, &failed),
        crate::errors::groups(db, team, &open, LISTED),
        crate::analytics::totals(db, team, today(zone, now), Bucket::Hour),
        crate::analytics::totals(db, team, month, Bucket::Hour),
        crate::executions::list(db, team, &any),
        crate::provider_keys::list(db, team),
        crate::agents::list(db, team),
        crate::workflows::list(db, team),
        crate::teams::members(db, team),
        crate::components::enabled_map(db, team),
    )?;
    let on =
        |id: crate::components::ComponentId| enabled.get(id.as_str()).copied().unwrap_or(false);
    Ok(OverviewView {
        running,
        failures,
        open_errors,
        today,
        month,
        setup: Setup {
            keys: keys.len(),
            agents: agents.len(),
            workflows: workflows.len(),
            has_run: !ever.is_empty(),
            members: members.len(),
        },
        pages: Pages {
            agents: on(crate::components::id::AGENTS),
            workflows: on(crate::components::id::WORKFLOWS),
            team: on(crate::components::id::TEAM_MEMBERS),
        },
    })
}

/// The overview's body for the signed-in principal (no queries).
pub fn render(principal: &Principal, view: &OverviewView) -> Markup {
    html! {
        header.page-header {
            h1 { (principal.team_name) }
            p.lede { "Signed in as " strong { (principal.name) } " (" (principal.role) ")." }
        }
        @if !view.setup.has_run {
            (getting_started(&view.setup, view.pages))
        }
        div.cards {
            (metric_card("ov-running", "Running now", view.running.len().to_string(), "executions pending or running".into()))
            (metric_card("ov-today", "Spend today", usd_cents(view.today.cost_micros), format!("{} tokens", compact(view.today.tokens as f64))))
            (metric_card("ov-month", "Spend this month", usd_cents(view.month.cost_micros), format!("{} executions", compact(view.month.executions as f64))))
            (metric_card("ov-errors", "Open error groups", open_count(&view.open_errors), "unresolved".into()))
        }
        div.split {
            (running_now(&view.running))
            (latest_failures(&view.failures))
        }
        (open_error_groups(&view.open_errors))
        (role_summary(principal))
    }
}

/// "5+" when the list is full: there may be more.
fn open_count(groups: &[ErrorGroup]) -> String {
    if groups.len() as i64 >= LISTED {
        format!("{LISTED}+")
    } else {
        groups.len().to_string()
    }
}

/// The checklist of a team that has run nothing yet, each step ticked from
/// the data.
fn getting_started(setup: &Setup, pages: Pages) -> Markup {
    let agents = page_link(pages.agents, "/agents", "Agents");
    let workflows = page_link(pages.workflows, "/workflows", "Workflows");
    let steps: [(bool, &str, Markup); 5] = [
        (
            setup.keys > 0,
            "Add a provider key",
            html! { "Settings → " a href="/settings/api-keys" { "Provider keys" } " (or " code { "POST /api/keys" } ")" },
        ),
        (
            setup.agents > 0,
            "Define an agent",
            html! { "a model, a key and instructions: " (agents) " (or " code { "POST /api/agents" } ")" },
        ),
        (
            setup.workflows > 0,
            "Build a workflow",
            html! { "steps that use the input and earlier outputs, in the " (page_link(pages.workflows, "/workflows/new", "step editor")) " (or " code { "POST /api/workflows" } ")" },
        ),
        (
            setup.has_run,
            "Run it",
            html! { "from its page under " (workflows) ", and watch it in the " a href="/monitor" { "Execution monitor" } },
        ),
        (
            setup.members > 1,
            "Invite someone",
            html! { "by e-mail, with a role: " (page_link(pages.team, "/team", "Team members")) " (or " code { "POST /api/team/invitations" } ")" },
        ),
    ];
    let done = steps.iter().filter(|(done, _, _)| *done).count();
    html! {
        section.panel aria-labelledby="start-title" {
            h2 #start-title { "Getting started" }
            p.hint { (done) " of " (steps.len()) " done." }
            ol.checklist {
                @for (done, title, how) in &steps {
                    li class=(if *done { "yes" } else { "no" }) {
                        span.visually-hidden { (if *done { "Done: " } else { "To do: " }) }
                        strong { (title) } " — " (how)
                    }
                }
            }
        }
    }
}

/// A link to a page the team has switched on, else its name alone.
fn page_link(enabled: bool, href: &str, name: &str) -> Markup {
    html! {
        @if enabled { a href=(href) { (name) } } @else { (name) " (switched off)" }
    }
}

fn execution_rows(caption: &str, executions: &[ExecutionSummary]) -> Markup {
    html! {
        table.data {
            caption.visually-hidden { (caption) }
            thead { tr { th scope="col" { "Workflow" } th scope="col" { "Status" } th scope="col" { "Started" } } }
            tbody {
                @for execution in executions {
                    tr {
                        td { a href={"/monitor/" (execution.id)} { (execution.workflow_name) } }
                        td { span class={"status status-" (execution.status)} { (execution.status) } }
                        td { (when(Some(execution.created_at))) }
                    }
                }
            }
        }
    }
}

fn running_now(running: &[ExecutionSummary]) -> Markup {
    html! {
        section.panel aria-labelledby="running-title" {
            h2 #running-title { "Running now" }
            @if running.is_empty() {
                p.empty { "Nothing is running." }
            } @else {
                (execution_rows("Executions running now", running))
            }
            p { a href="/monitor" { "Open the monitor" } }
        }
    }
}

fn latest_failures(failures: &[ExecutionSummary]) -> Markup {
    html! {
        section.panel aria-labelledby="failures-title" {
            h2 #failures-title { "Latest failures" }
            @if failures.is_empty() {
                p.empty { "No failed executions." }
            } @else {
                (execution_rows("The latest failed executions", failures))
            }
            p { a href="/monitor?status=failed" { "All failures" } }
        }
    }
}

fn open_error_groups(groups: &[ErrorGroup]) -> Markup {
    html! {
        section.panel aria-labelledby="errors-title" {
            h2 #errors-title { "Open error groups" }
            @if groups.is_empty() {
                p.empty { "No open errors. All clear." }
            } @else {
                table.data {
                    caption.visually-hidden { "Unresolved error groups, most recent first" }
                    thead { tr { th scope="col" { "Error" } th scope="col" { "Agent" } th scope="col" { "Occurrences" } th scope="col" { "Last seen" } } }
                    tbody {
                        @for group in groups {
                            tr {
                                td { (group.message) }
                                td { (group.agent_name.as_deref().unwrap_or("—")) }
                                td { (compact(group.occurrences as f64)) }
                                td { (when(Some(group.last_seen))) }
                            }
                        }
                    }
                }
            }
            p { a href="/logs/errors" { "Open the error log" } }
        }
    }
}

fn permission_label(permission: Permission) -> &'static str {
    match permission {
        Permission::Read => "Read every page of the team and export data",
        Permission::Operate => "Run, kill and retry executions; resolve errors",
        Permission::EditWorkflows => "Create and edit workflows, agents and schedules",
        Permission::ManageKeys => "Add, edit, test and delete provider keys",
        Permission::ManageMembers => "Invite and remove members, change roles",
        Permission::ManageComponents => "Enable and disable components",
        Permission::ManageAlerts => "Create, change and delete alert rules",
        Permission::ManagePilot => {
            "Set the pilot's window, targets and entered values; freeze snapshots"
        }
        Permission::ManageOwners => "Grant or remove the owner role, delete the team",
    }
}

fn role_summary(principal: &Principal) -> Markup {
    html! {
        details.panel {
            summary { "What your role (" (principal.role) ") allows" }
            ul.checklist {
                @for permission in Permission::ALL {
                    @let allowed = principal.can(permission);
                    li class=(if allowed { "yes" } else { "no" }) {
                        span.visually-hidden { (if allowed { "Allowed: " } else { "Not allowed: " }) }
                        (permission_label(permission))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Credential, Role};
    use crate::executions::TriggerKind;

    fn principal() -> Principal {
        Principal {
            user_id: "u".into(),
            email: "ada@example.com".into(),
            name: "Ada <admin>".into(),
            team_id: "t".into(),
            team_name: "Research".into(),
            role: Role::Member,
            credential: Credential::Session {
                session_id: "s".into(),
            },
        }
    }

    fn execution(id: &str, status: Status) -> ExecutionSummary {
        ExecutionSummary {
            id: id.into(),
            workflow_id: "w".into(),
            workflow_name: "Brief <weekly>".into(),
            workflow_version: 1,
            status,
            triggered_by: TriggerKind::User,
            source: crate::executions::Source::Hummbl,
            user_id: None,
            retry_of: None,
            retry_from: None,
            steps_total: 2,
            steps_done: 1,
            input_tokens: 0,
            output_tokens: 0,
            cached_tokens: 0,
            cost_micros: 0,
            error: None,
            cancelled_by: None,
            recoveries: 0,
            created_at: 0,
            started_at: None,
            completed_at: None,
        }
    }

    fn empty_view(setup: Setup) -> OverviewView {
        OverviewView {
            running: Vec::new(),
            failures: Vec::new(),
            open_errors: Vec::new(),
            today: Totals::default(),
            month: Totals::default(),
            setup,
            pages: Pages {
                agents: true,
                workflows: false,
                team: true,
            },
        }
    }

    #[test]
    fn a_new_team_gets_a_checklist_ticked_from_its_data() {
        let setup = Setup {
            keys: 1,
            agents: 1,
            workflows: 0,
            has_run: false,
            members: 1,
        };
        let html = render(&principal(), &empty_view(setup)).into_string();
        assert!(html.contains("Getting started"));
        assert!(html.contains("2 of 5 done."));
        assert!(html.contains("Done: </span><strong>Add a provider key"));
        assert!(html.contains("To do: </span><strong>Build a workflow"));
        assert!(html.contains("Nothing is running.") && html.contains("All clear."));
        assert!(html.contains(r#"href="/agents""#));
        assert!(
            !html.contains(r#"href="/workflows""#) && html.contains("Workflows (switched off)")
        );
    }

    #[test]
    fn a_team_that_runs_sees_what_runs_spend_and_failures() {
        let setup = Setup {
            has_run: true,
            ..Setup::default()
        };
        let mut view = empty_view(setup);
        view.running = vec![execution("e-1", Status::Running)];
        view.failures = vec![execution("e-2", Status::Failed)];
        view.today.cost_micros = 1_250_000;
        view.month.cost_micros = 22_800_000;
        view.month.executions = 12_345;
        let html = render(&principal(), &view).into_string();
        assert!(
            !html.contains("Getting started"),
            "no checklist once it ran"
        );
        assert!(html.contains(r#"href="/monitor/e-1""#) && html.contains(r#"href="/monitor/e-2""#));
        assert!(html.contains("Brief &lt;weekly&gt;") && !html.contains("<weekly>"));
        assert!(html.contains("$1.25") && html.contains("$22.80"));
        assert!(html.contains("12.3 k executions"));
        assert!(html.contains("Ada &lt;admin&gt;"));
    }
}
