//! The pilot evaluation in headless Chromium on the demo data: the owner opens
//! `/pilot`, sees six metrics and a decision, freezes a snapshot and finds it
//! listed; a screenshot is saved (docs/screenshots/pilot.png).

mod common;

use std::time::Duration;

use common::TestApp;
use common::browser::Browser;
use fantoccini::Locator;

#[tokio::test]
async fn the_owner_reads_the_decision_and_freezes_a_snapshot() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    hummbl::demo::seed(&app.db, &app.state.vault)
        .await
        .expect("demo data");
    let client = &browser.client;
    browser
        .sign_in(&app.base, "owner@demo.hummbl.dev", "owner-demo-pass")
        .await;
    client.goto(&app.url("/pilot")).await.expect("goto");
    browser
        .wait_for("#pilot-metrics", "the metrics table")
        .await;
    let rows = client
        .find_all(Locator::Css("#pilot-metrics tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 6);
    let decision = browser.wait_for("#decision-title", "the decision").await;
    let text = decision.text().await.expect("text");
    assert!(
        ["GO", "REFINE", "PIVOT"].iter().any(|d| text.contains(d)),
        "{text}"
    );
    assert!(
        client
            .find(Locator::Css("#trend-user_adoption"))
            .await
            .is_ok(),
        "a trend chart per measured metric"
    );
    browser.save_screenshot("pilot.png").await;

    client
        .find(Locator::Css("#freeze"))
        .await
        .expect("freeze button")
        .click()
        .await
        .expect("freeze");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(list) = client.find(Locator::Css("#snapshot-list tbody tr")).await {
            let text = list.text().await.unwrap_or_default();
            assert!(text.contains("Maya Chen"), "who froze it: {text}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the snapshot never appeared"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.close().await;
    app.stop().await;
}
