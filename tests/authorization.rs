//! Walks every route of the route table as anonymous, viewer, member, admin and
//! owner, and checks each answer against the policy below: who may call what,
//! written from DESIGN.md's role table by hand and apart from the routes'
//! declarations, so a route wrongly declared public or given the wrong
//! permission fails here. Anonymous callers get 401 (API) or a redirect to
//! /login (pages); a role below the route's minimum gets 403. A route missing
//! from the policy, or without a sample request, fails the test.

mod common;

use common::{TestApp, client};
use hummbl::auth::Role;
use hummbl::routes::Route;
use reqwest::Method;

enum Body {
    None,
    Json(serde_json::Value),
    Form(Vec<(&'static str, String)>),
}

struct Sample {
    path: String,
    body: Body,
}

struct Fixture {
    app: TestApp,
    team: String,
    users: Vec<(Role, String)>,
    /// Set when a sample makes its caller leave the team: the next sample
    /// first puts every fixture user back.
    left: std::sync::atomic::AtomicBool,
}

/// Provider calls in these samples go nowhere (nothing listens on port 9).
const UNREACHABLE: &str = "http://127.0.0.1:9/v1";

impl Fixture {
    async fn provider_key(&self, user: &str) -> String {
        hummbl::provider_keys::create(
            &self.app.db,
            &self.app.state.vault,
            hummbl::audit::Actor::user(&self.team, user),
            hummbl::provider_keys::NewKey {
                provider: hummbl::providers::ProviderKind::Openai,
                label: "sample".into(),
                secret: secrecy::SecretString::from("sk-test-12345678".to_string()),
                base_url: Some(UNREACHABLE.into()),
            },
        )
        .await
        .expect("provider key")
        .id
    }

    async fn agent(&self, user: &str, n: usize) -> String {
        let key = self.provider_key(user).await;
        hummbl::agents::create(
            &self.app.db,
            hummbl::audit::Actor::user(&self.team, user),
            &hummbl::agents::AgentFields {
                name: format!("sample agent {n}"),
                provider: hummbl::providers::ProviderKind::Openai,
                model: "gpt-4o-mini".into(),
                key_id: Some(key),
                instructions: String::new(),
                parameters: Default::default(),
            },
        )
        .await
        .expect("agent")
        .id
    }

    async fn workflow_body(&self, user: &str, n: usize) -> serde_json::Value {
        let agent = self.agent(user, n).await;
        serde_json::json!({"name": format!("workflow {n}"), "steps": [{"id": "a", "agent": agent, "prompt": "hi"}]})
    }

    async fn workflow(&self, user: &str, n: usize) -> String {
        let agent = self.agent(user, n).await;
        let definition = hummbl::workflows::Definition {
            steps: vec![hummbl::workflows::Step {
                id: "a".into(),
                agent,
                prompt: "hi".into(),
                depends_on: vec![],
                timeout_secs: None,
            }],
        };
        let fields = hummbl::workflows::WorkflowFields {
            name: format!("sample {n}"),
            description: None,
            definition,
        };
        hummbl::workflows::create(
            &self.app.db,
            hummbl::audit::Actor::user(&self.team, user),
            &fields,
        )
        .await
        .expect("workflow")
        .id
    }

    /// An execution in `status` that no runner touches.
    async fn execution(&self, user: &str, n: usize, status: &str) -> String {
        let workflow = self.workflow(user, n).await;
        common::runtime::parked_execution(&self.app.db, &self.team, &workflow, status).await
    }

    fn user(&self, role: Role) -> &str {
        self.users
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, id)| id.as_str())
            .expect("user")
    }

    fn password(role: Role) -> String {
        format!("{role}-password-1")
    }

    /// Puts back the fixture users a "leave" sample took out of the team.
    async fn rejoin(&self) {
        if !self.left.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        for (role, user) in &self.users {
            let _ = hummbl::teams::add_member(&self.app.db, &self.team, user, *role, None).await;
        }
    }

    /// An open invitation to a new address, made directly in the database.
    async fn invitation(&self, n: usize) -> String {
        let id = hummbl::storage::new_id();
        let now = hummbl::storage::now_ms();
        sqlx::query(
            "INSERT INTO invitations (id, team_id, email, role, created_at, expires_at) VALUES ($1, $2, $3, 'viewer', $4, $5)",
        )
        .bind(&id)
        .bind(&self.team)
        .bind(format!("invited-{n}@example.com"))
        .bind(now)
        .bind(now + 86_400_000)
        .execute(self.app.db.write())
        .await
        .expect("invitation");
        id
    }

    /// A schedule of `workflow`, made directly in the database (disabled: it
    /// must not fire during the test).
    async fn schedule(&self, workflow: &str) -> String {
        let id = hummbl::storage::new_id();
        let now = hummbl::storage::now_ms();
        sqlx::query(
            "INSERT INTO schedules (id, team_id, workflow_id, cron, timezone, input, enabled, overlap, catch_up, \
             catch_up_window_secs, jitter_secs, created_at, updated_at) \
             VALUES ($1, $2, $3, '0 9 * * *', 'UTC', '{}', 0, 'skip', 'latest', 3600, 0, $4, $4)",
        )
        .bind(&id)
        .bind(&self.team)
        .bind(workflow)
        .bind(now)
        .execute(self.app.db.write())
        .await
        .expect("schedule");
        id
    }

    /// A disabled alert rule of the team, made directly in the database.
    async fn alert(&self) -> String {
        let id = hummbl::storage::new_id();
        let now = hummbl::storage::now_ms();
        sqlx::query(
            "INSERT INTO alert_rules (id, team_id, name, condition, email, enabled, next_check_at, created_at, updated_at) \
             VALUES ($1, $2, 'Budget', '{\"kind\":\"spend\",\"budget_micros\":5,\"projected\":false}', 0, 0, $3, $3, $3)",
        )
        .bind(&id)
        .bind(&self.team)
        .bind(now)
        .execute(self.app.db.write())
        .await
        .expect("alert rule");
        id
    }

    /// A frozen pilot snapshot of the team.
    async fn pilot_snapshot(&self) -> String {
        let owner = self.user(Role::Owner).to_string();
        hummbl::pilot::freeze(&self.app.db, hummbl::audit::Actor::user(&self.team, &owner))
            .await
            .expect("snapshot")
            .id
    }

    /// A notification of `user`'s, made directly in the database.
    async fn notification(&self, user: &str) -> String {
        let id = hummbl::storage::new_id();
        sqlx::query(
            "INSERT INTO notifications (id, user_id, type, title, message, link, read, created_at, team_id) \
             VALUES ($1, $2, 'execution_failed', 'Brief failed', '', '/monitor', $3, $4, $5)",
        )
        .bind(&id)
        .bind(user)
        .bind(false)
        .bind(hummbl::storage::now_ms())
        .bind(&self.team)
        .execute(self.app.db.write())
        .await
        .expect("notification");
        id
    }

    /// A viewer to remove.
    async fn victim(&self, n: usize) -> String {
        let email = format!("victim-{n}@example.com");
        let (victim, _) = self
            .app
            .user(&email, "victim-password-1", Some(&self.team), Role::Viewer)
            .await;
        victim
    }

    /// A pending invitation to a new address whose link token is known.
    async fn invitation_link(&self, n: usize) -> String {
        let id = self.invitation(n).await;
        let token = format!("token-{n}-{}", hummbl::storage::new_id());
        let hash = common::token_hash(&token);
        sqlx::query("UPDATE invitations SET token_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(id)
            .execute(self.app.db.write())
            .await
            .expect("token");
        token
    }

    /// A request that a caller allowed to use the route would see succeed.
    async fn sample(&self, route: &Route, role: Option<Role>, n: usize) -> Option<Sample> {
        self.rejoin().await;
        let acting = role.unwrap_or(Role::Viewer);
        let acting_user = self.user(acting).to_string();
        let plain = |path: &str| {
            Some(Sample {
                path: path.to_string(),
                body: Body::None,
            })
        };
        let key = format!("{} {}", route.method, route.path);
        match key.as_str() {
            "GET /healthz"
            | "GET /readyz"
            | "GET /metrics"
            | "GET /api/openapi.json"
            | "GET /"
            | "GET /login"
            | "GET /account"
            | "GET /settings/components"
            | "GET /api/me"
            | "GET /api/tokens"
            | "GET /api/account/sessions"
            | "POST /api/account/sessions/end-all"
            | "POST /account/sessions/end-all"
            | "POST /api/tokens/revoke-all"
            | "POST /account/tokens/revoke-all"
            | "GET /api/teams"
            | "GET /api/team/members"
            | "GET /api/components"
            | "POST /logout"
            | "POST /api/auth/logout" => plain(route.path),
            "GET /assets/{file}" => plain("/assets/app.css"),
            "POST /api/csp-report" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(serde_json::json!({"csp-report": {
                    "document-uri": "http://localhost/", "effective-directive": "img-src"}})),
            }),
            "OPTIONS /api/telemetry/track"
            | "OPTIONS /api/telemetry/metrics"
            | "GET /sdk/telemetry.js"
            | "GET /sdk/telemetry.d.ts"
            | "GET /api/telemetry/stream"
            | "GET /settings/ingestion-keys"
            | "GET /settings/api-keys"
            | "GET /api/ingestion-keys" => plain(route.path),
            "GET /api/telemetry/metrics/{component_id}" => plain("/api/telemetry/metrics/console"),
            "GET /api/keys"
            | "GET /api/agents"
            | "GET /agents"
            | "GET /workflows"
            | "GET /workflows/new"
            | "GET /api/workflows"
            | "GET /api/executions"
            | "GET /api/executions/stream"
            | "GET /api/prices"
            | "GET /api/analytics/summary"
            | "GET /api/telemetry/tokens/summary"
            | "GET /api/analytics/tokens.csv"
            | "GET /analytics"
            | "GET /analytics/tokens"
            | "GET /api/telemetry/errors"
            | "GET /api/errors"
            | "GET /logs/errors"
            | "GET /logs/errors.csv"
            | "GET /logs/errors.json"
            | "GET /monitor" => plain(route.path),
            "POST /monitor/bulk" => {
                let id = self.execution(&acting_user, n, "running").await;
                Some(Sample {
                    path: route.path.into(),
                    body: Body::Form(vec![("action", "kill".into()), ("id", id)]),
                })
            }
            "POST /monitor/run" => Some(Sample {
                path: route.path.into(),
                body: Body::Form(vec![
                    ("workflow", self.workflow(&acting_user, n).await),
                    ("input", "{}".into()),
                ]),
            }),
            "POST /logs/errors/state" => Some(Sample {
                path: route.path.into(),
                body: Body::Form(vec![
                    ("action", "resolve".into()),
                    ("fingerprint", "0123456789abcdef01234567".into()),
                    ("back", "state=open".into()),
                ]),
            }),
            "POST /logs/errors/retry" => {
                let id = self.execution(&acting_user, n, "failed").await;
                Some(Sample {
                    path: format!("{}?execution={id}&back=state%3Dopen", route.path),
                    body: Body::None,
                })
            }
            "POST /api/errors/resolve" | "POST /api/errors/reopen" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(serde_json::json!({"fingerprints": ["0123456789abcdef01234567"]})),
            }),
            "POST /analytics/tokens/prices" => Some(Sample {
                path: route.path.into(),
                body: Body::Form(vec![
                    ("provider", "openai".into()),
                    ("model", "gpt-4o".into()),
                    ("input", "2.5".into()),
                    ("output", "10".into()),
                    ("cached", "1.25".into()),
                    ("from", String::new()),
                ]),
            }),
            "POST /api/keys" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(
                    serde_json::json!({"provider": "openai", "label": format!("key {n}"),
                    "key": "sk-test-12345678", "base_url": UNREACHABLE}),
                ),
            }),
            "PATCH /api/keys/{id}"
            | "DELETE /api/keys/{id}"
            | "POST /api/keys/{id}/test"
            | "GET /api/keys/{id}/usage" => Some(Sample {
                path: route
                    .path
                    .replace("{id}", &self.provider_key(&acting_user).await),
                body: match route.method.as_str() {
                    "PATCH" => Body::Json(serde_json::json!({"label": "renamed"})),
                    _ => Body::None,
                },
            }),
            "POST /settings/api-keys" => Some(Sample {
                path: route.path.into(),
                body: Body::Form(vec![
                    ("provider", "openai".into()),
                    ("label", format!("key {n}")),
                    ("key", "sk-test-12345678".into()),
                    ("base_url", UNREACHABLE.into()),
                ]),
            }),
            "POST /settings/api-keys/{id}/label"
            | "POST /settings/api-keys/{id}/secret"
            | "POST /settings/api-keys/{id}/delete"
            | "POST /settings/api-keys/{id}/test" => Some(Sample {
                path: route
                    .path
                    .replace("{id}", &self.provider_key(&acting_user).await),
                body: Body::Form(vec![
                    ("label", "renamed".into()),
                    ("key", "sk-test-87654321".into()),
                    ("base_url", UNREACHABLE.into()),
                ]),
            }),
            "POST /api/agents" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(
                    serde_json::json!({"name": format!("agent {n}"), "provider": "openai",
                    "model": "gpt-4o-mini", "key_id": self.provider_key(&acting_user).await}),
                ),
            }),
            "GET /api/agents/{id}" | "PUT /api/agents/{id}" | "DELETE /api/agents/{id}" => {
                let key = self.provider_key(&acting_user).await;
                Some(Sample {
                    path: route
                        .path
                        .replace("{id}", &self.agent(&acting_user, n).await),
                    body: Body::Json(
                        serde_json::json!({"name": format!("agent {n}b"), "provider": "openai",
                        "model": "gpt-4o", "key_id": key}),
                    ),
                })
            }
            "POST /agents" => Some(Sample {
                path: route.path.into(),
                body: Body::Form(vec![
                    ("name", format!("form agent {n}")),
                    ("key_id", self.provider_key(&acting_user).await),
                    ("model", "gpt-4o-mini".into()),
                ]),
            }),
            "GET /agents/{id}/edit" | "POST /agents/{id}" | "POST /agents/{id}/archive" => {
                let key = self.provider_key(&acting_user).await;
                Some(Sample {
                    path: route
                        .path
                        .replace("{id}", &self.agent(&acting_user, n).await),
                    body: Body::Form(vec![
                        ("name", format!("form agent {n}b")),
                        ("key_id", key),
                        ("model", "gpt-4o".into()),
                    ]),
                })
            }
            "POST /workflows/new" | "GET /workflows/{id}/edit" | "POST /workflows/{id}/edit" => {
                let agent = self.agent(&acting_user, n).await;
                let path = match route.path.contains("{id}") {
                    true => route
                        .path
                        .replace("{id}", &self.workflow(&acting_user, n).await),
                    false => route.path.into(),
                };
                Some(Sample {
                    path,
                    body: Body::Form(vec![
                        ("name", format!("editor workflow {n}")),
                        ("steps[0].id", "a".into()),
                        ("steps[0].agent", agent),
                        ("steps[0].prompt", "hi".into()),
                        ("action", "save".into()),
                    ]),
                })
            }
            "GET /workflows/{id}/compare" => Some(Sample {
                path: route
                    .path
                    .replace("{id}", &self.workflow(&acting_user, n).await),
                body: Body::None,
            }),
            "GET /workflows/{id}" | "POST /workflows/{id}/run" => Some(Sample {
                path: route
                    .path
                    .replace("{id}", &self.workflow(&acting_user, n).await),
                body: Body::Form(vec![("input", "{}".into())]),
            }),
            "POST /api/workflows" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(self.workflow_body(&acting_user, n).await),
            }),
            "GET /api/workflows/{id}"
            | "PUT /api/workflows/{id}"
            | "DELETE /api/workflows/{id}"
            | "GET /api/workflows/{id}/versions"
            | "POST /api/workflows/{id}/run" => {
                let body = self.workflow_body(&acting_user, n).await;
                let id = self.workflow(&acting_user, n).await;
                Some(Sample {
                    path: route.path.replace("{id}", &id),
                    body: match route.path.ends_with("/run") {
                        true => Body::Json(serde_json::json!({"input": {}})),
                        false => Body::Json(body),
                    },
                })
            }
            "GET /api/executions/{id}"
            | "POST /api/executions/{id}/cancel"
            | "GET /monitor/{id}"
            | "POST /monitor/{id}/cancel" => {
                let id = self.execution(&acting_user, n, "running").await;
                Some(Sample {
                    path: route.path.replace("{id}", &id),
                    body: Body::None,
                })
            }
            "POST /api/executions/{id}/retry" | "POST /monitor/{id}/retry" => {
                let id = self.execution(&acting_user, n, "failed").await;
                Some(Sample {
                    path: route.path.replace("{id}", &id),
                    body: Body::None,
                })
            }
            "POST /api/prices" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(serde_json::json!({"provider": "openai", "model": "gpt-4o",
                    "input_micros_per_mtok": 2_000_000, "output_micros_per_mtok": 8_000_000,
                    "cached_micros_per_mtok": 1_000_000})),
            }),
            "POST /api/telemetry/track" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(
                    serde_json::json!({"component": "console", "action": "authz_check"}),
                ),
            }),
            "POST /v1/traces" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(serde_json::json!({"resourceSpans": []})),
            }),
            "POST /api/telemetry/metrics" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(
                    serde_json::json!({"component": "console", "metric_name": "authz", "value": 1}),
                ),
            }),
            "POST /settings/ingestion-keys" => Some(Sample {
                path: route.path.into(),
                body: Body::Form(vec![
                    ("name", format!("key {n}")),
                    ("allowed_origins", String::new()),
                ]),
            }),
            "POST /api/ingestion-keys" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(serde_json::json!({"name": format!("key {n}")})),
            }),
            "POST /settings/ingestion-keys/{id}/revoke" | "DELETE /api/ingestion-keys/{id}" => {
                let created = hummbl::telemetry::keys::create(
                    &self.app.db,
                    hummbl::audit::Actor::user(&self.team, &acting_user),
                    "to revoke",
                    vec![],
                )
                .await
                .expect("key");
                Some(Sample {
                    path: route.path.replace("{id}", &created.info.id),
                    body: Body::None,
                })
            }
            "POST /login" => Some(Sample {
                path: "/login".into(),
                body: Body::Form(vec![
                    ("email", format!("{acting}-authz@example.com")),
                    ("password", Fixture::password(acting)),
                ]),
            }),
            "POST /api/auth/login" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(serde_json::json!({
                    "email": format!("{acting}-authz@example.com"),
                    "password": Fixture::password(acting),
                })),
            }),
            "POST /account/password" => Some(Sample {
                path: route.path.into(),
                body: Body::Form(vec![
                    ("current_password", Fixture::password(acting)),
                    ("new_password", Fixture::password(acting)),
                ]),
            }),
            "POST /api/account/password" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(serde_json::json!({
                    "current_password": Fixture::password(acting),
                    "new_password": Fixture::password(acting),
                })),
            }),
            "POST /account/tokens" => Some(Sample {
                path: route.path.into(),
                body: Body::Form(vec![
                    ("name", format!("token {n}")),
                    ("expires_in_days", String::new()),
                ]),
            }),
            "POST /api/tokens" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(serde_json::json!({"name": format!("token {n}")})),
            }),
            "POST /account/tokens/{id}/revoke" | "DELETE /api/tokens/{id}" => {
                let created = hummbl::auth::tokens::create(
                    &self.app.db,
                    hummbl::audit::Actor::user(&self.team, &acting_user),
                    "to revoke",
                    None,
                )
                .await
                .expect("token");
                let path = route.path.replace("{id}", &created.info.id);
                Some(Sample {
                    path,
                    body: Body::None,
                })
            }
            "POST /account/sessions/{id}/end" | "DELETE /api/account/sessions/{id}" => {
                let cookie = hummbl::auth::session::create(
                    &self.app.db,
                    hummbl::auth::session::NewSession {
                        user_id: &acting_user,
                        team_id: &self.team,
                        ttl_ms: 3_600_000,
                        ip: None,
                        user_agent: None,
                    },
                )
                .await
                .expect("session");
                let id = hummbl::auth::secret::digest(&cookie);
                Some(Sample {
                    path: route.path.replace("{id}", &id),
                    body: Body::None,
                })
            }
            "POST /teams/switch" => Some(Sample {
                path: route.path.into(),
                body: Body::Form(vec![("team_id", self.team.clone())]),
            }),
            "POST /api/teams/switch" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(serde_json::json!({"team_id": self.team})),
            }),
            "PATCH /api/team/members/{user_id}" => Some(Sample {
                path: route.path.replace("{user_id}", self.user(Role::Member)),
                body: Body::Json(serde_json::json!({"role": "member"})),
            }),
            "DELETE /api/team/members/{user_id}" | "POST /team/members/{user_id}/remove" => {
                Some(Sample {
                    path: route.path.replace("{user_id}", &self.victim(n).await),
                    body: Body::None,
                })
            }
            "GET /api/schedules"
            | "GET /workflows/scheduler"
            | "GET /api/alerts"
            | "GET /notifications/alerts"
            | "GET /notifications/settings" => plain(route.path),
            "GET /api/pilot" | "GET /api/pilot/snapshots" | "GET /pilot" => plain(route.path),
            "PUT /api/pilot" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(
                    serde_json::json!({"build_hours": {"value": 10, "source": "export"}}),
                ),
            }),
            "POST /api/pilot/snapshots" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(serde_json::json!({})),
            }),
            "POST /pilot/snapshots" => Some(Sample {
                path: route.path.into(),
                body: Body::Form(Vec::new()),
            }),
            "GET /api/pilot/snapshots/{id}" | "GET /api/pilot/snapshots/{id}/export" => {
                plain(&route.path.replace("{id}", &self.pilot_snapshot().await))
            }
            "POST /pilot" => Some(Sample {
                path: route.path.into(),
                body: Body::Form(vec![
                    ("window_start", "2027-01-01".into()),
                    ("window_end", "2027-01-31".into()),
                    ("targets.pages_built", "8".into()),
                    ("targets.build_hours", "120".into()),
                    ("targets.code_reuse", "70".into()),
                    ("targets.user_adoption", "60".into()),
                    ("targets.performance", "1000".into()),
                    ("targets.error_rate", "1".into()),
                ]),
            }),
            "POST /notifications/settings" => Some(Sample {
                path: route.path.into(),
                body: Body::Form(vec![
                    ("in_app.execution_failed", "on".into()),
                    ("frequency", "off".into()),
                ]),
            }),
            "POST /workflows/{id}/follow" => Some(Sample {
                path: route
                    .path
                    .replace("{id}", &self.workflow(&acting_user, n).await),
                body: Body::Form(vec![("follow", "true".into())]),
            }),
            "POST /notifications/alerts" => Some(Sample {
                path: route.path.into(),
                body: Body::Form(vec![
                    ("name", format!("Budget {n}")),
                    ("kind", "spend".into()),
                    ("budget_usd", "5".into()),
                ]),
            }),
            "POST /notifications/alerts/{id}/enabled"
            | "POST /notifications/alerts/{id}/delete" => Some(Sample {
                path: route.path.replace("{id}", &self.alert().await),
                body: Body::Form(vec![("enabled", "true".into())]),
            }),
            "POST /api/alerts" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(serde_json::json!({
                    "name": format!("Budget {n}"), "condition": {"kind": "spend", "budget_micros": 5}})),
            }),
            "GET /api/alerts/{id}"
            | "PATCH /api/alerts/{id}"
            | "DELETE /api/alerts/{id}"
            | "GET /api/alerts/{id}/events" => Some(Sample {
                path: route.path.replace("{id}", &self.alert().await),
                body: match route.method.as_str() {
                    "PATCH" => Body::Json(serde_json::json!({"name": "Renamed"})),
                    _ => Body::None,
                },
            }),
            "GET /notifications"
            | "GET /api/notifications"
            | "GET /api/notifications/stream"
            | "GET /api/notifications/preferences"
            | "POST /api/notifications/read-all"
            | "POST /notifications/read-all" => plain(route.path),
            "PUT /api/notifications/preferences" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(serde_json::json!({"in_app": {"execution_succeeded": true}})),
            }),
            "POST /api/notifications/{id}/read" | "POST /api/notifications/{id}/unread" => plain(
                &route
                    .path
                    .replace("{id}", &self.notification(&acting_user).await),
            ),
            "POST /notifications/{id}/read" | "POST /notifications/{id}/open" => Some(Sample {
                path: route
                    .path
                    .replace("{id}", &self.notification(&acting_user).await),
                body: Body::Form(vec![("read", "true".into())]),
            }),
            "GET /api/workflows/{id}/subscription"
            | "PUT /api/workflows/{id}/subscription"
            | "DELETE /api/workflows/{id}/subscription" => plain(
                &route
                    .path
                    .replace("{id}", &self.workflow(&acting_user, n).await),
            ),
            "POST /workflows/scheduler" => Some(Sample {
                path: route.path.into(),
                body: Body::Form(vec![
                    ("workflow_id", self.workflow(&acting_user, n).await),
                    ("cron", "0 9 * * 1-5".into()),
                    ("timezone", "UTC".into()),
                    ("action", "save".into()),
                ]),
            }),
            "GET /workflows/scheduler/{id}"
            | "POST /workflows/scheduler/{id}"
            | "POST /workflows/scheduler/{id}/run"
            | "POST /workflows/scheduler/{id}/delete" => {
                let workflow = self.workflow(&acting_user, n).await;
                let id = self.schedule(&workflow).await;
                Some(Sample {
                    path: route.path.replace("{id}", &id),
                    body: Body::Form(vec![
                        ("workflow_id", workflow),
                        ("cron", "0 10 * * *".into()),
                        ("timezone", "UTC".into()),
                    ]),
                })
            }
            "GET /api/schedules/preview" => {
                plain("/api/schedules/preview?cron=0%209%20*%20*%201-5&tz=Europe/Berlin")
            }
            "POST /api/schedules" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(serde_json::json!({
                    "workflow_id": self.workflow(&acting_user, n).await, "cron": "0 9 * * 1-5", "timezone": "UTC"})),
            }),
            "GET /api/schedules/{id}"
            | "PATCH /api/schedules/{id}"
            | "DELETE /api/schedules/{id}"
            | "POST /api/schedules/{id}/run"
            | "GET /api/schedules/{id}/history" => {
                let workflow = self.workflow(&acting_user, n).await;
                let id = self.schedule(&workflow).await;
                Some(Sample {
                    path: route.path.replace("{id}", &id),
                    body: match route.method.as_str() {
                        "PATCH" => Body::Json(serde_json::json!({"enabled": false})),
                        _ => Body::None,
                    },
                })
            }
            "GET /team" | "GET /api/team/invitations" | "GET /api/mail/outbox" => plain(route.path),
            "GET /team/members/{user_id}" => {
                plain(&route.path.replace("{user_id}", self.user(Role::Viewer)))
            }
            "POST /team/invitations" => Some(Sample {
                path: route.path.into(),
                body: Body::Form(vec![
                    ("email", format!("form-invitee-{n}@example.com")),
                    ("role", "viewer".into()),
                ]),
            }),
            "POST /api/team/invitations" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(
                    serde_json::json!({"email": format!("api-invitee-{n}@example.com"), "role": "viewer"}),
                ),
            }),
            "POST /team/invitations/{id}/resend"
            | "POST /team/invitations/{id}/revoke"
            | "POST /team/invitations/{id}/link"
            | "POST /api/team/invitations/{id}/resend"
            | "POST /api/team/invitations/{id}/link"
            | "DELETE /api/team/invitations/{id}" => Some(Sample {
                path: route.path.replace("{id}", &self.invitation(n).await),
                body: Body::None,
            }),
            "POST /team/members/{user_id}/role" => Some(Sample {
                path: route.path.replace("{user_id}", self.user(Role::Member)),
                body: Body::Form(vec![("role", "member".into())]),
            }),
            "POST /team/leave" | "POST /api/team/leave" => {
                if role == Some(Role::Owner) {
                    // The last owner may not leave: give the team another.
                    self.app
                        .user(
                            &format!("spare-owner-{n}@example.com"),
                            "owner-password-1",
                            Some(&self.team),
                            Role::Owner,
                        )
                        .await;
                }
                self.left.store(true, std::sync::atomic::Ordering::SeqCst);
                plain(route.path)
            }
            "GET /invite/{token}" => plain(
                &route
                    .path
                    .replace("{token}", &self.invitation_link(n).await),
            ),
            "POST /invite/{token}" => Some(Sample {
                path: route
                    .path
                    .replace("{token}", &self.invitation_link(n).await),
                body: Body::Form(vec![
                    ("name", "Invitee".into()),
                    ("password", "invitee-password-1".into()),
                ]),
            }),
            "POST /api/invitations/accept" => Some(Sample {
                path: route.path.into(),
                body: Body::Json(serde_json::json!({
                    "token": self.invitation_link(n).await, "name": "Invitee", "password": "invitee-password-1"})),
            }),
            "POST /settings/components/{id}" => Some(Sample {
                path: route.path.replace("{id}", "token-usage"),
                body: Body::Form(vec![("enabled", "true".into())]),
            }),
            "PATCH /api/components/{id}" => Some(Sample {
                path: route.path.replace("{id}", "token-usage"),
                body: Body::Json(serde_json::json!({"enabled": true})),
            }),
            _ => None,
        }
    }
}

/// The least a caller needs to be answered with success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Least {
    /// Anyone, signed in or not.
    Anyone,
    Viewer,
    Member,
    Admin,
}

use Least::{Admin, Anyone, Member, Viewer};

/// Who may call each route (DESIGN.md §5): read everything as a viewer; run,
/// retry, resolve and edit workflows and agents as a member; provider keys,
/// ingestion keys, prices, components and membership as an admin. Your own
/// account, tokens and team switching need only a session.
const POLICY: &[(&str, Least)] = &[
    ("GET /healthz", Anyone),
    ("GET /readyz", Anyone),
    ("GET /metrics", Anyone),
    ("GET /api/openapi.json", Anyone),
    ("GET /assets/{file}", Anyone),
    // Browsers report CSP violations without credentials.
    ("POST /api/csp-report", Anyone),
    ("GET /sdk/telemetry.js", Anyone),
    ("GET /sdk/telemetry.d.ts", Anyone),
    ("OPTIONS /api/telemetry/track", Anyone),
    ("OPTIONS /api/telemetry/metrics", Anyone),
    ("GET /login", Anyone),
    ("POST /login", Anyone),
    ("POST /logout", Anyone),
    ("POST /api/auth/login", Anyone),
    ("POST /api/auth/logout", Anyone),
    // Signed in: the shell, your own account and teams.
    ("GET /", Viewer),
    ("GET /api/me", Viewer),
    ("GET /account", Viewer),
    ("POST /account/password", Viewer),
    ("POST /api/account/password", Viewer),
    ("POST /account/tokens", Viewer),
    ("POST /account/tokens/{id}/revoke", Viewer),
    ("GET /api/tokens", Viewer),
    ("POST /api/tokens", Viewer),
    ("DELETE /api/tokens/{id}", Viewer),
    ("POST /account/tokens/revoke-all", Viewer),
    ("POST /api/tokens/revoke-all", Viewer),
    ("GET /api/account/sessions", Viewer),
    ("DELETE /api/account/sessions/{id}", Viewer),
    ("POST /account/sessions/{id}/end", Viewer),
    ("POST /api/account/sessions/end-all", Viewer),
    ("POST /account/sessions/end-all", Viewer),
    ("GET /api/teams", Viewer),
    ("POST /teams/switch", Viewer),
    ("POST /api/teams/switch", Viewer),
    // Membership.
    ("GET /workflows/scheduler", Viewer),
    ("GET /workflows/scheduler/{id}", Viewer),
    ("POST /workflows/scheduler", Member),
    ("POST /workflows/scheduler/{id}", Member),
    ("POST /workflows/scheduler/{id}/run", Member),
    ("POST /workflows/scheduler/{id}/delete", Member),
    ("GET /api/schedules", Viewer),
    // The pilot evaluation.
    ("GET /pilot", Viewer),
    ("POST /pilot", Admin),
    ("POST /pilot/snapshots", Admin),
    ("GET /api/pilot", Viewer),
    ("PUT /api/pilot", Admin),
    ("GET /api/pilot/snapshots", Viewer),
    ("POST /api/pilot/snapshots", Admin),
    ("GET /api/pilot/snapshots/{id}", Viewer),
    ("GET /api/pilot/snapshots/{id}/export", Viewer),
    // Alert rules.
    ("GET /notifications/alerts", Viewer),
    ("POST /notifications/alerts", Admin),
    ("POST /notifications/alerts/{id}/enabled", Admin),
    ("POST /notifications/alerts/{id}/delete", Admin),
    ("GET /notifications/settings", Viewer),
    ("POST /notifications/settings", Viewer),
    ("POST /workflows/{id}/follow", Viewer),
    ("GET /api/alerts", Viewer),
    ("POST /api/alerts", Admin),
    ("GET /api/alerts/{id}", Viewer),
    ("PATCH /api/alerts/{id}", Admin),
    ("DELETE /api/alerts/{id}", Admin),
    ("GET /api/alerts/{id}/events", Viewer),
    ("GET /notifications", Viewer),
    ("POST /notifications/read-all", Viewer),
    ("POST /notifications/{id}/read", Viewer),
    ("POST /notifications/{id}/open", Viewer),
    ("GET /api/notifications", Viewer),
    ("GET /api/notifications/stream", Viewer),
    ("GET /api/notifications/preferences", Viewer),
    ("PUT /api/notifications/preferences", Viewer),
    ("POST /api/notifications/read-all", Viewer),
    ("POST /api/notifications/{id}/read", Viewer),
    ("POST /api/notifications/{id}/unread", Viewer),
    ("GET /api/workflows/{id}/subscription", Viewer),
    ("PUT /api/workflows/{id}/subscription", Viewer),
    ("DELETE /api/workflows/{id}/subscription", Viewer),
    ("GET /api/schedules/preview", Viewer),
    ("GET /api/schedules/{id}", Viewer),
    ("GET /api/schedules/{id}/history", Viewer),
    ("POST /api/schedules", Member),
    ("PATCH /api/schedules/{id}", Member),
    ("DELETE /api/schedules/{id}", Member),
    ("POST /api/schedules/{id}/run", Member),
    ("GET /api/team/members", Viewer),
    ("PATCH /api/team/members/{user_id}", Admin),
    ("DELETE /api/team/members/{user_id}", Admin),
    ("POST /api/team/leave", Viewer),
    ("GET /api/team/invitations", Admin),
    ("POST /api/team/invitations", Admin),
    ("POST /api/team/invitations/{id}/resend", Admin),
    ("POST /api/team/invitations/{id}/link", Admin),
    ("DELETE /api/team/invitations/{id}", Admin),
    ("GET /api/mail/outbox", Admin),
    ("GET /team", Viewer),
    ("GET /team/members/{user_id}", Viewer),
    ("POST /team/invitations", Admin),
    ("POST /team/invitations/{id}/resend", Admin),
    ("POST /team/invitations/{id}/revoke", Admin),
    ("POST /team/invitations/{id}/link", Admin),
    ("POST /team/members/{user_id}/role", Admin),
    ("POST /team/members/{user_id}/remove", Admin),
    ("POST /team/leave", Viewer),
    // An invitation's link works without a session (its token is the credential).
    ("GET /invite/{token}", Anyone),
    ("POST /invite/{token}", Anyone),
    ("POST /api/invitations/accept", Anyone),
    // Components.
    ("GET /settings/components", Viewer),
    ("GET /api/components", Viewer),
    ("POST /settings/components/{id}", Admin),
    ("PATCH /api/components/{id}", Admin),
    // Telemetry and ingestion keys.
    ("POST /api/telemetry/track", Viewer),
    ("POST /api/telemetry/metrics", Viewer),
    ("POST /v1/traces", Viewer),
    ("GET /api/telemetry/metrics/{component_id}", Viewer),
    ("GET /api/telemetry/stream", Viewer),
    ("GET /settings/ingestion-keys", Viewer),
    ("GET /api/ingestion-keys", Viewer),
    ("POST /settings/ingestion-keys", Admin),
    ("POST /api/ingestion-keys", Admin),
    ("POST /settings/ingestion-keys/{id}/revoke", Admin),
    ("DELETE /api/ingestion-keys/{id}", Admin),
    // Provider keys and prices.
    ("GET /settings/api-keys", Viewer),
    ("POST /settings/api-keys", Admin),
    ("POST /settings/api-keys/{id}/label", Admin),
    ("POST /settings/api-keys/{id}/secret", Admin),
    ("POST /settings/api-keys/{id}/delete", Admin),
    ("POST /settings/api-keys/{id}/test", Admin),
    ("GET /api/keys", Viewer),
    ("POST /api/keys", Admin),
    ("PATCH /api/keys/{id}", Admin),
    ("DELETE /api/keys/{id}", Admin),
    ("POST /api/keys/{id}/test", Admin),
    ("GET /api/keys/{id}/usage", Viewer),
    ("GET /api/prices", Viewer),
    ("POST /api/prices", Admin),
    ("POST /analytics/tokens/prices", Admin),
    // Agents and workflows.
    ("GET /agents", Viewer),
    ("POST /agents", Member),
    ("GET /agents/{id}/edit", Member),
    ("POST /agents/{id}", Member),
    ("POST /agents/{id}/archive", Member),
    ("GET /workflows", Viewer),
    ("GET /workflows/{id}", Viewer),
    ("GET /workflows/{id}/compare", Viewer),
    ("GET /workflows/new", Member),
    ("POST /workflows/new", Member),
    ("GET /workflows/{id}/edit", Member),
    ("POST /workflows/{id}/edit", Member),
    ("POST /workflows/{id}/run", Member),
    ("GET /api/agents", Viewer),
    ("GET /api/agents/{id}", Viewer),
    ("POST /api/agents", Member),
    ("PUT /api/agents/{id}", Member),
    ("DELETE /api/agents/{id}", Member),
    ("GET /api/workflows", Viewer),
    ("GET /api/workflows/{id}", Viewer),
    ("GET /api/workflows/{id}/versions", Viewer),
    ("POST /api/workflows", Member),
    ("PUT /api/workflows/{id}", Member),
    ("DELETE /api/workflows/{id}", Member),
    ("POST /api/workflows/{id}/run", Member),
    // Executions and the monitor.
    ("GET /api/executions", Viewer),
    ("GET /api/executions/stream", Viewer),
    ("GET /api/executions/{id}", Viewer),
    ("POST /api/executions/{id}/cancel", Member),
    ("POST /api/executions/{id}/retry", Member),
    ("GET /monitor", Viewer),
    ("GET /monitor/{id}", Viewer),
    ("POST /monitor/run", Member),
    ("POST /monitor/bulk", Member),
    ("POST /monitor/{id}/cancel", Member),
    ("POST /monitor/{id}/retry", Member),
    // Analytics and tokens.
    ("GET /analytics", Viewer),
    ("GET /analytics/tokens", Viewer),
    ("GET /api/analytics/summary", Viewer),
    ("GET /api/telemetry/tokens/summary", Viewer),
    ("GET /api/analytics/tokens.csv", Viewer),
    // Error log.
    ("GET /logs/errors", Viewer),
    ("GET /logs/errors.csv", Viewer),
    ("GET /logs/errors.json", Viewer),
    ("GET /api/telemetry/errors", Viewer),
    ("GET /api/errors", Viewer),
    ("POST /logs/errors/state", Member),
    ("POST /logs/errors/retry", Member),
    ("POST /api/errors/resolve", Member),
    ("POST /api/errors/reopen", Member),
];

fn least(route: &Route) -> Option<Least> {
    let key = format!("{} {}", route.method, route.path);
    POLICY
        .iter()
        .find(|(listed, _)| *listed == key)
        .map(|(_, least)| *least)
}

fn rank(role: Role) -> Least {
    match role {
        Role::Viewer => Viewer,
        Role::Member => Member,
        // Nothing above needs the owner: the owner-only rules are tested apart.
        Role::Admin | Role::Owner => Admin,
    }
}

#[derive(Debug, PartialEq)]
enum Expect {
    Success,
    Unauthorized,
    RedirectToLogin,
    Forbidden,
}

/// What the policy says `role` sees. Anonymous callers of a page are sent to
/// the login form; of the API, of OTLP (`/v1/`) and of downloads (`.csv`,
/// `.json`) they get 401.
fn expected(path: &str, least: Least, role: Option<Role>) -> Expect {
    let download = path.ends_with(".csv") || path.ends_with(".json");
    let api = path.starts_with("/api/") || path.starts_with("/v1/");
    match role {
        _ if least == Anyone => Expect::Success,
        None if api || download => Expect::Unauthorized,
        None => Expect::RedirectToLogin,
        Some(role) if rank(role) >= least => Expect::Success,
        Some(_) => Expect::Forbidden,
    }
}

fn observed(response: &reqwest::Response) -> Expect {
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    match status.as_u16() {
        401 => Expect::Unauthorized,
        403 => Expect::Forbidden,
        303 | 302 | 307 if location.starts_with("/login?next=") => Expect::RedirectToLogin,
        200..=399 => Expect::Success,
        other => panic!("unexpected status {other} from {}", response.url()),
    }
}

#[tokio::test]
async fn every_route_answers_as_declared_for_every_role() {
    let app = TestApp::spawn().await;
    let (owner, team) = app
        .user(
            "owner-authz@example.com",
            &Fixture::password(Role::Owner),
            None,
            Role::Owner,
        )
        .await;
    let mut users = vec![(Role::Owner, owner)];
    for role in [Role::Admin, Role::Member, Role::Viewer] {
        let (id, _) = app
            .user(
                &format!("{role}-authz@example.com"),
                &Fixture::password(role),
                Some(&team),
                role,
            )
            .await;
        users.push((role, id));
    }
    let fixture = Fixture {
        app,
        team,
        users,
        left: Default::default(),
    };
    let client = client();
    let routes = hummbl::app::routes();
    let mut missing = Vec::new();
    let mut unlisted = Vec::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut n = 0;
    for route in &routes {
        let Some(least) = least(route) else {
            unlisted.push(format!("{} {}", route.method, route.path));
            continue;
        };
        for role in [
            None,
            Some(Role::Viewer),
            Some(Role::Member),
            Some(Role::Admin),
            Some(Role::Owner),
        ] {
            n += 1;
            let Some(sample) = fixture.sample(route, role, n).await else {
                missing.push(format!("{} {}", route.method, route.path));
                break;
            };
            let method = Method::from_bytes(route.method.as_str().as_bytes()).expect("method");
            let mut request = client.request(method, fixture.app.url(&sample.path));
            if let Some(role) = role {
                let cookie = fixture
                    .app
                    .session_cookie(fixture.user(role), &fixture.team)
                    .await;
                request = request.header("cookie", cookie);
            }
            request = match sample.body {
                Body::None => request,
                Body::Json(value) => request.json(&value),
                Body::Form(fields) => request.form(&fields),
            };
            let response = request.send().await.expect("request");
            let status = response.status();
            let got = observed(&response);
            let want = expected(route.path, least, role);
            checked += 1;
            if got != want {
                let body = response.text().await.unwrap_or_default();
                failures.push(format!(
                    "{} {} as {:?}: expected {want:?}, got {got:?} ({status}) {}",
                    route.method,
                    route.path,
                    role,
                    body.chars().take(200).collect::<String>()
                ));
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "routes missing from the authorization policy: {unlisted:?}"
    );
    assert!(
        missing.is_empty(),
        "routes without an authorization sample: {missing:?}"
    );
    let stale: Vec<&str> = POLICY
        .iter()
        .map(|(key, _)| *key)
        .filter(|key| {
            !routes
                .iter()
                .any(|route| format!("{} {}", route.method, route.path) == *key)
        })
        .collect();
    assert!(
        stale.is_empty(),
        "policy rows for routes that do not exist: {stale:?}"
    );
    assert!(
        failures.is_empty(),
        "authorization mismatches:\n{}",
        failures.join("\n")
    );
    assert_eq!(checked, routes.len() * 5);
    fixture.app.stop().await;
}

#[tokio::test]
async fn another_teams_objects_are_not_found() {
    let app = TestApp::spawn().await;
    let (_team_a, users_a) = app.team_with_every_role("a").await;
    let (_team_b, users_b) = app.team_with_every_role("b").await;
    let owner_a = &users_a[0].1;
    let team_a = hummbl::teams::default_team(&app.db, owner_a)
        .await
        .expect("db")
        .expect("team");
    let cookie = app.session_cookie(owner_a, &team_a).await;
    let member_b = &users_b
        .iter()
        .find(|(r, _)| *r == Role::Member)
        .expect("member")
        .1;
    let client = client();
    let response = client
        .patch(app.url(&format!("/api/team/members/{member_b}")))
        .header("cookie", &cookie)
        .json(&serde_json::json!({"role": "viewer"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    let response = client
        .delete(app.url(&format!("/api/team/members/{member_b}")))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    app.stop().await;
}
