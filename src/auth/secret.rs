//! Random bearer secrets (session cookies, API tokens) and their stored digests.
//! Secrets carry 256 bits from the OS generator; the database keeps only SHA-256,
//! which is enough for high-entropy secrets (no slow hash needed).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new random secret, URL-safe, with a readable prefix (`hmb_pat_…`).
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Hex SHA-256 of a secret: what the database stores and looks up by.
pub fn digest(secret: &str) -> String {
    let hash = Sha256::digest(secret.as_bytes());
    hash.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_prefixed() {
        let a = generate("hmb_pat_");
        let b = generate("hmb_pat_");
        assert_ne!(a, b);
        assert!(a.starts_with("hmb_pat_"));
        assert_eq!(a.len(), "hmb_pat_".len() + 43);
    }

    #[test]
    fn digest_is_stable_hex() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
