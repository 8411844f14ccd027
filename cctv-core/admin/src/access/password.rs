//! Password hashing with argon2id (slow on purpose: only used at login, never on the
//! device path). Hashes imported from the original system are bcrypt: they verify as
//! they are and are replaced with argon2id at the next successful login.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Shortest password accepted when a user is created or changes it.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// A PHC string (`$argon2id$v=19$…`) with a fresh random salt.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random generator is available");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes are a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters and a 16-byte salt cannot fail")
        .to_string()
}

/// Whether `password` matches the stored hash: an argon2 PHC string, or a bcrypt hash
/// imported from the original system (a malformed string never matches).
pub fn verify_password(password: &str, stored: &str) -> bool {
    if super::bcrypt::is_bcrypt(stored) {
        return super::bcrypt::verify_bcrypt(password, stored);
    }
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// Whether a stored hash that just verified should be replaced by [`hash_password`]'s
/// (it is an imported bcrypt hash).
pub fn needs_rehash(stored: &str) -> bool {
    super::bcrypt::is_bcrypt(stored)
}

/// A hash of nothing that anyone knows, verified when the account does not exist so a
/// login for an unknown e-mail takes as long as one for a known e-mail.
pub(crate) fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&cctv_core::credential::random_alphanumeric(32)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_password_verifies_and_another_does_not() {
        let phc = hash_password("correct horse");
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("correct horsE", &phc));
        assert!(!verify_password("correct horse", "not a phc string"));
    }

    #[test]
    fn hashes_stored_by_earlier_releases_keep_verifying() {
        // Written by `cctv user create` when cctv used argon2 0.6.
        let phc = "$argon2id$v=19$m=19456,t=2,p=1$Ysk9Iq2cXXoNHThboN7Cyw$I7wodIQzXlK725LbiObOGgC3cFwrCsKj1dbyp4d1YWE";
        assert!(verify_password("made-by-argon2-0.6", phc));
        assert!(!verify_password("made-by-argon2-0.5", phc));
        assert_eq!(
            &hash_password("x")[..31],
            &phc[..31],
            "same algorithm and parameters"
        );
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_salt() {
        assert_ne!(hash_password("same"), hash_password("same"));
    }
}
