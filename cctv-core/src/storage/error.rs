//! The error of every storage seam, in a file of its own: every module that talks to
//! storage names it, and the storage hub (which names those modules' store traits) must
//! not be what they import for it.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// Errors of every storage seam. Driver errors are translated at the backend boundary;
/// the failures an operator has to investigate (unavailable, corrupt) keep the driver's
/// error as their [`Error::source`].
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
    Unavailable(#[source] Cause),
    /// Stored data could not be decoded.
    #[error("corrupt data: {0}")]
    Corrupt(#[source] Cause),
    /// The backend does not implement the optional capability named (`reports`,
    /// `notifications`, …): the core has only the bare [`Storage`], without the capability
    /// (`cctv_admin::AdminBuilder::capabilities` or `full_storage` adds it).
    ///
    /// [`Storage`]: crate::storage::Storage
    #[error("this storage backend does not provide {0}")]
    Unsupported(&'static str),
}

/// What went wrong, in words, and the error that caused it when there was one (a driver
/// error, an I/O error), so logs and callers can follow the chain to the driver's own
/// report instead of a copy of its text.
#[derive(Debug, Clone)]
pub struct Cause {
    message: String,
    source: Option<Arc<dyn Error + Send + Sync + 'static>>,
}

impl Cause {
    /// `message`, caused by `source`.
    pub fn with_source(
        message: impl Into<String>,
        source: impl Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for Cause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

impl From<String> for Cause {
    fn from(message: String) -> Self {
        Self {
            message,
            source: None,
        }
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Self {
        message.to_owned().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_the_source_and_the_message_is_the_display() {
        let io = std::io::Error::other("disk on fire");
        let e = StorageError::Unavailable(Cause::with_source("writing the intake file", io));
        assert_eq!(
            e.to_string(),
            "storage unavailable: writing the intake file"
        );
        let cause = e.source().expect("the cause");
        assert_eq!(cause.to_string(), "writing the intake file");
        let driver = cause.source().expect("the driver's error");
        assert_eq!(driver.to_string(), "disk on fire");
        assert!(driver.downcast_ref::<std::io::Error>().is_some());
        let plain = StorageError::Corrupt("bad row".into());
        assert!(plain.source().unwrap().source().is_none());
    }
}
