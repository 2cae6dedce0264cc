//! The security headers (`web::headers`): every page of the console, the login
//! page and the API answer with the Content-Security-Policy, `nosniff`, frame
//! and referrer policies and `Cache-Control: no-store`; answers made before any
//! handler runs carry them too; the assets and the SDK keep their own caching;
//! HSTS comes only with an https `public_url`; the telemetry SDK's CORS answers
//! are unchanged; browsers' CSP reports are counted in /metrics.

mod common;

use common::runtime::demo_api;
use common::{TestApp, client};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::json;

/// The headers every answer carries, whatever it is. `what` names the answer in
/// a failure.
fn assert_protected(headers: &HeaderMap, what: &str) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
            .to_string()
    };
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{what}: {directive} in {csp}");
    }
    assert!(!csp.contains("unsafe-"), "{what}: {csp}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(header("referrer-policy"), "same-origin", "{what}");
    assert_eq!(
        header("cross-origin-opener-policy"),
        "same-origin",
        "{what}"
    );
    assert!(header("permissions-policy").contains("camera=()"), "{what}");
}

fn cache_control(headers: &HeaderMap) -> &str {
    headers
        .get("cache-control")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

fn assert_not_stored(headers: &HeaderMap, what: &str) {
    assert_eq!(cache_control(headers), "no-store", "{what}");
}

#[tokio::test]
async fn every_console_page_carries_the_security_headers_and_is_not_stored() {
    let app = TestApp::spawn().await;
    let (owner, team) = demo_api(&app, "owner@demo.hummbl.dev").await;
    let (owner, _) = (owner, team);
    let pages = common::browser::demo_page_paths(&app).await;
    assert!(
        pages.len() >= 9,
        "the route table lists the pages: {pages:?}"
    );
    for path in &pages {
        let response = client()
            .get(app.url(path))
            .header("cookie", &owner.cookie)
            .send()
            .await
            .expect("page");
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            cache_control(response.headers()).contains("no-store"),
            "{path}"
        );
        if path.starts_with("/invite/") {
            // Its address holds the link's token: nothing may carry it on.
            assert_eq!(response.headers()["referrer-policy"], "no-referrer");
            assert!(response.headers().contains_key("content-security-policy"));
            continue;
        }
        assert_protected(response.headers(), path);
    }
    // A page that does not exist: the styled error page inside the shell.
    let missing = client()
        .get(app.url("/no-such-page"))
        .header("cookie", &owner.cookie)
        .header("accept", "text/html")
        .send()
        .await
        .expect("404 page");
    assert_eq!(missing.status(), 404);
    assert_protected(missing.headers(), "the 404 page");
    assert_not_stored(missing.headers(), "the 404 page");
    app.stop().await;
}

#[tokio::test]
async fn the_login_page_and_the_auth_api_are_not_stored() {
    let app = TestApp::spawn().await;
    app.user(
        "login-headers@example.com",
        "login-password-1",
        None,
        hummbl::auth::Role::Owner,
    )
    .await;
    let page = client()
        .get(app.url("/login"))
        .send()
        .await
        .expect("login page");
    assert_eq!(page.status(), 200);
    assert_protected(page.headers(), "/login");
    assert_not_stored(page.headers(), "/login");
    // An anonymous visitor of a console page is sent to the form.
    let redirect = client()
        .get(app.url("/monitor"))
        .send()
        .await
        .expect("page");
    assert_eq!(redirect.status(), 303);
    assert_protected(redirect.headers(), "the redirect to /login");
    for (password, status) in [("wrong-password-1", 401), ("login-password-1", 200)] {
        let answer = client()
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": "login-headers@example.com", "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(answer.status(), status);
        assert_protected(answer.headers(), "POST /api/auth/login");
        assert_not_stored(answer.headers(), "POST /api/auth/login");
    }
    app.stop().await;
}

#[tokio::test]
async fn api_answers_carry_nosniff_and_no_store() {
    let app = TestApp::spawn().await;
    let (user, team) = app
        .user(
            "api-headers@example.com",
            "api-password-1",
            None,
            hummbl::auth::Role::Owner,
        )
        .await;
    let cookie = app.session_cookie(&user, &team).await;
    for path in ["/api/me", "/api/agents", "/api/executions", "/api/errors"] {
        let answer = client()
            .get(app.url(path))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("api");
        assert_eq!(answer.status(), 200, "{path}");
        assert_protected(answer.headers(), path);
        assert_not_stored(answer.headers(), path);
    }
    let anonymous = client().get(app.url("/api/me")).send().await.expect("me");
    assert_eq!(anonymous.status(), 401);
    assert_protected(anonymous.headers(), "a 401");
    assert_not_stored(anonymous.headers(), "a 401");
    app.stop().await;
}

#[tokio::test]
async fn answers_made_before_any_handler_carry_the_headers_too() {
    let app = TestApp::spawn().await;
    // The body limit in front of every route (1 MiB).
    let too_large = client()
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .expect("too large");
    assert_eq!(too_large.status(), 413);
    assert_protected(too_large.headers(), "a 413");
    // The CSRF guard, before authentication.
    let cross_site = client()
        .post(app.url("/logout"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("cross-site");
    assert_eq!(cross_site.status(), 403);
    assert_protected(cross_site.headers(), "a cross-site 403");
    assert_not_stored(cross_site.headers(), "a cross-site 403");
    app.stop().await;
}

#[tokio::test]
async fn assets_and_the_sdk_keep_their_cache_headers() {
    let app = TestApp::spawn().await;
    let version = env!("CARGO_PKG_VERSION");
    for path in [
        format!("/assets/app.css?v={version}"),
        format!("/assets/app.js?v={version}"),
        "/sdk/telemetry.js".to_string(),
    ] {
        let answer = client().get(app.url(&path)).send().await.expect("asset");
        assert_eq!(answer.status(), 200, "{path}");
        assert_eq!(
            cache_control(answer.headers()),
            "public, max-age=3600",
            "{path}"
        );
        assert_eq!(answer.headers()["x-content-type-options"], "nosniff");
    }
    let sdk = client()
        .get(app.url("/sdk/telemetry.js"))
        .send()
        .await
        .expect("sdk");
    assert_eq!(sdk.headers()["access-control-allow-origin"], "*");
    app.stop().await;
}

async fn hsts_of(app: &TestApp, path: &str) -> Option<String> {
    let answer = client().get(app.url(path)).send().await.expect("answer");
    answer
        .headers()
        .get("strict-transport-security")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}

#[tokio::test]
async fn hsts_comes_only_with_an_https_public_url() {
    let plain = TestApp::spawn().await;
    assert_eq!(hsts_of(&plain, "/login").await, None);
    plain.stop().await;
    let http = TestApp::spawn_with(|config| {
        config.public_url = url::Url::parse("http://console.example.com").ok();
    })
    .await;
    assert_eq!(hsts_of(&http, "/login").await, None);
    http.stop().await;
    let https = TestApp::spawn_with(|config| {
        config.public_url = url::Url::parse("https://console.example.com").ok();
    })
    .await;
    for path in ["/login", "/api/me", "/assets/app.css"] {
        assert_eq!(
            hsts_of(&https, path).await.as_deref(),
            Some("max-age=31536000; includeSubDomains"),
            "{path}"
        );
    }
    https.stop().await;
}

#[tokio::test]
async fn telemetry_cors_preflight_and_answers_are_unchanged() {
    let app = TestApp::spawn().await;
    let (user, team) = app
        .user(
            "cors-headers@example.com",
            "cors-password-1",
            None,
            hummbl::auth::Role::Owner,
        )
        .await;
    let key = hummbl::telemetry::keys::create(
        &app.db,
        hummbl::audit::Actor::user(&team, &user),
        "shop",
        vec!["https://shop.example.com".into()],
    )
    .await
    .expect("ingestion key")
    .secret;
    let preflight = client()
        .request(Method::OPTIONS, app.url("/api/telemetry/track"))
        .header("origin", "https://shop.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status(), 204);
    let headers = preflight.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://shop.example.com"
    );
    assert_eq!(headers["access-control-allow-methods"], "POST");
    assert_eq!(
        headers["access-control-allow-headers"],
        "authorization, content-type"
    );
    assert_eq!(headers["access-control-max-age"], "600");
    let track = client()
        .post(app.url("/api/telemetry/track"))
        .bearer_auth(&key)
        .header("origin", "https://shop.example.com")
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"component": "shop", "action": "view"}))
        .send()
        .await
        .expect("track");
    assert_eq!(track.status(), 200);
    assert_eq!(
        track.headers()["access-control-allow-origin"],
        "https://shop.example.com"
    );
    assert_eq!(track.headers()["x-content-type-options"], "nosniff");
    app.stop().await;
}

/// The count of `hummbl_csp_violations_total` for `directive` (0 without a series).
fn violations(metrics: &str, directive: &str) -> u64 {
    let prefix = format!("hummbl_csp_violations_total{{directive=\"{directive}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|count| count.trim().parse().expect("a count"))
        .unwrap_or(0)
}

#[tokio::test]
async fn csp_reports_are_counted_in_metrics() {
    let app = TestApp::spawn().await;
    // What Chromium sends to a report-uri.
    let report = json!({"csp-report": {
        "document-uri": app.url("/monitor"),
        "referrer": "",
        "violated-directive": "style-src-attr",
        "effective-directive": "style-src-attr",
        "original-policy": "default-src 'self'; report-uri /api/csp-report",
        "disposition": "enforce",
        "blocked-uri": "inline",
        "line-number": 12,
        "status-code": 200,
        "script-sample": ""
    }});
    let sent = client()
        .post(app.url("/api/csp-report"))
        .header("content-type", "application/csp-report")
        .header("sec-fetch-site", "same-origin")
        .body(report.to_string())
        .send()
        .await
        .expect("report");
    assert_eq!(sent.status(), 204);
    // A label a sender makes up is counted as `other`.
    let made_up = client()
        .post(app.url("/api/csp-report"))
        .json(&json!({"csp-report": {"effective-directive": "evil\"label"}}))
        .send()
        .await
        .expect("report");
    assert_eq!(made_up.status(), 204);
    let metrics = app.metrics_text().await;
    assert_eq!(violations(&metrics, "style-src-attr"), 1, "{metrics}");
    assert_eq!(violations(&metrics, "other"), 1, "{metrics}");
    assert!(!metrics.contains("evil"));

    for (content_type, body, status) in [
        ("text/plain", report.to_string(), 415),
        ("application/csp-report", "{".to_string(), 400),
        ("application/csp-report", "{}".to_string(), 422),
        (
            "application/json",
            json!({"csp-report": {"blocked-uri": 5}}).to_string(),
            422,
        ),
    ] {
        let refused = client()
            .post(app.url("/api/csp-report"))
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .expect("report");
        assert_eq!(refused.status(), status, "{content_type} {body}");
    }
    // Another site cannot post reports through a visitor's browser.
    let cross_site = client()
        .post(app.url("/api/csp-report"))
        .header("content-type", "application/csp-report")
        .header("sec-fetch-site", "cross-site")
        .body(report.to_string())
        .send()
        .await
        .expect("report");
    assert_eq!(cross_site.status(), 403);
    app.stop().await;
}
