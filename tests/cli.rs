//! The binary as an operator runs it: bad configuration stops it before the port
//! is bound, `user create` and `migrate` work, `serve --demo` prints its logins
//! once seeded, and SIGTERM ends it cleanly.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hummbl");

/// Arguments that point the binary at a fresh database of the backend under test.
async fn storage_args(dir: &std::path::Path) -> Vec<String> {
    let mut args = vec!["--data-dir".to_string(), dir.display().to_string()];
    if let Some(admin) = common::postgres_admin_url() {
        args.push("--database-url".into());
        args.push(common::fresh_postgres_database(&admin).await);
    }
    args
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn hummbl() -> Command {
    let mut command = Command::new(BIN);
    for var in [
        "HUMMBL_ADDR",
        "HUMMBL_DATA_DIR",
        "HUMMBL_DATABASE_URL",
        "HUMMBL_MASTER_KEY",
        "HUMMBL_CONFIG",
    ] {
        command.env_remove(var);
    }
    command
}

#[test]
fn bad_configuration_is_refused_before_binding() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    // (serve arguments, environment, what the error message must name)
    type Case<'a> = (Vec<String>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["--addr".into(), "not-an-address".into()],
            vec![],
            "not an IP:port",
        ),
        (
            vec!["--addr".into(), format!("127.0.0.1:{port}")],
            vec![("HUMMBL_MASTER_KEY", "short")],
            "HUMMBL_MASTER_KEY",
        ),
        (
            vec!["--addr".into(), format!("127.0.0.1:{port}")],
            vec![("HUMMBL_METRICS_TOKEN", "guessable")],
            "HUMMBL_METRICS_TOKEN",
        ),
        (
            vec![
                "--addr".into(),
                format!("127.0.0.1:{port}"),
                "--public-url".into(),
                "ftp://x".into(),
            ],
            vec![],
            "public URL",
        ),
        (
            vec![
                "--addr".into(),
                format!("127.0.0.1:{port}"),
                "--database-url".into(),
                "mysql://x".into(),
            ],
            vec![],
            "database URL",
        ),
    ];
    for (args, env, expected) in cases {
        let output = hummbl()
            .args(["--data-dir", &dir.path().display().to_string(), "serve"])
            .args(&args)
            .envs(env)
            .output()
            .expect("run");
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("listening"),
            "{args:?} bound the port: {stderr}"
        );
    }
    // Port still free: nothing was bound.
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port untouched");
}

#[test]
fn a_config_file_with_unknown_keys_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("hummbl.toml");
    std::fs::write(&file, "addr = \"127.0.0.1:0\"\nlisten_port = 80\n").expect("write");
    let output = hummbl()
        .args(["--config", &file.display().to_string(), "migrate"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("listen_port"));
}

#[tokio::test]
async fn user_create_then_login() {
    let dir = tempfile::tempdir().expect("dir");
    let storage = storage_args(dir.path()).await;
    let migrate = hummbl()
        .args(&storage)
        .arg("migrate")
        .output()
        .expect("migrate");
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let mut create = hummbl()
        .args(&storage)
        .args([
            "user",
            "create",
            "--email",
            "ops@example.com",
            "--name",
            "Ops Lead",
            "--team",
            "Platform",
            "--role",
            "owner",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    create
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"a long enough password\n")
        .expect("write");
    let output = create.wait_with_output().expect("wait");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("owner of new team \"Platform\""));
    // A second user joins the existing team; a duplicate email is refused.
    let joined = run_with_password(
        &storage,
        &[
            "--email",
            "dev@example.com",
            "--name",
            "Dev",
            "--team",
            "Platform",
            "--role",
            "member",
        ],
        "another long password",
    );
    assert!(
        joined.status.success(),
        "{}",
        String::from_utf8_lossy(&joined.stderr)
    );
    let duplicate = run_with_password(
        &storage,
        &[
            "--email",
            "OPS@example.com",
            "--name",
            "Again",
            "--team",
            "Platform",
            "--role",
            "member",
        ],
        "another long password",
    );
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already exists"));
    let weak = run_with_password(
        &storage,
        &[
            "--email",
            "weak@example.com",
            "--name",
            "Weak",
            "--team",
            "Platform",
            "--role",
            "member",
        ],
        "short",
    );
    assert!(!weak.status.success());

    let server = Server::start(&storage, &[]);
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/api/auth/login", server.base))
        .json(
            &serde_json::json!({"email": "ops@example.com", "password": "a long enough password"}),
        )
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200);
    let me: serde_json::Value = response.json().await.expect("json");
    assert_eq!(me["team_name"], "Platform");
    assert_eq!(me["role"], "owner");
    server.terminate_and_wait();
}

fn run_with_password(storage: &[String], args: &[&str], password: &str) -> std::process::Output {
    let mut child = hummbl()
        .args(storage)
        .args(["user", "create", "--password-stdin"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write");
    child.wait_with_output().expect("wait")
}

/// True once GET /healthz answers 200 on the port.
fn healthz_answers(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

struct Server {
    child: std::process::Child,
    base: String,
    stdout: std::sync::mpsc::Receiver<String>,
}

impl Server {
    /// Starts `hummbl serve` on a free port and waits until /healthz answers.
    fn start(storage: &[String], extra: &[&str]) -> Server {
        let port = free_port();
        let mut child = hummbl()
            .args(storage)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let (sender, stdout) = std::sync::mpsc::channel();
        let pipe = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if healthz_answers(port) {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("server exited early: {status}");
            }
            assert!(Instant::now() < deadline, "server never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server {
            child,
            base,
            stdout,
        }
    }

    /// Standard output up to the line containing `needle` (waits up to 10 s).
    fn output_until(&self, needle: &str) -> String {
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Ok(line) = self
            .stdout
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let found = line.contains(needle);
            seen.push(line);
            if found {
                break;
            }
        }
        seen.join("\n")
    }

    /// Sends SIGTERM and checks the process exits successfully.
    fn terminate_and_wait(mut self) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "exit after SIGTERM: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[tokio::test]
async fn demo_prints_logins_and_seeds_once() {
    let dir = tempfile::tempdir().expect("dir");
    let storage = storage_args(dir.path()).await;
    let server = Server::start(&storage, &["--demo"]);
    let printed = server.output_until("viewer@demo.hummbl.dev");
    for role in ["owner", "admin", "member", "viewer"] {
        assert!(
            printed.contains(&format!("{role}@demo.hummbl.dev")),
            "{printed}"
        );
    }
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{}/api/auth/login", server.base))
        .json(
            &serde_json::json!({"email": "viewer@demo.hummbl.dev", "password": "viewer-demo-pass"}),
        )
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let me: serde_json::Value = login.json().await.expect("json");
    assert_eq!(me["team_name"], "Demo team (sample data)");
    assert_eq!(me["teams"][0]["is_demo"], true);
    server.terminate_and_wait();
    // Starting again keeps the data and prints the logins again.
    let again = Server::start(&storage, &["--demo"]);
    assert!(
        again
            .output_until("owner@demo.hummbl.dev")
            .contains("owner@demo.hummbl.dev")
    );
    again.terminate_and_wait();
}
