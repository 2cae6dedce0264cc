//! Issue 11: a stored provider key must not be readable by pointing its base
//! URL elsewhere, and provider calls must not reach inside the network (SSRF).
//! Pinned here: a base URL change needs the key again; the egress policy
//! (loopback and private hosts only when listed in `provider_allowed_hosts`,
//! link-local and metadata never) holds on every call, on resolved addresses and
//! on redirects; provider answers are size-capped and shown to admins only.
//!
//! Listeners here run on loopback, so every test lists exactly what it allows
//! instead of taking the harness's default (which allows 127.0.0.1).

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::TestApp;
use common::fake_provider::{FakeProvider, GOOD_KEY};
use common::runtime::{Api, member_api, step};
use hummbl::auth::Role;
use hummbl::config::Config;
use hummbl::providers::egress::AllowedHosts;
use reqwest::Method;
use serde_json::{Value, json};

/// A configuration change allowing exactly `entries` (none: the default policy).
fn allowing(entries: &'static [&'static str]) -> impl FnOnce(&mut Config) {
    move |config| {
        config.provider_allowed_hosts = AllowedHosts::parse(entries).expect("valid entries");
        common::runtime::fast_retries(config);
    }
}

/// What a [`Listener`] answers to every request.
#[derive(Clone)]
enum Answer {
    Status(u16, Value),
    Redirect(String),
    /// A valid chat completion whose text is this many bytes long.
    Huge(usize),
}

/// A request a [`Listener`] saw: its path and its credential header.
type Seen = (String, Option<String>);

/// A plain HTTP server on a loopback address that records who called it and
/// with which `Authorization` header.
struct Listener {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Listener {
    async fn start(ip: &str, answer: Answer) -> Listener {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let record = record.clone();
            let answer = answer.clone();
            async move {
                let authorization = headers
                    .get("authorization")
                    .or_else(|| headers.get("x-api-key"))
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                if let Ok(mut seen) = record.lock() {
                    seen.push((uri.path().to_string(), authorization));
                }
                respond(answer)
            }
        });
        let listener = tokio::net::TcpListener::bind(format!("{ip}:0"))
            .await
            .expect("bind listener");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Listener { addr, seen, server }
    }

    fn base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }
}

fn respond(answer: Answer) -> Response {
    match answer {
        Answer::Status(status, body) => (
            StatusCode::from_u16(status).expect("status"),
            axum::Json(body),
        )
            .into_response(),
        Answer::Redirect(to) => (StatusCode::FOUND, [("location", to)]).into_response(),
        Answer::Huge(len) => {
            let text = "x".repeat(len);
            axum::Json(json!({"choices": [{"message": {"content": text}}],
                              "usage": {"prompt_tokens": 1, "completion_tokens": 1}}))
            .into_response()
        }
    }
}

/// An owner's client in a new team: the client, the team and the owner's id.
async fn owner(app: &TestApp, tag: &str) -> (Api, String, String) {
    let (user, team) = app
        .user(
            &format!("{tag}@example.com"),
            "owner-password-1",
            None,
            Role::Owner,
        )
        .await;
    let api = Api {
        client: common::client(),
        base: app.base.clone(),
        cookie: app.session_cookie(&user, &team).await,
    };
    (api, team, user)
}

/// A key saved straight into the store, past the API's save-time checks, as a
/// key saved before the policy existed (or under a wider one) would be.
async fn stored_key(app: &TestApp, team: &str, user: &str, base_url: &str) -> String {
    hummbl::provider_keys::create(
        &app.db,
        &app.state.vault,
        hummbl::audit::Actor::user(team, user),
        hummbl::provider_keys::NewKey {
            provider: hummbl::providers::ProviderKind::Openai,
            label: "stored".into(),
            secret: secrecy::SecretString::from(GOOD_KEY.to_string()),
            base_url: Some(base_url.into()),
        },
    )
    .await
    .expect("stored key")
    .id
}

async fn test_key(api: &Api, key: &str) -> Value {
    api.expect_post(&format!("/api/keys/{key}/test"), json!({}), 200)
        .await
}

async fn patch(api: &Api, key: &str, body: Value) -> (u16, Value) {
    api.send(Method::PATCH, &format!("/api/keys/{key}"), Some(body))
        .await
}

fn field(answer: &Value) -> &str {
    answer["error"]["field"].as_str().unwrap_or_default()
}

fn message(answer: &Value) -> &str {
    answer["error"]["message"].as_str().unwrap_or_default()
}

fn detail(tested: &Value) -> &str {
    tested["message"].as_str().unwrap_or_default()
}

/// Runs a one-step workflow on `key` and returns the finished step.
async fn run_one_step(api: &Api, key: &str) -> Value {
    let agent = api.agent("Writer", "openai", "gpt-4o-mini", key).await;
    let workflow = api
        .workflow(
            "One step",
            json!([{"id": "a", "agent": agent, "prompt": "hello"}]),
        )
        .await;
    let execution = api
        .wait_finished(&api.run(&workflow, json!({})).await)
        .await;
    step(&execution, "a").clone()
}

#[tokio::test]
async fn a_base_url_change_needs_the_secret_again() {
    let app = TestApp::spawn_with(allowing(&["127.0.0.1"])).await;
    let fake = FakeProvider::start().await;
    let thief = Listener::start("127.0.0.1", Answer::Status(200, json!({"data": []}))).await;
    let (owner_api, team, _) = owner(&app, "exfil-owner").await;
    let key = owner_api
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let admin = member_api(&app, &team, "exfil-admin", Role::Admin).await;

    // The admin cannot move the saved key elsewhere, nor back to the default host.
    for base_url in [json!(thief.base()), Value::Null] {
        let (status, answer) = patch(&admin, &key, json!({"base_url": base_url})).await;
        assert_eq!((status, field(&answer)), (422, "base_url"), "{answer}");
        assert!(message(&answer).contains("needs the key again"), "{answer}");
    }
    let (_, listed) = admin.get("/api/keys").await;
    assert_eq!(listed["keys"][0]["base_url"], fake.openai_base().as_str());
    assert_eq!(
        test_key(&admin, &key).await["ok"],
        true,
        "still the fake provider"
    );
    assert!(thief.seen().is_empty(), "{:?}", thief.seen());

    // With a key of their own, the base URL moves, and only that key travels.
    let (status, answer) = patch(
        &admin,
        &key,
        json!({"base_url": thief.base(), "key": "sk-admins-own-5678"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["last4"], "5678");
    test_key(&admin, &key).await;
    let seen = thief.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].1.as_deref(), Some("Bearer sk-admins-own-5678"));
    assert!(!format!("{seen:?}").contains(GOOD_KEY));
    app.stop().await;
}

#[tokio::test]
async fn loopback_and_private_hosts_are_refused_unless_allowed() {
    let fake = FakeProvider::start().await;

    // Nothing allowed: saving a loopback or private base URL is refused, naming
    // the setting that allows it.
    let app = TestApp::spawn_with(allowing(&[])).await;
    let (api, team, user) = owner(&app, "private").await;
    for base_url in [
        fake.openai_base(),
        "http://10.1.2.3/v1".into(),
        "http://[::1]:11434/v1".into(),
    ] {
        let (status, answer) = api
            .post("/api/keys", json!({"provider": "openai", "label": "local", "key": GOOD_KEY, "base_url": base_url}))
            .await;
        assert_eq!(
            (status, field(&answer)),
            (422, "base_url"),
            "{base_url}: {answer}"
        );
        assert!(
            message(&answer).contains("provider_allowed_hosts"),
            "{answer}"
        );
    }
    // A key that is already stored is refused at every call: the key test and
    // the runner's chat, which fails at once (not retried) and reaches nothing.
    let key = stored_key(&app, &team, &user, &fake.openai_base()).await;
    let tested = test_key(&api, &key).await;
    assert_eq!(tested["ok"], false, "{tested}");
    assert_eq!(tested["models"], json!([]));
    // Refused before any answer: nothing is known about the key itself.
    let (_, listed) = api.get("/api/keys").await;
    assert_eq!(
        (
            listed["keys"][0]["status"].clone(),
            listed["keys"][0]["last_test_result"].clone()
        ),
        (json!("active"), json!("failed"))
    );
    assert!(
        detail(&tested).contains("not allowed by the egress policy")
            && detail(&tested).contains("provider_allowed_hosts"),
        "{tested}"
    );
    let failed = run_one_step(&api, &key).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error_class"], "egress_refused", "{failed}");
    assert_eq!(failed["attempts"], 1);
    assert!(
        fake.provider.calls().is_empty(),
        "{:?}",
        fake.provider.calls()
    );
    app.stop().await;

    // Listed, the same provider works.
    let app = TestApp::spawn_with(allowing(&["127.0.0.1"])).await;
    let (api, _, _) = owner(&app, "private-allowed").await;
    let key = api
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    assert_eq!(test_key(&api, &key).await["ok"], true);
    assert_eq!(run_one_step(&api, &key).await["status"], "succeeded");
    app.stop().await;
}

#[tokio::test]
async fn link_local_and_metadata_addresses_are_always_refused() {
    let app = TestApp::spawn_with(allowing(&[
        "169.254.0.0/16",
        "fe80::/10",
        "fd00:ec2::254",
        "100.100.100.200",
        "metadata.google.internal",
    ]))
    .await;
    let (api, team, user) = owner(&app, "metadata").await;
    for base_url in [
        "http://169.254.169.254/latest",
        "http://[fe80::1]/v1",
        "http://[fd00:ec2::254]/v1",
        "http://100.100.100.200/v1",
        "http://metadata.google.internal/computeMetadata/v1",
        "http://[::ffff:169.254.169.254]/v1",
    ] {
        let (status, answer) = api
            .post("/api/keys", json!({"provider": "openai", "label": "meta", "key": GOOD_KEY, "base_url": base_url}))
            .await;
        assert_eq!(
            (status, field(&answer)),
            (422, "base_url"),
            "{base_url}: {answer}"
        );
        assert!(message(&answer).contains("never allows"), "{answer}");
    }
    // Stored anyway, it is refused before any connection: the policy's answer
    // comes at once, not a network error after the connect timeout.
    let key = stored_key(&app, &team, &user, "http://169.254.169.254/latest").await;
    let started = std::time::Instant::now();
    let tested = test_key(&api, &key).await;
    assert!(detail(&tested).contains("never allows"), "{tested}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    app.stop().await;
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused() {
    let fake = FakeProvider::start().await;
    // `localhost` resolves to 127.0.0.1 through /etc/hosts: a name whose
    // address is refused, as a public name rebound to loopback would be.
    let by_name = format!("http://localhost:{}/v1", fake.addr.port());
    for allowed in [&[][..], &["127.0.0.2"][..]] {
        let app = TestApp::spawn_with(allowing(allowed)).await;
        let (api, _, _) = owner(&app, "rebinding").await;
        let key = api.provider_key("openai", &by_name, GOOD_KEY).await;
        let tested = test_key(&api, &key).await;
        assert_eq!(tested["ok"], false, "allowing {allowed:?}: {tested}");
        assert!(
            detail(&tested).contains("localhost (127.0.0.1)")
                && detail(&tested).contains("not allowed by the egress policy"),
            "{tested}"
        );
        app.stop().await;
    }
    // Listing the name allows what it resolves to.
    let app = TestApp::spawn_with(allowing(&["LocalHost"])).await;
    let (api, _, _) = owner(&app, "rebinding-allowed").await;
    let key = api.provider_key("openai", &by_name, GOOD_KEY).await;
    assert_eq!(test_key(&api, &key).await["ok"], true);
    assert_eq!(run_one_step(&api, &key).await["status"], "succeeded");
    app.stop().await;
}

#[tokio::test]
async fn a_redirect_to_a_refused_host_is_not_followed() {
    let app = TestApp::spawn_with(allowing(&["127.0.0.1"])).await;
    let (api, _, _) = owner(&app, "redirect").await;
    // 127.0.0.2 is loopback too, but not listed.
    let hidden = Listener::start("127.0.0.2", Answer::Status(200, json!({"data": []}))).await;
    for target in [
        format!("http://{}/v1/models", hidden.addr),
        "http://169.254.169.254/latest/meta-data".into(),
    ] {
        let steering = Listener::start("127.0.0.1", Answer::Redirect(target.clone())).await;
        let key = api.provider_key("openai", &steering.base(), GOOD_KEY).await;
        let tested = test_key(&api, &key).await;
        assert_eq!(tested["ok"], false, "{target}: {tested}");
        assert!(detail(&tested).contains("redirect"), "{tested}");
        let failed = run_one_step(&api, &key).await;
        assert_eq!(failed["error_class"], "egress_refused", "{failed}");
        assert_eq!(failed["attempts"], 1);
        assert_eq!(steering.seen().len(), 2, "one key test, one chat call");
    }
    assert!(hidden.seen().is_empty(), "{:?}", hidden.seen());
    app.stop().await;
}

#[tokio::test]
async fn members_do_not_see_what_the_provider_answered() {
    let app = TestApp::spawn_with(allowing(&["127.0.0.1"])).await;
    let banner = "internal-banner: admin console v2, db=10.0.0.7";
    let provider = Listener::start(
        "127.0.0.1",
        Answer::Status(401, json!({"error": {"message": banner}})),
    )
    .await;
    let (owner_api, team, _) = owner(&app, "answers").await;
    let key = owner_api
        .provider_key("openai", &provider.base(), GOOD_KEY)
        .await;
    let tested = test_key(&owner_api, &key).await;
    assert_eq!(tested["ok"], false);
    assert!(
        detail(&tested).contains(banner),
        "admins see the answer: {tested}"
    );

    let (_, listed) = owner_api.get("/api/keys").await;
    assert_eq!(listed["keys"][0]["status"], "invalid");
    assert!(
        listed["keys"][0]["status_detail"]
            .as_str()
            .is_some_and(|d| d.contains(banner))
    );
    assert!(
        listed["keys"][0]["last_test_message"]
            .as_str()
            .is_some_and(|d| d.contains(banner))
    );
    for role in [Role::Member, Role::Viewer] {
        let other = member_api(&app, &team, &format!("answers-{role}"), role).await;
        let (status, listed) = other.get("/api/keys").await;
        assert_eq!(status, 200);
        assert_eq!(
            listed["keys"][0]["status"], "invalid",
            "{role} sees the status"
        );
        assert!(
            !listed.to_string().contains("internal-banner"),
            "{role}: {listed}"
        );
        let (status, _) = other
            .post(&format!("/api/keys/{key}/test"), json!({}))
            .await;
        assert_eq!(status, 403, "{role} cannot test a key");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_huge_answer_is_refused_not_buffered() {
    let app = TestApp::spawn_with(allowing(&["127.0.0.1"])).await;
    let provider = Listener::start("127.0.0.1", Answer::Huge(2 * 1024 * 1024)).await;
    let (api, _, _) = owner(&app, "huge").await;
    let key = api.provider_key("openai", &provider.base(), GOOD_KEY).await;
    let failed = run_one_step(&api, &key).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error_class"], "bad_response", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("larger than")),
        "{failed}"
    );
    app.stop().await;
}

#[tokio::test]
async fn only_admins_see_a_failed_step_s_raw_provider_answer() {
    let app = TestApp::spawn_with(allowing(&["127.0.0.1"])).await;
    let banner = "internal-banner: build server 10.0.0.9";
    let provider = Listener::start(
        "127.0.0.1",
        Answer::Status(
            400,
            json!({"error": {"message": "bad request"}, "detail": banner}),
        ),
    )
    .await;
    let (owner_api, team, _) = owner(&app, "raw-answers").await;
    let key = owner_api
        .provider_key("openai", &provider.base(), GOOD_KEY)
        .await;
    let failed = run_one_step(&owner_api, &key).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let execution = failed["execution_id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_default();
    let (_, listed) = owner_api.get("/api/executions").await;
    let id = if execution.is_empty() {
        listed["executions"][0]["id"]
            .as_str()
            .expect("id")
            .to_string()
    } else {
        execution
    };
    let (_, seen_by_owner) = owner_api.get(&format!("/api/executions/{id}")).await;
    assert!(
        seen_by_owner.to_string().contains("internal-banner"),
        "the owner sees the answer: {seen_by_owner}"
    );
    let (_, page) = owner_api.page("/logs/errors").await;
    assert!(
        page.contains("internal-banner"),
        "the owner's error log shows it"
    );
    for role in [Role::Member, Role::Viewer] {
        let other = member_api(&app, &team, &format!("raw-{role}"), role).await;
        let (status, seen) = other.get(&format!("/api/executions/{id}")).await;
        assert_eq!(status, 200);
        assert!(
            !seen.to_string().contains("internal-banner"),
            "{role}: {seen}"
        );
        assert!(
            seen.to_string().contains("bad request"),
            "{role} still sees the step's error"
        );
        for path in [format!("/monitor/{id}"), "/logs/errors".to_string()] {
            let (status, html) = other.page(&path).await;
            assert_eq!(status, 200, "{path}");
            assert!(!html.contains("internal-banner"), "{role} on {path}");
        }
    }
    app.stop().await;
}
