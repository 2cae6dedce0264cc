//! The data directory holds password hashes, sealed provider keys and the
//! master key: what the server creates there is readable by its owner only
//! (directory 0700, files 0600), whatever the process's umask says.

use std::fs::{DirBuilder, OpenOptions};
use std::path::Path;

use anyhow::Context;

/// Creates `dir` (and missing parents) as 0700. A directory that already
/// exists keeps its mode (it is the operator's), with a warning when other
/// users can read it.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    let existed = dir.is_dir();
    builder
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    if existed {
        warn_if_shared(dir);
    }
    Ok(())
}

/// Creates `file` empty as 0600 unless it exists, so that SQLite (which gives
/// its WAL and shared-memory files the database file's mode) opens a private
/// file instead of creating a world-readable one.
pub fn create_private_file(file: &Path) -> anyhow::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(file)
        .with_context(|| format!("cannot create {}", file.display()))?;
    Ok(())
}

/// Makes an existing file readable by its owner only (a backup).
pub fn restrict_file(file: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", file.display()))?;
    }
    Ok(())
}

#[cfg(unix)]
fn warn_if_shared(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(dir)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            dir = %dir.display(),
            "the data directory is readable by other users; `chmod 700` it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_: &Path) {}

/// Opens (creating it) a file that exists only to be locked.
pub fn open_lock_file(path: &Path) -> anyhow::Result<std::fs::File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open lock file {}", path.display()))
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn directories_and_files_are_private() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("a/data");
        create_private_dir(&dir).expect("created");
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("hummbl.db");
        create_private_file(&file).expect("created");
        assert_eq!(mode(&file), 0o600);
        std::fs::write(&file, b"kept").expect("write");
        create_private_file(&file).expect("exists");
        assert_eq!(std::fs::read(&file).expect("read"), b"kept");
    }
}
