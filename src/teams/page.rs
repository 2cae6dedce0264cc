//! `/team` (component `team-members`): the members with role, joined date,
//! who invited them, last activity and 30 days of what they did; admins'
//! forms to invite (never above their own role), change roles, remove; the
//! pending invitations and the outbox (with mail off, where links are taken).
//! Everyone may leave. `/team/members/{user_id}`: one member's activity.

use std::collections::HashMap;

use axum::extract::{Path, State};
use maud::{Markup, html};

use super::{Change, MemberActivity};
use crate::app::AppState;
use crate::auth::{Permission, Principal, Role};
use crate::components::id::TEAM_MEMBERS as COMPONENT;
use crate::error::{AppError, AppResult};
use crate::invitations::{Invitation, InvitationState};
use crate::mail::{MailStatus, OutboxEntry};
use crate::storage::now_ms;
use crate::web::layout::when;
use crate::web::{Shell, page};

/// The window of the activity counts.
const ACTIVITY_DAYS: i64 = 30;

pub struct TeamView {
    pub team_name: String,
    pub me: String,
    pub my_role: Role,
    pub members: Vec<MemberActivity>,
    pub invitations: Vec<Invitation>,
    pub outbox: Vec<OutboxEntry>,
    pub mail_on: bool,
    /// A result to show above the page (a refusal, or a link to pass on).
    pub flash: Option<Markup>,
}

impl TeamView {
    fn may_manage(&self) -> bool {
        self.my_role >= Permission::ManageMembers.minimum_role()
    }

    /// Whether the viewer may change or remove `member`: admins all but
    /// owners, owners everyone (the last owner is refused by the server).
    fn may_change(&self, member: &MemberActivity) -> bool {
        self.may_manage()
            && member.member.user_id != self.me
            && (member.member.role != Role::Owner || self.my_role == Role::Owner)
    }

    /// The roles the viewer may give: up to their own.
    fn grantable(&self) -> Vec<Role> {
        [Role::Viewer, Role::Member, Role::Admin, Role::Owner]
            .into_iter()
            .filter(|role| *role <= self.my_role)
            .collect()
    }
}

pub async fn load(state: &AppState, principal: &Principal) -> AppResult<TeamView> {
    let team = principal.team_id.as_str();
    let since = now_ms() - ACTIVITY_DAYS * 86_400_000;
    let manages = principal.can(Permission::ManageMembers);
    let (members, invitations, outbox) = tokio::try_join!(
        async { Ok::<_, AppError>(super::members_with_activity(&state.db, team, since).await?) },
        async {
            Ok::<_, AppError>(match manages {
                true => crate::invitations::list_open(&state.db, team).await?,
                false => Vec::new(),
            })
        },
        async {
            Ok::<_, AppError>(match manages {
                true => crate::mail::recent(&state.db, team, 20).await?,
                false => Vec::new(),
            })
        },
    )?;
    Ok(TeamView {
        team_name: principal.team_name.clone(),
        me: principal.user_id.clone(),
        my_role: principal.role,
        members,
        invitations,
        outbox,
        mail_on: state.mailer.is_on(),
        flash: None,
    })
}

/// The page, with an optional notice above it.
pub async fn render_page(
    state: &AppState,
    principal: &Principal,
    flash: Option<Markup>,
) -> AppResult<Markup> {
    let shell = Shell::new("Team members", "/team").component(COMPONENT);
    let (mut view, shell) =
        tokio::try_join!(load(state, principal), page(state, principal, shell))?;
    view.flash = flash;
    Ok(shell.render(render(&view)))
}

pub async fn show(State(state): State<AppState>, principal: Principal) -> AppResult<Markup> {
    render_page(&state, &principal, None).await
}

pub fn render(view: &TeamView) -> Markup {
    html! {
        header.page-header {
            h1 { "Team members" }
            p.lede { (view.team_name) ": " (view.members.len()) " members. Activity counts cover the last " (ACTIVITY_DAYS) " days." }
        }
        @if let Some(flash) = &view.flash { (flash) }
        @if view.may_manage() { (invite_panel(view)) }
        div.table-scroll { table.data {
            caption.visually-hidden { "Members of " (view.team_name) }
            thead { tr {
                th scope="col" { "Member" } th scope="col" { "Role" } th scope="col" { "Joined" }
                th scope="col" { "Invited by" } th scope="col" { "Last active" } th scope="col" { "Last 30 days" }
                th scope="col" { span.visually-hidden { "Actions" } }
            } }
            tbody {
                @for member in &view.members { (member_row(view, member)) }
            }
        } }
        @if view.may_manage() {
            (invitations_panel(view))
            (outbox_panel(view))
        }
    }
}

fn invite_panel(view: &TeamView) -> Markup {
    html! {
        section.panel aria-labelledby="invite-title" {
            h2 #invite-title { "Invite someone" }
            @if !view.mail_on {
                p.hint { "Mail is off (no " code { "smtp_url" } "): the invitation waits below, where you can copy its link." }
            }
            form.inline-form method="post" action="/team/invitations" {
                div.field {
                    label for="invite-email" { "E-mail" }
                    input #invite-email type="email" name="email" required maxlength="254" autocomplete="off";
                }
                div.field {
                    label for="invite-role" { "Role" }
                    select #invite-role name="role" {
                        @for role in view.grantable() {
                            option value=(role.as_str()) selected[role == Role::Member] { (role.as_str()) }
                        }
                    }
                }
                button.button.button-primary type="submit" { "Invite" }
            }
        }
    }
}

fn member_row(view: &TeamView, activity: &MemberActivity) -> Markup {
    let member = &activity.member;
    let is_me = member.user_id == view.me;
    html! {
        tr {
            td {
                a href={"/team/members/" (member.user_id)} { (member.name) }
                @if is_me { " " span.badge { "you" } }
                br; span.muted { (member.email) }
            }
            td {
                @if view.may_change(activity) {
                    form.row-actions method="post" action={"/team/members/" (member.user_id) "/role"} {
                        label.visually-hidden for={"role-" (member.user_id)} { "Role of " (member.name) }
                        select id={"role-" (member.user_id)} name="role" {
                            @for role in view.grantable() {
                                option value=(role.as_str()) selected[role == member.role] { (role.as_str()) }
                            }
                        }
                        button.button.button-small type="submit" aria-label={"Change the role of " (member.name)} { "Change" }
                    }
                } @else {
                    span class={"badge badge-role-" (member.role.as_str())} { (member.role.as_str()) }
                }
            }
            td { (when(member.joined_at)) }
            td { @match &activity.invited_by { Some(name) => (name), None => span.muted { "—" } } }
            td { (when(activity.last_active)) }
            td {
                (crate::web::format::grouped(activity.executions)) " runs · "
                (crate::web::format::grouped(activity.page_views)) " page views · "
                (crate::web::format::grouped(activity.changes)) " changes"
            }
            td {
                @if is_me {
                    form method="post" action="/team/leave" data-confirm={"Leave " (view.team_name) "?"} {
                        button.button.button-small.button-danger type="submit" { "Leave team" }
                    }
                } @else if view.may_change(activity) {
                    form method="post" action={"/team/members/" (member.user_id) "/remove"} data-confirm={"Remove " (member.name) " from the team?"} {
                        button.button.button-small.button-danger type="submit" aria-label={"Remove " (member.name)} { "Remove" }
                    }
                }
            }
        }
    }
}

/// The latest message about each invitation, for its mail column.
fn mail_by_invitation(outbox: &[OutboxEntry]) -> HashMap<&str, &OutboxEntry> {
    let mut latest = HashMap::new();
    for entry in outbox {
        if let Some(id) = entry.subject_id.as_deref() {
            latest.entry(id).or_insert(entry);
        }
    }
    latest
}

fn invitations_panel(view: &TeamView) -> Markup {
    let mail = mail_by_invitation(&view.outbox);
    html! {
        section.panel aria-labelledby="invitations-title" {
            h2 #invitations-title { "Pending invitations" }
            @if view.invitations.is_empty() {
                p.empty { "No pending invitations." }
            } @else {
                div.table-scroll { table.data {
                    caption.visually-hidden { "Pending invitations" }
                    thead { tr {
                        th scope="col" { "E-mail" } th scope="col" { "Role" } th scope="col" { "Invited by" }
                        th scope="col" { "Expires" } th scope="col" { "Mail" } th scope="col" { span.visually-hidden { "Actions" } }
                    } }
                    tbody {
                        @for invitation in &view.invitations {
                            tr {
                                td { (invitation.email) }
                                td { (invitation.role.as_str()) }
                                td { (invitation.invited_by.as_deref().unwrap_or("—")) }
                                td {
                                    (when(Some(invitation.expires_at)))
                                    @if invitation.state == InvitationState::Expired { " " span.badge { "expired" } }
                                }
                                td { (mail_state(mail.get(invitation.id.as_str()).copied())) }
                                td { div.row-actions {
                                    form method="post" action={"/team/invitations/" (invitation.id) "/resend"} {
                                        button.button.button-small type="submit" aria-label={"Resend the invitation to " (invitation.email)} { "Resend" }
                                    }
                                    @if !view.mail_on && invitation.state == InvitationState::Pending {
                                        form method="post" action={"/team/invitations/" (invitation.id) "/link"} {
                                            button.button.button-small type="submit" aria-label={"Get link for " (invitation.email)} { "Get link" }
                                        }
                                    }
                                    form method="post" action={"/team/invitations/" (invitation.id) "/revoke"} {
                                        button.button.button-small.button-danger type="submit" aria-label={"Withdraw the invitation to " (invitation.email)} { "Withdraw" }
                                    }
                                } }
                            }
                        }
                    }
                } }
            }
        }
    }
}

fn mail_state(entry: Option<&OutboxEntry>) -> Markup {
    html! {
        @match entry {
            None => span.muted { "—" },
            Some(entry) => {
                span class={"status status-mail-" (entry.status.as_str())} { (entry.status.as_str()) }
                @if entry.status == MailStatus::Pending && entry.attempts > 0 {
                    " " span.muted { "(" (entry.attempts) " attempts)" }
                }
            }
        }
    }
}

fn outbox_panel(view: &TeamView) -> Markup {
    html! {
        section.panel aria-labelledby="outbox-title" {
            h2 #outbox-title { "Outbox" }
            @if view.mail_on {
                p.hint { "Mail is on. Messages are retried with backoff until the server takes them." }
            } @else {
                p.hint { "Mail is off: set " code { "smtp_url" } " (or " code { "HUMMBL_SMTP_URL" } ") to send these. Until then, copy invitation links above." }
            }
            @if view.outbox.is_empty() {
                p.empty { "No messages yet." }
            } @else {
                div.table-scroll { table.data {
                    caption.visually-hidden { "The team's latest mail" }
                    thead { tr {
                        th scope="col" { "To" } th scope="col" { "Subject" } th scope="col" { "Status" }
                        th scope="col" { "Attempts" } th scope="col" { "Last error" } th scope="col" { "Queued" } th scope="col" { "Sent" }
                    } }
                    tbody {
                        @for entry in &view.outbox {
                            tr {
                                td { (entry.recipient) }
                                td { (entry.subject) }
                                td { (mail_state(Some(entry))) }
                                td { (entry.attempts) }
                                td { (entry.last_error.as_deref().unwrap_or("—")) }
                                td { (when(Some(entry.created_at))) }
                                td { (when(entry.sent_at)) }
                            }
                        }
                    }
                } }
            }
        }
    }
}

/// One member's activity: counts, pages used, latest changes.
pub struct MemberView {
    pub activity: MemberActivity,
    pub pages: Vec<(String, i64)>,
    pub changes: Vec<Change>,
}

pub async fn member(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
) -> AppResult<Markup> {
    let team = principal.team_id.as_str();
    let since = now_ms() - ACTIVITY_DAYS * 86_400_000;
    let shell = Shell::new("Member activity", "/team").component(COMPONENT);
    let (members, pages, changes, shell) = tokio::try_join!(
        async { Ok(super::members_with_activity(&state.db, team, since).await?) },
        async { Ok(super::pages_used(&state.db, team, &user_id, since).await?) },
        async { Ok(super::recent_changes(&state.db, team, &user_id, 20).await?) },
        page(&state, &principal, shell),
    )?;
    let activity = members
        .into_iter()
        .find(|member| member.member.user_id == user_id)
        .ok_or(AppError::NotFound)?;
    Ok(shell.render(render_member(&MemberView {
        activity,
        pages,
        changes,
    })))
}

pub fn render_member(view: &MemberView) -> Markup {
    let member = &view.activity.member;
    html! {
        header.page-header {
            h1 { (member.name) " " span.badge { (member.role.as_str()) } }
            p.lede { (member.email) " · joined " (when(member.joined_at)) " · last active " (when(view.activity.last_active)) }
        }
        section.panel aria-labelledby="activity-title" {
            h2 #activity-title { "Last " (ACTIVITY_DAYS) " days" }
            p {
                a href={"/monitor?user=" (member.user_id)} { (crate::web::format::grouped(view.activity.executions)) " executions started" }
                " · " (crate::web::format::grouped(view.activity.page_views)) " page views · "
                (crate::web::format::grouped(view.activity.changes)) " changes"
            }
            h3 { "Pages used" }
            @if view.pages.is_empty() {
                p.empty { "No page views." }
            } @else {
                ul {
                    @for (component, views) in &view.pages {
                        li { code { (component) } ": " (crate::web::format::grouped(*views)) }
                    }
                }
            }
        }
        section.panel aria-labelledby="changes-title" {
            h2 #changes-title { "Latest changes" }
            @if view.changes.is_empty() {
                p.empty { "No changes." }
            } @else {
                table.data {
                    caption.visually-hidden { "Latest changes by " (member.name) }
                    thead { tr { th scope="col" { "When" } th scope="col" { "Change" } th scope="col" { "Object" } } }
                    tbody {
                        @for change in &view.changes {
                            tr {
                                td { (when(Some(change.at))) }
                                td { code { (change.action) } }
                                td { (change.target_type.as_deref().unwrap_or("")) " " code { (change.target_id.as_deref().unwrap_or("")) } }
                            }
                        }
                    }
                }
            }
        }
        p { a href="/team" { "All members" } }
    }
}
