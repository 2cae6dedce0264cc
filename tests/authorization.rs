//! Walks every route of the route table as anonymous, viewer, member, admin and
//! owner, and checks each answer against the route's declared access:
//! 401 (API) or a redirect to /login (pages) for anonymous callers, 403 for a
//! role without the permission, success otherwise. A route without a sample
//! request below fails the test, so new routes must be declared here too.

mod common;

use common::{TestApp, client};
use hummbl::auth::Role;
use hummbl::routes::{Access, Route, Surface};
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
}

/// Provider calls in these samples go nowhere (nothing listens on port 9).
const UNREACHABLE: &str = "http://127.0.0.1:9/v1";

impl Fixture {
    async fn provider_key(&self, user: &str) -> String {
        hummbl::provider_keys::create(
            &self.app.db,
            &self.app.state.vault,
            &self.team,
            user,
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
            &self.team,
            user,
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
        hummbl::workflows::create(
            &self.app.db,
            &self.team,
            Some(user),
            &format!("sample {n}"),
            None,
            &definition,
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

    /// A request that a caller allowed to use the route would see succeed.
    async fn sample(&self, route: &Route, role: Option<Role>, n: usize) -> Option<Sample> {
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
            | "GET /api/teams"
            | "GET /api/team/members"
            | "GET /api/components"
            | "POST /logout"
            | "POST /api/auth/logout" => plain(route.path),
            "GET /assets/{file}" => plain("/assets/app.css"),
            "OPTIONS /api/telemetry/track"
            | "OPTIONS /api/telemetry/metrics"
            | "GET /sdk/telemetry.js"
            | "GET /sdk/telemetry.d.ts"
            | "GET /api/telemetry/stream"
            | "GET /settings/ingestion-keys"
            | "GET /api/ingestion-keys" => plain(route.path),
            "GET /api/telemetry/metrics/{component_id}" => plain("/api/telemetry/metrics/console"),
            "GET /api/keys"
            | "GET /api/agents"
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
            "PATCH /api/keys/{id}" | "DELETE /api/keys/{id}" | "POST /api/keys/{id}/test" => {
                Some(Sample {
                    path: route
                        .path
                        .replace("{id}", &self.provider_key(&acting_user).await),
                    body: match route.method.as_str() {
                        "PATCH" => Body::Json(serde_json::json!({"label": "renamed"})),
                        _ => Body::None,
                    },
                })
            }
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
                    &self.team,
                    "to revoke",
                    vec![],
                    &acting_user,
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
                    &acting_user,
                    &self.team,
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
            "DELETE /api/team/members/{user_id}" => {
                let (victim, _) = self
                    .app
                    .user(
                        &format!("victim-{n}@example.com"),
                        "victim-password-1",
                        Some(&self.team),
                        Role::Viewer,
                    )
                    .await;
                Some(Sample {
                    path: route.path.replace("{user_id}", &victim),
                    body: Body::None,
                })
            }
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

#[derive(Debug, PartialEq)]
enum Expect {
    Success,
    Unauthorized,
    RedirectToLogin,
    Forbidden,
}

fn expected(route: &Route, role: Option<Role>) -> Expect {
    match (route.access, role) {
        (Access::Public, _) => Expect::Success,
        (_, None) if route.surface == Surface::Page => Expect::RedirectToLogin,
        (_, None) => Expect::Unauthorized,
        (Access::SignedIn | Access::Ingest, Some(_)) => Expect::Success,
        (Access::Allowed(permission), Some(role)) if role.allows(permission) => Expect::Success,
        (Access::Allowed(_), Some(_)) => Expect::Forbidden,
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
    let fixture = Fixture { app, team, users };
    let client = client();
    let routes = hummbl::routes::all();
    let mut missing = Vec::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut n = 0;
    for route in &routes {
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
            let want = expected(route, role);
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
        missing.is_empty(),
        "routes without an authorization sample: {missing:?}"
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
