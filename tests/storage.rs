//! Storage contract: the same checks on SQLite and PostgreSQL. The seed's tables
//! and columns exist, migrations are idempotent and safe to run from several
//! processes at once, booleans and millisecond times round-trip, unique
//! violations are recognised, and concurrent writers never see "database is
//! locked".

mod common;

use std::sync::Arc;

use hummbl::storage::bulk::{Bulk, BulkError, Insert, Param};
use hummbl::storage::{Backend, Db, flag, is_unique_violation, new_id, now_ms};
use sqlx::Row;

/// The pilot plan's tables with every column it names.
const SEED_TABLES: &[(&str, &str)] = &[
    (
        "basen_components",
        "id, name, domain, route, transformations, version, enabled, created_at, updated_at",
    ),
    (
        "component_metrics",
        "id, component_id, metric_name, value, metadata, user_id, timestamp",
    ),
    (
        "user_actions",
        "id, user_id, action_type, component_id, payload, timestamp",
    ),
    ("teams", "id, name, owner_id, created_at"),
    (
        "team_members",
        "id, team_id, user_id, role, invited_by, joined_at",
    ),
    (
        "api_keys_secure",
        "id, user_id, provider, key_encrypted, key_last_4, created_at, last_used_at",
    ),
    (
        "scheduled_workflows",
        "id, workflow_id, user_id, cron_expression, enabled, last_run_at, next_run_at, created_at",
    ),
    (
        "notifications",
        "id, user_id, type, title, message, link, read, created_at",
    ),
    (
        "task_results",
        "id, task_name, error, completed_at, agent_id, output, execution_id, status",
    ),
    ("executions", "id, workflow_id, status"),
    ("workflows", "id, name"),
    ("users", "id, email, name, password_hash, created_at"),
    ("sessions", "id, user_id, team_id, expires_at"),
    (
        "audit_log",
        "id, team_id, actor_user_id, action, created_at",
    ),
];

async fn fresh_db() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let config = common::fresh_config(dir.path()).await;
    let db = Db::open(config.database_url(), dir.path())
        .await
        .expect("open");
    db.migrate().await.expect("migrate");
    (db, dir)
}

#[tokio::test]
async fn seed_tables_exist_with_their_columns() {
    let (db, _dir) = fresh_db().await;
    for (table, columns) in SEED_TABLES {
        sqlx::query(&format!("SELECT {columns} FROM {table} WHERE 1 = 0"))
            .fetch_all(db.read())
            .await
            .unwrap_or_else(|err| panic!("{table} ({columns}): {err}"));
    }
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let (db, _dir) = fresh_db().await;
    db.migrate().await.expect("second run is a no-op");
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(db.read())
        .await
        .expect("count");
    assert!(applied >= 1);
}

#[tokio::test]
async fn replicas_starting_together_migrate_once() {
    let dir = tempfile::tempdir().expect("dir");
    let config = common::fresh_config(dir.path()).await;
    let mut handles = Vec::new();
    for _ in 0..4 {
        let url = config.database_url().map(str::to_string);
        let path = dir.path().to_path_buf();
        handles.push(tokio::spawn(async move {
            let db = Db::open(url.as_deref(), &path).await.expect("open");
            db.migrate().await.expect("concurrent migrate");
            db
        }));
    }
    let mut dbs = Vec::new();
    for handle in handles {
        dbs.push(handle.await.expect("task"));
    }
    let versions: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT version) FROM _sqlx_migrations")
        .fetch_one(dbs[0].read())
        .await
        .expect("count");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(dbs[0].read())
        .await
        .expect("count");
    assert_eq!(versions, rows, "each migration applied exactly once");
}

#[tokio::test]
async fn booleans_and_millisecond_times_round_trip() {
    let (db, _dir) = fresh_db().await;
    let now = now_ms();
    for (id, enabled) in [("on", true), ("off", false)] {
        sqlx::query(
            "INSERT INTO basen_components (id, name, domain, route, version, enabled, created_at, updated_at) \
             VALUES ($1, $1, 'test', '/x', '1', $2, $3, $3)",
        )
        .bind(id)
        .bind(enabled)
        .bind(now)
        .execute(db.write())
        .await
        .expect("insert");
    }
    let rows = sqlx::query(
        "SELECT id, enabled, created_at FROM basen_components WHERE domain = 'test' ORDER BY id",
    )
    .fetch_all(db.read())
    .await
    .expect("select");
    assert_eq!(flag(&rows[0], "enabled").expect("flag"), Some(false));
    assert_eq!(flag(&rows[1], "enabled").expect("flag"), Some(true));
    assert_eq!(rows[0].try_get::<i64, _>("created_at").expect("ms"), now);
    // Filtering on a boolean with a bound value works on both dialects.
    let on: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM basen_components WHERE domain = 'test' AND enabled = $1",
    )
    .bind(true)
    .fetch_one(db.read())
    .await
    .expect("count");
    assert_eq!(on, 1);
}

#[tokio::test]
async fn unique_violations_are_recognised() {
    let (db, _dir) = fresh_db().await;
    let insert = || {
        sqlx::query("INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES ($1, 'a@example.com', 'A', 'x', 1, 1)")
            .bind(new_id())
            .execute(db.write())
    };
    insert().await.expect("first");
    let err = insert().await.expect_err("duplicate email");
    assert!(is_unique_violation(&err), "{err}");
}

#[tokio::test]
async fn foreign_keys_are_enforced() {
    let (db, _dir) = fresh_db().await;
    let err = sqlx::query("INSERT INTO team_members (id, team_id, user_id, role) VALUES ('m', 'no-team', 'no-user', 'owner')")
        .execute(db.write())
        .await
        .expect_err("dangling references are refused");
    assert!(matches!(err, sqlx::Error::Database(_)), "{err}");
    sqlx::query("INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES ('u', 'u@example.com', 'U', 'x', 1, 1)")
        .execute(db.write())
        .await
        .expect("user");
    sqlx::query("INSERT INTO teams (id, name, owner_id, created_at) VALUES ('t', 'T', 'u', 1)")
        .execute(db.write())
        .await
        .expect("team");
    let bad_role = sqlx::query(
        "INSERT INTO team_members (id, team_id, user_id, role) VALUES ('m', 't', 'u', 'root')",
    )
    .execute(db.write())
    .await;
    assert!(
        bad_role.is_err(),
        "roles outside the four are refused by the schema"
    );
}

#[tokio::test]
async fn concurrent_write_transactions_never_see_a_locked_database() {
    let (db, _dir) = fresh_db().await;
    let mut tasks = Vec::new();
    for n in 0..64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin().await?;
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log").fetch_one(&mut *tx).await?;
            sqlx::query("INSERT INTO audit_log (id, action, detail, created_at) VALUES ($1, 'test', $2, $3)")
                .bind(new_id())
                .bind(count.to_string())
                .bind(n)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            // Reads go on meanwhile.
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log").fetch_one(db.read()).await?;
            Ok::<_, sqlx::Error>(())
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("no lock errors");
    }
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'test'")
        .fetch_one(db.read())
        .await
        .expect("count");
    assert_eq!(total, 64);
}

#[tokio::test]
async fn sqlite_is_set_up_for_durability_and_a_read_only_reader() {
    let (db, _dir) = fresh_db().await;
    if db.backend() != Backend::Sqlite {
        eprintln!("skipping: SQLite's pragmas (this run is on PostgreSQL)");
        return;
    }
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(db.write())
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(db.write())
        .await
        .expect("pragma");
    assert_eq!(sync, 2, "synchronous=FULL");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(db.read())
        .await
        .expect("pragma");
    assert_eq!(fk, 1);
    let refused =
        sqlx::query("INSERT INTO audit_log (id, action, created_at) VALUES ('x', 'y', 1)")
            .execute(db.read())
            .await;
    assert!(refused.is_err(), "the reader pool cannot write");
}

#[tokio::test]
async fn multi_row_inserts_use_the_dialects_placeholders() {
    let (db, _dir) = fresh_db().await;
    let expected = match db.backend() {
        Backend::Sqlite => "(?, ?), (?, ?)",
        Backend::Postgres => "($1, $2), ($3, $4)",
    };
    assert_eq!(db.values_list(2, 2), expected);
    let sql = format!(
        "INSERT INTO audit_log (id, action, created_at) VALUES {}",
        db.values_list(3, 3)
    );
    let mut query = sqlx::query(&sql);
    for n in 0..3i64 {
        query = query.bind(format!("row-{n}")).bind("bulk").bind(n);
    }
    query.execute(db.write()).await.expect("insert");
    let stored: Vec<i64> =
        sqlx::query_scalar("SELECT created_at FROM audit_log WHERE action = 'bulk' ORDER BY id")
            .fetch_all(db.read())
            .await
            .expect("select");
    assert_eq!(
        stored,
        vec![0, 1, 2],
        "values land in their columns, in order"
    );
}

const AUDIT: Insert<4> = Insert {
    table: "audit_log",
    columns: ["id", "action", "detail", "created_at"],
    skip_conflicts_on: Some("(id)"),
};

/// `rows` audit rows `prefix-0 …`, through a bulk write.
async fn bulk_audit_rows(db: &Db, prefix: &str, rows: usize) -> Result<(), BulkError> {
    let ids: Arc<Vec<String>> = Arc::new((0..rows).map(|n| format!("{prefix}-{n}")).collect());
    db.bulk_write(ids, |ids: &Vec<String>, bulk: &mut Bulk<'_>| {
        bulk.insert(
            &AUDIT,
            ids.iter().enumerate().map(|(n, id)| {
                [
                    Param::Text(Some(id)),
                    Param::Text(Some("bulk")),
                    Param::Text((n % 2 == 0).then_some("even")),
                    Param::Int(i64::try_from(n).unwrap_or(i64::MAX)),
                ]
            }),
        )
    })
    .await
}

#[tokio::test]
async fn bulk_writes_store_every_row_in_its_columns_and_skip_conflicts() {
    let (db, _dir) = fresh_db().await;
    // Two full statements and a tail.
    bulk_audit_rows(&db, "a", 250).await.expect("bulk write");
    // Overlaps the first 250: the conflicting ids are skipped, the rest added.
    bulk_audit_rows(&db, "a", 260)
        .await
        .expect("bulk write with conflicts");
    let rows: Vec<(String, Option<String>, i64)> = sqlx::query_as(
        "SELECT id, detail, created_at FROM audit_log WHERE action = 'bulk' ORDER BY created_at",
    )
    .fetch_all(db.read())
    .await
    .expect("select");
    assert_eq!(rows.len(), 260);
    for (n, (id, detail, created_at)) in rows.iter().enumerate() {
        assert_eq!(id, &format!("a-{n}"));
        assert_eq!(detail.as_deref(), (n % 2 == 0).then_some("even"));
        assert_eq!(*created_at, n as i64);
    }
}

#[tokio::test]
async fn a_failed_bulk_write_stores_nothing() {
    let (db, _dir) = fresh_db().await;
    let ids = Arc::new(vec!["x".to_owned(); 2]);
    let failed = db
        .bulk_write(ids, |ids: &Vec<String>, bulk: &mut Bulk<'_>| {
            bulk.insert(
                &Insert::<3> {
                    table: "audit_log",
                    columns: ["id", "action", "created_at"],
                    skip_conflicts_on: None,
                },
                ids.iter().map(|id| {
                    [
                        Param::Text(Some(id)),
                        Param::Text(Some("dup")),
                        Param::Int(1),
                    ]
                }),
            )
        })
        .await;
    assert!(failed.is_err(), "a duplicate id fails the transaction");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'dup'")
        .fetch_one(db.read())
        .await
        .expect("count");
    assert_eq!(stored, 0, "the whole transaction rolled back");
    // The connection is usable afterwards.
    bulk_audit_rows(&db, "after", 3)
        .await
        .expect("bulk write after a failure");
}

#[tokio::test]
async fn bulk_writes_and_ordinary_write_transactions_interleave_without_lock_errors() {
    let (db, _dir) = fresh_db().await;
    let mut tasks = Vec::new();
    for n in 0..32 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            bulk_audit_rows(&db, &format!("bulk{n}"), 150).await?;
            // A transaction that reads, then writes: the kind that fails at
            // once on SQLite if another connection wrote in between.
            let mut tx = db.begin().await?;
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO audit_log (id, action, detail, created_at) VALUES ($1, 'plain', $2, $3)")
                .bind(new_id())
                .bind(count.to_string())
                .bind(n)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, BulkError>(())
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("no lock errors");
    }
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT action, COUNT(*) FROM audit_log GROUP BY action ORDER BY action")
            .fetch_all(db.read())
            .await
            .expect("count");
    assert_eq!(
        counts,
        vec![("bulk".to_owned(), 32 * 150), ("plain".to_owned(), 32)]
    );
}

/// Password hashes and sealed keys live in the SQLite file: the server creates
/// the data directory 0700 and the database, its WAL and shared memory 0600,
/// whatever the umask (tests run with the usual 022). SQLite only, on either
/// backend's run: the files are SQLite's.
#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("fresh/data");
    let db = Db::open_sqlite(&dir).await.expect("open");
    db.migrate().await.expect("migrate");
    let mode = |name: &str| {
        let path = if name.is_empty() {
            dir.clone()
        } else {
            dir.join(name)
        };
        std::fs::metadata(&path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700, "data directory");
    for file in ["hummbl.db", "hummbl.db-wal", "hummbl.db-shm"] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
    db.close().await;
}
