//! `hummbl backup --to FILE` and `hummbl restore --from FILE [--force]`.
//!
//! On SQLite a backup is `VACUUM INTO` on a read connection: one consistent
//! snapshot (a read transaction) taken while the server keeps running and
//! writing, so every write acknowledged before it started is in it. On
//! PostgreSQL the commands print the exact `pg_dump` / `pg_restore` to use.
//!
//! The master key is never in a backup: the provider keys inside stay sealed
//! under it, and the backup is useless for them without it. Restore checks,
//! before it writes anything, that the file is a HUMMBL database whose schema
//! this binary knows, that the current master key opens its vault, and that
//! the target is empty (or `--force`); it refuses while a server runs on the
//! data directory (`storage::presence`).

mod store;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::config::Config;
use crate::storage::{Backend, Db};
use crate::vault::{MasterKey, Vault, master};

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub file: PathBuf,
    pub bytes: u64,
    /// Where the master key the backup needs lives, in words.
    pub master_key: String,
}

/// Where the master key is, for the operator's notes.
pub fn key_whereabouts(config: &Config) -> String {
    match MasterKey::load_existing(config.master_key.as_ref(), &config.data_dir) {
        Ok(Some((_, master::Origin::Environment))) => {
            "HUMMBL_MASTER_KEY (the environment or the config file)".into()
        }
        Ok(Some((_, master::Origin::File(path) | master::Origin::Generated(path)))) => {
            path.display().to_string()
        }
        _ => "nowhere yet (no provider key was ever stored)".into(),
    }
}

/// Writes a consistent copy of the running database to `to` (which must not exist).
pub async fn backup(config: &Config, db: &Db, to: &Path) -> anyhow::Result<BackupReport> {
    if db.backend() == Backend::Postgres {
        bail!(
            "on PostgreSQL, back up with pg_dump: pg_dump --format=custom --file {} \"$HUMMBL_DATABASE_URL\" \
             (and restore with pg_restore --clean --if-exists --dbname \"$HUMMBL_DATABASE_URL\" {}); \
             the master key is not in the dump: keep it too",
            to.display(),
            to.display()
        );
    }
    if to.exists() {
        bail!(
            "{} exists already: a backup never overwrites a file",
            to.display()
        );
    }
    let absolute =
        std::path::absolute(to).with_context(|| format!("cannot resolve {}", to.display()))?;
    store::vacuum_into(db, &absolute.to_string_lossy())
        .await
        .with_context(|| format!("the backup into {} failed", absolute.display()))?;
    crate::storage::files::restrict_file(&absolute)?;
    let bytes = std::fs::metadata(&absolute)?.len();
    Ok(BackupReport {
        file: absolute,
        bytes,
        master_key: key_whereabouts(config),
    })
}

/// What a restore found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    pub users: i64,
    pub teams: i64,
    /// The schema version the backup had (migrations run after it brought it up to date).
    pub backup_version: i64,
}

/// Replaces the data directory's database with the backup at `from`, after
/// every check has passed.
pub async fn restore(config: &Config, from: &Path, force: bool) -> anyhow::Result<RestoreReport> {
    if config.database_url.is_some() {
        bail!(
            "on PostgreSQL, restore with pg_restore: pg_restore --clean --if-exists --dbname \"$HUMMBL_DATABASE_URL\" {}",
            from.display()
        );
    }
    check_is_sqlite(from)?;
    let _alone = crate::storage::presence::alone_in(&config.data_dir)?;
    // The checks run on a copy, so a failed check leaves both files as they were.
    let staging = config.data_dir.join("restore-staging");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    crate::storage::files::create_private_dir(&staging)?;
    let outcome = stage_and_check(config, from, &staging, force).await;
    let report = match outcome {
        Ok(report) => report,
        Err(err) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(err);
        }
    };
    let target = config.data_dir.join("hummbl.db");
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", target.display()));
        if side.exists() {
            std::fs::remove_file(&side)?;
        }
    }
    std::fs::rename(staging.join("hummbl.db"), &target)?;
    std::fs::remove_dir_all(&staging)?;
    // Bring an older backup's schema up to date.
    let db = Db::open(None, &config.data_dir).await?;
    db.migrate().await?;
    db.close().await;
    Ok(report)
}

fn check_is_sqlite(from: &Path) -> anyhow::Result<()> {
    let mut header = [0_u8; 16];
    let mut file =
        std::fs::File::open(from).with_context(|| format!("cannot open {}", from.display()))?;
    std::io::Read::read_exact(&mut file, &mut header)
        .with_context(|| format!("{} is not a HUMMBL backup (too short)", from.display()))?;
    if &header != b"SQLite format 3\0" {
        bail!(
            "{} is not a HUMMBL backup (not an SQLite database)",
            from.display()
        );
    }
    Ok(())
}

async fn stage_and_check(
    config: &Config,
    from: &Path,
    staging: &Path,
    force: bool,
) -> anyhow::Result<RestoreReport> {
    std::fs::copy(from, staging.join("hummbl.db"))
        .with_context(|| format!("cannot read {}", from.display()))?;
    let staged = Db::open_sqlite(staging).await?;
    let checked = check_backup(config, &staged).await;
    staged.close().await;
    let report = checked?;
    let current = Db::open(None, &config.data_dir).await?;
    let in_use = store::people(&current).await;
    current.close().await;
    if let Ok((users, _)) = in_use
        && users > 0
        && !force
    {
        bail!(
            "the database in {} holds {users} users: restoring would replace it; stop the server and run again with --force",
            config.data_dir.display()
        );
    }
    Ok(report)
}

/// The backup's schema is one this binary knows, and the current master key opens its vault.
async fn check_backup(config: &Config, staged: &Db) -> anyhow::Result<RestoreReport> {
    let backup_version = staged
        .schema_version()
        .await
        .context("the file is not a HUMMBL backup (no migrations table)")?;
    let known = crate::storage::latest_migration(Backend::Sqlite);
    if backup_version > known {
        bail!(
            "the backup's schema (migration {backup_version}) is newer than this hummbl knows (migration {known}): \
             restore it with a newer hummbl"
        );
    }
    let key = MasterKey::load_existing(config.master_key.as_ref(), &config.data_dir)?;
    let opens = match &key {
        Some((key, _)) => Vault::matches(staged, key).await?,
        None => store::vault_is_empty(staged).await?,
    };
    if !opens {
        bail!(
            "the current master key does not open this backup's provider keys: set HUMMBL_MASTER_KEY \
             (or put master.key in {}) to the key the backup was made under, then restore again",
            config.data_dir.display()
        );
    }
    let (users, teams) = store::people(staged).await?;
    Ok(RestoreReport {
        users,
        teams,
        backup_version,
    })
}
