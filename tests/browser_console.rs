//! The runtime's console end to end in Chromium, as a newcomer would use it:
//! from an empty team to a successful run of their own two-step workflow with
//! nothing but the console (the path is timed and its clicks counted), then
//! a refused key, rotation, a delete refused while an agent uses the key, and
//! a member who only reads. Every key's plaintext is looked for afterwards in
//! every page shown, the API's answers, the server's log and the stored data.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::browser::Browser;
use common::fake_provider::{FakeProvider, GOOD_KEY, REVOKED_KEY, ROTATED_KEY};
use common::runtime::Api;
use common::{TestApp, backend_name};
use fantoccini::Locator;
use hummbl::auth::Role;

/// The server's log, kept in memory for the plaintext search.
#[derive(Clone, Default)]
struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogSink {
    fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The browser, with what a person did counted and every page kept.
struct Session<'a> {
    browser: &'a Browser,
    clicks: u32,
    typed: u32,
    pages: Vec<String>,
}

impl Session<'_> {
    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.browser.wait_for(css, css).await
    }

    async fn click(&mut self, css: &str) {
        self.element(css).await.click().await.expect(css);
        self.clicks += 1;
    }

    async fn type_into(&mut self, css: &str, text: &str) {
        let field = self.element(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect(css);
        self.typed += 1;
    }

    /// Waits for the page whose heading contains `text`, and keeps it.
    async fn page(&mut self, heading: &str) -> String {
        let xpath = format!("//main//h1[contains(normalize-space(.), '{heading}')]");
        let found = self
            .browser
            .client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::XPath(&xpath))
            .await;
        let source = self.browser.client.source().await.expect("page source");
        assert!(
            found.is_ok(),
            "expected a page titled {heading:?}: {source}"
        );
        self.pages.push(source.clone());
        source
    }

    /// On the API keys page: adds a key at `base_url`, then tests it.
    async fn add_and_test_key(&mut self, label: &str, secret: &str, base_url: &str) {
        self.page("API keys").await;
        self.type_into("#new-key-label", label).await;
        self.type_into("#new-key-secret", secret).await;
        self.type_into("#new-key-base", base_url).await;
        self.click("form[action='/settings/api-keys'] button").await;
        let test = format!("button[aria-label='Test key {label}']");
        self.shows(&test, "the new key").await;
        self.click(&test).await;
    }

    /// Waits until a table cell reads `text`, and keeps the page.
    async fn shows_text(&mut self, text: &str, what: &str) -> String {
        let xpath = format!("//main//td[contains(normalize-space(.), '{text}')]");
        let found = self
            .browser
            .client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::XPath(&xpath))
            .await;
        let source = self.browser.client.source().await.expect("page source");
        assert!(found.is_ok(), "expected {what}: {source}");
        self.pages.push(source.clone());
        source
    }

    /// Waits until `css` matches on the current page, and keeps the page.
    async fn shows(&mut self, css: &str, what: &str) -> String {
        self.browser.wait_for(css, what).await;
        let source = self.browser.client.source().await.expect("page source");
        self.pages.push(source.clone());
        source
    }
}

/// Everything the backend stores: the data directory's files (the SQLite
/// database and its journal, the master key file), and on PostgreSQL every
/// table's rows as text.
async fn stored_data(app: &TestApp) -> Vec<u8> {
    let mut stored = Vec::new();
    let dir = &app.state.config.data_dir;
    for entry in std::fs::read_dir(dir).expect("data dir").flatten() {
        if entry.path().is_file() {
            stored.extend(std::fs::read(entry.path()).expect("a data file"));
        }
    }
    if backend_name() == "postgres" {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(app.db.read())
        .await
        .expect("tables");
        assert!(tables.len() > 10, "the schema's tables: {tables:?}");
        for table in tables {
            let rows: String = sqlx::query_scalar(&format!(
                "SELECT COALESCE(string_agg(t::text, E'\\n'), '') FROM \"{table}\" t"
            ))
            .fetch_one(app.db.read())
            .await
            .expect("rows as text");
            stored.extend(rows.into_bytes());
        }
    }
    stored
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn a_newcomer_builds_and_runs_a_two_step_workflow_from_the_console() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let log = LogSink::default();
    let sink = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter("info,hummbl=trace")
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();
    let app = TestApp::spawn().await;
    let fake = FakeProvider::start().await;
    let (owner, team) = app
        .user(
            "newcomer@example.com",
            "newcomer-password-1",
            None,
            Role::Owner,
        )
        .await;
    let mut session = Session {
        browser: &browser,
        clicks: 0,
        typed: 0,
        pages: Vec::new(),
    };

    // The path, timed: sign in, follow the checklist, run, see it succeed.
    let started = Instant::now();
    browser
        .sign_in(&app.base, "newcomer@example.com", "newcomer-password-1")
        .await;
    session.clicks += 1;
    let overview = session
        .shows("#start-title", "the getting-started checklist")
        .await;
    assert!(overview.contains("0 of 5 done"), "{overview}");
    session.click("main a[href='/settings/api-keys']").await;
    session
        .add_and_test_key("Primary", GOOD_KEY, &fake.openai_base())
        .await;
    let tested = session.shows_text("accepted", "the key tested valid").await;
    assert!(
        tested.contains("badge-key-unused"),
        "valid, and no agent uses it yet"
    );

    session.click("nav a[href='/agents']").await;
    session.page("Agents").await;
    session.type_into("#agent-name", "Writer").await;
    session
        .element("#agent-key")
        .await
        .select_by_index(1)
        .await
        .expect("choose the key");
    session.clicks += 1;
    session.type_into("#agent-model", "gpt-4o-mini").await;
    session
        .click("form[action='/agents'] button[type=submit]")
        .await;
    session
        .shows("a[href^='/agents/'][href$='/edit']", "the new agent")
        .await;

    session.click("nav a[href='/workflows']").await;
    session.page("Workflows").await;
    session.click("main a[href='/workflows/new']").await;
    session.page("New workflow").await;
    session.type_into("#workflow-name", "Brief").await;
    session
        // Slow enough that the run's page opens while it runs, and must follow it live.
        .type_into(
            "#steps-0-prompt",
            "[slow:2000] Three facts about {{input.topic}}",
        )
        .await;
    session.click("button[value='add']").await;
    session.shows("#steps-1-prompt", "a second step").await;
    session.type_into("#steps-1-prompt", "Summarise: ").await;
    session
        .click("button[data-index='1'][data-insert='{{steps.step-1.output}}']")
        .await;
    browser.save_screenshot("workflow-editor.png").await;
    session.click("button.button-primary[value='save']").await;
    let workflow_page = session.page("Brief").await;
    assert!(
        workflow_page.contains("step-2 waits for step-1"),
        "{workflow_page}"
    );

    session
        .type_into("#run-input", r#"{"topic": "tides"}"#)
        .await;
    session.click("form[action$='/run'] button").await;
    session
        .shows("main h1 .status-running", "the run's page while it runs")
        .await;
    session
        .shows("main h1 .status-succeeded", "the run succeeding, live")
        .await;
    let elapsed = started.elapsed();
    eprintln!(
        "newcomer path on {}: {} clicks, {} fields typed, {:.1} s from sign-in to a successful run",
        backend_name(),
        session.clicks,
        session.typed,
        elapsed.as_secs_f64()
    );

    let owner_api = Api {
        client: common::client(),
        base: app.base.clone(),
        cookie: app.session_cookie(&owner, &team).await,
    };
    let workflows = owner_api.get("/api/workflows").await.1;
    assert_eq!(
        workflows["workflows"][0]["steps"][1]["prompt"], "Summarise: {{steps.step-1.output}}",
        "the offered reference was inserted: {workflows}"
    );
    assert_eq!(
        workflows["workflows"][0]["steps"][1]["depends_on"],
        serde_json::json!(["step-1"])
    );

    // A key the provider refuses shows invalid.
    session.click("nav a[href='/settings/api-keys']").await;
    session
        .add_and_test_key("Old", REVOKED_KEY, &fake.openai_base())
        .await;
    let refused = session
        .shows("td .badge-key-invalid", "the refused key marked invalid")
        .await;
    assert!(refused.contains("refused"), "{refused}");

    // Rotation: the new secret works; the old value is gone.
    let keys = owner_api.get("/api/keys").await.1;
    let primary = keys["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|key| key["label"] == "Primary"))
        .and_then(|key| key["id"].as_str())
        .unwrap_or_else(|| panic!("the Primary key: {keys}"))
        .to_string();
    session
        .type_into(&format!("#secret-{primary}"), ROTATED_KEY)
        .await;
    session
        .click(&format!(
            "form[action='/settings/api-keys/{primary}/secret'] button"
        ))
        .await;
    session.page("API keys").await;
    let rotated = owner_api
        .post(&format!("/api/keys/{primary}/test"), serde_json::json!({}))
        .await;
    assert_eq!(rotated.1["ok"], true, "the rotated key works: {rotated:?}");
    assert_eq!(
        owner_api.get("/api/keys").await.1["keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|key| key["id"] == primary.as_str()))
            .map(|key| key["last4"].clone()),
        Some(serde_json::json!("5678"))
    );

    // Deleting a key an agent uses is refused, naming the agent.
    session
        .click("button[aria-label='Delete key Primary']")
        .await;
    let conflict = session.shows(".notice-error", "the refusal").await;
    assert!(
        conflict.contains("Writer"),
        "the agent is named: {conflict}"
    );

    // A member reads the keys and cannot change them.
    let (member, _) = app
        .user(
            "reader@example.com",
            "member-password-1",
            Some(&team),
            Role::Member,
        )
        .await;
    let member_api = Api {
        client: common::client(),
        base: app.base.clone(),
        cookie: app.session_cookie(&member, &team).await,
    };
    let (status, read_only) = member_api.page("/settings/api-keys").await;
    assert_eq!(status, 200);
    assert!(read_only.contains("Primary") && !read_only.contains("action=\"/settings/api-keys"));
    session.pages.push(read_only);
    let (status, _) = member_api
        .post_form(&format!("/settings/api-keys/{primary}/delete"), &[])
        .await;
    assert_eq!(status, 403);

    // The plaintext of every key, nowhere.
    let mut answers = String::new();
    for path in [
        "/api/keys".to_string(),
        format!("/api/keys/{primary}/usage?days=30"),
        "/api/agents".into(),
        "/api/workflows".into(),
        "/api/executions".into(),
    ] {
        let (status, body) = owner_api.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        answers.push_str(&body.to_string());
    }
    answers.push_str(&rotated.1.to_string());
    let executions = owner_api.get("/api/executions").await.1;
    let execution = executions["executions"][0]["id"]
        .as_str()
        .unwrap_or_default();
    answers.push_str(
        &owner_api
            .get(&format!("/api/executions/{execution}"))
            .await
            .1
            .to_string(),
    );
    let stored = stored_data(&app).await;
    let logged = log.text();
    // The searches can find: what is stored and shown in the open is found.
    assert!(logged.contains("hummbl"), "the log was captured");
    assert!(contains(&stored, "Primary"), "the stored data is read");
    assert!(
        session.pages.iter().any(|page| page.contains("…1234")),
        "pages show a key's last four"
    );
    for secret in [GOOD_KEY, REVOKED_KEY, ROTATED_KEY] {
        for (i, page) in session.pages.iter().enumerate() {
            assert!(!page.contains(secret), "page {i} shows a key's plaintext");
        }
        assert!(
            !answers.contains(secret),
            "an API answer holds a key's plaintext"
        );
        assert!(!logged.contains(secret), "the log holds a key's plaintext");
        assert!(
            !contains(&stored, secret),
            "the stored data holds a key's plaintext"
        );
    }
    browser.close().await;
    app.stop().await;
}
