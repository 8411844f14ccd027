//! Signed, expiring file URLs: `/storage/file?path=…&expires=…&sig=…`.
//!
//! Files are private (camera frames of people), so a page or an API response never links
//! a file directly: it mints a URL whose signature (HMAC-SHA256 over the store-relative
//! path and the expiry, with a server key) proves that the server handed it out, and only
//! until `expires`. A leaked URL is useful for minutes, not forever, and cannot be edited
//! to reach another file. The signature is not the only check: the file route also
//! requires the path to be in the registry and the caller to see the file's branch.
//!
//! The path (not an opaque id) is signed so that URLs stay readable in logs and the
//! registry lookup is by its unique key; a path that fails [`check_blob_path`] is never
//! signed nor served.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;

use cctv_core::blob::check_blob_path;

type HmacSha256 = Hmac<Sha256>;

/// Why a signed reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// A parameter is missing or unreadable, or the path is not a valid store path.
    #[error("malformed file reference")]
    Malformed,
    /// The signature does not match (tampered path, expiry or signature, or another key).
    #[error("invalid signature")]
    Invalid,
    /// The signature is right but its time is over.
    #[error("the link has expired")]
    Expired,
}

#[derive(Debug, thiserror::Error)]
#[error("the file signing key must be at least 32 bytes, base64-encoded")]
pub struct BadSigningKey;

/// A minted reference: the parts of the query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedFile {
    pub path: String,
    pub expires: i64,
    pub sig: String,
}

impl SignedFile {
    /// `/storage/file?path=…&expires=…&sig=…` (path percent-encoded).
    pub fn url(&self) -> String {
        format!(
            "/storage/file?path={}&expires={}&sig={}",
            percent_encode(&self.path),
            self.expires,
            self.sig
        )
    }
}

/// Mints and checks signed file references with one server key.
#[derive(Clone)]
pub struct UrlSigner {
    key: Vec<u8>,
}

/// The key must never reach a log line.
impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner(<key>)")
    }
}

impl UrlSigner {
    /// From raw key bytes (at least 32).
    pub(crate) fn new(key: Vec<u8>) -> Result<Self, BadSigningKey> {
        if key.len() < 32 {
            return Err(BadSigningKey);
        }
        Ok(Self { key })
    }

    pub fn from_base64(key: &str) -> Result<Self, BadSigningKey> {
        Self::new(STANDARD.decode(key.trim()).map_err(|_| BadSigningKey)?)
    }

    /// A new random 32-byte key, base64-encoded.
    pub fn generate_key() -> String {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the OS random generator is available");
        STANDARD.encode(key)
    }

    /// A random signer: URLs it mints are valid only in this process (tests, embedders
    /// that configure nothing).
    pub fn ephemeral() -> Self {
        Self::from_base64(&Self::generate_key()).expect("a generated key is valid")
    }

    fn mac(&self, path: &str, expires: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"cctv-file-v1\n");
        mac.update(path.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// Signs `path` until `expires`. Refuses paths that are not valid store paths.
    pub fn sign(&self, path: &str, expires: Timestamp) -> Result<SignedFile, SignatureError> {
        check_blob_path(path).map_err(|_| SignatureError::Malformed)?;
        let expires = expires.as_second();
        let sig = URL_SAFE_NO_PAD.encode(self.mac(path, expires).finalize().into_bytes());
        Ok(SignedFile {
            path: path.to_owned(),
            expires,
            sig,
        })
    }

    /// A URL valid for `ttl` from `now`.
    pub fn signed_url(
        &self,
        path: &str,
        now: Timestamp,
        ttl: std::time::Duration,
    ) -> Result<String, SignatureError> {
        let ttl = jiff::SignedDuration::try_from(ttl).map_err(|_| SignatureError::Malformed)?;
        let expires = now
            .checked_add(ttl)
            .map_err(|_| SignatureError::Malformed)?;
        Ok(self.sign(path, expires)?.url())
    }

    /// Checks the signature (in constant time) and then the expiry against `now`.
    pub fn verify(
        &self,
        path: &str,
        expires: i64,
        sig: &str,
        now: Timestamp,
    ) -> Result<(), SignatureError> {
        check_blob_path(path).map_err(|_| SignatureError::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| SignatureError::Invalid)?;
        self.mac(path, expires)
            .verify_slice(&sig)
            .map_err(|_| SignatureError::Invalid)?;
        if now.as_second() >= expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

impl UrlSigner {
    fn value_mac(&self, purpose: &str, value: &str, expires: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"cctv-ref-v1\n");
        for part in [purpose, value, &expires.to_string()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    /// Signs a reference other than a file (e.g. a segment a proxied HLS playlist names)
    /// for `purpose` until `expires` (unix seconds). Separated from file signatures and
    /// between purposes, so one can never stand in for another.
    pub fn sign_value(&self, purpose: &str, value: &str, expires: i64) -> String {
        URL_SAFE_NO_PAD.encode(
            self.value_mac(purpose, value, expires)
                .finalize()
                .into_bytes(),
        )
    }

    /// Checks a [`sign_value`](Self::sign_value) signature (constant time), then the expiry.
    pub fn verify_value(
        &self,
        purpose: &str,
        value: &str,
        expires: i64,
        sig: &str,
        now: Timestamp,
    ) -> Result<(), SignatureError> {
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| SignatureError::Invalid)?;
        self.value_mac(purpose, value, expires)
            .verify_slice(&sig)
            .map_err(|_| SignatureError::Invalid)?;
        if now.as_second() >= expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

/// Percent-encodes everything but unreserved characters and `/`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "events/2026/11/28/1_a_processed.jpg";

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn a_signature_is_valid_until_its_expiry_and_not_after() {
        let signer = UrlSigner::ephemeral();
        let signed = signer.sign(PATH, at(1_000)).unwrap();
        assert_eq!(signer.verify(PATH, 1_000, &signed.sig, at(999)), Ok(()));
        assert_eq!(
            signer.verify(PATH, 1_000, &signed.sig, at(1_000)),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn value_signatures_are_bound_to_purpose_value_and_expiry() {
        let signer = UrlSigner::ephemeral();
        let sig = signer.sign_value("hls:CAM_1", "/live/1.ts", 1_000);
        assert_eq!(
            signer.verify_value("hls:CAM_1", "/live/1.ts", 1_000, &sig, at(999)),
            Ok(())
        );
        for (purpose, value, expires) in [
            ("hls:CAM_2", "/live/1.ts", 1_000),
            ("hls:CAM_1", "/live/2.ts", 1_000),
            ("hls:CAM_1", "/live/1.ts", 2_000),
        ] {
            assert_eq!(
                signer.verify_value(purpose, value, expires, &sig, at(1)),
                Err(SignatureError::Invalid)
            );
        }
        assert_eq!(
            signer.verify_value("hls:CAM_1", "/live/1.ts", 1_000, &sig, at(1_000)),
            Err(SignatureError::Expired)
        );
        let file = signer.sign(PATH, at(1_000)).unwrap();
        assert_eq!(
            signer.verify_value("file", PATH, 1_000, &file.sig, at(1)),
            Err(SignatureError::Invalid),
            "a file signature is not a value signature"
        );
    }

    #[test]
    fn editing_the_path_the_expiry_or_the_key_breaks_the_signature() {
        let signer = UrlSigner::ephemeral();
        let signed = signer.sign(PATH, at(1_000)).unwrap();
        let other = "events/2026/11/28/2_b_processed.jpg";
        assert_eq!(
            signer.verify(other, 1_000, &signed.sig, at(1)),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            signer.verify(PATH, 9_999, &signed.sig, at(1)),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            UrlSigner::ephemeral().verify(PATH, 1_000, &signed.sig, at(1)),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            signer.verify(PATH, 1_000, "not base64!", at(1)),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn traversal_paths_are_neither_signed_nor_accepted() {
        let signer = UrlSigner::ephemeral();
        assert_eq!(
            signer.sign("../cctv.db", at(1_000)),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            signer.verify("/etc/passwd", 1_000, "x", at(1)),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn short_keys_are_refused_and_urls_are_encoded() {
        assert!(UrlSigner::from_base64("c2hvcnQ=").is_err());
        let url = UrlSigner::ephemeral()
            .sign("events/a b.jpg", at(5))
            .unwrap()
            .url();
        assert!(
            url.starts_with("/storage/file?path=events/a%20b.jpg&expires=5&sig="),
            "{url}"
        );
    }
}
