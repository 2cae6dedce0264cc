//! Schedules against the real server and the fake provider: checked input with
//! the field and position named; the preview's daylight-saving notes; a
//! per-second schedule firing each slot within a second of its time; the
//! slots passed while disabled recorded; a restart applying each catch-up
//! policy; the overlap policies with a slow workflow.

mod common;

use std::time::Duration;

use common::TestApp;
use common::fake_provider::{FakeProvider, GOOD_KEY};
use common::runtime::{Api, owner_api};
use hummbl::storage::Db;
use serde_json::{Value, json};

/// A one-step workflow at the fake provider; `[slow:MS]` in the prompt makes
/// each run take that long.
async fn workflow(owner: &Api, fake: &common::fake_provider::Running, prompt: &str) -> String {
    let key = owner
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = owner.agent("Ticker", "openai", "gpt-4o-mini", &key).await;
    owner
        .workflow(
            "Tick",
            json!([{"id": "tick", "agent": agent, "prompt": prompt}]),
        )
        .await
}

async fn schedule(owner: &Api, body: Value) -> String {
    let created = owner.expect_post("/api/schedules", body, 201).await;
    created["id"].as_str().expect("id").to_string()
}

async fn history(owner: &Api, id: &str) -> Vec<Value> {
    let (status, body) = owner
        .get(&format!("/api/schedules/{id}/history?limit=1000"))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut slots = body["slots"].as_array().cloned().unwrap_or_default();
    slots.reverse();
    slots
}

fn with(slots: &[Value], outcome: &str) -> Vec<Value> {
    slots
        .iter()
        .filter(|slot| slot["outcome"] == outcome)
        .cloned()
        .collect()
}

async fn disable(owner: &Api, id: &str) {
    let (status, body) = owner
        .send(
            reqwest::Method::PATCH,
            &format!("/api/schedules/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn schedules_are_checked_and_the_preview_shows_daylight_saving() {
    let app = TestApp::spawn().await;
    let fake = FakeProvider::start().await;
    let (owner, _) = owner_api(&app, "schedule-rules").await;
    let workflow = workflow(&owner, &fake, "Tick").await;
    for (body, field, says) in [
        (
            json!({"workflow_id": workflow, "cron": "0 25 * * *"}),
            "cron",
            "hour field `25` (position 3)",
        ),
        (
            json!({"workflow_id": workflow, "cron": "0 9 * *"}),
            "cron",
            "needs 5 fields",
        ),
        (
            json!({"workflow_id": workflow, "cron": "0 9 * * *", "timezone": "Mars/Base"}),
            "timezone",
            "IANA",
        ),
        (
            json!({"workflow_id": workflow, "cron": "0 9 * * *", "overlap": "sometimes"}),
            "overlap",
            "buffer_one",
        ),
        (
            json!({"workflow_id": "nope", "cron": "0 9 * * *"}),
            "workflow_id",
            "no such workflow",
        ),
        (
            json!({"workflow_id": workflow, "cron": "0 9 * * *", "jitter_secs": 7200}),
            "jitter_secs",
            "3600",
        ),
    ] {
        let (status, error) = owner.post("/api/schedules", body).await;
        assert_eq!(status, 422, "{error}");
        assert_eq!(error["error"]["field"], field, "{error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(says),
            "{error}"
        );
    }
    let created = owner
        .expect_post(
            "/api/schedules",
            json!({"workflow_id": workflow, "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"}),
            201,
        )
        .await;
    assert_eq!(created["overlap"], "skip");
    assert_eq!(created["catch_up"], "latest");
    assert!(
        created["description"]
            .as_str()
            .is_some_and(|d| d.contains("09:00")),
        "{created}"
    );
    assert!(created["next_run_at"].as_i64() > Some(hummbl::storage::now_ms()));
    let (_, listed) = owner.get("/api/schedules").await;
    assert_eq!(listed["schedules"][0]["workflow_name"], "Tick");

    let (status, preview) = owner
        .get("/api/schedules/preview?cron=30%202%2028%203%20*&tz=Europe/Berlin&n=2")
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        preview["next"][0], "2027-03-28T03:00:00+02:00",
        "moved out of the skipped hour"
    );
    assert_eq!(preview["next"][1], "2028-03-28T02:30:00+02:00");
    assert_eq!(preview["notes"][0]["at"], "2027-03-28T03:00:00+02:00");
    assert!(
        preview["notes"][0]["note"]
            .as_str()
            .unwrap_or_default()
            .starts_with("moved")
    );
    let (status, _) = owner.get("/api/schedules/preview?cron=bad&tz=UTC").await;
    assert_eq!(status, 422);
    app.stop().await;
}

#[tokio::test]
async fn a_per_second_schedule_fires_every_slot_within_a_second_and_records_pauses() {
    let app = TestApp::spawn().await;
    let fake = FakeProvider::start().await;
    let (owner, _) = owner_api(&app, "per-second").await;
    let workflow = workflow(&owner, &fake, "Tick").await;
    let id = schedule(
        &owner,
        json!({"workflow_id": workflow, "cron": "* * * * * *", "timezone": "UTC", "overlap": "allow_all"}),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while with(&history(&owner, &id).await, "fired").len() < 5 {
        assert!(tokio::time::Instant::now() < deadline, "slots did not fire");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    disable(&owner, &id).await;
    let slots = history(&owner, &id).await;
    let fired = with(&slots, "fired");
    for pair in fired.windows(2) {
        assert_eq!(
            pair[1]["slot_at"].as_i64().expect("slot") - pair[0]["slot_at"].as_i64().expect("slot"),
            1000,
            "no slot missing: {slots:?}"
        );
    }
    let latencies = slot_latencies(&app.db, &id).await;
    assert!(
        latencies.iter().all(|ms| (0..1000).contains(ms)),
        "each within a second: {latencies:?}"
    );

    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (status, _) = owner
        .send(
            reqwest::Method::PATCH,
            &format!("/api/schedules/{id}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 200);
    disable(&owner, &id).await;
    let paused = history(&owner, &id).await;
    let skipped = with(&paused, "skipped");
    assert!(
        skipped.len() >= 2,
        "the slots passed while disabled are recorded: {paused:?}"
    );
    assert!(
        skipped
            .iter()
            .all(|slot| slot["reason"] == "the schedule was disabled")
    );
    let (status, run) = owner
        .post(&format!("/api/schedules/{id}/run"), json!({}))
        .await;
    assert_eq!(status, 201, "{run}");
    let last = history(&owner, &id).await.pop().expect("a slot");
    assert_eq!(last["reason"], "run now");
    assert_eq!(last["execution_id"], run["id"]);
    app.stop().await;
}

/// Each fired slot's delay: its execution's creation minus the slot's time.
async fn slot_latencies(db: &Db, schedule: &str) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT e.created_at - l.slot_at FROM schedule_slots l JOIN executions e ON e.id = l.execution_id \
         WHERE l.schedule_id = $1 AND l.reason IS NULL ORDER BY l.slot_at",
    )
    .bind(schedule)
    .fetch_all(db.read())
    .await
    .expect("latencies")
}

#[tokio::test]
async fn a_restarted_server_applies_each_catch_up_policy() {
    let app = TestApp::spawn_with(|config| {
        config.workers.schedule_on_time = Duration::from_millis(1_500);
    })
    .await;
    let fake = FakeProvider::start().await;
    let (owner, _) = owner_api(&app, "catch-up").await;
    let workflow = workflow(&owner, &fake, "Tick").await;
    let mut ids = Vec::new();
    for catch_up in ["latest", "all", "skip"] {
        ids.push(
            schedule(
                &owner,
                json!({"workflow_id": workflow, "cron": "* * * * * *", "timezone": "UTC",
                       "overlap": "allow_all", "catch_up": catch_up}),
            )
            .await,
        );
    }
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let app = app
        .restart(|_| async { tokio::time::sleep(Duration::from_secs(5)).await })
        .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let owner = Api {
        base: app.base.clone(),
        ..owner
    };
    for id in &ids {
        disable(&owner, id).await;
    }
    let reason_count = |slots: &[Value], text: &str| {
        slots
            .iter()
            .filter(|slot| slot["reason"].as_str().is_some_and(|r| r.contains(text)))
            .count()
    };
    let latest = history(&owner, &ids[0]).await;
    assert!(reason_count(&latest, "only the latest") >= 2, "{latest:?}");
    let all = history(&owner, &ids[1]).await;
    assert!(
        with(&all, "skipped").is_empty(),
        "every missed slot within the window fired: {all:?}"
    );
    for pair in all.windows(2) {
        assert_eq!(
            pair[1]["slot_at"].as_i64().expect("slot") - pair[0]["slot_at"].as_i64().expect("slot"),
            1000,
            "none missing: {all:?}"
        );
    }
    let skip = history(&owner, &ids[2]).await;
    assert!(reason_count(&skip, "catch-up: skip") >= 3, "{skip:?}");
    app.stop().await;
}

#[tokio::test]
async fn overlap_policies_decide_what_a_slot_does_while_the_last_run_runs() {
    let app = TestApp::spawn().await;
    let fake = FakeProvider::start().await;
    let (owner, _) = owner_api(&app, "overlap").await;
    let slow = workflow(&owner, &fake, "Slowly [slow:2500]").await;
    let mut ids = Vec::new();
    for overlap in ["skip", "buffer_one", "allow_all", "cancel_running"] {
        ids.push(
            schedule(
                &owner,
                json!({"workflow_id": slow, "cron": "* * * * * *", "timezone": "UTC", "overlap": overlap}),
            )
            .await,
        );
    }
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    for id in &ids {
        disable(&owner, id).await;
    }
    // The buffered slot fires once the run before it ends.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let skip = history(&owner, &ids[0]).await;
    assert!(!with(&skip, "fired").is_empty(), "{skip:?}");
    assert!(
        skip.iter().any(|s| s["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("overlap: execution"))),
        "{skip:?}"
    );
    let buffer = history(&owner, &ids[1]).await;
    assert!(
        buffer.iter().any(|s| s["outcome"] == "fired"
            && s["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("waiting for"))),
        "a buffered slot fired after the run it waited for: {buffer:?}"
    );
    assert!(
        buffer.iter().any(|s| s["reason"]
            .as_str()
            .is_some_and(|r| r.contains("already waits"))),
        "{buffer:?}"
    );
    let allow = history(&owner, &ids[2]).await;
    assert!(
        with(&allow, "skipped").is_empty() && with(&allow, "fired").len() >= 3,
        "{allow:?}"
    );
    let cancelled: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM executions WHERE schedule_id = $1 AND status = 'cancelled'",
    )
    .bind(&ids[3])
    .fetch_one(app.db.read())
    .await
    .expect("count");
    assert!(cancelled >= 2, "each slot cancelled the run before it");
    app.stop().await;
}
