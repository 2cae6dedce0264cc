//! Crash safety: events with unique ids are ingested while the server is killed
//! with SIGKILL at random moments and restarted, several times. Afterwards every
//! acknowledged id must be stored, and the database must be intact.

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::process::{free_port, wait_healthy};
use hummbl::storage::{Backend, Db};
use rand::Rng;
use tokio::sync::Mutex;

const ROUNDS: usize = 4;
const SENDERS: usize = 8;

fn start(storage: &[String], port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hummbl"))
        .args(storage)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .env_remove("HUMMBL_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn server")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_sigkill() {
    let dir = tempfile::tempdir().expect("dir");
    let config = common::fresh_config(dir.path()).await;
    let mut storage = vec!["--data-dir".to_string(), dir.path().display().to_string()];
    if let Some(url) = config.database_url() {
        storage.extend(["--database-url".to_string(), url.to_string()]);
    }
    // A team and an ingestion key, made through the library on the same database.
    let key = {
        let db = hummbl::app::prepare(&config).await.expect("prepare");
        let user = hummbl::accounts::create_user(
            &db,
            hummbl::accounts::NewUser {
                email: &hummbl::accounts::Email::parse("crash@example.com").expect("email"),
                name: "Crash",
                password: secrecy::SecretString::from("crash-password-1"),
            },
        )
        .await
        .expect("user");
        let team = hummbl::teams::create_team(&db, "Crash", &user.id, false)
            .await
            .expect("team");
        let key = hummbl::telemetry::keys::create(
            &db,
            hummbl::audit::Actor::user(&team, &user.id),
            "crash",
            vec![],
        )
        .await
        .expect("key");
        db.close().await;
        key.secret
    };

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let acked = Arc::new(Mutex::new(HashSet::<u64>::new()));
    let next = Arc::new(AtomicU64::new(0));
    for round in 0..ROUNDS {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut child = start(&storage, port);
        wait_healthy(&base, &mut child).await;
        let mut senders = Vec::new();
        for _ in 0..SENDERS {
            let (client, base, key, acked, next) = (
                client.clone(),
                base.clone(),
                key.clone(),
                acked.clone(),
                next.clone(),
            );
            senders.push(tokio::spawn(async move {
                loop {
                    let size = rand::rng().random_range(1..=20u64);
                    let first = next.fetch_add(size, Ordering::SeqCst);
                    let events: Vec<_> = (first..first + size)
                        .map(|seq| serde_json::json!({"component": "crash-test", "action": "tick", "properties": {"seq": seq}}))
                        .collect();
                    let sent = client
                        .post(format!("{base}/api/telemetry/track"))
                        .bearer_auth(&key)
                        .json(&serde_json::json!({"events": events}))
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status() == 200 => {
                            acked.lock().await.extend(first..first + size);
                        }
                        Ok(response) => assert!(response.status().is_server_error(), "unexpected {}", response.status()),
                        Err(_) => return, // the server is gone
                    }
                }
            }));
        }
        let alive = rand::rng().random_range(300..900);
        tokio::time::sleep(Duration::from_millis(alive)).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        for sender in senders {
            sender.await.expect("sender");
        }
        eprintln!(
            "round {round}: {} acknowledged so far",
            acked.lock().await.len()
        );
    }

    let db = Db::open(config.database_url(), dir.path())
        .await
        .expect("reopen");
    let payloads: Vec<Option<String>> =
        sqlx::query_scalar("SELECT payload FROM user_actions WHERE component_id = 'crash-test'")
            .fetch_all(db.read())
            .await
            .expect("payloads");
    let stored: HashSet<u64> = payloads
        .iter()
        .filter_map(|payload| payload.as_deref())
        .filter_map(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .filter_map(|value| value["seq"].as_u64())
        .collect();
    let acked = acked.lock().await;
    assert!(
        acked.len() > 100,
        "the test acknowledged too little to mean anything: {}",
        acked.len()
    );
    let missing: Vec<&u64> = acked
        .iter()
        .filter(|seq| !stored.contains(seq))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events missing, e.g. {missing:?}",
        acked.len() - stored.len().min(acked.len())
    );
    assert_eq!(payloads.len(), stored.len(), "no event stored twice");
    if db.backend() == Backend::Sqlite {
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(db.read())
            .await
            .expect("check");
        assert_eq!(check, "ok");
    }
    eprintln!(
        "{} acknowledged, {} stored, 0 missing",
        acked.len(),
        stored.len()
    );
}
