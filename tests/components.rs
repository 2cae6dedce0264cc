//! The BaseN registry: built-ins registered at start-up, version bumps recorded,
//! per-team toggles by admins, and a disabled component's routes answering 404.

mod common;

use common::{TestApp, client};
use hummbl::auth::Role;
use serde_json::json;

const IDS: [&str; 11] = [
    "analytics-dashboard",
    "token-usage",
    "execution-monitor",
    "error-logs",
    "team-members",
    "api-keys",
    "workflow-scheduler",
    "agents",
    "workflows",
    "notification-center",
    "pilot-evaluation",
];

#[tokio::test]
async fn built_in_components_are_listed_and_toggled_per_team() {
    let app = TestApp::spawn().await;
    let (team, users) = app.team_with_every_role("c").await;
    let (other_owner, other_team) = app
        .user("other@example.com", "other-password-1", None, Role::Owner)
        .await;
    let admin = app.session_cookie(&users[1].1, &team).await;
    let viewer = app.session_cookie(&users[3].1, &team).await;
    let client = client();
    let list = |cookie: String| {
        let client = client.clone();
        let url = app.url("/api/components");
        async move {
            client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .expect("list")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    let listed = list(viewer.clone()).await;
    let components = listed["components"].as_array().expect("array");
    for id in IDS {
        let component = components
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(component["enabled"], true);
        assert!(
            component["route"]
                .as_str()
                .is_some_and(|r| r.starts_with('/'))
        );
        assert!(
            component["transformations"]
                .as_array()
                .is_some_and(|t| !t.is_empty())
        );
    }
    let patch = |cookie: String, id: &str, body: serde_json::Value| {
        client
            .patch(app.url(&format!("/api/components/{id}")))
            .header("cookie", cookie)
            .json(&body)
            .send()
    };
    assert_eq!(
        patch(viewer.clone(), "token-usage", json!({"enabled": false}))
            .await
            .expect("patch")
            .status(),
        403
    );
    let switched = patch(admin.clone(), "token-usage", json!({"enabled": false}))
        .await
        .expect("patch");
    assert_eq!(switched.status(), 200);
    assert_eq!(
        switched.json::<serde_json::Value>().await.expect("json")["enabled"],
        false
    );
    let after = list(viewer.clone()).await;
    let token_usage = after["components"]
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["id"] == "token-usage")
        .cloned();
    assert_eq!(token_usage.expect("present")["enabled"], false);
    // Another team is not affected.
    let other = list(app.session_cookie(&other_owner, &other_team).await).await;
    let theirs = other["components"]
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["id"] == "token-usage")
        .cloned();
    assert_eq!(theirs.expect("present")["enabled"], true);
    assert_eq!(
        patch(
            admin.clone(),
            "no-such-component",
            json!({"enabled": false})
        )
        .await
        .expect("patch")
        .status(),
        404
    );
    // System components (the shell, telemetry) stay on.
    let system = patch(admin.clone(), "console", json!({"enabled": false}));
    assert_eq!(system.await.expect("patch").status(), 422);
    assert_eq!(
        patch(admin.clone(), "token-usage", json!({"enabled": "nope"}))
            .await
            .expect("patch")
            .status(),
        422
    );
    assert_eq!(
        patch(admin.clone(), "token-usage", json!({}))
            .await
            .expect("patch")
            .status(),
        422
    );
    assert!(
        hummbl::components::is_enabled(&app.db, Some(&team), "analytics-dashboard")
            .await
            .expect("db")
    );
    assert!(
        !hummbl::components::is_enabled(&app.db, Some(&team), "token-usage")
            .await
            .expect("db")
    );
    assert!(
        hummbl::components::is_enabled(&app.db, None, "token-usage")
            .await
            .expect("db")
    );
    app.stop().await;
}

#[tokio::test]
async fn settings_page_shows_toggles_to_admins_only() {
    let app = TestApp::spawn().await;
    let (team, users) = app.team_with_every_role("s").await;
    let client = client();
    let page = |cookie: String| {
        let client = client.clone();
        let url = app.url("/settings/components");
        async move {
            client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .expect("page")
                .text()
                .await
                .expect("html")
        }
    };
    let as_admin = page(app.session_cookie(&users[1].1, &team).await).await;
    assert!(as_admin.contains("role=\"switch\""));
    assert!(as_admin.contains("Execution monitor"));
    let as_viewer = page(app.session_cookie(&users[3].1, &team).await).await;
    assert!(!as_viewer.contains("role=\"switch\""));
    assert!(as_viewer.contains("Admins and owners can switch components"));
    // The form toggle works and is audited.
    let toggled = client
        .post(app.url("/settings/components/error-logs"))
        .header("cookie", app.session_cookie(&users[0].1, &team).await)
        .form(&[("enabled", "false")])
        .send()
        .await
        .expect("toggle");
    assert_eq!(toggled.status(), 303);
    assert!(
        !hummbl::components::is_enabled(&app.db, Some(&team), "error-logs")
            .await
            .expect("db")
    );
    let audit: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'component.disabled' AND target_id = 'error-logs'")
        .fetch_one(app.db.read())
        .await
        .expect("audit");
    assert_eq!(audit, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_disabled_components_routes_answer_404() {
    use axum::routing::get;
    // The guard is the route table's: mount a route declared for a component
    // through the same mechanism and watch it disappear when switched off.
    let app = TestApp::spawn().await;
    let (team, users) = app.team_with_every_role("g").await;
    let route =
        hummbl::routes::Route::api(axum::http::Method::GET, "/api/probe", || async { "probe" })
            .allowed(hummbl::auth::Permission::Read)
            .component(hummbl::components::id::PILOT_EVALUATION);
    let (path, handler) = hummbl::guard::mount(route, &app.state);
    let router = axum::Router::new()
        .route(path, handler)
        .route("/plain", get(|| async { "plain" }))
        .layer(axum::middleware::from_fn_with_state(
            app.state.clone(),
            hummbl::auth::authenticate,
        ))
        .with_state(app.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let cookie = app.session_cookie(&users[0].1, &team).await;
    let client = client();
    let probe = || {
        client
            .get(format!("http://{addr}/api/probe"))
            .header("cookie", cookie.clone())
            .send()
    };
    assert_eq!(probe().await.expect("probe").status(), 200);
    hummbl::components::set_enabled(&app.db, &team, "pilot-evaluation", false, &users[0].1)
        .await
        .expect("toggle");
    assert_eq!(probe().await.expect("probe").status(), 404);
    hummbl::components::set_enabled(&app.db, &team, "pilot-evaluation", true, &users[0].1)
        .await
        .expect("toggle");
    assert_eq!(probe().await.expect("probe").status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn registration_is_idempotent_and_records_version_bumps() {
    let app = TestApp::spawn().await;
    hummbl::components::register_built_ins(&app.db)
        .await
        .expect("again");
    let versions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM component_versions")
        .fetch_one(app.db.read())
        .await
        .expect("count");
    assert_eq!(
        versions,
        hummbl::components::BUILT_IN.len() as i64,
        "one row per component at first registration, none for a re-run"
    );
    sqlx::query("UPDATE basen_components SET version = '0.0.1' WHERE id = 'token-usage'")
        .execute(app.db.write())
        .await
        .expect("downgrade");
    hummbl::components::register_built_ins(&app.db)
        .await
        .expect("bump");
    let previous: Option<String> = sqlx::query_scalar(
        "SELECT previous_version FROM component_versions WHERE component_id = 'token-usage' AND previous_version IS NOT NULL",
    )
    .fetch_optional(app.db.read())
    .await
    .expect("query");
    assert_eq!(previous.as_deref(), Some("0.0.1"));
    app.stop().await;
}
