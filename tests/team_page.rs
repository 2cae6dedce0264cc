//! The Team page against the real server: members with who invited them and
//! their activity; admins' forms (invite, role, remove, with mail off the
//! link to copy) and viewers reading only; removal ends the member's sessions
//! and tokens in the team; leaving, and the last owner who cannot.

mod common;

use common::runtime::{Api, member_api, owner_api};
use common::{TestApp, client};
use hummbl::auth::Role;
use serde_json::json;

async fn token_for(api: &Api) -> String {
    let (status, created) = api.post("/api/tokens", json!({"name": "ci"})).await;
    assert_eq!(status, 201, "{created}");
    created["token"].as_str().expect("token").to_string()
}

#[tokio::test]
async fn admins_manage_the_team_from_its_page_and_viewers_read_it() {
    let app = TestApp::spawn().await;
    let (owner, team) = owner_api(&app, "team-page").await;
    let admin = member_api(&app, &team, "team-admin", Role::Admin).await;
    let viewer = member_api(&app, &team, "team-viewer", Role::Viewer).await;

    let (status, page) = admin.page("/team").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"action="/team/invitations""#),
        "admins invite"
    );
    assert!(
        page.contains(r#"<option value="admin">"#) && !page.contains(r#"<option value="owner""#),
        "an admin offers roles up to admin"
    );
    assert!(page.contains("Mail is off"), "{page}");

    let (status, location) = admin
        .post_form(
            "/team/invitations",
            &[("email", "new@example.com"), ("role", "member")],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, "/team"));
    let (status, refused) = admin
        .form_page(
            "/team/invitations",
            &[("email", "boss@example.com"), ("role", "owner")],
        )
        .await;
    assert_eq!(status, 403);
    assert!(refused.contains("up to your own role"), "{refused}");
    let (_, pending) = admin.get("/api/team/invitations").await;
    let id = pending["invitations"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, with_link) = admin
        .form_page(&format!("/team/invitations/{id}/link"), &[])
        .await;
    assert_eq!(status, 200);
    let start = with_link.find("/invite/").expect("the link is shown");
    let token: String = with_link[start + 8..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let accepted = client()
        .post(app.url(&format!("/invite/{token}")))
        .form(&[("name", "Newcomer"), ("password", "newcomer-password-1")])
        .send()
        .await
        .expect("accept");
    assert_eq!(accepted.status(), 303, "joined and signed in");
    assert!(
        accepted.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .contains("hummbl_session")
    );

    let (_, page) = admin.page("/team").await;
    assert!(
        page.contains("Newcomer") && page.contains("User team-admin@example.com"),
        "invited by the admin"
    );
    let (_, members) = owner.get("/api/team/members").await;
    let newcomer = members["members"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["email"] == "new@example.com"))
        .and_then(|m| m["user_id"].as_str())
        .expect("newcomer")
        .to_string();
    let (status, _) = admin
        .post_form(
            &format!("/team/members/{newcomer}/role"),
            &[("role", "admin")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, members) = owner.get("/api/team/members").await;
    assert!(
        members["members"]
            .as_array()
            .expect("members")
            .iter()
            .any(|m| m["user_id"] == newcomer.as_str() && m["role"] == "admin")
    );
    let (status, activity) = viewer.page(&format!("/team/members/{newcomer}")).await;
    assert_eq!(status, 200);
    assert!(
        activity.contains("Newcomer") && activity.contains("invitation.accepted"),
        "{activity}"
    );

    let (status, read_only) = viewer.page("/team").await;
    assert_eq!(status, 200);
    assert!(
        !read_only.contains(r#"action="/team/invitations""#) && !read_only.contains("/remove\"")
    );
    assert!(
        read_only.contains(r#"action="/team/leave""#),
        "everyone may leave"
    );
    let (status, _) = viewer
        .post_form(&format!("/team/members/{newcomer}/remove"), &[])
        .await;
    assert_eq!(status, 403);
    app.stop().await;
}

#[tokio::test]
async fn a_removed_member_loses_sessions_and_tokens_at_once() {
    let app = TestApp::spawn().await;
    let (owner, team) = owner_api(&app, "removal").await;
    let member = member_api(&app, &team, "removed", Role::Member).await;
    let token = token_for(&member).await;
    let with_token = |path: &'static str| {
        let url = app.url(path);
        let token = token.clone();
        async move {
            client()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }
    };
    assert_eq!(with_token("/api/executions").await, 200);
    let (_, members) = owner.get("/api/team/members").await;
    let id = members["members"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["email"] == "removed@example.com"))
        .and_then(|m| m["user_id"].as_str())
        .expect("member")
        .to_string();
    let (status, _) = owner
        .post_form(&format!("/team/members/{id}/remove"), &[])
        .await;
    assert_eq!(status, 303);
    assert_eq!(member.get("/api/me").await.0, 401, "the session ended");
    assert_eq!(with_token("/api/executions").await, 401, "the token ended");
    let revoked: Option<i64> =
        sqlx::query_scalar("SELECT revoked_at FROM api_tokens WHERE user_id = $1")
            .bind(&id)
            .fetch_one(app.db.read())
            .await
            .expect("token row");
    assert!(
        revoked.is_some(),
        "the token is revoked, not merely unusable"
    );
    app.stop().await;
}

#[tokio::test]
async fn members_leave_and_the_last_owner_cannot() {
    let app = TestApp::spawn().await;
    let (owner, team) = owner_api(&app, "leaving").await;
    let viewer = member_api(&app, &team, "leaver", Role::Viewer).await;
    let (status, body) = owner.post("/api/team/leave", json!({})).await;
    assert_eq!(status, 409, "the last owner stays: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("owner")
    );
    let (status, _) = viewer.post("/api/team/leave", json!({})).await;
    assert_eq!(status, 204);
    assert_eq!(viewer.get("/api/me").await.0, 401);
    let (_, members) = owner.get("/api/team/members").await;
    assert_eq!(members["members"].as_array().expect("members").len(), 1);
    let (_, page) = owner.page("/team").await;
    assert!(page.contains("Leave team"));
    app.stop().await;
}
