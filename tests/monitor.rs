//! The execution monitor page: run from the page, filters in the URL, kill and
//! retry forms for members and up (viewers get none and are refused), the step
//! timeline; and in headless Chromium, a slow execution appears without a reload
//! and is killed from the page (docs/screenshots/monitor.png).

mod common;

use std::time::Duration;

use common::TestApp;
use common::browser::Browser;
use common::fake_provider::{FakeProvider, GOOD_KEY};
use common::runtime::{fast_retries, member_api, owner_api};
use fantoccini::Locator;
use hummbl::auth::Role;
use serde_json::json;

#[tokio::test]
async fn the_monitor_runs_filters_kills_and_retries() {
    let app = TestApp::spawn_with(fast_retries).await;
    let fake = FakeProvider::start().await;
    let (api, team) = owner_api(&app, "monitor").await;
    let key = api
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = api.agent("Slowpoke", "openai", "gpt-4o-mini", &key).await;
    let workflow = api
        .workflow(
            "Slow",
            json!([{"id": "a", "agent": agent, "prompt": "[slow-once:30000:{{input.n}}] hi"}]),
        )
        .await;
    let member = member_api(&app, &team, "monitor-member", Role::Member).await;
    let viewer = member_api(&app, &team, "monitor-viewer", Role::Viewer).await;

    let (status, location) = member
        .post_form(
            "/monitor/run",
            &[("workflow", &workflow), ("input", r#"{"n": "page"}"#)],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, "/monitor"));
    let (_, list) = api.get("/api/executions?status=running,pending").await;
    let id = list["executions"][0]["id"]
        .as_str()
        .expect("an execution")
        .to_string();
    let (status, _) = member
        .post_form(
            "/monitor/run",
            &[("workflow", &workflow), ("input", "not json")],
        )
        .await;
    assert_eq!(status, 422);

    let (status, page) = member.page("/monitor?status=running,pending").await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("data-execution-id=\"{id}\"")));
    assert!(
        page.contains(&format!("action=\"/monitor/{id}/cancel\"")),
        "members can kill"
    );
    let (_, page) = member.page("/monitor?status=succeeded").await;
    assert!(
        !page.contains(&format!("data-execution-id=\"{id}\"")),
        "the status filter applies"
    );
    let (_, page) = viewer.page("/monitor").await;
    assert!(page.contains(&format!("data-execution-id=\"{id}\"")));
    assert!(!page.contains("/cancel\""), "viewers get no kill button");
    let (status, _) = viewer
        .post_form(&format!("/monitor/{id}/cancel"), &[])
        .await;
    assert_eq!(status, 403);

    let (status, location) = member
        .post_form(&format!("/monitor/{id}/cancel"), &[])
        .await;
    assert_eq!((status, location.as_str()), (303, "/monitor"));
    let (_, details) = member.page(&format!("/monitor/{id}")).await;
    assert!(details.contains("status-cancelled"));
    assert!(details.contains("cancelled by a user"));
    let (status, _) = member.post_form(&format!("/monitor/{id}/retry"), &[]).await;
    assert_eq!(status, 303);
    let (_, list) = api.get("/api/executions").await;
    let retry = list["executions"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["retry_of"] == id.as_str()))
        .expect("the retry")
        .clone();
    let done = api.wait_finished(retry["id"].as_str().expect("id")).await;
    assert_eq!(done["status"], "succeeded");
    // Bulk: kill two running ones, then retry both.
    let first = api.run(&workflow, json!({"n": "bulk-1"})).await;
    let second = api.run(&workflow, json!({"n": "bulk-2"})).await;
    for id in [&first, &second] {
        api.wait_for(id, Duration::from_secs(10), |e| e["status"] == "running")
            .await;
    }
    let (status, _) = member
        .post_form(
            "/monitor/bulk",
            &[("action", "kill"), ("id", &first), ("id", &second)],
        )
        .await;
    assert_eq!(status, 303);
    for id in [&first, &second] {
        let (_, execution) = api.get(&format!("/api/executions/{id}")).await;
        assert_eq!(execution["status"], "cancelled");
    }
    let (status, _) = member
        .post_form(
            "/monitor/bulk",
            &[("action", "retry"), ("id", &first), ("id", &second)],
        )
        .await;
    assert_eq!(status, 303);
    let (_, list) = api.get("/api/executions?limit=200").await;
    let retried = list["executions"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|e| e["retry_of"] == first.as_str() || e["retry_of"] == second.as_str())
        .count();
    assert_eq!(retried, 2);
    let (status, _) = member
        .post_form("/monitor/bulk", &[("action", "explode"), ("id", &first)])
        .await;
    assert_eq!(status, 422);
    let (status, _) = member
        .post_form(&format!("/monitor/{first}/retry?from=start"), &[])
        .await;
    assert_eq!(status, 303, "retry from the start");
    let (status, _) = member
        .post_form(&format!("/monitor/{first}/retry?from=middle"), &[])
        .await;
    assert_eq!(status, 422);

    let response = member
        .client
        .get(format!("{}/monitor?q={id}", member.base))
        .header("cookie", &member.cookie)
        .send()
        .await
        .expect("search");
    assert_eq!(
        response.status(),
        303,
        "searching by id opens the execution"
    );
    assert_eq!(
        response.headers()["location"].to_str().unwrap_or_default(),
        format!("/monitor/{id}")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_slow_execution_appears_live_and_is_killed_from_the_page() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn_with(fast_retries).await;
    let fake = FakeProvider::start().await;
    let (api, team) = owner_api(&app, "live").await;
    let key = api
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = api.agent("Slowpoke", "openai", "gpt-4o-mini", &key).await;
    let workflow = api
        .workflow(
            "Slow",
            json!([{"id": "a", "agent": agent, "prompt": "[slow:30000] wait"}]),
        )
        .await;
    app.user(
        "live-member@example.com",
        "member-password-1",
        Some(&team),
        Role::Member,
    )
    .await;
    browser
        .sign_in(&app.base, "live-member@example.com", "member-password-1")
        .await;
    let client = &browser.client;
    client.goto(&app.url("/monitor")).await.expect("monitor");
    browser.wait_for("table#executions", "the table").await;
    // Give the stream a moment to connect, then start an execution elsewhere.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = api.run(&workflow, json!({})).await;
    let row = format!("tr[data-execution-id='{id}']");
    browser
        .wait_for(
            &format!("{row} .status-running"),
            "the execution appears, running, without a reload",
        )
        .await;
    // Rows that arrive live carry who started them and a ticking elapsed time.
    let cells = client
        .find_all(Locator::Css(&format!("{row} td")))
        .await
        .expect("cells");
    let mut texts = Vec::new();
    for cell in &cells {
        texts.push(cell.text().await.expect("text"));
    }
    assert!(
        texts.iter().any(|t| t == "User live@example.com"),
        "{texts:?}"
    );
    let elapsed = client
        .find(Locator::Css(&format!("{row} td.elapsed")))
        .await
        .expect("elapsed")
        .text()
        .await
        .expect("text");
    assert!(elapsed.ends_with('s'), "{elapsed:?}");
    // The execution's timeline opens in a dialog.
    client
        .find(Locator::Css(&format!("{row} a[href^='/monitor/']")))
        .await
        .expect("link")
        .click()
        .await
        .expect("open details");
    browser
        .wait_for(
            "dialog#execution-dialog[open] ol.timeline",
            "the step timeline in a dialog",
        )
        .await;
    browser.save_screenshot("monitor.png").await;
    client
        .find(Locator::Css(
            "dialog#execution-dialog form[method=dialog] button",
        ))
        .await
        .expect("close")
        .click()
        .await
        .expect("close the dialog");
    client
        .find(Locator::Css(&format!(
            "{row} form[action$='/cancel'] button"
        )))
        .await
        .expect("kill button")
        .click()
        .await
        .expect("kill");
    client.accept_alert().await.expect("confirm the kill");
    browser
        .wait_for(&format!("{row} .status-cancelled"), "shown cancelled")
        .await;
    let (_, execution) = api.get(&format!("/api/executions/{id}")).await;
    assert_eq!(execution["status"], "cancelled");
    browser.close().await;
    app.stop().await;
}
