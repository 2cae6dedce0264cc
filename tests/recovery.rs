//! The runtime across process deaths, with the real binary: an execution whose
//! server is killed with SIGKILL resumes from its last finished step after a
//! restart; a graceful shutdown hands running executions back; the master key
//! can be rotated with `hummbl keys rotate`, a wrong one stops start-up, and a
//! provider key's plaintext never reaches the logs. And two runners on one
//! database never run the same execution, and on PostgreSQL a replica's
//! monitor stream shows executions another replica changed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestApp;
use common::fake_provider::{FakeProvider, GOOD_KEY};
use common::process::free_port;
use common::runtime::{Api, fast_retries, owner_api};
use hummbl::app;
use serde_json::{Value, json};

struct Server {
    child: Child,
    base: String,
}

/// Starts the binary; its output is appended to `log`.
fn start(args: &[String], log: &Path) -> Server {
    let port = free_port();
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_hummbl"))
        .args(args)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .env_remove("HUMMBL_DATABASE_URL")
        .env_remove("HUMMBL_MASTER_KEY")
        .env_remove("HUMMBL_PROVIDER_ALLOWED_HOSTS")
        .env("RUST_LOG", "debug,sqlx=warn,hyper=info,reqwest=info")
        .stdout(Stdio::from(out.try_clone().expect("clone")))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("spawn server");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

impl Server {
    async fn wait_healthy(&mut self) {
        common::process::wait_healthy(&self.base, &mut self.child).await;
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "graceful exit: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    async fn login(&self) -> Api {
        let client = common::client();
        let response = client
            .post(format!("{}/api/auth/login", self.base))
            .json(&json!({"email": "runtime@example.com", "password": "runtime-password-1"}))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 200);
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .expect("session cookie")
            .to_string();
        Api {
            client,
            base: self.base.clone(),
            cookie,
        }
    }
}

async fn execution_row(config: &hummbl::config::Config, dir: &Path, id: &str) -> (String, i64) {
    let db = hummbl::storage::Db::open(config.database_url(), dir)
        .await
        .expect("open");
    let row: (String, i64) =
        sqlx::query_as("SELECT status, recoveries FROM executions WHERE id = $1")
            .bind(id)
            .fetch_one(db.read())
            .await
            .expect("execution");
    db.close().await;
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_survive_sigkill_and_shutdown_and_the_master_key_rotates() {
    let dir = tempfile::tempdir().expect("dir");
    let config = common::fresh_config(dir.path()).await;
    let config_file = dir.path().join("hummbl.toml");
    // The fake provider listens on loopback, which the egress policy allows
    // only when listed.
    std::fs::write(
        &config_file,
        "execution_lease_secs = 2\nprovider_allowed_hosts = [\"127.0.0.1\"]\n",
    )
    .expect("config");
    let mut args = vec![
        "--data-dir".to_string(),
        dir.path().display().to_string(),
        "--config".to_string(),
        config_file.display().to_string(),
    ];
    if let Some(url) = config.database_url() {
        args.extend(["--database-url".to_string(), url.to_string()]);
    }
    let log: PathBuf = dir.path().join("server.log");
    {
        let db = app::prepare(&config).await.expect("prepare");
        let user = hummbl::accounts::create_user(
            &db,
            hummbl::accounts::NewUser {
                email: &hummbl::accounts::Email::parse("runtime@example.com").expect("email"),
                name: "Runtime",
                password: secrecy::SecretString::from("runtime-password-1"),
            },
        )
        .await
        .expect("user");
        hummbl::teams::create_team(&db, "Runtime", &user.id, false)
            .await
            .expect("team");
        db.close().await;
    }
    let fake = FakeProvider::start().await;

    // SIGKILL while the second step is at the provider.
    let mut server = start(&args, &log);
    server.wait_healthy().await;
    let api = server.login().await;
    let key = api
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = api.agent("Writer", "openai", "gpt-4o-mini", &key).await;
    let workflow = api
        .workflow(
            "Two steps",
            json!([
                {"id": "first", "agent": agent, "prompt": "First {{input.n}}"},
                {"id": "second", "agent": agent, "depends_on": ["first"], "prompt": "[slow-once:60000:{{input.n}}] Second"}
            ]),
        )
        .await;
    let killed = api.run(&workflow, json!({"n": "killed"})).await;
    let second_running = |e: &Value| {
        e["steps"].as_array().is_some_and(|steps| {
            steps
                .iter()
                .any(|s| s["step"] == "second" && s["status"] == "running")
        })
    };
    api.wait_for(&killed, Duration::from_secs(10), second_running)
        .await;
    server.kill();
    assert_eq!(
        execution_row(&config, dir.path(), &killed).await.0,
        "running"
    );

    // After a restart the lease expires and the execution resumes from "second".
    let mut server = start(&args, &log);
    server.wait_healthy().await;
    let api = server.login().await;
    let resumed = api
        .wait_for(&killed, Duration::from_secs(30), |e| {
            e["status"] != "running" && e["status"] != "pending"
        })
        .await;
    assert_eq!(resumed["status"], "succeeded", "{resumed:#}");
    assert_eq!(resumed["recoveries"], 1);
    assert_eq!(
        fake.provider.calls_starting_with("First killed"),
        1,
        "finished steps are not run again"
    );
    assert_eq!(fake.provider.calls_with("] Second"), 2);

    // A graceful shutdown hands a running execution back at once.
    let handed = api.run(&workflow, json!({"n": "handed"})).await;
    api.wait_for(&handed, Duration::from_secs(10), second_running)
        .await;
    server.terminate();
    assert_eq!(
        execution_row(&config, dir.path(), &handed).await,
        ("pending".to_string(), 0)
    );

    // Rotate the master key while stopped; the restarted server opens the key.
    let master_file = dir.path().join("master.key");
    let before = std::fs::read_to_string(&master_file).expect("master key");
    let rotated = Command::new(env!("CARGO_BIN_EXE_hummbl"))
        .args(&args)
        .args(["keys", "rotate"])
        .env_remove("HUMMBL_MASTER_KEY")
        .env_remove("HUMMBL_PROVIDER_ALLOWED_HOSTS")
        .output()
        .expect("rotate");
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(String::from_utf8_lossy(&rotated.stdout).contains("re-sealed 1 provider keys"));
    assert_ne!(
        std::fs::read_to_string(&master_file).expect("master key"),
        before
    );

    let mut server = start(&args, &log);
    server.wait_healthy().await;
    let api = server.login().await;
    let handed_done = api.wait_finished(&handed).await;
    assert_eq!(handed_done["status"], "succeeded", "{handed_done:#}");
    let tested = api
        .expect_post(&format!("/api/keys/{key}/test"), json!({}), 200)
        .await;
    assert_eq!(tested["ok"], true, "the key opens under the new master key");
    server.terminate();

    // The old master key no longer opens this database: start-up stops, loudly.
    let refused = Command::new(env!("CARGO_BIN_EXE_hummbl"))
        .args(&args)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("HUMMBL_MASTER_KEY", before.trim())
        .output()
        .expect("serve with the old key");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("master key does not match"), "{stderr}");

    let logs = std::fs::read_to_string(&log).expect("logs");
    assert!(
        logs.contains("recovered an execution"),
        "the recovery is logged"
    );
    assert!(
        !logs.contains("sk-test-good-key"),
        "a provider key's plaintext reached the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_on_one_database_never_run_the_same_execution() {
    let first = TestApp::spawn_with(fast_retries).await;
    let second = first.replica().await;

    let fake = FakeProvider::start().await;
    let (api, _) = owner_api(&first, "two-runners").await;
    let key = api
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = api.agent("Worker", "openai", "gpt-4o-mini", &key).await;
    let workflow = api
        .workflow(
            "Parallel load",
            json!([
                {"id": "a", "agent": agent, "prompt": "[slow:400] run-{{input.n}}-a"},
                {"id": "b", "agent": agent, "depends_on": ["a"], "prompt": "[slow:100] run-{{input.n}}-b"}
            ]),
        )
        .await;
    // Enough work that the second runner (polling every second) finds some.
    const RUNS: usize = 64;
    let mut ids = Vec::new();
    for n in 0..RUNS {
        ids.push(api.run(&workflow, json!({"n": n})).await);
    }
    let (mut busiest_first, mut busiest_second) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        busiest_first = busiest_first.max(first.state.runner.running());
        busiest_second = busiest_second.max(second.state.runner.running());
        let (_, list) = api
            .get("/api/executions?status=pending,running&limit=200")
            .await;
        if list["executions"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(Instant::now() < deadline, "executions did not finish");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        busiest_first > 0 && busiest_second > 0,
        "both runners took work"
    );
    for (n, id) in ids.iter().enumerate() {
        let execution = api.wait_finished(id).await;
        assert_eq!(execution["status"], "succeeded", "{execution:#}");
        assert_eq!(execution["recoveries"], 0);
        for step in ["a", "b"] {
            let prompt = format!("run-{n}-{step}");
            assert_eq!(fake.provider.calls_with(&prompt), 1, "{prompt} ran once");
        }
    }
    assert_eq!(fake.provider.calls().len(), RUNS * 2);
    second.stop().await;
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_streams_executions_changed_by_another() {
    let first = TestApp::spawn_with(fast_retries).await;
    if first.db.backend() != hummbl::storage::Backend::Postgres {
        // One SQLite file is served by one process: there are no replicas.
        eprintln!("skipping: replicas need PostgreSQL (this run is on SQLite)");
        first.stop().await;
        return;
    }
    let second = first.replica().await;
    let fake = FakeProvider::start().await;
    let (api, _) = owner_api(&first, "replicas").await;
    let key = api
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = api.agent("Worker", "openai", "gpt-4o-mini", &key).await;
    let workflow = api
        .workflow(
            "Across replicas",
            json!([{"id": "a", "agent": agent, "prompt": "[slow:200] hello"}]),
        )
        .await;

    // The monitor's stream, served by the second replica (sessions live in
    // the shared database, so the same cookie works there).
    let response = api
        .client
        .get(second.url("/api/executions/stream"))
        .header("cookie", &api.cookie)
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    // Started and run by the first replica: only it publishes its changes.
    let id = api.run(&workflow, json!({})).await;
    let seen = common::read_frames(&mut stream, |frame| {
        frame.contains(&id) && frame.contains("\"status\":\"running\"")
    })
    .await
    .join("\n\n");
    assert!(seen.contains("event: execution.changed"), "{seen}");
    drop(stream);
    let execution = api.wait_finished(&id).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    second.stop().await;
    first.stop().await;
}
