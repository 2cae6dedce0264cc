//! The Team page in Chromium with a real SMTP server: an admin invites, the
//! invitee opens the link from the mail in a second browser and joins, the
//! admin changes the new member's role and removes them, and the member's open
//! page (the monitor, on its live stream) stops at once and goes to sign-in.

mod common;

use std::time::Duration;

use common::TestApp;
use common::browser::Browser;
use common::smtp::SmtpServer;
use fantoccini::Locator;
use hummbl::auth::Role;

async fn current_path(browser: &Browser) -> String {
    browser
        .client
        .current_url()
        .await
        .map(|url| url.path().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_invitee_joins_from_the_mail_and_loses_access_when_removed() {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let Some(admin) = Browser::start().await else {
        return;
    };
    let Some(invitee) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn_with(|config| {
        config.smtp_url = Some(smtp.url().into());
        config.workers.mail_poll = Duration::from_millis(50);
    })
    .await;
    let (_, team) = app
        .user("lead@example.com", "lead-password-1", None, Role::Owner)
        .await;
    app.user(
        "second@example.com",
        "second-password-1",
        Some(&team),
        Role::Admin,
    )
    .await;

    // The admin invites from the Team page.
    admin
        .sign_in(&app.base, "second@example.com", "second-password-1")
        .await;
    admin
        .client
        .goto(&app.url("/team"))
        .await
        .expect("team page");
    let form = admin
        .client
        .form(Locator::Css("form[action='/team/invitations']"))
        .await
        .expect("invite form");
    form.set_by_name("email", "joiner@example.com")
        .await
        .expect("email");
    admin
        .client
        .find(Locator::Css("#invite-role"))
        .await
        .expect("role")
        .select_by_value("member")
        .await
        .expect("member");
    form.submit().await.expect("invite");
    admin
        .wait_for("#invitations-title", "the pending invitations")
        .await;

    // The mail arrives; the invitee opens its link in another browser.
    let mail = smtp.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(mail.len(), 1, "the invitation mail");
    let token = mail[0].invitation_token();
    invitee
        .client
        .goto(&app.url(&format!("/invite/{token}")))
        .await
        .expect("invite page");
    invitee.wait_for("#invite-title", "the invitation").await;
    invitee.save_screenshot("invitation.png").await;
    let form = invitee
        .client
        .form(Locator::Css("section.login-card form"))
        .await
        .expect("accept form");
    form.set_by_name("name", "Joiner").await.expect("name");
    form.set_by_name("password", "joiner-password-1")
        .await
        .expect("password");
    form.submit().await.expect("join");
    invitee
        .wait_for("nav[aria-label=Main]", "signed in to the team")
        .await;

    // The admin sees the new member, makes them a viewer.
    admin
        .client
        .goto(&app.url("/team"))
        .await
        .expect("team page");
    admin.wait_for("a[href^='/team/members/']", "members").await;
    let source = admin.client.source().await.expect("source");
    assert!(
        source.contains("Joiner") && source.contains("User second@example.com"),
        "invited by the admin"
    );
    let role_select = admin
        .client
        .find(Locator::XPath(
            "//tr[.//a[text()='Joiner']]//select[@name='role']",
        ))
        .await
        .expect("the joiner's role");
    role_select.select_by_value("viewer").await.expect("viewer");
    admin
        .client
        .find(Locator::Css(
            "button[aria-label='Change the role of Joiner']",
        ))
        .await
        .expect("change")
        .click()
        .await
        .expect("change role");
    admin
        .client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(
            "//tr[.//a[text()='Joiner']]//option[@value='viewer' and @selected]",
        ))
        .await
        .expect("the role changed");
    admin.save_screenshot("team.png").await;

    // The member watches the monitor; removal stops that page at once.
    invitee
        .client
        .goto(&app.url("/monitor"))
        .await
        .expect("monitor");
    invitee.wait_for("#executions", "the monitor").await;
    admin
        .client
        .find(Locator::Css("button[aria-label='Remove Joiner']"))
        .await
        .expect("remove")
        .click()
        .await
        .expect("remove");
    admin
        .client
        .accept_alert()
        .await
        .expect("confirm the removal");
    admin.wait_for("#invite-title", "the team page again").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while current_path(&invitee).await != "/login" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the removed member's page kept working at {}",
            current_path(&invitee).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    admin.close().await;
    invitee.close().await;
    app.stop().await;
}
