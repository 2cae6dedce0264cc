//! The agents page against the real server: members create, edit and archive
//! agents through its forms under the API's rules (a refusal is shown beside its
//! field, with what was sent kept); viewers read it only; the component switch
//! takes the page and the API away together.

mod common;

use common::TestApp;
use common::fake_provider::{FakeProvider, GOOD_KEY};
use common::runtime::{member_api, owner_api};
use hummbl::auth::Role;
use serde_json::json;

#[tokio::test]
async fn members_manage_agents_through_the_page_and_viewers_only_read() {
    let app = TestApp::spawn().await;
    let fake = FakeProvider::start().await;
    let (owner, team) = owner_api(&app, "agents-page").await;
    let key = owner
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let member = member_api(&app, &team, "agents-member", Role::Member).await;

    let (status, empty) = member.page("/agents").await;
    assert_eq!(status, 200);
    assert!(empty.contains("No agents yet.") && empty.contains("Create agent"));
    let tested = owner
        .post(&format!("/api/keys/{key}/test"), serde_json::json!({}))
        .await;
    assert_eq!(
        tested.1["models"],
        serde_json::json!(["gpt-4o-mini"]),
        "{tested:?}"
    );
    let (_, offered) = member.page("/agents").await;
    assert!(
        offered.contains("listed by"),
        "the models the key's provider listed are offered: {offered}"
    );

    let form = [
        ("name", "Writer"),
        ("key_id", key.as_str()),
        ("model", "gpt-4o-mini"),
        ("instructions", "Be brief."),
        ("temperature", "0.3"),
        ("max_tokens", ""),
    ];
    let (status, location) = member.post_form("/agents", &form).await;
    assert_eq!((status, location.as_str()), (303, "/agents"));
    let (_, listed) = member.get("/api/agents").await;
    let agent = &listed["agents"][0];
    assert_eq!(agent["provider"], "openai", "the key decided the provider");
    assert_eq!(agent["parameters"]["temperature"], 0.3);
    let id = agent["id"].as_str().expect("id").to_string();

    // A refusal: 422, the message beside the field, the values kept.
    let bad: Vec<(&str, &str)> = form
        .iter()
        .map(|&(name, value)| (name, if name == "temperature" { "9" } else { value }))
        .collect();
    let refused = member
        .client
        .post(format!("{}/agents/{id}", member.base))
        .header("cookie", &member.cookie)
        .form(&bad)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.expect("html");
    assert!(html.contains("must be between 0 and 2") && html.contains(r#"aria-invalid="true""#));
    assert!(html.contains(r#"value="9""#), "what was sent is kept");

    let (status, edit) = member.page(&format!("/agents/{id}/edit")).await;
    assert_eq!(status, 200);
    assert!(edit.contains("Edit Writer") && edit.contains(r#"value="0.3""#));
    let renamed = [
        ("name", "Editor"),
        ("key_id", key.as_str()),
        ("model", "gpt-4o"),
    ];
    let (status, _) = member.post_form(&format!("/agents/{id}"), &renamed).await;
    assert_eq!(status, 303);
    let (_, agent) = member.get(&format!("/api/agents/{id}")).await;
    assert_eq!(
        (agent["name"].as_str(), agent["model"].as_str()),
        (Some("Editor"), Some("gpt-4o"))
    );

    let viewer = member_api(&app, &team, "agents-viewer", Role::Viewer).await;
    let (status, read_only) = viewer.page("/agents").await;
    assert_eq!(status, 200);
    assert!(
        read_only.contains("Editor")
            && !read_only.contains("<form method=\"post\" action=\"/agents")
    );
    let (status, _) = viewer.post_form("/agents", &form).await;
    assert_eq!(status, 403);

    let (status, _) = member
        .post_form(&format!("/agents/{id}/archive"), &[])
        .await;
    assert_eq!(status, 303);
    let (_, listed) = member.get("/api/agents").await;
    assert_eq!(listed["agents"].as_array().map(Vec::len), Some(0));

    // Switched off: the page, its forms and the API answer 404.
    let (status, _) = owner
        .send(
            reqwest::Method::PATCH,
            "/api/components/agents",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(member.page("/agents").await.0, 404);
    assert_eq!(member.get("/api/agents").await.0, 404);
    let (_, home) = member.page("/").await;
    let nav = &home[home.find("<nav").expect("navigation")..];
    let nav = &nav[..nav.find("</nav>").expect("navigation end")];
    assert!(!nav.contains("href=\"/agents\""), "the navigation hides it");
    app.stop().await;
}
