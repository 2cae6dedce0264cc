//! Bulk inserts: many rows in one write transaction, as fast as the engine
//! allows. The telemetry writer is the user; anything that writes thousands of
//! rows at a time can be.
//!
//! On PostgreSQL the rows go through sqlx as multi-row INSERTs. On SQLite they go
//! through rusqlite on a connection of their own: sqlx's SQLite driver hands every
//! statement to a worker thread and converts each argument twice, which left the
//! telemetry writer at about 65 % of what SQLite itself does on the same rows
//! (330k vs 510k rows/s, docs/BENCHMARKS.md). The single-writer rule still holds:
//! the bulk connection writes only while it holds the writer pool's one
//! connection, so no two write transactions ever overlap and none can meet
//! "database is locked".

use std::sync::{Arc, Mutex};

use rusqlite::ToSql;
use rusqlite::types::ToSqlOutput;

use super::{Backend, Db, values_list};

/// Rows per INSERT statement: fixed, so the prepared statements can be cached.
const ROWS_PER_STATEMENT: usize = 100;

/// A bulk INSERT into `table`'s `columns`, optionally `ON CONFLICT … DO NOTHING`.
pub struct Insert<const N: usize> {
    pub table: &'static str,
    pub columns: [&'static str; N],
    /// The conflict target, e.g. `"(id)"`: conflicting rows are skipped.
    pub skip_conflicts_on: Option<&'static str>,
}

impl<const N: usize> Insert<N> {
    fn sql(&self, backend: Backend, rows: usize) -> String {
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            self.table,
            self.columns.join(", "),
            values_list(backend, rows, N)
        );
        if let Some(target) = self.skip_conflicts_on {
            sql.push_str(" ON CONFLICT ");
            sql.push_str(target);
            sql.push_str(" DO NOTHING");
        }
        sql
    }
}

/// One value of a row. `Text(None)` is a NULL.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Text(Option<&'a str>),
    Int(i64),
    Real(f64),
    Bool(bool),
}

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Param::Text(text) => text.to_sql(),
            Param::Int(int) => int.to_sql(),
            Param::Real(real) => real.to_sql(),
            Param::Bool(flag) => flag.to_sql(),
        }
    }
}

/// A [`Param`] kept for later: PostgreSQL's statements run after the rows are
/// gathered, since sqlx is asynchronous and the gathering is not.
enum OwnedParam {
    Text(Option<String>),
    Int(i64),
    Real(f64),
    Bool(bool),
}

impl From<Param<'_>> for OwnedParam {
    fn from(param: Param<'_>) -> Self {
        match param {
            Param::Text(text) => OwnedParam::Text(text.map(str::to_owned)),
            Param::Int(int) => OwnedParam::Int(int),
            Param::Real(real) => OwnedParam::Real(real),
            Param::Bool(flag) => OwnedParam::Bool(flag),
        }
    }
}

struct Statement {
    sql: String,
    params: Vec<OwnedParam>,
}

#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("the bulk write task stopped unexpectedly")]
    Stopped,
}

/// The rows of one transaction, given to the closure of [`Db::bulk_write`].
pub struct Bulk<'t> {
    target: Target<'t>,
}

enum Target<'t> {
    /// Written at once, inside the open SQLite transaction.
    Sqlite(&'t rusqlite::Transaction<'t>),
    /// Gathered, then run by sqlx in one transaction.
    Postgres(&'t mut Vec<Statement>),
}

impl Bulk<'_> {
    /// Inserts `rows`, `ROWS_PER_STATEMENT` to a statement.
    pub fn insert<'p, const N: usize>(
        &mut self,
        insert: &Insert<N>,
        mut rows: impl ExactSizeIterator<Item = [Param<'p>; N]>,
    ) -> Result<(), BulkError> {
        let full_statements = rows.len() / ROWS_PER_STATEMENT;
        let tail = rows.len() % ROWS_PER_STATEMENT;
        match &mut self.target {
            Target::Sqlite(tx) => {
                if full_statements > 0 {
                    let mut statement =
                        tx.prepare_cached(&insert.sql(Backend::Sqlite, ROWS_PER_STATEMENT))?;
                    for _ in 0..full_statements {
                        bind_rows(&mut statement, rows.by_ref().take(ROWS_PER_STATEMENT))?;
                        statement.raw_execute()?;
                    }
                }
                if tail > 0 {
                    // Single-row statements for the rest: one cached statement
                    // instead of one per possible tail length.
                    let mut statement = tx.prepare_cached(&insert.sql(Backend::Sqlite, 1))?;
                    for row in rows {
                        bind_rows(&mut statement, std::iter::once(row))?;
                        statement.raw_execute()?;
                    }
                }
            }
            Target::Postgres(statements) => {
                for size in std::iter::repeat_n(ROWS_PER_STATEMENT, full_statements)
                    .chain((tail > 0).then_some(tail))
                {
                    statements.push(Statement {
                        sql: insert.sql(Backend::Postgres, size),
                        params: rows
                            .by_ref()
                            .take(size)
                            .flatten()
                            .map(OwnedParam::from)
                            .collect(),
                    });
                }
            }
        }
        Ok(())
    }
}

fn bind_rows<'p, const N: usize>(
    statement: &mut rusqlite::CachedStatement<'_>,
    rows: impl Iterator<Item = [Param<'p>; N]>,
) -> rusqlite::Result<()> {
    for (row_index, row) in rows.enumerate() {
        for (column, param) in row.iter().enumerate() {
            // SQLite numbers parameters from 1.
            statement.raw_bind_parameter(row_index * N + column + 1, param)?;
        }
    }
    Ok(())
}

/// The SQLite connection bulk writes use, opened beside the writer pool.
pub(super) type SqliteBulkConnection = Arc<Mutex<rusqlite::Connection>>;

pub(super) fn open_sqlite_connection(
    file: &std::path::Path,
) -> rusqlite::Result<SqliteBulkConnection> {
    let connection = rusqlite::Connection::open_with_flags(
        file,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // The connection that commits runs SQLite's automatic checkpoint (every
    // 1,000 WAL pages): it copies the WAL's pages into the database file while
    // holding the write lock. The checkpointer thread below does most of that
    // copying beside the writer, on the other core, so the automatic one finds
    // little left: more batched ingest and a lower p99 (docs/BENCHMARKS.md).
    connection.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
    )?;
    let connection = Arc::new(Mutex::new(connection));
    start_checkpointer(file, Arc::downgrade(&connection))?;
    Ok(connection)
}

/// How often the checkpointer copies committed WAL pages into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Runs passive checkpoints (they never wait for, or block, readers and
/// writers) on a thread of its own until the bulk connection is dropped.
fn start_checkpointer(
    file: &std::path::Path,
    bulk: std::sync::Weak<Mutex<rusqlite::Connection>>,
) -> rusqlite::Result<()> {
    let connection = rusqlite::Connection::open_with_flags(
        file,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let spawned = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while bulk.strong_count() > 0 {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(err) =
                    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    tracing::debug!(error = %err, "passive checkpoint failed");
                }
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "no checkpointer thread; the writer checkpoints alone");
    }
    Ok(())
}

impl Db {
    /// Runs `write` in one write transaction and commits it. `write` is plain
    /// synchronous code over `data` (on SQLite it runs on a blocking thread).
    pub async fn bulk_write<D, F>(&self, data: Arc<D>, write: F) -> Result<(), BulkError>
    where
        D: Send + Sync + 'static,
        F: FnOnce(&D, &mut Bulk<'_>) -> Result<(), BulkError> + Send + 'static,
    {
        match &self.sqlite_bulk {
            Some(connection) => {
                // The writer pool's only connection is the right to write: held
                // until the blocking task ends, even if this future is dropped.
                let turn = self.writer.acquire().await?;
                let connection = connection.clone();
                tokio::task::spawn_blocking(move || {
                    let _turn = turn;
                    // A panic inside a transaction rolled it back when it
                    // unwound, so a poisoned connection is still sound.
                    let mut connection = connection
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let tx = connection
                        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    write(
                        &data,
                        &mut Bulk {
                            target: Target::Sqlite(&tx),
                        },
                    )?;
                    tx.commit()?;
                    Ok(())
                })
                .await
                .map_err(|_| BulkError::Stopped)?
            }
            None => {
                let mut statements = Vec::new();
                write(
                    &data,
                    &mut Bulk {
                        target: Target::Postgres(&mut statements),
                    },
                )?;
                let mut tx = self.begin().await?;
                for statement in &statements {
                    let mut query = sqlx::query(&statement.sql);
                    for param in &statement.params {
                        query = match param {
                            OwnedParam::Text(text) => query.bind(text.as_deref()),
                            OwnedParam::Int(int) => query.bind(*int),
                            OwnedParam::Real(real) => query.bind(*real),
                            OwnedParam::Bool(flag) => query.bind(*flag),
                        };
                    }
                    query.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    }
}
