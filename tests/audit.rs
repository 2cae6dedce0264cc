//! Pins down that audited changes write their audit entry in the change's own
//! transaction: each change through the API leaves its entry (action, target,
//! actor), and when the audit insert fails (a trigger refuses it) the change is
//! not made either: a change never commits without its entry.

mod common;

use common::TestApp;
use common::runtime::{Api, id_of, owner_api};
use reqwest::Method;
use serde_json::json;

/// Makes every insert into `audit_log` fail, as a full disk or a lost
/// connection would in the middle of a change.
async fn refuse_audit_writes(app: &TestApp) {
    let statements: &[&str] = match common::backend_name() {
        "postgres" => &[
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$",
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
        ],
        _ => &["CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit refused'); END"],
    };
    for statement in statements {
        sqlx::query(statement)
            .execute(app.db.write())
            .await
            .expect("install the refusing trigger");
    }
}

/// (target id, actor) of the team's audit entries with this action.
async fn entries(app: &TestApp, team: &str, action: &str) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT target_id, actor_user_id FROM audit_log WHERE team_id = $1 AND action = $2 ORDER BY created_at",
    )
    .bind(team)
    .bind(action)
    .fetch_all(app.db.read())
    .await
    .expect("audit entries")
}

/// An open error group of the team, as the runner would have recorded it.
async fn error_group(app: &TestApp, team: &str, fingerprint: &str) {
    sqlx::query(
        "INSERT INTO error_groups (team_id, fingerprint, agent_id, error_class, message, last_error, \
         occurrences, first_seen, last_seen) VALUES ($1, $2, 'agent', 'timeout', 'm', 'm', 1, 1, 1)",
    )
    .bind(team)
    .bind(fingerprint)
    .execute(app.db.write())
    .await
    .expect("an error group");
}

async fn me(api: &Api) -> String {
    let (_, body) = api.get("/api/me").await;
    body["user"]["id"]
        .as_str()
        .or_else(|| body["id"].as_str())
        .expect("my id")
        .to_string()
}

#[tokio::test]
async fn agent_changes_are_audited() {
    let app = TestApp::spawn().await;
    let (api, team) = owner_api(&app, "audit-agents").await;
    let user = me(&api).await;
    let key = api
        .provider_key("openai", "http://127.0.0.1:9/v1", "sk-audit-12345678")
        .await;
    let agent = api.agent("auditor", "openai", "gpt-4o-mini", &key).await;
    let body = json!({"name": "renamed", "provider": "openai", "model": "gpt-4o", "key_id": key});
    let (status, _) = api
        .send(Method::PUT, &format!("/api/agents/{agent}"), Some(body))
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .send(Method::DELETE, &format!("/api/agents/{agent}"), None)
        .await;
    assert_eq!(status, 204);
    for action in ["agent.created", "agent.updated", "agent.archived"] {
        assert_eq!(
            entries(&app, &team, action).await,
            [(agent.clone(), Some(user.clone()))],
            "{action}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn workflow_changes_are_audited() {
    let app = TestApp::spawn().await;
    let (api, team) = owner_api(&app, "audit-workflows").await;
    let user = me(&api).await;
    let key = api
        .provider_key("openai", "http://127.0.0.1:9/v1", "sk-audit-12345678")
        .await;
    let agent = api.agent("writer", "openai", "gpt-4o-mini", &key).await;
    let steps = json!([{"id": "a", "agent": agent, "prompt": "hi"}]);
    let workflow = api.workflow("audited", steps.clone()).await;
    let (status, _) = api
        .send(
            Method::PUT,
            &format!("/api/workflows/{workflow}"),
            Some(json!({"name": "audited v2", "steps": steps})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .send(Method::DELETE, &format!("/api/workflows/{workflow}"), None)
        .await;
    assert_eq!(status, 204);
    for action in ["workflow.created", "workflow.updated", "workflow.archived"] {
        assert_eq!(
            entries(&app, &team, action).await,
            [(workflow.clone(), Some(user.clone()))],
            "{action}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn starting_cancelling_and_retrying_are_audited() {
    let app = TestApp::spawn().await;
    let (api, team) = owner_api(&app, "audit-runs").await;
    let user = me(&api).await;
    let key = api
        .provider_key("openai", "http://127.0.0.1:9/v1", "sk-audit-12345678")
        .await;
    let agent = api.agent("runner", "openai", "gpt-4o-mini", &key).await;
    let workflow = api
        .workflow("runs", json!([{"id": "a", "agent": agent, "prompt": "hi"}]))
        .await;
    // Parked: no runner touches it, so cancelling finds it pending.
    let parked = common::runtime::parked_execution(&app.db, &team, &workflow, "pending").await;
    let (status, _) = api
        .send(
            Method::POST,
            &format!("/api/executions/{parked}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, retried) = api
        .send(
            Method::POST,
            &format!("/api/executions/{parked}/retry"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{retried}");
    let started = api.run(&workflow, json!({})).await;
    assert_eq!(
        entries(&app, &team, "execution.started").await,
        [(started, Some(user.clone()))]
    );
    assert_eq!(
        entries(&app, &team, "execution.cancelled").await,
        [(parked.clone(), Some(user.clone()))]
    );
    assert_eq!(
        entries(&app, &team, "execution.retried").await,
        [(parked, Some(user))]
    );
    app.stop().await;
}

#[tokio::test]
async fn provider_key_changes_are_audited() {
    let app = TestApp::spawn().await;
    let (api, team) = owner_api(&app, "audit-keys").await;
    let user = me(&api).await;
    let key = api
        .provider_key("openai", "http://127.0.0.1:9/v1", "sk-audit-12345678")
        .await;
    let (status, _) = api
        .send(
            Method::PATCH,
            &format!("/api/keys/{key}"),
            Some(json!({"label": "renamed"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .send(Method::POST, &format!("/api/keys/{key}/test"), None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = api
        .send(Method::DELETE, &format!("/api/keys/{key}"), None)
        .await;
    assert_eq!(status, 204);
    let price = json!({"provider": "openai", "model": "gpt-4o", "input_micros_per_mtok": 2_000_000,
        "output_micros_per_mtok": 8_000_000, "cached_micros_per_mtok": 1_000_000});
    let (status, _) = api.post("/api/prices", price).await;
    assert_eq!(status, 201);
    error_group(&app, &team, "fp-audited").await;
    let fingerprints = json!({"fingerprints": ["fp-audited"]});
    let (status, _) = api.post("/api/errors/resolve", fingerprints.clone()).await;
    assert_eq!(status, 200);
    let (status, _) = api.post("/api/errors/reopen", fingerprints).await;
    assert_eq!(status, 200);
    for action in ["errors.resolved", "errors.reopened"] {
        assert_eq!(
            entries(&app, &team, action).await,
            [(team.clone(), Some(user.clone()))],
            "{action}"
        );
    }
    let (status, issued) = api
        .post("/api/ingestion-keys", json!({"name": "audited"}))
        .await;
    assert_eq!(status, 201, "{issued}");
    let ingestion_key = id_of(&issued);
    let (status, _) = api
        .send(
            Method::DELETE,
            &format!("/api/ingestion-keys/{ingestion_key}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    for action in ["ingestion_key.created", "ingestion_key.revoked"] {
        assert_eq!(
            entries(&app, &team, action).await,
            [(ingestion_key.clone(), Some(user.clone()))],
            "{action}"
        );
    }
    let (status, issued) = api.post("/api/tokens", json!({"name": "audited"})).await;
    assert_eq!(status, 201, "{issued}");
    let token = id_of(&issued);
    let (status, _) = api
        .send(Method::DELETE, &format!("/api/tokens/{token}"), None)
        .await;
    assert_eq!(status, 204);
    for action in ["token.created", "token.revoked"] {
        assert_eq!(
            entries(&app, &team, action).await,
            [(token.clone(), Some(user.clone()))],
            "{action}"
        );
    }
    let priced = entries(&app, &team, "price.set").await;
    assert_eq!(priced.len(), 1);
    assert_eq!(priced[0].1.as_deref(), Some(user.as_str()));
    for action in [
        "provider_key.created",
        "provider_key.updated",
        "provider_key.tested",
        "provider_key.deleted",
    ] {
        assert_eq!(
            entries(&app, &team, action).await,
            [(key.clone(), Some(user.clone()))],
            "{action}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_change_whose_audit_entry_fails_is_not_made() {
    let app = TestApp::spawn().await;
    let (api, team) = owner_api(&app, "audit-refused").await;
    error_group(&app, &team, "fp-open").await;
    let key = api
        .provider_key("openai", "http://127.0.0.1:9/v1", "sk-audit-12345678")
        .await;
    let agent = api.agent("kept", "openai", "gpt-4o-mini", &key).await;
    // No agent uses this one, so deleting it reaches the audit write.
    let spare = api
        .provider_key("openai", "http://127.0.0.1:9/v1", "sk-spare-12345678")
        .await;
    refuse_audit_writes(&app).await;

    let new_agent =
        json!({"name": "never", "provider": "openai", "model": "gpt-4o", "key_id": key});
    let (status, _) = api.post("/api/agents", new_agent.clone()).await;
    assert_eq!(status, 500, "creating an agent");
    let (status, _) = api
        .send(
            Method::PUT,
            &format!("/api/agents/{agent}"),
            Some(new_agent),
        )
        .await;
    assert_eq!(status, 500, "renaming an agent");
    let (status, _) = api
        .send(Method::DELETE, &format!("/api/agents/{agent}"), None)
        .await;
    assert_eq!(status, 500, "archiving an agent");
    let (_, agents) = api.get("/api/agents").await;
    let names: Vec<&str> = agents["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .filter_map(|agent| agent["name"].as_str())
        .collect();
    assert_eq!(names, ["kept"], "no agent created, renamed or archived");
    assert_eq!(id_of(&agents["agents"][0]), agent);

    let steps = json!([{"id": "a", "agent": agent, "prompt": "hi"}]);
    let (status, _) = api
        .post("/api/workflows", json!({"name": "never", "steps": steps}))
        .await;
    assert_eq!(status, 500, "saving a workflow");
    let (_, workflows) = api.get("/api/workflows").await;
    assert_eq!(workflows["workflows"], json!([]), "no workflow saved");

    let price = json!({"provider": "openai", "model": "gpt-4o", "input_micros_per_mtok": 1,
        "output_micros_per_mtok": 1, "cached_micros_per_mtok": 1});
    let (status, _) = api.post("/api/prices", price).await;
    assert_eq!(status, 500, "overriding a price");
    let (_, prices) = api.get("/api/prices").await;
    assert_eq!(prices["overrides"], json!([]), "no price override saved");

    let (status, _) = api.post("/api/tokens", json!({"name": "never"})).await;
    assert_eq!(status, 500, "issuing a personal token");
    let (_, tokens) = api.get("/api/tokens").await;
    assert_eq!(tokens["tokens"], json!([]), "no token issued");

    let (status, _) = api
        .post("/api/ingestion-keys", json!({"name": "never"}))
        .await;
    assert_eq!(status, 500, "issuing an ingestion key");
    let (_, keys) = api.get("/api/ingestion-keys").await;
    assert_eq!(keys["keys"], json!([]), "no ingestion key issued");

    let (status, _) = api
        .post("/api/errors/resolve", json!({"fingerprints": ["fp-open"]}))
        .await;
    assert_eq!(status, 500, "resolving an error group");
    let (_, groups) = api.get("/api/errors?resolved=false").await;
    assert_eq!(groups["groups"][0]["fingerprint"], "fp-open", "still open");

    let new_key = json!({"provider": "openai", "label": "never", "key": "sk-never-12345678"});
    let (status, _) = api.post("/api/keys", new_key).await;
    assert_eq!(status, 500, "saving a key");
    let rename = Some(json!({"label": "renamed"}));
    let (status, _) = api
        .send(Method::PATCH, &format!("/api/keys/{key}"), rename)
        .await;
    assert_eq!(status, 500, "renaming a key");
    let (status, _) = api
        .send(Method::DELETE, &format!("/api/keys/{spare}"), None)
        .await;
    assert_eq!(status, 500, "deleting a key");
    let (_, keys) = api.get("/api/keys").await;
    let labels: Vec<&str> = keys["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|key| key["label"].as_str())
        .collect();
    assert_eq!(
        labels,
        ["openai test", "openai test"],
        "no key saved, renamed or deleted"
    );
    app.stop().await;
}
