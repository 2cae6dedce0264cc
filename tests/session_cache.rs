//! Sessions resolved from memory (`auth::session_cache`) never outlive the
//! access behind them. The servers here keep a resolved session for a whole
//! minute, so only the invalidation itself can explain each refusal: a role
//! change, a team switch, logout, a password change, "sign out everywhere",
//! removal from the team and the session's own end all show on the very next
//! request — and on PostgreSQL, on the other replica too.

mod common;

use std::time::{Duration, Instant};

use common::TestApp;
use common::runtime::Api;
use hummbl::auth::Role;
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(60);

fn api(app: &TestApp, cookie: String) -> Api {
    Api {
        client: common::client(),
        base: app.base.clone(),
        cookie,
    }
}

/// `/api/me` with `api`'s session: its status and role.
async fn me(api: &Api) -> (u16, Value) {
    let (status, body) = api.get("/api/me").await;
    (status, body["role"].clone())
}

#[tokio::test]
async fn each_change_of_access_shows_on_the_next_request() {
    let app = TestApp::spawn_with(|config| config.session_cache = LONG).await;
    let (team, users) = app.team_with_every_role("cache").await;
    let owner = api(&app, app.session_cookie(&users[0].1, &team).await);
    let member_id = users[2].1.clone();
    let member = api(&app, app.session_cookie(&member_id, &team).await);
    let member_elsewhere = api(&app, app.session_cookie(&member_id, &team).await);
    assert_eq!(me(&member).await, (200, json!("member")), "cached now");

    // A role change.
    let (status, _) = owner
        .send(
            reqwest::Method::PATCH,
            &format!("/api/team/members/{member_id}"),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(me(&member).await, (200, json!("viewer")));
    let (status, _) = member
        .post("/api/ingestion-keys", json!({"name": "not for viewers"}))
        .await;
    assert_eq!(status, 403, "the viewer's rights, at once");

    // A team switch.
    let (_, other_team) = app
        .user(
            "cache-second@example.com",
            "second-password-1",
            None,
            Role::Owner,
        )
        .await;
    hummbl::teams::add_member(&app.db, &other_team, &member_id, Role::Admin, None)
        .await
        .expect("second team");
    let (status, _) = member
        .post("/api/teams/switch", json!({"team_id": other_team}))
        .await;
    assert_eq!(status, 204);
    let (status, now) = member.get("/api/me").await;
    assert_eq!(
        (status, now["team_id"].as_str(), &now["role"]),
        (200, Some(other_team.as_str()), &json!("admin"))
    );

    // A password change ends the member's other sessions, not this one.
    assert_eq!(me(&member_elsewhere).await.0, 200, "cached now");
    let (status, body) = member
        .post(
            "/api/account/password",
            json!({"current_password": "member-password-1", "new_password": "a-new-password-2"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(me(&member_elsewhere).await.0, 401);
    assert_eq!(me(&member).await.0, 200);

    // Logout.
    let (status, _) = member.post("/api/auth/logout", json!({})).await;
    assert_eq!(status, 204);
    assert_eq!(me(&member).await.0, 401);

    // Sign out everywhere.
    let everywhere = api(&app, app.session_cookie(&users[1].1, &team).await);
    let other_device = api(&app, app.session_cookie(&users[1].1, &team).await);
    assert_eq!(me(&other_device).await.0, 200, "cached now");
    let (status, _) = everywhere
        .post("/api/account/sessions/end-all", json!({}))
        .await;
    assert!(status == 200 || status == 204, "{status}");
    assert_eq!(me(&other_device).await.0, 401);

    // Removal from the team.
    let viewer = api(&app, app.session_cookie(&users[3].1, &team).await);
    assert_eq!(me(&viewer).await.0, 200, "cached now");
    let (status, _) = owner
        .send(
            reqwest::Method::DELETE,
            &format!("/api/team/members/{}", users[3].1),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(me(&viewer).await.0, 401);
    app.stop().await;
}

#[tokio::test]
async fn a_cached_session_still_ends_on_time() {
    let app = TestApp::spawn_with(|config| {
        config.session_cache = LONG;
        config.session_max_age = Duration::from_millis(1500);
    })
    .await;
    let (user, team) = app
        .user(
            "cache-expiry@example.com",
            "expiry-password-1",
            None,
            Role::Owner,
        )
        .await;
    let owner = api(&app, app.session_cookie(&user, &team).await);
    assert_eq!(me(&owner).await.0, 200, "cached now");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(me(&owner).await.0, 401, "past its absolute lifetime");
    app.stop().await;
}

/// On PostgreSQL: a session cached on the second replica goes when the first
/// changes it, well before the cache's minute.
#[tokio::test]
async fn invalidations_reach_the_other_replica() {
    if common::postgres_admin_url().is_none() {
        return;
    }
    let first = TestApp::spawn_with(|config| config.session_cache = LONG).await;
    let second = first.replica().await;
    let (team, users) = first.team_with_every_role("cache-replicas").await;
    let owner = api(&first, first.session_cookie(&users[0].1, &team).await);
    let cookie = first.session_cookie(&users[2].1, &team).await;
    let member_here = api(&first, cookie.clone());
    let member_there = api(&second, cookie);
    assert_eq!(
        me(&member_there).await,
        (200, json!("member")),
        "cached there"
    );

    let (status, _) = owner
        .send(
            reqwest::Method::PATCH,
            &format!("/api/team/members/{}", users[2].1),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(status, 204);
    let waited = until(|| async { me(&member_there).await == (200, json!("viewer")) }).await;
    eprintln!("role change reached the other replica's cache in {waited:?}");

    let (status, _) = member_here.post("/api/auth/logout", json!({})).await;
    assert_eq!(status, 204);
    let waited = until(|| async { me(&member_there).await.0 == 401 }).await;
    eprintln!("logout reached the other replica's cache in {waited:?}");
    second.stop().await;
    first.stop().await;
}

/// Polls `done` for up to 5 s (far below the cache's minute); how long it took.
async fn until<F, Fut>(done: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the change never reached the other replica"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}
