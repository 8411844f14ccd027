//! The life of stored files after upload: where derived images go, how a
//! file is handed out ([`signing`]: HMAC-signed, expiring URLs checked against the
//! registry), and when files and logs go away ([`mod@cleanup`]). The database and log
//! files are created readable by the service's user only by
//! [`cctv_core::private_files`].
//!
//! The registry is the `storage_files` table; it is reached through the generic
//! [`RecordStore`] with the static descriptions in
//! [`tables`], so no backend needs a method of its own for it.

pub mod cleanup;
pub mod jobs;
pub mod signing;
pub mod tables;

use serde_json::Value;

use cctv_core::records::{Filter, Record, RecordStore};
use cctv_core::storage::StorageError;

pub use cleanup::{CleanupReport, CleanupSettings, cleanup};
pub use jobs::FileJobs;
pub use signing::{SignatureError, SignedFile, UrlSigner};

/// `related_table` of files that belong to an event log.
const EVENT_LOGS: &str = "event_logs";

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
            &cctv_core::records::tables::STORAGE_FILES,
            &[Filter::Eq("file_path", Value::from(path))],
        )
        .await?
    else {
        return Ok(None);
    };
    let related_id = int(&row, "related_id");
    let branch_id = match (row.get("related_table").and_then(Value::as_str), related_id) {
        (Some(EVENT_LOGS), Some(event)) => store
            .find_record(
                &cctv_core::records::tables::EVENT_LOG_FILES,
                &cctv_core::records::by_id(event),
            )
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
