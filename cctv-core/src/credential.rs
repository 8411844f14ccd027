//! API credentials of devices: key/secret generation, secret hashing and verification.
//!
//! The key (`cctv_` + 32 characters) is an identifier and the lookup id; the 64-character
//! secret is shown once and only its SHA-256 digest is stored. The secret has ~380 bits of
//! entropy, so a fast hash is safe here, and unlike argon2 it keeps ingest fast (a slow
//! hash on every device request would cap throughput at a few dozen requests per second).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub(crate) const KEY_PREFIX: &str = "cctv_";
pub(crate) const KEY_RANDOM_CHARS: usize = 32;
pub(crate) const SECRET_CHARS: usize = 64;
/// Default hourly request limit of a credential.
pub const DEFAULT_RATE_LIMIT: u32 = 10_000;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Random alphanumeric string from the OS generator, without modulo bias.
pub fn random_alphanumeric(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).expect("the OS random generator is available");
        for b in buf {
            // 62 * 4 = 248: reject 248..=255 to keep the distribution uniform.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    out
}

/// SHA-256 digest of a secret.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Constant-time comparison of a presented secret with a stored digest.
pub(crate) fn verify_secret(presented: &str, stored: &[u8; 32]) -> bool {
    hash_secret(presented).ct_eq(stored).into()
}

/// A freshly generated key pair; the secret exists in clear only in this value.
#[derive(Debug, Clone)]
pub struct GeneratedSecret {
    pub api_key: String,
    pub api_secret: String,
}

impl GeneratedSecret {
    pub fn generate() -> Self {
        Self {
            api_key: format!("{KEY_PREFIX}{}", random_alphanumeric(KEY_RANDOM_CHARS)),
            api_secret: random_alphanumeric(SECRET_CHARS),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialStatus {
    Active,
    Inactive,
    Expired,
}

impl CredentialStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// What a credential may do: read the query endpoints, write detections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    pub read: bool,
    pub write: bool,
}

impl Default for Permissions {
    fn default() -> Self {
        Self {
            read: true,
            write: true,
        }
    }
}

/// A stored credential (the digest, never the secret).
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub id: i64,
    pub name: String,
    pub api_key: String,
    pub secret_hash: [u8; 32],
    /// Limits the credential to one branch.
    pub branch_id: Option<i64>,
    /// Limits the credential to one device.
    pub device_id: Option<String>,
    pub permissions: Permissions,
    pub rate_limit: u32,
    pub expires_at: Option<Timestamp>,
    pub status: CredentialStatus,
}

/// A credential to create; the secret digest comes from [`GeneratedSecret`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewCredential {
    pub name: String,
    pub api_key: String,
    pub secret_hash: [u8; 32],
    pub branch_id: Option<i64>,
    pub device_id: Option<String>,
    pub permissions: Permissions,
    pub rate_limit: u32,
    pub expires_at: Option<Timestamp>,
}

impl NewCredential {
    /// A credential for `secret` that may read and write everything, at the default
    /// hourly limit, never expiring: narrow it with the fields before storing it.
    pub fn new(name: &str, secret: &GeneratedSecret) -> Self {
        Self {
            name: name.into(),
            api_key: secret.api_key.clone(),
            secret_hash: hash_secret(&secret.api_secret),
            branch_id: None,
            device_id: None,
            permissions: Permissions::default(),
            rate_limit: DEFAULT_RATE_LIMIT,
            expires_at: None,
        }
    }
}

/// Why a request's credential is refused (the device API's error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// A header is missing or empty: `UNAUTHORIZED`.
    Missing,
    /// Unknown key, wrong secret or inactive: `INVALID_CREDENTIALS`.
    Invalid,
    /// Past `expires_at` or marked expired: `EXPIRED_CREDENTIALS`.
    Expired,
}

impl Credential {
    /// Checks a presented secret and the credential's status at `now`.
    pub fn authenticate(&self, presented_secret: &str, now: Timestamp) -> Result<(), AuthFailure> {
        if !verify_secret(presented_secret, &self.secret_hash) {
            return Err(AuthFailure::Invalid);
        }
        match self.status {
            CredentialStatus::Active => {}
            CredentialStatus::Expired => return Err(AuthFailure::Expired),
            CredentialStatus::Inactive => return Err(AuthFailure::Invalid),
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(AuthFailure::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(secret: &str) -> Credential {
        Credential {
            id: 1,
            name: "t".into(),
            api_key: "cctv_x".into(),
            secret_hash: hash_secret(secret),
            branch_id: Some(2),
            device_id: None,
            permissions: Permissions::default(),
            rate_limit: 10,
            expires_at: Some("2026-12-01T00:00:00Z".parse().unwrap()),
            status: CredentialStatus::Active,
        }
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let g = GeneratedSecret::generate();
        assert_eq!(g.api_key.len(), 37);
        assert!(g.api_key.starts_with("cctv_"));
        assert_eq!(g.api_secret.len(), 64);
        assert!(g.api_secret.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(GeneratedSecret::generate().api_secret, g.api_secret);
    }

    #[test]
    fn secret_status_and_expiry_are_checked() {
        let now: Timestamp = "2026-11-28T00:00:00Z".parse().unwrap();
        let c = credential("s3cret");
        assert_eq!(c.authenticate("s3cret", now), Ok(()));
        assert_eq!(c.authenticate("s3cre", now), Err(AuthFailure::Invalid));
        assert_eq!(
            c.authenticate("s3cret", "2026-12-02T00:00:00Z".parse().unwrap()),
            Err(AuthFailure::Expired)
        );
        let inactive = Credential {
            status: CredentialStatus::Inactive,
            ..c.clone()
        };
        assert_eq!(
            inactive.authenticate("s3cret", now),
            Err(AuthFailure::Invalid)
        );
    }
}
