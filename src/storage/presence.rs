//! Who is using a database: every `hummbl serve` holds a *shared* claim on it
//! for as long as it runs, and a command that must have the database to itself
//! (`copy`, `restore`) takes the *exclusive* claim, which fails while any
//! server holds its shared one — and keeps servers from starting meanwhile.
//!
//! On SQLite the claim is an OS file lock on `hummbl.serve-lock` beside the
//! database (released by the kernel when a process dies); on PostgreSQL it is
//! a session advisory lock on a connection kept open for the purpose
//! (released by the server when the session ends), so it covers replicas on
//! other machines too.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sqlx::AnyConnection;

use super::{Backend, Db};

/// The advisory-lock key on PostgreSQL ("HUMMBL" in ASCII; any fixed number works).
const ADVISORY_KEY: i64 = 0x48_55_4d_4d_42_4c;

/// A claim on a database, held until dropped: the locked file, or the
/// session holding the advisory lock.
#[derive(Debug)]
pub struct Claim {
    _file: Option<std::fs::File>,
    /// In a mutex only so that a `Db` holding the claim stays `Sync`.
    _session: Option<std::sync::Mutex<AnyConnection>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Shared,
    Exclusive,
}

/// The lock file of the SQLite database `file`.
pub fn lock_file_of(file: &Path) -> PathBuf {
    file.with_extension("serve-lock")
}

/// Taken by `serve` for its lifetime; refused while a command holds the database.
pub async fn serving(db: &Db) -> anyhow::Result<Claim> {
    claim(db, Mode::Shared).await.map_err(|err| {
        err.context("another command (hummbl copy or restore) has this database to itself: start the server when it ends")
    })
}

/// Taken by a command that must have the database to itself; refused while a server runs on it.
pub async fn alone(db: &Db) -> anyhow::Result<Claim> {
    claim(db, Mode::Exclusive).await.map_err(|err| {
        err.context(
            "a HUMMBL server is running on this database: stop every server (every replica) first",
        )
    })
}

/// The exclusive claim on the SQLite database in `data_dir`, without opening it.
pub fn alone_in(data_dir: &Path) -> anyhow::Result<Claim> {
    super::files::create_private_dir(data_dir)?;
    let file = lock_file_of(&data_dir.join("hummbl.db"));
    let file = lock(&file, Mode::Exclusive).map_err(|err| {
        err.context("a HUMMBL server is running on this data directory: stop it first")
    })?;
    Ok(Claim {
        _file: Some(file),
        _session: None,
    })
}

async fn claim(db: &Db, mode: Mode) -> anyhow::Result<Claim> {
    match (db.backend(), db.sqlite_file()) {
        (Backend::Sqlite, Some(file)) => {
            let path = lock_file_of(file);
            let file = tokio::task::spawn_blocking(move || lock(&path, mode))
                .await
                .context("lock task failed")??;
            Ok(Claim {
                _file: Some(file),
                _session: None,
            })
        }
        _ => Ok(Claim {
            _file: None,
            _session: Some(std::sync::Mutex::new(advisory(db, mode).await?)),
        }),
    }
}

fn lock(path: &Path, mode: Mode) -> anyhow::Result<std::fs::File> {
    let file = super::files::open_lock_file(path)?;
    let attempt = match mode {
        Mode::Shared => file.try_lock_shared(),
        Mode::Exclusive => file.try_lock(),
    };
    match attempt {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!("{} is held", path.display()),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

async fn advisory(db: &Db, mode: Mode) -> anyhow::Result<AnyConnection> {
    let mut connection = db.write().acquire().await?.detach();
    let statement = match mode {
        Mode::Shared => "SELECT pg_try_advisory_lock_shared($1)",
        Mode::Exclusive => "SELECT pg_try_advisory_lock($1)",
    };
    let taken: bool = sqlx::query_scalar(statement)
        .bind(ADVISORY_KEY)
        .fetch_one(&mut connection)
        .await?;
    if !taken {
        bail!("the database's advisory lock {ADVISORY_KEY} is held");
    }
    Ok(connection)
}
