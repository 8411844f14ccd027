//! The file registry and related tables, described once for the generic record store.

use cctv_core::records::ColumnType::{Date, Int, Json, Text, Timestamp};
use cctv_core::records::{Table, col};

/// `storage_files`: every blob the system stored (originals, processed images, thumbnails).
pub static STORAGE_FILES: Table = Table {
    name: "storage_files",
    columns: &[
        col("file_path", Text),
        col("file_type", Text),
        col("file_size", Int),
        col("width", Int),
        col("height", Int),
        col("storage_disk", Text),
        col("related_table", Text),
        col("related_id", Int),
        col("metadata", Json),
        col("uploaded_by", Int),
    ],
    search: &["file_path"],
};

/// The file-related columns of `event_logs` (the image job and cleanup change only these).
pub static EVENT_LOG_FILES: Table = Table {
    name: "event_logs",
    columns: &[
        col("branch_id", Int),
        col("image_path", Text),
        col("thumbnail_path", Text),
        col("image_error", Text),
        col("event_timestamp", Timestamp),
    ],
    search: &[],
};

/// `api_usage_summary`: one row per (credential, day, endpoint template, method).
pub static API_USAGE_SUMMARY: Table = Table {
    name: "api_usage_summary",
    columns: &[
        col("api_credential_id", Int),
        col("summary_date", Date),
        col("endpoint", Text),
        col("method", Text),
        col("total_requests", Int),
        col("success_requests", Int),
        col("error_requests", Int),
        col("avg_response_time_ms", Int),
        col("max_response_time_ms", Int),
        col("min_response_time_ms", Int),
        col("request_bytes", Int),
        col("response_bytes", Int),
    ],
    search: &["endpoint"],
};
