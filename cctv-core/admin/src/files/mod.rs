//! The life of stored files after upload: where derived images go, how a
//! file is handed out ([`signing`]: HMAC-signed, expiring URLs checked against the
//! registry), and when files and logs go away ([`mod@cleanup`]); [`private`] creates the
//! database and log files readable by the service's user only.
//!
//! The registry is the `storage_files` table; it is reached through the generic
//! [`RecordStore`] with the static descriptions in
//! [`tables`], so no backend needs a method of its own for it.

pub mod cleanup;
pub mod jobs;
pub mod private;
pub mod signing;
pub mod tables;

use serde_json::Value;

use cctv_core::records::{Filter, Record, RecordStore};
use cctv_core::storage::StorageError;

pub use cleanup::{CleanupReport, CleanupSettings, cleanup};
pub use jobs::FileJobs;
pub use signing::{SignatureError, SignedFile, UrlSigner};

/// `related_table` of files that belong to an event log.
pub const EVENT_LOGS: &str = "event_logs";

/// The paths of an event image's processed JPEG and thumbnail, next to the original:
/// `events/…/{ts}_{uuid}.png` → `events/…/{ts}_{uuid}_processed.jpg` and `…_thumb.jpg`.
pub fn derived_paths(original: &str) -> (String, String) {
    let stem = match original.rfind('.') {
        Some(dot) if !original[dot..].contains('/') => &original[..dot],
        _ => original,
    };
    (format!("{stem}_processed.jpg"), format!("{stem}_thumb.jpg"))
}

/// A registered file, as the file route needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredFile {
    pub id: i64,
    pub path: String,
    pub mime: String,
    pub size: u64,
    /// The branch of the related event, when the file belongs to one.
    pub branch_id: Option<i64>,
}

/// Looks a path up in the registry, with the branch of the event it belongs to.
pub async fn registered_file(
    store: &dyn RecordStore,
    path: &str,
) -> Result<Option<RegisteredFile>, StorageError> {
    let Some(row) = store
        .find_record(
            &tables::STORAGE_FILES,
            &[Filter::Eq("file_path", Value::from(path))],
        )
        .await?
    else {
        return Ok(None);
    };
    let related_id = int(&row, "related_id");
    let branch_id = match (row.get("related_table").and_then(Value::as_str), related_id) {
        (Some(EVENT_LOGS), Some(event)) => store
            .find_record(&tables::EVENT_LOG_FILES, &cctv_core::records::by_id(event))
            .await?
            .and_then(|e| int(&e, "branch_id")),
        _ => None,
    };
    Ok(Some(RegisteredFile {
        id: int(&row, "id").unwrap_or_default(),
        path: path.to_owned(),
        mime: row
            .get("file_type")
            .and_then(Value::as_str)
            .unwrap_or("application/octet-stream")
            .to_owned(),
        size: int(&row, "file_size").unwrap_or_default().max(0) as u64,
        branch_id,
    }))
}

pub(crate) fn int(row: &Record, column: &str) -> Option<i64> {
    row.get(column).and_then(Value::as_i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_paths_sit_next_to_the_original_whatever_its_extension() {
        assert_eq!(
            derived_paths("events/2026/11/28/17_ab.png"),
            (
                "events/2026/11/28/17_ab_processed.jpg".into(),
                "events/2026/11/28/17_ab_thumb.jpg".into()
            )
        );
        assert_eq!(derived_paths("a.b/c").0, "a.b/c_processed.jpg");
    }
}
