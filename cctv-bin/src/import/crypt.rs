//! Reading the original system's encrypted columns.
//!
//! The original encrypted API keys and secrets, device URLs, user names and passwords and
//! every stream field reversibly, in one of two formats:
//! - **Laravel `Crypt`** with `APP_KEY`: base64 of a JSON object `{iv, value, mac, tag}`;
//!   `value` is the base64 AES-256-CBC ciphertext, `mac` the hex HMAC-SHA256 of
//!   `iv + value` under the same key. `encrypt()` (not `encryptString()`) wraps the text
//!   in PHP serialisation (`s:5:"hello";`), which is undone here.
//! - **`ENCRYPT_CREDENTIAL_KEY`**: base64 of the 16 raw IV bytes followed by the base64
//!   AES-256-CBC ciphertext. The key is the variable's text itself, NUL-padded or cut to
//!   32 bytes as PHP's OpenSSL binding does; there is no MAC.
//!
//! A value in neither format was stored in plain text (the original stored plain text when
//! encryption was off, and its decryption returned unreadable values unchanged).

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

type Aes256CbcDec = cbc::Decryptor<Aes256>;

/// Why a stored value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptError {
    #[error("encrypted with APP_KEY; pass --app-key")]
    NeedsAppKey,
    #[error("encrypted with ENCRYPT_CREDENTIAL_KEY; pass --credential-key")]
    NeedsCredentialKey,
    #[error("the MAC does not match: APP_KEY is not the key this was encrypted with")]
    BadMac,
    #[error("does not decrypt with the given key")]
    WrongKey,
}

/// The keys of the original installation (either may be missing).
#[derive(Clone, Default)]
pub struct Keys {
    app_key: Option<Vec<u8>>,
    credential_key: Option<[u8; 32]>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("app_key", &self.app_key.is_some())
            .field("credential_key", &self.credential_key.is_some())
            .finish()
    }
}

#[derive(Deserialize)]
struct LaravelPayload {
    iv: String,
    value: String,
    mac: String,
}

impl Keys {
    /// `app_key` as in Laravel's `.env` (`base64:…`, or 32 raw characters);
    /// `credential_key` as in `ENCRYPT_CREDENTIAL_KEY`.
    pub fn new(app_key: Option<&str>, credential_key: Option<&str>) -> anyhow::Result<Self> {
        let app_key = match app_key {
            None => None,
            Some(k) => {
                let bytes = match k.strip_prefix("base64:") {
                    Some(b64) => STANDARD.decode(b64.trim()).map_err(|_| {
                        anyhow::anyhow!("--app-key: not valid base64 after base64:")
                    })?,
                    None => k.as_bytes().to_vec(),
                };
                anyhow::ensure!(
                    bytes.len() == 32,
                    "--app-key: AES-256-CBC needs a 32-byte key, this one has {} bytes",
                    bytes.len()
                );
                Some(bytes)
            }
        };
        let credential_key = credential_key.map(|k| {
            let mut key = [0u8; 32];
            let bytes = k.as_bytes();
            let n = bytes.len().min(32);
            key[..n].copy_from_slice(&bytes[..n]);
            key
        });
        Ok(Self {
            app_key,
            credential_key,
        })
    }

    /// The plain text of a stored value (see the module docs for the formats).
    pub fn decrypt(&self, stored: &str) -> Result<String, CryptError> {
        if let Some(payload) = laravel_payload(stored) {
            let key = self.app_key.as_deref().ok_or(CryptError::NeedsAppKey)?;
            return open_laravel(key, &payload);
        }
        if let Some((iv, ciphertext)) = custom_parts(stored) {
            let key = self.credential_key.ok_or(CryptError::NeedsCredentialKey)?;
            return decrypt_cbc(&key, &iv, &ciphertext)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or(CryptError::WrongKey);
        }
        Ok(stored.to_owned())
    }
}

fn laravel_payload(stored: &str) -> Option<LaravelPayload> {
    let json = STANDARD.decode(stored.trim()).ok()?;
    serde_json::from_slice(&json).ok()
}

/// `base64(iv || base64(ciphertext))` with a whole number of cipher blocks.
fn custom_parts(stored: &str) -> Option<([u8; 16], Vec<u8>)> {
    let raw = STANDARD.decode(stored.trim()).ok()?;
    if raw.len() < 16 + 24 {
        return None;
    }
    let iv: [u8; 16] = raw[..16].try_into().ok()?;
    let ciphertext = STANDARD.decode(&raw[16..]).ok()?;
    (!ciphertext.is_empty() && ciphertext.len().is_multiple_of(16)).then_some((iv, ciphertext))
}

fn open_laravel(key: &[u8], payload: &LaravelPayload) -> Result<String, CryptError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| CryptError::WrongKey)?;
    mac.update(payload.iv.as_bytes());
    mac.update(payload.value.as_bytes());
    let expected = cctv_core::records::unhex(&payload.mac).ok_or(CryptError::BadMac)?;
    mac.verify_slice(&expected)
        .map_err(|_| CryptError::BadMac)?;
    let iv: [u8; 16] = STANDARD
        .decode(&payload.iv)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(CryptError::WrongKey)?;
    let ciphertext = STANDARD
        .decode(&payload.value)
        .map_err(|_| CryptError::WrongKey)?;
    let key: [u8; 32] = key.try_into().map_err(|_| CryptError::WrongKey)?;
    let plain = decrypt_cbc(&key, &iv, &ciphertext)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(CryptError::WrongKey)?;
    Ok(php_unserialize_string(&plain).unwrap_or(plain))
}

fn decrypt_cbc(key: &[u8; 32], iv: &[u8; 16], ciphertext: &[u8]) -> Option<Vec<u8>> {
    Aes256CbcDec::new(key.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .ok()
}

/// `s:<bytes>:"<text>";` → text, when the byte count matches.
fn php_unserialize_string(s: &str) -> Option<String> {
    let rest = s.strip_prefix("s:")?;
    let (len, rest) = rest.split_once(':')?;
    let len: usize = len.parse().ok()?;
    let text = rest.strip_prefix('"')?.strip_suffix("\";")?;
    (text.len() == len).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors made with the OpenSSL command line (`openssl enc -aes-256-cbc -K … -iv …
    // -base64`, `openssl dgst -sha256 -mac HMAC`), which PHP's openssl_encrypt wraps.
    const APP_KEY: &str = "base64:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    /// `Crypt::encryptString("cctv_AbCdEfGhIjKlMnOpQrStUvWxYz012345")`, slashes escaped as
    /// PHP's json_encode writes them.
    const LARAVEL: &str = "eyJpdiI6Im9LR2lvNlNscHFlb3FhcXJySzJ1cnc9PSIsInZhbHVlIjoidUhab1grMnB2cUE5R1ZRTTZVMk9nOVwvUThNTnRVdWdKSnk0VnFEWFA5aThlUTc5Q1lnN0kzbmFJUnlZaFA3OFYiLCJtYWMiOiJmY2RhMjBhMWUyMWRhNTE2ZTRjN2IyYzZkZWQ3OTUyMzYzYTMyNzBkNzc4ODMzYThhZDAwMGVkODBlMDQ5ZmZiIiwidGFnIjoiIn0=";
    /// `Crypt::encrypt("hello")`: the serialised form `s:5:"hello";`.
    const LARAVEL_SERIALISED: &str = "eyJpdiI6Im9LR2lvNlNscHFlb3FhcXJySzJ1cnc9PSIsInZhbHVlIjoiUkgyazAxeUR5MTZBdXBNaVBHVG1yUT09IiwibWFjIjoiOWVjNjk2ZmNlYTBlOTA0OWU5YmFmMmY5MzAxMWRjZTI2MjQwNmQzZDU3NDViMzAyMmQ3ZDljN2Q5MzRjZWQ2MCIsInRhZyI6IiJ9";
    const CREDENTIAL_KEY: &str = "aK9sL3jH7gP5fD2rB8nV1cM0xZ4qW6eT";
    /// The custom format of "camera-pass".
    const CUSTOM: &str = "oKGio6SlpqeoqaqrrK2ur1FhWHNnc2p6MlhPdmxOV1NkU0p2RlE9PQ==";

    #[test]
    fn laravel_crypt_opens_with_the_app_key() {
        let keys = Keys::new(Some(APP_KEY), None).unwrap();
        assert_eq!(
            keys.decrypt(LARAVEL).unwrap(),
            "cctv_AbCdEfGhIjKlMnOpQrStUvWxYz012345"
        );
        assert_eq!(keys.decrypt(LARAVEL_SERIALISED).unwrap(), "hello");
    }

    #[test]
    fn a_wrong_app_key_fails_the_mac_and_a_missing_one_is_named() {
        let other = format!("base64:{}", STANDARD.encode([7u8; 32]));
        let keys = Keys::new(Some(&other), None).unwrap();
        assert_eq!(keys.decrypt(LARAVEL), Err(CryptError::BadMac));
        assert_eq!(
            Keys::default().decrypt(LARAVEL),
            Err(CryptError::NeedsAppKey)
        );
    }

    #[test]
    fn the_credential_key_format_opens_with_that_key() {
        let keys = Keys::new(None, Some(CREDENTIAL_KEY)).unwrap();
        assert_eq!(keys.decrypt(CUSTOM).unwrap(), "camera-pass");
        assert_eq!(
            Keys::default().decrypt(CUSTOM),
            Err(CryptError::NeedsCredentialKey)
        );
        let wrong = Keys::new(None, Some("another key entirely, 32 bytes!!")).unwrap();
        assert!(wrong.decrypt(CUSTOM).is_err());
    }

    #[test]
    fn plain_values_pass_through() {
        let keys = Keys::new(Some(APP_KEY), Some(CREDENTIAL_KEY)).unwrap();
        for plain in [
            "cctv_live_admin_global_key",
            "rtsp://10.0.0.5/stream",
            "admin",
            "",
        ] {
            assert_eq!(keys.decrypt(plain).unwrap(), plain);
        }
    }

    #[test]
    fn an_app_key_of_the_wrong_length_is_refused() {
        assert!(Keys::new(Some("base64:AAEC"), None).is_err());
        assert!(Keys::new(Some("short"), None).is_err());
    }
}
