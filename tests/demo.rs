//! The demo: 30 days of consistent, priced history on the simulated provider,
//! simulated executions that run end to end, and the large-history generator.

mod common;

use std::time::Duration;

use common::TestApp;
use common::runtime::Api;
use hummbl::demo::history::HistorySpec;
use serde_json::json;

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(app.db.read())
        .await
        .expect(sql)
}

#[tokio::test]
async fn the_demo_history_is_consistent_priced_and_labelled_simulated() {
    let app = TestApp::spawn().await;
    hummbl::demo::seed(&app.db, &app.state.vault)
        .await
        .expect("seed");
    let executions = count(&app, "SELECT COUNT(*) FROM executions").await;
    assert_eq!(executions, 3_600);
    let month_ago = hummbl::storage::now_ms() - 30 * 24 * 3600 * 1000 - 60_000;
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM executions WHERE created_at < {month_ago}")
        )
        .await,
        0
    );
    // Totals match their steps; every step is priced from the price table.
    let mismatched = count(
        &app,
        "SELECT COUNT(*) FROM executions e WHERE e.cost_micros <> (SELECT COALESCE(SUM(t.cost_micros), 0) \
         FROM task_results t WHERE t.execution_id = e.id) OR e.input_tokens <> (SELECT COALESCE(SUM(t.input_tokens), 0) \
         FROM task_results t WHERE t.execution_id = e.id)",
    )
    .await;
    assert_eq!(mismatched, 0);
    let unpriced = count(
        &app,
        "SELECT COUNT(*) FROM task_results WHERE status = 'succeeded' AND cost_micros <= 0",
    )
    .await;
    assert_eq!(unpriced, 0);
    let models = count(&app, "SELECT COUNT(DISTINCT model) FROM task_results").await;
    assert!((4..=6).contains(&models), "{models} models");
    // A realistic share of failures, each with the provider's error.
    let failed = count(
        &app,
        "SELECT COUNT(*) FROM executions WHERE status = 'failed'",
    )
    .await;
    assert!(
        (executions * 3 / 100..executions * 9 / 100).contains(&failed),
        "{failed} failed"
    );
    let unexplained = count(
        &app,
        "SELECT COUNT(*) FROM executions e WHERE e.status = 'failed' AND NOT EXISTS (SELECT 1 FROM task_results t \
         WHERE t.execution_id = e.id AND t.status = 'failed' AND t.error_class IS NOT NULL AND t.error IS NOT NULL)",
    )
    .await;
    assert_eq!(unexplained, 0);
    // Office hours are busier than the night.
    let day = count(
        &app,
        "SELECT COUNT(*) FROM executions WHERE (created_at / 3600000) % 24 BETWEEN 9 AND 11",
    )
    .await;
    let night = count(
        &app,
        "SELECT COUNT(*) FROM executions WHERE (created_at / 3600000) % 24 BETWEEN 1 AND 3",
    )
    .await;
    assert!(day > night * 3, "day {day}, night {night}");
    assert!(count(&app, "SELECT COUNT(DISTINCT user_id) FROM user_actions").await >= 3);

    // The simulated provider says what it is wherever it shows.
    let owner: String =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'owner@demo.hummbl.dev'")
            .fetch_one(app.db.read())
            .await
            .expect("owner");
    let team = hummbl::teams::find_team_by_name(&app.db, hummbl::demo::DEMO_TEAM)
        .await
        .expect("db")
        .expect("team");
    let api = Api {
        client: common::client(),
        base: app.base.clone(),
        cookie: app.session_cookie(&owner, &team).await,
    };
    let (_, keys) = api.get("/api/keys").await;
    assert!(
        keys["keys"][0]["provider_name"]
            .as_str()
            .is_some_and(|n| n.contains("Simulated"))
    );
    assert!(
        keys["keys"][0]["label"]
            .as_str()
            .is_some_and(|n| n.contains("simulated"))
    );
    // The history's steps count as the demo key's usage.
    let key = keys["keys"][0]["id"].as_str().expect("key id");
    let (status, usage) = api.get(&format!("/api/keys/{key}/usage?days=30")).await;
    assert_eq!(status, 200);
    let steps = count(
        &app,
        "SELECT COUNT(*) FROM task_results WHERE key_id IS NOT NULL AND status IN ('succeeded', 'failed') \
         AND reused_from IS NULL AND attempts > 0",
    )
    .await;
    assert!(steps > 0);
    assert!(
        usage["calls"]
            .as_i64()
            .is_some_and(|calls| calls > 0 && calls <= steps),
        "{usage}"
    );
    let (_, agents) = api.get("/api/agents").await;
    let agents = agents["agents"].as_array().expect("agents");
    assert_eq!(agents.len(), 6);
    assert!(agents.iter().all(|a| a["provider"] == "simulated"));
    let (_, alerts) = api.get("/api/alerts").await;
    let kinds: Vec<&str> = alerts["alerts"]
        .as_array()
        .expect("alert rules")
        .iter()
        .filter_map(|rule| rule["condition"]["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "spend",
            "error_rate",
            "long_running",
            "consecutive_failures"
        ],
        "one demo rule of each kind"
    );

    // A demo workflow runs on the simulated provider, calling nothing.
    let (_, workflows) = api.get("/api/workflows").await;
    let release = workflows["workflows"]
        .as_array()
        .and_then(|all| all.iter().find(|w| w["name"] == "Release notes"))
        .expect("release notes workflow");
    let run = api
        .expect_post(
            &format!("/api/workflows/{}/run", release["id"].as_str().expect("id")),
            json!({"input": {"changes": "12 merged pull requests"}}),
            201,
        )
        .await;
    let id = run["id"].as_str().expect("id");
    let done = api
        .wait_for(id, Duration::from_secs(20), |e| {
            e["status"] == "succeeded" || e["status"] == "failed"
        })
        .await;
    for step in done["steps"].as_array().expect("steps") {
        if step["status"] == "succeeded" {
            assert!(
                step["output"]
                    .as_str()
                    .is_some_and(|o| o.contains("simulated")),
                "{step}"
            );
            assert!(step["cost_micros"].as_i64().is_some_and(|c| c > 0));
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn the_large_history_generator_adds_to_the_demo_team() {
    let app = TestApp::spawn().await;
    let spec = HistorySpec {
        executions: 2_500,
        events: 3_000,
        days: 90,
        end_ms: hummbl::storage::now_ms(),
        seed: 1,
    };
    hummbl::demo::generate_large(&app.db, &app.state.vault, &spec, |_| {})
        .await
        .expect("generate");
    // The demo's own month plus the generated executions and page views.
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM executions").await,
        3_600 + 2_500
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM user_actions").await,
        6_000 + 3_000
    );
    let steps = count(&app, "SELECT COUNT(*) FROM task_results").await;
    assert!(steps > 2 * 6_100, "{steps} steps");
    app.stop().await;
}
