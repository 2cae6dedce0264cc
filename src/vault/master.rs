//! Where the master key comes from: `HUMMBL_MASTER_KEY` (base64 of 32 bytes), or
//! `<data dir>/master.key`, generated on first start with mode 0600. A generated
//! key is announced loudly: losing it loses every stored provider key.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::{ExposeSecret, SecretString};

pub const FILE_NAME: &str = "master.key";
/// Written by `hummbl keys rotate` before the database switches to it, and
/// renamed over `master.key` after; see `MasterKey::resolve`.
pub const NEXT_FILE_NAME: &str = "master.key.next";

/// 32 secret bytes; never printed.
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Where a master key was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Environment,
    File(PathBuf),
    Generated(PathBuf),
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(bytes)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn generate() -> anyhow::Result<MasterKey> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
        Ok(MasterKey(bytes))
    }

    /// Parses base64 of exactly 32 bytes.
    pub fn parse(text: &str) -> anyhow::Result<MasterKey> {
        let bytes = B64
            .decode(text.trim())
            .context("the master key is not valid base64")?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            anyhow::anyhow!("the master key must be 32 bytes, not {}", bytes.len())
        })?;
        Ok(MasterKey(bytes))
    }

    pub fn to_base64(&self) -> SecretString {
        SecretString::from(B64.encode(self.0))
    }

    /// The configured key, else the one in the data directory, else a new one
    /// written there.
    pub fn load_or_create(
        configured: Option<&SecretString>,
        data_dir: &Path,
    ) -> anyhow::Result<(MasterKey, Origin)> {
        if let Some(found) = MasterKey::load_existing(configured, data_dir)? {
            return Ok(found);
        }
        let path = data_dir.join(FILE_NAME);
        let key = MasterKey::generate()?;
        write_file(&path, &key)?;
        Ok((key, Origin::Generated(path)))
    }

    /// The configured key, else the one in the data directory; none if neither
    /// exists (nothing is created).
    pub fn load_existing(
        configured: Option<&SecretString>,
        data_dir: &Path,
    ) -> anyhow::Result<Option<(MasterKey, Origin)>> {
        if let Some(text) = configured {
            return Ok(Some((
                MasterKey::parse(text.expose_secret())?,
                Origin::Environment,
            )));
        }
        let path = data_dir.join(FILE_NAME);
        if path.exists() {
            return Ok(Some((read_file(&path)?, Origin::File(path))));
        }
        Ok(None)
    }

    /// The key in `master.key.next`, if a rotation left one behind.
    pub fn pending_rotation(data_dir: &Path) -> anyhow::Result<Option<MasterKey>> {
        let path = data_dir.join(NEXT_FILE_NAME);
        if path.exists() {
            Ok(Some(read_file(&path)?))
        } else {
            Ok(None)
        }
    }
}

fn read_file(path: &Path) -> anyhow::Result<MasterKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the master key file {}", path.display()))?;
    MasterKey::parse(&text).with_context(|| format!("in {}", path.display()))
}

/// Writes the key readable by the owner only; refuses to overwrite.
pub fn write_file(path: &Path, key: &MasterKey) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        crate::storage::files::create_private_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!(
                "{} already exists; not overwriting a master key",
                path.display()
            )
        }
        Err(err) => return Err(err).with_context(|| format!("cannot create {}", path.display())),
    };
    file.write_all(key.to_base64().expose_secret().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_written_owner_only_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (first, origin) = MasterKey::load_or_create(None, dir.path()).expect("create");
        assert!(matches!(origin, Origin::Generated(_)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE_NAME))
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, origin) = MasterKey::load_or_create(None, dir.path()).expect("load");
        assert!(matches!(origin, Origin::File(_)));
        assert_eq!(first.bytes(), again.bytes());
    }

    #[test]
    fn a_configured_key_must_be_32_bytes_of_base64() {
        assert!(MasterKey::parse("not base64!").is_err());
        assert!(MasterKey::parse(&B64.encode([1u8; 16])).is_err());
        let key = MasterKey::parse(&B64.encode([1u8; 32])).expect("valid");
        assert_eq!(key.bytes(), &[1u8; 32]);
        assert_eq!(format!("{key:?}"), "MasterKey(..)");
    }
}
