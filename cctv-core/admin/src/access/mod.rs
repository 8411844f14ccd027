//! Access of people: roles and what they may do (including which live events they hear),
//! password hashing (argon2), bearer tokens, login throttling, and the encryption of
//! stored device/stream credentials.

mod audience;
pub(crate) mod bcrypt;
pub(crate) mod password;
mod principal;
mod scope;
mod secret_box;
mod throttle;
mod token;

pub use password::{MIN_PASSWORD_CHARS, hash_password, needs_rehash, verify_password};
pub use principal::{Principal, Role};
pub use scope::TokenScope;
pub use secret_box::{SecretBox, SecretBoxError};
pub use throttle::{Attempt, LoginThrottle, SharedLoginAttempts, ThrottleSettings, attempt_keys};
pub use token::{IssuedToken, hash_token_secret, parse_bearer, verify_token_secret};
