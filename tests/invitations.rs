//! Invitations and mail against a real SMTP server (aiosmtpd on loopback): the
//! invitation mail arrives with a text and an HTML part and a link that works
//! once; an SMTP outage delays it and it is sent once after; two concurrent
//! accepts, exactly one wins; the role rules over every pair of roles; bad
//! input; a re-invitation kills the old link; with mail off the link is taken
//! on the Team page.

mod common;

use std::time::Duration;

use common::runtime::{Api, member_api, owner_api};
use common::smtp::{SmtpServer, mail_to};
use common::{TestApp, client};
use hummbl::auth::Role;
use serde_json::{Value, json};

async fn accept(app: &TestApp, token: &str, name: &str) -> (u16, Value) {
    let response = client()
        .post(app.url("/api/invitations/accept"))
        .json(&json!({"token": token, "name": name, "password": "invitee-password-1"}))
        .send()
        .await
        .expect("accept");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn outbox(owner: &Api) -> Vec<Value> {
    let (status, body) = owner.get("/api/mail/outbox").await;
    assert_eq!(status, 200, "{body}");
    body["messages"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_invitation_mail_has_both_parts_and_its_link_works_once() {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let app = TestApp::spawn_with(mail_to(&smtp)).await;
    let (owner, team) = owner_api(&app, "inviter").await;

    let (status, invitation) = owner
        .post(
            "/api/team/invitations",
            json!({"email": "Bo@Example.com", "role": "member"}),
        )
        .await;
    assert_eq!(status, 201, "{invitation}");
    assert_eq!(invitation["email"], "bo@example.com");
    assert_eq!(invitation["role"], "member");
    assert!(invitation["expires_at"].as_i64() > Some(hummbl::storage::now_ms() + 6 * 86_400_000));
    assert!(invitation["id"].is_string());

    let received = smtp.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(received.len(), 1, "the invitation mail arrives");
    let mail = &received[0];
    assert!(
        mail.header("To").contains("bo@example.com"),
        "{}",
        mail.header("To")
    );
    assert!(
        mail.header("Subject").contains("join"),
        "{}",
        mail.header("Subject")
    );
    assert!(mail.header("Message-ID").ends_with("@example.com>"));
    let token = mail.invitation_token();
    assert_eq!(token.len(), 43, "a 256-bit token");
    assert!(mail.text().contains(&format!("/invite/{token}")));
    assert!(
        mail.html().contains(&format!("/invite/{token}")),
        "{}",
        mail.html()
    );
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM invitations WHERE token_hash = $1 OR email = $1")
            .bind(&token)
            .fetch_one(app.db.read())
            .await
            .expect("count");
    assert_eq!(stored, 0, "the token itself is stored nowhere");

    let page = client()
        .get(app.url(&format!("/invite/{token}")))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.expect("html");
    assert!(html.contains("Create account and join") && html.contains("bo@example.com"));

    let (status, accepted) = accept(&app, &token, "Bo").await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["team_id"], team.as_str());
    let (status, again) = accept(&app, &token, "Eve").await;
    assert_eq!(status, 410, "a link works once: {again}");
    let used = client()
        .get(app.url(&format!("/invite/{token}")))
        .send()
        .await
        .expect("page");
    assert_eq!(used.status(), 410);
    let html = used.text().await.expect("html");
    assert!(
        html.contains("already used") && html.contains("ask User inviter@example.com"),
        "{html}"
    );

    let (_, members) = owner.get("/api/team/members").await;
    let bo = members["members"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["email"] == "bo@example.com"))
        .cloned()
        .unwrap_or_else(|| panic!("bo joined: {members}"));
    assert_eq!(bo["role"], "member");
    let (_, pending) = owner.get("/api/team/invitations").await;
    assert_eq!(pending["invitations"], json!([]), "no longer pending");
    let sent = outbox(&owner).await;
    assert_eq!(sent[0]["status"], "sent", "{sent:?}");
    let (_, team_page) = owner.page("/team").await;
    assert!(team_page.contains("bo@example.com") && team_page.contains("User inviter@example.com"));
    app.stop().await;
}

#[tokio::test]
async fn an_smtp_outage_delays_the_mail_which_is_then_sent_once() {
    let Some(mut smtp) = SmtpServer::start().await else {
        return;
    };
    let app = TestApp::spawn_with(mail_to(&smtp)).await;
    let (owner, _) = owner_api(&app, "outage").await;
    smtp.stop();
    let (status, _) = owner
        .post(
            "/api/team/invitations",
            json!({"email": "late@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, 201);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let messages = outbox(&owner).await;
        let first = &messages[0];
        // Between attempts the row waits as `pending`; while the worker
        // holds an attempt it reads `sending`, so wait for the former.
        if first["attempts"].as_i64() >= Some(3) && first["status"] == "pending" {
            assert!(
                first["last_error"].is_string(),
                "the failure is shown: {first}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no retries: {first}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(smtp.received().is_empty());
    smtp.resume().await;
    let received = smtp.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(received.len(), 1, "sent after the server returned");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(smtp.received().len(), 1, "and only once");
    assert_eq!(outbox(&owner).await[0]["status"], "sent");
    app.stop().await;
}

/// With mail off, the admin takes the link (`/link`); both accepts race.
#[tokio::test]
async fn of_two_concurrent_accepts_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let (owner, _) = owner_api(&app, "race").await;
    let (_, invitation) = owner
        .post(
            "/api/team/invitations",
            json!({"email": "racer@example.com", "role": "viewer"}),
        )
        .await;
    let id = invitation["id"].as_str().expect("id").to_string();
    let (status, link) = owner
        .post(&format!("/api/team/invitations/{id}/link"), json!({}))
        .await;
    assert_eq!(status, 200, "{link}");
    let url = link["url"].as_str().expect("url").to_string();
    let token = url.rsplit('/').next().expect("token").to_string();
    let (first, second) = tokio::join!(accept(&app, &token, "One"), accept(&app, &token, "Two"));
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [200, 410], "{first:?} {second:?}");
    let accounts: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = 'racer@example.com'")
            .fetch_one(app.db.read())
            .await
            .expect("count");
    assert_eq!(accounts, 1, "the loser created nothing");
    let outbox = outbox(&owner).await;
    assert_eq!(
        outbox[0]["status"], "cancelled",
        "the unsent mail is dropped: {outbox:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn invitations_follow_the_role_rules_for_every_pair() {
    let app = TestApp::spawn().await;
    let (team, users) = app.team_with_every_role("pairs").await;
    let roles = [Role::Viewer, Role::Member, Role::Admin, Role::Owner];
    let mut n = 0;
    for (inviter_role, inviter) in &users {
        let cookie = app.session_cookie(inviter, &team).await;
        for invited in roles {
            n += 1;
            let response = client()
                .post(app.url("/api/team/invitations"))
                .header("cookie", &cookie)
                .json(&json!({"email": format!("pair-{n}@example.com"), "role": invited}))
                .send()
                .await
                .expect("invite");
            let allowed = *inviter_role >= Role::Admin && invited <= *inviter_role;
            let expected = if allowed { 201 } else { 403 };
            assert_eq!(
                response.status().as_u16(),
                expected,
                "{inviter_role:?} inviting {invited:?}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn bad_invitations_are_refused_and_a_new_one_replaces_the_old() {
    let app = TestApp::spawn().await;
    let (owner, team) = owner_api(&app, "rules").await;
    for (body, field) in [
        (
            json!({"email": "not-an-address", "role": "member"}),
            "email",
        ),
        (
            json!({"email": "ok@example.com", "role": "superuser"}),
            "role",
        ),
    ] {
        let (status, error) = owner.post("/api/team/invitations", body).await;
        assert_eq!(status, 422, "{error}");
        assert_eq!(error["error"]["field"], field);
    }
    member_api(&app, &team, "already", Role::Viewer).await;
    let (status, _) = owner
        .post(
            "/api/team/invitations",
            json!({"email": "already@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(status, 409, "already a member");

    let (_, first) = owner
        .post(
            "/api/team/invitations",
            json!({"email": "twice@example.com", "role": "viewer"}),
        )
        .await;
    let first_id = first["id"].as_str().expect("id");
    let (_, link) = owner
        .post(&format!("/api/team/invitations/{first_id}/link"), json!({}))
        .await;
    let old_token = link["url"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .expect("token")
        .to_string();
    let (status, second) = owner
        .post(
            "/api/team/invitations",
            json!({"email": "twice@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, pending) = owner.get("/api/team/invitations").await;
    let listed: Vec<&Value> = pending["invitations"]
        .as_array()
        .expect("list")
        .iter()
        .collect();
    assert_eq!(
        listed.len(),
        1,
        "one open invitation per address: {pending}"
    );
    assert_eq!(listed[0]["id"], second["id"]);
    let old = client()
        .get(app.url(&format!("/invite/{old_token}")))
        .send()
        .await
        .expect("old");
    assert_eq!(old.status(), 410, "the replaced link is dead");
    assert!(old.text().await.expect("html").contains("withdrawn"));

    let second_id = second["id"].as_str().expect("id");
    let (_, link) = owner
        .post(
            &format!("/api/team/invitations/{second_id}/link"),
            json!({}),
        )
        .await;
    let token = link["url"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .expect("token")
        .to_string();
    let (status, _) = owner
        .post(
            &format!("/api/team/invitations/{second_id}/resend"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = accept(&app, &token, "Late").await;
    assert_eq!(status, 410, "a resend kills the old link: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("replaced by a newer one"),
        "the answer says the link was replaced: {body}"
    );
    let page = client()
        .get(app.url(&format!("/invite/{token}")))
        .send()
        .await
        .expect("invite page");
    assert_eq!(page.status(), 410, "the replaced link's page says so too");
    let text = page.text().await.expect("page body");
    assert!(text.contains("replaced by a newer one"), "{text}");
    let (status, _) = accept(&app, "never-issued-token", "Nobody").await;
    assert_eq!(status, 404, "a token that never was stays unknown");
    let (status, _) = owner
        .send(
            reqwest::Method::DELETE,
            &format!("/api/team/invitations/{second_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, short) = accept(&app, "x", "Nobody").await;
    assert_eq!(short["error"]["code"], "not_found");
    app.stop().await;
}

#[tokio::test]
async fn an_existing_account_joins_with_its_password_and_mail_on_keeps_links_in_mail() {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let app = TestApp::spawn_with(mail_to(&smtp)).await;
    let (owner, team) = owner_api(&app, "second-team").await;
    let (other, _) = owner_api(&app, "elsewhere").await;
    let (_, invitation) = owner
        .post(
            "/api/team/invitations",
            json!({"email": "elsewhere@example.com", "role": "viewer"}),
        )
        .await;
    let id = invitation["id"].as_str().expect("id");
    let (status, _) = owner
        .post(&format!("/api/team/invitations/{id}/link"), json!({}))
        .await;
    assert_eq!(status, 409, "with mail on, the link goes only by mail");
    let token = smtp.wait_for(1, Duration::from_secs(15)).await[0].invitation_token();
    let wrong = client()
        .post(app.url("/api/invitations/accept"))
        .json(&json!({"token": token, "password": "not-the-password"}))
        .send()
        .await
        .expect("accept");
    assert_eq!(wrong.status(), 422);
    let right = client()
        .post(app.url("/api/invitations/accept"))
        .json(&json!({"token": token, "password": "owner-password-1"}))
        .send()
        .await
        .expect("accept");
    assert_eq!(right.status(), 200);
    let (_, teams) = other.get("/api/teams").await;
    assert!(
        teams["teams"]
            .as_array()
            .expect("teams")
            .iter()
            .any(|t| t["team_id"] == team.as_str() && t["role"] == "viewer"),
        "{teams}"
    );
    app.stop().await;
}
