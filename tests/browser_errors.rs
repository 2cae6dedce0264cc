//! The error log in headless Chromium on the demo data: a member resolves a group
//! with its checkbox, the state filter round-trips through the URL, and a
//! screenshot is saved (docs/screenshots/error-logs.png).

mod common;

use std::time::Duration;

use common::TestApp;
use common::browser::Browser;
use fantoccini::Locator;

#[tokio::test]
async fn a_member_resolves_an_error_group_and_filters_by_state() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    hummbl::demo::seed(&app.db, &app.state.vault)
        .await
        .expect("demo data");
    let client = &browser.client;
    browser
        .sign_in(&app.base, "member@demo.hummbl.dev", "member-demo-pass")
        .await;

    client.goto(&app.url("/logs/errors")).await.expect("goto");
    let first = browser
        .wait_for(
            "table.error-groups input[type=checkbox]",
            "an open error group",
        )
        .await;
    let fingerprint = first
        .attr("value")
        .await
        .expect("attr")
        .expect("fingerprint");
    let open_before = client
        .find_all(Locator::Css("table.error-groups tbody tr"))
        .await
        .expect("rows")
        .len();
    browser.save_screenshot("error-logs.png").await;
    first.click().await.expect("select");
    client
        .find(Locator::Css("button[value=resolve]"))
        .await
        .expect("resolve button")
        .click()
        .await
        .expect("resolve");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let rows = client
            .find_all(Locator::Css("table.error-groups tbody tr"))
            .await
            .map(|rows| rows.len())
            .unwrap_or(0);
        if rows == open_before - 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "one group fewer among the open ones"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The state filter is a plain GET form: the choice lands in the URL.
    client
        .find(Locator::Css("#f-state"))
        .await
        .expect("state")
        .select_by_value("resolved")
        .await
        .expect("choose resolved");
    client
        .find(Locator::Css("form.filters button[type=submit]"))
        .await
        .expect("apply")
        .click()
        .await
        .expect("apply");
    browser
        .wait_for(
            &format!("input[value='{fingerprint}']"),
            "the resolved group",
        )
        .await;
    assert!(
        client
            .current_url()
            .await
            .expect("url")
            .as_str()
            .contains("state=resolved")
    );
    browser.close().await;
    app.stop().await;
}
