//! Demo data for `serve --demo`: a clearly labelled demo team with one user per
//! role, so a newcomer sees every page alive on the first run. Each feature adds
//! its own realistic data as a step in [`seed`], working in the [`DemoContext`].

pub mod history;
pub mod live;
mod pilot;
pub mod runtime;
mod store;

use secrecy::SecretString;

use crate::accounts::{self, Email, NewUser};
use crate::auth::Role;
use crate::storage::Db;

pub const DEMO_TEAM: &str = "Demo team (sample data)";
pub const SECOND_TEAM: &str = "Demo: Research lab";

/// The demo logins, one per role. Demo passwords are public by design: the demo
/// team holds only generated data.
pub const LOGINS: &[(Role, &str, &str, &str)] = &[
    (
        Role::Owner,
        "owner@demo.hummbl.dev",
        "Maya Chen",
        "owner-demo-pass",
    ),
    (
        Role::Admin,
        "admin@demo.hummbl.dev",
        "Jonas Berg",
        "admin-demo-pass",
    ),
    (
        Role::Member,
        "member@demo.hummbl.dev",
        "Priya Raman",
        "member-demo-pass",
    ),
    (
        Role::Viewer,
        "viewer@demo.hummbl.dev",
        "Tom Okafor",
        "viewer-demo-pass",
    ),
];

/// What the seeding steps share.
pub struct DemoContext<'a> {
    pub db: &'a Db,
    pub team_id: String,
    pub second_team_id: String,
    /// (role, user id) for each demo login.
    pub users: Vec<(Role, String)>,
}

impl DemoContext<'_> {
    pub fn user(&self, role: Role) -> Option<&str> {
        self.users
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, id)| id.as_str())
    }
}

pub enum DemoOutcome {
    Seeded,
    AlreadyThere,
    /// The database holds other data; demo data is only added to an empty one.
    NotEmpty,
}

/// Days of history the demo starts with, and how much happens in them.
const HISTORY_DAYS: i64 = 30;
const HISTORY_EXECUTIONS: usize = 3_600;
const HISTORY_PAGE_VIEWS: usize = 6_000;

/// The demo team's pending invitation.
const DEMO_INVITEE: &str = "new.hire@demo.hummbl.dev";
/// How many of the history's latest failures the demo's people find in their notifications.
const SEEDED_FAILURES: i64 = 8;

/// Fills an empty database with the demo team and its data.
pub async fn seed(db: &Db, vault: &crate::vault::Vault) -> anyhow::Result<DemoOutcome> {
    if crate::teams::find_team_by_name(db, DEMO_TEAM)
        .await?
        .is_some()
    {
        return Ok(DemoOutcome::AlreadyThere);
    }
    if store::user_count(db).await? > 0 {
        return Ok(DemoOutcome::NotEmpty);
    }
    let context = seed_people(db).await?;
    let owner = context
        .user(Role::Owner)
        .ok_or_else(|| anyhow::anyhow!("demo logins lack an owner"))?
        .to_string();
    let runtime = runtime::seed(db, vault, &context.team_id, &owner).await?;
    // History is made by the owner, admin and member (viewers do not run things).
    let actors: Vec<String> = context
        .users
        .iter()
        .filter(|(role, _)| *role != Role::Viewer)
        .map(|(_, id)| id.clone())
        .collect();
    let spec = history::HistorySpec {
        executions: HISTORY_EXECUTIONS,
        events: HISTORY_PAGE_VIEWS,
        days: HISTORY_DAYS,
        end_ms: crate::storage::now_ms(),
        seed: 42,
    };
    history::generate(db, &context.team_id, &actors, &runtime, &spec, |_| {}).await?;
    seed_notifications(db, &context.team_id, &actors, &runtime).await?;
    pilot::seed(db, &context.team_id, &owner, spec.end_ms, spec.days).await?;
    let brief = runtime
        .workflows
        .iter()
        .find(|w| w.name == "Weekly market brief");
    crate::alerts::seed(db, &context.team_id, &owner, brief.map(|w| w.id.as_str())).await?;
    // The weekly brief runs on Monday mornings in Berlin.
    if let Some(brief) = brief {
        crate::schedules::seed(
            db,
            &context.team_id,
            &owner,
            &brief.id,
            "0 8 * * MON",
            "Europe/Berlin",
            serde_json::json!({"market": "European fintech"}),
        )
        .await?;
    }
    // A pending invitation, so the Team page shows one (and, with mail off,
    // its message waiting in the outbox).
    crate::invitations::seed(
        db,
        &context.team_id,
        &owner,
        DEMO_INVITEE,
        Role::Member,
        std::time::Duration::from_secs(7 * 86_400),
    )
    .await?;
    Ok(DemoOutcome::Seeded)
}

/// Everyone who runs things follows the demo's workflows, so the live
/// trickle's failures arrive in their notification centers; the history's
/// latest failures are there already, told by the same producer.
async fn seed_notifications(
    db: &Db,
    team_id: &str,
    actors: &[String],
    runtime: &runtime::DemoRuntime,
) -> anyhow::Result<()> {
    for user in actors {
        for workflow in &runtime.workflows {
            crate::notifications::subscribe(db, &workflow.id, user).await?;
        }
    }
    let mut tx = db.begin().await?;
    for execution in store::latest_failures(db, team_id, SEEDED_FAILURES)
        .await?
        .iter()
        .rev()
    {
        let told = crate::notifications::producers::execution_ended_in(
            &mut tx,
            execution,
            crate::executions::Status::Failed,
        )
        .await?;
        // Seeded before any page is open: nobody to tell live.
        drop(told);
    }
    tx.commit().await?;
    Ok(())
}

async fn seed_people(db: &Db) -> anyhow::Result<DemoContext<'_>> {
    let mut users = Vec::new();
    for (role, email, name, password) in LOGINS {
        let user = accounts::create_user(
            db,
            NewUser {
                email: &Email::parse(email)?,
                name,
                password: SecretString::from(*password),
            },
        )
        .await?;
        users.push((*role, user.id));
    }
    let owner = users
        .iter()
        .find(|(role, _)| *role == Role::Owner)
        .map(|(_, id)| id.clone())
        .ok_or_else(|| anyhow::anyhow!("demo logins lack an owner"))?;
    let team_id = crate::teams::create_team(db, DEMO_TEAM, &owner, true).await?;
    for (role, user_id) in users.iter().filter(|(role, _)| *role != Role::Owner) {
        crate::teams::add_member(db, &team_id, user_id, *role, Some(&owner)).await?;
    }
    // A second team, so switching teams (and having another role there) shows.
    let admin = users
        .iter()
        .find(|(role, _)| *role == Role::Admin)
        .map(|(_, id)| id.clone())
        .ok_or_else(|| anyhow::anyhow!("demo logins lack an admin"))?;
    let second_team_id = crate::teams::create_team(db, SECOND_TEAM, &admin, true).await?;
    crate::teams::add_member(db, &second_team_id, &owner, Role::Member, Some(&admin)).await?;
    Ok(DemoContext {
        db,
        team_id,
        second_team_id,
        users,
    })
}

/// `hummbl demo`: the demo team (created if missing) gets `spec`'s history on
/// top of what it has; for benchmarks on large data sets.
pub async fn generate_large(
    db: &Db,
    vault: &crate::vault::Vault,
    spec: &history::HistorySpec,
    progress: impl Fn(usize),
) -> anyhow::Result<()> {
    let team_id = match crate::teams::find_team_by_name(db, DEMO_TEAM).await? {
        Some(team_id) => team_id,
        None => {
            seed(db, vault).await?;
            crate::teams::find_team_by_name(db, DEMO_TEAM)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the database holds other data; use an empty one"))?
        }
    };
    let runtime = runtime::load(db, &team_id).await?;
    let actors = store::actors(db, &team_id).await?;
    history::generate(db, &team_id, &actors, &runtime, spec, progress).await
}

/// The logins, as printed at start-up.
pub fn logins_text(base_url: &str) -> String {
    let mut text = format!(
        "\n  HUMMBL demo is running at {base_url}\n  Demo logins (team \"{DEMO_TEAM}\"):\n"
    );
    for (role, email, _, password) in LOGINS {
        text.push_str(&format!(
            "    {:<7} {email:<26} password: {password}\n",
            role.as_str()
        ));
    }
    text
}
