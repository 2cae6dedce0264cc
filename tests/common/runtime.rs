//! Helpers for tests of the agent runtime: a JSON API client with a session, and
//! shortcuts to create keys, agents and workflows and to wait for executions.
#![allow(dead_code)]

use std::time::Duration;

use hummbl::auth::Role;
use hummbl::config::Config;
use reqwest::Method;
use serde_json::{Value, json};

use super::TestApp;

/// Fast provider retries, so tests of retrying do not wait seconds.
pub fn fast_retries(config: &mut Config) {
    config.runner.retry = hummbl::providers::RetryPolicy {
        retries: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    };
}

#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub cookie: String,
}

impl Api {
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A page (or any text) with this client's session: status and body.
    pub async fn page(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("page");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    }

    async fn send_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .expect("post")
    }

    /// Posts a form with this client's session: status and `Location`.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let response = self.send_form(path, form).await;
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (response.status().as_u16(), location)
    }

    /// Posts a form with this client's session: status and the page it answers.
    pub async fn form_page(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let response = self.send_form(path, form).await;
        let status = response.status().as_u16();
        (status, response.text().await.expect("page"))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Method::POST, path, Some(body)).await
    }

    /// POSTs and expects `status`; returns the body.
    pub async fn expect_post(&self, path: &str, body: Value, status: u16) -> Value {
        let (got, answer) = self.post(path, body).await;
        assert_eq!(got, status, "POST {path}: {answer}");
        answer
    }

    pub async fn provider_key(&self, provider: &str, base_url: &str, key: &str) -> String {
        let body = json!({"provider": provider, "label": format!("{provider} test"), "key": key, "base_url": base_url});
        id_of(&self.expect_post("/api/keys", body, 201).await)
    }

    pub async fn agent(&self, name: &str, provider: &str, model: &str, key_id: &str) -> String {
        let body = json!({"name": name, "provider": provider, "model": model, "key_id": key_id,
                          "instructions": "Answer briefly."});
        id_of(&self.expect_post("/api/agents", body, 201).await)
    }

    pub async fn workflow(&self, name: &str, steps: Value) -> String {
        id_of(
            &self
                .expect_post("/api/workflows", json!({"name": name, "steps": steps}), 201)
                .await,
        )
    }

    pub async fn run(&self, workflow_id: &str, input: Value) -> String {
        id_of(
            &self
                .expect_post(
                    &format!("/api/workflows/{workflow_id}/run"),
                    json!({"input": input}),
                    201,
                )
                .await,
        )
    }

    /// Polls the execution until `done` holds (or panics after `within`).
    pub async fn wait_for(
        &self,
        id: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (status, execution) = self.get(&format!("/api/executions/{id}")).await;
            assert_eq!(status, 200, "{execution}");
            if done(&execution) {
                return execution;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("execution {id} did not get there in {within:?}: {execution:#}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The titles of this user's notifications of `kind`, newest first.
    pub async fn told(&self, kind: &str) -> Vec<String> {
        let (status, list) = self
            .get(&format!("/api/notifications?type={kind}&limit=100"))
            .await;
        assert_eq!(status, 200, "{list}");
        list["notifications"]
            .as_array()
            .expect("list")
            .iter()
            .map(|n| n["title"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub async fn wait_finished(&self, id: &str) -> Value {
        self.wait_for(id, Duration::from_secs(20), |e| {
            matches!(
                e["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
        })
        .await
    }
}

pub fn id_of(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .to_string()
}

/// The step named `id` of an execution.
pub fn step<'a>(execution: &'a Value, id: &str) -> &'a Value {
    execution["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["step"] == id))
        .unwrap_or_else(|| panic!("no step {id} in {execution:#}"))
}

/// An owner's API client in a new team, and the team's id.
pub async fn owner_api(app: &TestApp, tag: &str) -> (Api, String) {
    let (user, team) = app
        .user(
            &format!("{tag}@example.com"),
            "owner-password-1",
            None,
            Role::Owner,
        )
        .await;
    let cookie = app.session_cookie(&user, &team).await;
    (
        Api {
            client: super::client(),
            base: app.base.clone(),
            cookie,
        },
        team,
    )
}

/// An API client for another user of the team with `role`.
pub async fn member_api(app: &TestApp, team: &str, tag: &str, role: Role) -> Api {
    let (user, _) = app
        .user(
            &format!("{tag}@example.com"),
            "member-password-1",
            Some(team),
            role,
        )
        .await;
    Api {
        client: super::client(),
        base: app.base.clone(),
        cookie: app.session_cookie(&user, team).await,
    }
}

/// An execution row in `status` that no runner will touch: a running one is
/// leased to a runner that does not exist, for a long time.
pub async fn parked_execution(
    db: &hummbl::storage::Db,
    team: &str,
    workflow: &str,
    status: &str,
) -> String {
    let id = hummbl::storage::new_id();
    let now = hummbl::storage::now_ms();
    sqlx::query(
        "INSERT INTO executions (id, team_id, workflow_id, workflow_version, status, input, triggered_by, created_at, \
         updated_at, steps_total, lease_owner, lease_expires_at) VALUES ($1, $2, $3, 1, $4, '{}', 'user', $5, $5, 1, \
         'runner-elsewhere', $6)",
    )
    .bind(&id)
    .bind(team)
    .bind(workflow)
    .bind(status)
    .bind(now)
    .bind(now + 3_600_000)
    .execute(db.write())
    .await
    .expect("insert execution");
    id
}

/// Seeds the demo team and signs in one of its logins (e.g. `owner@demo.hummbl.dev`);
/// returns the client and the team's id.
pub async fn demo_api(app: &TestApp, email: &str) -> (Api, String) {
    hummbl::demo::seed(&app.db, &app.state.vault)
        .await
        .expect("demo data");
    let team = hummbl::teams::find_team_by_name(&app.db, hummbl::demo::DEMO_TEAM)
        .await
        .expect("db")
        .expect("demo team");
    let user: String = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(app.db.read())
        .await
        .expect("demo user");
    let cookie = app.session_cookie(&user, &team).await;
    (
        Api {
            client: super::client(),
            base: app.base.clone(),
            cookie,
        },
        team,
    )
}
