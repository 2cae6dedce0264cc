//! `hummbl copy`: the 30-day demo team on SQLite copied to the backend under
//! test (PostgreSQL when `HUMMBL_TEST_POSTGRES_URL` is set, another SQLite
//! file otherwise) and back to SQLite through the binary. Every table arrives
//! with the same row count and checksum, computed independently on each side;
//! the analytics, token and error APIs answer the same numbers on the copy;
//! the sealed provider key opens there under the same master key. The copy
//! refuses while a server runs on the source, into a database that holds
//! users, and onto itself; a changed row changes the checksum.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::TestApp;
use common::runtime::Api;
use hummbl::config::Config;
use hummbl::copy::Checksum;
use hummbl::storage::Db;
use secrecy::SecretString;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hummbl");

/// What the copy must keep: the numbers people read.
const ANSWERS: &[&str] = &[
    "/api/analytics/summary?days=90",
    "/api/telemetry/tokens/summary?days=90",
    "/api/analytics/tokens.csv?days=90",
    "/api/errors?limit=100",
    "/api/executions?limit=50",
    "/api/keys",
];

/// A config on `data_dir`, SQLite unless `database_url`, with `master_key`.
fn config(data_dir: &Path, database_url: Option<&str>, master_key: Option<&str>) -> Config {
    let mut config = Config::for_data_dir(data_dir);
    config.database_url = database_url.map(|url| SecretString::from(url.to_string()));
    config.master_key = master_key.map(|key| SecretString::from(key.to_string()));
    config
}

/// The demo owner's API client on `app`.
async fn demo_owner(app: &TestApp) -> Api {
    let (user, team): (String, String) = sqlx::query_as(
        "SELECT u.id, m.team_id FROM users u JOIN team_members m ON m.user_id = u.id \
         WHERE u.email = 'owner@demo.hummbl.dev'",
    )
    .fetch_one(app.db.read())
    .await
    .expect("the demo owner");
    Api {
        client: common::client(),
        base: app.base.clone(),
        cookie: app.session_cookie(&user, &team).await,
    }
}

/// Each of `ANSWERS` as the API gives it.
async fn answers(api: &Api) -> BTreeMap<&'static str, String> {
    let mut answers = BTreeMap::new();
    for path in ANSWERS {
        let (status, body) = api.page(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        answers.insert(*path, body);
    }
    answers
}

async fn checksums(db: &Db) -> BTreeMap<String, Checksum> {
    hummbl::copy::checksums(db).await.expect("checksums")
}

async fn copy(source: &Db, target: &Db) -> anyhow::Result<hummbl::copy::CopyReport> {
    hummbl::copy::copy(source, target, &mut |_| {}).await
}

#[tokio::test]
async fn the_demo_team_copies_to_the_other_backend_and_back_unchanged() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let (sqlite_dir, middle_dir, back_dir) = (dirs[0].path(), dirs[1].path(), dirs[2].path());

    // The source: a laptop's SQLite file with the demo team.
    let source_app = TestApp::on(config(sqlite_dir, None, None)).await;
    hummbl::demo::seed(&source_app.db, &source_app.state.vault)
        .await
        .expect("demo");
    let before = answers(&demo_owner(&source_app).await).await;
    let master_key = std::fs::read_to_string(sqlite_dir.join("master.key")).expect("master key");
    let master_key = master_key.trim();
    let middle_url = match common::postgres_admin_url() {
        Some(admin) => Some(common::fresh_postgres_database(&admin).await),
        None => None,
    };
    let middle = match &middle_url {
        Some(url) => Db::open_postgres(url).await.expect("target"),
        None => Db::open_sqlite(middle_dir).await.expect("target"),
    };
    let refused = copy(&source_app.db, &middle)
        .await
        .expect_err("a server runs on the source");
    assert!(
        format!("{refused:#}").contains("a HUMMBL server is running on this database"),
        "{refused:#}"
    );
    source_app.stop().await;

    // Out: every table with the same count and checksum, read on each side.
    let source = Db::open_sqlite(sqlite_dir).await.expect("source");
    let report = copy(&source, &middle).await.expect("copy out");
    let sums = checksums(&source).await;
    assert_eq!(report.tables.len(), sums.len(), "every table");
    assert!(report.rows() > 40_000, "{} rows", report.rows());
    for table in &report.tables {
        assert_eq!(
            Some(&table.checksum),
            sums.get(&table.name),
            "{}",
            table.name
        );
    }
    assert_eq!(checksums(&middle).await, sums);
    let position = |name: &str| report.tables.iter().position(|t| t.name == name);
    assert!(position("teams") < position("workflows"));
    assert!(position("executions") < position("task_results"));
    middle.close().await;

    // The copy answers the same, and opens its provider key under the same master key.
    let middle_app = TestApp::on(config(middle_dir, middle_url.as_deref(), Some(master_key))).await;
    let owner = demo_owner(&middle_app).await;
    let after = answers(&owner).await;
    for path in ANSWERS {
        assert_eq!(before[path], after[path], "{path} answers the same");
    }
    let (_, keys) = owner.get("/api/keys").await;
    let key = keys["keys"][0]["id"].as_str().expect("the demo key");
    let (status, tested) = owner
        .send(
            reqwest::Method::POST,
            &format!("/api/keys/{key}/test"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(
        tested["ok"],
        Value::Bool(true),
        "the sealed key opens: {tested}"
    );
    let refused = copy(&source, &middle_app.db)
        .await
        .expect_err("a server runs on the target");
    assert!(format!("{refused:#}").contains("the target"), "{refused:#}");
    middle_app.stop().await;
    // Taken once the server is down: stopping flushes its request statistics.
    let middle = match &middle_url {
        Some(url) => Db::open_postgres(url).await.expect("middle"),
        None => Db::open_sqlite(middle_dir).await.expect("middle"),
    };
    let middle_sums = checksums(&middle).await;
    middle.close().await;

    // And back to SQLite, as an operator runs it.
    let mut command = std::process::Command::new(BIN);
    command.arg("copy").arg("--to").arg(back_dir);
    match &middle_url {
        Some(url) => command.env("HUMMBL_DATABASE_URL", url),
        None => command.env_remove("HUMMBL_DATABASE_URL"),
    };
    let output = command
        .env("HUMMBL_DATA_DIR", middle_dir)
        .env("HUMMBL_MASTER_KEY", master_key)
        .output()
        .expect("hummbl copy");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("read back and verified"), "{stdout}");
    assert!(stdout.contains("task_results"), "{stdout}");
    assert!(
        stderr.contains("[##############################]"),
        "{stderr}"
    );
    let back = Db::open_sqlite(back_dir).await.expect("back");
    assert_eq!(checksums(&back).await, middle_sums);

    // Refusals: a target holding users, the source itself; a changed row shows.
    let again = copy(&source, &back).await.expect_err("not empty");
    assert!(
        again.to_string().contains("already holds 4 users"),
        "{again}"
    );
    let output = std::process::Command::new(BIN)
        .args(["copy", "--to"])
        .arg(sqlite_dir)
        .env("HUMMBL_DATA_DIR", sqlite_dir)
        .env_remove("HUMMBL_DATABASE_URL")
        .output()
        .expect("hummbl copy");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("the target is the source"),
        "{output:?}"
    );
    sqlx::query("UPDATE task_results SET cost_micros = cost_micros + 1 WHERE id = (SELECT MIN(id) FROM task_results)")
        .execute(back.write())
        .await
        .expect("change a row");
    let changed = checksums(&back).await;
    assert_ne!(changed["task_results"], middle_sums["task_results"]);
    assert_eq!(changed["executions"], middle_sums["executions"]);
    back.close().await;
    source.close().await;
}
