//! The error of every storage seam, in a file of its own: every module that talks to
//! storage names it, and the storage hub (which names those modules' store traits) must
//! not be what they import for it.

/// Errors of every storage seam. Driver errors are translated at the backend boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated (the field or constraint is named).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The data breaks a rule of the schema (foreign key, check): do not retry.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The database is unreachable, busy or timed out: retry later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded.
    #[error("corrupt data: {0}")]
    Corrupt(String),
}
