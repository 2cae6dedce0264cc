//! The agent runtime against a fake OpenAI/Anthropic server on loopback: runs end
//! to end with parallel steps and token accounting, validation, kill and retry,
//! failing and flaky providers, invalid keys, and viewers' limits.

mod common;

use std::time::Duration;

use common::TestApp;
use common::fake_provider::{FakeProvider, GOOD_KEY, REVOKED_KEY};
use common::runtime::{Api, fast_retries, member_api, owner_api, step};
use hummbl::auth::Role;
use hummbl::providers::Usage;
use serde_json::{Value, json};

struct Setup {
    app: TestApp,
    api: Api,
    team: String,
    fake: common::fake_provider::Running,
    openai_agent: String,
    anthropic_agent: String,
}

async fn setup(tag: &str) -> Setup {
    let app = TestApp::spawn_with(fast_retries).await;
    let fake = FakeProvider::start().await;
    let (api, team) = owner_api(&app, tag).await;
    let openai_key = api
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let anthropic_key = api
        .provider_key("anthropic", &fake.anthropic_base(), GOOD_KEY)
        .await;
    let openai_agent = api
        .agent("Writer", "openai", "gpt-4o-mini", &openai_key)
        .await;
    let anthropic_agent = api
        .agent(
            "Reviewer",
            "anthropic",
            "claude-3-5-haiku-20241022",
            &anthropic_key,
        )
        .await;
    Setup {
        app,
        api,
        team,
        fake,
        openai_agent,
        anthropic_agent,
    }
}

fn cost(usage: Usage, model: &str) -> i64 {
    hummbl::prices::cost_micros(
        usage,
        hummbl::prices::default_price(model).expect("priced model"),
    )
}

fn number(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("not an integer: {value}"))
}

#[tokio::test]
async fn a_workflow_runs_end_to_end_with_parallel_steps_and_token_accounting() {
    let s = setup("e2e").await;
    let workflow = s
        .api
        .workflow(
            "Brief",
            json!([
                {"id": "facts", "agent": s.openai_agent, "prompt": "[slow:400] Facts about {{input.topic}}"},
                {"id": "angle", "agent": s.anthropic_agent, "prompt": "[slow:400] An angle on {{input.topic}}"},
                {"id": "brief", "agent": s.openai_agent, "depends_on": ["facts", "angle"],
                 "prompt": "Combine <{{steps.facts.output}}> and <{{steps.angle.output}}>"}
            ]),
        )
        .await;
    let id = s.api.run(&workflow, json!({"topic": "tides"})).await;
    let execution = s.api.wait_finished(&id).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    assert_eq!(execution["steps_done"], 3);
    assert_eq!(execution["workflow_version"], 1);
    assert_eq!(execution["triggered_by"], "user");

    // The independent steps overlapped; the last one saw both outputs.
    let (facts, angle, brief) = (
        step(&execution, "facts"),
        step(&execution, "angle"),
        step(&execution, "brief"),
    );
    assert!(number(&facts["started_at"]) < number(&angle["completed_at"]));
    assert!(number(&angle["started_at"]) < number(&facts["completed_at"]));
    assert!(number(&brief["started_at"]) >= number(&facts["completed_at"]));
    let brief_prompt = brief["input"].as_str().expect("prompt");
    assert!(
        brief_prompt.contains("<echo: [slow:400] Facts about tides>"),
        "{brief_prompt}"
    );
    assert!(
        brief_prompt.contains("<echo: [slow:400] An angle on tides>"),
        "{brief_prompt}"
    );

    // Tokens as each provider counts them: OpenAI's cached tokens are inside
    // prompt_tokens (the fake reports 100 of them), Anthropic's are apart (50).
    let openai_usage = |prompt: &str| Usage {
        input: prompt.len() as i64 / 4 + 10 + 100 - 100,
        output: 7,
        cached: 100,
    };
    let facts_usage = openai_usage(facts["input"].as_str().expect("prompt"));
    assert_eq!(facts["input_tokens"], facts_usage.input);
    assert_eq!(facts["cached_tokens"], 100);
    assert_eq!(facts["output_tokens"], 7);
    assert_eq!(facts["model"], "gpt-4o-mini-2024-07-18");
    let angle_prompt = angle["input"].as_str().expect("prompt");
    let angle_usage = Usage {
        input: angle_prompt.len() as i64 / 4 + 10,
        output: 9,
        cached: 50,
    };
    assert_eq!(angle["input_tokens"], angle_usage.input);
    assert_eq!(angle["cached_tokens"], 50);
    let brief_usage = openai_usage(brief_prompt);
    // Cost from the price table: gpt-4o-mini and claude-3-5-haiku list prices.
    assert_eq!(
        number(&facts["cost_micros"]),
        cost(facts_usage, "gpt-4o-mini")
    );
    assert_eq!(
        number(&angle["cost_micros"]),
        cost(angle_usage, "claude-3-5-haiku")
    );
    assert!(number(&facts["cost_micros"]) > 0);
    let total_input = facts_usage.input + angle_usage.input + brief_usage.input;
    assert_eq!(number(&execution["input_tokens"]), total_input);
    assert_eq!(number(&execution["output_tokens"]), 7 + 9 + 7);
    assert_eq!(number(&execution["cached_tokens"]), 100 + 50 + 100);
    let total_cost: i64 = ["facts", "angle", "brief"]
        .iter()
        .map(|id| number(&step(&execution, id)["cost_micros"]))
        .sum();
    assert_eq!(number(&execution["cost_micros"]), total_cost);
    assert_eq!(s.fake.provider.calls().len(), 3);

    // The list filters by status and workflow.
    let (status, list) = s
        .api
        .get(&format!(
            "/api/executions?status=succeeded&workflow={workflow}"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["executions"].as_array().map(Vec::len), Some(1));
    let (_, none) = s.api.get("/api/executions?status=running,pending").await;
    assert_eq!(none["executions"].as_array().map(Vec::len), Some(0));
    let user = execution["user_id"].as_str().expect("started by a user");
    let created = number(&execution["created_at"]);
    for (query, expected) in [
        (format!("user={user}"), 1),
        ("user=someone-else".to_string(), 0),
        (format!("since={created}"), 1),
        (format!("until={created}"), 0),
    ] {
        let (_, list) = s.api.get(&format!("/api/executions?{query}")).await;
        assert_eq!(
            list["executions"].as_array().map(Vec::len),
            Some(expected),
            "{query}"
        );
    }
    s.app.stop().await;
}

#[tokio::test]
async fn mistakes_in_keys_agents_workflows_and_runs_are_named() {
    let s = setup("mistakes").await;
    let field = |answer: &Value| {
        answer["error"]["field"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let (status, answer) = s
        .api
        .post(
            "/api/keys",
            json!({"provider": "gemini", "label": "x", "key": "sk-12345678"}),
        )
        .await;
    assert_eq!((status, field(&answer)), (422, "provider".into()));
    let (status, answer) = s
        .api
        .post(
            "/api/keys",
            json!({"provider": "simulated", "label": "x", "key": "sk-12345678"}),
        )
        .await;
    assert_eq!(
        (status, field(&answer)),
        (422, "provider".into()),
        "simulated is for the demo team only"
    );
    let (status, answer) = s
        .api
        .post(
            "/api/keys",
            json!({"provider": "openai", "label": "x", "key": "sk-1", "base_url": "ftp://x"}),
        )
        .await;
    assert_eq!((status, field(&answer)), (422, "key".into()));
    let (status, answer) = s
        .api
        .post("/api/keys", json!({"provider": "openai", "label": "x", "key": "sk-12345678", "base_url": "ftp://x"}))
        .await;
    assert_eq!((status, field(&answer)), (422, "base_url".into()));

    let keys = s.api.get("/api/keys").await.1;
    let anthropic_key = keys["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["provider"] == "anthropic"))
        .map(|k| k["id"].as_str().unwrap_or_default().to_string())
        .expect("anthropic key");
    let (status, answer) = s
        .api
        .post("/api/agents", json!({"name": "Mixed", "provider": "openai", "model": "gpt-4o", "key_id": anthropic_key}))
        .await;
    assert_eq!((status, field(&answer)), (422, "key_id".into()));

    let cases = [
        (
            json!([{"id": "a", "agent": "nobody", "prompt": "x"}]),
            "steps[0].agent",
        ),
        (
            json!([{"id": "a", "agent": s.openai_agent, "prompt": "x", "depends_on": ["b"]},
                   {"id": "b", "agent": s.openai_agent, "prompt": "x", "depends_on": ["a"]}]),
            "steps[0].depends_on",
        ),
        (
            json!([{"id": "a", "agent": s.openai_agent, "prompt": "{{steps.b.output}}"},
                   {"id": "b", "agent": s.openai_agent, "prompt": "x"}]),
            "steps[0].prompt",
        ),
        (
            json!([{"id": "a b", "agent": s.openai_agent, "prompt": "x"}]),
            "steps[0].id",
        ),
    ];
    for (steps, expected) in cases {
        let (status, answer) = s
            .api
            .post("/api/workflows", json!({"name": "Bad", "steps": steps}))
            .await;
        assert_eq!(
            (status, field(&answer)),
            (422, expected.to_string()),
            "{answer}"
        );
    }
    let workflow = s
        .api
        .workflow(
            "Needs input",
            json!([{"id": "a", "agent": s.openai_agent, "prompt": "About {{input.topic}}"}]),
        )
        .await;
    let (status, answer) = s
        .api
        .post(
            &format!("/api/workflows/{workflow}/run"),
            json!({"input": {}}),
        )
        .await;
    assert_eq!((status, field(&answer)), (422, "input.topic".into()));
    let (status, _) = s.api.get("/api/executions?status=done").await;
    assert_eq!(status, 422);
    let (status, _) = s.api.get("/api/executions?before=garbage").await;
    assert_eq!(status, 422);

    // A saved change is a new version; the old one stays readable.
    let (status, updated) = s
        .api
        .send(
            reqwest::Method::PUT,
            &format!("/api/workflows/{workflow}"),
            Some(json!({"name": "Needs input", "steps": [{"id": "a", "agent": s.openai_agent, "prompt": "On {{input.topic}}"}]})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], 2);
    let (_, versions) = s
        .api
        .get(&format!("/api/workflows/{workflow}/versions"))
        .await;
    assert_eq!(versions["versions"].as_array().map(Vec::len), Some(2));
    s.app.stop().await;
}

#[tokio::test]
async fn a_running_execution_is_killed_at_once_and_retried_from_the_failed_step() {
    let s = setup("kill").await;
    let workflow = s
        .api
        .workflow(
            "Slow second step",
            json!([
                {"id": "first", "agent": s.openai_agent, "prompt": "Quick {{input.n}}"},
                {"id": "second", "agent": s.anthropic_agent, "depends_on": ["first"],
                 "prompt": "[slow-once:30000:kill-{{input.n}}] Slow after {{steps.first.output}}"}
            ]),
        )
        .await;
    let id = s.api.run(&workflow, json!({"n": "1"})).await;
    s.api
        .wait_for(&id, Duration::from_secs(10), |e| {
            e["steps"].as_array().is_some_and(|steps| {
                steps
                    .iter()
                    .any(|st| st["step"] == "second" && st["status"] == "running")
            })
        })
        .await;
    let viewer = member_api(&s.app, &s.team, "kill-viewer", Role::Viewer).await;
    let (status, _) = viewer
        .post(&format!("/api/executions/{id}/cancel"), json!({}))
        .await;
    assert_eq!(status, 403, "viewers cannot kill");

    let cancelled = s
        .api
        .expect_post(&format!("/api/executions/{id}/cancel"), json!({}), 200)
        .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["cancelled_by"].is_string());
    assert_eq!(step(&cancelled, "second")["status"], "cancelled");
    // The in-flight call (30 s at the provider) is dropped, not awaited.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while s.app.state.runner.running() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the execution did not stop within a second"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _) = s
        .api
        .post(&format!("/api/executions/{id}/cancel"), json!({}))
        .await;
    assert_eq!(status, 409, "already cancelled");

    // Retry from the failed step: the first step's output is reused, not re-run.
    let (status, _) = viewer
        .post(&format!("/api/executions/{id}/retry"), json!({}))
        .await;
    assert_eq!(status, 403, "viewers cannot retry");
    let retry = s
        .api
        .expect_post(&format!("/api/executions/{id}/retry"), json!({}), 201)
        .await;
    let retried = s.api.wait_finished(retry["id"].as_str().expect("id")).await;
    assert_eq!(retried["status"], "succeeded", "{retried:#}");
    assert_eq!(retried["retry_of"], id);
    assert_eq!(retried["triggered_by"], "retry");
    let first = step(&retried, "first");
    assert!(first["reused_from"].is_string());
    assert_eq!(
        first["input_tokens"], 0,
        "a reused step costs nothing again"
    );
    assert_eq!(s.fake.provider.calls_starting_with("Quick 1"), 1);
    assert_eq!(s.fake.provider.calls_with("Slow after"), 2);

    // From the start, every step runs again.
    let again = s
        .api
        .expect_post(
            &format!("/api/executions/{id}/retry"),
            json!({"from": "start"}),
            201,
        )
        .await;
    let again = s.api.wait_finished(again["id"].as_str().expect("id")).await;
    assert_eq!(again["status"], "succeeded");
    assert!(step(&again, "first")["reused_from"].is_null());
    assert_eq!(s.fake.provider.calls_starting_with("Quick 1"), 2);
    let (status, _) = s
        .api
        .post(
            &format!(
                "/api/executions/{}/retry",
                again["id"].as_str().expect("id")
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "a succeeded execution is not retried");
    s.app.stop().await;
}

#[tokio::test]
async fn provider_failures_are_retried_recorded_and_stop_the_execution() {
    let s = setup("failures").await;
    // 500 twice, then an answer: retried with backoff, three attempts.
    let flaky = s
        .api
        .workflow(
            "Flaky",
            json!([{"id": "a", "agent": s.openai_agent, "prompt": "[flaky:2:f1] hello"}]),
        )
        .await;
    let execution = s
        .api
        .wait_finished(&s.api.run(&flaky, json!({})).await)
        .await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    assert_eq!(step(&execution, "a")["attempts"], 3);

    // A 400 is not retried; the provider's answer is kept; later steps never start.
    let failing = s
        .api
        .workflow(
            "Failing",
            json!([
                {"id": "a", "agent": s.anthropic_agent, "prompt": "[fail:400] bad"},
                {"id": "b", "agent": s.openai_agent, "prompt": "after", "depends_on": ["a"]}
            ]),
        )
        .await;
    let execution = s
        .api
        .wait_finished(&s.api.run(&failing, json!({})).await)
        .await;
    assert_eq!(execution["status"], "failed");
    assert!(
        execution["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("step a:")),
        "{execution:#}"
    );
    let a = step(&execution, "a");
    assert_eq!(a["status"], "failed");
    assert_eq!(a["error_class"], "request_rejected");
    assert_eq!(a["attempts"], 1);
    assert!(
        a["provider_response"]
            .as_str()
            .is_some_and(|body| body.contains("\"type\":\"error\""))
    );
    assert!(
        execution["steps"]
            .as_array()
            .is_some_and(|steps| steps.len() == 1)
    );
    assert_eq!(s.fake.provider.calls_with("after"), 0);

    // A step that outlives its timeout fails as a timeout.
    let slow = s
        .api
        .workflow(
            "Too slow",
            json!([{"id": "a", "agent": s.openai_agent, "prompt": "[slow:5000] wait", "timeout_secs": 1}]),
        )
        .await;
    let execution = s
        .api
        .wait_finished(&s.api.run(&slow, json!({})).await)
        .await;
    assert_eq!(execution["status"], "failed");
    assert_eq!(step(&execution, "a")["error_class"], "timeout");

    // A refused key fails the step as invalid_key and marks the key invalid.
    let revoked = s
        .api
        .provider_key("openai", &s.fake.openai_base(), REVOKED_KEY)
        .await;
    let agent = s.api.agent("Revoked", "openai", "gpt-4o", &revoked).await;
    let workflow = s
        .api
        .workflow(
            "Refused",
            json!([{"id": "a", "agent": agent, "prompt": "hi"}]),
        )
        .await;
    let execution = s
        .api
        .wait_finished(&s.api.run(&workflow, json!({})).await)
        .await;
    assert_eq!(execution["status"], "failed");
    assert_eq!(step(&execution, "a")["error_class"], "invalid_key");
    assert!(
        !execution.to_string().contains(REVOKED_KEY),
        "the key never appears in an answer"
    );
    let (_, key) = s.api.get("/api/keys").await;
    let marked = key["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["id"] == revoked.as_str()))
        .expect("key");
    assert_eq!(marked["status"], "invalid");
    // Testing it says the same; a good key passes.
    let tested = s
        .api
        .expect_post(&format!("/api/keys/{revoked}/test"), json!({}), 200)
        .await;
    assert_eq!(tested["ok"], false);
    let (_, keys) = s.api.get("/api/keys").await;
    let retested = keys["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["id"] == revoked.as_str()))
        .expect("key");
    assert_eq!(
        (&retested["status"], &retested["last_test_result"]),
        (&json!("invalid"), &json!("refused"))
    );
    s.app.stop().await;
}

#[tokio::test]
async fn provider_keys_are_sealed_and_only_their_last_four_characters_shown() {
    let s = setup("vault").await;
    let secret = "sk-live-VERYSECRETVALUE-9876";
    let created = s
        .api
        .expect_post(
            "/api/keys",
            json!({"provider": "openai", "label": "Production", "key": secret, "base_url": s.fake.openai_base()}),
            201,
        )
        .await;
    assert_eq!(created["last4"], "9876");
    assert!(!created.to_string().contains("VERYSECRET"));
    let key_id = created["id"].as_str().expect("id").to_string();
    let (_, listed) = s.api.get("/api/keys").await;
    assert!(!listed.to_string().contains("VERYSECRET"));

    // Nothing readable at rest: the column holds ciphertext, and on SQLite the
    // database file and its WAL never contain the plaintext.
    let stored: String =
        sqlx::query_scalar("SELECT key_encrypted FROM api_keys_secure WHERE id = $1")
            .bind(&key_id)
            .fetch_one(s.app.db.read())
            .await
            .expect("row");
    assert!(!stored.contains("VERYSECRET"));
    if let Some(file) = s.app.db.sqlite_file() {
        for path in [file.to_path_buf(), file.with_extension("db-wal")] {
            if let Ok(bytes) = std::fs::read(&path) {
                assert!(
                    !bytes.windows(10).any(|w| w == b"VERYSECRET"),
                    "plaintext found in {}",
                    path.display()
                );
            }
        }
    }

    // A tampered ciphertext, or another row's, does not open: a clear 409.
    let good = s
        .api
        .provider_key("openai", &s.fake.openai_base(), GOOD_KEY)
        .await;
    let tested = s
        .api
        .expect_post(&format!("/api/keys/{good}/test"), json!({}), 200)
        .await;
    assert_eq!(tested["ok"], true);
    let (good_cipher, good_nonce): (String, String) =
        sqlx::query_as("SELECT key_encrypted, nonce FROM api_keys_secure WHERE id = $1")
            .bind(&good)
            .fetch_one(s.app.db.read())
            .await
            .expect("row");
    sqlx::query("UPDATE api_keys_secure SET key_encrypted = $1, nonce = $2 WHERE id = $3")
        .bind(&good_cipher)
        .bind(&good_nonce)
        .bind(&key_id)
        .execute(s.app.db.write())
        .await
        .expect("swap");
    let (status, answer) = s
        .api
        .post(&format!("/api/keys/{key_id}/test"), json!({}))
        .await;
    assert_eq!(status, 409, "another row's ciphertext: {answer}");
    let mut flipped = good_cipher.into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    sqlx::query("UPDATE api_keys_secure SET key_encrypted = $1 WHERE id = $2")
        .bind(String::from_utf8(flipped).expect("ascii"))
        .bind(&good)
        .execute(s.app.db.write())
        .await
        .expect("tamper");
    let (status, _) = s
        .api
        .post(&format!("/api/keys/{good}/test"), json!({}))
        .await;
    assert_eq!(status, 409, "tampered ciphertext");

    // Replacing the key seals it afresh; deleting removes it.
    let (status, replaced) = s
        .api
        .send(
            reqwest::Method::PATCH,
            &format!("/api/keys/{good}"),
            Some(json!({"key": GOOD_KEY, "label": "Renamed"})),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["label"], "Renamed");
    let tested = s
        .api
        .expect_post(&format!("/api/keys/{good}/test"), json!({}), 200)
        .await;
    assert_eq!(tested["ok"], true);
    let admin = member_api(&s.app, &s.team, "vault-member", Role::Member).await;
    let (status, _) = admin
        .send(reqwest::Method::DELETE, &format!("/api/keys/{good}"), None)
        .await;
    assert_eq!(status, 403, "members cannot delete keys");
    let (status, _) = s
        .api
        .send(reqwest::Method::DELETE, &format!("/api/keys/{good}"), None)
        .await;
    assert_eq!(status, 204);

    // The wrong master key cannot open this database's vault.
    let wrong = hummbl::vault::MasterKey::from_bytes([9; 32]);
    assert!(hummbl::vault::Vault::open(&s.app.db, &wrong).await.is_err());
    s.app.stop().await;
}

#[tokio::test]
async fn another_teams_runtime_objects_are_not_found() {
    let s = setup("team-a").await;
    let workflow = s
        .api
        .workflow(
            "Private",
            json!([{"id": "a", "agent": s.openai_agent, "prompt": "hi"}]),
        )
        .await;
    let execution = s.api.run(&workflow, json!({})).await;
    let (other, _) = owner_api(&s.app, "team-b").await;
    for path in [
        format!("/api/workflows/{workflow}"),
        format!("/api/agents/{}", s.openai_agent),
        format!("/api/executions/{execution}"),
    ] {
        let (status, _) = other.get(&path).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, _) = other
        .post(&format!("/api/workflows/{workflow}/run"), json!({}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = other
        .post(&format!("/api/executions/{execution}/cancel"), json!({}))
        .await;
    assert_eq!(status, 404);
    let (_, list) = other.get("/api/executions").await;
    assert_eq!(list["executions"].as_array().map(Vec::len), Some(0));
    s.api.wait_finished(&execution).await;
    s.app.stop().await;
}

#[tokio::test]
async fn an_execution_whose_runner_keeps_dying_is_failed_with_the_reason() {
    let s = setup("given-up").await;
    let workflow = s
        .api
        .workflow(
            "Doomed",
            json!([{"id": "a", "agent": s.openai_agent, "prompt": "hi"}]),
        )
        .await;
    // Running under a lease that expired, already taken over three times.
    let id = common::runtime::parked_execution(&s.app.db, &s.team, &workflow, "running").await;
    sqlx::query("UPDATE executions SET lease_expires_at = 1, recoveries = $1 WHERE id = $2")
        .bind(hummbl::executions::runner::MAX_RECOVERIES)
        .bind(&id)
        .execute(s.app.db.write())
        .await
        .expect("expire");
    hummbl::executions::runner::recover(&s.app.state.runner_context())
        .await
        .expect("recover");
    let (_, execution) = s.api.get(&format!("/api/executions/{id}")).await;
    assert_eq!(execution["status"], "failed");
    assert!(
        execution["error"]
            .as_str()
            .is_some_and(|e| e.contains("runner stopped 3 times")),
        "{execution:#}"
    );
    assert_eq!(s.fake.provider.calls().len(), 0);
    s.app.stop().await;
}
