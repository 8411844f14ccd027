//! Bearer tokens of people: `"<id>|<40 random characters>"`, like the original's
//! Sanctum tokens (so its Postman collection works). The id makes lookup O(1); only the
//! SHA-256 of the random part is stored and it is compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use cctv_core::credential::random_alphanumeric;

const TOKEN_SECRET_CHARS: usize = 40;

/// A token as issued: the clear text exists only in this value (shown once).
#[derive(Clone)]
pub struct IssuedToken {
    pub secret: String,
    pub secret_hash: [u8; 32],
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IssuedToken(<redacted>)")
    }
}

impl IssuedToken {
    pub(crate) fn generate() -> Self {
        let secret = random_alphanumeric(TOKEN_SECRET_CHARS);
        let secret_hash = hash_token_secret(&secret);
        Self {
            secret,
            secret_hash,
        }
    }

    /// The bearer value for a stored token id.
    pub(crate) fn bearer(&self, token_id: i64) -> String {
        format!("{token_id}|{}", self.secret)
    }
}

pub fn hash_token_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

pub fn verify_token_secret(presented: &str, stored: &[u8]) -> bool {
    stored.len() == 32 && hash_token_secret(presented).ct_eq(stored).into()
}

/// Splits `Authorization: Bearer <id>|<secret>` into its parts.
pub fn parse_bearer(header: &str) -> Option<(i64, &str)> {
    let value = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))?
        .trim();
    let (id, secret) = value.split_once('|')?;
    let id = id.parse::<i64>().ok().filter(|id| *id > 0)?;
    (!secret.is_empty() && secret.len() <= 128).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_parses_back_and_verifies() {
        let token = IssuedToken::generate();
        let header = format!("Bearer {}", token.bearer(42));
        let (id, secret) = parse_bearer(&header).unwrap();
        assert_eq!(id, 42);
        assert!(verify_token_secret(secret, &token.secret_hash));
        assert!(!verify_token_secret("other", &token.secret_hash));
    }

    #[test]
    fn malformed_bearer_values_are_refused() {
        for bad in [
            "",
            "Bearer",
            "Bearer abc",
            "Bearer x|y",
            "Bearer 0|abc",
            "Basic 1|abc",
            "Bearer 1|",
        ] {
            assert_eq!(parse_bearer(bad), None, "{bad:?}");
        }
    }
}
