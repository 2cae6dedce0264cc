//! The error log's store and API: a failing workflow's error is grouped, is
//! resolved, recurs and reopens by itself; viewers cannot resolve; the seed's
//! feed of failed tasks; the demo's history is grouped too.

mod common;

use common::TestApp;
use common::fake_provider::{FakeProvider, GOOD_KEY};
use common::runtime::{fast_retries, member_api, owner_api};
use hummbl::auth::Role;
use serde_json::json;

#[tokio::test]
async fn a_failure_is_grouped_resolved_and_reopens_when_it_recurs() {
    let app = TestApp::spawn_with(fast_retries).await;
    let fake = FakeProvider::start().await;
    let (api, team) = owner_api(&app, "errors").await;
    let key = api
        .provider_key("anthropic", &fake.anthropic_base(), GOOD_KEY)
        .await;
    let agent = api
        .agent("Flaky", "anthropic", "claude-3-5-haiku-20241022", &key)
        .await;
    let workflow = api
        .workflow(
            "Breaks",
            json!([{"id": "a", "agent": agent, "prompt": "[fail:503] run {{input.n}}"}]),
        )
        .await;
    for n in 0..2 {
        let id = api.run(&workflow, json!({"n": n})).await;
        assert_eq!(api.wait_finished(&id).await["status"], "failed");
    }
    let (status, log) = api.get("/api/errors").await;
    assert_eq!(status, 200);
    let groups = log["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1, "{log:#}");
    let group = &groups[0];
    assert_eq!(group["occurrences"], 2);
    assert_eq!(group["error_class"], "provider_error");
    assert_eq!(group["agent_name"], "Flaky");
    assert_eq!(group["workflow_id"], workflow.as_str());
    assert_eq!(
        group["message"],
        "provider error (<n>): Internal server error"
    );
    let fingerprint = group["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_string();

    let viewer = member_api(&app, &team, "errors-viewer", Role::Viewer).await;
    let (status, _) = viewer
        .post(
            "/api/errors/resolve",
            json!({"fingerprints": [fingerprint]}),
        )
        .await;
    assert_eq!(status, 403, "viewers cannot resolve");
    let member = member_api(&app, &team, "errors-member", Role::Member).await;
    let resolved = member
        .expect_post(
            "/api/errors/resolve",
            json!({"fingerprints": [fingerprint]}),
            200,
        )
        .await;
    assert_eq!(resolved["changed"], 1);
    let (_, open) = api.get("/api/errors?resolved=false").await;
    assert_eq!(open["groups"].as_array().map(Vec::len), Some(0));
    let (_, closed) = api.get("/api/errors?resolved=true").await;
    assert!(closed["groups"][0]["resolved_by"].is_string());

    // It happens again: the group reopens by itself and says when.
    let id = api.run(&workflow, json!({"n": 9})).await;
    api.wait_finished(&id).await;
    let (_, log) = api.get("/api/errors?resolved=false").await;
    let group = &log["groups"][0];
    assert_eq!(group["occurrences"], 3);
    assert!(group["resolved_at"].is_null());
    assert!(group["reopened_at"].is_i64(), "{group:#}");

    // Reopen by hand, filters, and bad input.
    member
        .expect_post(
            "/api/errors/resolve",
            json!({"fingerprints": [fingerprint]}),
            200,
        )
        .await;
    let reopened = member
        .expect_post(
            "/api/errors/reopen",
            json!({"fingerprints": [fingerprint]}),
            200,
        )
        .await;
    assert_eq!(reopened["changed"], 1);
    let (_, other_agent) = api.get("/api/errors?agent=someone-else").await;
    assert_eq!(other_agent["groups"].as_array().map(Vec::len), Some(0));
    let (status, _) = api
        .post("/api/errors/resolve", json!({"fingerprints": []}))
        .await;
    assert_eq!(status, 422);
    let (status, _) = api.get("/api/errors?limit=0").await;
    assert_eq!(status, 422);

    // The seed's feed: the latest failed tasks with their workflow.
    let (_, feed) = api.get("/api/telemetry/errors").await;
    let results = feed["results"].as_array().expect("results");
    assert_eq!(results.len(), 3);
    assert!(
        results
            .iter()
            .all(|r| r["task_name"] == "a" && r["workflow_id"] == workflow.as_str())
    );
    app.stop().await;
}

#[tokio::test]
async fn the_demo_history_is_grouped() {
    let app = TestApp::spawn().await;
    hummbl::demo::seed(&app.db, &app.state.vault)
        .await
        .expect("seed");
    let failed: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM task_results WHERE status = 'failed'",
    )
    .fetch_one(app.db.read())
    .await
    .expect("failed");
    let (groups, occurrences): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COUNT(*) AS BIGINT), CAST(SUM(occurrences) AS BIGINT) FROM error_groups",
    )
    .fetch_one(app.db.read())
    .await
    .expect("groups");
    assert_eq!(occurrences, failed);
    assert!(
        groups > 5 && groups < failed / 2,
        "{groups} groups for {failed} failures"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_error_log_page_filters_in_its_url_resolves_exports_and_retries() {
    let app = TestApp::spawn_with(fast_retries).await;
    let fake = FakeProvider::start().await;
    let (api, team) = owner_api(&app, "error-page").await;
    let key = api
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = api.agent("Breaker", "openai", "gpt-4o-mini", &key).await;
    let workflow = api
        .workflow(
            "Breaks",
            json!([{"id": "a", "agent": agent, "prompt": "[fail:400] go"}]),
        )
        .await;
    let failed = api.run(&workflow, json!({})).await;
    api.wait_finished(&failed).await;
    let (_, log) = api.get("/api/errors").await;
    let fingerprint = log["groups"][0]["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_string();

    let member = member_api(&app, &team, "page-member", Role::Member).await;
    let viewer = member_api(&app, &team, "page-viewer", Role::Viewer).await;
    let (status, html) = member.page("/logs/errors").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("the provider rejected the request (&lt;n&gt;)"),
        "the normalized message"
    );
    assert!(
        html.contains(&format!("value=\"{fingerprint}\"")),
        "a checkbox for members"
    );
    assert!(html.contains("Mark selected resolved"));
    assert!(
        !html.contains("class=\"provider-answer\""),
        "the provider's raw answer is for admins"
    );
    assert!(
        html.contains("[fail:400] go"),
        "the step's input is in the details"
    );
    let (_, owners) = api.page("/logs/errors").await;
    assert!(
        owners.contains("class=\"provider-answer\""),
        "an owner sees the provider's answer in the details"
    );
    let (_, html) = viewer.page("/logs/errors").await;
    assert!(
        !html.contains("Mark selected resolved") && !html.contains("type=\"checkbox\""),
        "viewers get no controls"
    );

    // Resolve from the page: back to the same view, then it shows under "resolved".
    let response = member
        .client
        .post(app.url("/logs/errors/state"))
        .header("cookie", &member.cookie)
        .form(&[
            ("action", "resolve"),
            ("fingerprint", fingerprint.as_str()),
            ("back", "state=open&from=2020-01-01"),
        ])
        .send()
        .await
        .expect("resolve");
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/logs/errors?state=open&from=2020-01-01"
    );
    let (_, open) = member.page("/logs/errors?state=open").await;
    assert!(!open.contains(&fingerprint));
    let (_, resolved) = member
        .page("/logs/errors?state=resolved&from=2020-01-01")
        .await;
    assert!(resolved.contains(&fingerprint));
    assert!(
        resolved.contains("value=\"2020-01-01\""),
        "the filter stays in the form"
    );
    let (_, by_agent) = member
        .page(&format!("/logs/errors?state=all&agent={agent}"))
        .await;
    assert!(by_agent.contains(&fingerprint));
    assert!(
        by_agent.contains(&format!("<option value=\"{agent}\" selected>")),
        "the agent stays chosen"
    );
    let (_, other) = member.page("/logs/errors?state=all&agent=nobody").await;
    assert!(!other.contains(&fingerprint));

    // Exports of the same view.
    let (status, csv) = member.page("/logs/errors.csv?state=resolved").await;
    assert_eq!(status, 200);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("record")).collect();
    assert_eq!(records.len(), 1);
    assert_eq!(&records[0][0], fingerprint.as_str());
    assert_eq!(&records[0][7], "resolved");
    let (_, json) = member.get("/logs/errors.json?state=open").await;
    assert_eq!(json["groups"].as_array().map(Vec::len), Some(0));
    let (status, _) = member.page("/logs/errors?state=weird").await;
    assert_eq!(status, 422);
    let (status, _) = member.page("/logs/errors?from=yesterday").await;
    assert_eq!(status, 422);

    // Retry from the page starts a new execution linked to the failed one.
    let response = member
        .client
        .post(app.url(&format!(
            "/logs/errors/retry?execution={failed}&back=state%3Dall"
        )))
        .header("cookie", &member.cookie)
        .send()
        .await
        .expect("retry");
    assert_eq!(response.status(), 303);
    let (_, list) = api.get("/api/executions").await;
    assert!(
        list["executions"]
            .as_array()
            .expect("list")
            .iter()
            .any(|e| e["retry_of"] == failed.as_str())
    );
    app.stop().await;
}
