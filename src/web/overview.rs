//! The overview page: the current team, its members, and what your role allows.

use axum::extract::State;
use maud::{Markup, html};

use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::AppResult;
use crate::teams::Member;

use super::{Shell, page};

fn permission_label(permission: Permission) -> &'static str {
    match permission {
        Permission::Read => "Read every page of the team and export data",
        Permission::Operate => "Run, kill and retry executions; resolve errors",
        Permission::EditWorkflows => "Create and edit workflows, agents and schedules",
        Permission::ManageKeys => "Add, edit, test and delete provider keys",
        Permission::ManageMembers => "Invite and remove members, change roles",
        Permission::ManageComponents => "Enable and disable components",
        Permission::ManageOwners => "Grant or remove the owner role, delete the team",
    }
}

/// What the overview shows.
pub struct OverviewView {
    pub members: Vec<Member>,
    /// Components switched on for the team, of all registered.
    pub components_enabled: usize,
    pub components: usize,
}

pub async fn show(State(state): State<AppState>, principal: Principal) -> AppResult<Markup> {
    let team = principal.team_id.as_str();
    let (members, components, shell) = tokio::try_join!(
        async { Ok(crate::teams::members(&state.db, team).await?) },
        async { Ok(crate::components::list(&state.db, team).await?) },
        page(&state, &principal, Shell::new("Overview", "/")),
    )?;
    let view = OverviewView {
        members,
        components_enabled: components.iter().filter(|c| c.enabled).count(),
        components: components.len(),
    };
    Ok(shell.render(render(&principal, &view)))
}

/// The overview's body for the signed-in principal (no queries).
pub fn render(principal: &Principal, view: &OverviewView) -> Markup {
    let members = &view.members;
    html! {
        header.page-header {
            h1 { (principal.team_name) }
            p.lede { "You are signed in as " strong { (principal.name) } " with the role " strong { (principal.role) } "." }
        }
        div.cards {
            section.card aria-labelledby="card-members" {
                h2 #card-members { "Members" }
                p.metric { (members.len()) }
            }
            section.card aria-labelledby="card-components" {
                h2 #card-components { "Components enabled" }
                p.metric { (view.components_enabled) " / " (view.components) }
            }
        }
        section aria-labelledby="members-title" {
            h2 #members-title { "Team members" }
            table.data {
                caption.visually-hidden { "Members of " (principal.team_name) }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Email" } th scope="col" { "Role" } } }
                tbody {
                    @for member in members {
                        tr {
                            td { (member.name) }
                            td { (member.email) }
                            td { span class={"role role-" (member.role)} { (member.role) } }
                        }
                    }
                }
            }
        }
        section aria-labelledby="access-title" {
            h2 #access-title { "What your role allows" }
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
