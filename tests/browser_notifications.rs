//! The notification center in Chromium: with two tabs open (one on another
//! page), a new notification raises the badge in both without a reload (one
//! tab follows the stream and passes it on), appears at the top of the list
//! in bold, and marking it read lowers every badge.

mod common;

use std::time::Duration;

use common::TestApp;
use common::browser::Browser;
use fantoccini::Locator;
use hummbl::auth::Role;
use hummbl::notifications::{NewNotification, NotificationType};

async fn notify(app: &TestApp, team: &str, user: &str, title: &str) {
    let mut tx = app.db.begin().await.expect("tx");
    let new = NewNotification {
        team_id: team,
        kind: NotificationType::ExecutionFailed,
        title: title.to_string(),
        message: "step only: provider said 400".into(),
        link: Some("/monitor".into()),
        mail_by_default: false,
    };
    let created = hummbl::notifications::notify_in(&mut tx, &new, &[user.to_string()])
        .await
        .expect("notify");
    tx.commit().await.expect("commit");
    created.announce(&app.state.bus);
}

/// The badge's count as the page shows it (0 when hidden).
async fn badge(browser: &Browser) -> u64 {
    let shown: serde_json::Value = browser
        .client
        .execute(
            "const b = document.querySelector('[data-unread-badge]');\
             return b && !b.hidden ? Number(b.querySelector('[data-unread-count]').textContent) : 0;",
            vec![],
        )
        .await
        .expect("badge");
    shown.as_u64().unwrap_or(0)
}

/// Waits (up to 5 s) until the current tab's badge reads `count`.
async fn badge_reads(browser: &Browser, count: u64, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let shown = badge(browser).await;
        if shown == count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: the badge reads {shown}, expected {count}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_notification_arrives_live_in_every_tab_and_reading_it_lowers_the_badge() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let (ada, team) = app
        .user("ada@example.com", "ada-password-1", None, Role::Owner)
        .await;
    notify(&app, &team, &ada, "Nightly import failed").await;
    browser
        .sign_in(&app.base, "ada@example.com", "ada-password-1")
        .await;
    let client = &browser.client;

    // Tab one: another page; its badge shows the one unread from the start.
    client
        .goto(&app.url("/analytics"))
        .await
        .expect("analytics");
    badge_reads(&browser, 1, "at load").await;
    let first_tab = client.window().await.expect("window");

    // Tab two: the notification center.
    let second = client.new_window(true).await.expect("new tab");
    client
        .switch_to_window(second.handle.clone())
        .await
        .expect("switch");
    client
        .goto(&app.url("/notifications"))
        .await
        .expect("notifications");
    browser
        .wait_for("li.notification.unread", "the unread notification")
        .await;
    // Both tabs have loaded their script before the next one comes.
    tokio::time::sleep(Duration::from_millis(500)).await;

    notify(&app, &team, &ada, "Weekly brief failed").await;
    browser
        .wait_for(
            "#notifications li.notification.unread:first-child[data-type='execution_failed']",
            "the new notification at the top",
        )
        .await;
    let top = client
        .find(Locator::Css(
            "#notifications li:first-child .notification-title",
        ))
        .await
        .expect("top")
        .text()
        .await
        .expect("title");
    assert!(top.contains("Weekly brief failed"), "{top}");
    let weight: serde_json::Value = client
        .execute(
            "return getComputedStyle(document.querySelector('#notifications li:first-child .notification-title')).fontWeight;",
            vec![],
        )
        .await
        .expect("weight");
    assert_eq!(weight, "700", "unread in bold");
    badge_reads(&browser, 2, "the list's tab").await;
    browser.save_screenshot("notifications.png").await;

    client
        .switch_to_window(first_tab.clone())
        .await
        .expect("back");
    badge_reads(&browser, 2, "the other tab, without a reload").await;

    // Mark the top one read in the list's tab: the other tab's badge follows.
    client
        .switch_to_window(second.handle.clone())
        .await
        .expect("list");
    client
        .find(Locator::Css(
            "#notifications li:first-child button.toggle-read",
        ))
        .await
        .expect("mark read")
        .click()
        .await
        .expect("click");
    browser
        .wait_for(
            "#notifications li:first-child:not(.unread)",
            "the top one read",
        )
        .await;
    badge_reads(&browser, 1, "after marking read").await;
    client.switch_to_window(first_tab).await.expect("back");
    badge_reads(&browser, 1, "the other tab after the read").await;
    browser.close().await;
    app.stop().await;
}
