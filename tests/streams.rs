//! Live streams (SSE) end with the access that opened them — logout, a password
//! change, "sign out everywhere", a revoked token, removal from the team —
//! within a second, on this replica and on the others; and they are capped per
//! user and in total with a clear 429.

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, client};
use futures_util::StreamExt;
use hummbl::auth::Role;
use serde_json::json;

/// How long a stream may stay open after its access ended: the promise is a
/// second; the rest is slack for a loaded test machine.
const ENDS_WITHIN: Duration = Duration::from_millis(2500);

type Body =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// Opens the executions stream with a cookie or bearer credential.
async fn open(app: &TestApp, credential: &Credential) -> reqwest::Response {
    let request = client().get(app.url("/api/executions/stream"));
    let request = match credential {
        Credential::Cookie(cookie) => request.header("cookie", cookie),
        Credential::Bearer(token) => request.bearer_auth(token),
    };
    request.send().await.expect("stream request")
}

enum Credential {
    Cookie(String),
    Bearer(String),
}

async fn open_body(app: &TestApp, credential: &Credential) -> Body {
    let answer = open(app, credential).await;
    assert_eq!(answer.status(), 200);
    Box::pin(answer.bytes_stream())
}

/// Whether the stream ends (EOF) within `ENDS_WITHIN`; keep-alives and events
/// before the end are skipped.
async fn ends(body: &mut Body) -> Option<Duration> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + ENDS_WITHIN;
    loop {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => return None,
            Ok(None) | Ok(Some(Err(_))) => {
                let took = started.elapsed();
                eprintln!("the stream ended {} ms after its access", took.as_millis());
                return Some(took);
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// Whether the stream is still open a moment later.
async fn stays_open(body: &mut Body) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(600);
    loop {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => return true,
            Ok(None) | Ok(Some(Err(_))) => return false,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

async fn post(app: &TestApp, path: &str, cookie: &str, body: serde_json::Value) -> u16 {
    client()
        .post(app.url(path))
        .header("cookie", cookie)
        .json(&body)
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

#[tokio::test]
async fn logout_ends_that_session_s_streams_only() {
    let app = TestApp::spawn().await;
    let (user, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Member)
        .await;
    let leaving = app.session_cookie(&user, &team).await;
    let staying = app.session_cookie(&user, &team).await;
    let mut leaving_stream = open_body(&app, &Credential::Cookie(leaving.clone())).await;
    let mut staying_stream = open_body(&app, &Credential::Cookie(staying.clone())).await;
    assert_eq!(
        post(&app, "/api/auth/logout", &leaving, json!({})).await,
        204
    );
    let took = ends(&mut leaving_stream).await;
    assert!(took.is_some(), "the logged-out session's stream ended");
    assert!(
        stays_open(&mut staying_stream).await,
        "another session's stream stays"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_streams() {
    let app = TestApp::spawn().await;
    let (user, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Member)
        .await;
    let here = app.session_cookie(&user, &team).await;
    let elsewhere = app.session_cookie(&user, &team).await;
    let mut here_stream = open_body(&app, &Credential::Cookie(here.clone())).await;
    let mut elsewhere_stream = open_body(&app, &Credential::Cookie(elsewhere)).await;
    let change = json!({"current_password": "correct horse 1", "new_password": "brand new horse"});
    assert_eq!(
        post(&app, "/api/account/password", &here, change).await,
        204
    );
    assert!(ends(&mut elsewhere_stream).await.is_some());
    assert!(
        stays_open(&mut here_stream).await,
        "the changing session keeps its stream"
    );
    app.stop().await;
}

#[tokio::test]
async fn removal_from_the_team_ends_the_member_s_streams() {
    let app = TestApp::spawn().await;
    let (owner, team) = app
        .user("owner@example.com", "correct horse 1", None, Role::Owner)
        .await;
    let (member, _) = app
        .user(
            "bo@example.com",
            "correct horse 2",
            Some(&team),
            Role::Member,
        )
        .await;
    let owner_cookie = app.session_cookie(&owner, &team).await;
    let member_cookie = app.session_cookie(&member, &team).await;
    let mut member_stream = open_body(&app, &Credential::Cookie(member_cookie)).await;
    let mut owner_stream = open_body(&app, &Credential::Cookie(owner_cookie.clone())).await;
    let removed = client()
        .delete(app.url(&format!("/api/team/members/{member}")))
        .header("cookie", &owner_cookie)
        .send()
        .await
        .expect("remove");
    assert_eq!(removed.status(), 204);
    assert!(ends(&mut member_stream).await.is_some());
    assert!(stays_open(&mut owner_stream).await);
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_token_s_stream_ends() {
    let app = TestApp::spawn().await;
    let (user, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Member)
        .await;
    let cookie = app.session_cookie(&user, &team).await;
    let created: serde_json::Value = client()
        .post(app.url("/api/tokens"))
        .header("cookie", &cookie)
        .json(&json!({"name": "dashboard"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let token = created["token"].as_str().expect("token").to_string();
    let id = created["id"].as_str().expect("id").to_string();
    let mut stream = open_body(&app, &Credential::Bearer(token)).await;
    let revoked = client()
        .delete(app.url(&format!("/api/tokens/{id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 204);
    assert!(ends(&mut stream).await.is_some());
    app.stop().await;
}

#[tokio::test]
async fn streams_are_capped_per_user_and_in_total() {
    let app = TestApp::spawn_with(|config| {
        config.streams.per_user = 2;
        config.streams.total = 3;
    })
    .await;
    let (ada, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Member)
        .await;
    let (bo, _) = app
        .user(
            "bo@example.com",
            "correct horse 2",
            Some(&team),
            Role::Viewer,
        )
        .await;
    let (cy, _) = app
        .user(
            "cy@example.com",
            "correct horse 3",
            Some(&team),
            Role::Viewer,
        )
        .await;
    let ada = Credential::Cookie(app.session_cookie(&ada, &team).await);
    let _first = open_body(&app, &ada).await;
    let second = open_body(&app, &ada).await;
    let refused = open(&app, &ada).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "limit_reached");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("2 live streams"), "{message}");
    let bo = Credential::Cookie(app.session_cookie(&bo, &team).await);
    let _bo_stream = open_body(&app, &bo).await;
    let cy = Credential::Cookie(app.session_cookie(&cy, &team).await);
    let full = open(&app, &cy).await;
    assert_eq!(full.status(), 429, "the server-wide limit");
    assert!(
        app.metrics_text().await.contains("hummbl_open_streams 3"),
        "the open streams are counted in /metrics"
    );
    // A closed stream frees its place.
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = open(&app, &cy).await;
        if answer.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the place was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

/// On PostgreSQL several replicas serve one team: logging out on one ends the
/// session's stream on another. (On SQLite there is one process.)
#[tokio::test]
async fn logout_on_one_replica_ends_the_stream_on_another() {
    if common::postgres_admin_url().is_none() {
        return;
    }
    let first = TestApp::spawn().await;
    let second = first.replica().await;
    let (user, team) = first
        .user("ada@example.com", "correct horse 1", None, Role::Member)
        .await;
    let cookie = first.session_cookie(&user, &team).await;
    let mut stream = open_body(&second, &Credential::Cookie(cookie.clone())).await;
    // The bridge's listener connects in the background; give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        post(&first, "/api/auth/logout", &cookie, json!({})).await,
        204
    );
    assert!(
        ends(&mut stream).await.is_some(),
        "ended on the other replica"
    );
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn a_stream_ends_when_its_session_reaches_its_absolute_end() {
    let app = TestApp::spawn_with(|config| config.session_max_age = Duration::from_secs(2)).await;
    let (user, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Member)
        .await;
    let cookie = app.session_cookie(&user, &team).await;
    let opened = Instant::now();
    let mut stream = open_body(&app, &Credential::Cookie(cookie)).await;
    assert!(
        stays_open(&mut stream).await,
        "open before the session's end"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => panic!("the stream outlived its session"),
            Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(_))) => continue,
        }
    }
    let lived = opened.elapsed();
    assert!(
        lived >= Duration::from_millis(1500),
        "ended too early: {lived:?}"
    );
    app.stop().await;
}
