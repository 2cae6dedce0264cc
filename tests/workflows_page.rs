//! The workflows pages against the real server: the list with last run and
//! success rate, a workflow's steps and versions, and Run with a JSON input that
//! opens the new execution in the monitor (a refused input comes back beside the
//! form); viewers read only; the component switch takes pages and API away.

mod common;

use common::TestApp;
use common::fake_provider::{FakeProvider, GOOD_KEY};
use common::runtime::{member_api, owner_api};
use hummbl::auth::Role;
use serde_json::json;

#[tokio::test]
async fn a_workflow_is_run_from_its_page_and_its_success_rate_shows() {
    let app = TestApp::spawn().await;
    let fake = FakeProvider::start().await;
    let (owner, team) = owner_api(&app, "workflows-page").await;
    let key = owner
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = owner.agent("Writer", "openai", "gpt-4o-mini", &key).await;
    let workflow = owner
        .workflow(
            "Brief",
            json!([{"id": "facts", "agent": agent, "prompt": "Facts about {{input.topic}}"},
                   {"id": "brief", "agent": agent, "prompt": "Brief from {{steps.facts.output}}", "depends_on": ["facts"]}]),
        )
        .await;
    let member = member_api(&app, &team, "workflows-member", Role::Member).await;

    let (status, list) = member.page("/workflows").await;
    assert_eq!(status, 200);
    assert!(list.contains(&format!("href=\"/workflows/{workflow}\"")) && list.contains("never"));
    let (status, page) = member.page(&format!("/workflows/{workflow}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("&quot;topic&quot;"),
        "the input form offers the prompts' fields"
    );
    assert!(page.contains("Writer") && page.contains("v1"));

    let refused = member
        .client
        .post(format!("{}/workflows/{workflow}/run", member.base))
        .header("cookie", &member.cookie)
        .form(&[("input", "{}")])
        .send()
        .await
        .expect("run");
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.expect("html");
    assert!(
        html.contains("input.topic"),
        "the missing field is named: {html}"
    );

    let (status, location) = member
        .post_form(
            &format!("/workflows/{workflow}/run"),
            &[("input", r#"{"topic": "tides"}"#)],
        )
        .await;
    assert_eq!(status, 303);
    let execution = location
        .strip_prefix("/monitor/")
        .unwrap_or_else(|| panic!("opens the monitor: {location}"))
        .to_string();
    let finished = owner.wait_finished(&execution).await;
    assert_eq!(finished["status"], "succeeded", "{finished}");
    let (_, list) = member.page("/workflows").await;
    assert!(
        list.contains("100 % of 1") && list.contains("status-succeeded"),
        "{list}"
    );

    let viewer = member_api(&app, &team, "workflows-viewer", Role::Viewer).await;
    let (status, read_only) = viewer.page(&format!("/workflows/{workflow}")).await;
    assert_eq!(status, 200);
    assert!(!read_only.contains("/run\""), "no run form for viewers");
    let (status, _) = viewer
        .post_form(
            &format!("/workflows/{workflow}/run"),
            &[("input", r#"{"topic": "x"}"#)],
        )
        .await;
    assert_eq!(status, 403);

    let (status, _) = owner
        .send(
            reqwest::Method::PATCH,
            "/api/components/workflows",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(member.page("/workflows").await.0, 404);
    assert_eq!(member.get("/api/workflows").await.0, 404);
    app.stop().await;
}
