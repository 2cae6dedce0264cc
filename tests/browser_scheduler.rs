//! The scheduler page in Chromium: the builder writes a weekday schedule's
//! expression, the preview shows the next runs as one chooses, the schedule
//! is saved and found in the list; the builder reads a hand-typed expression
//! back.

mod common;

use std::time::Duration;

use common::TestApp;
use common::browser::Browser;
use common::fake_provider::{FakeProvider, GOOD_KEY};
use common::runtime::owner_api;
use fantoccini::Locator;
use serde_json::json;

#[tokio::test]
async fn the_builder_makes_a_weekday_schedule_with_a_live_preview() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let fake = FakeProvider::start().await;
    let (owner, team) = owner_api(&app, "builder").await;
    let key = owner
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = owner.agent("Writer", "openai", "gpt-4o-mini", &key).await;
    owner
        .workflow(
            "Morning brief",
            json!([{"id": "brief", "agent": agent, "prompt": "Brief"}]),
        )
        .await;
    app.user(
        "planner@example.com",
        "planner-password-1",
        Some(&team),
        hummbl::auth::Role::Member,
    )
    .await;
    browser
        .sign_in(&app.base, "planner@example.com", "planner-password-1")
        .await;
    let client = &browser.client;
    client
        .goto(&app.url("/workflows/scheduler"))
        .await
        .expect("scheduler");
    browser
        .wait_for("#schedule-builder:not([hidden])", "the builder")
        .await;
    client
        .find(Locator::Css("#schedule-workflow"))
        .await
        .expect("workflow")
        .select_by_index(1)
        .await
        .expect("choose the workflow");
    client
        .find(Locator::Css("#builder-mode"))
        .await
        .expect("mode")
        .select_by_value("weekdays")
        .await
        .expect("weekdays");
    client
        .execute(
            "const t = document.getElementById('builder-time'); t.value = '07:30'; t.dispatchEvent(new Event('input', {bubbles: true}));",
            vec![],
        )
        .await
        .expect("set the time");
    let zone = client
        .find(Locator::Css("#schedule-timezone"))
        .await
        .expect("zone");
    zone.clear().await.expect("clear");
    zone.send_keys("America/New_York").await.expect("zone");
    let cron = client
        .find(Locator::Css("#schedule-cron"))
        .await
        .expect("cron")
        .prop("value")
        .await
        .expect("value");
    assert_eq!(
        cron.as_deref(),
        Some("30 7 * * 1-5"),
        "the builder wrote the expression"
    );
    let preview = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(
            "//ol[@id='schedule-next']/li[code[contains(., 'T07:30:00-0')]]",
        ))
        .await;
    assert!(preview.is_ok(), "the preview shows 07:30 in New York");
    let items = client
        .find_all(Locator::Css("#schedule-next li"))
        .await
        .expect("items");
    assert_eq!(items.len(), 10, "the next 10 runs");
    browser.save_screenshot("scheduler.png").await;
    client
        .find(Locator::Css("button.button-primary[value='save']"))
        .await
        .expect("save")
        .click()
        .await
        .expect("save");
    browser
        .wait_for("#history-title", "the saved schedule")
        .await;
    client
        .goto(&app.url("/workflows/scheduler"))
        .await
        .expect("list");
    let row = browser
        .wait_for("#schedules tbody tr", "the schedule in the list")
        .await;
    let text = row.text().await.expect("row");
    assert!(
        text.contains("Morning brief")
            && text.contains("30 7 * * 1-5")
            && text.contains("America/New_York"),
        "{text}"
    );

    // A hand-typed expression is read back into the builder.
    let cron = client
        .find(Locator::Css("#schedule-cron"))
        .await
        .expect("cron");
    cron.clear().await.expect("clear");
    cron.send_keys("0 18 L * *").await.expect("type");
    let mode = client
        .find(Locator::Css("#builder-mode"))
        .await
        .expect("mode")
        .prop("value")
        .await
        .expect("value");
    assert_eq!(mode.as_deref(), Some("monthly"));
    browser.close().await;
    app.stop().await;
}
