//! Test harness: the real server on a random loopback port, with its own fresh
//! database per test: a SQLite file in a temp dir, or, when
//! `HUMMBL_TEST_POSTGRES_URL` names a PostgreSQL server (scripts/test starts one),
//! a new database created on it for this test alone.
#![allow(dead_code)]

pub mod browser;
pub mod fake_provider;
pub mod process;
pub mod runtime;
pub mod smtp;

use std::net::SocketAddr;

use hummbl::app::{self, AppState};
use hummbl::auth::Role;
use hummbl::config::Config;
use hummbl::storage::Db;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub db: Db,
    pub state: AppState,
    pub shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The data directory this server owns (a replica shares its first's).
    _dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL server tests should use, if any.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("HUMMBL_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

pub fn backend_name() -> &'static str {
    if postgres_admin_url().is_some() {
        "postgres"
    } else {
        "sqlite"
    }
}

/// Creates a fresh PostgreSQL database for one test and returns its URL.
pub async fn fresh_postgres_database(admin_url: &str) -> String {
    use sqlx::Connection;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to test PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(admin_url).expect("admin URL");
    url.set_path(&name);
    url.to_string()
}

/// A configuration pointing at a fresh database of the backend under test.
///
/// It allows provider calls to 127.0.0.1: the fake provider (`fake_provider`)
/// and the unreachable samples listen there, and the egress policy refuses
/// loopback unless listed. Tests of the policy itself (`tests/egress.rs`) set
/// `provider_allowed_hosts` to exactly what they allow.
pub async fn fresh_config(dir: &std::path::Path) -> Config {
    let mut config = Config::for_data_dir(dir);
    config.provider_allowed_hosts =
        hummbl::providers::egress::AllowedHosts::parse(["127.0.0.1"]).expect("a loopback IP");
    if let Some(admin) = postgres_admin_url() {
        config.database_url = Some(SecretString::from(fresh_postgres_database(&admin).await));
    }
    config
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = fresh_config(dir.path()).await;
        adjust(&mut config);
        TestApp::serve(config, Some(dir)).await
    }

    /// A server on exactly this configuration; the test owns its directories.
    pub async fn on(config: Config) -> TestApp {
        TestApp::serve(config, None).await
    }

    /// A second server on this one's database and configuration (a replica).
    pub async fn replica(&self) -> TestApp {
        TestApp::serve((*self.state.config).clone(), None).await
    }

    async fn serve(config: Config, dir: Option<tempfile::TempDir>) -> TestApp {
        let db = app::prepare(&config).await.expect("prepare storage");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let shutdown = CancellationToken::new();
        let vault = hummbl::vault::open_configured(&config, &db)
            .await
            .expect("open the vault");
        let state = AppState::new(db.clone(), config, vault, shutdown.clone()).expect("state");
        let server = tokio::spawn(app::serve(listener, state.clone()));
        let app = TestApp {
            addr,
            base: format!("http://{addr}"),
            db,
            state,
            shutdown,
            server: Some(server),
            _dir: dir,
        };
        app.wait_ready().await;
        app
    }

    /// Polls /readyz until it answers 200 (the listener is bound before spawn,
    /// so this normally succeeds at once).
    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(response) = client.get(self.url("/readyz")).send().await
                && response.status() == 200
            {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("server never became ready");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /metrics` as Prometheus text (no token configured).
    pub async fn metrics_text(&self) -> String {
        client()
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// `GET /api/openapi.json`, parsed.
    pub async fn openapi(&self) -> serde_json::Value {
        client()
            .get(self.url("/api/openapi.json"))
            .send()
            .await
            .expect("openapi")
            .json()
            .await
            .expect("openapi json")
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server result");
        }
    }

    /// Stops this server (its workers too), runs `while_down` against the
    /// database, then starts a new server on the same database and data
    /// directory: a restart.
    pub async fn restart<F, Fut>(mut self, while_down: F) -> TestApp
    where
        F: FnOnce(Db) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server result");
        }
        while_down(self.db.clone()).await;
        let config = (*self.state.config).clone();
        let mut restarted = TestApp::serve(config, None).await;
        restarted._dir = self._dir.take();
        restarted
    }

    /// Creates a user with a password, in `team_id` (or a new team) with `role`.
    pub async fn user(
        &self,
        email: &str,
        password: &str,
        team_id: Option<&str>,
        role: Role,
    ) -> (String, String) {
        let user = hummbl::accounts::create_user(
            &self.db,
            hummbl::accounts::NewUser {
                email: &hummbl::accounts::Email::parse(email).expect("email"),
                name: &format!("User {email}"),
                password: SecretString::from(password.to_string()),
            },
        )
        .await
        .expect("create user");
        let team_id = match team_id {
            Some(team_id) => {
                hummbl::teams::add_member(&self.db, team_id, &user.id, role, None)
                    .await
                    .expect("add member");
                team_id.to_string()
            }
            None => {
                hummbl::teams::create_team(&self.db, &format!("Team of {email}"), &user.id, false)
                    .await
                    .expect("create team")
            }
        };
        (user.id, team_id)
    }

    /// A session cookie for a user, made directly (no password hashing, no
    /// throttling), for tests that are not about logging in.
    pub async fn session_cookie(&self, user_id: &str, team_id: &str) -> String {
        let token = hummbl::auth::session::create(
            &self.db,
            hummbl::auth::session::NewSession {
                user_id,
                team_id,
                ttl_ms: 3_600_000,
                ip: None,
                user_agent: None,
            },
        )
        .await
        .expect("session");
        format!("{}={token}", hummbl::auth::session::COOKIE_NAME)
    }

    /// A team with one user per role; returns the team id and (role, user id).
    pub async fn team_with_every_role(&self, tag: &str) -> (String, Vec<(Role, String)>) {
        let (owner, team) = self
            .user(
                &format!("owner-{tag}@example.com"),
                "owner-password-1",
                None,
                Role::Owner,
            )
            .await;
        let mut users = vec![(Role::Owner, owner)];
        for role in [Role::Admin, Role::Member, Role::Viewer] {
            let (id, _) = self
                .user(
                    &format!("{role}-{tag}@example.com"),
                    &format!("{role}-password-1"),
                    Some(&team),
                    role,
                )
                .await;
            users.push((role, id));
        }
        (team, users)
    }
}

/// A plain client that follows no redirects (tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A client that keeps cookies, like a browser.
pub fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client")
}

/// Reads Server-Sent Event frames until `until` matches one (within 10 s);
/// returns the frames read.
pub async fn read_frames(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    until: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut frames = Vec::new();
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let chunk = tokio::time::timeout_at(deadline, futures_util::StreamExt::next(stream))
            .await
            .expect("frame in time");
        let Some(Ok(chunk)) = chunk else {
            return frames;
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame = buffer[..end].to_string();
            buffer.drain(..end + 2);
            let done = until(&frame);
            frames.push(frame);
            if done {
                return frames;
            }
        }
    }
}

/// An invitation link token's stored form (its SHA-256 in hex), as the server
/// keeps it: tests plant a known token this way.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
