//! Teams and roles: switching, the owner rules, removal ending sessions.

mod common;

use common::{TestApp, client};
use hummbl::auth::Role;
use serde_json::json;

fn id_of(users: &[(Role, String)], role: Role) -> String {
    users
        .iter()
        .find(|(r, _)| *r == role)
        .map(|(_, id)| id.clone())
        .expect("role present")
}

#[tokio::test]
async fn a_user_switches_between_their_teams_only() {
    let app = TestApp::spawn().await;
    let (team_a, users_a) = app.team_with_every_role("a").await;
    let (team_b, users_b) = app.team_with_every_role("b").await;
    let owner_a = id_of(&users_a, Role::Owner);
    // The owner of A is a viewer in B.
    hummbl::teams::add_member(&app.db, &team_b, &owner_a, Role::Viewer, None)
        .await
        .expect("add");
    let cookie = app.session_cookie(&owner_a, &team_a).await;
    let client = client();
    let me = |cookie: String| {
        let client = client.clone();
        let url = app.url("/api/me");
        async move {
            client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .expect("me")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    assert_eq!(me(cookie.clone()).await["role"], "owner");
    let switched = client
        .post(app.url("/api/teams/switch"))
        .header("cookie", &cookie)
        .json(&json!({"team_id": team_b}))
        .send()
        .await
        .expect("switch");
    assert_eq!(switched.status(), 204);
    let now = me(cookie.clone()).await;
    assert_eq!(now["team_id"], team_b.as_str());
    assert_eq!(
        now["role"], "viewer",
        "the role is the one held in the new team"
    );
    // As a viewer in B, managing members is refused.
    let refused = client
        .patch(app.url(&format!(
            "/api/team/members/{}",
            id_of(&users_b, Role::Member)
        )))
        .header("cookie", &cookie)
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(refused.status(), 403);
    // A team the user does not belong to is not found.
    let (_, outsider_team) = app
        .user("solo@example.com", "solo-password-1", None, Role::Owner)
        .await;
    let missing = client
        .post(app.url("/api/teams/switch"))
        .header("cookie", &cookie)
        .json(&json!({"team_id": outsider_team}))
        .send()
        .await
        .expect("switch");
    assert_eq!(missing.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn a_team_always_keeps_an_owner() {
    let app = TestApp::spawn().await;
    let (team, users) = app.team_with_every_role("k").await;
    let owner = id_of(&users, Role::Owner);
    let owner_cookie = app.session_cookie(&owner, &team).await;
    let client = client();
    let patch = |cookie: &str, user: &str, role: &str| {
        client
            .patch(app.url(&format!("/api/team/members/{user}")))
            .header("cookie", cookie.to_string())
            .json(&json!({"role": role}))
            .send()
    };
    let demote_last = patch(&owner_cookie, &owner, "admin").await.expect("patch");
    assert_eq!(demote_last.status(), 409);
    let remove_last = client
        .delete(app.url(&format!("/api/team/members/{owner}")))
        .header("cookie", &owner_cookie)
        .send()
        .await
        .expect("delete");
    assert_eq!(remove_last.status(), 409);
    // Admins cannot grant or take the owner role.
    let admin = id_of(&users, Role::Admin);
    let admin_cookie = app.session_cookie(&admin, &team).await;
    assert_eq!(
        patch(&admin_cookie, &id_of(&users, Role::Member), "owner")
            .await
            .expect("patch")
            .status(),
        403
    );
    assert_eq!(
        patch(&admin_cookie, &owner, "viewer")
            .await
            .expect("patch")
            .status(),
        403
    );
    // An admin may change a member's role.
    assert_eq!(
        patch(&admin_cookie, &id_of(&users, Role::Member), "viewer")
            .await
            .expect("patch")
            .status(),
        204
    );
    // With a second owner, the first may step down.
    assert_eq!(
        patch(&owner_cookie, &admin, "owner")
            .await
            .expect("patch")
            .status(),
        204
    );
    assert_eq!(
        patch(&owner_cookie, &owner, "member")
            .await
            .expect("patch")
            .status(),
        204
    );
    let bad_role = patch(&admin_cookie, &id_of(&users, Role::Viewer), "superuser")
        .await
        .expect("patch");
    assert_eq!(bad_role.status(), 422);
    let audit: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE team_id = $1 AND action = 'member.role_changed'",
    )
    .bind(&team)
    .fetch_one(app.db.read())
    .await
    .expect("audit");
    assert_eq!(audit, 3);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_demotions_cannot_remove_every_owner() {
    let app = TestApp::spawn().await;
    let (team, users) = app.team_with_every_role("c").await;
    let owner = id_of(&users, Role::Owner);
    let admin = id_of(&users, Role::Admin);
    hummbl::teams::change_role(
        &app.db,
        &hummbl::auth::Principal {
            user_id: owner.clone(),
            email: String::new(),
            name: String::new(),
            team_id: team.clone(),
            team_name: String::new(),
            role: Role::Owner,
            credential: hummbl::auth::Credential::Token {
                token_id: String::new(),
            },
        },
        &admin,
        Role::Owner,
    )
    .await
    .expect("second owner");
    // Each owner demotes the other, at the same time.
    let first = app.session_cookie(&owner, &team).await;
    let second = app.session_cookie(&admin, &team).await;
    let client = client();
    let demote = |cookie: String, target: String| {
        let client = client.clone();
        let url = app.url(&format!("/api/team/members/{target}"));
        async move {
            client
                .patch(url)
                .header("cookie", cookie)
                .json(&json!({"role": "member"}))
                .send()
                .await
                .expect("patch")
                .status()
        }
    };
    let (a, b) = tokio::join!(demote(first, admin.clone()), demote(second, owner.clone()));
    let owners: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND role = 'owner'",
    )
    .bind(&team)
    .fetch_one(app.db.read())
    .await
    .expect("count");
    assert_eq!(owners, 1, "answers were {a} and {b}");
    app.stop().await;
}

#[tokio::test]
async fn removing_a_member_ends_their_sessions_and_tokens_in_that_team() {
    let app = TestApp::spawn().await;
    let (team, users) = app.team_with_every_role("r").await;
    let member = id_of(&users, Role::Member);
    let member_cookie = app.session_cookie(&member, &team).await;
    let token = hummbl::auth::tokens::create(
        &app.db,
        hummbl::audit::Actor::user(&team, &member),
        "cli",
        None,
    )
    .await
    .expect("token");
    let admin_cookie = app.session_cookie(&id_of(&users, Role::Admin), &team).await;
    let client = client();
    assert_eq!(
        client
            .get(app.url("/api/me"))
            .header("cookie", &member_cookie)
            .send()
            .await
            .expect("me")
            .status(),
        200
    );
    let removed = client
        .delete(app.url(&format!("/api/team/members/{member}")))
        .header("cookie", &admin_cookie)
        .send()
        .await
        .expect("delete");
    assert_eq!(removed.status(), 204);
    assert_eq!(
        client
            .get(app.url("/api/me"))
            .header("cookie", &member_cookie)
            .send()
            .await
            .expect("me")
            .status(),
        401
    );
    assert_eq!(
        client
            .get(app.url("/api/me"))
            .bearer_auth(&token.secret)
            .send()
            .await
            .expect("me")
            .status(),
        401
    );
    let members: serde_json::Value = client
        .get(app.url("/api/team/members"))
        .header("cookie", &admin_cookie)
        .send()
        .await
        .expect("members")
        .json()
        .await
        .expect("json");
    assert_eq!(members["members"].as_array().map(Vec::len), Some(3));
    app.stop().await;
}
