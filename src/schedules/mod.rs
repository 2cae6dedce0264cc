//! Schedules: a workflow run on a cron expression in an IANA time zone, with
//! an overlap policy (what a slot does while the last run still runs), a
//! catch-up policy (what the slots missed while no server ran become) and
//! optional jitter. `scheduler` fires them, one execution per slot at most,
//! across restarts and replicas; every slot that did not fire is recorded with
//! its reason.

pub mod cron;
pub mod handlers;
pub mod page;
mod page_form;
pub mod scheduler;
mod store;

use serde::{Deserialize, Serialize};

pub use scheduler::Scheduler;
pub use store::{get, history, list};

/// What a slot does while an execution of the schedule still runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// The slot is skipped (recorded with the running execution).
    #[default]
    Skip,
    /// One slot waits and fires when the running execution ends; more are skipped.
    BufferOne,
    /// The slot fires anyway.
    AllowAll,
    /// The running execution is cancelled and the slot fires.
    CancelRunning,
}

/// What the slots missed while no server ran become, once one runs again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// The latest missed slot fires once; the others are skipped.
    #[default]
    Latest,
    /// Every missed slot within `catch_up_window_secs` fires; older ones are skipped.
    All,
    /// Missed slots are skipped.
    Skip,
}

/// What became of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Fired,
    Buffered,
    Skipped,
}

macro_rules! names {
    ($type:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $type {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }
        }
        impl std::str::FromStr for $type {
            type Err = ();
            fn from_str(text: &str) -> Result<Self, ()> {
                match text { $($name => Ok(Self::$variant),)+ _ => Err(()) }
            }
        }
    };
}

names!(Overlap { Skip => "skip", BufferOne => "buffer_one", AllowAll => "allow_all", CancelRunning => "cancel_running" });
names!(CatchUp { Latest => "latest", All => "all", Skip => "skip" });
names!(Outcome { Fired => "fired", Buffered => "buffered", Skipped => "skipped" });

/// A schedule as the API and pages show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Schedule {
    pub id: String,
    pub workflow_id: String,
    pub workflow_name: String,
    pub cron: String,
    /// The expression in words ("At 09:00 on Monday through Friday").
    pub description: String,
    pub timezone: String,
    #[schema(value_type = Object)]
    pub input: serde_json::Value,
    pub enabled: bool,
    pub pause_note: Option<String>,
    pub overlap: Overlap,
    pub catch_up: CatchUp,
    pub catch_up_window_secs: i64,
    pub jitter_secs: i64,
    /// When the next slot fires (ms since the epoch; jitter included).
    pub next_run_at: Option<i64>,
    /// The latest slot that fired, and its execution's status.
    pub last_run: Option<Slot>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One slot of a schedule's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Slot {
    /// The slot's time (ms since the epoch).
    pub slot_at: i64,
    pub outcome: Outcome,
    /// Why it was skipped or buffered.
    pub reason: Option<String>,
    pub execution_id: Option<String>,
    /// The fired execution's status now.
    pub execution_status: Option<String>,
}

/// A checked schedule to save.
pub struct ScheduleFields {
    pub workflow_id: String,
    pub cron: String,
    pub timezone: String,
    pub input: serde_json::Value,
    pub enabled: bool,
    pub pause_note: Option<String>,
    pub overlap: Overlap,
    pub catch_up: CatchUp,
    pub catch_up_window_secs: i64,
    pub jitter_secs: i64,
}

/// A schedule made by the system on `owner`'s behalf (the demo seeder).
pub async fn seed(
    db: &crate::storage::Db,
    team_id: &str,
    owner: &str,
    workflow_id: &str,
    cron: &str,
    timezone: &str,
    input: serde_json::Value,
) -> crate::error::AppResult<String> {
    let fields = ScheduleFields {
        workflow_id: workflow_id.into(),
        cron: cron.into(),
        timezone: timezone.into(),
        input,
        enabled: true,
        pause_note: None,
        overlap: Overlap::Skip,
        catch_up: CatchUp::Latest,
        catch_up_window_secs: 3600,
        jitter_secs: 0,
    };
    let actor = crate::audit::Actor {
        team_id,
        user_id: Some(owner),
    };
    Ok(store::create(db, actor, &fields, next_now(&fields)?).await?)
}

/// Slots passed while disabled are recorded one by one up to this many.
const MAX_DISABLED_RECORDED: usize = 500;

/// The first slot after now, when the schedule is enabled.
fn next_now(fields: &ScheduleFields) -> Result<store::Next, crate::error::AppError> {
    let cron = cron::parse(&fields.cron)?;
    let zone = cron::parse_zone("timezone", &fields.timezone)?;
    let slot_at = cron::next_after(&cron, zone, crate::storage::now_ms());
    Ok(store::Next {
        slot_at,
        run_at: slot_at,
    })
}

pub async fn create(
    state: &crate::app::AppState,
    principal: &crate::auth::Principal,
    fields: &ScheduleFields,
) -> crate::error::AppResult<String> {
    let id = store::create(&state.db, principal.into(), fields, next_now(fields)?).await?;
    state.scheduler.wake();
    Ok(id)
}

/// Saves changes. Enabling a disabled schedule first records the slots it
/// passed as skipped; a change of expression or zone, or enabling, moves the
/// next slot to the first one from now.
pub async fn update(
    state: &crate::app::AppState,
    principal: &crate::auth::Principal,
    id: &str,
    fields: &ScheduleFields,
) -> crate::error::AppResult<()> {
    use crate::error::AppError;
    let db = &state.db;
    let mut tx = db.begin().await?;
    let stored = store::stored(&mut tx, db, &principal.team_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let retimed = stored.cron != fields.cron || stored.timezone != fields.timezone;
    let next = if fields.enabled && (!stored.enabled || retimed) {
        if !stored.enabled
            && let Some(from) = stored.next_slot_at
        {
            let cron = cron::parse(&stored.cron)?;
            let zone = cron::parse_zone("timezone", &stored.timezone)?;
            let now = crate::storage::now_ms();
            for slot in cron::slots_between(&cron, zone, from, now, MAX_DISABLED_RECORDED) {
                store::record_slot(
                    &mut tx,
                    id,
                    &principal.team_id,
                    slot,
                    Outcome::Skipped,
                    Some("the schedule was disabled"),
                )
                .await?;
            }
        }
        next_now(fields)?
    } else if retimed {
        next_now(fields)?
    } else {
        store::Next {
            slot_at: stored.next_slot_at,
            run_at: stored.next_slot_at,
        }
    };
    store::update_in(&mut tx, principal.into(), id, fields, next).await?;
    tx.commit().await?;
    state.scheduler.wake();
    Ok(())
}

/// Runs the schedule's workflow now, recorded as a slot of its history.
pub async fn run_now(
    state: &crate::app::AppState,
    principal: &crate::auth::Principal,
    id: &str,
) -> crate::error::AppResult<String> {
    use crate::error::AppError;
    let schedule = get(&state.db, &principal.team_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut tx = state.db.begin().await?;
    let slot = crate::storage::now_ms();
    store::record_slot(
        &mut tx,
        id,
        &principal.team_id,
        slot,
        Outcome::Fired,
        Some("run now"),
    )
    .await?;
    let execution = scheduler::start_in(
        &mut tx,
        &principal.team_id,
        &schedule.workflow_id,
        id,
        &schedule.input,
    )
    .await?;
    store::fired_in(&mut tx, id, slot, &execution).await?;
    tx.commit().await?;
    crate::executions::announce(state.engine(), &principal.team_id, &execution).await;
    Ok(execution)
}
