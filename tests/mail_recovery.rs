//! Mail across a restart and over time: a message claimed by a process that
//! died mid-send goes out once its lease runs out, once; an expired
//! invitation's link answers 410 saying so.

mod common;

use std::time::Duration;

use common::runtime::owner_api;
use common::smtp::SmtpServer;
use common::{TestApp, client};
use serde_json::json;

#[tokio::test]
async fn a_message_claimed_by_a_process_that_died_is_sent_once_after_its_lease() {
    let Some(mut smtp) = SmtpServer::start().await else {
        return;
    };
    smtp.stop();
    let app = TestApp::spawn_with(|config| {
        config.smtp_url = Some(smtp.url().into());
        config.workers.mail_poll = Duration::from_millis(50);
        config.workers.mail_retry.base = Duration::from_secs(3600);
    })
    .await;
    let (owner, _) = owner_api(&app, "crashed").await;
    let (status, _) = owner
        .post(
            "/api/team/invitations",
            json!({"email": "after@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, 201);
    // Another replica claimed it and died: its lease has a second to run.
    let lease_ends = hummbl::storage::now_ms() + 1_000;
    sqlx::query(
        "UPDATE mail_outbox SET status = 'sending', lease_owner = 'mail-dead-replica', lease_expires_at = $1, \
         attempts = 1, next_attempt_at = $1 WHERE recipient = 'after@example.com'",
    )
    .bind(lease_ends)
    .execute(app.db.write())
    .await
    .expect("a claim by a dead process");
    smtp.resume().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        smtp.received().is_empty(),
        "not while the other claim holds"
    );
    let received = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 1, "sent once the lease ran out");
    assert!(hummbl::storage::now_ms() >= lease_ends);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 1, "and only once");
    let (_, outbox) = owner.get("/api/mail/outbox").await;
    assert_eq!(outbox["messages"][0]["status"], "sent", "{outbox}");
    assert_eq!(outbox["messages"][0]["attempts"], 2);
    app.stop().await;
}

#[tokio::test]
async fn an_expired_link_says_so_and_a_resend_renews_it() {
    let app = TestApp::spawn().await;
    let (owner, _) = owner_api(&app, "expiry").await;
    let (_, invitation) = owner
        .post(
            "/api/team/invitations",
            json!({"email": "slow@example.com", "role": "member"}),
        )
        .await;
    let id = invitation["id"].as_str().expect("id").to_string();
    let (_, link) = owner
        .post(&format!("/api/team/invitations/{id}/link"), json!({}))
        .await;
    let token = link["url"]
        .as_str()
        .and_then(|url| url.rsplit('/').next())
        .expect("token")
        .to_string();
    sqlx::query("UPDATE invitations SET expires_at = $1 WHERE id = $2")
        .bind(hummbl::storage::now_ms() - 1)
        .bind(&id)
        .execute(app.db.write())
        .await
        .expect("expire");
    let page = client()
        .get(app.url(&format!("/invite/{token}")))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 410);
    let html = page.text().await.expect("html");
    assert!(
        html.contains("expired") && html.contains("ask User expiry@example.com"),
        "{html}"
    );
    let (_, pending) = owner.get("/api/team/invitations").await;
    assert_eq!(pending["invitations"][0]["state"], "expired");
    let (status, renewed) = owner
        .post(&format!("/api/team/invitations/{id}/resend"), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(renewed["state"], "pending", "{renewed}");
    app.stop().await;
}
