//! Argon2id password hashing with the OWASP-recommended parameters
//! (19 MiB memory, 2 iterations, 1 lane: the crate's defaults). Hashing takes tens
//! of milliseconds of CPU, so it runs on the blocking pool, never on the runtime.

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use secrecy::{ExposeSecret, SecretString};

use crate::error::AppError;

pub const MIN_PASSWORD_LEN: usize = 10;
pub const MAX_PASSWORD_LEN: usize = 256;

/// Checks the rules a new password must meet.
pub fn validate_new_password(password: &str) -> Result<(), AppError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LEN {
        return Err(AppError::validation(
            "password",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if chars > MAX_PASSWORD_LEN {
        return Err(AppError::validation(
            "password",
            format!("must be at most {MAX_PASSWORD_LEN} characters"),
        ));
    }
    Ok(())
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub async fn hash_password(password: SecretString) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes())
            .map(|hash: PasswordHash| hash.to_string())
            .map_err(|err| anyhow::anyhow!("hashing failed: {err}"))
    })
    .await
    .context("hashing task failed")?
}

/// Verifies a password against a stored hash. With no stored hash (unknown user)
/// it verifies against a fixed dummy hash, so both cases cost the same time.
pub async fn verify_password(password: SecretString, stored: Option<String>) -> bool {
    let result = tokio::task::spawn_blocking(move || {
        let hash_text = stored.as_deref().unwrap_or(DUMMY_HASH);
        let Ok(hash) = PasswordHash::new(hash_text) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &hash)
            .is_ok();
        matches && stored.is_some()
    })
    .await;
    result.unwrap_or(false)
}

/// The Argon2id hash of a random string nobody knows, with the same parameters.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$kGvWzB4xRmdLuJlbZmwnOpXmf+xb0wG2Q2pzmvHBlmk";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let hash = hash_password(SecretString::from("correct horse battery"))
            .await
            .expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify_password(
                SecretString::from("correct horse battery"),
                Some(hash.clone())
            )
            .await
        );
        assert!(!verify_password(SecretString::from("wrong horse battery"), Some(hash)).await);
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        assert!(!verify_password(SecretString::from("anything at all"), None).await);
    }

    #[test]
    fn dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn password_rules() {
        assert!(validate_new_password("short").is_err());
        assert!(validate_new_password("long enough password").is_ok());
        assert!(validate_new_password(&"x".repeat(300)).is_err());
    }
}
