//! AES-256-GCM encryption of credentials the system must be able to read back (device
//! and stream URLs, user names and passwords): a random 96-bit nonce per value, stored
//! as base64 of `nonce || ciphertext+tag`. The key comes from configuration; a value
//! encrypted under another key fails to decrypt instead of yielding garbage.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretBoxError {
    #[error("the encryption key must be 32 bytes, base64-encoded")]
    BadKey,
    #[error("a stored secret could not be decrypted (wrong key or corrupt value)")]
    Undecryptable,
}

/// Encrypts and decrypts stored credentials. The key never appears in `Debug`.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<key redacted>)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        }
    }

    /// From the configured base64 key.
    pub fn from_base64(key: &str) -> Result<Self, SecretBoxError> {
        let bytes = STANDARD
            .decode(key.trim())
            .map_err(|_| SecretBoxError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretBoxError::BadKey)?;
        Ok(Self::new(&key))
    }

    /// A new random key, base64-encoded (for `cctv serve` on first start).
    pub fn generate_key() -> String {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the OS random generator is available");
        STANDARD.encode(key)
    }

    pub fn encrypt(&self, plain: &str) -> String {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).expect("the OS random generator is available");
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .expect("AES-GCM encryption of a short value cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, SecretBoxError> {
        let bytes = STANDARD
            .decode(stored)
            .map_err(|_| SecretBoxError::Undecryptable)?;
        if bytes.len() < 12 + 16 {
            return Err(SecretBoxError::Undecryptable);
        }
        let (nonce, sealed) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| SecretBoxError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| SecretBoxError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_values_round_trip_and_do_not_contain_the_plain_text() {
        let sb = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let sealed = sb.encrypt("rtsp-password-123");
        assert!(!sealed.contains("rtsp-password-123"));
        assert_ne!(sealed, sb.encrypt("rtsp-password-123"), "nonces differ");
        assert_eq!(sb.decrypt(&sealed).unwrap(), "rtsp-password-123");
    }

    #[test]
    fn another_key_or_a_tampered_value_fails_to_decrypt() {
        let a = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let b = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let sealed = a.encrypt("x");
        assert_eq!(b.decrypt(&sealed), Err(SecretBoxError::Undecryptable));
        let mut tampered = STANDARD.decode(&sealed).unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(
            a.decrypt(&STANDARD.encode(tampered)),
            Err(SecretBoxError::Undecryptable)
        );
        assert!(matches!(
            SecretBox::from_base64("c2hvcnQ="),
            Err(SecretBoxError::BadKey)
        ));
    }
}
