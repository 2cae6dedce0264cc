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

/// The step editor over plain form posts (its buttons work without scripts):
/// add a step, refusals beside the field they name, save, a second version and
/// what changed between the two.
#[tokio::test]
async fn the_step_editor_builds_versions_and_the_compare_page_shows_changes() {
    let app = TestApp::spawn().await;
    let fake = FakeProvider::start().await;
    let (owner, team) = owner_api(&app, "workflow-editor").await;
    let key = owner
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = owner.agent("Writer", "openai", "gpt-4o-mini", &key).await;
    let member = member_api(&app, &team, "workflow-editor-member", Role::Member).await;

    let (status, editor) = member.page("/workflows/new").await;
    assert_eq!(status, 200);
    assert!(editor.contains(r#"name="steps[0].prompt""#) && editor.contains(&agent));
    let first = [
        ("name", "Brief"),
        ("steps[0].id", "facts"),
        ("steps[0].was", "step-1"),
        ("steps[0].agent", agent.as_str()),
        ("steps[0].prompt", "Facts about {{input.topic}}"),
    ];
    let mut add = first.to_vec();
    add.push(("action", "add"));
    let (status, added) = member.form_page("/workflows/new", &add).await;
    assert_eq!(status, 200, "adding a step draws the editor again");
    assert!(
        added.contains(r#"name="steps[1].depends_on" value="facts" checked"#),
        "a new step waits for the one before it"
    );
    assert!(added.contains(r#"data-insert="{{steps.facts.output}}""#));

    let mut dangling = first.to_vec();
    dangling.extend([
        ("steps[1].id", "brief"),
        ("steps[1].agent", agent.as_str()),
        ("steps[1].prompt", "Brief from {{steps.facts.output}}"),
        ("steps[1].depends_on", "ghost"),
        ("action", "save"),
    ]);
    let (status, refused) = member.form_page("/workflows/new", &dangling).await;
    assert_eq!(status, 422);
    assert!(
        refused.contains(r#"id="steps-1-depends_on-error""#) && refused.contains("ghost"),
        "the refusal sits beside step 2's Waits for: {refused}"
    );
    let unwaited: Vec<_> = dangling
        .iter()
        .copied()
        .filter(|(name, _)| *name != "steps[1].depends_on")
        .collect();
    let (status, refused) = member.form_page("/workflows/new", &unwaited).await;
    assert_eq!(status, 422);
    assert!(
        refused.contains(r#"id="steps-1-prompt-error""#),
        "{refused}"
    );

    let mut good = unwaited.clone();
    good.push(("steps[1].depends_on", "facts"));
    let (status, location) = member.post_form("/workflows/new", &good).await;
    assert_eq!(status, 303, "saved: {location}");
    let workflow = location.trim_start_matches("/workflows/").to_string();
    let saved = owner.get(&format!("/api/workflows/{workflow}")).await.1;
    assert_eq!(saved["steps"][1]["depends_on"], json!(["facts"]), "{saved}");
    let (_, page) = member.page(&location).await;
    assert!(page.contains("<svg") && page.contains("brief waits for facts"));

    let mut renamed = good.clone();
    for field in renamed.iter_mut() {
        match field.0 {
            "steps[0].id" => field.1 = "research",
            "steps[0].was" => field.1 = "facts",
            "steps[1].was" => field.1 = "brief",
            _ => {}
        }
    }
    let (status, _) = member
        .post_form(&format!("/workflows/{workflow}/edit"), &renamed)
        .await;
    assert_eq!(status, 303, "a renamed step keeps the step waiting for it");
    let saved = owner.get(&format!("/api/workflows/{workflow}")).await.1;
    assert_eq!(saved["version"], 2);
    assert_eq!(
        saved["steps"][1]["prompt"],
        "Brief from {{steps.research.output}}"
    );
    let (status, compare) = member.page(&format!("/workflows/{workflow}/compare")).await;
    assert_eq!(status, 200);
    assert!(
        compare.contains("Added <code>research</code>")
            && compare.contains("Removed <code>facts</code>"),
        "{compare}"
    );
    assert_eq!(
        member
            .page(&format!("/workflows/{workflow}/compare?from=7"))
            .await
            .0,
        422
    );

    let viewer = member_api(&app, &team, "workflow-editor-viewer", Role::Viewer).await;
    assert_eq!(viewer.page("/workflows/new").await.0, 403);
    assert_eq!(viewer.form_page("/workflows/new", &good).await.0, 403);
    app.stop().await;
}
