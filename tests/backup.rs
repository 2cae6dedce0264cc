//! Backups and restores: a backup taken while events are being ingested holds
//! every event acknowledged before it began, and restores into another data
//! directory; a wrong master key, a populated target without `--force`, a
//! file that is no backup, an existing backup file and a restore under a
//! running server are refused with a clear message; the commands as an
//! operator runs them. On PostgreSQL the commands point at pg_dump /
//! pg_restore.

mod common;

use std::sync::{Arc, Mutex};

use common::TestApp;
use common::runtime::owner_api;
use hummbl::config::Config;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_hummbl");

fn same_key(app: &TestApp, dir: &std::path::Path) -> Config {
    let mut config = Config::for_data_dir(dir);
    let key = std::fs::read_to_string(app.state.config.data_dir.join("master.key"))
        .expect("master key file");
    config.master_key = Some(key.trim().to_string().into());
    config
}

#[tokio::test]
async fn a_backup_taken_while_ingesting_holds_every_acknowledged_event_and_restores() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("hummbl-backup.db");
    if common::postgres_admin_url().is_some() {
        let refused = hummbl::backup::backup(&app.state.config, &app.db, &file)
            .await
            .expect_err("PostgreSQL");
        assert!(
            refused.to_string().contains("pg_dump --format=custom"),
            "{refused}"
        );
        app.stop().await;
        return;
    }
    let (owner, _) = owner_api(&app, "backup-owner").await;
    let acked: Arc<Mutex<Vec<usize>>> = Arc::default();
    let writer = {
        let (owner, acked) = (owner.clone(), acked.clone());
        tokio::spawn(async move {
            for n in 0..300 {
                let (status, _) = owner
                    .post("/api/telemetry/track", json!({"component": "console", "action": "backup-probe", "properties": {"n": n}}))
                    .await;
                if status == 200 {
                    acked.lock().expect("lock").push(n);
                }
            }
        })
    };
    while acked.lock().expect("lock").len() < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let before: Vec<usize> = acked.lock().expect("lock").clone();
    let report = hummbl::backup::backup(&app.state.config, &app.db, &file)
        .await
        .expect("backup");
    writer.await.expect("writer");
    assert!(report.bytes > 0);
    assert!(
        report.master_key.ends_with("master.key"),
        "{}",
        report.master_key
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the backup is private to its owner");
    }
    let again = hummbl::backup::backup(&app.state.config, &app.db, &file).await;
    assert!(
        again
            .expect_err("exists")
            .to_string()
            .contains("never overwrites")
    );

    // Restore into another data directory, under the same master key.
    let target = tempfile::tempdir().expect("target");
    let config = same_key(&app, target.path());
    let restored = hummbl::backup::restore(&config, &file, false)
        .await
        .expect("restore");
    assert!(restored.users >= 1);
    let db = hummbl::storage::Db::open(None, target.path())
        .await
        .expect("open");
    let payloads: Vec<String> =
        sqlx::query_scalar("SELECT payload FROM user_actions WHERE action_type = 'backup-probe'")
            .fetch_all(db.read())
            .await
            .expect("events");
    db.close().await;
    for n in &before {
        let needle = format!("\"n\":{n}}}");
        assert!(
            payloads.iter().any(|p| p.contains(&needle)),
            "event {n} was acknowledged before the backup"
        );
    }
    assert!(payloads.len() >= before.len());

    // A populated target needs --force; a wrong master key is refused before anything is written.
    let refused = hummbl::backup::restore(&config, &file, false)
        .await
        .expect_err("populated");
    assert!(refused.to_string().contains("--force"), "{refused}");
    hummbl::backup::restore(&config, &file, true)
        .await
        .expect("forced");
    let other = tempfile::tempdir().expect("other");
    let mut wrong = Config::for_data_dir(other.path());
    wrong.master_key = Some(
        hummbl::vault::MasterKey::generate()
            .expect("key")
            .to_base64(),
    );
    let refused = hummbl::backup::restore(&wrong, &file, false)
        .await
        .expect_err("wrong key");
    assert!(
        refused.to_string().contains("master key does not open"),
        "{refused}"
    );
    assert!(
        !other.path().join("hummbl.db").exists(),
        "nothing was written"
    );
    assert!(
        !other.path().join("restore-staging").exists(),
        "the staged copy is gone"
    );
    // Restoring under a running server is refused, before anything is touched.
    let serving = same_key(&app, &app.state.config.data_dir);
    let refused = hummbl::backup::restore(&serving, &file, true)
        .await
        .expect_err("a server runs there");
    assert!(
        format!("{refused:#}").contains("a HUMMBL server is running on this data directory"),
        "{refused:#}"
    );
    assert!(!app.state.config.data_dir.join("restore-staging").exists());
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "not a database at all, just some text").expect("junk");
    let refused = hummbl::backup::restore(&config, &junk, true)
        .await
        .expect_err("junk");
    assert!(
        refused.to_string().contains("not a HUMMBL backup"),
        "{refused}"
    );
    app.stop().await;
}

#[test]
fn the_commands_as_an_operator_runs_them() {
    if common::postgres_admin_url().is_some() {
        return;
    }
    let source = tempfile::tempdir().expect("source");
    let target = tempfile::tempdir().expect("target");
    let file = source.path().join("copy.db");
    let run = |args: &[&str]| {
        let output = std::process::Command::new(BIN)
            .args(args)
            .env_remove("HUMMBL_DATA_DIR")
            .env_remove("HUMMBL_DATABASE_URL")
            .env_remove("HUMMBL_MASTER_KEY")
            .env_remove("HUMMBL_CONFIG")
            .output()
            .expect("run hummbl");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let src = source.path().to_string_lossy().to_string();
    let dst = target.path().to_string_lossy().to_string();
    let file_arg = file.to_string_lossy().to_string();
    assert!(run(&["--data-dir", &src, "migrate"]).0);
    let (ok, said) = run(&["--data-dir", &src, "backup", "--to", &file_arg]);
    assert!(ok, "{said}");
    assert!(said.contains("The master key is NOT in it"), "{said}");
    let (ok, said) = run(&["--data-dir", &dst, "restore", "--from", &file_arg]);
    assert!(ok, "{said}");
    assert!(said.contains("Start the server again"), "{said}");
    let (ok, said) = run(&["--data-dir", &src, "backup", "--to", &file_arg]);
    assert!(!ok && said.contains("never overwrites"), "{said}");
}
