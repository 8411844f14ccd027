//! Blob storage seam: where uploaded images and their derivatives live.

use std::fmt;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A stored file as the registry knows it (MIME and extension come from the content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBlob {
    /// Store-relative path, e.g. `events/2026/11/28/1764300000_<uuid>.jpg`.
    pub path: String,
    pub mime: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// No blob at that path.
    #[error("blob not found")]
    NotFound,
    /// The path is not acceptable (traversal, absolute, empty): do not retry.
    #[error("invalid blob path: {0}")]
    InvalidPath(String),
    /// I/O failed; retrying later may work.
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
}

/// A place to keep bytes by relative path. Implementations must write atomically: a reader
/// never sees a partial file.
#[async_trait]
pub trait BlobStore: Send + Sync + fmt::Debug + 'static {
    /// A short name of the implementation (`fs`, `s3`, …).
    fn kind(&self) -> &'static str;
    async fn put(&self, path: &str, bytes: &[u8]) -> Result<(), BlobError>;
    async fn get(&self, path: &str) -> Result<Vec<u8>, BlobError>;
    async fn delete(&self, path: &str) -> Result<(), BlobError>;
    async fn exists(&self, path: &str) -> Result<bool, BlobError>;
}

/// The path of an event image: `events/YYYY/MM/DD/{unix}_{uuid}.{ext}` (UTC date).
pub(crate) fn event_blob_path(now: Timestamp, ext: &str) -> String {
    let date = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    format!(
        "events/{:04}/{:02}/{:02}/{}_{}.{ext}",
        date.year(),
        date.month(),
        date.day(),
        now.as_second(),
        Uuid::new_v4().simple()
    )
}

/// Checks a store-relative path: relative, no `..`, no empty or hidden segments.
pub fn check_blob_path(path: &str) -> Result<(), BlobError> {
    let ok = !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && !seg.starts_with('.'));
    if ok {
        Ok(())
    } else {
        Err(BlobError::InvalidPath(path.chars().take(64).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_paths_are_dated_and_unique() {
        let t: Timestamp = "2026-11-28T01:02:03Z".parse().unwrap();
        let a = event_blob_path(t, "jpg");
        assert!(a.starts_with("events/2026/11/28/1795827723_"), "{a}");
        assert!(a.ends_with(".jpg"));
        assert_ne!(a, event_blob_path(t, "jpg"));
        assert!(check_blob_path(&a).is_ok());
    }

    #[test]
    fn traversal_and_absolute_paths_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "../x",
            "a//b",
            "a/.hidden",
            "a\\b",
        ] {
            assert!(check_blob_path(bad).is_err(), "{bad}");
        }
    }
}
