//! Accounts and sessions against the real server: login by form and API, the
//! same answer for unknown users and wrong passwords, throttling, cookie flags,
//! a new session id at login, revocation on logout and password change, the
//! cross-site guard, and personal API tokens.

mod common;

use common::{TestApp, client, cookie_client};
use hummbl::auth::Role;
use serde_json::json;

async fn login(
    client: &reqwest::Client,
    app: &TestApp,
    email: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login request")
}

fn session_cookie_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("hummbl_session="))
        .expect("session cookie set")
        .to_string()
}

#[tokio::test]
async fn login_sets_a_protected_cookie_and_me_answers() {
    let app = TestApp::spawn().await;
    app.user("ada@example.com", "correct horse 1", None, Role::Owner)
        .await;
    let client = cookie_client();
    let response = login(&client, &app, "Ada@Example.com", "correct horse 1").await;
    assert_eq!(response.status(), 200);
    let cookie = session_cookie_of(&response);
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http must not set Secure: {cookie}"
    );
    let me: serde_json::Value = client
        .get(app.url("/api/me"))
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["role"], "owner");
    assert_eq!(me["teams"].as_array().map(Vec::len), Some(1));
    app.stop().await;
}

#[tokio::test]
async fn cookies_are_secure_behind_https() {
    let app = TestApp::spawn_with(|config| {
        config.public_url = Some(url::Url::parse("https://hummbl.example.com").expect("url"));
    })
    .await;
    app.user("ada@example.com", "correct horse 1", None, Role::Owner)
        .await;
    let response = login(&client(), &app, "ada@example.com", "correct horse 1").await;
    assert!(session_cookie_of(&response).contains("Secure"));
    app.stop().await;
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.user("ada@example.com", "correct horse 1", None, Role::Owner)
        .await;
    let client = client();
    let wrong = login(&client, &app, "ada@example.com", "wrong horse 11").await;
    assert_eq!(wrong.status(), 401);
    let wrong_body = wrong.text().await.expect("body");
    let unknown = login(&client, &app, "nobody@example.com", "wrong horse 11").await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(unknown.text().await.expect("body"), wrong_body);
    assert!(wrong_body.contains("invalid email or password"));
    app.stop().await;
}

#[tokio::test]
async fn login_attempts_are_throttled_per_account() {
    let app = TestApp::spawn_with(|config| config.login_attempts_per_minute = 3).await;
    app.user("ada@example.com", "correct horse 1", None, Role::Owner)
        .await;
    let client = client();
    for _ in 0..3 {
        assert_eq!(
            login(&client, &app, "ada@example.com", "wrong horse 11")
                .await
                .status(),
            401
        );
    }
    let throttled = login(&client, &app, "ada@example.com", "correct horse 1").await;
    assert_eq!(throttled.status(), 429);
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after));
    // Another account from the same address is not locked out by this one.
    app.user("bo@example.com", "correct horse 2", None, Role::Owner)
        .await;
    assert_eq!(
        login(&client, &app, "bo@example.com", "correct horse 2")
            .await
            .status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn login_form_redirects_and_rerenders_on_failure() {
    let app = TestApp::spawn().await;
    app.user("ada@example.com", "correct horse 1", None, Role::Owner)
        .await;
    let client = client();
    let failed = client
        .post(app.url("/login"))
        .form(&[
            ("email", "ada@example.com"),
            ("password", "nope nope nope"),
            ("next", "/account"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(failed.status(), 401);
    let html = failed.text().await.expect("html");
    assert!(html.contains("invalid email or password"));
    assert!(
        html.contains("value=\"ada@example.com\""),
        "email is kept in the form"
    );
    let ok = client
        .post(app.url("/login"))
        .form(&[
            ("email", "ada@example.com"),
            ("password", "correct horse 1"),
            ("next", "//evil.example"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(ok.status(), 303);
    assert_eq!(
        ok.headers()["location"],
        "/",
        "an off-site next is not followed"
    );
    app.stop().await;
}

#[tokio::test]
async fn login_issues_a_new_session_and_ends_the_old_one() {
    let app = TestApp::spawn().await;
    let (user, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Owner)
        .await;
    let old = app.session_cookie(&user, &team).await;
    let client = client();
    let response = client
        .post(app.url("/api/auth/login"))
        .header("cookie", &old)
        .json(&json!({"email": "ada@example.com", "password": "correct horse 1"}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200);
    let new = session_cookie_of(&response);
    let new_pair = new.split(';').next().expect("pair").to_string();
    assert_ne!(new_pair, old);
    let with_old = client
        .get(app.url("/api/me"))
        .header("cookie", &old)
        .send()
        .await
        .expect("me");
    assert_eq!(with_old.status(), 401, "the pre-login session is gone");
    let with_new = client
        .get(app.url("/api/me"))
        .header("cookie", &new_pair)
        .send()
        .await
        .expect("me");
    assert_eq!(with_new.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn logout_revokes_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    let (user, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Owner)
        .await;
    let cookie = app.session_cookie(&user, &team).await;
    let client = client();
    let out = client
        .post(app.url("/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 303);
    assert_eq!(out.headers()["location"], "/login");
    // Replaying the old cookie does not work: the server forgot it.
    let replay = client
        .get(app.url("/api/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("me");
    assert_eq!(replay.status(), 401);
    let page = client
        .get(app.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/login?next=%2F");
    app.stop().await;
}

#[tokio::test]
async fn password_change_ends_other_sessions_and_checks_the_current_password() {
    let app = TestApp::spawn().await;
    let (user, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Owner)
        .await;
    let here = app.session_cookie(&user, &team).await;
    let elsewhere = app.session_cookie(&user, &team).await;
    let client = client();
    let wrong = client
        .post(app.url("/api/account/password"))
        .header("cookie", &here)
        .json(&json!({"current_password": "not it at all", "new_password": "brand new horse"}))
        .send()
        .await
        .expect("change");
    assert_eq!(wrong.status(), 422);
    let body: serde_json::Value = wrong.json().await.expect("json");
    assert_eq!(body["error"]["field"], "current_password");
    let weak = client
        .post(app.url("/api/account/password"))
        .header("cookie", &here)
        .json(&json!({"current_password": "correct horse 1", "new_password": "short"}))
        .send()
        .await
        .expect("change");
    assert_eq!(weak.status(), 422);
    let ok = client
        .post(app.url("/api/account/password"))
        .header("cookie", &here)
        .json(&json!({"current_password": "correct horse 1", "new_password": "brand new horse"}))
        .send()
        .await
        .expect("change");
    assert_eq!(ok.status(), 204);
    let status = |cookie: String| {
        let client = client.clone();
        let url = app.url("/api/me");
        async move {
            client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .expect("me")
                .status()
        }
    };
    assert_eq!(status(here).await, 200, "the session that changed it stays");
    assert_eq!(status(elsewhere).await, 401, "other sessions end");
    assert_eq!(
        login(&client, &app, "ada@example.com", "brand new horse")
            .await
            .status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn cross_site_state_changes_are_refused() {
    let app = TestApp::spawn().await;
    let (user, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Owner)
        .await;
    let cookie = app.session_cookie(&user, &team).await;
    let client = client();
    let forged = client
        .post(app.url("/api/tokens"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"name": "forged"}))
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 403);
    let forged = client
        .post(app.url("/logout"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 403);
    let same_origin = client
        .post(app.url("/api/tokens"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .header("origin", app.base.clone())
        .json(&json!({"name": "legit"}))
        .send()
        .await
        .expect("post");
    assert_eq!(same_origin.status(), 201);
    // Reads are never refused.
    let read = client
        .get(app.url("/api/me"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("get");
    assert_eq!(read.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn personal_api_tokens_are_shown_once_work_and_can_be_revoked() {
    let app = TestApp::spawn().await;
    let (user, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Owner)
        .await;
    let cookie = app.session_cookie(&user, &team).await;
    let client = client();
    let created: serde_json::Value = client
        .post(app.url("/api/tokens"))
        .header("cookie", &cookie)
        .json(&json!({"name": "exporter", "expires_in_days": 30}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let token = created["token"].as_str().expect("token").to_string();
    let id = created["id"].as_str().expect("id").to_string();
    assert!(token.starts_with("hmb_pat_"));
    let me = client
        .get(app.url("/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    // A bearer request is not subject to the cross-site guard (no ambient credential).
    let listed = client
        .get(app.url("/api/tokens"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list")
        .text()
        .await
        .expect("body");
    assert!(listed.contains("exporter"));
    assert!(!listed.contains(&token), "the secret is never listed");
    let stored: Option<String> =
        sqlx::query_scalar("SELECT token_hash FROM api_tokens WHERE id = $1")
            .bind(&id)
            .fetch_optional(app.db.read())
            .await
            .expect("query");
    assert_ne!(
        stored.as_deref(),
        Some(token.as_str()),
        "only a digest is stored"
    );
    let revoked = client
        .delete(app.url(&format!("/api/tokens/{id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 204);
    let after = client
        .get(app.url("/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(after.status(), 401);
    let garbage = client
        .get(app.url("/api/me"))
        .bearer_auth("hmb_pat_nope")
        .send()
        .await
        .expect("me");
    assert_eq!(garbage.status(), 401);
    let again = client
        .delete(app.url(&format!("/api/tokens/{id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("revoke");
    assert_eq!(again.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn bad_token_requests_get_clear_4xx() {
    let app = TestApp::spawn().await;
    let (user, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Owner)
        .await;
    let cookie = app.session_cookie(&user, &team).await;
    let client = client();
    let post = |body: &'static str| {
        client
            .post(app.url("/api/tokens"))
            .header("cookie", &cookie)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let malformed = post("{not json").await.expect("post");
    assert_eq!(malformed.status(), 400);
    let wrong_type = post(r#"{"name": 42}"#).await.expect("post");
    assert_eq!(wrong_type.status(), 422);
    let empty_name = post(r#"{"name": "  "}"#).await.expect("post");
    assert_eq!(empty_name.status(), 422);
    let body: serde_json::Value = empty_name.json().await.expect("json");
    assert_eq!(body["error"]["field"], "name");
    let bad_expiry = post(r#"{"name": "x", "expires_in_days": 9999}"#)
        .await
        .expect("post");
    assert_eq!(bad_expiry.status(), 422);
    let huge = "x".repeat(2 * 1024 * 1024);
    let too_large = client
        .post(app.url("/api/tokens"))
        .header("cookie", &cookie)
        .header("content-type", "application/json")
        .body(format!(r#"{{"name": "{huge}"}}"#))
        .send()
        .await
        .expect("post");
    assert_eq!(too_large.status(), 413);
    let no_type = client
        .post(app.url("/api/tokens"))
        .header("cookie", &cookie)
        .body(r#"{"name": "x"}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(no_type.status(), 415);
    app.stop().await;
}

#[tokio::test]
async fn spaces_around_an_email_do_not_escape_the_account_limit() {
    let app = TestApp::spawn_with(|config| config.login_attempts_per_minute = 2).await;
    app.user("viewer@example.com", "correct horse 1", None, Role::Viewer)
        .await;
    let client = client();
    for email in ["viewer@example.com", " viewer@example.com"] {
        let status = login(&client, &app, email, "wrong horse 11").await.status();
        assert_eq!(status, 401, "{email:?}");
    }
    for email in ["viewer@example.com ", "\tViewer@Example.com"] {
        let status = login(&client, &app, email, "correct horse 1")
            .await
            .status();
        assert_eq!(status, 429, "{email:?} shares the account's bucket");
    }
    app.stop().await;
}

#[tokio::test]
async fn password_changes_are_throttled() {
    let app = TestApp::spawn_with(|config| config.login_attempts_per_minute = 3).await;
    let (user, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Owner)
        .await;
    let cookie = app.session_cookie(&user, &team).await;
    let client = client();
    let attempt = |current: &'static str| {
        client
            .post(app.url("/api/account/password"))
            .header("cookie", &cookie)
            .json(&json!({"current_password": current, "new_password": "brand new horse"}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            attempt("a wrong guess").await.expect("change").status(),
            422
        );
    }
    let throttled = attempt("correct horse 1").await.expect("change");
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
    // The throttled attempt changed nothing.
    assert_eq!(
        login(&client, &app, "ada@example.com", "correct horse 1")
            .await
            .status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn next_after_login_cannot_leave_the_site_through_a_tab() {
    let app = TestApp::spawn().await;
    let (user, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Owner)
        .await;
    let cookie = app.session_cookie(&user, &team).await;
    for next in [
        "/%09/evil.example",
        "/%0a/evil.example",
        "/%0d/evil.example",
        "/%5C/evil.example",
    ] {
        let answer = client()
            .get(app.url(&format!("/login?next={next}")))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("login page");
        assert_eq!(answer.status(), 303, "{next}");
        assert_eq!(answer.headers()["location"], "/", "{next}");
    }
    let form = client()
        .post(app.url("/login"))
        .form(&[
            ("email", "ada@example.com"),
            ("password", "correct horse 1"),
            ("next", "/\t/evil.example"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(form.headers()["location"], "/");
    app.stop().await;
}

/// Sign-in attempts for five accounts from `forwarded`, then a sixth.
async fn sixth_attempt_from(app: &TestApp, forwarded: &str) -> u16 {
    let client = client();
    let attempt = |n: usize| {
        client
            .post(app.url("/api/auth/login"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"email": format!("nobody{n}.{forwarded}@example.com"), "password": "wrong horse 11"}))
            .send()
    };
    for n in 0..5 {
        assert_eq!(attempt(n).await.expect("login").status(), 401);
    }
    attempt(5).await.expect("login").status().as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let app = TestApp::spawn_with(|config| {
        config.login_attempts_per_minute = 1;
        config.trusted_proxies = vec!["127.0.0.0/8".parse().expect("net")];
    })
    .await;
    assert_eq!(sixth_attempt_from(&app, "198.51.100.1").await, 429);
    assert_eq!(
        sixth_attempt_from(&app, "198.51.100.2").await,
        429,
        "another client behind the proxy has a bucket of its own"
    );
    app.stop().await;

    // Without trusted proxies the header is the client's word and is ignored.
    let app = TestApp::spawn_with(|config| config.login_attempts_per_minute = 1).await;
    assert_eq!(sixth_attempt_from(&app, "198.51.100.1").await, 429);
    let client = client();
    let spoofed = client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", "198.51.100.2")
        .json(&json!({"email": "someone@example.com", "password": "wrong horse 11"}))
        .send()
        .await
        .expect("login");
    assert_eq!(spoofed.status(), 429, "a forged header opens no new bucket");
    app.stop().await;
}

async fn me_status(app: &TestApp, credential: (&str, &str)) -> u16 {
    let (header, value) = credential;
    client()
        .get(app.url("/api/me"))
        .header(header, value)
        .send()
        .await
        .expect("me")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_session_in_use_still_ends_at_its_absolute_lifetime() {
    // The session's row is aged by hand below, which no cached copy hears of.
    let app = TestApp::spawn_with(|config| config.session_cache = std::time::Duration::ZERO).await;
    let (user, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Owner)
        .await;
    let cookie = app.session_cookie(&user, &team).await;
    assert_eq!(me_status(&app, ("cookie", &cookie)).await, 200);
    // Signed in 31 days ago and used all along: the idle expiry is still ahead.
    let month_ago = hummbl::storage::now_ms() - 31 * 86_400_000;
    sqlx::query("UPDATE sessions SET created_at = $1, last_seen_at = $2 WHERE user_id = $3")
        .bind(month_ago)
        .bind(hummbl::storage::now_ms() - 120_000)
        .bind(&user)
        .execute(app.db.write())
        .await
        .expect("age the session");
    assert_eq!(me_status(&app, ("cookie", &cookie)).await, 401);
    app.stop().await;
}

async fn new_token(app: &TestApp, credential: (&str, &str), name: &str) -> reqwest::Response {
    client()
        .post(app.url("/api/tokens"))
        .header(credential.0, credential.1)
        .json(&json!({"name": name}))
        .send()
        .await
        .expect("create token")
}

#[tokio::test]
async fn a_token_cannot_mint_tokens() {
    let app = TestApp::spawn().await;
    let (user, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Owner)
        .await;
    let cookie = app.session_cookie(&user, &team).await;
    let created: serde_json::Value = new_token(&app, ("cookie", &cookie), "ci")
        .await
        .json()
        .await
        .expect("json");
    let bearer = format!("Bearer {}", created["token"].as_str().expect("token"));
    let minted = new_token(&app, ("authorization", &bearer), "another").await;
    assert_eq!(minted.status(), 403);
    let body: serde_json::Value = minted.json().await.expect("json");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("browser session"), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn sessions_are_listed_and_can_be_ended_one_by_one_or_everywhere() {
    let app = TestApp::spawn().await;
    let (user, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Member)
        .await;
    let here = app.session_cookie(&user, &team).await;
    let there = app.session_cookie(&user, &team).await;
    let elsewhere = app.session_cookie(&user, &team).await;
    let listed: serde_json::Value = client()
        .get(app.url("/api/account/sessions"))
        .header("cookie", &here)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let sessions = listed["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 3);
    assert_eq!(
        sessions.iter().filter(|s| s["current"] == true).count(),
        1,
        "{listed}"
    );
    let other_id = sessions
        .iter()
        .find(|s| s["current"] == false)
        .and_then(|s| s["id"].as_str())
        .expect("another session");
    let ended = client()
        .delete(app.url(&format!("/api/account/sessions/{other_id}")))
        .header("cookie", &here)
        .send()
        .await
        .expect("end");
    assert_eq!(ended.status(), 204);
    let alive =
        me_status(&app, ("cookie", &there)).await + me_status(&app, ("cookie", &elsewhere)).await;
    assert_eq!(alive, 200 + 401, "exactly the chosen session ended");
    // Another user's session id is not yours to end.
    let (bo, _) = app
        .user(
            "bo@example.com",
            "correct horse 2",
            Some(&team),
            Role::Member,
        )
        .await;
    let bo_cookie = app.session_cookie(&bo, &team).await;
    let foreign = client()
        .delete(app.url(&format!("/api/account/sessions/{other_id}")))
        .header("cookie", &bo_cookie)
        .send()
        .await
        .expect("end");
    assert_eq!(foreign.status(), 404);
    let everywhere = client()
        .post(app.url("/api/account/sessions/end-all"))
        .header("cookie", &here)
        .send()
        .await
        .expect("end all");
    assert_eq!(everywhere.status(), 204);
    for cookie in [&here, &there, &elsewhere] {
        assert_eq!(me_status(&app, ("cookie", cookie)).await, 401);
    }
    assert_eq!(
        me_status(&app, ("cookie", &bo_cookie)).await,
        200,
        "others stay"
    );
    app.stop().await;
}

#[tokio::test]
async fn every_token_can_be_revoked_at_once() {
    let app = TestApp::spawn().await;
    let (user, team) = app
        .user("ada@example.com", "correct horse 1", None, Role::Member)
        .await;
    let cookie = app.session_cookie(&user, &team).await;
    let mut bearers = Vec::new();
    for name in ["one", "two"] {
        let created: serde_json::Value = new_token(&app, ("cookie", &cookie), name)
            .await
            .json()
            .await
            .expect("json");
        bearers.push(format!(
            "Bearer {}",
            created["token"].as_str().expect("token")
        ));
    }
    for bearer in &bearers {
        assert_eq!(me_status(&app, ("authorization", bearer)).await, 200);
    }
    let revoked: serde_json::Value = client()
        .post(app.url("/api/tokens/revoke-all"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("revoke all")
        .json()
        .await
        .expect("json");
    assert_eq!(revoked["revoked"], 2);
    for bearer in &bearers {
        assert_eq!(me_status(&app, ("authorization", bearer)).await, 401);
    }
    app.stop().await;
}
