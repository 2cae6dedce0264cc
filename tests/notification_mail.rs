//! Notifications by mail, against a real SMTP server (aiosmtpd on loopback):
//! a type chosen by mail is mailed (and with the console off for it, kept as
//! read); the digest goes once per period with two replicas running and
//! across a restart, lists what is unread, and a period with nothing unread
//! sends nothing; bad digest settings are refused naming the field.

mod common;

use std::time::Duration;

use common::TestApp;
use common::fake_provider::{FakeProvider, GOOD_KEY};
use common::runtime::{Api, fast_retries, owner_api};
use common::smtp::{SmtpServer, mail_to};
use reqwest::Method;
use serde_json::{Value, json};

fn quick(server: &SmtpServer) -> impl FnOnce(&mut hummbl::config::Config) + '_ {
    move |config| {
        fast_retries(config);
        mail_to(server)(config);
        config.workers.digests = Duration::from_millis(50);
    }
}

async fn breaks(api: &Api, fake: &common::fake_provider::Running) -> String {
    let key = api
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = api.agent("Breaker", "openai", "gpt-4o-mini", &key).await;
    api.workflow(
        "Breaks",
        json!([{"id": "only", "agent": agent, "prompt": "[fail:400] go"}]),
    )
    .await
}

async fn fail(api: &Api, workflow: &str) {
    let id = api.run(workflow, json!({})).await;
    assert_eq!(api.wait_finished(&id).await["status"], "failed");
}

async fn save(api: &Api, changes: Value) -> Value {
    let (status, saved) = api
        .send(Method::PUT, "/api/notifications/preferences", Some(changes))
        .await;
    assert_eq!(status, 200, "{saved}");
    saved
}

fn subjects(server: &SmtpServer) -> Vec<String> {
    server
        .received()
        .iter()
        .map(|mail| mail.header("Subject"))
        .collect()
}

#[tokio::test]
async fn a_type_chosen_by_mail_is_mailed_and_without_the_console_arrives_read() {
    let Some(server) = SmtpServer::start().await else {
        return;
    };
    let app = TestApp::spawn_with(quick(&server)).await;
    let fake = FakeProvider::start().await;
    let (owner, _) = owner_api(&app, "mail-types").await;
    let workflow = breaks(&owner, &fake).await;

    fail(&owner, &workflow).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.received().is_empty(), "no mail until chosen");

    let saved = save(&owner, json!({"email": {"execution_failed": true}})).await;
    let chosen = saved["preferences"]
        .as_array()
        .expect("preferences")
        .iter()
        .find(|p| p["type"] == "execution_failed")
        .cloned()
        .expect("execution_failed");
    assert_eq!(chosen["email"], true);
    assert_eq!(chosen["in_app"], true, "the console part kept its default");
    fail(&owner, &workflow).await;
    let received = server.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 1);
    assert!(received[0].header("Subject").ends_with("] Breaks failed"));
    assert!(
        received[0].text().contains("/monitor/"),
        "{}",
        received[0].text()
    );

    save(&owner, json!({"in_app": {"execution_failed": false}})).await;
    let (_, before) = owner.get("/api/notifications").await;
    fail(&owner, &workflow).await;
    assert_eq!(server.wait_for(2, Duration::from_secs(10)).await.len(), 2);
    let (_, after) = owner.get("/api/notifications?type=execution_failed").await;
    let newest = &after["notifications"][0];
    assert_eq!(newest["read"], true, "mailed only: kept as read");
    assert_eq!(after["unread"], before["unread"], "the badge did not move");
    app.stop().await;
}

#[tokio::test]
async fn the_digest_goes_once_per_period_across_replicas_and_a_restart() {
    let Some(server) = SmtpServer::start().await else {
        return;
    };
    let app = TestApp::spawn_with(quick(&server)).await;
    let second = app.replica().await;
    let fake = FakeProvider::start().await;
    let (owner, _) = owner_api(&app, "digest-owner").await;
    let user_id: String = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind("digest-owner@example.com")
        .fetch_one(app.db.read())
        .await
        .expect("user");
    let workflow = breaks(&owner, &fake).await;
    fail(&owner, &workflow).await;
    fail(&owner, &workflow).await;

    let saved = save(
        &owner,
        json!({"digest": {"frequency": "daily", "hour": 8, "timezone": "Europe/Berlin"}}),
    )
    .await;
    let now = hummbl::storage::now_ms();
    let next = saved["digest"]["next_due_at"]
        .as_i64()
        .expect("next_due_at");
    assert!(next > now && next <= now + 86_400_000, "{saved}");

    // The period ends in a moment (a test cannot wait for 08:00), with both
    // replicas' workers looking.
    let period_end = hummbl::storage::now_ms() + 300;
    force_due(&app, &user_id, period_end).await;
    let received = server.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 1, "{:?}", subjects(&server));
    let digest = &received[0];
    assert_eq!(
        digest.header("Subject"),
        "HUMMBL digest: 2 unread notifications"
    );
    assert!(digest.text().contains("Breaks failed"), "{}", digest.text());
    assert!(digest.html().contains("Open your notifications"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.received().len(), 1, "two replicas, one digest");
    let (_, prefs) = owner.get("/api/notifications/preferences").await;
    assert!(
        prefs["digest"]["next_due_at"].as_i64() > Some(hummbl::storage::now_ms()),
        "moved on to the next 08:00: {prefs}"
    );
    second.stop().await;

    // After a restart the same period comes due again (as if its move had
    // been lost): nothing is sent, the period's row is there.
    let app = app.restart(|_| async {}).await;
    sqlx::query(
        "UPDATE notification_digest_settings SET next_due_at = $1, sent_through = NULL WHERE user_id = $2",
    )
    .bind(period_end)
    .bind(&user_id)
    .execute(app.db.write())
    .await
    .expect("rewind");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.received().len(), 1, "once across the restart");
    assert_eq!(digests(&app, &user_id).await, vec![2]);
    let moved: Option<i64> = sqlx::query_scalar(
        "SELECT next_due_at FROM notification_digest_settings WHERE user_id = $1",
    )
    .bind(&user_id)
    .fetch_one(app.db.read())
    .await
    .expect("settings");
    assert!(
        moved > Some(period_end),
        "the restarted worker saw the period and moved on"
    );

    // A period with nothing unread records itself and sends nothing.
    let owner = Api {
        base: app.base.clone(),
        ..owner
    };
    owner.post("/api/notifications/read-all", json!({})).await;
    force_due(&app, &user_id, hummbl::storage::now_ms() + 100).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while digests(&app, &user_id).await.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "second period never recorded"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(digests(&app, &user_id).await, vec![2, 0]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.received().len(), 1, "nothing unread, nothing sent");
    app.stop().await;
}

async fn force_due(app: &TestApp, user_id: &str, at: i64) {
    sqlx::query("UPDATE notification_digest_settings SET next_due_at = $1 WHERE user_id = $2")
        .bind(at)
        .bind(user_id)
        .execute(app.db.write())
        .await
        .expect("force due");
}

/// The items of each recorded digest of the user, oldest first.
async fn digests(app: &TestApp, user_id: &str) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT items FROM notification_digests WHERE user_id = $1 ORDER BY period_end",
    )
    .bind(user_id)
    .fetch_all(app.db.read())
    .await
    .expect("digests")
}

#[tokio::test]
async fn bad_digest_settings_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (owner, _) = owner_api(&app, "digest-bad").await;
    for (digest, field) in [
        (
            json!({"frequency": "daily", "hour": 24}),
            Some("digest.hour"),
        ),
        (
            json!({"frequency": "weekly", "weekday": 7}),
            Some("digest.weekday"),
        ),
        (
            json!({"frequency": "daily", "timezone": "Mars/Base"}),
            Some("digest.timezone"),
        ),
        (json!({"frequency": "hourly"}), None),
    ] {
        let body = json!({"digest": digest, "in_app": {"execution_failed": false}});
        let (status, answer) = owner
            .send(
                Method::PUT,
                "/api/notifications/preferences",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 422, "{body} → {answer}");
        if let Some(field) = field {
            assert_eq!(answer["error"]["field"], field, "{answer}");
        }
    }
    let (_, prefs) = owner.get("/api/notifications/preferences").await;
    assert_eq!(prefs["digest"]["frequency"], "off");
    assert!(
        prefs["preferences"]
            .as_array()
            .expect("preferences")
            .iter()
            .any(|p| p["type"] == "execution_failed" && p["in_app"] == true),
        "the refused request saved nothing: {prefs}"
    );
    app.stop().await;
}
