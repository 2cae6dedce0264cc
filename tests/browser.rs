//! The console in a real browser (headless Chromium): log in through the form,
//! see the shell, switch team, log out.

mod common;

use std::time::Duration;

use common::TestApp;
use common::browser::Browser;
use fantoccini::Locator;

async fn heading(browser: &Browser) -> String {
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("main h1"))
        .await
        .expect("page heading")
        .text()
        .await
        .expect("heading text")
}

#[tokio::test]
async fn log_in_see_the_shell_switch_team_and_log_out() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    hummbl::demo::seed(&app.db).await.expect("demo data");
    let client = &browser.client;

    // Anonymous: sent to the login form.
    client.goto(&app.url("/")).await.expect("goto");
    let email = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("input[name=email]"))
        .await
        .expect("login form");
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
    assert_eq!(heading(&browser).await, hummbl::demo::DEMO_TEAM);
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
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(&format!(
            "//main//h1[text()='{}']",
            hummbl::demo::SECOND_TEAM
        )))
        .await
        .expect("switched team");
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
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("input[name=email]"))
        .await
        .expect("back at the login form");
    client.goto(&app.url("/account")).await.expect("goto");
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("form[action='/login']"))
        .await
        .expect("signed out: protected pages send to login");

    browser.close().await;
    app.stop().await;
}
