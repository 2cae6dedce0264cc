//! The Content-Security-Policy breaks no page: headless Chromium opens every page
//! of the route table (and the login page, the error pages and the monitor's
//! dialog) under the real policy, and the server's
//! `hummbl_csp_violations_total` must stay at zero.
//!
//! Why the report endpoint and not the page itself: a `securitypolicyviolation`
//! listener in app.js runs only after the markup it would judge was parsed (and
//! never if the policy blocked app.js itself), and WebDriver has no standard way
//! to read the browser's console. The policy's `report-uri` is what operators
//! rely on, so the test relies on it too. Reports travel asynchronously, so the
//! test ends with a violation of its own (an inline style set through WebDriver)
//! and waits for that one: it proves reports arrive, and any violation of the
//! pages, sent before it, has arrived by then.

mod common;

use std::time::Duration;

use common::TestApp;
use common::browser::Browser;
use fantoccini::Locator;

/// Every `hummbl_csp_violations_total` series, as (labels, count).
fn violations(metrics: &str) -> Vec<(String, u64)> {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix("hummbl_csp_violations_total"))
        .filter_map(|rest| rest.rsplit_once(' '))
        .map(|(labels, count)| (labels.to_string(), count.parse().unwrap_or(0)))
        .collect()
}

/// Opens `path` and waits for its `main` (the page has loaded and run its scripts).
async fn open(browser: &Browser, app: &TestApp, path: &str) {
    browser
        .client
        .goto(&app.url(path))
        .await
        .unwrap_or_else(|err| panic!("goto {path}: {err}"));
    browser.wait_for("main", path).await;
}

/// The pages whose look the README shows (docs/screenshots), by path.
fn screenshot_of(path: &str) -> Option<&'static str> {
    match path {
        "/settings/api-keys" => Some("api-keys.png"),
        "/agents" => Some("agents.png"),
        "/workflows" => Some("workflows.png"),
        "/notifications/alerts" => Some("alerts.png"),
        "/notifications/settings" => Some("notification-settings.png"),
        _ if path.starts_with("/workflows/")
            && path.matches('/').count() == 2
            && path != "/workflows/new" =>
        {
            Some("workflow.png")
        }
        _ => None,
    }
}

#[tokio::test]
async fn no_page_of_the_console_violates_the_content_security_policy() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    hummbl::demo::seed(&app.db, &app.state.vault)
        .await
        .expect("demo data");
    // The demo's alert rules checked once, as the worker would within 30 s.
    hummbl::alerts::check::tick(app.state.clone())
        .await
        .expect("alert check");

    // Anonymous: the login form and the error page without the shell.
    open(&browser, &app, "/login").await;
    open(&browser, &app, "/no-such-page").await;

    browser
        .sign_in(&app.base, "owner@demo.hummbl.dev", "owner-demo-pass")
        .await;
    let pages = common::browser::demo_page_paths(&app).await;
    let mut too_wide = Vec::new();
    for path in &pages {
        open(&browser, &app, path).await;
        if let Some(name) = screenshot_of(path) {
            browser.save_screenshot(name).await;
        }
        // Wide tables scroll in their own box; the page itself never sideways.
        let widths = browser
            .client
            .execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]",
                vec![],
            )
            .await
            .expect("page widths");
        if widths[0].as_i64() > widths[1].as_i64() {
            too_wide.push(format!("{path} {widths}"));
        }
    }
    assert!(
        too_wide.is_empty(),
        "pages wider than the 1280 px window: {too_wide:?}"
    );
    open(&browser, &app, "/no-such-page").await;

    // The monitor opens an execution's page inside a dialog (monitor.js).
    browser.open_execution_dialog(&app.base).await;

    // A violation of our own: proves reports arrive, and arrives after any
    // report of the pages above.
    browser
        .client
        .execute(
            "document.body.setAttribute('style', 'outline: 1px solid red')",
            vec![],
        )
        .await
        .expect("set an inline style");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let seen = loop {
        let seen = violations(&app.metrics_text().await);
        if seen
            .iter()
            .any(|(labels, _)| labels.contains("style-src-attr"))
            || tokio::time::Instant::now() > deadline
        {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        seen,
        vec![(r#"{directive="style-src-attr"}"#.to_string(), 1)],
        "only the test's own violation was reported (the server log names the page of any other)"
    );
    assert!(
        browser
            .client
            .find(Locator::Css("dialog#execution-dialog[open]"))
            .await
            .is_ok()
    );
    browser.close().await;
    app.stop().await;
}
