//! A headless Chromium driven through ChromeDriver (WebDriver), for tests that
//! need a real browser. ChromeDriver is started per test on a free port and
//! killed when the [`Browser`] is dropped. Without Chromium the tests skip,
//! except under `CI=true`, where a missing browser is a failure.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn find(program: &str) -> Option<String> {
    let paths = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .map(|path| path.display().to_string())
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium session; `None` (skip) when
    /// they are not installed and this is not CI.
    pub async fn start() -> Option<Browser> {
        let (Some(driver_path), Some(chromium)) = (find("chromedriver"), find("chromium")) else {
            assert!(
                !on_ci(),
                "CI=true but chromium/chromedriver are not installed"
            );
            eprintln!("skipping browser test: chromium and chromedriver are not installed");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port for chromedriver")
            .port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(err) if Instant::now() < deadline => {
                    let _ = err;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!("cannot start a browser session: {err}"),
            }
        };
        Some(Browser {
            client,
            driver,
            _profile: profile,
        })
    }

    /// Ends the browser session; ChromeDriver is stopped on drop.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Signs in through the login form and waits for the console shell.
    pub async fn sign_in(&self, base: &str, email: &str, password: &str) {
        use fantoccini::Locator;
        self.client
            .goto(&format!("{base}/login"))
            .await
            .expect("goto login");
        let form = self
            .client
            .form(Locator::Css("form[action='/login']"))
            .await
            .expect("login form");
        form.set_by_name("email", email).await.expect("email");
        form.set_by_name("password", password)
            .await
            .expect("password");
        form.submit().await.expect("sign in");
        self.wait_for("nav[aria-label=Main]", "signed in").await;
    }

    /// Waits (up to 10 s) for an element matching `css`; `what` names it in
    /// the failure.
    pub async fn wait_for(&self, css: &str, what: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(fantoccini::Locator::Css(css))
            .await
            .expect(what)
    }

    /// Opens the monitor and an execution's page in its dialog (monitor.js).
    pub async fn open_execution_dialog(&self, base: &str) {
        self.client
            .goto(&format!("{base}/monitor"))
            .await
            .expect("goto /monitor");
        self.wait_for(
            "#executions tbody a[href^='/monitor/']",
            "an execution link",
        )
        .await
        .click()
        .await
        .expect("open the dialog");
        self.wait_for("dialog#execution-dialog[open]", "the execution dialog")
            .await;
    }

    /// Saves the page as shown under docs/screenshots, for the README.
    pub async fn save_screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshots dir");
        std::fs::write(dir.join(name), png).expect("save screenshot");
    }
}

/// One rule axe-core found broken on a page: its id (e.g. `color-contrast`),
/// impact (`minor`, `moderate`, `serious` or `critical`), its one-line help,
/// and the CSS selectors of the elements that break it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Violation {
    pub id: String,
    pub impact: Option<String>,
    pub help: String,
    pub targets: Vec<String>,
}

impl Violation {
    /// Critical and serious violations are the ones the console must not have.
    pub fn is_blocking(&self) -> bool {
        matches!(self.impact.as_deref(), Some("critical" | "serious"))
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 3;
        let mut targets = self.targets.iter().take(SHOWN).cloned().collect::<Vec<_>>();
        if self.targets.len() > SHOWN {
            targets.push(format!("and {} more", self.targets.len() - SHOWN));
        }
        write!(
            f,
            "{} ({}): {} at {}",
            self.id,
            self.impact.as_deref().unwrap_or("no impact"),
            self.help,
            targets.join(", ")
        )
    }
}

/// axe-core's `axe.min.js`, from `HUMMBL_AXE_JS` (scripts/test sets it after
/// fetching the pinned version with scripts/fetch-axe); `None` (skip) when it
/// is not set and this is not CI.
pub fn axe_source() -> Option<String> {
    let Some(path) = std::env::var_os("HUMMBL_AXE_JS").filter(|path| !path.is_empty()) else {
        assert!(
            !on_ci(),
            "CI=true but HUMMBL_AXE_JS is not set (scripts/test sets it)"
        );
        eprintln!(
            "skipping accessibility audit: HUMMBL_AXE_JS is not set; \
             run `export HUMMBL_AXE_JS=$(scripts/fetch-axe)` first"
        );
        return None;
    };
    let source = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "HUMMBL_AXE_JS={}: {err} (scripts/fetch-axe prints the path of a fresh copy)",
            path.to_string_lossy()
        )
    });
    Some(source)
}

impl Browser {
    /// Runs axe-core (the source from [`axe_source`]) on the page as it is now
    /// and returns every violation, whatever its impact.
    ///
    /// The source is sent as a WebDriver script, which Chromium runs outside the
    /// page's Content-Security-Policy; it loads once per document (the check
    /// for `window.axe` skips it on a page that has it already).
    pub async fn axe(&self, axe_source: &str) -> Vec<Violation> {
        let loaded = self
            .client
            .execute("return typeof window.axe === 'object';", vec![])
            .await
            .expect("look for axe");
        if loaded != serde_json::Value::Bool(true) {
            self.client
                .execute(
                    &format!("{axe_source}\n;return typeof window.axe === 'object';"),
                    vec![],
                )
                .await
                .expect("load axe-core into the page");
        }
        let answer = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                window.axe
                  .run(document, { resultTypes: ["violations"] })
                  .then((results) => done({
                    violations: results.violations.map((rule) => ({
                      id: rule.id,
                      impact: rule.impact,
                      help: rule.help,
                      targets: rule.nodes.map((node) => node.target.flat().join(" ")),
                    })),
                  }))
                  .catch((err) => done({ error: String(err) }));"#,
                vec![],
            )
            .await
            .expect("run axe-core");
        if let Some(error) = answer.get("error") {
            panic!("axe-core failed on the page: {error}");
        }
        serde_json::from_value(answer["violations"].clone()).expect("axe-core's violations")
    }
}

/// A link token for the demo team's pending invitation (its hash stored as
/// the mail worker or an admin's "Get link" would).
async fn demo_invitation_link(app: &super::TestApp) -> String {
    let token = format!("demo-link-{}", hummbl::storage::new_id());
    let hash = super::token_hash(&token);
    sqlx::query("UPDATE invitations SET token_hash = $1 WHERE email = 'new.hire@demo.hummbl.dev'")
        .bind(hash)
        .execute(app.db.write())
        .await
        .expect("the demo invitation's link");
    token
}

/// Every GET page of the route table but `/login`, with each `{id}` filled in
/// from the demo data by what the page shows: an execution under `/monitor`,
/// a workflow under `/workflows`, an agent under `/agents`, a user for
/// `{user_id}`, the demo invitation's link for `{token}` (so the audits see
/// the real pages, not a 404).
pub async fn demo_page_paths(app: &super::TestApp) -> Vec<String> {
    let first = |table: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, String>(&format!("SELECT id FROM {table} ORDER BY id LIMIT 1"))
                .fetch_one(db.read())
                .await
                .unwrap_or_else(|err| panic!("a demo row in {table}: {err}"))
        }
    };
    let (execution, workflow, agent, user, schedule) = (
        first("executions").await,
        first("workflows").await,
        first("agents").await,
        first("users").await,
        first("schedules").await,
    );
    let invitation = demo_invitation_link(app).await;
    hummbl::app::routes()
        .into_iter()
        .filter(|route| {
            route.surface == hummbl::routes::Surface::Page
                && route.method == axum::http::Method::GET
                && route.path != "/login"
        })
        .map(|route| {
            let id = if route.path.starts_with("/workflows/scheduler/") {
                &schedule
            } else if route.path.starts_with("/workflows/") {
                &workflow
            } else if route.path.starts_with("/agents/") {
                &agent
            } else {
                &execution
            };
            route
                .path
                .replace("{id}", id)
                .replace("{user_id}", &user)
                .replace("{token}", &invitation)
        })
        .collect()
}
