//! The provider keys page (`/settings/api-keys`) and the key API behind it,
//! against the real server and the fake provider: admins add, rename, replace
//! and delete keys with the page's forms; members read the list and the server
//! refuses their forms; a key agents use is not deleted (409 naming them); the
//! key's plaintext appears in no page and no API answer; the validity test
//! lists the provider's models, marks a refused key invalid and a later
//! accepted one active.

mod common;

use common::TestApp;
use common::fake_provider::{FakeProvider, GOOD_KEY, REVOKED_KEY};
use common::runtime::{Api, member_api, owner_api};
use hummbl::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

const SECRET: &str = "sk-page-PLAINTEXTSECRET-4321";
const ROTATED: &str = "sk-page-ROTATEDSECRET-8765";

/// Posts a page form: status, `Location` and body.
async fn form(api: &Api, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
    let response = api
        .client
        .post(format!("{}{path}", api.base))
        .header("cookie", &api.cookie)
        .form(fields)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, location, response.text().await.expect("body"))
}

async fn keys(api: &Api) -> Vec<Value> {
    let (status, listed) = api.get("/api/keys").await;
    assert_eq!(status, 200, "{listed}");
    listed["keys"].as_array().expect("keys").clone()
}

fn no_plaintext(text: &str) {
    assert!(!text.contains("PLAINTEXTSECRET"), "plaintext in {text}");
    assert!(!text.contains("ROTATEDSECRET"), "plaintext in {text}");
}

#[tokio::test]
async fn admins_manage_keys_with_the_pages_forms() {
    let app = TestApp::spawn().await;
    let fake = FakeProvider::start().await;
    let (owner, _team) = owner_api(&app, "keys-page-admin").await;

    let (status, page) = owner.page("/settings/api-keys").await;
    assert_eq!(status, 200);
    assert!(page.contains("No provider keys yet."));
    assert!(page.contains(r#"action="/settings/api-keys""#));
    assert!(page.contains(r#"href="/settings/ingestion-keys""#));

    // Add.
    let base = fake.openai_base();
    let (status, location, _) = form(
        &owner,
        "/settings/api-keys",
        &[
            ("provider", "openai"),
            ("label", "Production"),
            ("key", SECRET),
            ("base_url", &base),
        ],
    )
    .await;
    assert_eq!((status, location.as_str()), (303, "/settings/api-keys"));
    let listed = keys(&owner).await;
    assert_eq!(listed.len(), 1);
    let id = listed[0]["id"].as_str().expect("id").to_string();
    assert_eq!(listed[0]["last4"], "4321");
    assert_eq!(listed[0]["label"], "Production");
    assert_eq!(listed[0]["agents"], 0);
    assert!(listed[0]["created_by"].is_string());
    let (_, page) = owner.page("/settings/api-keys").await;
    assert!(page.contains("…4321"));
    assert!(page.contains("badge-key-unused"), "no agent, never used");
    assert!(page.contains(&format!(r#"action="/settings/api-keys/{id}/secret""#)));
    no_plaintext(&page);

    // A broken field: the page again, with the rule, and nothing saved.
    let (status, _, body) = form(
        &owner,
        "/settings/api-keys",
        &[("provider", "openai"), ("label", "Short"), ("key", "short")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("must be 8 to 512 characters"), "{body}");
    assert_eq!(keys(&owner).await.len(), 1);

    // Rename.
    let (status, _, _) = form(
        &owner,
        &format!("/settings/api-keys/{id}/label"),
        &[("label", "Primary")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(keys(&owner).await[0]["label"], "Primary");

    // Replace the secret (and the base URL with it): the old one is gone.
    let (status, _, _) = form(
        &owner,
        &format!("/settings/api-keys/{id}/secret"),
        &[("key", ROTATED), ("base_url", &base)],
    )
    .await;
    assert_eq!(status, 303);
    let listed = keys(&owner).await;
    assert_eq!(listed[0]["last4"], "8765");
    no_plaintext(&listed.iter().map(Value::to_string).collect::<String>());

    // Agents use it: deleting it is refused, naming them, on the page and the API.
    let agent = owner
        .agent("Summarizer <eu>", "openai", "gpt-4o-mini", &id)
        .await;
    let (status, _, body) = form(&owner, &format!("/settings/api-keys/{id}/delete"), &[]).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("Summarizer &lt;eu&gt;"), "{body}");
    let (status, answer) = owner
        .send(Method::DELETE, &format!("/api/keys/{id}"), None)
        .await;
    assert_eq!(status, 409);
    assert!(answer.to_string().contains("Summarizer <eu>"), "{answer}");
    assert_eq!(keys(&owner).await[0]["agents"], 1);
    let (_, page) = owner.page("/settings/api-keys").await;
    assert!(!page.contains("badge-key-unused"), "an agent uses it");
    no_plaintext(&page);

    // Archived agents do not hold it.
    let (status, _) = owner
        .send(Method::DELETE, &format!("/api/agents/{agent}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, location, _) = form(&owner, &format!("/settings/api-keys/{id}/delete"), &[]).await;
    assert_eq!((status, location.as_str()), (303, "/settings/api-keys"));
    assert!(keys(&owner).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn members_and_viewers_read_the_list_and_are_refused_changes() {
    let app = TestApp::spawn().await;
    let fake = FakeProvider::start().await;
    let (owner, team) = owner_api(&app, "keys-page-read").await;
    let id = owner
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    for (role, tag) in [(Role::Member, "keys-member"), (Role::Viewer, "keys-viewer")] {
        let reader = member_api(&app, &team, tag, role).await;
        let (status, page) = reader.page("/settings/api-keys").await;
        assert_eq!(status, 200);
        assert!(page.contains("…1234"));
        assert!(page.contains("Admins and owners add, change and delete provider keys."));
        assert!(!page.contains("action=\"/settings/api-keys"), "no forms");
        for path in [
            "/settings/api-keys".to_string(),
            format!("/settings/api-keys/{id}/label"),
            format!("/settings/api-keys/{id}/secret"),
            format!("/settings/api-keys/{id}/delete"),
            format!("/settings/api-keys/{id}/test"),
        ] {
            let (status, _, _) = form(
                &reader,
                &path,
                &[
                    ("provider", "openai"),
                    ("label", "mine"),
                    ("key", "sk-member-12345678"),
                ],
            )
            .await;
            assert_eq!(status, 403, "{role:?} POST {path}");
        }
    }
    let listed = keys(&owner).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["label"], "openai test");
    app.stop().await;
}

#[tokio::test]
async fn the_test_lists_models_and_marks_the_key_invalid_then_active() {
    let app = TestApp::spawn().await;
    let fake = FakeProvider::start().await;
    let (owner, team) = owner_api(&app, "keys-page-test").await;
    let id = owner
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let path = format!("/api/keys/{id}/test");

    // Accepted: the provider's models, its latency, a message.
    let tested = owner.expect_post(&path, json!({}), 200).await;
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(tested["models"], json!(["gpt-4o-mini"]));
    assert!(tested["latency_ms"].as_i64().is_some_and(|ms| ms >= 0));
    assert!(
        tested["message"]
            .as_str()
            .is_some_and(|m| m.contains("1 models"))
    );
    let listed = keys(&owner).await;
    assert_eq!(listed[0]["status"], "active");
    assert_eq!(listed[0]["last_test_result"], "ok");
    assert!(listed[0]["last_tested_at"].is_i64());
    assert!(listed[0]["last_used_at"].is_null(), "a test is not a use");

    // A secret the provider refuses: invalid, with the provider's message.
    let (status, _) = owner
        .send(
            Method::PATCH,
            &format!("/api/keys/{id}"),
            Some(json!({"key": REVOKED_KEY})),
        )
        .await;
    assert_eq!(status, 200);
    let tested = owner.expect_post(&path, json!({}), 200).await;
    assert_eq!(
        (&tested["ok"], &tested["models"]),
        (&json!(false), &json!([]))
    );
    assert!(
        tested["message"]
            .as_str()
            .is_some_and(|m| m.contains("Incorrect API key")),
        "{tested}"
    );
    let listed = keys(&owner).await;
    assert_eq!(listed[0]["status"], "invalid");
    assert_eq!(listed[0]["last_test_result"], "refused");
    let (_, page) = owner.page("/settings/api-keys").await;
    assert!(page.contains("badge-key-invalid"));
    assert!(
        page.contains("Incorrect API key"),
        "admins read the message"
    );

    // Members see the result, not the provider's words.
    let member = member_api(&app, &team, "keys-test-member", Role::Member).await;
    let (_, listed) = member.get("/api/keys").await;
    assert_eq!(listed["keys"][0]["last_test_result"], "refused");
    assert!(listed["keys"][0]["last_test_message"].is_null());
    assert!(!listed.to_string().contains("Incorrect API key"));
    let (_, page) = member.page("/settings/api-keys").await;
    assert!(!page.contains("Incorrect API key"));
    assert_eq!(member.post(&path, json!({})).await.0, 403);

    // The good secret again, tested from the page's form: active.
    let (status, _) = owner
        .send(
            Method::PATCH,
            &format!("/api/keys/{id}"),
            Some(json!({"key": GOOD_KEY})),
        )
        .await;
    assert_eq!(status, 200);
    sqlx::query("UPDATE api_keys_secure SET status = 'invalid' WHERE id = $1")
        .bind(&id)
        .execute(app.db.write())
        .await
        .expect("mark invalid");
    let (status, location, _) = form(&owner, &format!("/settings/api-keys/{id}/test"), &[]).await;
    assert_eq!((status, location.as_str()), (303, "/settings/api-keys"));
    let listed = keys(&owner).await;
    assert_eq!(
        listed[0]["status"], "active",
        "a success marks it active again"
    );
    assert_eq!(listed[0]["last_test_result"], "ok");
    no_plaintext(&listed.iter().map(Value::to_string).collect::<String>());
    assert!(!listed.iter().any(|k| k.to_string().contains(GOOD_KEY)));
    app.stop().await;
}

#[tokio::test]
async fn usage_counts_the_steps_that_called_with_the_key() {
    let app = TestApp::spawn().await;
    let fake = FakeProvider::start().await;
    let (owner, team) = owner_api(&app, "keys-usage").await;
    let used = owner
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let idle = owner
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = owner.agent("Writer", "openai", "gpt-4o-mini", &used).await;
    let two_steps = owner
        .workflow(
            "Two",
            json!([{"id": "a", "agent": agent, "prompt": "Facts about {{input.topic}}"},
                   {"id": "b", "agent": agent, "prompt": "Brief: {{steps.a.output}}", "depends_on": ["a"]}]),
        )
        .await;
    let failing = owner
        .workflow(
            "Fails",
            json!([{"id": "a", "agent": agent, "prompt": "[fail:400] no"}]),
        )
        .await;
    let mut executions = Vec::new();
    for (workflow, status) in [(&two_steps, "succeeded"), (&failing, "failed")] {
        let id = owner.run(workflow, json!({"topic": "tides"})).await;
        let execution = owner.wait_finished(&id).await;
        assert_eq!(execution["status"], status, "{execution:#}");
        executions.push(execution);
    }
    let steps: Vec<&Value> = executions
        .iter()
        .flat_map(|e| e["steps"].as_array().expect("steps").iter())
        .collect();
    let sum = |field: &str| -> i64 { steps.iter().map(|s| s[field].as_i64().unwrap_or(0)).sum() };

    let (status, usage) = owner.get(&format!("/api/keys/{used}/usage?days=30")).await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["calls"], 3, "{usage}");
    assert_eq!(usage["errors"], 1);
    assert_eq!(usage["input_tokens"], sum("input_tokens"));
    assert_eq!(usage["output_tokens"], sum("output_tokens"));
    assert_eq!(usage["cached_tokens"], sum("cached_tokens"));
    assert_eq!(usage["cost_micros"], sum("cost_micros"));
    let days = usage["days"].as_array().expect("days");
    assert_eq!(days.len(), 30);
    assert_eq!(days[29]["calls"], 3, "today is the last day");
    assert_eq!(days[0]["calls"], 0);

    // Everyone in the team reads it; another key's is its own; bad periods are 422.
    let viewer = member_api(&app, &team, "keys-usage-viewer", Role::Viewer).await;
    let (status, idle_usage) = viewer.get(&format!("/api/keys/{idle}/usage")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            idle_usage["calls"].clone(),
            idle_usage["days"].as_array().map(Vec::len)
        ),
        (json!(0), Some(30))
    );
    for days in ["0", "366", "x"] {
        let (status, _) = owner
            .get(&format!("/api/keys/{used}/usage?days={days}"))
            .await;
        assert!(matches!(status, 400 | 422), "days={days}: {status}");
    }
    let (status, _) = owner.get("/api/keys/no-such-key/usage").await;
    assert_eq!(status, 404);

    // The page: the used key is active with its calls; the idle one unused.
    let listed = keys(&owner).await;
    let used_row = listed
        .iter()
        .find(|k| k["id"] == used.as_str())
        .expect("key");
    assert!(
        used_row["last_used_at"].is_i64(),
        "a call marks the key used"
    );
    let (_, page) = viewer.page("/settings/api-keys").await;
    assert!(page.contains("</svg> 3 calls"), "{page}");
    assert_eq!(page.matches("badge-key-unused").count(), 1);
    app.stop().await;
}
