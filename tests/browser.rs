//! The console in a real browser (headless Chromium): log in through the form,
//! see the shell (which reports its page view and load time through the SDK),
//! switch team, log out.

mod common;

use std::time::Duration;

use common::TestApp;
use common::browser::Browser;
use fantoccini::Locator;

/// Waits until the page's heading reads `text`: a click that submits a form
/// returns before the next page has loaded, so reading the heading at once
/// could still see the previous page.
async fn wait_for_heading(browser: &Browser, text: &str) {
    let found = browser
        .client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(&format!("//main//h1[text()='{text}']")))
        .await;
    if found.is_err() {
        let shown = match browser.client.find(Locator::Css("main h1")).await {
            Ok(h1) => h1.text().await.unwrap_or_default(),
            Err(_) => String::from("(no heading)"),
        };
        panic!("expected the heading {text:?}, the page shows {shown:?}");
    }
}

/// Polls a count until it is positive (the SDK sends asynchronously).
async fn wait_for_rows(app: &TestApp, sql: &str) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let count: i64 = sqlx::query_scalar(sql)
            .fetch_one(app.db.read())
            .await
            .expect("count");
        if count > 0 || tokio::time::Instant::now() > deadline {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn log_in_see_the_shell_switch_team_and_log_out() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    hummbl::demo::seed(&app.db, &app.state.vault)
        .await
        .expect("demo data");
    // The demo history has page views of its own; count only this browser's.
    let started = hummbl::storage::now_ms();
    let client = &browser.client;

    // Anonymous: sent to the login form.
    client.goto(&app.url("/")).await.expect("goto");
    let email = browser.wait_for("input[name=email]", "login form").await;
    assert!(
        client
            .current_url()
            .await
            .expect("url")
            .path()
            .starts_with("/login")
    );
    email
        .send_keys("owner@demo.hummbl.dev")
        .await
        .expect("type email");
    client
        .find(Locator::Css("input[name=password]"))
        .await
        .expect("password field")
        .send_keys("owner-demo-pass")
        .await
        .expect("type password");
    client
        .find(Locator::Css("form[action='/login'] button[type=submit]"))
        .await
        .expect("submit")
        .click()
        .await
        .expect("click");

    // The shell: navigation, team switcher, user menu.
    wait_for_heading(&browser, hummbl::demo::DEMO_TEAM).await;
    let nav = client
        .find(Locator::Css("nav[aria-label=Main]"))
        .await
        .expect("navigation");
    assert!(nav.text().await.expect("nav text").contains("Components"));
    let badge = client
        .find(Locator::Css(".badge-demo"))
        .await
        .expect("demo badge");
    assert_eq!(badge.text().await.expect("badge"), "Demo data");

    // The page reported its view and load time through the SDK (T4 Observation).
    let views = wait_for_rows(
        &app,
        &format!(
            "SELECT COUNT(*) FROM user_actions WHERE action_type = 'page_view' AND component_id = 'console' \
             AND received_at >= {started}"
        ),
    )
    .await;
    assert!(views >= 1);
    let loads = wait_for_rows(
        &app,
        "SELECT COUNT(*) FROM component_metrics WHERE metric_name = 'page_load_ms' AND component_id = 'console' AND value > 0",
    )
    .await;
    assert!(loads >= 1);
    let session: Option<String> = sqlx::query_scalar(
        "SELECT session_id FROM user_actions WHERE action_type = 'page_view' ORDER BY received_at DESC LIMIT 1",
    )
    .fetch_one(app.db.read())
    .await
    .expect("session id");
    assert!(
        session.is_some_and(|id| id.len() >= 32),
        "a per-tab session id from sessionStorage"
    );

    // Switch team: choosing it in the select submits the form (app.js).
    let second = sqlx::query_scalar::<_, String>("SELECT id FROM teams WHERE name = $1")
        .bind(hummbl::demo::SECOND_TEAM)
        .fetch_one(app.db.read())
        .await
        .expect("second team");
    client
        .find(Locator::Css("#team-select"))
        .await
        .expect("team switcher")
        .select_by_value(&second)
        .await
        .expect("select team");
    wait_for_heading(&browser, hummbl::demo::SECOND_TEAM).await;
    let role = client
        .find(Locator::Css(".user-role strong"))
        .await
        .expect("role");
    assert_eq!(
        role.prop("textContent").await.expect("prop").as_deref(),
        Some("member")
    );

    // Log out from the user menu.
    client
        .find(Locator::Css("details.user-menu summary"))
        .await
        .expect("menu")
        .click()
        .await
        .expect("open menu");
    client
        .find(Locator::Css("form[action='/logout'] button"))
        .await
        .expect("logout button")
        .click()
        .await
        .expect("log out");
    browser
        .wait_for("input[name=email]", "back at the login form")
        .await;
    client.goto(&app.url("/account")).await.expect("goto");
    browser
        .wait_for(
            "form[action='/login']",
            "signed out: protected pages send to login",
        )
        .await;

    browser.close().await;
    app.stop().await;
}
