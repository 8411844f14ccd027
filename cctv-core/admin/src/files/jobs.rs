//! The `maintenance` queue jobs of this module, for whoever drains that queue (the
//! scheduler enqueues them; by default log aggregation at 01:30, file cleanup at 02:00).
//!
//! There is no worker here on purpose: one maintenance worker should own the queue and
//! dispatch by kind, so this offers `FileJobs::run`, which handles its own kinds and
//! answers `None` for any other, leaving it to the next handler.

use std::path::PathBuf;

use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::{Value, json};

use crate::files::cleanup::{CleanupSettings, cleanup};
use cctv_core::Core;
use cctv_core::storage::StorageError;

/// Deletes expired files, thumbnails, registry rows and log files. Payload: `{}`.
pub(crate) const CLEANUP_FILES: &str = "cleanup_files";
/// Rebuilds `api_usage_summary` for a day. Payload: `{"date": "YYYY-MM-DD"}`.
pub const AGGREGATE_API_USAGE: &str = "aggregate_api_usage";

/// Handles `CLEANUP_FILES` and [`AGGREGATE_API_USAGE`].
#[derive(Debug, Clone)]
pub struct FileJobs {
    pub cleanup: CleanupSettings,
    /// `<data_dir>/logs`.
    pub logs_dir: PathBuf,
}

impl FileJobs {
    /// Runs a job of one of this module's kinds and returns its result; `None` when the
    /// kind is not one of them.
    pub(crate) async fn run(
        &self,
        core: &Core,
        kind: &str,
        payload: &Value,
    ) -> Option<Result<Value, StorageError>> {
        match kind {
            CLEANUP_FILES => {
                let mut settings = self.cleanup.clone();
                settings
                    .logs_dir
                    .get_or_insert_with(|| self.logs_dir.clone());
                Some(
                    cleanup(core, &settings, Timestamp::now())
                        .await
                        .map(|report| json!(report)),
                )
            }
            AGGREGATE_API_USAGE => {
                let Some(day) = payload
                    .get("date")
                    .and_then(Value::as_str)
                    .and_then(|d| d.parse::<Date>().ok())
                else {
                    return Some(Err(StorageError::Rejected("payload needs a date".into())));
                };
                Some(
                    crate::api_log::aggregate_day(core.storage().as_ref(), &self.logs_dir, day)
                        .await
                        .map(|report| json!(report)),
                )
            }
            _ => None,
        }
    }
}
