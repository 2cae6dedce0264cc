//! The SQLite ceiling for `scripts/bench`: the same `user_actions` rows the
//! ingestion path writes, inserted by a tight loop straight into SQLite through
//! rusqlite (the C library with no async layer in between): one prepared
//! single-row INSERT, 10,000-row transactions, WAL and synchronous=FULL like the
//! server, on a fresh copy of HUMMBL's schema (its migrations). Insert speed falls
//! as the table grows, so the table is first filled to `prefill` rows (untimed),
//! the size the ingest benchmark's table has when its batched runs start.
//!
//! cargo run --release --example sqlite_ceiling -- <dir> <prefill> <rows>
//! prints: prefill=<p> rows=<n> seconds=<s> rows_per_sec=<r>

use std::time::Instant;

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

    // The schema, exactly as the server creates it.
    let db = hummbl::storage::Db::open_sqlite(&dir).await?;
    db.migrate().await?;
    hummbl::components::register_built_ins(&db).await?;
    db.close().await;

    let mut conn = rusqlite::Connection::open(dir.join("hummbl.db"))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )?;
    insert_rows(&mut conn, prefill)?;
    let started = Instant::now();
    insert_rows(&mut conn, rows)?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "prefill={prefill} rows={rows} seconds={seconds:.3} rows_per_sec={:.0}",
        rows as f64 / seconds
    );
    Ok(())
}

/// Inserts `rows` rows in 10,000-row transactions.
fn insert_rows(conn: &mut rusqlite::Connection, rows: usize) -> anyhow::Result<()> {
    let transaction_rows = 10_000;
    let now = hummbl::storage::now_ms();
    let mut written = 0;
    while written < rows {
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO user_actions (id, team_id, user_id, action_type, component_id, payload, timestamp, \
                 session_id, external_user_id, source, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?;
            for _ in 0..transaction_rows.min(rows - written) {
                insert.execute(rusqlite::params![
                    hummbl::storage::new_id(),
                    "bench",
                    None::<String>,
                    "page_view",
                    "console",
                    r#"{"path":"/checkout","step":2}"#,
                    now,
                    "5f0c8a52-0d3c-4d0b-9d38-7f9a6c1e2b11",
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
