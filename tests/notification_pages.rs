//! The console's forms for page 8 beyond the inbox, through the real server:
//! alert rules added, switched off and deleted by admins (a refusal comes
//! back beside its field, and viewers get no forms); notification settings
//! saved from the form; following a workflow from its page.

mod common;

use common::TestApp;
use common::fake_provider::{FakeProvider, GOOD_KEY};
use common::runtime::{member_api, owner_api};
use hummbl::auth::Role;
use serde_json::json;

#[tokio::test]
async fn admins_manage_alert_rules_from_the_page_and_viewers_only_read() {
    let app = TestApp::spawn().await;
    let (owner, team) = owner_api(&app, "alert-page").await;
    let viewer = member_api(&app, &team, "alert-page-viewer", Role::Viewer).await;

    let (status, html) = owner.page("/notifications/alerts").await;
    assert_eq!(status, 200);
    assert!(html.contains("No alert rules yet.") && html.contains("New alert rule"));

    let (status, refused) = owner
        .form_page(
            "/notifications/alerts",
            &[("name", "Slow"), ("kind", "long_running"), ("minutes", "0")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(refused.contains("must be 1 to 10080"), "beside its field");
    assert!(refused.contains(r#"value="Slow""#), "what was typed stays");

    let (status, location) = owner
        .post_form(
            "/notifications/alerts",
            &[
                ("name", "Budget"),
                ("kind", "spend"),
                ("budget_usd", "250"),
                ("projected", "on"),
                ("email", "on"),
            ],
        )
        .await;
    assert_eq!((status, location.as_str()), (303, "/notifications/alerts"));
    let (_, list) = owner.get("/api/alerts").await;
    let rule = &list["alerts"][0];
    assert_eq!(
        rule["condition"],
        json!({"kind": "spend", "budget_micros": 250_000_000, "projected": true})
    );
    assert_eq!(rule["email"], true);
    let id = rule["id"].as_str().expect("id");

    let (_, html) = viewer.page("/notifications/alerts").await;
    assert!(
        html.contains("Projected spend this month above $250.00"),
        "{html}"
    );
    assert!(!html.contains("New alert rule") && !html.contains("/delete"));
    let (status, _) = viewer
        .post_form(&format!("/notifications/alerts/{id}/delete"), &[])
        .await;
    assert_eq!(status, 403);

    let (status, _) = owner
        .post_form(
            &format!("/notifications/alerts/{id}/enabled"),
            &[("enabled", "false")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, switched) = owner.get(&format!("/api/alerts/{id}")).await;
    assert_eq!(switched["enabled"], false);
    let (status, _) = owner
        .post_form(&format!("/notifications/alerts/{id}/delete"), &[])
        .await;
    assert_eq!(status, 303);
    let (_, list) = owner.get("/api/alerts").await;
    assert_eq!(list["alerts"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn settings_are_saved_from_the_form_and_a_bad_zone_is_refused() {
    let app = TestApp::spawn().await;
    let (owner, _) = owner_api(&app, "settings-page").await;
    let (status, html) = owner.page("/notifications/settings").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("As the rule says"),
        "alerts follow their rule by default"
    );

    let (status, refused) = owner
        .form_page(
            "/notifications/settings",
            &[
                ("frequency", "daily"),
                ("hour", "8"),
                ("timezone", "Mars/Base"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(refused.contains("unknown time zone"));

    // Only execution_failed is checked in the console; it also comes by mail.
    let (status, location) = owner
        .post_form(
            "/notifications/settings",
            &[
                ("in_app.execution_failed", "on"),
                ("email.execution_failed", "on"),
                ("email.alert_fired", "default"),
                ("frequency", "weekly"),
                ("hour", "7"),
                ("weekday", "4"),
                ("timezone", "America/New_York"),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/notifications/settings?saved=1")
    );
    let (_, prefs) = owner.get("/api/notifications/preferences").await;
    let of = |kind: &str| {
        prefs["preferences"]
            .as_array()
            .expect("preferences")
            .iter()
            .find(|p| p["type"] == kind)
            .cloned()
            .expect("type")
    };
    assert_eq!(of("execution_failed")["in_app"], true);
    assert_eq!(of("execution_failed")["email"], true);
    assert_eq!(of("key_failed")["in_app"], false, "an unchecked box is off");
    assert!(of("alert_fired")["email"].is_null(), "left to the rule");
    assert_eq!(prefs["digest"]["frequency"], "weekly");
    assert_eq!(prefs["digest"]["weekday"], 4);
    assert_eq!(prefs["digest"]["timezone"], "America/New_York");
    let (_, html) = owner.page("/notifications/settings?saved=1").await;
    assert!(html.contains("Saved.") && html.contains("Next digest"));
    app.stop().await;
}

#[tokio::test]
async fn a_workflow_is_followed_from_its_page() {
    let app = TestApp::spawn().await;
    let (owner, team) = owner_api(&app, "follow-page").await;
    let viewer = member_api(&app, &team, "follow-page-viewer", Role::Viewer).await;
    let fake = FakeProvider::start().await;
    let key = owner
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = owner.agent("Writer", "openai", "gpt-4o-mini", &key).await;
    let workflow = owner
        .workflow(
            "Nightly",
            json!([{"id": "only", "agent": agent, "prompt": "go"}]),
        )
        .await;
    let page = format!("/workflows/{workflow}");
    let (_, html) = viewer.page(&page).await;
    assert!(html.contains(">Follow<"), "{html}");
    let (status, location) = viewer
        .post_form(&format!("{page}/follow"), &[("follow", "true")])
        .await;
    assert_eq!((status, location.as_str()), (303, page.as_str()));
    let (_, followed) = viewer
        .get(&format!("/api/workflows/{workflow}/subscription"))
        .await;
    assert_eq!(followed["subscribed"], true);
    let (_, html) = viewer.page(&page).await;
    assert!(html.contains(">Following<"));
    viewer
        .post_form(&format!("{page}/follow"), &[("follow", "false")])
        .await;
    let (_, unfollowed) = viewer
        .get(&format!("/api/workflows/{workflow}/subscription"))
        .await;
    assert_eq!(unfollowed["subscribed"], false);
    app.stop().await;
}
