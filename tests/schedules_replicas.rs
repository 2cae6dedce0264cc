//! Two full servers on one PostgreSQL database fire a per-second schedule for
//! 30 seconds: every slot fires exactly once, none is missing. (The PostgreSQL
//! run of scripts/test; on SQLite this test has nothing to prove and returns.)

mod common;

use std::time::Duration;

use common::fake_provider::{FakeProvider, GOOD_KEY};
use common::runtime::owner_api;
use common::{TestApp, backend_name};
use serde_json::json;

const SECONDS: u64 = 30;

#[tokio::test]
async fn two_replicas_fire_every_slot_exactly_once() {
    if backend_name() != "postgres" {
        eprintln!(
            "two replicas need PostgreSQL (HUMMBL_TEST_POSTGRES_URL); the PostgreSQL run covers this"
        );
        return;
    }
    let first = TestApp::spawn().await;
    let second = first.replica().await;
    let fake = FakeProvider::start().await;
    let (owner, _) = owner_api(&first, "replicas").await;
    let key = owner
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = owner.agent("Ticker", "openai", "gpt-4o-mini", &key).await;
    let workflow = owner
        .workflow(
            "Tick",
            json!([{"id": "tick", "agent": agent, "prompt": "Tick"}]),
        )
        .await;
    let created = owner
        .expect_post(
            "/api/schedules",
            json!({"workflow_id": workflow, "cron": "* * * * * *", "timezone": "UTC", "overlap": "allow_all"}),
            201,
        )
        .await;
    let id = created["id"].as_str().expect("id").to_string();
    tokio::time::sleep(Duration::from_secs(SECONDS)).await;
    let (status, _) = owner
        .send(
            reqwest::Method::PATCH,
            &format!("/api/schedules/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let slots: Vec<(i64, String, Option<String>)> = sqlx::query_as(
        "SELECT slot_at, outcome, execution_id FROM schedule_slots WHERE schedule_id = $1 ORDER BY slot_at",
    )
    .bind(&id)
    .fetch_all(first.db.read())
    .await
    .expect("slots");
    let executions: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM executions WHERE schedule_id = $1")
            .bind(&id)
            .fetch_one(first.db.read())
            .await
            .expect("executions");
    let fired = slots
        .iter()
        .filter(|(_, outcome, _)| outcome == "fired")
        .count();
    let span = match (slots.first(), slots.last()) {
        (Some(first), Some(last)) => (last.0 - first.0) / 1000 + 1,
        _ => 0,
    };
    eprintln!(
        "two replicas, {SECONDS} s: {} slots recorded over {span} seconds, {fired} fired, {executions} executions, {} doubles",
        slots.len(),
        executions - fired as i64
    );
    assert!(
        span >= SECONDS as i64 - 2,
        "the schedule ran the whole time: {span}"
    );
    assert_eq!(slots.len() as i64, span, "no slot missing");
    assert_eq!(fired, slots.len(), "every slot fired (allow_all, on time)");
    assert_eq!(executions, fired as i64, "no slot fired twice");
    assert!(slots.iter().all(|(_, _, execution)| execution.is_some()));
    second.stop().await;
    first.stop().await;
}
