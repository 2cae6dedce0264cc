//! The `scheduler` worker. Each tick claims the due schedules one at a time
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas share them) and, in
//! one transaction per schedule: records each slot that came due, creates the
//! execution of each slot that fires (the slot's row is the unique key: a slot
//! recorded once is never fired again), and advances the schedule to its next
//! slot. Then it sleeps until the earliest next run (a timer rings its
//! wake-up), and is woken at once when schedules change.
//!
//! Slots within `schedule_on_time` (60 s) of now fire (subject to the overlap
//! policy); older ones were missed while no server ran, and the catch-up
//! policy decides.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono_tz::Tz;
use rand::Rng;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::store::{self, Due, Next};
use super::{CatchUp, Outcome, Overlap};
use crate::app::AppState;
use crate::executions::{NewExecution, Trigger};
use crate::storage::{Tx, now_ms};

/// Slots recorded one by one after downtime; beyond this the rest is one
/// summary row (a per-second schedule down for a day would be 86,400 rows).
const MAX_RECORDED: usize = 500;
/// Schedules fired per tick at most (the next tick follows at once).
const BATCH: usize = 200;

/// The scheduler's wake-up and the timer that rings it at the next run.
#[derive(Default)]
pub struct Scheduler {
    wake: Arc<Notify>,
    timer: Mutex<Option<JoinHandle<()>>>,
}

impl Scheduler {
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Schedules changed: look again now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Rings the wake-up at `at_ms` (replacing an earlier timer).
    fn arm(&self, at_ms: i64) {
        let wait = u64::try_from(at_ms - now_ms()).unwrap_or(0);
        let wake = self.wake.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(wait)).await;
            wake.notify_one();
        });
        if let Ok(mut slot) = self.timer.lock()
            && let Some(old) = slot.replace(timer)
        {
            old.abort();
        }
    }
}

/// One tick: fires what is due, then arms the timer for the next run.
pub async fn tick(state: AppState) -> anyhow::Result<u64> {
    let mut fired = 0;
    // A slot that waited for a run that has ended goes first: a slot due now
    // then overlaps it, as the policy means.
    while let Some(count) = release_buffered(&state).await? {
        fired += count;
    }
    for _ in 0..BATCH {
        match fire_next(&state).await? {
            Some(count) => fired += count,
            None => break,
        }
    }
    if let Some(at) = store::earliest_run(&state.db).await? {
        state.scheduler.arm(at);
    }
    Ok(fired)
}

/// What to do with one due slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Fire,
    Skip(&'static str),
}

/// Splits the due slots into those to fire and those to skip, by the
/// catch-up policy (missed slots) — overlap is decided per slot when firing.
fn plan(
    slots: &[i64],
    now: i64,
    on_time_ms: i64,
    catch_up: CatchUp,
    window_secs: i64,
) -> Vec<(i64, Plan)> {
    let on_time = |slot: i64| now - slot <= on_time_ms;
    let any_on_time = slots.iter().any(|slot| on_time(*slot));
    let latest_missed = slots.iter().copied().filter(|slot| !on_time(*slot)).max();
    slots
        .iter()
        .map(|&slot| {
            let plan = if on_time(slot) {
                Plan::Fire
            } else {
                match catch_up {
                    CatchUp::Skip => Plan::Skip("missed while no server ran (catch-up: skip)"),
                    CatchUp::Latest if !any_on_time && Some(slot) == latest_missed => Plan::Fire,
                    CatchUp::Latest => {
                        Plan::Skip("missed while no server ran; only the latest is caught up")
                    }
                    CatchUp::All if now - slot <= window_secs * 1000 => Plan::Fire,
                    CatchUp::All => {
                        Plan::Skip("missed while no server ran, before the catch-up window")
                    }
                }
            };
            (slot, plan)
        })
        .collect()
}

/// The next slot strictly after `after`, and when it runs (jitter added).
fn next_from(cron: &croner::Cron, zone: Tz, after: i64, jitter_secs: i64) -> Next {
    let slot_at = super::cron::next_after(cron, zone, after);
    let jitter = match jitter_secs {
        0 => 0,
        secs => rand::rng().random_range(0..=secs * 1000),
    };
    Next {
        slot_at,
        run_at: slot_at.map(|at| at + jitter),
    }
}

/// Claims the first due schedule and handles its due slots; `None` when
/// nothing is due.
async fn fire_next(state: &AppState) -> anyhow::Result<Option<u64>> {
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let Some(due) = store::claim_due(&state.db, &mut tx, now).await? else {
        tx.rollback().await?;
        return Ok(None);
    };
    let (Ok(cron), Ok(zone)) = (
        super::cron::parse(&due.cron),
        super::cron::parse_zone("timezone", &due.timezone),
    ) else {
        // Saved expressions were checked; one that no longer parses stops here
        // rather than firing wrongly.
        store::advance_in(
            &mut tx,
            &due.id,
            Next {
                slot_at: None,
                run_at: None,
            },
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(schedule = %due.id, "schedule's expression no longer parses; stopped");
        return Ok(Some(0));
    };
    let slots = super::cron::slots_between(&cron, zone, due.next_slot_at, now, usize::MAX / 2);
    let mut fired = Vec::new();
    let mut cancel = Vec::new();
    let on_time_ms =
        i64::try_from(state.config.workers.schedule_on_time.as_millis()).unwrap_or(i64::MAX);
    let plans = plan(
        &slots,
        now,
        on_time_ms,
        due.catch_up()?,
        due.catch_up_window_secs,
    );
    let skipped = plans.iter().filter(|(_, plan)| *plan != Plan::Fire).count();
    let mut recorded_skips = 0;
    // Every slot this tick skipped, with its reason: one notification says so.
    let mut skips: Vec<String> = Vec::new();
    for (slot, plan) in plans {
        match plan {
            Plan::Skip(reason) => {
                skips.push(reason.to_string());
                recorded_skips += 1;
                if recorded_skips <= MAX_RECORDED {
                    store::record_slot(
                        &mut tx,
                        &due.id,
                        &due.team_id,
                        slot,
                        Outcome::Skipped,
                        Some(reason),
                    )
                    .await?;
                } else if recorded_skips == MAX_RECORDED + 1 {
                    let summary = format!(
                        "{reason} ({} more slots not listed)",
                        skipped - MAX_RECORDED
                    );
                    store::record_slot(
                        &mut tx,
                        &due.id,
                        &due.team_id,
                        slot,
                        Outcome::Skipped,
                        Some(&summary),
                    )
                    .await?;
                }
            }
            Plan::Fire => {
                if let Some(execution) =
                    fire_slot(&mut tx, &due, slot, &mut cancel, &mut skips).await?
                {
                    fired.push(execution);
                }
            }
        }
    }
    let next = next_from(
        &cron,
        zone,
        slots.last().copied().unwrap_or(due.next_slot_at).max(now),
        due.jitter_secs,
    );
    store::advance_in(&mut tx, &due.id, next).await?;
    let told = match skips.first() {
        Some(reason) => {
            crate::notifications::producers::schedule_skipped_in(
                &mut tx,
                &due.id,
                skips.len(),
                reason,
            )
            .await?
        }
        None => crate::notifications::Created::default(),
    };
    tx.commit().await?;
    told.announce(&state.bus);
    announce(state, &due.team_id, &fired, &cancel).await;
    Ok(Some(fired.len() as u64))
}

/// Applies the overlap policy to one slot and fires it if it may; the
/// execution's id when it fired.
async fn fire_slot(
    tx: &mut Tx,
    due: &Due,
    slot: i64,
    cancel: &mut Vec<String>,
    skips: &mut Vec<String>,
) -> anyhow::Result<Option<String>> {
    let running = store::active_executions(tx, &due.id).await?;
    if !running.is_empty() {
        let held = match due.overlap()? {
            Overlap::Skip => Some((
                Outcome::Skipped,
                format!("overlap: execution {} still running", running[0]),
            )),
            Overlap::BufferOne if store::has_buffered(tx, &due.id).await? => Some((
                Outcome::Skipped,
                "overlap: one slot already waits for the running execution".to_string(),
            )),
            Overlap::BufferOne => Some((
                Outcome::Buffered,
                format!("waiting for execution {} to end", running[0]),
            )),
            Overlap::AllowAll => None,
            Overlap::CancelRunning => {
                cancel.extend(running);
                None
            }
        };
        if let Some((outcome, reason)) = held {
            store::record_slot(tx, &due.id, &due.team_id, slot, outcome, Some(&reason)).await?;
            if outcome == Outcome::Skipped {
                skips.push(reason);
            }
            return Ok(None);
        }
    }
    if !store::record_slot(tx, &due.id, &due.team_id, slot, Outcome::Fired, None).await? {
        return Ok(None);
    }
    let input = crate::storage::decode_json("schedule input", &due.input)?;
    let execution = start_in(tx, &due.team_id, &due.workflow_id, &due.id, &input).await?;
    store::fired_in(tx, &due.id, slot, &execution).await?;
    Ok(Some(execution))
}

/// Creates the execution of a slot in the slot's transaction, from the
/// workflow's latest version.
pub(super) async fn start_in(
    tx: &mut Tx,
    team_id: &str,
    workflow_id: &str,
    schedule_id: &str,
    input: &serde_json::Value,
) -> anyhow::Result<String> {
    let workflow = crate::workflows::get_in(tx, team_id, workflow_id)
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!("workflow {workflow_id} of schedule {schedule_id} is gone")
        })?;
    let trigger = Trigger::Schedule(schedule_id.to_string());
    let new = NewExecution {
        team_id,
        workflow_id,
        version: workflow.version,
        steps_total: i64::try_from(workflow.steps.len()).unwrap_or(i64::MAX),
        input,
        trigger: &trigger,
    };
    Ok(crate::executions::insert_in(tx, &new).await?)
}

/// After commit: the new executions reach the monitor and the runner; the
/// executions an overlap policy replaced are cancelled.
async fn announce(state: &AppState, team_id: &str, fired: &[String], cancel: &[String]) {
    for id in cancel {
        let actor = crate::audit::Actor {
            team_id,
            user_id: None,
        };
        if let Err(err) = crate::executions::cancel(state.engine(), actor, id).await {
            tracing::warn!(execution = %id, error = %err, "could not cancel the execution a schedule replaces");
        }
    }
    for id in fired {
        crate::executions::announce(state.engine(), team_id, id).await;
    }
}

/// Fires a buffered slot whose schedule has nothing running any more.
async fn release_buffered(state: &AppState) -> anyhow::Result<Option<u64>> {
    let mut tx = state.db.begin().await?;
    let Some(ready) = store::claim_ready(&state.db, &mut tx).await? else {
        tx.rollback().await?;
        return Ok(None);
    };
    let input = crate::storage::decode_json("schedule input", &ready.input)?;
    let execution = start_in(
        &mut tx,
        &ready.team_id,
        &ready.workflow_id,
        &ready.schedule_id,
        &input,
    )
    .await?;
    store::fired_in(&mut tx, &ready.schedule_id, ready.slot_at, &execution).await?;
    tx.commit().await?;
    crate::executions::announce(state.engine(), &ready.team_id, &execution).await;
    Ok(Some(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn catch_up_policies_decide_the_missed_slots() {
        let now = 1_000 * MIN;
        let missed = [now - 30 * MIN, now - 20 * MIN, now - 10 * MIN];
        let fires = |catch_up, window| -> Vec<i64> {
            plan(&missed, now, MIN, catch_up, window)
                .into_iter()
                .filter(|(_, plan)| *plan == Plan::Fire)
                .map(|(slot, _)| slot)
                .collect()
        };
        assert_eq!(fires(CatchUp::Latest, 0), vec![now - 10 * MIN]);
        assert_eq!(fires(CatchUp::Skip, 0), Vec::<i64>::new());
        assert_eq!(
            fires(CatchUp::All, 25 * 60),
            vec![now - 20 * MIN, now - 10 * MIN]
        );
        let with_one_on_time = [now - 10 * MIN, now - 1_000];
        let plans = plan(&with_one_on_time, now, MIN, CatchUp::Latest, 0);
        assert_eq!(
            plans[1],
            (now - 1_000, Plan::Fire),
            "a slot on time always fires"
        );
        assert!(
            matches!(plans[0].1, Plan::Skip(_)),
            "and the missed one is not run too"
        );
    }
}
