//! Verifying bcrypt hashes (`$2y$10$…`), the password format of the system cctv replaces.
//!
//! Imported users keep their bcrypt hash until their next successful login, which
//! replaces it with argon2id ([`super::password::needs_rehash`]); cctv never creates a
//! bcrypt hash. The EksBlowfish key schedule comes from the `blowfish` crate; this module
//! parses the modular-crypt string and runs the 64 × 3 encryptions of
//! "OrpheanBeholderScryDoubt".

use base64::Engine;
use base64::alphabet::BCRYPT;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use blowfish::Blowfish;
use subtle::ConstantTimeEq;

/// bcrypt's own base64 (`./A–Za–z0–9`, no padding); salts may carry unused trailing bits.
const BCRYPT_B64: GeneralPurpose = GeneralPurpose::new(
    &BCRYPT,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// Lowest and highest cost accepted: below 4 is not bcrypt, above 16 would let a stored
/// hash hold a login worker for minutes.
const COSTS: std::ops::RangeInclusive<u32> = 4..=16;

/// Whether `stored` looks like a bcrypt hash (`$2a$`, `$2b$`, `$2x$` or `$2y$`).
pub(crate) fn is_bcrypt(stored: &str) -> bool {
    parse(stored).is_some()
}

struct Parts {
    cost: u32,
    salt: [u8; 16],
    hash: [u8; 23],
}

fn parse(stored: &str) -> Option<Parts> {
    let rest = stored
        .strip_prefix("$2y$")
        .or_else(|| stored.strip_prefix("$2b$"))
        .or_else(|| stored.strip_prefix("$2a$"))
        .or_else(|| stored.strip_prefix("$2x$"))?;
    let (cost, rest) = rest.split_once('$')?;
    if cost.len() != 2 || rest.len() != 53 || !rest.is_ascii() {
        return None;
    }
    let cost: u32 = cost.parse().ok().filter(|c| COSTS.contains(c))?;
    let salt: [u8; 16] = BCRYPT_B64.decode(&rest[..22]).ok()?.try_into().ok()?;
    let hash: [u8; 23] = BCRYPT_B64.decode(&rest[22..]).ok()?.try_into().ok()?;
    Some(Parts { cost, salt, hash })
}

/// The 24 raw bytes of bcrypt(cost, salt, password); the string form keeps 23.
fn raw_hash(cost: u32, salt: &[u8; 16], password: &[u8]) -> [u8; 24] {
    // The key is the password with its NUL terminator, at most 72 bytes.
    let mut key: Vec<u8> = password.iter().copied().take(72).collect();
    if key.len() < 72 {
        key.push(0);
    }
    let mut state = Blowfish::bc_init_state();
    state.salted_expand_key(salt, &key);
    for _ in 0..1u32 << cost {
        state.bc_expand_key(&key);
        state.bc_expand_key(salt);
    }
    // "OrpheanBeholderScryDoubt" as six big-endian words.
    let mut text = [
        0x4f72_7068u32,
        0x6561_6e42,
        0x6568_6f6c,
        0x6465_7253,
        0x6372_7944,
        0x6f75_6274,
    ];
    for pair in text.chunks_exact_mut(2) {
        for _ in 0..64 {
            let [l, r] = state.bc_encrypt([pair[0], pair[1]]);
            pair[0] = l;
            pair[1] = r;
        }
    }
    let mut out = [0u8; 24];
    for (chunk, word) in out.chunks_exact_mut(4).zip(text) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Whether `password` matches the bcrypt hash `stored` (a malformed hash never matches).
pub(crate) fn verify_bcrypt(password: &str, stored: &str) -> bool {
    let Some(parts) = parse(stored) else {
        return false;
    };
    let computed = raw_hash(parts.cost, &parts.salt, password.as_bytes());
    computed[..23].ct_eq(&parts.hash).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laravels_factory_hash_of_password_verifies() {
        // The hash Laravel's user factory ships for the password "password".
        let hash = "$2y$10$92IXUNpkjO0rOQ5byMi.Ye4oKoEa3Ro9llC/.og/at2.uheWG/igi";
        assert!(is_bcrypt(hash));
        assert!(verify_bcrypt("password", hash));
        assert!(!verify_bcrypt("Password", hash));
        assert!(!verify_bcrypt("", hash));
    }

    #[test]
    fn openbsd_vectors_verify() {
        // Known answers from the OpenBSD / jBCrypt test vectors.
        for (password, hash) in [
            (
                "",
                "$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.",
            ),
            (
                "a",
                "$2a$06$m0CrhHm10qJ3lXRY.5zDGO3rS2KdeeWLuGmsfGlMfOxih58VYVfxe",
            ),
            (
                "abc",
                "$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i",
            ),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "$2a$06$.rCVZVOThsIa97pEDOxvGuRRgzG64bvtJ0938xuqzv18d3ZpQhstC",
            ),
        ] {
            assert!(verify_bcrypt(password, hash), "{password:?}");
            assert!(!verify_bcrypt("wrong", hash));
        }
    }

    #[test]
    fn malformed_and_costly_hashes_never_match() {
        for hash in [
            "",
            "$2y$10$short",
            "$argon2id$v=19$m=19456,t=2,p=1$abc$def",
            // cost 31: refused before any work is done
            "$2y$31$92IXUNpkjO0rOQ5byMi.Ye4oKoEa3Ro9llC/.og/at2.uheWG/igi",
            "$2y$1x$92IXUNpkjO0rOQ5byMi.Ye4oKoEa3Ro9llC/.og/at2.uheWG/igi",
        ] {
            assert!(!is_bcrypt(hash), "{hash}");
            assert!(!verify_bcrypt("password", hash));
        }
    }
}
