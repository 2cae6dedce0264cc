//! The SQLite ceiling for `scripts/bench`: the same `user_actions` rows the
//! ingestion path writes, inserted by a tight loop straight into SQLite through
//! rusqlite (the C library with no async layer in between): one prepared
//! single-row INSERT, 10,000-row transactions, WAL and synchronous=FULL like the
//! server, on a fresh copy of HUMMBL's schema (its migrations). Insert speed falls
//! as the table grows, so the table is first filled to `prefill` rows (untimed),
//! the size the ingest benchmark's table has when its batched runs start.
//!
//! Two other ways of writing the same rows can be timed instead, to compare
//! writer paths in one invocation: `bulk` is the server's own path
//! (`Db::bulk_write`), `sqlx` the multi-row INSERTs through sqlx's Any pool that
//! the server used before.
//!
//! cargo run --release --example sqlite_ceiling -- <dir> <prefill> <rows> [ceiling|bulk|sqlx]
//! prints: prefill=<p> rows=<n> seconds=<s> rows_per_sec=<r> via=<mode>

use std::sync::Arc;
use std::time::Instant;

use hummbl::storage::Db;
use hummbl::storage::bulk::{Bulk, BulkError, Param};
use hummbl::telemetry::ingest::ACTIONS;

const TRANSACTION_ROWS: usize = 10_000;
const SESSION: &str = "5f0c8a52-0d3c-4d0b-9d38-7f9a6c1e2b11";
const PAYLOAD: &str = r#"{"path":"/checkout","step":2}"#;
/// The columns ingestion writes, in its order.
const COLUMNS: [&str; 11] = ACTIONS.columns;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "./ceiling-data".into()));
    let prefill: usize = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let rows: usize = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let mode = args.next().unwrap_or_else(|| "ceiling".into());

    // The schema, exactly as the server creates it.
    let db = Db::open_sqlite(&dir).await?;
    db.migrate().await?;
    hummbl::components::register_built_ins(&db).await?;

    let mut conn = rusqlite::Connection::open(dir.join("hummbl.db"))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )?;
    insert_rows(&mut conn, prefill)?;
    let started = Instant::now();
    match mode.as_str() {
        "ceiling" => insert_rows(&mut conn, rows)?,
        "bulk" => insert_bulk(&db, rows).await?,
        "sqlx" => insert_sqlx(&db, rows).await?,
        other => anyhow::bail!("unknown mode {other}: ceiling, bulk or sqlx"),
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "prefill={prefill} rows={rows} seconds={seconds:.3} rows_per_sec={:.0} via={mode}",
        rows as f64 / seconds
    );
    db.close().await;
    Ok(())
}

/// Inserts `rows` rows in 10,000-row transactions.
fn insert_rows(conn: &mut rusqlite::Connection, rows: usize) -> anyhow::Result<()> {
    let now = hummbl::storage::now_ms();
    let sql = format!(
        "INSERT INTO user_actions ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        COLUMNS.join(", ")
    );
    let mut written = 0;
    while written < rows {
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(&sql)?;
            for _ in 0..TRANSACTION_ROWS.min(rows - written) {
                insert.execute(rusqlite::params![
                    hummbl::storage::new_id(),
                    "bench",
                    None::<String>,
                    "page_view",
                    "console",
                    PAYLOAD,
                    now,
                    SESSION,
                    "customer-42",
                    "key:bench",
                    now,
                ])?;
                written += 1;
            }
        }
        tx.commit()?;
    }
    Ok(())
}

/// The server's path: `Db::bulk_write`, 10,000 rows a transaction.
async fn insert_bulk(db: &Db, rows: usize) -> anyhow::Result<()> {
    let now = hummbl::storage::now_ms();
    let mut written = 0;
    while written < rows {
        let count = TRANSACTION_ROWS.min(rows - written);
        let ids: Arc<Vec<String>> =
            Arc::new((0..count).map(|_| hummbl::storage::new_id()).collect());
        db.bulk_write(
            ids,
            move |ids: &Vec<String>, bulk: &mut Bulk<'_>| -> Result<(), BulkError> {
                bulk.insert(
                    &ACTIONS,
                    ids.iter().map(|id| {
                        [
                            Param::Text(Some(id)),
                            Param::Text(Some("bench")),
                            Param::Text(None),
                            Param::Text(Some("page_view")),
                            Param::Text(Some("console")),
                            Param::Text(Some(PAYLOAD)),
                            Param::Int(now),
                            Param::Text(Some(SESSION)),
                            Param::Text(Some("customer-42")),
                            Param::Text(Some("key:bench")),
                            Param::Int(now),
                        ]
                    }),
                )
            },
        )
        .await?;
        written += count;
    }
    Ok(())
}

/// The path before `storage::bulk`: 100-row INSERTs through sqlx's Any pool.
async fn insert_sqlx(db: &Db, rows: usize) -> anyhow::Result<()> {
    let now = hummbl::storage::now_ms();
    let sql = format!(
        "INSERT INTO user_actions ({}) VALUES {}",
        COLUMNS.join(", "),
        db.values_list(100, COLUMNS.len())
    );
    let mut written = 0;
    while written < rows {
        let count = TRANSACTION_ROWS.min(rows - written);
        let ids: Vec<String> = (0..count).map(|_| hummbl::storage::new_id()).collect();
        let mut tx = db.begin().await?;
        for chunk in ids.chunks(100) {
            let chunk_sql;
            let statement = if chunk.len() == 100 {
                &sql
            } else {
                chunk_sql = format!(
                    "INSERT INTO user_actions ({}) VALUES {}",
                    COLUMNS.join(", "),
                    db.values_list(chunk.len(), COLUMNS.len())
                );
                &chunk_sql
            };
            let mut query = sqlx::query(statement);
            for id in chunk {
                query = query
                    .bind(id.as_str())
                    .bind("bench")
                    .bind(None::<&str>)
                    .bind("page_view")
                    .bind("console")
                    .bind(PAYLOAD)
                    .bind(now)
                    .bind(SESSION)
                    .bind("customer-42")
                    .bind("key:bench")
                    .bind(now);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        written += count;
    }
    Ok(())
}
