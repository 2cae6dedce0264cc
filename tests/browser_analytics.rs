//! The analytics dashboard in headless Chromium on the demo data: the charts are
//! there without any script of their own, the range switch keeps its choice in
//! the URL, the numbers are one click away, and a screenshot is saved for the
//! README (docs/screenshots/analytics.png); and the token usage page, whose CSV
//! link is followed and parsed (docs/screenshots/token-usage.png).

mod common;

use common::TestApp;
use common::browser::Browser;
use fantoccini::Locator;

#[tokio::test]
async fn the_dashboard_renders_switches_range_and_shows_its_numbers() {
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

    client
        .goto(&app.url("/analytics?days=30"))
        .await
        .expect("goto");
    browser
        .wait_for("figure#chart-peaks svg", "the heat map")
        .await;
    let figures = client
        .find_all(Locator::Css("figure.chart svg[role=img]"))
        .await
        .expect("charts");
    assert_eq!(figures.len(), 5);
    let executions = client
        .find(Locator::Css("#card-executions + .metric"))
        .await
        .expect("card")
        .text()
        .await
        .expect("text");
    assert_eq!(executions, "3,600");

    // The range switch is a plain link; the choice stays in the URL.
    client
        .find(Locator::LinkText("7 days"))
        .await
        .expect("7 days")
        .click()
        .await
        .expect("click");
    browser
        .wait_for(
            "a[href='/analytics?days=7'][aria-current=page]",
            "7 days chosen",
        )
        .await;
    assert!(
        client
            .current_url()
            .await
            .expect("url")
            .as_str()
            .ends_with("/analytics?days=7")
    );

    // The numbers behind a chart are one click away.
    let numbers = client
        .find(Locator::Css("#chart-agents details summary"))
        .await
        .expect("numbers toggle");
    numbers.click().await.expect("open");
    let rows = client
        .find_all(Locator::Css("#chart-agents details table tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 6, "one row per demo agent");

    client
        .goto(&app.url("/analytics?days=30"))
        .await
        .expect("goto");
    browser.wait_for("figure#chart-peaks svg", "page").await;
    browser.save_screenshot("analytics.png").await;

    // The token page: its charts, and the CSV of what it shows, fetched by the
    // page's own download link and parsed.
    client
        .goto(&app.url("/analytics/tokens?days=30"))
        .await
        .expect("goto");
    browser
        .wait_for("figure#chart-models svg", "the donut")
        .await;
    let csv = client
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             fetch(document.querySelector('a[download]').href).then((r) => r.text()).then(done, (e) => done(String(e)));",
            vec![],
        )
        .await
        .expect("fetch the CSV");
    let csv = csv.as_str().expect("CSV text");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(reader.headers().expect("header").get(0), Some("workflow"));
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("record")).collect();
    assert!(records.len() >= 6, "{} rows", records.len());
    browser.save_screenshot("token-usage.png").await;

    browser.close().await;
    app.stop().await;
}
