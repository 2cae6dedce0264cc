//! The provider-key vault: AES-256-GCM under a key derived from the master key.
//!
//! - The 32-byte master key comes from `HUMMBL_MASTER_KEY` (base64) or from
//!   `<data dir>/master.key`, generated once with mode 0600 (`master`).
//! - The sealing key is derived from it with HKDF-SHA256 for this one purpose, so
//!   the master key itself never encrypts anything.
//! - Every seal uses a fresh random 96-bit nonce, stored beside the ciphertext.
//! - The row's identity (team, row id, provider) is bound as associated data: a
//!   ciphertext copied into another row, team or provider does not open.
//! - `vault_state` holds the master key's generation and a check value derived
//!   from it; a different master key stops start-up (`Vault::open`).
//! - `rotate` re-seals every row under a new master key in one transaction.

pub mod master;
mod store;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::{ExposeSecret, SecretString};

use crate::storage::Db;
pub use master::MasterKey;

/// The vault's recorded key version and check value, if a key was ever recorded.
pub async fn store_state(db: &Db) -> Result<Option<(i64, String)>, sqlx::Error> {
    store::state(db).await
}

const SEALING_INFO: &[u8] = b"hummbl provider-key sealing v1";
const CHECK_INFO: &[u8] = b"hummbl vault check value v1";
const AAD_LABEL: &str = "hummbl/provider-key/v1";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "the master key does not match the one this database's provider keys were sealed with \
         (generation {stored}); start with the right HUMMBL_MASTER_KEY or master.key"
    )]
    WrongMasterKey { stored: i64 },
    #[error(
        "a provider key could not be opened: it was changed, moved to another row, or sealed under another master key"
    )]
    CannotOpen,
    #[error("the system random generator failed")]
    Random,
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

/// Which row a sealed key belongs to; bound into the ciphertext.
#[derive(Debug, Clone, Copy)]
pub struct KeyOwner<'a> {
    pub team_id: &'a str,
    pub key_id: &'a str,
    pub provider: &'a str,
}

impl KeyOwner<'_> {
    fn associated_data(&self) -> Vec<u8> {
        // Length-prefixed fields: no two different owners give the same bytes.
        let mut data = Vec::with_capacity(96);
        for part in [AAD_LABEL, self.team_id, self.key_id, self.provider] {
            data.extend_from_slice(&(part.len() as u32).to_be_bytes());
            data.extend_from_slice(part.as_bytes());
        }
        data
    }
}

/// A sealed secret as stored: base64 ciphertext (with tag) and nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub ciphertext: String,
    pub nonce: String,
    pub key_version: i64,
}

/// The sealing key of one master-key generation.
pub struct Vault {
    key: LessSafeKey,
    check_value: String,
    version: i64,
    random: SystemRandom,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl Vault {
    /// Derives the sealing key and check value of `master` (generation `version`).
    pub fn derive(master: &MasterKey, version: i64) -> Vault {
        let prk = Salt::new(HKDF_SHA256, &[]).extract(master.bytes());
        let mut sealing = [0u8; 32];
        let mut check = [0u8; 32];
        prk.expand(&[SEALING_INFO], Len(32))
            .and_then(|okm| okm.fill(&mut sealing))
            .and_then(|()| prk.expand(&[CHECK_INFO], Len(32)))
            .and_then(|okm| okm.fill(&mut check))
            .expect("HKDF-SHA256 yields 32 bytes (its limit is 8160)");
        let unbound =
            UnboundKey::new(&AES_256_GCM, &sealing).expect("AES-256-GCM takes a 32-byte key");
        Vault {
            key: LessSafeKey::new(unbound),
            check_value: B64.encode(check),
            version,
            random: SystemRandom::new(),
        }
    }

    /// The vault for this database: the first start records the master key's
    /// check value; later starts refuse a different master key.
    pub async fn open(db: &Db, master: &MasterKey) -> Result<Vault, VaultError> {
        match store::state(db).await? {
            Some((version, check)) => {
                let vault = Vault::derive(master, version);
                if vault.check_value != check {
                    return Err(VaultError::WrongMasterKey { stored: version });
                }
                Ok(vault)
            }
            None => {
                let vault = Vault::derive(master, 1);
                store::record_first(db, vault.version, &vault.check_value).await?;
                // Another replica may have recorded its key first: check against it.
                Box::pin(Vault::open(db, master)).await
            }
        }
    }

    /// Whether `master` is the key this database's vault was sealed under.
    pub async fn matches(db: &Db, master: &MasterKey) -> Result<bool, VaultError> {
        Ok(match store::state(db).await? {
            Some((version, check)) => Vault::derive(master, version).check_value == check,
            None => true,
        })
    }

    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn seal(&self, owner: KeyOwner<'_>, plaintext: &str) -> Result<Sealed, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| VaultError::Random)?;
        let mut in_out = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.associated_data()),
                &mut in_out,
            )
            .map_err(|_| VaultError::CannotOpen)?;
        Ok(Sealed {
            ciphertext: B64.encode(&in_out),
            nonce: B64.encode(nonce),
            key_version: self.version,
        })
    }

    pub fn open_sealed(
        &self,
        owner: KeyOwner<'_>,
        sealed: &Sealed,
    ) -> Result<SecretString, VaultError> {
        if sealed.key_version != self.version {
            return Err(VaultError::CannotOpen);
        }
        let nonce: [u8; NONCE_LEN] = B64
            .decode(&sealed.nonce)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(VaultError::CannotOpen)?;
        let mut in_out = B64
            .decode(&sealed.ciphertext)
            .map_err(|_| VaultError::CannotOpen)?;
        let plaintext = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.associated_data()),
                &mut in_out,
            )
            .map_err(|_| VaultError::CannotOpen)?;
        let text = String::from_utf8(plaintext.to_vec()).map_err(|_| VaultError::CannotOpen)?;
        Ok(SecretString::from(text))
    }
}

/// The vault for the configured (or data-directory) master key. A generated key
/// is announced loudly. If a rotation stopped after the database switched to the
/// new key but before `master.key.next` replaced `master.key`, that is finished.
pub async fn open_configured(config: &crate::config::Config, db: &Db) -> anyhow::Result<Vault> {
    let (key, origin) = MasterKey::load_or_create(config.master_key.as_ref(), &config.data_dir)?;
    if let master::Origin::Generated(path) = &origin {
        tracing::warn!(
            path = %path.display(),
            "generated a new master key for provider keys: BACK IT UP. Without it the stored provider keys \
             cannot be opened. Replicas must share it (set HUMMBL_MASTER_KEY)."
        );
    }
    match Vault::open(db, &key).await {
        Err(wrong @ VaultError::WrongMasterKey { .. })
            if matches!(origin, master::Origin::File(_)) =>
        {
            let Some(next) = MasterKey::pending_rotation(&config.data_dir)? else {
                return Err(wrong.into());
            };
            let vault = Vault::open(db, &next).await?;
            std::fs::rename(
                config.data_dir.join(master::NEXT_FILE_NAME),
                config.data_dir.join(master::FILE_NAME),
            )?;
            tracing::info!("finished an interrupted master key rotation");
            Ok(vault)
        }
        other => Ok(other?),
    }
}

/// Re-seals every provider key under `new` in one transaction and records its
/// check value; returns how many keys were re-sealed. Nothing changes if any key
/// fails to open under `old`.
pub async fn rotate(db: &Db, old: &MasterKey, new: &MasterKey) -> anyhow::Result<usize> {
    let current = Vault::open(db, old).await?;
    let next = Vault::derive(new, current.version + 1);
    let mut tx = db.begin().await?;
    let rows = store::sealed_keys(&mut tx).await?;
    for row in &rows {
        let owner = KeyOwner {
            team_id: &row.team_id,
            key_id: &row.id,
            provider: &row.provider,
        };
        let sealed = Sealed {
            ciphertext: row.key_encrypted.clone(),
            nonce: row.nonce.clone(),
            key_version: row.key_version,
        };
        let plaintext = current
            .open_sealed(owner, &sealed)
            .map_err(|err| anyhow::anyhow!("provider key {}: {err}", row.id))?;
        let resealed = next.seal(owner, plaintext.expose_secret())?;
        store::reseal(&mut tx, &row.id, &resealed).await?;
    }
    store::set_state(&mut tx, next.version, &next.check_value).await?;
    tx.commit().await?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner<'a>(team: &'a str, id: &'a str) -> KeyOwner<'a> {
        KeyOwner {
            team_id: team,
            key_id: id,
            provider: "openai",
        }
    }

    #[test]
    fn sealed_keys_open_only_for_their_own_row() {
        let vault = Vault::derive(&MasterKey::from_bytes([7; 32]), 1);
        let sealed = vault
            .seal(owner("t1", "k1"), "sk-secret-1234")
            .expect("seal");
        assert!(!sealed.ciphertext.contains("secret"));
        let opened = vault.open_sealed(owner("t1", "k1"), &sealed).expect("open");
        assert_eq!(opened.expose_secret(), "sk-secret-1234");
        assert!(vault.open_sealed(owner("t1", "k2"), &sealed).is_err());
        assert!(vault.open_sealed(owner("t2", "k1"), &sealed).is_err());
        let other_provider = KeyOwner {
            provider: "anthropic",
            ..owner("t1", "k1")
        };
        assert!(vault.open_sealed(other_provider, &sealed).is_err());
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let vault = Vault::derive(&MasterKey::from_bytes([7; 32]), 1);
        let a = vault.seal(owner("t", "k"), "same").expect("seal");
        let b = vault.seal(owner("t", "k"), "same").expect("seal");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn tampered_ciphertext_and_another_master_key_do_not_open() {
        let vault = Vault::derive(&MasterKey::from_bytes([7; 32]), 1);
        let sealed = vault.seal(owner("t", "k"), "sk-abc").expect("seal");
        let mut bytes = B64.decode(&sealed.ciphertext).expect("b64");
        bytes[0] ^= 1;
        let tampered = Sealed {
            ciphertext: B64.encode(bytes),
            ..sealed.clone()
        };
        assert!(vault.open_sealed(owner("t", "k"), &tampered).is_err());
        let other = Vault::derive(&MasterKey::from_bytes([8; 32]), 1);
        assert!(other.open_sealed(owner("t", "k"), &sealed).is_err());
        assert_ne!(other.check_value, vault.check_value);
    }
}
