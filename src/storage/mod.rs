//! Storage: one schema on SQLite (default, embedded) or PostgreSQL (by URL).
//!
//! Every feature speaks portable SQL through [`sqlx::AnyPool`] with `$1`-style
//! placeholders, integer-millisecond timestamps, integer micro-dollars and TEXT JSON.
//! Where the two dialects must differ (connection set-up, row locks, migrations),
//! the difference lives here and nowhere else.
//!
//! SQLite gets two pools: a read-only pool for reads, and a writer pool holding a
//! single connection. Serializing writes through one connection means a write
//! transaction can never meet "database is locked" from another writer (a deferred
//! transaction that upgrades to a write lock fails at once, busy timeout or not), and
//! WAL lets readers carry on while it writes. The reader connections are opened
//! `mode=ro`, so a write sent to the wrong pool fails loudly instead of racing.
//!
//! `synchronous=FULL`: a transaction is durable once `COMMIT` returns, also on power
//! loss. With `NORMAL` a crash of the process loses nothing either, but an OS crash
//! or power cut can roll back the last commits; the telemetry writer commits in
//! groups, so FULL costs little where volume is high.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub mod bulk;
pub mod files;
pub mod presence;
pub mod sql;

pub use sql::Sql;

pub use sqlx::Any;
pub type Tx = sqlx::Transaction<'static, Any>;

/// Which database engine is behind the pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Handle to the database: clone it freely (pools are reference counted).
#[derive(Clone, Debug)]
pub struct Db {
    backend: Backend,
    reader: AnyPool,
    writer: AnyPool,
    /// The SQLite database file (None on PostgreSQL).
    sqlite_file: Option<PathBuf>,
    /// The connection bulk writes use on SQLite (see [`bulk`]).
    sqlite_bulk: Option<bulk::SqliteBulkConnection>,
    /// The claim a server or command holds on the database while it uses it
    /// (see [`presence`]); released with the last clone.
    claim: Option<std::sync::Arc<presence::Claim>>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The newest migration this binary carries for `backend`.
pub fn latest_migration(backend: Backend) -> i64 {
    let migrator = match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    };
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Milliseconds since the Unix epoch, the unit of every timestamp column.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// A new random row id (UUID v7: time-ordered, so index inserts stay local).
pub fn new_id() -> String {
    // Encoded straight into a buffer: cheaper than `to_string`'s formatter,
    // and ingestion makes one per event.
    let mut buffer = uuid::Uuid::encode_buffer();
    uuid::Uuid::now_v7()
        .hyphenated()
        .encode_lower(&mut buffer)
        .to_owned()
}

impl Db {
    /// Opens the SQLite file `hummbl.db` inside `data_dir` (created if missing).
    pub async fn open_sqlite(data_dir: &Path) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        files::create_private_dir(data_dir)?;
        let file = data_dir.join("hummbl.db");
        files::create_private_file(&file)?;
        let path = file.to_string_lossy();
        let writer_options = AnyConnectOptions::from_str(&format!("sqlite://{path}?mode=rwc"))?;
        let writer = AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_with(writer_options)
            .await
            .with_context(|| format!("cannot open SQLite database {}", file.display()))?;
        let reader_options = AnyConnectOptions::from_str(&format!("sqlite://{path}?mode=ro"))?;
        let reader = AnyPoolOptions::new()
            .max_connections(8)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;")
                        .await?;
                    Ok(())
                })
            })
            .connect_lazy_with(reader_options);
        let sqlite_bulk = bulk::open_sqlite_connection(&file)
            .with_context(|| format!("cannot open SQLite database {}", file.display()))?;
        Ok(Db {
            backend: Backend::Sqlite,
            reader,
            writer,
            sqlite_file: Some(file),
            sqlite_bulk: Some(sqlite_bulk),
            claim: None,
        })
    }

    /// Connects to PostgreSQL; readers and writers share one pool (MVCC and row
    /// locks do what the single SQLite writer does).
    pub async fn open_postgres(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await
            .context("cannot connect to PostgreSQL")?;
        Ok(Db {
            backend: Backend::Postgres,
            reader: pool.clone(),
            writer: pool,
            sqlite_file: None,
            sqlite_bulk: None,
            claim: None,
        })
    }

    /// Opens the database named by `database_url`, or the SQLite file in `data_dir`.
    pub async fn open(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Db> {
        match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Db::open_postgres(url).await
            }
            Some(url) => {
                let path = url
                    .strip_prefix("sqlite://")
                    .or_else(|| url.strip_prefix("sqlite:"))
                    .context("database URL must start with postgres:// or sqlite://")?;
                Db::open_sqlite(Path::new(path)).await
            }
            None => Db::open_sqlite(data_dir).await,
        }
    }

    /// Keeps `claim` for as long as this handle or a clone of it lives.
    pub fn hold(&mut self, claim: presence::Claim) {
        self.claim = Some(std::sync::Arc::new(claim));
    }

    /// The SQLite database file, when on SQLite.
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.sqlite_file.as_deref()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Pool for reads. On SQLite its connections are read-only.
    pub fn read(&self) -> &AnyPool {
        &self.reader
    }

    /// Pool for single-statement writes.
    pub fn write(&self) -> &AnyPool {
        &self.writer
    }

    /// Starts a write transaction (on SQLite, on the single writer connection).
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        self.writer.begin().await
    }

    /// A transaction that reads, then writes, and may run while another
    /// process writes the same SQLite file (start-up beside a running server):
    /// `BEGIN IMMEDIATE` takes the write lock first, waiting for it, instead of
    /// failing at once with SQLITE_BUSY when the read's snapshot went stale.
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        match self.backend() {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.writer.begin().await,
        }
    }

    /// Applies the embedded migrations. On PostgreSQL the migrator holds an advisory
    /// lock meanwhile, so replicas starting together apply each migration once. The
    /// SQLite migrator takes no lock, so two processes on one file (a `migrate` next
    /// to a starting `serve`) hold an OS lock on a file beside the database instead.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let (migrator, _lock) = match &self.sqlite_file {
            Some(file) => (
                &SQLITE_MIGRATIONS,
                Some(lock_file(file.with_extension("migrate-lock")).await?),
            ),
            None => (&POSTGRES_MIGRATIONS, None),
        };
        migrator
            .run(&self.writer)
            .await
            .context("database migration failed")?;
        Ok(())
    }

    /// Locks a team row until the transaction ends, so invariants checked across
    /// several rows (a team keeps an owner) hold under concurrent writers. SQLite
    /// needs nothing: its single writer connection already serializes writes.
    pub async fn lock_team(&self, tx: &mut Tx, team_id: &str) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT id FROM teams WHERE id = $1 FOR UPDATE")
                .bind(team_id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Locks whole tables against writers until the transaction ends (a rebuild
    /// that must not interleave with incremental updates). SQLite needs nothing:
    /// its single writer connection already serializes writes.
    pub async fn lock_tables(&self, tx: &mut Tx, tables: &[&str]) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Postgres && !tables.is_empty() {
            let statement = format!("LOCK TABLE {} IN EXCLUSIVE MODE", tables.join(", "));
            sqlx::query(&statement).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Sends `payload` to the processes listening on `channel` (PostgreSQL's
    /// NOTIFY; the bus bridge between replicas). SQLite has one process and
    /// nothing to tell.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(&self.writer)
                .await?;
        }
        Ok(())
    }

    /// The newest migration applied to the database (0 before the first).
    pub async fn schema_version(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.reader)
            .await
    }

    /// Answers whether the database responds (readiness).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.reader).await.is_ok()
    }

    /// Closes the pools (at shutdown, after in-flight work ended).
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

impl Db {
    /// Appended to a `SELECT … LIMIT n` that picks rows to claim: PostgreSQL
    /// skips rows another transaction is claiming; SQLite's single writer
    /// already runs claims one at a time.
    pub fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Appended to a `SELECT` of rows the transaction is about to change or
    /// delete on a condition it checks first: PostgreSQL locks them (a row
    /// another transaction is referencing waits, and waits for it); SQLite's
    /// single writer already serializes.
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// The `VALUES` list of a multi-row INSERT: `(?, ?), (?, ?)` on SQLite,
    /// `($1, $2), ($3, $4)` on PostgreSQL. SQLite resolves each `$n` by walking
    /// the statement's whole parameter list (quadratic in a 1,000-parameter
    /// statement, the top of the ingest profile), while `?` binds by position.
    pub fn values_list(&self, rows: usize, columns: usize) -> String {
        values_list(self.backend, rows, columns)
    }
}

/// Opens and exclusively locks `path`; the lock lasts as long as the handle.
async fn lock_file(path: PathBuf) -> anyhow::Result<std::fs::File> {
    tokio::task::spawn_blocking(move || {
        let file = files::open_lock_file(&path)?;
        file.lock()
            .with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(file)
    })
    .await
    .context("lock task failed")?
}

/// True when the error is a unique-constraint violation (mapped to 409 at the edge).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A boolean column selected as a BIGINT 0/1 (PostgreSQL stores BOOLEAN, SQLite
/// INTEGER), so rows decode through `FromRow` on both.
pub fn flag_as_integer(column: &str) -> String {
    format!("CAST(CASE WHEN {column} THEN 1 ELSE 0 END AS BIGINT)")
}

/// Reads a boolean column: PostgreSQL sends BOOLEAN, SQLite an INTEGER 0/1.
pub fn flag(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<bool>, sqlx::Error> {
    use sqlx::Row;
    match row.try_get::<Option<bool>, _>(column) {
        Ok(value) => Ok(value),
        Err(_) => Ok(row
            .try_get::<Option<i64>, _>(column)?
            .map(|value| value != 0)),
    }
}

/// Decodes a TEXT column holding one of a type's names (a status, a provider):
/// a value the code does not know is an error naming the column and the value,
/// never a silent default.
pub fn decode_name<T: std::str::FromStr>(column: &str, text: &str) -> Result<T, sqlx::Error> {
    text.parse().map_err(|_| {
        sqlx::Error::Decode(format!("unknown {column} {text:?} in the database").into())
    })
}

/// Decodes a TEXT JSON column into `T`; a malformed value is an error naming the column.
pub fn decode_json<T: serde::de::DeserializeOwned>(
    column: &str,
    text: &str,
) -> Result<T, sqlx::Error> {
    serde_json::from_str(text)
        .map_err(|err| sqlx::Error::Decode(format!("{column} holds invalid JSON: {err}").into()))
}

/// A value for a TEXT JSON column.
pub fn json_text(value: &impl serde::Serialize) -> Result<String, crate::error::AppError> {
    serde_json::to_string(value).map_err(|err| crate::error::AppError::Internal(err.into()))
}

/// See [`Db::values_list`].
fn values_list(backend: Backend, rows: usize, columns: usize) -> String {
    let mut text = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            text.push_str(", ");
        }
        text.push('(');
        for column in 0..columns {
            if column > 0 {
                text.push_str(", ");
            }
            match backend {
                Backend::Sqlite => text.push('?'),
                Backend::Postgres => {
                    text.push('$');
                    text.push_str(&(row * columns + column + 1).to_string());
                }
            }
        }
        text.push(')');
    }
    text
}
